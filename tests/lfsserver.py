"""A Git LFS server that misbehaves on demand (stdlib only, 127.0.0.1).

Real servers do not fail when a test wants them to; this one does. It speaks the batch API at
`<url>/objects/batch` and serves objects at `/obj/<oid>`, honouring `Range`. Faults are queued per
oid (or for the batch endpoint) and consumed one per request:

    srv = FaultServer().start()
    p = srv.add(b"weights")
    srv.fail(p.oid, ("status", 500), "reset")      # a 500, then a connection reset halfway
    ...
    srv.requests                                  # what arrived: Request(method, path, headers)
    srv.stop()

Download faults: ("status", code[, headers]), "reset" (half the body, then a TCP reset),
("stall", seconds) (half the body, a pause, the rest), "wrong" (other bytes of the same size),
"ignore_range" (200 with the whole body even when a range was asked for), ("redirect", url).
Batch faults: ("status", code[, headers]), ("expired", "in" | "at") (an action already expired).
"""

import array
import fcntl
import hashlib
import json
import socket
import struct
import termios
import threading
import time
from collections import defaultdict, deque
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

from kipoi_store.lfs.pointer import Pointer
from serving import Served, serve_in_thread, shut

BATCH = "batch"


@dataclass(frozen=True)
class Request:
    method: str
    path: str
    headers: dict  # lower-cased names


class FaultServer(Served):
    def __init__(self, repo="org/repo.git", action_headers=None, require_auth=None, href_base=None):
        self.repo = repo
        self.objects = {}
        self.faults = defaultdict(deque)
        self.requests = []
        self.batch_bodies = []  # the JSON of every batch request, decoded
        self.action_headers = dict(action_headers or {})
        self.require_auth = require_auth  # "Basic ..." the batch endpoint insists on
        self.href_base = href_base  # where download hrefs point (default: this server)
        self._lock = threading.Lock()
        self._httpd = None

    # -- setup -----------------------------------------------------------------------------

    def add(self, data: bytes) -> Pointer:
        oid = hashlib.sha256(data).hexdigest()
        self.objects[oid] = data
        return Pointer(oid, len(data))

    def fail(self, key, *faults):
        """Queue faults for an oid's downloads, or for the batch endpoint (key BATCH)."""
        self.faults[key].extend(faults)

    def start(self):
        server = self

        class Handler(_Handler):
            srv = server

        self._httpd = _QuietServer(("127.0.0.1", 0), Handler)
        serve_in_thread(self._httpd)
        return self

    def stop(self):
        shut(self._httpd)
        self._httpd = None

    @property
    def base(self):
        return "http://127.0.0.1:%d" % self._httpd.server_address[1]

    @property
    def url(self):
        """The LFS endpoint (what `lfs.url` would be)."""
        return "%s/%s/info/lfs" % (self.base, self.repo)

    # -- introspection ---------------------------------------------------------------------

    def downloads(self, oid=None):
        return [r for r in self.requests if r.method == "GET"
                and (oid is None or r.path == "/obj/" + oid)]

    def batches(self):
        return [r for r in self.requests if r.method == "POST"]

    def _next_fault(self, key):
        with self._lock:
            q = self.faults.get(key)
            return q.popleft() if q else None

    def _record(self, handler):
        with self._lock:
            self.requests.append(Request(handler.command, handler.path,
                                         {k.lower(): v for k, v in handler.headers.items()}))


class _QuietServer(ThreadingHTTPServer):
    daemon_threads = True

    def handle_error(self, request, client_address):
        pass  # injected resets make the handler fail on purpose


def _wait_sent(sock, timeout=5.0):
    """Until the peer has acknowledged everything sent: a RST discards what is still queued, and
    the test wants the client to have received the first half before the connection drops."""
    deadline = time.monotonic() + timeout
    buf = array.array("i", [0])
    while time.monotonic() < deadline:
        fcntl.ioctl(sock.fileno(), termios.TIOCOUTQ, buf)
        if buf[0] == 0:
            return
        time.sleep(0.005)


