"""How long any network call may wait: the connect and read timeouts every transfer uses (HTTP
through requests, git over http(s), LFS), from the environment, else the config, else defaults.

    KIPOI_CONNECT_TIMEOUT / connect_timeout:  seconds to establish a connection (default 10)
    KIPOI_READ_TIMEOUT / read_timeout:        seconds a server may stay silent (default 30)

The defaults give up on a dead server in tens of seconds; a slow but working transfer is never cut
off, since the read timeout is between bytes, not for the whole transfer.
"""

import math
import os

from kipoi_store.config.schema import parse_duration
from kipoi_store.errors import UsageError

DEFAULT_CONNECT = 10.0
DEFAULT_READ = 30.0
ENV_CONNECT = "KIPOI_CONNECT_TIMEOUT"
ENV_READ = "KIPOI_READ_TIMEOUT"

_configured = {"connect": None, "read": None}


def configure(connect=None, read=None):
    """The config's values (None: not set there); the environment still wins."""
    _configured["connect"] = connect
    _configured["read"] = read


def _from_env(name):
    text = os.environ.get(name, "").strip()
    if not text:
        return None
    try:
        seconds = parse_duration(text)
    except UsageError:
        raise UsageError("%s=%s: expected seconds or e.g. 30s, 2m" % (name, text)) from None
    if seconds <= 0:
        raise UsageError("%s=%s: must be more than 0 seconds" % (name, text))
    return seconds


def timeouts():
    """(connect, read) seconds, as requests takes them."""
    connect = _from_env(ENV_CONNECT) or _configured["connect"] or DEFAULT_CONNECT
    read = _from_env(ENV_READ) or _configured["read"] or DEFAULT_READ
    return (connect, read)


def git_config():
    """`-c` settings that bound git's own http transfers: it gives up when fewer than 1 byte a
    second arrived for the read timeout (git has no connect timeout; net/hosts.py probes first)."""
    seconds = max(1, math.ceil(timeouts()[1]))
    return ["http.lowSpeedLimit=1", "http.lowSpeedTime=%d" % seconds]
