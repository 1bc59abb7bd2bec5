"""The Git LFS batch API and its `basic` transfer (git-lfs docs/api/batch.md, basic-transfers.md),
built on net/download.py's download_url.

Objects are requested in batches of at most 100 and downloaded by a few threads, each with its own
requests.Session; an action that has expired, or whose href refuses us, is asked for afresh.

Headers an action carries (typically Authorization) go only to that action's own origin, never to
a host it redirects to; credentials from `git credential fill` go only to the endpoint's origin.
"""

import json
import threading
import time
from concurrent.futures import FIRST_EXCEPTION, ThreadPoolExecutor, wait
from dataclasses import dataclass
from datetime import datetime, timezone
from typing import Dict, Optional
from urllib.parse import urljoin, urlsplit

from kipoi_store.errors import IntegrityError, NetworkError, NotFoundError
from kipoi_store.lfs.credentials import credential, credential_request, ssh_authenticate
from kipoi_store.lfs.endpoint import Endpoint
from kipoi_store.net.download import Cancelled, download_url, guarded_request
from kipoi_store.net.http import Options, Retry, Sessions, attempts, network_errors, retry_after, why
from kipoi_store.net.progress import Progress, stderr_is_tty
from kipoi_store.net.urls import origin_of, short_url

MEDIA_TYPE = "application/vnd.git-lfs+json"
BATCH_SIZE = 100
MAX_REDIRECTS = 5
# An action that expires within this many seconds is treated as expired already.
EXPIRY_MARGIN = 5.0


def fetch(endpoint: Endpoint, pointers, store, what: Dict[str, str], progress=None, workers=4,
          **options):
    """Download `pointers` from an http or ssh endpoint into `store` (see lfs/fetch.py's fetch_objects)."""
    opts = Options(**options)
    if progress is None:
        progress = stderr_is_tty()
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
            errors.sort(key=lambda e: isinstance(e, Cancelled))  # the real cause first
            if errors:
                raise errors[0]
    except (NetworkError, NotFoundError) as e:
        if client.ssh_failed is None or client.url != endpoint.url:
            raise
        # The https fallback failed too: ssh's own reason is the one worth reading.
        raise type(e)("%s (git-lfs-authenticate over ssh to %s failed first: %s)"
                      % (e, endpoint.ssh.destination, client.ssh_failed)) from None
    finally:
        meter.close()


@dataclass(frozen=True)
class Action:
    href: str
    headers: tuple  # ((name, value), ...)
    deadline: Optional[float]  # time.time() after which it is no longer valid

    def expired(self):
        return self.deadline is not None and time.time() >= self.deadline - EXPIRY_MARGIN


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
        self.ssh_failed = None  # why git-lfs-authenticate over ssh failed (then: the https fallback)

    # -- sessions and requests ---------------------------------------------------------------

    def session(self):
        return self.sessions.get()

    def request(self, method, url, origin_headers, origin_auth=None, headers=None, name=None,
                **kwargs):
        """`method url`, following redirects by hand so that `origin_headers` and `origin_auth`
        reach only the origin of `url`, and only http(s) is ever followed. `name`: what is asked
        for, in messages (default: the LFS server)."""
        origin = origin_of(url)
        for _ in range(MAX_REDIRECTS + 1):
            if urlsplit(url).scheme.lower() not in ("http", "https"):
                raise NetworkError("refusing to follow a non-http(s) URL: %s" % short_url(url))
            same = origin_of(url) == origin
            hop_headers = dict(headers or {})
            if same:
                hop_headers.update(origin_headers)
            resp = self._send(method, url, name, headers=hop_headers,
                              auth=origin_auth if same else None, **kwargs)
            if resp.status_code in (301, 302, 303, 307, 308) and "Location" in resp.headers:
                resp.close()
                url = urljoin(url, resp.headers["Location"])
                continue
            return resp
        raise NetworkError("too many redirects from %s" % short_url(url))

    def _send(self, method, url, name, **kwargs):
        import requests

        try:
            label = None if name else "reach LFS server %s" % short_url(url)
            return guarded_request(self.session(), url, name, self.opts, method=method, label=label,
                               allow_redirects=False, **kwargs)
        except network_errors():
            raise
        except (requests.exceptions.RequestException, ValueError) as e:
            # A malformed URL or header from the server: not worth retrying.
            raise NetworkError("cannot request %s: %s" % (short_url(url), why(e))) from None

    # -- ssh ---------------------------------------------------------------------------------

    def authenticate_ssh(self):
        """For an ssh endpoint: `git-lfs-authenticate <path> download` gives the href and headers;
        if that fails, fall back to https of the same host and path (as git-lfs does)."""
        if self.endpoint.kind != "ssh":
            return
        answer, self.ssh_failed = ssh_authenticate(self.endpoint.ssh, *self.opts.timeout)
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
        for attempt in attempts(self.opts):
            try:
                resp = self.request("POST", url, dict(self.headers), self.auth, data=body,
                                    headers=headers)
            except network_errors() as e:
                attempt.retry(Retry("cannot reach LFS server %s: %s" % (short_url(url), why(e))))
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
                        filled = credential("fill", credential_request(url))
                        if filled and filled.get("username") is not None:
                            self.auth = (filled["username"], filled.get("password", ""))
                            self.auth_from_git = filled
                            attempt.again()
                            continue
                    raise NetworkError("LFS server %s: authentication failed (401)" % short_url(url))
                if code in (429,) or code >= 500:
                    attempt.retry(Retry("LFS server %s answered %d" % (short_url(url), code),
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
        if client.auth and origin_of(action.href) == origin_of(client.url) and not any(
                k.lower() == "authorization" for k in action_headers):
            auth = client.auth
        return client.request("GET", action.href, action_headers, auth, headers=headers,
                              name=self.name, stream=True)


def _server_message(resp):
    try:
        msg = resp.json().get("message")
    except (ValueError, AttributeError):
        msg = None
    return ": %s" % str(msg)[:200] if msg else ""
