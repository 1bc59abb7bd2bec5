"""Small JSON records keyed by a tuple of strings: what a warm resolve needs to answer at once.

One file per record under the store's cache dir, written atomically. Reading one costs a single
open(), where diskcache would cost ~25 ms to import and open sqlite before its first lookup: on
the warm path that is most of the budget. Everything here is rebuildable; a missing, stale or
damaged record only means the cold path runs again.
"""

import hashlib
import json
import os


class Records:
    def __init__(self, directory):
        self.directory = os.fspath(directory)

    def _path(self, key):
        text = "\0".join(key)
        digest = hashlib.sha256(text.encode("utf-8", "surrogateescape")).hexdigest()
        return os.path.join(self.directory, digest[:2], digest[2:34] + ".json"), text

    def get(self, key):
        path, text = self._path(key)
        try:
            with open(path, "rb") as f:
                doc = json.loads(f.read())
        except (OSError, ValueError):
            return None
        if not isinstance(doc, dict) or doc.get("key") != text:
            return None
        return doc.get("value")

    def put(self, key, value):
        path, text = self._path(key)
        tmp = "%s.%d.%s.tmp" % (path, os.getpid(), os.urandom(4).hex())
        try:
            os.makedirs(os.path.dirname(path), exist_ok=True)
            with open(tmp, "w") as f:
                json.dump({"key": text, "value": value}, f)
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
                if not name.endswith(".json"):
                    continue
                try:
                    with open(os.path.join(self.directory, shard, name), "rb") as f:
                        doc = json.loads(f.read())
                    yield tuple(doc["key"].split("\0")), doc["value"]
                except (OSError, ValueError, KeyError, TypeError, AttributeError):
                    continue
