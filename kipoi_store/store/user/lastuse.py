"""When each model of a store was last used, kept per user, never in the store itself: a store
the user cannot write (a site store, a read-only mount, another user's) still records use, and
the read path writes nothing there.

    $KIPOI_HOME/last-use/<16 hex of the store's real path>/<key>/<manifest file name>

An empty file per (store, key, model) whose mtime is the last use: a warm resolve pays one utime,
as touching the manifest did. `kipoi store ls` shows these times and `kipoi store gc --keep-days`
keeps what was used recently; only this user's uses are seen.
"""

import os

from kipoi_store import paths
from kipoi_store.store.user.namedigest import name_digest

_SUBDIR = "last-use"


class LastUse:
    def __init__(self, store_root, home=None):
        real = os.path.realpath(os.fspath(store_root))
        digest = name_digest(real)[:16]
        self.directory = os.path.join(os.fspath(home or paths.kipoi_home()), _SUBDIR, digest)
        self.store_root = real

    def record(self, key, filename):
        """Mark the model whose manifest is `filename` under `key` as used now (best effort: a home
        that cannot be written loses the record, never the resolve)."""
        path = "%s/%s/%s" % (self.directory, key, filename)
        try:
            os.utime(path)
            return
        except FileNotFoundError:
            pass
        except OSError:
            return
        try:
            os.makedirs(os.path.dirname(path), exist_ok=True)
            if not os.path.exists(os.path.join(self.directory, "store")):
                with open(os.path.join(self.directory, "store"), "w") as f:
                    f.write(self.store_root + "\n")  # which store this is, for people
            os.close(os.open(path, os.O_WRONLY | os.O_CREAT, 0o644))
            os.utime(path)
        except OSError:
            pass

    def times(self, key=None):
        """{(key, manifest file name): last use} for every key, or only `key`. A record that is
        there but cannot be read (an I/O error) raises OSError: gc --keep-days must not take a model
        used yesterday for unused."""
        found = {}
        keys = [key] if key is not None else _listdir(self.directory, strict=True)
        for k in keys:
            folder = os.path.join(self.directory, k)
            for name in _listdir(folder, strict=True):
                try:
                    found[(k, name)] = os.stat(os.path.join(folder, name)).st_mtime
                except FileNotFoundError:
                    continue
        return found

    def newest(self, key):
        """The last use of any model of `key`, or None."""
        return max(self.times(key).values(), default=None)

    def forget(self, key, filename=None):
        """Drop the records of `key` (one model's, with `filename`)."""
        folder = os.path.join(self.directory, key)
        names = [filename] if filename is not None else _listdir(folder)
        for name in names:
            try:
                os.unlink(os.path.join(folder, name))
            except OSError:
                pass
        try:
            os.rmdir(folder)
        except OSError:
            pass  # other models' records are still there


def _listdir(folder, strict=False):
    try:
        return sorted(os.listdir(folder))
    except (FileNotFoundError, NotADirectoryError):
        return []
    except OSError:
        if strict:
            raise
        return []
