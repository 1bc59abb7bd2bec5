"""A real OCI registry for tests: Debian's docker-registry (CNCF distribution 2.8) run with our own
config on 127.0.0.1, never the package's service; and a small token server for its token auth.

    with Registry(tmp_path / "reg") as reg:                          # anonymous
        reg.host                                                     # "127.0.0.1:PORT"
    with Registry(tmp_path / "reg", users={"alice": "pw"}) as reg:   # htpasswd (bcrypt)
    with TokenServer(tmp_path / "tok", users={"alice": "pw"}) as tokens, \\
         Registry(tmp_path / "reg", token=tokens) as reg:            # Bearer tokens (RS256 JWT, x5c)
        tokens.issued                                                # [(user or None, scopes)]

The binary comes from KIPOI_TEST_REGISTRY, else .venv-registry/ (scripts/setup --with-servers
unpacks the .deb there), else /usr/bin/docker-registry. Tokens are signed with the openssl CLI.
"""

import base64
import json
import os
import socket
import subprocess
import threading
import time
import uuid
import warnings
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

from serving import Served, end_process, serve_in_thread, shut

ROOT = Path(__file__).resolve().parent.parent
SERVICE = "kipoi-test-registry"
ISSUER = "kipoi-test-issuer"


def registry_binary():
    for candidate in (os.environ.get("KIPOI_TEST_REGISTRY"),
                      str(ROOT / ".venv-registry" / "usr" / "bin" / "docker-registry"),
                      "/usr/bin/docker-registry"):
        if candidate and os.access(candidate, os.X_OK):
            return candidate
    return None


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def bcrypt(password):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)
        import crypt
    return crypt.crypt(password, crypt.mksalt(crypt.METHOD_BLOWFISH))


class Registry(Served):
    def __init__(self, directory, users=None, token=None):
        self.dir = Path(directory)
        self.users = users
        self.token = token
        self.proc = None
        self.port = None

    @property
    def host(self):
        return "127.0.0.1:%d" % self.port

    @property
    def url(self):
        return "http://%s" % self.host

    def ref(self, repository, tag=None):
        return "oci://%s/%s%s" % (self.host, repository, ":" + tag if tag else "")

    def _config(self):
        lines = ["version: 0.1", "log:", "  level: warn", "  accesslog:", "    disabled: true",
                 "storage:", "  filesystem:", "    rootdirectory: %s" % (self.dir / "data"),
                 "  delete:", "    enabled: true", "  maintenance:", "    uploadpurging:",
                 "      enabled: false", "http:", "  addr: 127.0.0.1:%d" % self.port,
                 "  secret: kipoi-test-secret"]
        if self.users:
            htpasswd = self.dir / "htpasswd"
            htpasswd.write_text("".join("%s:%s\n" % (u, bcrypt(p)) for u, p in self.users.items()))
            lines += ["auth:", "  htpasswd:", "    realm: kipoi-test", "    path: %s" % htpasswd]
        elif self.token is not None:
            lines += ["auth:", "  token:", "    realm: %s/token" % self.token.url,
                      "    service: %s" % SERVICE, "    issuer: %s" % ISSUER,
                      "    rootcertbundle: %s" % self.token.cert]
        return "\n".join(lines) + "\n"

    def start(self, timeout=30.0):
        import requests

        binary = registry_binary()
        if binary is None:
            raise RuntimeError("docker-registry not found (bash scripts/setup --with-servers)")
        self.dir.mkdir(parents=True, exist_ok=True)
        for _ in range(5):
            self.port = free_port()
            conf = self.dir / "config.yml"
            conf.write_text(self._config())
            log = open(self.dir / "registry.log", "ab")
            self.proc = subprocess.Popen([binary, "serve", str(conf)], stdout=log, stderr=log,
                                         stdin=subprocess.DEVNULL)
            log.close()
            deadline = time.monotonic() + timeout
            while self.proc.poll() is None and time.monotonic() < deadline:
                try:
                    if requests.get(self.url + "/v2/", timeout=2).status_code in (200, 401):
                        return self
                except requests.exceptions.ConnectionError:
                    time.sleep(0.05)
            end_process(self.proc)
        raise RuntimeError("docker-registry did not start: %s"
                           % (self.dir / "registry.log").read_text()[-2000:])

    def stop(self):
        end_process(self.proc)
        self.proc = None

    def blob_path(self, digest):
        """Where the registry keeps blob `digest` on disk (to damage it on purpose)."""
        hexd = digest.split(":", 1)[1]
        return (self.dir / "data" / "docker" / "registry" / "v2" / "blobs" / "sha256" / hexd[:2]
                / hexd / "data")


