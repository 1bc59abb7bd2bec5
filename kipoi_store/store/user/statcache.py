"""Remember what was learnt from a file's bytes, for as long as its stat says it is unchanged.

Keys on (size, mtime_ns, ctime_ns, inode) as git's index does: an in-place edit that restores the
mtime still changes ctime, so it is still seen.

The map is a diskcache database, whose values may be pickles: it is opened only in a directory
private to the user (store/user/private.py), and where there is none it keeps nothing.
"""

import os


def stat_key(st):
    return (st.st_size, st.st_mtime_ns, st.st_ctime_ns, st.st_ino)


def _encode(key):
    # Plain strings are stored as they are; tuples would be pickled and optimised on every lookup,
    # which costs more than the rest of a warm resolve.
    text = "\0".join(map(str, key)) if isinstance(key, tuple) else key
    if not text.isascii():
        # A file name that is not UTF-8 (os gives it as lone surrogates, which sqlite refuses) is
        # kept escaped: two names escaping alike would still need the same stat to share a value.
        text = text.encode("utf-8", "backslashreplace").decode("utf-8")
    return text


class StatCache:
    """A diskcache-backed map from a path's current stat to a value computed from its content."""

    def __init__(self, directory):
        self.directory = str(directory)
        self._cache = None

    @property
    def cache(self):
        if self._cache is None:
            from kipoi_store.store.user.private import private_dir

            if private_dir(self.directory) is None:
                self._cache = _Nothing()
            else:
                import diskcache  # 20 ms: only when a local source is actually resolved

                self._cache = diskcache.Cache(self.directory, eviction_policy="none")
        return self._cache

    def get(self, namespace, path, st):
        hit = self.cache.get(_encode((namespace, os.fspath(path))))
        if isinstance(hit, tuple) and len(hit) == 2 and hit[0] == stat_key(st):
            return hit[1]
        return None

    def put(self, namespace, path, st, value):
        self.cache.set(_encode((namespace, os.fspath(path))), (stat_key(st), value))

    def get_raw(self, key):
        return self.cache.get(_encode(key))

    def put_raw(self, key, value):
        self.cache.set(_encode(key), value)

    def close(self):
        if self._cache is not None:
            self._cache.close()
            self._cache = None


class _Nothing:
    """Where no private directory is to be had: remembers nothing, so every lookup misses."""

    def get(self, key):
        return None

    def set(self, key, value):
        pass

    def close(self):
        pass
