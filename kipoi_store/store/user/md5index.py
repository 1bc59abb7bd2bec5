"""The md5 index: md5 -> sha256 of store objects whose bytes were seen to have that md5.

model.yaml names remote files by URL and md5; the index finds such a file in the store again from
any model of any commit, without a download. It lives in the user's cache dir (a diskcache, never in
a store others can write) and is only a hint: a hit counts when its object exists, and the store's
own sha256 check keeps objects honest. Whoever puts an entry has seen those bytes have that md5.
An index that cannot be used is skipped (statcache.py): a lookup misses, a put keeps nothing.
"""

import threading


class Md5Index:
    def __init__(self, store, warn=None):
        self.store = store
        self.warn = warn
        self._cache = None
        self._lock = threading.Lock()

    @property
    def cache(self):
        if self._cache is None:
            from kipoi_store import paths
            from kipoi_store.store.user.statcache import StatCache

            # Per user: never in a shared store.
            self._cache = StatCache(paths.user_cache() / "md5", warn=self.warn)
        return self._cache

    def get(self, md5):
        with self._lock:
            sha256 = self.cache.get_raw(md5)
        return sha256 if sha256 is not None and self.store.has_object(sha256) else None

    def put(self, md5, sha256):
        with self._lock:
            self.cache.put_raw(md5, sha256)

    def close(self):
        if self._cache is not None:
            self._cache.close()
            self._cache = None
