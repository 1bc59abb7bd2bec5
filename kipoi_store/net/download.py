"""Downloads: one URL into the store (`download_url`), and the Git LFS batch API with its `basic`
transfer (git-lfs docs/api/batch.md, basic-transfers.md) built on it.

`download_url` streams to a file under the store's tmp dir, hashing as it goes (memory does not grow
with the file), resumes with `Range` after a broken connection, and retries with exponential
backoff on 429 (honouring Retry-After), 5xx, resets and timeouts. Model files (modelfiles.py) and
LFS objects both come through it; only verified bytes reach the store.

LFS objects are requested in batches of at most 100 and downloaded by a few threads, each with its
own requests.Session; an action that has expired, or whose href refuses us, is asked for afresh.

Headers an action carries (typically Authorization) go only to that action's own origin, never to
a host it redirects to; credentials from `git credential fill` go only to the endpoint's origin.
"""

import email.utils
import hashlib
import json
import os
import random
import shlex
import subprocess
import sys
import threading
import time
from concurrent.futures import FIRST_EXCEPTION, ThreadPoolExecutor, wait
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime, timezone
from typing import Dict, Optional
from urllib.parse import urljoin, urlsplit

from kipoi_store.errors import IntegrityError, NetworkError, NotFoundError
from kipoi_store.lfs.endpoint import Endpoint, redact

MEDIA_TYPE = "application/vnd.git-lfs+json"
BATCH_SIZE = 100
# What a broken connection can lose: a read that fails returns none of its bytes.
CHUNK = 1 << 16
MAX_REDIRECTS = 5
# An action that expires within this many seconds is treated as expired already.
EXPIRY_MARGIN = 5.0


@dataclass
class Options:
    tries: int = 5  # attempts per request before giving up (progress on a download resets it)
    backoff: float = 0.5  # first retry delay in seconds; doubles each time
    max_wait: float = 60.0  # cap on any single wait, Retry-After included
    timeout: tuple = (10.0, 60.0)  # (connect, read) seconds
    credentials: bool = True  # ask `git credential fill` when the endpoint answers 401
    sleep: object = time.sleep


def fetch(endpoint: Endpoint, pointers, store, what: Dict[str, str], progress=None, workers=4,
          **options):
    """Download `pointers` from an http or ssh endpoint into `store` (see lfs.fetch_objects)."""
    opts = Options(**options)
    if progress is None:
        progress = _stderr_is_tty()
    meter = Progress(sum(p.size for p in pointers), len(pointers), enabled=progress)
    client = Client(endpoint, opts)
    try:
        client.authenticate_ssh()
        with ThreadPoolExecutor(max(1, workers), thread_name_prefix="lfs") as pool:
            futures = []
            try:
                for start in range(0, len(pointers), BATCH_SIZE):
                    chunk = pointers[start:start + BATCH_SIZE]
                    actions = client.batch(chunk, what)
                    for p in chunk:
                        futures.append(pool.submit(_download, client, p, actions[p.oid], store,
                                                   what.get(p.oid, p.oid), meter))
                    if any(f.done() and f.exception() for f in futures):
                        break
                wait(futures, return_when=FIRST_EXCEPTION)
            except BaseException:
                client.cancelled.set()  # e.g. Ctrl-C: running downloads stop at their next chunk
                pool.shutdown(wait=True, cancel_futures=True)
                raise
            if any(f.done() and f.exception() for f in futures):
                client.cancelled.set()
            pool.shutdown(wait=True, cancel_futures=True)
            errors = [f.exception() for f in futures if f.done() and not f.cancelled()
                      and f.exception() is not None]
            errors.sort(key=lambda e: isinstance(e, _Cancelled))  # the real cause first
            if errors:
                raise errors[0]
    finally:
        meter.close()


@dataclass(frozen=True)
class Action:
    href: str
    headers: tuple  # ((name, value), ...)
    deadline: Optional[float]  # time.time() after which it is no longer valid

    def expired(self):
        return self.deadline is not None and time.time() >= self.deadline - EXPIRY_MARGIN


