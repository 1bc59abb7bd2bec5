"""The parsed config, remembered while the files' stats are unchanged.

Parsing YAML costs more than the whole rest of a warm resolve (importing PyYAML alone is ~15 ms), so
commands on the hot path load the config through here. The cache holds the Config's fields as plain
values in `marshal` format (as the records do, store/user/records.py: a builtin, cheaper to import
and read than pickle, and it only builds values, never runs code). It still lives in the user's own
cache dir (paths.user_cache) and is read only while that dir and the file are private to the user
(store/user/private.py): never from a store, which others may write. It is keyed by the paths and
stats of the user's and the system's config and the environment their paths were expanded with; it
is written atomically, and any problem reading it (a damaged file, a shape this version does not
know) just means parsing again. A config holding a value marshal cannot keep (a YAML date among an
entry's unknown keys) is simply not cached.
"""

import marshal
import os
from pathlib import Path

from kipoi_store import paths
from kipoi_store.config.schema import Config, SourceConfig
from kipoi_store.store.user.private import open_private, private_dir, write_private
from kipoi_store.store.user.statcache import stat_key

VERSION = 8  # bumped when Config's or SourceConfig's fields change: older caches are skipped, not misread
ENV_KEYS = ("HOME", "KIPOI_HOME", "KIPOI_STORE", "KIPOI_SYSTEM_CONFIG")
FILE_NAME = "config.marshal"
OLD_FILE_NAME = "config.pickle"  # what versions before 8 wrote: removed when the new one is written

# Fields that hold a Path (or None); marshal keeps them as str.
PATH_FIELDS = ("path", "env_db_path", "system_path")


def _stat(path):
    try:
        return stat_key(os.stat(path))
    except OSError:
        return None


def _fingerprint(path, system_path):
    env = tuple(os.environ.get(k) for k in ENV_KEYS)
    return (VERSION, str(path), _stat(path), str(system_path), _stat(system_path), env)


def _str(path):
    return None if path is None else str(path)


def _path(text):
    return None if text is None else Path(text)


def to_plain(config):
    """`config` as a dict of plain values (str for every Path) that marshal can write."""
    fields = dict(zip(Config.__slots__, config._values(), strict=True))
    for name in PATH_FIELDS:
        fields[name] = _str(fields[name])
    fields["site_stores"] = [str(p) for p in config.site_stores]
    fields["sources"] = [dict(zip(SourceConfig.__slots__, s._values(), strict=True),
                              local_path=_str(s.local_path)) for s in config.sources.values()]
    return fields


def from_plain(fields):
    """The Config `to_plain` was given (TypeError, KeyError or ValueError for anything else)."""
    fields = dict(fields)
    for name in PATH_FIELDS:
        fields[name] = _path(fields[name])
    fields["site_stores"] = [Path(p) for p in fields["site_stores"]]
    sources = [SourceConfig(**dict(s, local_path=_path(s["local_path"]))) for s in fields["sources"]]
    fields["sources"] = {s.name: s for s in sources}
    return Config(**fields)


def load_cached(cache_dir=None, path=None):
    path = paths.config_path() if path is None else path
    system_path = paths.system_config_path()
    cache_dir = paths.user_cache() if cache_dir is None else cache_dir
    cache_file = os.path.join(cache_dir, FILE_NAME)
    fingerprint = _fingerprint(path, system_path)
    f = open_private(cache_file)
    if f is not None:
        try:
            with f:
                cached_fingerprint, fields = marshal.loads(f.read())
            if cached_fingerprint == fingerprint:
                return from_plain(fields)
        except Exception:  # damaged, truncated, another version's shape: parse the file instead
            pass
    from kipoi_store.config import load as configmod  # PyYAML and the validation: only on a miss

    cfg = configmod.load(path)
    if _fingerprint(path, system_path) == fingerprint and private_dir(cache_dir):
        # Unchanged while we read it: safe to remember.
        try:
            data = marshal.dumps((fingerprint, to_plain(cfg)))
        except ValueError:  # a value marshal cannot hold: parse every time instead
            return cfg
        write_private(cache_file, data)
        try:
            os.unlink(os.path.join(cache_dir, OLD_FILE_NAME))
        except OSError:
            pass
    return cfg
