"""One URL into the store (`download_url`): streamed to a file under the store's tmp dir and hashed
as it goes (memory does not grow with the file), resumed with `Range` after a broken connection,
and retried with backoff (net/http.py). Model files (models/files.py) and LFS objects
(lfs/batch.py) both come through it; only verified bytes reach the store.
"""

import hashlib
import os
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Dict
from urllib.parse import urlsplit

from kipoi_store.errors import IntegrityError, NetworkError, NotFoundError
from kipoi_store.net import hosts
from kipoi_store.net.http import (Options, Retry, attempts, closed_unanswered, content_range_start,
                                  header_int, network_errors, no_answer, retry_after, why)
from kipoi_store.net.urls import short_url

# What a broken connection can lose: a read that fails returns none of its bytes.
CHUNK = 1 << 16


class Cancelled(Exception):
    """Another download failed (or the user interrupted): stop this one."""


class _Expired(Exception):
    """The server refused us (401/403): worth trying again only after `refresh()` (LFS: a fresh
    action from the batch API)."""


@dataclass(frozen=True)
class Downloaded:
    path: str  # the store tmp file holding the bytes; removed when the `with` block ends
    size: int
    digests: Dict[str, str]  # algorithm -> hex digest: "sha256" always, and those asked for

    @property
    def sha256(self):
        return self.digests["sha256"]


@contextmanager
def download_url(url, store, *, name=None, algorithms=(), size=None, opts=None, meter=None,
                 session=None, send=None, refresh=None, cancelled=None):
    """GET `url` into a fresh tmp file of `store`, hashing while streaming; yields a Downloaded.

        with download_url(url, store, algorithms=("md5",)) as got:
            if got.digests["md5"] == expected:
                store.commit_verified(got.path, got.sha256)   # no second pass over the file

    The tmp file is removed when the block ends, so nothing unverified outlives it. A broken or
    stalled connection resumes with Range; 429 (honouring Retry-After), 5xx, resets and timeouts
    are retried with backoff (`opts`: tries, backoff, max_wait, timeout, sleep); progress made
    resets the count. Raises NotFoundError (404/410), NetworkError (gave up, or any other answer)
    and, with `size` (the exact size expected), IntegrityError as soon as the body outgrows it or
    the server serves a complete but shorter one; each message names `name` (default: the URL
    without password or query).

    `algorithms`: hashlib names to compute besides sha256 (e.g. "md5"). `meter`: a Progress to
    count bytes on. `session`: the requests.Session to GET with (default: a new one). `send`:
    `send(headers) -> response` replaces that GET (LFS: per-origin credentials, hand-followed
    redirects). `refresh()`: called when the server refuses (401/403) before trying again, at
    most opts.tries times; without it a refusal is a NetworkError. `cancelled`: an Event that
    stops the download at its next chunk.
    """
    opts = opts or Options()
    name = name or short_url(url)
    own_session = None
    if send is None:
        if session is None:
            import requests

            session = own_session = requests.Session()

        def send(headers):
            return guarded_request(session, url, name, opts, headers=headers, stream=True)

    tmp = store.new_tmp_path("dl-" + urlsplit(url).path.rsplit("/", 1)[-1])
    state = _Hashing(("sha256",) + tuple(a for a in algorithms if a != "sha256"))
    try:
        try:
            with open(tmp, "wb") as f:
                _transfer(send, f, state, name, size, opts, meter, refresh, cancelled)
        except OSError as exc:
            from kipoi_store.store.core.objects import named

            named(exc, tmp)  # a full disk names no file: say which one could not be written
            raise
        yield Downloaded(str(tmp), state.size, state.hexdigests())
    finally:
        if own_session is not None:
            own_session.close()
        try:
            os.unlink(tmp)
        except OSError:
            pass  # the caller moved it into the store (or clean_tmp removes it once we are gone)


def guarded_request(session, url, name, opts, method="GET", label=None, **kwargs):
    """`session.request` of `url` unless its host failed earlier in this run; a host that gives no
    answer at all (refused, unknown, silent past the timeout; closed before any byte opts.tries
    times in a row) is remembered (net/hosts.py) and raises NetworkError `cannot <label>: <reason>`
    (default label: download `name` from the URL), never retried. Other connection errors pass."""
    hosts.check(url)
    try:
        resp = session.request(method, url, timeout=opts.timeout, **kwargs)
    except network_errors() as e:
        reason = no_answer(e, opts.timeout)
        if reason is None:
            closed = closed_unanswered(e)
            if closed is None or not hosts.unanswered(url, closed, opts.tries):
                raise
            reason = "%s (%d times in a row)" % (closed, opts.tries)
        else:
            hosts.failed(url, reason)
        shown = short_url(url)
        if label is None:
            label = "download %s" % (name if name == shown else "%s from %s" % (name, shown))
        raise NetworkError("cannot %s: %s" % (label, reason)) from None
    hosts.answered(url)
    return resp


