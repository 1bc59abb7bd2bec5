"""Whether what a snapshot already holds is what a manifest's entries say: publishing keeps such
files (and, when every entry is so, writes only the new manifest)."""

import os
import stat

from kipoi_store.store.core import hashing
from kipoi_store.store.core import readonly
from kipoi_store.store.core.entries import FileEntry, LinkEntry


def matches(objects, path, st, entry):
    """Whether the file or link at `path` (lstat `st`) is what `entry` describes; `objects` is the
    object store its files are hardlinks of."""
    if isinstance(entry, LinkEntry):
        return stat.S_ISLNK(st.st_mode) and os.readlink(path) == entry.target
    if not isinstance(entry, FileEntry) or not stat.S_ISREG(st.st_mode):
        return False
    if st.st_mode & 0o222 or bool(st.st_mode & 0o111) != entry.executable:
        return False  # a writable file may change after any check: ours replaces it
    try:
        obj = os.lstat(objects.object_str(entry.digest, entry.executable))
        if (obj.st_dev, obj.st_ino) == (st.st_dev, st.st_ino):
            return True  # the object itself, checked when it was added
    except FileNotFoundError:
        pass
    return hashing.sha256_file(path) == entry.digest


def all_in_place(objects, root, entries):
    """Whether every entry is already under snapshot `root` as it should be, in closed directories:
    what publishing would leave as it is (a later row of a group finds its group's files there)."""
    root = str(root)
    dirs = {""}  # the snapshot's top too
    for path, entry in entries.items():
        full = root + "/" + path
        try:
            st = os.lstat(full)
        except OSError:
            return False
        if not matches(objects, full, st, entry):
            return False
        d = os.path.dirname(path)
        while d and d not in dirs:
            dirs.add(d)
            d = os.path.dirname(d)
    try:
        return not any(readonly.is_open(os.lstat(root + "/" + d)) for d in dirs)
    except OSError:
        return False
