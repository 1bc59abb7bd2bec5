"""Authorization for one registry as docker does it: anonymous until the registry answers 401,
then what its `WWW-Authenticate` asks for: HTTP Basic with the stored credentials, or a Bearer token
from the realm it names (with the credentials, or anonymous when there are none: public
repositories), for the scopes a request needs (`repository:NAME:pull` or `pull,push`). Tokens are
kept per set of scopes, so a push asks for a new one with more scope while pulls reuse theirs.

    auth = Authenticator("ghcr.io", send, lookup=lambda: credentials.lookup("ghcr.io", "lab/x"))
    header = auth.header({"repository:lab/x:pull"})    # None until the registry has challenged
    auth.challenged(response_401, scopes)              # fetch what the challenge asks for

`send(method, url, headers, data)` makes the token request (the transport's retries and timeouts).
No secret ever reaches a message.
"""

import base64
import json
import re
import threading
from urllib.parse import urlencode, urlsplit

from kipoi_store.errors import NetworkError
from kipoi_store.net.urls import short_url

_PARAM = re.compile(r'\s*([A-Za-z_][A-Za-z0-9_-]*)\s*=\s*(?:"((?:[^"\\]|\\.)*)"|([^,\s]*))\s*,?')
CLIENT_ID = "kipoi-store"


def parse_challenge(value):
    """(scheme in lowercase, {param: value}) of a `WWW-Authenticate` header; ("", {}) if none.
    `Bearer realm="https://auth.example/token",service="reg",scope="repository:a/b:pull"`."""
    value = (value or "").strip()
    if not value:
        return "", {}
    scheme, _, rest = value.partition(" ")
    params = {}
    pos = 0
    while pos < len(rest):
        m = _PARAM.match(rest, pos)
        if not m or m.end() == pos:
            break
        quoted, bare = m.group(2), m.group(3)
        params[m.group(1).lower()] = (re.sub(r"\\(.)", r"\1", quoted) if quoted is not None
                                      else bare)
        pos = m.end()
    return scheme.lower(), params


def scope_for(repository, push=False):
    return "repository:%s:%s" % (repository, "pull,push" if push else "pull")


def merge_scopes(scopes):
    """One `repository:NAME:ACTIONS` per name, actions united: what a token request asks for."""
    merged = {}
    others = set()
    for scope in scopes:
        kind, sep, rest = scope.partition(":")
        name, sep2, actions = rest.rpartition(":")
        if kind != "repository" or not sep or not sep2:
            others.add(scope)
            continue
        merged.setdefault(name, set()).update(a for a in actions.split(",") if a)
    out = {"repository:%s:%s" % (n, ",".join(sorted(a, key=lambda x: (x != "pull", x))))
           for n, a in merged.items()}
    return frozenset(out | others)


