"""What a config holds: the keys and source types it may have, their defaults, and the
validated values (Config, SourceConfig) that load.py builds and the rest of kipoi_store reads.

Durations (`refresh: 15m`) are read and written here too, so `kipoi source show` prints the form
the config accepts.
"""

import os
import re

from kipoi_store.errors import UnknownSourceError, UsageError
from kipoi_store.frozen import Frozen, fresh

TYPES = ("git", "git-lfs", "github-permalink", "local", "oci")
GIT_TYPES = ("git", "git-lfs")
# Types kipoi 0.8.6 does not know (it refuses the whole config over one): such a source lives
# entirely in source_settings, `type` and `remote_url` included, and has no model_sources entry.
SETTINGS_ONLY_TYPES = ("oci",)
SOURCE_KEYS = ("type", "remote_url", "local_path", "auto_update", "use_lfs", "ref", "refresh",
               "lfs_url", "base_url")
SETTINGS_KEY = "source_settings"
TOP_KEYS = ("model_sources", "env_db_path", "url_rewrites", "store_mirrors", "connect_timeout",
            "read_timeout", SETTINGS_KEY, "site_stores", "locks", "lock_timeout")
# What kipoi 0.8.6 builds each model_sources entry with (`cls(**entry)`): any other key inside an
# entry kills `import kipoi`, and it needs local_path for every type but local (which we need too).
KIPOI_KEYS = {
    "git": ("type", "remote_url", "local_path", "auto_update", "use_lfs"),
    "git-lfs": ("type", "remote_url", "local_path", "auto_update"),
    "local": ("type", "local_path"),
    "github-permalink": ("type", "local_path"),
}
# Ours: they live under SETTINGS_KEY, keyed by source name, where kipoi does not look. use_lfs and
# auto_update are kipoi's for some types only; for the others they are ours too.
OUR_KEYS = ("ref", "refresh", "lfs_url", "base_url", "use_lfs", "auto_update")
DEFAULT_REFRESH = 3600.0
DEFAULT_BASE_URL = "https://github.com"
PERMALINK_SOURCE = "github-permalink"


class SourceConfig(Frozen):
    """One entry of model_sources, validated (immutable, picklable: cache.py keeps it)."""

    __slots__ = (
        "name",         # str
        "type",         # one of TYPES
        "remote_url",   # str or None
        "local_path",   # Path or None
        "auto_update",  # bool
        "use_lfs",      # bool or None
        "ref",          # str or None
        "refresh",      # seconds a cached ref stays fresh (float); None = never
        "lfs_url",      # str or None
        "base_url",     # str or None
        "raw",          # the entry as written (a dict, unknown keys included)
    )
    DEFAULTS = {"auto_update": True, "use_lfs": None, "ref": None, "refresh": DEFAULT_REFRESH,
                "lfs_url": None, "base_url": None, "raw": fresh(dict)}


class Config(Frozen):
    """The whole config, validated (immutable, picklable: cache.py keeps it)."""

    __slots__ = (
        "path",          # Path of the file (which may not exist)
        "exists",        # bool
        "sources",       # {name: SourceConfig}, in file order
        "env_db_path",   # Path or None
        "url_rewrites",  # [(prefix, [replacement, ...]), ...]
        "store_mirrors",  # [str]: mirror URLs or paths, asked in order before the origin
        "connect_timeout",  # seconds (float) or None: net/limits.py's default
        "read_timeout",     # seconds (float) or None: net/limits.py's default
        "warnings",      # [str]: unknown keys, kept but ignored
        "site_stores",   # [Path]: read-only stores searched after the user's own, in order
        "system_path",   # Path of the system config read beneath this one, or None
        "locks",         # download locks on (True) or off (False); None: not set (on)
        "lock_timeout",  # seconds to wait for another process's download lock; None: not set
    )
    DEFAULTS = {"env_db_path": None, "url_rewrites": fresh(list), "store_mirrors": fresh(list),
                "warnings": fresh(list), "connect_timeout": None, "read_timeout": None,
                "site_stores": fresh(list), "system_path": None, "locks": None, "lock_timeout": None}

    def source(self, name):
        try:
            return self.sources[name]
        except KeyError:
            raise UnknownSourceError(unknown_source_message(name, self.sources, self.path)) from None


def unknown_source_message(name, known, path):
    listed = ", ".join(known) if known else "none"
    return "unknown source '%s' (configured: %s; config %s)" % (name, listed, path)


