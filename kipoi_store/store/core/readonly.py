"""Read-only directories: the store's snapshots admit no new, removed or renamed entry unless their
owner opens a directory (chmod u+w) for one change and closes it again.

kipoi writes into the directories it loads models from (`__pycache__/`, `downloaded/...`); closed
directories make that fail instead of silently changing a verified snapshot. Publishers that merge
into the same directory at once may close it under each other: a change refused that way is retried
after opening the directory again (each refusal means another publisher's change went through), so
correctness rests on the retries, never on a lock.
"""

import errno
import os
import stat
import time

OPEN_TRIES = 200
WRITE_BITS = 0o222
SHARED = stat.S_ISGID | stat.S_IWGRP


def is_open(st):
    return bool(st.st_mode & WRITE_BITS) and not is_shared(st)


def is_shared(st):
    """A setgid, group-writable directory: one of a group-shared store (store/tiers/init.py). It stays
    writable by the group, never closed: only a directory's owner may change its mode, and every
    member must be able to publish into it and gc it."""
    return st.st_mode & SHARED == SHARED


def close(path):
    """Take the write bits off directory `path` (its other bits, setgid included, stay)."""
    st = os.lstat(path)
    if stat.S_ISDIR(st.st_mode) and is_open(st):
        os.chmod(path, stat.S_IMODE(st.st_mode) & ~WRITE_BITS)


def open_dir(path):
    """Give directory `path` its owner's write bit (only the owner may: a group-shared store's
    directories are never closed, see is_shared)."""
    st = os.lstat(path)
    if not st.st_mode & 0o200 and not is_shared(st):
        os.chmod(path, stat.S_IMODE(st.st_mode) | 0o200)


def _raise(exc):
    raise exc


def close_tree(top, include_top=True):
    """Close every directory below `top` (bottom-up), and `top` itself unless told not to. A
    directory that cannot be read raises: os.walk would skip it silently, and publish it open."""
    for folder, _dirs, _files in os.walk(top, topdown=False, onerror=_raise):
        if folder != str(top) or include_top:
            close(folder)


def open_tree(top):
    """Open every directory of the tree at `top` (top-down), so the whole tree can be deleted."""
    try:
        if stat.S_ISDIR(os.lstat(top).st_mode):
            open_dir(top)
    except FileNotFoundError:
        return
    for folder, dirs, _files in os.walk(top, onerror=_raise_unless_gone):
        for name in dirs:
            try:
                open_dir(os.path.join(folder, name))
            except FileNotFoundError:
                pass


def _raise_unless_gone(exc):
    if not isinstance(exc, FileNotFoundError):
        raise exc


def change_in(directory, change):
    """Run `change()` (a rename, unlink, rmdir... of an entry of `directory`) with `directory`
    opened, then close it: also one found open, as a killed publisher or an older store left it.
    A refusal because a concurrent publisher closed the directory in between is retried."""
    for attempt in range(OPEN_TRIES):
        open_dir(directory)
        try:
            return change()
        except PermissionError as exc:
            if exc.errno != errno.EACCES or attempt == OPEN_TRIES - 1:
                raise
            # Closed under us: another publisher's change went through meanwhile; open and retry.
            if attempt > 3:
                time.sleep(os.urandom(1)[0] / 255 * 0.002 * attempt)
        finally:
            try:
                close(directory)
            except FileNotFoundError:
                pass
    raise AssertionError("unreachable")
