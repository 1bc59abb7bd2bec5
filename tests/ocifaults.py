"""A registry that misbehaves on demand (stdlib only, 127.0.0.1 or another loopback address): just
enough of the distribution API for the client (blobs with Range, manifests, tags, uploads, a token
endpoint), with faults queued per path and consumed one per request.

    with FaultRegistry() as srv:
        digest = srv.add_blob(b"weights")
        srv.fail("/v2/lab/x/blobs/" + digest, ("status", 503), "wrong")
        srv.requests                      # [Request(method, path, headers)], headers lower-cased

Faults: ("status", code[, headers]); "wrong" (other bytes, same size); ("size", n) (the first n
bytes, Content-Length n); ("redirect", url); "silent" (never answers); "reset" (half the body,
then the connection closes). `srv.auth = "token"` answers 401 with a Bearer challenge until a
request carries a token from `/token`; `srv.auth = "always"` refuses even those (a 401 after the
token). `srv.max_body` refuses larger request bodies with 413.
"""

import hashlib
import json
import threading
from collections import defaultdict, deque
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, urlsplit

from serving import Served, serve_in_thread, shut


@dataclass(frozen=True)
class Request:
    method: str
    path: str
    headers: dict


class FaultRegistry(Served):
    def __init__(self, address="127.0.0.1"):
        self.address = address
        self.blobs = {}
        self.manifests = {}  # (repo, ref) -> (bytes, media type)
        self.faults = defaultdict(deque)
        self.requests = []
        self.auth = None
        self.max_body = None
        self.uploads = {}
        self.lock = threading.Lock()
        self.stopping = threading.Event()
        self.httpd = None

    @property
    def host(self):
        return "%s:%d" % (self.address, self.httpd.server_address[1])

    @property
    def url(self):
        return "http://" + self.host

    def add_blob(self, data):
        digest = "sha256:" + hashlib.sha256(data).hexdigest()
        self.blobs[digest] = data
        return digest

    def add_manifest(self, repo, ref, data, media_type="application/vnd.oci.image.manifest.v1+json"):
        self.manifests[(repo, ref)] = (data, media_type)
        return "sha256:" + hashlib.sha256(data).hexdigest()

    def fail(self, path, *faults):
        self.faults[path].extend(faults)

    def start(self):
        self.httpd = ThreadingHTTPServer((self.address, 0), self._handler())
        self.httpd.daemon_threads = True
        self.httpd.handle_error = lambda request, address: None  # resets are what tests make
        serve_in_thread(self.httpd)
        return self

    def stop(self):
        self.stopping.set()
        shut(self.httpd)

    def _handler(self):
        srv = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *args):
                pass

            def _reply(self, code, body=b"", headers=None, send_body=True):
                self.send_response(code)
                for k, v in (headers or {}).items():
                    self.send_header(k, v)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                if send_body and self.command != "HEAD":
                    self.wfile.write(body)

            def _body(self):
                length = int(self.headers.get("Content-Length") or 0)
                return self.rfile.read(length) if length else b""

            def _handle(self):
                parts = urlsplit(self.path)
                path = parts.path
                with srv.lock:
                    srv.requests.append(Request(self.command, path,
                                                {k.lower(): v for k, v in self.headers.items()}))
                if srv.auth and path.startswith("/v2/"):
                    token = self.headers.get("Authorization") == "Bearer tok-123"
                    if srv.auth == "always" or not token:
                        self._body()
                        challenge = ('Bearer realm="%s/token",service="faults",scope="repository:'
                                     'lab/x:pull"' % srv.url)
                        return self._reply(401, b"{}", {"WWW-Authenticate": challenge})
                with srv.lock:
                    fault = srv.faults[path].popleft() if srv.faults[path] else None
                if path == "/token":
                    return self._reply(200, json.dumps({"token": "tok-123"}).encode(),
                                       {"Content-Type": "application/json"})
                if fault == "silent":
                    srv.stopping.wait()
                    return
                if isinstance(fault, tuple) and fault[0] == "status":
                    headers = fault[2] if len(fault) > 2 else {}
                    return self._reply(fault[1], b'{"errors":[{"code":"FAULT"}]}', headers)
                if isinstance(fault, tuple) and fault[0] == "redirect":
                    return self._reply(307, headers={"Location": fault[1]})
                if srv.max_body and int(self.headers.get("Content-Length") or 0) > srv.max_body:
                    self._body()  # read it all, so the client sees the answer, not a reset
                    return self._reply(413)
                if self.headers.get("Transfer-Encoding") and srv.max_body:
                    return self._reply(413)
                return self._route(path, parse_qs(parts.query), fault)

            def _route(self, path, query, fault):
                segments = path.split("/")
                if "blobs" in segments and "uploads" not in segments:
                    data = srv.blobs.get(segments[-1])
                    return self._blob(data, fault)
                if "manifests" in segments:
                    i = segments.index("manifests")
                    repo, ref = "/".join(segments[2:i]), segments[-1]
                    if self.command == "PUT":
                        srv.manifests[(repo, ref)] = (self._body(),
                                                      self.headers.get("Content-Type"))
                        return self._reply(201)
                    got = srv.manifests.get((repo, ref))
                    if got is None:
                        return self._reply(404, b'{"errors":[{"code":"MANIFEST_UNKNOWN"}]}')
                    data, media_type = got
                    if fault == "wrong":
                        data = data.replace(b"{", b" {", 1)
                    return self._reply(200, data, {"Content-Type": media_type})
                if "uploads" in segments:
                    return self._upload(path, query)
                if path.endswith("/tags/list"):
                    return self._reply(200, b'{"tags":["a"]}', {"Content-Type": "application/json"})
                return self._reply(200 if path == "/v2/" else 404, b"{}")

            def _blob(self, data, fault):
                if data is None:
                    return self._reply(404, b'{"errors":[{"code":"BLOB_UNKNOWN"}]}')
                if fault == "wrong":
                    data = bytes(b ^ 0xFF for b in data)
                if isinstance(fault, tuple) and fault[0] == "size":
                    data = (data * 2)[:fault[1]]
                start = 0
                rng = self.headers.get("Range")
                if rng and rng.startswith("bytes=") and self.command == "GET":
                    start = int(rng[6:].split("-")[0])
                body = data[start:]
                if fault == "reset":
                    self.send_response(206 if start else 200)
                    if start:
                        self.send_header("Content-Range", "bytes %d-%d/%d"
                                         % (start, len(data) - 1, len(data)))
                    self.send_header("Content-Length", str(len(body)))
                    self.end_headers()
                    self.wfile.write(body[:len(body) // 2])
                    self.wfile.flush()
                    self.close_connection = True
                    return
                if start:
                    return self._reply(206, body, {"Content-Range": "bytes %d-%d/%d"
                                                   % (start, len(data) - 1, len(data))})
                return self._reply(200, body)

            def _upload(self, path, query):
                if self.command == "POST":
                    uid = "u%d" % len(srv.uploads)
                    srv.uploads[uid] = b""
                    return self._reply(202, headers={"Location": path + uid})
                uid = path.rsplit("/", 1)[-1]
                srv.uploads[uid] = srv.uploads.get(uid, b"") + self._body()
                if self.command == "PATCH":
                    return self._reply(202, headers={"Location": path})
                data = srv.uploads[uid]
                digest = "sha256:" + hashlib.sha256(data).hexdigest()
                if query.get("digest", [""])[0] != digest:
                    return self._reply(400, b'{"errors":[{"code":"DIGEST_INVALID"}]}')
                srv.blobs[digest] = data
                return self._reply(201, headers={"Docker-Content-Digest": digest})

            do_GET = do_HEAD = do_PUT = do_POST = do_PATCH = do_DELETE = _handle

        return Handler