class _Retry(Exception):
    """A transient failure: try again after `delay` seconds (None: the usual backoff)."""

    def __init__(self, message, delay=None):
        super().__init__(message)
        self.delay = delay


class _Cancelled(Exception):
    """Another download failed (or the user interrupted): stop this one."""


class _Expired(Exception):
    """The action's href refused us (401/403): ask the batch API for a fresh one."""


class Client:
    """Talks to one endpoint: batch requests, credentials, and per-thread sessions."""

    def __init__(self, endpoint: Endpoint, opts: Options):
        self.endpoint = endpoint
        self.url = endpoint.url
        self.headers = tuple(endpoint.headers)
        self.opts = opts
        self.auth = None  # (username, password) from git credential fill
        self.auth_from_git = None
        self.sessions = Sessions({"User-Agent": "kipoi-store git-lfs/3.3.0 (compatible)"})
        self._lock = threading.Lock()
        self.cancelled = threading.Event()

    # -- sessions and requests ---------------------------------------------------------------

    def session(self):
        return self.sessions.get()

    def request(self, method, url, origin_headers, origin_auth=None, headers=None, **kwargs):
        """`method url`, following redirects by hand so that `origin_headers` and `origin_auth`
        reach only the origin of `url`, and only http(s) is ever followed."""
        origin = _origin(url)
        for _ in range(MAX_REDIRECTS + 1):
            if urlsplit(url).scheme.lower() not in ("http", "https"):
                raise NetworkError("refusing to follow a non-http(s) URL: %s" % short_url(url))
            same = _origin(url) == origin
            hop_headers = dict(headers or {})
            if same:
                hop_headers.update(origin_headers)
            resp = self._send(method, url, headers=hop_headers,
                              auth=origin_auth if same else None, **kwargs)
            if resp.status_code in (301, 302, 303, 307, 308) and "Location" in resp.headers:
                resp.close()
                url = urljoin(url, resp.headers["Location"])
                continue
            return resp
        raise NetworkError("too many redirects from %s" % short_url(url))

    def _send(self, method, url, **kwargs):
        import requests

        try:
            return self.session().request(method, url, allow_redirects=False,
                                          timeout=self.opts.timeout, **kwargs)
        except _network_errors():
            raise
        except (requests.exceptions.RequestException, ValueError) as e:
            # A malformed URL or header from the server: not worth retrying.
            raise NetworkError("cannot request %s: %s" % (short_url(url), _why(e))) from None

    # -- ssh ---------------------------------------------------------------------------------

    def authenticate_ssh(self):
        """For an ssh endpoint: `git-lfs-authenticate <path> download` gives the href and headers;
        if that fails, fall back to https of the same host and path (as git-lfs does)."""
        if self.endpoint.kind != "ssh":
            return
        answer = ssh_authenticate(self.endpoint.ssh, self.opts.timeout[1])
        if answer is None:
            self.url, self.headers = self.endpoint.url, ()
            return
        self.url = answer.get("href", "").rstrip("/") or self.endpoint.url
        self.headers = tuple((str(k), str(v)) for k, v in (answer.get("header") or {}).items())

    # -- the batch API -----------------------------------------------------------------------

    def batch(self, pointers, what):
        """{oid: Action} for `pointers`; per-object errors raise NotFoundError or NetworkError."""
        # Workers re-batch expired actions: one batch request at a time keeps credentials simple.
        with self._lock:
            return self._batch(pointers, what)

    def _batch(self, pointers, what):
        body = json.dumps({
            "operation": "download",
            "transfers": ["basic"],
            "objects": [{"oid": p.oid, "size": p.size} for p in pointers],
            "hash_algo": "sha256",
        })
        url = self.url + "/objects/batch"
        data = self._batch_post(url, body, [what.get(p.oid, p.oid) for p in pointers])
        if data.get("transfer", "basic") != "basic":
            raise NetworkError("LFS server %s chose transfer %r; only 'basic' is supported"
                               % (short_url(self.url), data.get("transfer")))
        now = time.time()
        by_oid = {}
        for obj in data.get("objects") or ():
            if isinstance(obj, dict) and isinstance(obj.get("oid"), str):
                by_oid[obj["oid"]] = obj
        actions, missing, failed = {}, [], []
        for p in pointers:
            obj = by_oid.get(p.oid)
            name = what.get(p.oid, p.oid)
            err = obj.get("error") if obj else None
            if obj is None:
                failed.append("%s (not in the batch response)" % name)
            elif err:
                code = err.get("code") if isinstance(err, dict) else None
                if code in (404, 410):
                    missing.append(name)
                else:
                    msg = err.get("message", "") if isinstance(err, dict) else str(err)
                    failed.append("%s (%s %s)" % (name, code, msg))
            else:
                act = (obj.get("actions") or {}).get("download")
                if not act or not isinstance(act.get("href"), str):
                    failed.append("%s (no download action)" % name)
                else:
                    actions[p.oid] = _action(act, now)
        if missing:
            raise NotFoundError("LFS object missing on %s: %s" % (short_url(self.url),
                                                                  ", ".join(missing)))
        if failed:
            raise NetworkError("LFS server %s refused: %s" % (short_url(self.url), ", ".join(failed)))
        return actions

    def _batch_post(self, url, body, names):
        headers = {"Accept": MEDIA_TYPE, "Content-Type": MEDIA_TYPE}
        asked = False
        reauthed = False
        for attempt in _attempts(self.opts):
            try:
                resp = self.request("POST", url, dict(self.headers), self.auth, data=body,
                                    headers=headers)
            except _network_errors() as e:
                attempt.retry(_Retry("cannot reach LFS server %s: %s" % (short_url(url), _why(e))))
                continue
            with resp:
                code = resp.status_code
                if code == 200:
                    try:
                        data = resp.json()
                    except ValueError:
                        raise NetworkError("LFS server %s sent an unreadable batch response"
                                           % short_url(url)) from None
                    if self.auth_from_git:
                        credential("approve", self.auth_from_git)
                        self.auth_from_git = None
                    return data if isinstance(data, dict) else {}
                if code == 401:
                    if self.endpoint.kind == "ssh" and not reauthed:
                        reauthed = True  # the ssh token may have expired: ask again
                        self.authenticate_ssh()
                        attempt.again()
                        continue
                    if self.auth_from_git:
                        credential("reject", self.auth_from_git)
                        self.auth_from_git = None
                    if self.opts.credentials and not asked:
                        asked = True
                        filled = credential("fill", _credential_request(url))
                        if filled and filled.get("username") is not None:
                            self.auth = (filled["username"], filled.get("password", ""))
                            self.auth_from_git = filled
                            attempt.again()
                            continue
                    raise NetworkError("LFS server %s: authentication failed (401)" % short_url(url))
                if code in (429,) or code >= 500:
                    attempt.retry(_Retry("LFS server %s answered %d" % (short_url(url), code),
                                         retry_after(resp.headers.get("Retry-After"))))
                    continue
                if code == 404:
                    # No such repository, or (giftless) none of the objects: name what was asked.
                    raise NotFoundError("LFS objects not found at %s (404): %s"
                                        % (short_url(url), ", ".join(names)))
                raise NetworkError("LFS server %s answered %d%s"
                                   % (short_url(url), code, _server_message(resp)))
        raise AssertionError("unreachable")

    def fresh_action(self, pointer, name):
        return self.batch([pointer], {pointer.oid: name})[pointer.oid]


