"""One registry's HTTP: every request of the client goes through `Transport.request`, which adds
the Authorization the registry asked for (auth.py), follows redirects by hand (GET and HEAD only;
`Authorization` goes only to the registry's own origin, never to the S3 or CDN host a blob is
redirected to; a loop or more than MAX_REDIRECTS hops is an error), and retries: 429 after its
Retry-After, 5xx and broken connections with backoff, a bounded number of times (net/http.py). A
host that gives no answer within the timeouts (net/limits.py) is given up on at once.

Requests whose body is a stream cannot be sent twice: `retry=False` hands the Retry to the caller,
which starts that upload over.
"""

import json
import os

from kipoi_store.dist.oci import auth as auth_mod
from kipoi_store.dist.oci import credentials, reference
from kipoi_store.errors import NetworkError
from kipoi_store.net.download import guarded_request
from kipoi_store.net.http import (Options, Retry, Sessions, attempts, network_errors, retry_after,
                                  why)
from kipoi_store.net.urls import origin_of, short_url

MAX_REDIRECTS = 10
USER_AGENT = "kipoi-store (oci)"


class Transport:
    def __init__(self, registry, repository=None, *, env=None, opts=None, session=None,
                 lookup=None):
        self.registry = registry
        self.env = os.environ if env is None else env
        self.opts = opts or Options()
        self.base = reference.api_base(registry, self.env)
        self.origin = origin_of(self.base)
        # One requests.Session per thread (a Session is not safe to share): a Repository may
        # be used by several upload or download threads at once.
        self._sessions = Sessions({"User-Agent": USER_AGENT})
        self._given = session
        if lookup is None:  # () -> Credential or None
            def lookup():
                return credentials.lookup(registry, repository, self.env)
        self.auth = auth_mod.Authenticator(registry, self._send_token_request, lookup=lookup,
                                           insecure_realm=self._insecure_realm)

    @property
    def session(self):
        return self._given if self._given is not None else self._sessions.get()

    def _insecure_realm(self, url):
        host = url.split("://", 1)[-1].split("/", 1)[0]
        return reference.plain_http(host, self.env)

    def _send_token_request(self, method, url, headers, data):
        def once():
            resp = self._raw(method, url, headers, data, stream=False, label="ask %s for a token"
                             % short_url(url))
            if resp.status_code == 429 or resp.status_code >= 500:
                resp.close()
                raise Retry("token service %s answered %d" % (short_url(url), resp.status_code),
                            retry_after(resp.headers.get("Retry-After")))
            return resp
        return retrying(self.opts, once)

    def _raw(self, method, url, headers, data, stream, label=None):
        try:
            return guarded_request(self.session, url, short_url(url), self.opts, method=method,
                                   label=label or "%s %s" % (method, short_url(url)),
                                   headers=headers, data=data, stream=stream,
                                   allow_redirects=False)
        except network_errors() as e:
            raise Retry("%s %s: %s" % (method, short_url(url), why(e))) from None

    def request(self, method, url, *, scopes, headers=None, data=None, stream=False, retry=True):
        """The response to `method url` (relative URLs are under /v2/), authorised for `scopes`,
        after redirects. 429 and 5xx raise Retry (retried here when `retry`); a 401 that a fresh
        token does not cure is a NetworkError naming the registry and URL."""
        if "://" not in url:
            url = self.base + url.lstrip("/")
        if not retry:
            return self._once(method, url, scopes, headers, data, stream)
        return retrying(self.opts, lambda: self._once(method, url, scopes, headers, data, stream))

    def _once(self, method, url, scopes, headers, data, stream):
        resp = self._authorised(method, url, scopes, headers, data, stream)
        seen = {url}
        hops = 0
        while resp.status_code in (301, 302, 303, 307, 308) and method in ("GET", "HEAD"):
            location = resp.headers.get("Location")
            resp.close()
            if not location:
                raise NetworkError("registry %s: redirect without a Location from %s"
                                   % (self.registry, short_url(url)))
            from urllib.parse import urljoin

            target = urljoin(url, location)
            hops += 1
            if target in seen or hops > MAX_REDIRECTS:
                raise NetworkError("registry %s: redirect loop at %s (%d hops)"
                                   % (self.registry, short_url(target), hops))
            seen.add(target)
            url = target
            if origin_of(target) == self.origin:
                resp = self._authorised(method, target, scopes, headers, None, stream)
            else:
                # Another host (S3, a CDN): its URL carries its own signature; our
                # Authorization is the registry's secret and never goes there.
                plain = {k: v for k, v in (headers or {}).items() if k.lower() != "authorization"}
                resp = self._raw(method, target, plain, None, stream)
        if resp.status_code == 429 or resp.status_code >= 500:
            code = resp.status_code
            wait = retry_after(resp.headers.get("Retry-After"))
            resp.close()
            raise Retry("registry %s answered %d to %s %s" % (self.registry, code, method,
                                                              short_url(url)), wait)
        return resp

    def _authorised(self, method, url, scopes, headers, data, stream):
        headers = dict(headers or {})
        if origin_of(url) != self.origin:  # an upload URL elsewhere: no secret of ours goes there
            return self._raw(method, url, headers, data, stream)
        value = self.auth.header(scopes)
        if value:
            headers["Authorization"] = value
        resp = self._raw(method, url, headers, data, stream)
        if resp.status_code != 401:
            return resp
        resp.close()
        if hasattr(data, "read") or (data is not None and not isinstance(data, (bytes, str))):
            # A stream already consumed: the caller starts over with the new authorization.
            self.auth.challenged(resp, scopes)
            raise Retry("registry %s asked for authorization" % self.registry, delay=0)
        headers["Authorization"] = self.auth.challenged(resp, scopes)
        resp = self._raw(method, url, headers, data, stream)
        if resp.status_code == 401 and auth_mod.insufficient_scope(resp):
            # The registry wants more scope than we asked for: one more token, for all it names.
            resp.close()
            headers["Authorization"] = self.auth.challenged(resp, scopes)
            resp = self._raw(method, url, headers, data, stream)
        if resp.status_code == 401:
            resp.close()
            how = "a fresh token" if self.auth.scheme == "bearer" else "the credentials"
            raise NetworkError("registry %s refused %s %s with %s (401, %s)"
                               % (self.registry, method, short_url(url), how, self.auth.who()))
        return resp


def error_codes(resp):
    """`NAME_UNKNOWN, DIGEST_INVALID` from a registry's error body, or ""."""
    try:
        body = json.loads(resp.content[:65536]) if resp.request.method != "HEAD" else {}
        codes = [e.get("code") for e in body.get("errors", []) if isinstance(e, dict)]
        return ", ".join(str(c) for c in codes if c)[:200]
    except (ValueError, AttributeError, TypeError):
        return ""


def retrying(opts, once):
    """once() until it stops raising Retry, with net/http.py's bounded backoff."""
    for attempt in attempts(opts):
        try:
            return once()
        except Retry as e:
            attempt.retry(e)
