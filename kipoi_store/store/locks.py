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

Lock files live in <store>/locks/ab/<name> and are never deleted (deleting one races with a
process about to lock it); each is empty.
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

    def _open(self, name):
        name = str(name).lower()
        if not _NAME.fullmatch(name):
            return None  # only digests name locks: nothing else may pick a path under locks/
        folder = os.path.join(self.directory, name[:2])
        try:
            os.makedirs(folder, exist_ok=True)
            return os.open(os.path.join(folder, name), os.O_RDWR | os.O_CREAT, 0o666)
        except OSError:
            return None  # a store we cannot write: nothing to lock, nothing to fetch into it

    def _try(self, fd):
        import fcntl

        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            return True
        except BlockingIOError:
            return False
        except OSError:  # no flock on this file system: as if locks were off
            return True

    def try_many(self, names):
        """({name: handle} of the locks we now hold, [names another process holds])."""
        held, busy = {}, []
        if not self.enabled:
            return held, busy
        for name in names:
            fd = self._open(name)
            if fd is None:
                continue
            if self._try(fd):
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
            if fd is not None and not self._try(fd):
                self.warn("waiting for another process fetching %s (lock %s/%s/%s; at most %ds)"
                          % (what, self.directory, name[:2], name, self.timeout))
                deadline = time.monotonic() + self.timeout
                while not self._try(fd):
                    if time.monotonic() >= deadline:
                        self.warn("gave up waiting for the lock on %s after %ds: fetching it too"
                                  % (what, self.timeout))
                        break
                    time.sleep(POLL)
            yield
        finally:
            if fd is not None:
                os.close(fd)
