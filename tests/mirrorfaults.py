"""A store mirror that misbehaves on demand (stdlib only, 127.0.0.1): it serves a real mirror
directory, except that objects (or every request) go wrong in one chosen way.

    with FaultMirror(mirror_dir, "wrong") as bad:
        bad.url, bad.log                  # log: every path asked for

Faults: "wrong" (objects: other bytes of the same size), "truncate" (objects: half the declared
body, then the connection closes), "500" (every request), "hang" (every request: no answer for
`hang` seconds), "lacks" (objects: 404, so its manifests name objects it does not have).
"""

import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from urllib.parse import unquote
from serving import Served, serve_in_thread, shut

FAULTS = ("wrong", "truncate", "500", "hang", "lacks")


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def log_message(self, *args):
        pass

    def do_GET(self):
        owner = self.server.owner
        path = unquote(self.path.split("?", 1)[0])
        with owner.lock:
            owner.log.append(path)
        fault = owner.fault
        is_object = path.startswith("/objects/")
        if fault == "500":
            return self._send(500, b"broken\n")
        if fault == "hang":
            time.sleep(owner.hang)
            self.close_connection = True
            return
        file = (owner.root / path.lstrip("/")).resolve()
        if not str(file).startswith(str(owner.root.resolve())) or not file.is_file():
            return self._send(404, b"not here\n")
        data = file.read_bytes()
        if is_object and fault == "lacks":
            return self._send(404, b"not here\n")
        if is_object and fault == "wrong":
            data = bytes(b ^ 0x5A for b in data)
        if is_object and fault == "truncate":
            self.send_response(200)
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data[:len(data) // 2])
            self.wfile.flush()
            self.close_connection = True
            return
        self._send(200, data)

    def _send(self, status, body):
        self.send_response(status)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)


class FaultMirror(Served):
    def __init__(self, root, fault, hang=5.0):
        assert fault in FAULTS, fault
        self.root = Path(root)
        self.fault = fault
        self.hang = hang
        self.log = []
        self.lock = threading.Lock()
        self._httpd = None

    @property
    def url(self):
        return "http://127.0.0.1:%d" % self._httpd.server_address[1]

    def start(self):
        self._httpd = ThreadingHTTPServer(("127.0.0.1", 0), _Handler)
        self._httpd.daemon_threads = True
        self._httpd.owner = self
        serve_in_thread(self._httpd)
        return self

    def stop(self):
        shut(self._httpd)
        self._httpd = None
