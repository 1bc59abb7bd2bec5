"""Making a store on purpose: `kipoi store init PATH [--shared=group]`, as `git init --shared`.

A group-shared store records "group" in its `shared` file. Its directories are setgid (what is
made in them takes the store's group) and group-writable, and every process writing to it clears
the group bits of its umask first (ObjectStore.writable), so objects, snapshots and manifests are
readable, and directories writable, by every member, whatever each member's umask: any member can
resolve into it, verify it and gc it. Objects another member owns cannot be hardlinked where
fs.protected_hardlinks=1: publishing copies them then (store.LINK_REFUSALS).
"""

import os
import stat

from kipoi_store.store.core.objects import SHARED_FILE, SHARED_MODES
from kipoi_store.store.core.scan import walk_files
from kipoi_store.store.core.staging import write_atomic

LAYOUT = ("objects/sha256", "snapshots", "manifests", "tmp")
GROUP_DIR = stat.S_ISGID | stat.S_IRWXG


def init_store(root, shared=None):
    """Create the store at `root` (keeping whatever it holds). With shared="group", make it and
    everything in it the group's; returns the paths whose mode could not be changed (owned by
    another user, who must run it too)."""
    if shared is not None and shared not in SHARED_MODES:
        raise ValueError("shared must be one of %s" % (SHARED_MODES,))
    root = os.path.abspath(root)
    os.makedirs(root, exist_ok=True)
    refused = []
    if shared:
        _chmod(root, GROUP_DIR, refused)  # before the rest: subdirectories inherit its group
    for sub in LAYOUT:
        os.makedirs(os.path.join(root, sub), exist_ok=True)
    if not shared:
        return refused
    write_atomic(os.path.join(root, SHARED_FILE), (shared + "\n").encode("ascii"), 0o644)
    for folder, dirs, _ in os.walk(root):
        for name in dirs:
            p = os.path.join(folder, name)
            if not os.path.islink(p):
                _chmod(p, GROUP_DIR, refused)
    for p, st in walk_files(root):
        if stat.S_ISREG(st.st_mode):
            _chmod(p, stat.S_IRGRP, refused)
    return refused


def _chmod(path, bits, refused):
    try:
        mode = os.lstat(path).st_mode
        if mode & bits != bits:
            os.chmod(path, stat.S_IMODE(mode) | bits)
    except PermissionError:
        refused.append(path)
