"""Hosts that failed in this run are not asked again: a dead server costs one timeout per run, not
one per spec of a batch (`check` before a request, `failed` when one could not connect or got no
answer). Also `probe`: a TCP connect bounded by the connect timeout, for git, which has none.

A host is remembered as failed only for failures to get any answer (refused, no such host,
connect or read timeout, and a connection closed before any byte as many times in a row as one
request is tried: `unanswered`), never for an answer (404, 500) or a body that broke off halfway.
So a batch pays a dead host's retries once. The memory is per process and fades after
FORGET_SECONDS, so a long-lived Python session tries again.
"""

import threading
import time
from urllib.parse import urlsplit

from kipoi_store.errors import NetworkError
from kipoi_store.net.urls import origin_of, short_url

FORGET_SECONDS = 300.0

_failed = {}  # origin -> (monotonic time, url, reason)
_alive = set()  # origins a probe reached in this run
_unanswered = {}  # origin -> connections in a row it closed before any byte
_lock = threading.Lock()


class HostDown(NetworkError):
    """A request not made: its host failed earlier in this run."""


def _origin(url):
    try:
        return origin_of(url)
    except ValueError:
        return None


def check(url):
    """Raise HostDown when the host of `url` failed earlier in this run."""
    origin = _origin(url)
    with _lock:
        entry = _failed.get(origin)
        if entry is not None and time.monotonic() - entry[0] > FORGET_SECONDS:
            del _failed[origin]
            entry = None
    if entry is not None:
        raise HostDown("not tried again: %s failed earlier in this run (%s: %s)"
                       % (host_text(url), shown(entry[1]), entry[2]))


def failed(url, reason):
    origin = _origin(url)
    with _lock:
        _failed[origin] = (time.monotonic(), url, reason)
        _alive.discard(origin)
        _unanswered.pop(origin, None)


def unanswered(url, reason, limit):
    """The host of `url` closed a connection before any byte; True (and it is remembered as
    failed) when that is the `limit`th time in a row. One such close may be a kept-alive
    connection the server dropped: worth another try, as long as the host answers now and then."""
    origin = _origin(url)
    with _lock:
        count = _unanswered[origin] = _unanswered.get(origin, 0) + 1
    if count < limit:
        return False
    failed(url, reason)
    return True


def answered(url):
    """The host of `url` answered: its closes so far were not a dead host's."""
    if _unanswered:
        with _lock:
            _unanswered.pop(_origin(url), None)


def forget():
    """Try every host again (tests; a caller that knows the network is back)."""
    with _lock:
        _failed.clear()
        _alive.clear()
        _unanswered.clear()


def shown(url):
    """`url` for messages: no user name or password (http user names are often tokens), no query."""
    parts = urlsplit(short_url(url))
    return parts._replace(netloc=parts.netloc.rsplit("@", 1)[-1]).geturl()


def host_text(url):
    parts = urlsplit(url)
    return "%s://%s" % (parts.scheme, parts.netloc.rsplit("@", 1)[-1])


def connect_error(url, connect_timeout, proxy=None):
    """Why a TCP connection to the host of http(s) `url` (or to `proxy`, a URL, when requests go
    through one) cannot be opened within `connect_timeout` seconds; None when it can (asked once
    per host and run) or for other schemes. Remembers nothing of a failure: see `failed`."""
    target = proxy or url
    parts = urlsplit(target)
    origin = _origin(target)
    if parts.scheme.lower() not in ("http", "https") or origin is None or not parts.hostname:
        return None
    with _lock:
        if origin in _alive:
            return None
    import socket

    try:
        socket.create_connection((parts.hostname, origin[2]), timeout=connect_timeout).close()
    except socket.timeout:
        reason = "no connection within %g s" % connect_timeout
    except OSError as exc:
        reason = exc.strerror or str(exc) or type(exc).__name__
    else:
        with _lock:
            _alive.add(origin)
        return None
    return "proxy %s: %s" % (host_text(proxy), reason) if proxy else reason
