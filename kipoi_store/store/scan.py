"""Reading the store as it lies on disk, for verify, gc and info: there is no index to trust.

Sizes are apparent sizes (st_size) of regular files; callers count each inode once, so hardlinked
snapshot files cost nothing beyond their object.
"""

import json
import os
import stat
from pathlib import Path
from typing import Optional


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

