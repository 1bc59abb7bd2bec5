"""Where things live. Every location honours the environment, so tests can redirect it all."""

import os
from pathlib import Path

from kipoi_store.errors import UsageError


def expand(path):
    """Expand `~` and environment variables in a configured path."""
    return Path(os.path.expandvars(os.path.expanduser(str(path))))


def kipoi_home(env=None):
    env = os.environ if env is None else env
    home = env.get("KIPOI_HOME")
    return expand(home) if home else Path(os.path.expanduser("~")) / ".kipoi"


def config_path(env=None):
    env = os.environ if env is None else env
    explicit = env.get("KIPOI_CONFIG")
    return expand(explicit) if explicit else kipoi_home(env) / "config.yaml"


def store_root(env=None):
    env = os.environ if env is None else env
    explicit = env.get("KIPOI_STORE")
    return expand(explicit) if explicit else kipoi_home(env) / "store"


def offline(env=None):
    env = os.environ if env is None else env
    return env.get("KIPOI_OFFLINE", "").strip().lower() not in ("", "0", "false", "no")


def user_cache(env=None):
    """Per-user bookkeeping (records, stat caches, the parsed config): never inside a store, which
    may be read-only or shared with other users."""
    return kipoi_home(env) / "cache"


def system_config_path(env=None):
    """The admin's config, read beneath the user's: KIPOI_SYSTEM_CONFIG, else /etc/kipoi/config.yaml."""
    env = os.environ if env is None else env
    explicit = env.get("KIPOI_SYSTEM_CONFIG")
    return expand(explicit) if explicit else Path("/etc/kipoi/config.yaml")


def site_stores_env(env=None):
    """The stores KIPOI_SITE_STORES names (colon-separated), in order; empty entries skipped."""
    env = os.environ if env is None else env
    return [expand(p) for p in env.get("KIPOI_SITE_STORES", "").split(":") if p.strip()]


def locks_env(env=None):
    """Whether KIPOI_LOCKS turns download locks on (True) or off (False); None when unset. A word
    that says neither is a UsageError naming it."""
    env = os.environ if env is None else env
    text = env.get("KIPOI_LOCKS", "").strip()
    if not text:
        return None
    if text.lower() in ("1", "true", "yes", "on"):
        return True
    if text.lower() in ("0", "false", "no", "off"):
        return False
    raise UsageError("KIPOI_LOCKS=%s: expected 1 or 0 (true or false, on or off)" % text)