def _download(client, pointer, action, store, name, meter):
    """One object: download_url with this object's href (renewed when it expires or is refused),
    verify size and sha256, then hand the file to the store."""
    href = _Href(client, pointer, name, action)
    with download_url(action.href, store, name=name, size=pointer.size, opts=client.opts,
                      meter=meter, send=href.send, refresh=href.refresh,
                      cancelled=client.cancelled) as got:
        if got.size != pointer.size or got.sha256 != pointer.oid:
            raise IntegrityError(
                "LFS object %s has wrong content: expected sha256 %s (%d bytes), got %s (%d bytes)"
                % (name, pointer.oid, pointer.size, got.sha256, got.size))
        store.commit_verified(got.path, pointer.oid)  # hashed while streaming: no second pass
    meter.file_done()


class _Href:
    """The download action of one object, asked for afresh when it expires or is refused."""

    def __init__(self, client, pointer, name, action):
        self.client, self.pointer, self.name, self.action = client, pointer, name, action

    def refresh(self):
        self.action = self.client.fresh_action(self.pointer, self.name)

    def send(self, headers):
        if self.action.expired():
            self.refresh()
        client, action = self.client, self.action
        action_headers = dict(action.headers)
        # Endpoint credentials go to an href only when it is on the endpoint's own origin and the
        # action brought no authorization of its own.
        auth = None
        if client.auth and _origin(action.href) == _origin(client.url) and not any(
                k.lower() == "authorization" for k in action_headers):
            auth = client.auth
        return client.request("GET", action.href, action_headers, auth, headers=headers,
                              stream=True)


