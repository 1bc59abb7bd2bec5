"""A file server on 127.0.0.1 for download tests, with faults on demand.

    with FileServer() as server:
        url = server.add("/w.bin", b"bytes")                        # plain file, Range supported
        server.add("/gone.bin", b"x", fault="404")                    # always 404
        server.add("/bad.bin", b"x", fault="wrong")                   # other bytes than added
        server.add("/cut.bin", b"x" * 1000, fault="truncate")         # first GET stops halfway
        server.add("/slow.bin", b"x" * 1000, fault="stall", stall=2)  # first GET stalls halfway
        server.add("/busy.bin", b"x", fault="503")                    # first GET answers 503
        server.log                                                    # [(path, Range or None, status)]

Two FileServers are two hosts: a dead first host and a mirror that has the bytes.
"""

import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from serving import Served, serve_in_thread, shut

FAULTS = (None, "404", "wrong", "truncate", "stall", "503")


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def log_message(self, *args):
        pass

    def do_GET(self):
        server = self.server.owner
        path = self.path
        entry = server.files.get(path.split("?", 1)[0])  # a query (`?download=1`) is not the file
        with server.lock:
            count = server.hits[path] = server.hits.get(path, 0) + 1
        range_header = self.headers.get("Range")
        if entry is None or entry["fault"] == "404":
            return self._answer(path, range_header, 404, b"not here\n")
        data, fault = entry["data"], entry["fault"]
        if fault == "wrong":
            data = bytes(b ^ 0xFF for b in data)
        if fault == "503" and count == 1:
            return self._answer(path, range_header, 503, b"busy\n", {"Retry-After": "0"})
        start = 0
        if range_header and range_header.startswith("bytes=") and range_header.endswith("-"):
            start = int(range_header[len("bytes="):-1])
            if start >= len(data):
                return self._answer(path, range_header, 416, b"",
                                    {"Content-Range": "bytes */%d" % len(data)})
        body = data[start:]
        status = 206 if start else 200
        headers = {"Content-Range": "bytes %d-%d/%d" % (start, len(data) - 1, len(data))} if start else {}
        if fault in ("truncate", "stall") and count == 1:
            self._log(path, range_header, status)
            self.send_response(status)
            self._headers(len(body), headers)
            half = len(body) // 2
            try:
                self.wfile.write(body[:half])
                self.wfile.flush()
                if fault == "stall":
                    time.sleep(entry["stall"])
                    self.wfile.write(body[half:])
            except OSError:
                pass  # the client gave up on us, as it should
            self.close_connection = True
            return
        self._answer(path, range_header, status, body, headers)

    def _headers(self, length, extra):
        self.send_header("Content-Length", str(length))
        self.send_header("Accept-Ranges", "bytes")
        for k, v in extra.items():
            self.send_header(k, v)
        self.end_headers()

    def _log(self, path, range_header, status):
        with self.server.owner.lock:
            self.server.owner.log.append((path, range_header, status))

    def _answer(self, path, range_header, status, body, extra=None):
        self._log(path, range_header, status)
        self.send_response(status)
        self._headers(len(body), extra or {})
        try:
            self.wfile.write(body)
        except OSError:
            pass


class _Server(ThreadingHTTPServer):
    daemon_threads = True

    def handle_error(self, request, client_address):
        pass  # a client that hangs up mid-body is what the fault tests are about


class FileServer(Served):
    def __init__(self):
        self.files = {}
        self.hits = {}
        self.log = []
        self.lock = threading.Lock()
        self.httpd = _Server(("127.0.0.1", 0), _Handler)
        self.httpd.owner = self
        self.base = "http://127.0.0.1:%d" % self.httpd.server_address[1]
        self.thread = None

    def add(self, path, data, fault=None, stall=1.0):
        """Serve `data` at `path` (any query string is ignored); returns its URL."""
        assert fault in FAULTS, fault
        self.files[path] = {"data": bytes(data), "fault": fault, "stall": stall}
        return self.url(path)

    def url(self, path):
        return self.base + path

    def requests_for(self, path):
        return [entry for entry in self.log if entry[0] == path]

    def start(self):
        self.thread = serve_in_thread(self.httpd)
        return self

    def stop(self):
        shut(self.httpd)