def _b64url(data):
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


class TokenServer(Served):
    """Issues RS256 JWTs the registry trusts (x5c names our self-signed certificate).

    users: name -> password (and `refresh-<name>` is that user's OAuth2 refresh token, which
    docker keeps as an identity token); an authenticated user gets every action it asks for, except that
    `pull_only` users never get push. Anonymous requests get `pull` on repositories under `public/`.
    Nobody gets anything on a repository under a namespace in `denied` (settable while it runs).
    """

    def __init__(self, directory, users=None, pull_only=()):
        self.dir = Path(directory)
        self.users = dict(users or {})
        self.pull_only = set(pull_only)
        self.denied = set()
        self.issued = []  # (user or None, [scope strings asked])
        self.lock = threading.Lock()
        self.httpd = None
        self.key = self.dir / "key.pem"
        self.cert = self.dir / "cert.pem"

    @property
    def url(self):
        return "http://127.0.0.1:%d" % self.httpd.server_address[1]

    def start(self):
        self.dir.mkdir(parents=True, exist_ok=True)
        subprocess.run(["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout",
                        str(self.key), "-out", str(self.cert), "-days", "2", "-subj",
                        "/CN=kipoi-test-token"], check=True, capture_output=True)
        der = subprocess.run(["openssl", "x509", "-in", str(self.cert), "-outform", "DER"],
                             check=True, capture_output=True).stdout
        self.x5c = base64.b64encode(der).decode("ascii")
        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), self._handler())
        serve_in_thread(self.httpd)
        return self

    def stop(self):
        shut(self.httpd)

    def sign(self, claims):
        header = {"typ": "JWT", "alg": "RS256", "x5c": [self.x5c]}
        signing = "%s.%s" % (_b64url(json.dumps(header).encode()),
                             _b64url(json.dumps(claims).encode()))
        sig = subprocess.run(["openssl", "dgst", "-sha256", "-sign", str(self.key)],
                             input=signing.encode(), check=True, capture_output=True).stdout
        return signing + "." + _b64url(sig)

    def grant(self, user, scopes):
        access = []
        for scope in scopes:
            kind, _, rest = scope.partition(":")
            name, _, actions = rest.rpartition(":")
            if kind != "repository":
                continue
            wanted = [a for a in actions.split(",") if a]
            if name.split("/")[0] in self.denied:
                allowed = []
            elif user is None:
                allowed = [a for a in wanted if a == "pull" and name.startswith("public/")]
            elif user in self.pull_only:
                allowed = [a for a in wanted if a == "pull"]
            else:
                allowed = wanted
            if allowed:
                access.append({"type": "repository", "name": name, "actions": allowed})
        now = int(time.time())
        return self.sign({"iss": ISSUER, "sub": user or "", "aud": SERVICE, "exp": now + 300,
                          "nbf": now - 10, "iat": now, "jti": uuid.uuid4().hex, "access": access})

    def _handler(self):
        server = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args):
                pass

            def _refuse(self):
                self.send_response(401)
                self.send_header("Content-Length", "0")
                self.end_headers()

            def do_POST(self):
                # OAuth2 refresh-token grant (docker's identity tokens): refresh-<user> is valid.
                length = int(self.headers.get("Content-Length") or 0)
                form = parse_qs(self.rfile.read(length).decode())
                token = form.get("refresh_token", [""])[0]
                user = token[len("refresh-"):] if token.startswith("refresh-") else None
                if form.get("grant_type") != ["refresh_token"] or user not in server.users:
                    return self._refuse()
                self._issue(user, [s for v in form.get("scope", []) for s in v.split()])

            def do_GET(self):
                parts = urlsplit(self.path)
                query = parse_qs(parts.query)
                user = None
                header = self.headers.get("Authorization") or ""
                if header.startswith("Basic "):
                    name, _, password = base64.b64decode(header[6:]).decode().partition(":")
                    if server.users.get(name) != password:
                        return self._refuse()
                    user = name
                self._issue(user, [s for v in query.get("scope", []) for s in v.split()])

            def _issue(self, user, scopes):
                with server.lock:
                    server.issued.append((user, scopes))
                body = json.dumps({"token": server.grant(user, scopes), "expires_in": 300}).encode()
                self.send_response(200)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

        return Handler
