"""Small records keyed by a tuple of strings: what a warm resolve needs to answer at once.

One file per record under the user's cache dir (paths.user_cache: never in a store, which may be
read-only or shared), written atomically, in `marshal` format (a builtin: no import, ~5x faster to
read than JSON, and it builds plain values only, never running code; a record it cannot read, or of
the wrong shape, is just missing). Reading one costs a single open(),
where diskcache would cost ~25 ms to import and open sqlite before its first lookup: on the warm
path that is most of the budget. Everything here is rebuildable; a missing, stale or damaged
record only means the cold path runs again.
"""

import marshal
import os

from kipoi_store import paths
from kipoi_store.store.user.namedigest import name_digest

SUFFIX = ".rec"


def user_records():
    """The records of the user running us (paths.user_cache)."""
    return Records(paths.user_cache() / "records")


class Records:
    def __init__(self, directory):
        self.directory = os.fspath(directory)
        self._made = set()  # shard directories this run made sure of: a batch writes thousands of records

    def _path(self, key):
        text = "\0".join(key)
        digest = name_digest(text)
        return "%s/%s/%s%s" % (self.directory, digest[:2], digest[2:34], SUFFIX), text

    def get(self, key, fields=None):
        """The value stored under `key`, or None. With `fields`, only a dict holding each of them
        counts."""
        path, text = self._path(key)
        try:
            with open(path, "rb") as f:
                stored_key, value = marshal.loads(f.read())
        except (OSError, ValueError, EOFError, TypeError):
            return None
        if stored_key != text:
            return None
        if fields is not None and not (isinstance(value, dict) and all(k in value for k in fields)):
            return None
        return value

    def put(self, key, value):
        from kipoi_store.store.core.staging import write_atomic

        path, text = self._path(key)
        shard = os.path.dirname(path)
        data = marshal.dumps((text, value))
        try:
            if shard in self._made:
                try:
                    write_atomic(path, data)
                    return
                except FileNotFoundError:
                    pass  # removed since (a cache cleaned meanwhile): make it again
            os.makedirs(shard, 0o700, exist_ok=True)
            self._made.add(shard)
            write_atomic(path, data)
        except OSError:
            pass  # A read-only store still resolves; it just takes the cold path next time.

    def items(self):
        """Every record as (key tuple, value), in no particular order; a damaged one is skipped. One
        that is there but cannot be read (an I/O error) raises OSError: gc asks which snapshots the
        config still reaches (refs.py), and a record taken for absent would cost one."""
        try:
            shards = os.listdir(self.directory)
        except (FileNotFoundError, NotADirectoryError):
            return
        for shard in shards:
            try:
                names = os.listdir(os.path.join(self.directory, shard))
            except (FileNotFoundError, NotADirectoryError):
                continue
            for name in names:
                if not name.endswith(SUFFIX):
                    continue
                try:
                    with open(os.path.join(self.directory, shard, name), "rb") as f:
                        data = f.read()
                except FileNotFoundError:
                    continue
                try:
                    text, value = marshal.loads(data)
                    yield tuple(text.split("\0")), value
                except (ValueError, EOFError, TypeError, AttributeError):
                    continue
