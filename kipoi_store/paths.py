"""Where things live. Every location honours the environment, so tests can redirect it all."""

import os
from pathlib import Path


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
