"""Per-user places: directories only their owner can write.

A format that runs code when it is loaded (a pickle; a diskcache database, whose values may be
pickles) is read only from such a directory: if another user could write there, every command
would run their code. What stores share is plain JSON, checked as it is read.
"""

import os
import stat


def private_dir(path):
    """`path` as a directory only we can write, created (mode 0700) if missing; None when it is
    not one (another owner, or writable by group or others) or cannot be made: then callers
    simply keep nothing."""
    path = os.fspath(path)
    try:
        os.makedirs(path, 0o700, exist_ok=True)
        st = os.stat(path)
    except OSError:
        return None
    return path if is_private(st) else None


def is_private(st):
    """Whether stat result `st` is ours and writable by nobody else."""
    return st.st_uid == os.geteuid() and not st.st_mode & (stat.S_IWGRP | stat.S_IWOTH)


def open_private(path):
    """Open file `path` for reading only when it and its directory are private (else None)."""
    try:
        if not is_private(os.stat(os.path.dirname(path) or ".")):
            return None
        f = open(path, "rb")
    except OSError:
        return None
    if not is_private(os.fstat(f.fileno())):
        f.close()
        return None
    return f


def write_private(path, data):
    """Write `data` to `path` atomically, readable and writable by us only (best effort: a cache
    that cannot be written is just not kept)."""
    from kipoi_store.store.core.staging import write_atomic

    try:
        write_atomic(path, data, 0o600)
    except OSError:
        pass