# -- one URL into a store tmp file -----------------------------------------------------------

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
            return session.get(url, headers=headers, stream=True, timeout=opts.timeout)

    tmp = store.new_tmp_path("dl-" + urlsplit(url).path.rsplit("/", 1)[-1])
    state = _Hashing(("sha256",) + tuple(a for a in algorithms if a != "sha256"))
    try:
        with open(tmp, "wb") as f:
            _transfer(send, f, state, name, size, opts, meter, refresh, cancelled)
        yield Downloaded(str(tmp), state.size, state.hexdigests())
    finally:
        if own_session is not None:
            own_session.close()
        try:
            os.unlink(tmp)
        except FileNotFoundError:
            pass  # the caller moved it into the store


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
    for attempt in _attempts(opts):
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
        except _Retry as e:
            attempt.retry(e)


def _get(send, f, state, name, size, meter, cancelled):
    """One GET (resuming at `state.size`); returns when the body is complete."""
    import requests

    headers = {"Range": "bytes=%d-" % state.size} if state.size else {}
    try:
        resp = send(headers)
    except _network_errors() as e:
        raise _Retry("cannot download %s: %s" % (name, _why(e))) from None
    except (requests.exceptions.RequestException, ValueError) as e:
        # A malformed URL, or one requests cannot fetch: not worth retrying.
        raise NetworkError("cannot request %s: %s" % (name, _why(e))) from None
    with resp:
        code = resp.status_code
        total = None  # what the server says the whole body is
        if code == 206 and state.size:
            value = resp.headers.get("Content-Range")
            if _content_range_start(value) != state.size:  # not what we asked for: start over
                _restart(f, state, meter)
                raise _Retry("server sent an unexpected range for %s" % name, delay=0)
            total = _digits((value or "").rpartition("/")[2])
        elif code == 200:
            if state.size:  # the server ignored Range: the body starts at byte 0
                _restart(f, state, meter)
            total = _digits(resp.headers.get("Content-Length"))
        elif code == 416 and state.size:
            _restart(f, state, meter)
            raise _Retry("server refused to resume %s" % name, delay=0)
        elif code in (401, 403):
            raise _Expired("download of %s refused (%d)" % (name, code))
        elif code in (404, 410):
            raise NotFoundError("download of %s: not found (%d)" % (name, code))
        elif code == 429 or code >= 500:
            raise _Retry("download of %s: server answered %d" % (name, code),
                         retry_after(resp.headers.get("Retry-After")))
        else:
            raise NetworkError("download of %s: server answered %d" % (name, code))
        received = 0
        try:
            for chunk in resp.iter_content(CHUNK):
                if cancelled is not None and cancelled.is_set():
                    raise _Cancelled()
                if size is not None and state.size + len(chunk) > size:
                    raise IntegrityError("download of %s: wrong content: more than the %d bytes "
                                         "expected" % (name, size))
                f.write(chunk)
                state.update(chunk)
                received += len(chunk)
                if meter is not None:
                    meter.add(len(chunk))
        except _network_errors() as e:
            raise _Retry("download of %s broke off at byte %d: %s"
                         % (name, state.size, _why(e))) from None
        expected = size if size is not None else total
        if expected is not None and state.size < expected:
            if size is not None and _digits(resp.headers.get("Content-Length")) == received:
                # The server says this is the whole body: the file itself is short.
                raise IntegrityError("download of %s: wrong content: %d bytes, expected %d"
                                     % (name, state.size, size))
            raise _Retry("download of %s ended early at byte %d of %d"
                         % (name, state.size, expected))


