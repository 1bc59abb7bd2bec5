"""How long any network call may wait: the connect and read timeouts every transfer uses (HTTP
through requests, git over http(s), LFS), from the environment, else the config, else defaults.

    KIPOI_CONNECT_TIMEOUT / connect_timeout:  seconds to establish a connection (default 10)
    KIPOI_READ_TIMEOUT / read_timeout:        seconds a server may stay silent (default 30)

The defaults give up on a dead server in tens of seconds; a slow but working transfer is never cut
off, since the read timeout is between bytes, not for the whole transfer.
"""

from kipoi_store.config.schema import env_seconds

DEFAULT_CONNECT = 10.0
DEFAULT_READ = 30.0
ENV_CONNECT = "KIPOI_CONNECT_TIMEOUT"
ENV_READ = "KIPOI_READ_TIMEOUT"

_configured = {"connect": None, "read": None}


def configure(connect=None, read=None):
    """The config's values (None: not set there); the environment still wins."""
    _configured["connect"] = connect
    _configured["read"] = read


def timeouts():
    """(connect, read) seconds, as requests takes them."""
    connect = env_seconds(ENV_CONNECT) or _configured["connect"] or DEFAULT_CONNECT
    read = env_seconds(ENV_READ) or _configured["read"] or DEFAULT_READ
    return (connect, read)


def git_config():
    """`-c` settings that bound git's own http transfers: it gives up when fewer than 1 byte a
    second arrived for the read timeout (git has no connect timeout; net/hosts.py probes first)."""
    import math  # here only: the resolver configures the limits on every start, warm or not

    seconds = max(1, math.ceil(timeouts()[1]))
    return ["http.lowSpeedLimit=1", "http.lowSpeedTime=%d" % seconds]
