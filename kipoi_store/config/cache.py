"""The parsed config, remembered while the file's stat is unchanged.

Parsing YAML costs more than the whole rest of a warm resolve (importing PyYAML alone is ~15 ms), so
commands on the hot path load the config through here. The cache is a pickle in the store's cache
dir, keyed by the config's path, its stat and the environment its paths were expanded with; it is
written atomically and any problem reading it just means parsing again.
"""

import os
import pickle

from kipoi_store.config import load as configmod
from kipoi_store import paths
from kipoi_store.store.statcache import stat_key

VERSION = 6  # bumped when the pickled classes change: older caches are skipped, not misread


def _fingerprint(path):
    try:
        st = os.stat(path)
    except FileNotFoundError:
        st_key = None
    else:
        st_key = stat_key(st)
    env = tuple(os.environ.get(k) for k in ("HOME", "KIPOI_HOME", "KIPOI_STORE"))
    return (VERSION, str(path), st_key, env)


def load_cached(cache_dir, path=None):
    path = paths.config_path() if path is None else path
    cache_file = os.path.join(cache_dir, "config.pickle")
    fingerprint = _fingerprint(path)
    try:
        with open(cache_file, "rb") as f:
            cached_fingerprint, cfg = pickle.load(f)
        if cached_fingerprint == fingerprint:
            return cfg
    except Exception:  # missing, stale format, truncated: parse the file instead
        pass
    cfg = configmod.load(path)
    if _fingerprint(path) == fingerprint:  # unchanged while we read it: safe to remember
        try:
            os.makedirs(cache_dir, exist_ok=True)
            tmp = "%s.%d.tmp" % (cache_file, os.getpid())
            with open(tmp, "wb") as f:
                pickle.dump((fingerprint, cfg), f, protocol=pickle.HIGHEST_PROTOCOL)
            os.replace(tmp, cache_file)
        except OSError:
            pass  # a read-only store still resolves; it just parses each time
    return cfg