def _restart(f, state, meter):
    if meter is not None:
        meter.add(-state.size)
    f.seek(0)
    f.truncate()
    state.reset()


def _content_range_start(value):
    # "bytes 100-199/200"
    try:
        unit, _, rest = (value or "").partition(" ")
        return int(rest.split("-", 1)[0]) if unit.strip().lower() == "bytes" else None
    except ValueError:
        return None


def _digits(value):
    return int(value) if value and value.isdigit() else None


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


def _attempts(opts):
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


def _action(act, now):
    headers = act.get("header") or {}
    deadline = None
    expires_in = act.get("expires_in")
    if isinstance(expires_in, (int, float)) and not isinstance(expires_in, bool) and expires_in:
        deadline = now + expires_in
    expires_at = act.get("expires_at")
    if isinstance(expires_at, str) and expires_at and not expires_at.startswith("0001-01-01"):
        try:
            at = datetime.fromisoformat(expires_at.replace("Z", "+00:00"))
            if at.tzinfo is None:
                at = at.replace(tzinfo=timezone.utc)
            ts = at.timestamp()
            deadline = ts if deadline is None else min(deadline, ts)
        except ValueError:
            pass
    return Action(act["href"], tuple((str(k), str(v)) for k, v in headers.items()), deadline)


# -- credentials and ssh ---------------------------------------------------------------------

def _credential_request(url):
    parts = urlsplit(url)
    req = {"protocol": parts.scheme, "host": parts.netloc.rsplit("@", 1)[-1]}
    if parts.path:
        req["path"] = parts.path.lstrip("/")
    if parts.username:
        req["username"] = parts.username
    return req


def credential(action, fields):
    """`git credential fill|approve|reject`, fields through stdin (never on a command line)."""
    text = "".join("%s=%s\n" % (k, v) for k, v in fields.items()
                   if v is not None and "\n" not in str(v)) + "\n"
    try:
        proc = subprocess.run(["git", "credential", action], input=text.encode(),
                              capture_output=True, timeout=300)
    except (OSError, subprocess.TimeoutExpired):
        return None
    if action != "fill" or proc.returncode != 0:
        return None
    out = {}
    for line in proc.stdout.decode("utf-8", "replace").splitlines():
        key, sep, value = line.partition("=")
        if sep:
            out[key] = value
    return out


