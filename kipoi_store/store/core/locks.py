"""Download locks: while one process fetches an object, others that need it wait, then take it
from the store instead of downloading it again.

Locks are never what keeps the store correct: unique temp names, hashing before rename and
manifests written last do that. flock on NFS, Lustre or GPFS may succeed for everyone, or only
per node: then two processes both download, and both publish the same verified bytes. A wait is
bounded: past `timeout` seconds the waiter says so and fetches the object itself. `enabled=False`
(KIPOI_LOCKS=0, or `locks: false` in the config) turns locking off where flock hangs.

    held, busy = store.locks.try_many(oids)   # locks we hold now; names another process holds
    ... fetch what is held ...; release(held)
    with store.locks.wait(oid, "lab:weights.h5"): ... fetch unless it arrived meanwhile ...

Lock files live in <store>/locks/ab/<name>, each empty. `kipoi store gc` deletes old ones nobody
holds (stale_locks, remove_if_free): it takes the lock itself and unlinks the file while holding it;
a process that opened the file before and gets the lock after sees that the path no longer names
the file it locked, and locks the new one instead. So deleting never lets two processes hold a lock.
"""

import contextlib
import os
import re
import time

DEFAULT_TIMEOUT = 600.0
POLL = 0.2
_NAME = re.compile(r"[0-9a-f]{32,128}")


class Locks:
    def __init__(self, directory, enabled=True, timeout=DEFAULT_TIMEOUT, warn=None):
        self.directory = os.fspath(directory)
        self.enabled = enabled
        self.timeout = timeout
        self.warn = warn or (lambda message: None)

    def _path(self, name):
        return os.path.join(self.directory, name[:2], name)

    def _open(self, name):
        name = str(name).lower()
        if not _NAME.fullmatch(name):
            return None  # only digests name locks: nothing else may pick a path under locks/
        path = self._path(name)
        try:
            os.makedirs(os.path.dirname(path), exist_ok=True)
            return os.open(path, os.O_RDWR | os.O_CREAT, 0o666)
        except OSError:
            return None  # a store we cannot write: nothing to lock, nothing to fetch into it

    def _lock(self, name, fd):
        """(held, fd): whether we now hold lock `name`, and the descriptor to keep (another one when
        gc deleted the file we had opened: then the new file is tried instead)."""
        for _ in range(8):
            if not _try(fd):
                return False, fd
            if _names(self._path(str(name).lower()), fd):
                return True, fd
            os.close(fd)  # we locked a file gc has just unlinked
            fd = self._open(name)
            if fd is None:
                return True, None
        return True, fd  # deleted over and over: go on unlocked (locks are never correctness)

    def try_many(self, names):
        """({name: handle} of the locks we now hold, [names another process holds])."""
        held, busy = {}, []
        if not self.enabled:
            return held, busy
        for name in names:
            fd = self._open(name)
            if fd is None:
                continue
            locked, fd = self._lock(name, fd)
            if locked:
                if fd is not None:
                    held[name] = fd
            else:
                os.close(fd)
                busy.append(name)
        return held, busy

    @staticmethod
    def release(held):
        for fd in held.values():
            os.close(fd)  # closing releases the lock
        held.clear()

    @contextlib.contextmanager
    def wait(self, name, what):
        """Hold lock `name` for the block, waiting (at most `timeout` seconds, saying so) while
        another process holds it; past the bound the block runs without it."""
        fd = self._open(name) if self.enabled else None
        try:
            locked = True
            if fd is not None:
                locked, fd = self._lock(name, fd)
            if not locked:
                self.warn("waiting for another process fetching %s (lock %s/%s/%s; at most %ds)"
                          % (what, self.directory, name[:2], name, self.timeout))
                deadline = time.monotonic() + self.timeout
                while True:
                    locked, fd = self._lock(name, fd)
                    if locked:
                        break
                    if time.monotonic() >= deadline:
                        self.warn("gave up waiting for the lock on %s after %ds: fetching it too"
                                  % (what, self.timeout))
                        break
                    time.sleep(POLL)
            yield
        finally:
            if fd is not None:
                os.close(fd)


def _try(fd):
    import fcntl

    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        return True
    except BlockingIOError:
        return False
    except OSError:  # no flock on this file system: as if locks were off
        return True


def _names(path, fd):
    """Whether `path` is still the file open as `fd` (gc may have unlinked it meanwhile)."""
    try:
        st = os.stat(path)
    except FileNotFoundError:
        return False
    mine = os.fstat(fd)
    return (st.st_dev, st.st_ino) == (mine.st_dev, mine.st_ino)


def stale_locks(directory, max_age):
    """Lock files under `directory` older than `max_age` seconds that nobody holds now."""
    now = time.time()
    found = []
    try:
        fans = sorted(os.listdir(directory))
    except (FileNotFoundError, NotADirectoryError):
        return found
    for fan in fans:
        folder = os.path.join(directory, fan)
        try:
            names = sorted(os.listdir(folder))
        except (FileNotFoundError, NotADirectoryError):
            continue
        for name in names:
            path = os.path.join(folder, name)
            try:
                old = now - os.lstat(path).st_mtime >= max_age
            except FileNotFoundError:
                continue
            if old and _NAME.fullmatch(name) and name[:2] == fan and _free(path):
                found.append(path)
    return found


def _free(path):
    try:
        fd = os.open(path, os.O_RDONLY | os.O_NOFOLLOW)
    except OSError:
        return False
    try:
        return _try(fd)
    finally:
        os.close(fd)


def remove_if_free(path):
    """Delete lock file `path` unless a process holds it: unlinked while we hold it ourselves, so
    a waiter that gets it next sees that it is gone (see Locks._lock). True when deleted."""
    try:
        fd = os.open(path, os.O_RDONLY | os.O_NOFOLLOW)
    except OSError:
        return False
    try:
        if not _try(fd) or not _names(path, fd):
            return False
        os.unlink(path)
        return True
    finally:
        os.close(fd)
