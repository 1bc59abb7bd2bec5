"""Reading the store as it lies on disk, for verify, gc and info: there is no index to trust.

Sizes are apparent sizes (st_size) of regular files; callers count each inode once, so hardlinked
snapshot files cost nothing beyond their object.
"""

import json
import os
import stat
from pathlib import Path
from typing import Optional

from kipoi_store.errors import UsageError

# What a store's root holds (any one of them makes a directory a store).
STORE_ENTRIES = frozenset(("objects", "snapshots", "manifests", "tmp", "cache", "git", "link-mode", "locks",
                           "shared"))


def walk_files(path):
    """lstat results of every non-directory under `path` (or of `path` itself), never following
    links: (path, stat_result)."""
    path = str(path)
    try:
        st = os.lstat(path)
    except FileNotFoundError:
        return
    if not stat.S_ISDIR(st.st_mode):
        yield path, st
        return
    for folder, dirs, files in os.walk(path):
        for name in files + [d for d in dirs if os.path.islink(os.path.join(folder, d))]:
            p = os.path.join(folder, name)
            try:
                yield p, os.lstat(p)
            except FileNotFoundError:
                continue


def is_store(root, must_exist) -> bool:
    """Whether `root` holds a store: True if so, False if there is nothing there yet (allowed
    unless `must_exist`: a store named explicitly, KIPOI_STORE=/typo, must be there). A file, or a
    folder with other things but nothing of a store, is refused: UsageError naming it."""
    try:
        names = os.listdir(root)
    except FileNotFoundError:
        if must_exist:
            raise UsageError("no store at %s: no such directory (check KIPOI_STORE)" % root) from None
        return False
    except NotADirectoryError:
        raise UsageError("no store at %s: it is a file, not a directory (check KIPOI_STORE)"
                         % root) from None
    if names and not STORE_ENTRIES.intersection(names):
        raise UsageError("%s is not a kipoi store: it holds none of objects/, snapshots/, "
                         "manifests/ (check KIPOI_STORE)" % root)
    return bool(names)


def site_problem(root) -> Optional[str]:
    """Why `root` cannot serve as a site store (no such directory, a file, unreadable, a folder
    of other things), or None. An empty folder is no problem: a store nobody has filled yet."""
    try:
        names = os.listdir(root)
    except OSError as exc:
        if isinstance(exc, NotADirectoryError):
            return "it is a file, not a directory"
        return (exc.strerror or str(exc)).lower() if isinstance(exc, FileNotFoundError) else \
            "cannot read it (%s)" % (exc.strerror or exc)
    if names and not STORE_ENTRIES.intersection(names):
        return "it holds none of objects/, snapshots/, manifests/"
    return None


def file_inodes(store, root, rel, digest, executable):
    """{(st_dev, st_ino): size} of the regular files holding one manifest file: its path `rel` in
    the snapshot at `root` and its object (one inode when hardlinked, two in copy mode)."""
    found = {}
    for p in (root / rel, store.object_path(digest, executable)):
        try:
            st = os.lstat(p)
        except (OSError, ValueError):
            continue
        if stat.S_ISREG(st.st_mode):
            found[(st.st_dev, st.st_ino)] = st.st_size
    return found


def read_manifest(path) -> Optional[dict]:
    """The document of manifest file `path`, or None when it is unreadable or has no files; unlike
    Store.manifest, not checked against its key and name."""
    try:
        doc = json.loads(Path(path).read_bytes())
    except (OSError, ValueError):
        return None
    if not isinstance(doc, dict) or not isinstance(doc.get("files"), dict):
        return None
    return doc