def kipoi_dir():
    """kipoi's own folder, as kipoi 0.8.6 finds it (it ignores KIPOI_HOME)."""
    return os.path.join(os.path.expanduser("~"), ".kipoi")


def default_local_path(name):
    """Where kipoi checks source `name` out, written when an entry lacks local_path. Absolute:
    kipoi does not expand `~`. kipoi's own two sources keep kipoi's places; any other source gets
    a folder of its own (never inside ~/.kipoi/models/, kipoi's clone of its zoo)."""
    if name == "kipoi":
        return os.path.join(kipoi_dir(), "models", "")
    if name == PERMALINK_SOURCE:
        return os.path.join(kipoi_dir(), PERMALINK_SOURCE, "")
    return os.path.join(kipoi_dir(), "sources", name, "")


def split_entry(entry):
    """(what goes into model_sources, what goes into source_settings) for one source's settings.

    Keys neither side knows stay in the entry, where they are warned about as before. A source
    of a type kipoi does not know goes to source_settings whole."""
    if entry.get("type") in SETTINGS_ONLY_TYPES:
        return {}, dict(entry)
    keep = KIPOI_KEYS.get(entry.get("type"), SOURCE_KEYS)
    kipoi = {k: v for k, v in entry.items() if k in keep or k not in OUR_KEYS}
    ours = {k: v for k, v in entry.items() if k not in kipoi}
    return kipoi, ours


def needs_local_path(entry):
    """Does kipoi need a local_path this entry lacks (every type but local, where we need one)?"""
    return entry.get("type") in KIPOI_KEYS and entry.get("type") != "local" and \
        entry.get("local_path") is None


def default_sources_text():
    """kipoi's default sources, as the first edit of a missing config writes them."""
    from kipoi_store.config.yamledit import value_text

    return ("model_sources:\n"
            "  kipoi:\n"
            "    type: git-lfs\n"
            "    remote_url: https://github.com/kipoi/models.git\n"
            "    local_path: %s\n"
            "    auto_update: true\n"
            "  github-permalink:\n"
            "    type: github-permalink\n"
            "    local_path: %s\n" % (value_text(default_local_path("kipoi")),
                                      value_text(default_local_path(PERMALINK_SOURCE))))


# -- durations --------------------------------------------------------------------------------

# Compiled (and cached by `re`) on first use: a warm command that reads no duration compiles nothing.
_DURATION = r"\s*(\d+(?:\.\d*)?|\.\d+)\s*([smhd]?)\s*\Z"
_UNITS = {"": 1, "s": 1, "m": 60, "h": 3600, "d": 86400}


def parse_duration(text):
    """Seconds in `text`: a number of seconds, or `30s`, `15m`, `1h`, `2d` (UsageError if not)."""
    if isinstance(text, bool):
        raise UsageError("bad duration %r: expected seconds or e.g. 30s, 15m, 1h, 2d" % (text,))
    if isinstance(text, (int, float)):
        seconds = float(text)
    else:
        match = re.match(_DURATION, str(text))
        if not match:
            raise UsageError("bad duration '%s': expected seconds or e.g. 30s, 15m, 1h, 2d" % text)
        seconds = float(match.group(1)) * _UNITS[match.group(2)]
    if not (0 <= seconds < float("inf")):  # also refuses NaN
        raise UsageError("bad duration %r: must be a finite number of seconds >= 0" % (text,))
    return seconds


def env_seconds(name, env=None, allow_zero=False):
    """Seconds the environment variable `name` sets, None when unset or empty. A value that is no
    duration (or 0 unless `allow_zero`) is a UsageError naming the variable, never the default."""
    text = (os.environ if env is None else env).get(name, "").strip()
    if not text:
        return None
    try:
        seconds = parse_duration(text)
    except UsageError:
        raise UsageError("%s=%s: expected seconds or e.g. 30s, 2m" % (name, text)) from None
    if seconds == 0 and not allow_zero:
        raise UsageError("%s=%s: must be more than 0 seconds" % (name, text))
    return seconds


def format_duration(seconds):
    """The shortest exact `2d`/`1h`/`15m`/`30s` form of a duration; `never` for None."""
    if seconds is None:
        return "never"
    for unit in ("d", "h", "m"):
        if seconds and seconds % _UNITS[unit] == 0:
            return "%d%s" % (seconds // _UNITS[unit], unit)
    return ("%d" % seconds if seconds == int(seconds) else "%g" % seconds) + "s"