def _kind(fault):
    return fault if isinstance(fault, str) else (fault[0] if fault else None)


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    srv: FaultServer

    def setup(self):
        super().setup()
        # Headers and body go out in separate writes: without this, Nagle's algorithm and the
        # client's delayed ACK add 40 ms to every response.
        self.connection.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)

    def log_message(self, *args):
        pass

    def _send(self, code, body=b"", headers=None, content_type="application/vnd.git-lfs+json"):
        self.send_response(code)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(body)))
        for k, v in (headers or {}).items():
            self.send_header(k, v)
        self.end_headers()
        self.wfile.write(body)

    def do_POST(self):
        srv = self.srv
        srv._record(self)
        length = int(self.headers.get("Content-Length") or 0)
        body = json.loads(self.rfile.read(length) or b"{}")
        srv.batch_bodies.append(body)
        if self.path != "/%s/info/lfs/objects/batch" % srv.repo:
            return self._send(404, b'{"message": "no such repository"}')
        if srv.require_auth and self.headers.get("Authorization") != srv.require_auth:
            return self._send(401, b'{"message": "credentials needed"}',
                              {"LFS-Authenticate": 'Basic realm="test"'})
        fault = srv._next_fault(BATCH)
        if _kind(fault) == "status":
            return self._send(fault[1], b'{"message": "injected"}',
                              fault[2] if len(fault) > 2 else None)
        base = srv.href_base or srv.base
        out = []
        for obj in body.get("objects", []):
            oid = obj["oid"]
            if oid not in srv.objects:
                out.append({"oid": oid, "size": obj["size"],
                            "error": {"code": 404, "message": "Object does not exist"}})
                continue
            action = {"href": "%s/obj/%s" % (base, oid)}
            if srv.action_headers:
                action["header"] = srv.action_headers
            if _kind(fault) == "expired":
                if fault[1] == "in":
                    action["expires_in"] = -10
                else:
                    action["expires_at"] = time.strftime("%Y-%m-%dT%H:%M:%SZ",
                                                         time.gmtime(time.time() - 60))
            else:
                action["expires_in"] = 3600
            out.append({"oid": oid, "size": len(srv.objects[oid]), "authenticated": True,
                        "actions": {"download": action}})
        self._send(200, json.dumps({"transfer": "basic", "objects": out}).encode())

    def do_GET(self):
        srv = self.srv
        srv._record(self)
        oid = self.path.rsplit("/", 1)[-1]
        data = srv.objects.get(oid)
        if not self.path.startswith("/obj/") or data is None:
            return self._send(404, b"not found", content_type="text/plain")
        fault = srv._next_fault(oid)
        kind = _kind(fault)
        if kind == "status":
            return self._send(fault[1], b"injected", fault[2] if len(fault) > 2 else None,
                              content_type="text/plain")
        if kind == "redirect":
            return self._send(302, b"", {"Location": fault[1]}, content_type="text/plain")
        if kind == "wrong":
            data = bytes(b ^ 0xFF for b in data)
        start = 0
        rng = self.headers.get("Range")
        if rng and kind != "ignore_range" and rng.startswith("bytes=") and rng.endswith("-"):
            start = int(rng[len("bytes="):-1])
        body = data[start:]
        self.send_response(206 if start else 200)
        self.send_header("Content-Type", "application/octet-stream")
        self.send_header("Content-Length", str(len(body)))
        if start:
            self.send_header("Content-Range", "bytes %d-%d/%d" % (start, len(data) - 1, len(data)))
        self.end_headers()
        half = len(body) // 2
        if kind == "reset":
            self.wfile.write(body[:half])
            self.wfile.flush()
            _wait_sent(self.connection)
            # SO_LINGER 0: close with a RST, as a dropped connection looks to the client.
            self.connection.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER,
                                       struct.pack("ii", 1, 0))
            self.close_connection = True
            self.connection.close()
            return
        if kind == "stall":
            self.wfile.write(body[:half])
            self.wfile.flush()
            time.sleep(fault[1])
            body = body[half:]
        try:
            self.wfile.write(body)
        except (BrokenPipeError, ConnectionResetError):
            self.close_connection = True
