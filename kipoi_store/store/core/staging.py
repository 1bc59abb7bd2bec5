"""tmp/: where every change to the store is staged before one rename makes it visible.

Each entry is named <pid>@<host>@<random>[@hint], so its owner can be told from its name: an
entry whose owner died on this host, or a foreign one old enough, is a killed process's leftover
(stale_entries) that anyone may remove. Also the removal helpers the store deletes with.
"""

import errno
import os
import re
import stat
import time

from kipoi_store.store.core import readonly

TMP_MAX_AGE = 86400

_UNSAFE_NAME_CHARS = re.compile(r"[^A-Za-z0-9_.+-]")


def _host():
    return _UNSAFE_NAME_CHARS.sub("_", os.uname().nodename or "localhost")[:64]


HOST = _host()


def new_name(hint=""):
    """A fresh tmp/ entry name carrying our pid and host (see tmp_owner)."""
    name = "%d@%s@%s" % (os.getpid(), HOST, os.urandom(8).hex())
    if hint:
        name += "@" + _UNSAFE_NAME_CHARS.sub("_", hint)[:48]
    return name


def tmp_owner(name):
    """(pid, host) encoded in a tmp/ entry name, or None for a name we did not make."""
    parts = name.split("@")
    if len(parts) < 3 or not parts[0].isdigit():
        return None
    return int(parts[0]), parts[1]


def _owner_dead(name):
    """True only when we can tell: the owner ran on this host and no such process exists now."""
    owner = tmp_owner(name)
    if owner is None or owner[1] != HOST:
        return False
    try:
        os.kill(owner[0], 0)
    except ProcessLookupError:
        return True
    except PermissionError:  # alive, another user's
        return False
    return False


def remove_path(path):
    """Delete a file, link or whole tree, opening read-only directories (readonly.py) as needed: the
    one holding `path` is closed again afterwards. A path that is already gone is fine."""
    path = str(path)
    try:
        st = os.lstat(path)
    except FileNotFoundError:
        return
    if stat.S_ISDIR(st.st_mode):
        readonly.open_tree(path)

        def retry(func, p, exc_info):
            exc = exc_info[1]
            if isinstance(exc, FileNotFoundError):
                return
            if not isinstance(exc, PermissionError):
                exc.filename = p  # rmtree's own is relative to a directory descriptor
                raise exc  # the real error (EIO, ...): nothing to retry
            # Closed again by someone (a concurrent publisher's last step): open and retry once,
            # by path (`func` may be rmtree's os.open or os.scandir, which take other arguments).
            readonly.open_dir(os.path.dirname(p) or ".")
            if os.path.isdir(p) and not os.path.islink(p):
                readonly.open_tree(p)
                shutil.rmtree(p)
            else:
                unlink_quiet(p)

        import shutil  # only when something is deleted: keeps the warm path's imports small

        def remove():
            shutil.rmtree(path, onerror=retry)
    else:
        def remove():
            try:
                os.unlink(path)
            except FileNotFoundError:
                pass

    parent = os.path.dirname(path) or "."
    if os.lstat(parent).st_mode & 0o200:
        remove()  # the usual case (tmp/, objects/): nothing to open
    else:
        readonly.change_in(parent, remove)


# Write failures that name no file (write(2) has none): write_atomic names the file it wrote.
_NO_ROOM = {errno.ENOSPC, errno.EDQUOT, errno.EFBIG, errno.EROFS}
# A flush the file system does not offer (some FUSE and network mounts, directories on some):
# nothing more can be done there, and it is no failure of the operation.
_NO_SYNC = {errno.EINVAL, errno.ENOTSUP, errno.EOPNOTSUPP, errno.ENOSYS}


def sync_file(path):
    """Flush file `path`'s bytes to stable storage (see the README's Durability): an OSError names
    the path (a failed fsync names none)."""
    _sync(path, os.O_RDONLY, os.fdatasync)


def sync_dir(path):
    """Flush directory `path`'s entries (names added, renamed or removed) to stable storage."""
    _sync(path, os.O_RDONLY | os.O_DIRECTORY, os.fsync)


def _sync(path, flags, flush):
    try:
        fd = os.open(path, flags)
        try:
            flush(fd)
        finally:
            os.close(fd)
    except OSError as exc:
        if exc.errno in _NO_SYNC:
            return
        if exc.filename is None:
            exc.filename = os.fspath(path)
        raise


def discard(path):
    """remove_path for what this process made in tmp/, after the work it served is done or failed:
    a failure to delete it is not the command's failure (clean_tmp removes it once we are gone)."""
    try:
        remove_path(path)
    except OSError:
        pass


def discard_file(path):
    """unlink for a tmp/ file of ours that may be gone already; any failure is clean_tmp's."""
    try:
        os.unlink(path)
    except OSError:
        pass


def unlink_quiet(path):
    try:
        os.unlink(path)
    except FileNotFoundError:
        pass


def write_atomic(path, data, mode=None, tmp_prefix=None):
    """Write `data` (bytes, or a function given the open binary file) to `path` through a file
    beside it and one rename: a reader finds the old file or the new one, never a part. `mode`
    (e.g. 0o600, 0o644) is set whatever the umask; the file beside it goes whatever fails. With
    `tmp_prefix` that file is named by it, for readers of the folder that must skip it."""
    path = os.fspath(path)
    if tmp_prefix is None:
        tmp = "%s.%s.tmp" % (path, new_name())
    else:
        tmp = os.path.join(os.path.dirname(path), tmp_prefix + new_name())
    try:
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o666 if mode is None else mode)
        with os.fdopen(fd, "wb") as f:
            if mode is not None:
                os.fchmod(f.fileno(), mode)
            if callable(data):
                data(f)
            else:
                f.write(data)
        os.replace(tmp, path)
    except OSError as exc:
        if exc.filename is None and exc.errno in _NO_ROOM:
            exc.filename = path  # a full disk names no file: say which one could not be written
        raise
    finally:
        discard_file(tmp)


def stale_entries(tmp_dir, max_age=TMP_MAX_AGE):
    """Paths of the tmp_dir entries whose owner died on this host, or that are older than
    `max_age` seconds and not owned by a live process here."""
    try:
        names = sorted(os.listdir(tmp_dir))
    except FileNotFoundError:
        return []
    now = time.time()
    stale = []
    for name in names:
        path = tmp_dir / name
        if _owner_dead(name):
            stale.append(path)
            continue
        owner = tmp_owner(name)
        if owner is not None and owner[1] == HOST:
            continue  # a live process of this host is still working on it
        try:
            age = now - os.lstat(path).st_mtime
        except FileNotFoundError:
            continue
        if age > max_age:
            stale.append(path)
    return stale
