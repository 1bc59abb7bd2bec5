"""A TCP server on 127.0.0.1 that misbehaves at the connection level, for bounded-wait tests.

    with SilentServer() as server:               # accepts, reads the request, never answers
        url = server.base + "/models.git"
        server.connections, server.requests       # how many connected, how many sent a request
    with SilentServer(trickle=(10 << 20, 4096, 0.05)) as server:   # a slow download: a 200 with
        ...                                      # Content-Length 10 MiB, 4 KiB every 50 ms

Every connection is held open until the server stops, so a client that waits waits for good.
"""

import socket
import threading
import time


class SilentServer:
    def __init__(self, trickle=None):
        self.trickle = trickle
        self.connections = 0
        self.requests = 0
        self.lock = threading.Lock()
        self.stopping = threading.Event()
        self.sock = socket.create_server(("127.0.0.1", 0))
        self.base = "http://127.0.0.1:%d" % self.sock.getsockname()[1]
        self.held = []

    def _accept(self):
        self.sock.settimeout(0.1)
        while not self.stopping.is_set():
            try:
                conn, _ = self.sock.accept()
            except socket.timeout:
                continue
            except OSError:
                return
            with self.lock:
                self.connections += 1
                self.held.append(conn)
            threading.Thread(target=self._serve, args=(conn,), daemon=True).start()

    def _serve(self, conn):
        conn.settimeout(0.1)
        data = b""
        while b"\r\n\r\n" not in data and not self.stopping.is_set():
            try:
                chunk = conn.recv(65536)
            except socket.timeout:
                continue
            except OSError:
                return
            if not chunk:
                return
            if not data:
                with self.lock:
                    self.requests += 1
            data += chunk
        if self.trickle is None:
            self.stopping.wait()
            return
        size, step, interval = self.trickle
        try:
            conn.sendall(b"HTTP/1.1 200 OK\r\nContent-Length: %d\r\n\r\n" % size)
            sent = 0
            while sent < size and not self.stopping.is_set():
                conn.sendall(b"x" * min(step, size - sent))
                sent += step
                time.sleep(interval)
        except OSError:
            return

    def __enter__(self):
        threading.Thread(target=self._accept, daemon=True).start()
        return self

    def __exit__(self, *exc):
        self.stopping.set()
        self.sock.close()
        with self.lock:
            for conn in self.held:
                try:
                    conn.close()
                except OSError:
                    pass