class Authenticator:
    def __init__(self, registry, send, lookup, insecure_realm=lambda url: False):
        self.registry = registry
        self.send = send
        self.lookup = lookup  # () -> Credential or None, called at most once
        self.insecure_realm = insecure_realm  # may this realm URL be plain http?
        self.scheme = None  # "basic" or "bearer" once the registry said so
        self.challenge = {}
        self.tokens = {}  # frozenset of scopes -> token
        self._credential = None
        self._looked_up = False
        self._lock = threading.RLock()  # threads of one push share tokens: fetch each once

    @property
    def credential(self):
        with self._lock:
            return self._lookup_once()

    def _lookup_once(self):
        if not self._looked_up:
            self._credential = self.lookup()
            self._looked_up = True
        return self._credential

    def _basic(self):
        cred = self.credential
        if cred is None or cred.password is None:
            return None
        raw = ("%s:%s" % (cred.username, cred.password)).encode("utf-8")
        return "Basic " + base64.b64encode(raw).decode("ascii")

    def header(self, scopes):
        """The Authorization value for a request needing `scopes`; None: send none (yet)."""
        with self._lock:
            return self._header(scopes)

    def _header(self, scopes):
        if self.scheme == "basic":
            return self._basic()
        if self.scheme == "bearer":
            key = merge_scopes(scopes)
            for held, token in self.tokens.items():
                if key <= held:
                    return "Bearer " + token
            return "Bearer " + self._fetch_token(key)
        return None

    def challenged(self, response, scopes):
        """The registry answered 401 to a request needing `scopes`: get what its challenge asks
        for and return the Authorization to try again with. NetworkError when there is nothing
        that could satisfy it (no credentials for Basic, an unknown scheme)."""
        with self._lock:
            return self._challenged(response, scopes)

    def _challenged(self, response, scopes):
        scheme, params = parse_challenge(response.headers.get("WWW-Authenticate"))
        if scheme == "basic":
            self.scheme = "basic"
            value = self._basic()
            if value is None:
                raise NetworkError("registry %s needs a user name and password: none found (kipoi "
                                   "store login %s, or KIPOI_REGISTRY_USERNAME/PASSWORD)"
                                   % (self.registry, self.registry))
            return value
        if scheme == "bearer" and params.get("realm"):
            self.scheme = "bearer"
            self.challenge = params
            wanted = set(scopes)
            if params.get("scope"):
                wanted.update(params["scope"].split())
            key = merge_scopes(wanted)
            self.tokens = {k: v for k, v in self.tokens.items() if k != key}
            return "Bearer " + self._fetch_token(key)
        raise NetworkError("registry %s asks for authentication kipoi cannot do (%s)"
                           % (self.registry, scheme or "no WWW-Authenticate challenge"))

    def who(self):
        """Whose access a refusal concerns, for messages (never a secret)."""
        cred = self.credential
        if cred is None:
            return "anonymous; kipoi store login %s to use credentials" % self.registry
        name = cred.username or "an identity token"
        return "as %s, from %s" % (name, cred.source)

    def _fetch_token(self, scopes):
        realm = self.challenge["realm"]
        parts = urlsplit(realm)
        if parts.scheme not in ("https", "http") or (
                parts.scheme == "http" and not self.insecure_realm(realm)):
            raise NetworkError("registry %s names a token service that is not https (%s): refused"
                               % (self.registry, short_url(realm)))
        service = self.challenge.get("service")
        cred = self.credential
        headers = {}
        if cred is not None and cred.identity_token:
            # OAuth2 refresh-token grant, as docker does with an identity token.
            form = {"grant_type": "refresh_token", "refresh_token": cred.identity_token,
                    "client_id": CLIENT_ID, "scope": " ".join(sorted(scopes))}
            if service:
                form["service"] = service
            headers["Content-Type"] = "application/x-www-form-urlencoded"
            resp = self.send("POST", realm, headers, urlencode(form).encode("ascii"))
        else:
            query = [("service", service)] if service else []
            query += [("scope", s) for s in sorted(scopes)]
            basic = self._basic()
            if basic is not None:
                headers["Authorization"] = basic
                query.append(("account", cred.username))
            sep = "&" if "?" in realm else "?"
            url = realm + (sep + urlencode(query) if query else "")
            resp = self.send("GET", url, headers, None)
        with resp:
            if resp.status_code in (401, 403):
                if cred is None:
                    raise NetworkError("registry %s: its token service %s refused anonymous access "
                                       "(%d); kipoi store login %s" % (self.registry,
                                       short_url(realm), resp.status_code, self.registry))
                raise NetworkError("registry %s: its token service %s refused the credentials "
                                   "from %s (%d)" % (self.registry, short_url(realm), cred.source,
                                                     resp.status_code))
            if resp.status_code != 200:
                raise NetworkError("registry %s: token service %s answered %d"
                                   % (self.registry, short_url(realm), resp.status_code))
            try:
                answer = json.loads(resp.content[:1 << 20])
                token = answer.get("token") or answer.get("access_token")
            except (ValueError, AttributeError):
                token = None
        if not isinstance(token, str) or not token:
            raise NetworkError("registry %s: token service %s sent no token"
                               % (self.registry, short_url(realm)))
        self.tokens[scopes] = token
        return token


def insufficient_scope(response):
    """True when a 401 says the token lacks scope (`error="insufficient_scope"`)."""
    _, params = parse_challenge(response.headers.get("WWW-Authenticate"))
    return params.get("error") == "insufficient_scope"
