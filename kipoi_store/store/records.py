"""Small records keyed by a tuple of strings: what a warm resolve needs to answer at once.

One file per record under the store's cache dir, written atomically, in `marshal` format (a
builtin: no import, and ~5x faster to read than JSON; it is only ever read by the Python that wrote
the store's cache, and a record it cannot read is just missing). Reading one costs a single open(),
where diskcache would cost ~25 ms to import and open sqlite before its first lookup: on the warm
path that is most of the budget. Everything here is rebuildable; a missing, stale or damaged
record only means the cold path runs again.
"""

import hashlib
import marshal
import os

SUFFIX = ".rec"


class Records:
    def __init__(self, directory):
        self.directory = os.fspath(directory)

    def _path(self, key):
        text = "\0".join(key)
        digest = hashlib.sha256(text.encode("utf-8", "surrogateescape")).hexdigest()
        return "%s/%s/%s%s" % (self.directory, digest[:2], digest[2:34], SUFFIX), text

    def get(self, key):
        path, text = self._path(key)
        try:
            with open(path, "rb") as f:
                stored_key, value = marshal.loads(f.read())
        except (OSError, ValueError, EOFError, TypeError):
            return None
        return value if stored_key == text else None

    def put(self, key, value):
        path, text = self._path(key)
        tmp = "%s.%d.%s.tmp" % (path, os.getpid(), os.urandom(4).hex())
        try:
            os.makedirs(os.path.dirname(path), exist_ok=True)
            with open(tmp, "wb") as f:
                f.write(marshal.dumps((text, value)))
            os.replace(tmp, path)
        except OSError:
            try:
                os.unlink(tmp)
            except OSError:
                pass
            # A read-only store still resolves; it just takes the cold path next time.

    def items(self):
        """Every readable record as (key tuple, value), in no particular order."""
        try:
            shards = os.listdir(self.directory)
        except OSError:
            return
        for shard in shards:
            try:
                names = os.listdir(os.path.join(self.directory, shard))
            except OSError:
                continue
            for name in names:
                if not name.endswith(SUFFIX):
                    continue
                try:
                    with open(os.path.join(self.directory, shard, name), "rb") as f:
                        text, value = marshal.loads(f.read())
                    yield tuple(text.split("\0")), value
                except (OSError, ValueError, EOFError, TypeError, AttributeError):
                    continue
