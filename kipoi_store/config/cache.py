"""The parsed config, remembered while the files' stats are unchanged.

Parsing YAML costs more than the whole rest of a warm resolve (importing PyYAML alone is ~15 ms), so
commands on the hot path load the config through here. The cache is a pickle, so it lives in the
user's own cache dir (paths.user_cache) and is read only while that dir and the file are private to
the user (store/user/private.py): never from a store, which others may write. It is keyed by the paths
and stats of the user's and the system's config and the environment their paths were expanded
with; it is written atomically and any problem reading it just means parsing again.
"""

import os
import pickle

from kipoi_store import paths
from kipoi_store.config import load as configmod
from kipoi_store.store.user.private import open_private, private_dir, write_private
from kipoi_store.store.user.statcache import stat_key

VERSION = 7  # bumped when the pickled classes change: older caches are skipped, not misread
ENV_KEYS = ("HOME", "KIPOI_HOME", "KIPOI_STORE", "KIPOI_SYSTEM_CONFIG")


def _stat(path):
    try:
        return stat_key(os.stat(path))
    except OSError:
        return None


def _fingerprint(path, system_path):
    env = tuple(os.environ.get(k) for k in ENV_KEYS)
    return (VERSION, str(path), _stat(path), str(system_path), _stat(system_path), env)


def load_cached(cache_dir=None, path=None):
    path = paths.config_path() if path is None else path
    system_path = paths.system_config_path()
    cache_dir = paths.user_cache() if cache_dir is None else cache_dir
    cache_file = os.path.join(cache_dir, "config.pickle")
    fingerprint = _fingerprint(path, system_path)
    f = open_private(cache_file)
    if f is not None:
        try:
            with f:
                cached_fingerprint, cfg = pickle.load(f)
            if cached_fingerprint == fingerprint:
                return cfg
        except Exception:  # stale format, truncated: parse the file instead
            pass
    cfg = configmod.load(path)
    if _fingerprint(path, system_path) == fingerprint and private_dir(cache_dir):
        # Unchanged while we read it: safe to remember.
        write_private(cache_file, pickle.dumps((fingerprint, cfg), protocol=pickle.HIGHEST_PROTOCOL))
    return cfg