class _Hashing:
    """Bytes written so far and their digests."""

    def __init__(self, algorithms):
        self.algorithms = algorithms
        self.reset()

    def reset(self):
        self.hashers = {a: hashlib.new(a, usedforsecurity=a != "md5") for a in self.algorithms}
        self.size = 0

    def update(self, chunk):
        for h in self.hashers.values():
            h.update(chunk)
        self.size += len(chunk)

    def hexdigests(self):
        return {a: h.hexdigest() for a, h in self.hashers.items()}


def _transfer(send, f, state, name, size, opts, meter, refresh, cancelled):
    """GET until the body is complete, resuming and retrying as download_url says."""
    refreshed = 0
    for attempt in attempts(opts):
        before = state.size
        try:
            try:
                _get(send, f, state, name, size, meter, cancelled)
                return
            finally:
                if state.size > before:
                    attempt.progressed()
        except _Expired as e:
            refreshed += 1
            if refresh is None or refreshed > opts.tries:
                raise NetworkError(str(e)) from None
            refresh()
            attempt.again()
        except Retry as e:
            attempt.retry(e)


def _get(send, f, state, name, size, meter, cancelled):
    """One GET (resuming at `state.size`); returns when the body is complete."""
    import requests

    headers = {"Range": "bytes=%d-" % state.size} if state.size else {}
    try:
        resp = send(headers)
    except network_errors() as e:
        raise Retry("cannot download %s: %s" % (name, why(e))) from None
    except (requests.exceptions.RequestException, ValueError) as e:
        # A malformed URL, or one requests cannot fetch: not worth retrying.
        raise NetworkError("cannot request %s: %s" % (name, why(e))) from None
    with resp:
        code = resp.status_code
        total = None  # what the server says the whole body is
        if code == 206 and state.size:
            value = resp.headers.get("Content-Range")
            if content_range_start(value) != state.size:  # not what we asked for: start over
                _restart(f, state, meter)
                raise Retry("server sent an unexpected range for %s" % name, delay=0)
            total = header_int((value or "").rpartition("/")[2])
        elif code == 200:
            if state.size:  # the server ignored Range: the body starts at byte 0
                _restart(f, state, meter)
            total = header_int(resp.headers.get("Content-Length"))
        elif code == 416 and state.size:
            _restart(f, state, meter)
            raise Retry("server refused to resume %s" % name, delay=0)
        elif code in (401, 403):
            raise _Expired("download of %s refused (%d)" % (name, code))
        elif code in (404, 410):
            raise NotFoundError("download of %s: not found (%d)" % (name, code))
        elif code == 429 or code >= 500:
            raise Retry("download of %s: server answered %d" % (name, code),
                         retry_after(resp.headers.get("Retry-After")))
        else:
            raise NetworkError("download of %s: server answered %d" % (name, code))
        received = 0
        try:
            for chunk in resp.iter_content(CHUNK):
                if cancelled is not None and cancelled.is_set():
                    raise Cancelled()
                if size is not None and state.size + len(chunk) > size:
                    raise IntegrityError("download of %s: wrong content: more than the %d bytes "
                                         "expected" % (name, size))
                f.write(chunk)
                state.update(chunk)
                received += len(chunk)
                if meter is not None:
                    meter.add(len(chunk))
        except network_errors() as e:
            raise Retry("download of %s broke off at byte %d: %s"
                         % (name, state.size, why(e))) from None
        expected = size if size is not None else total
        if expected is not None and state.size < expected:
            if size is not None and header_int(resp.headers.get("Content-Length")) == received:
                # The server says this is the whole body: the file itself is short.
                raise IntegrityError("download of %s: wrong content: %d bytes, expected %d"
                                     % (name, state.size, size))
            raise Retry("download of %s ended early at byte %d of %d"
                         % (name, state.size, expected))


def _restart(f, state, meter):
    if meter is not None:
        meter.add(-state.size)
    f.seek(0)
    f.truncate()
    state.reset()


