"""Remember what was learnt from a file's bytes, for as long as its stat says it is unchanged.

Keys on (size, mtime_ns, ctime_ns, inode) as git's index does: an in-place edit that restores the
mtime still changes ctime, so it is still seen.

The map is a diskcache database, whose values may be pickles: it is opened only in a directory
private to the user (store/user/private.py), and where there is none it keeps nothing.

A cache is only ever a shortcut: one that cannot be opened, read or written (a full disk, an I/O
error, a damaged database) is skipped for the rest of the run, with one warning naming it, and the
work goes on without it. The warning goes to the `warn` the cache was given, else to the one the
first cache of the run was given (the resolver's: the md5 index has none of its own).
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


_run_warn = []  # the first `warn` any cache of this process was given


class StatCache:
    """A diskcache-backed map from a path's current stat to a value computed from its content."""

    def __init__(self, directory, warn=None):
        self.directory = str(directory)
        self._cache = None
        if warn is not None and not _run_warn:
            _run_warn.append(warn)
        self._warn = warn

    @property
    def cache(self):
        if self._cache is None:
            from kipoi_store.store.user.private import private_dir

            if private_dir(self.directory) is None:
                self._cache = _Nothing()
            else:
                try:
                    import diskcache  # 20 ms: only when a local source is actually resolved

                    self._cache = diskcache.Cache(self.directory, eviction_policy="none")
                except Exception as exc:
                    self._skip(exc)
        return self._cache

    def _skip(self, exc):
        """Go on without this cache, after one warning; re-raise what is no cache failure."""
        if not _is_cache_failure(exc):
            raise exc
        broken, self._cache = self._cache, _Nothing()
        if broken is not None:
            try:
                broken.close()
            except Exception:  # closing what failed may fail the same way
                pass
        warn = self._warn or (_run_warn[0] if _run_warn else None)
        if warn is not None:
            reason = getattr(exc, "strerror", None) or str(exc) or type(exc).__name__
            warn("cache %s cannot be used (%s): going on without it" % (self.directory, reason))

    def _get(self, key):
        try:
            return self.cache.get(key)
        except Exception as exc:
            self._skip(exc)
            return None

    def _set(self, key, value):
        try:
            self.cache.set(key, value)
        except Exception as exc:
            self._skip(exc)

    def get(self, namespace, path, st):
        hit = self._get(_encode((namespace, os.fspath(path))))
        if isinstance(hit, tuple) and len(hit) == 2 and hit[0] == stat_key(st):
            return hit[1]
        return None

    def put(self, namespace, path, st, value):
        self._set(_encode((namespace, os.fspath(path))), (stat_key(st), value))

    def get_raw(self, key):
        return self._get(_encode(key))

    def put_raw(self, key, value):
        self._set(_encode(key), value)

    def close(self):
        if self._cache is not None:
            cache, self._cache = self._cache, None
            try:
                cache.close()
            except Exception as exc:
                if not _is_cache_failure(exc):
                    raise


def _is_cache_failure(exc):
    """What a cache that cannot be used raises: the file system's errors, sqlite's (a full disk,
    an I/O error, a damaged or locked database), diskcache's timeout, a value that cannot be read."""
    import pickle
    import sqlite3  # only on this failure path (diskcache has loaded it anyway)
    import sys

    if isinstance(exc, (OSError, sqlite3.Error, pickle.UnpicklingError, EOFError)):
        return True
    timeout = getattr(sys.modules.get("diskcache"), "Timeout", None)
    return timeout is not None and isinstance(exc, timeout)


class _Nothing:
    """Where no private directory is to be had: remembers nothing, so every lookup misses."""

    def get(self, key):
        return None

    def set(self, key, value):
        pass

    def close(self):
        pass
