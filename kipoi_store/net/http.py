"""What every download shares: the options of a transfer, one requests.Session per thread, and
the retry loop (exponential backoff; 429 honours Retry-After) with the errors worth retrying.

requests is imported only when a request is made: it costs ~120 ms, and a warm resolve makes none.
"""

import email.utils
import random
import threading
import time
from dataclasses import dataclass, field
from datetime import datetime, timezone

from kipoi_store.errors import NetworkError
from kipoi_store.net import limits


@dataclass
class Options:
    tries: int = 5  # attempts per request before giving up (progress on a download resets it)
    backoff: float = 0.5  # first retry delay in seconds; doubles each time
    max_wait: float = 60.0  # cap on any single wait, Retry-After included
    timeout: tuple = field(default_factory=limits.timeouts)  # (connect, read) seconds
    credentials: bool = True  # ask `git credential fill` when the endpoint answers 401
    sleep: object = time.sleep


class Sessions:
    """One requests.Session per thread (a Session is not safe to share), each with `headers`."""

    def __init__(self, headers):
        self.headers = dict(headers)
        self._local = threading.local()

    def get(self):
        s = getattr(self._local, "session", None)
        if s is None:
            import requests

            s = self._local.session = requests.Session()
            s.headers.update(self.headers)
        return s


# -- retry bookkeeping -----------------------------------------------------------------------

class Retry(Exception):
    """A transient failure: try again after `delay` seconds (None: the usual backoff)."""

    def __init__(self, message, delay=None):
        super().__init__(message)
        self.delay = delay


class _Attempt:
    def __init__(self, opts):
        self.opts = opts
        self.failures = 0
        self.last = None
        self.free = False

    def again(self):
        """Go round once more without counting it as a failure (new credentials, new action)."""
        self.free = True

    def progressed(self):
        """Bytes arrived: a flaky but working connection is not given up on."""
        self.failures = 0

    def retry(self, err):
        self.failures += 1
        self.last = err
        if self.failures >= self.opts.tries:
            raise NetworkError("%s (gave up after %d tries)" % (err, self.failures)) from None
        if err.delay is not None:
            delay = err.delay
        else:
            delay = self.opts.backoff * (2 ** (self.failures - 1)) * random.uniform(0.75, 1.25)
        self.free = True
        self.opts.sleep(max(0.0, min(delay, self.opts.max_wait)))


def attempts(opts):
    """Yields an _Attempt for as long as the caller keeps calling retry()/again() on it."""
    a = _Attempt(opts)
    while True:
        a.free = False
        yield a
        if not a.free:
            return


def retry_after(value, now=None):
    """Seconds to wait from a Retry-After header (seconds or an HTTP date); None if absent/bad."""
    if not value:
        return None
    value = value.strip()
    if value.isdigit():
        return float(value)
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError, IndexError):
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=timezone.utc)
    now = datetime.now(timezone.utc) if now is None else now
    return max(0.0, (when - now).total_seconds())


def why(exc):
    text = str(exc) or type(exc).__name__
    return text if len(text) < 200 else text[:200] + "..."


def network_errors():
    import requests

    return (requests.exceptions.ConnectionError, requests.exceptions.Timeout,
            requests.exceptions.ChunkedEncodingError, requests.exceptions.ContentDecodingError,
            ConnectionError)


def no_answer(exc, timeout):
    """Why `exc`, raised while making a request (before any response), means the host gave no
    answer at all: refused, unknown, or silent past the timeout. None for a connection that broke
    in another way (a reused connection the server had closed is worth another try)."""
    import requests

    if isinstance(exc, requests.exceptions.ConnectTimeout):
        return "no connection within %g s" % timeout[0]
    if isinstance(exc, requests.exceptions.ReadTimeout):
        return "no answer within %g s" % timeout[1]
    if isinstance(exc, requests.exceptions.ConnectionError):
        cause = exc.args[0] if exc.args else None
        reason = getattr(cause, "reason", cause)
        import urllib3.exceptions

        if isinstance(reason, urllib3.exceptions.NewConnectionError):
            text = str(reason)
            return text.split(": ", 1)[-1] if ": " in text else text
    return None


def closed_unanswered(exc):
    """"closed the connection without an answer" when `exc` (raised while making a request) is a
    connection the host accepted and closed or reset before sending a byte; else None."""
    import http.client

    import requests

    if not isinstance(exc, requests.exceptions.ConnectionError) or not exc.args:
        return None
    cause = exc.args[0]
    inner = cause.args[1] if len(getattr(cause, "args", ())) > 1 else cause
    if isinstance(inner, (http.client.RemoteDisconnected, ConnectionResetError)):
        return "closed the connection without an answer"
    return None


def content_range_start(value):
    """Where a 206 answer's `Content-Range: bytes 100-199/200` starts (None if not bytes)."""
    try:
        unit, _, rest = (value or "").partition(" ")
        return int(rest.split("-", 1)[0]) if unit.strip().lower() == "bytes" else None
    except ValueError:
        return None


def header_int(value):
    """A header's non-negative integer (Content-Length, a Content-Range total), or None."""
    return int(value) if value and str(value).isdigit() else None