def ssh_authenticate(target, timeout=60.0, env=None):
    """The JSON `git-lfs-authenticate <path> download` prints over ssh, or None on failure."""
    env = os.environ if env is None else env
    if target.host.startswith("-") or target.destination.startswith("-"):
        return None  # never let a host name become an ssh option
    path = target.path
    safe = all(c.isalnum() or c in "._/~-" for c in path)
    command = "git-lfs-authenticate %s download" % (path if safe and path else shlex.quote(path))
    args = []
    if target.port:
        args += ["-p", str(target.port)]
    args += [target.destination, command]
    if env.get("GIT_SSH_COMMAND"):
        argv = ["sh", "-c", env["GIT_SSH_COMMAND"] + ' "$@"', "git-ssh"] + args
    else:
        argv = [env.get("GIT_SSH") or "ssh"] + args
    try:
        proc = subprocess.run(argv, stdin=subprocess.DEVNULL, capture_output=True,
                              timeout=timeout, env=dict(env))
    except (OSError, subprocess.TimeoutExpired):
        return None
    if proc.returncode != 0:
        return None
    try:
        answer = json.loads(proc.stdout.decode("utf-8"))
    except ValueError:
        return None
    if not isinstance(answer, dict) or not isinstance(answer.get("href"), str):
        return None
    if urlsplit(answer["href"]).scheme.lower() not in ("http", "https"):
        return None
    return answer


# -- small helpers ---------------------------------------------------------------------------

def _origin(url):
    parts = urlsplit(url)
    try:
        port = parts.port
    except ValueError:  # a malformed port: requests refuses such a URL anyway
        port = None
    port = port or {"http": 80, "https": 443}.get(parts.scheme.lower())
    return (parts.scheme.lower(), (parts.hostname or "").lower(), port)


def short_url(url):
    """A URL for messages: no password, no query (signed URLs carry secrets there)."""
    return redact(url).split("?", 1)[0]


def _why(exc):
    text = str(exc) or type(exc).__name__
    return text if len(text) < 200 else text[:200] + "..."


def _server_message(resp):
    try:
        msg = resp.json().get("message")
    except (ValueError, AttributeError):
        msg = None
    return ": %s" % str(msg)[:200] if msg else ""


def _network_errors():
    import requests

    return (requests.exceptions.ConnectionError, requests.exceptions.Timeout,
            requests.exceptions.ChunkedEncodingError, requests.exceptions.ContentDecodingError,
            ConnectionError)


def _stderr_is_tty():
    try:
        return sys.stderr.isatty()
    except (AttributeError, ValueError):
        return False


class Progress:
    """Files, bytes and rate on one stderr line, redrawn at most ten times a second:
    `<label>: 1/2 <unit>, 1.0 MiB / 2.0 MiB, 3.1 MiB/s` (`total_bytes` None: size unknown, shown
    without `/ total`; `unit` "" leaves the word out)."""

    def __init__(self, total_bytes, total_files, enabled, stream=None, label="LFS", unit="files"):
        self.total_bytes, self.total_files = total_bytes, total_files
        self.label, self.unit = label, unit
        self.enabled = enabled
        self.stream = stream or sys.stderr
        self.bytes = self.files = 0
        self.start = time.monotonic()
        self.last = 0.0
        self.drawn = False
        self.lock = threading.Lock()

    def add(self, n):
        with self.lock:
            self.bytes += n
            self._draw()

    def file_done(self):
        with self.lock:
            self.files += 1
            self._draw(force=True)

    def _draw(self, force=False):
        if not self.enabled:
            return
        now = time.monotonic()
        if not force and now - self.last < 0.1:
            return
        self.last = now
        rate = self.bytes / max(now - self.start, 1e-6)
        count = "%d/%d %s" % (self.files, self.total_files, self.unit) if self.unit else \
            "%d/%d" % (self.files, self.total_files)
        size = _human(self.bytes)
        if self.total_bytes is not None:
            size += " / " + _human(self.total_bytes)
        self.stream.write("\r%s: %s, %s, %s/s   " % (self.label, count, size, _human(rate)))
        self.stream.flush()
        self.drawn = True

    def close(self):
        if self.drawn:
            self.stream.write("\n")
            self.stream.flush()


def _human(n):
    for unit in ("B", "KiB", "MiB", "GiB"):
        if abs(n) < 1024 or unit == "GiB":
            return ("%d %s" if unit == "B" else "%.1f %s") % (n, unit)
        n /= 1024.0


