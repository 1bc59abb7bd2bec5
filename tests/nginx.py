"""A real nginx (the Debian package) serving one directory on 127.0.0.1, as a lab's mirror would.

    with Nginx(root=mirror_dir, prefix=tmp_path / "nginx") as server:
        server.url                      # http://127.0.0.1:PORT
        server.requests()               # ["GET /manifests/... 200", ...] from its access log

Private config (`nginx -c CONF -p PREFIX`), `daemon off;` under Popen, logs and pid under the prefix,
stopped by its PID. The port is found free first; nginx must bind it itself (it re-execs no fds).
"""

import os
import shutil
import signal
import socket
import subprocess
import time
from pathlib import Path
from serving import Served, end_process

CONF = """\
daemon off;
master_process on;
worker_processes 1;
user root root;
pid {prefix}/nginx.pid;
error_log {prefix}/error.log warn;
events {{ worker_connections 64; }}
http {{
    access_log {prefix}/access.log;
    client_body_temp_path {prefix}/tmp;
    proxy_temp_path {prefix}/tmp;
    fastcgi_temp_path {prefix}/tmp;
    uwsgi_temp_path {prefix}/tmp;
    scgi_temp_path {prefix}/tmp;
    types {{ application/json json; }}
    default_type application/octet-stream;
    server {{
        listen 127.0.0.1:{port};
        root {root};
        autoindex off;
    }}
}}
"""


def nginx_binary():
    return shutil.which("nginx") or ("/usr/sbin/nginx" if os.path.exists("/usr/sbin/nginx") else None)


def _free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Nginx(Served):
    def __init__(self, root, prefix):
        self.root = Path(root)
        self.prefix = Path(prefix)
        self.proc = None
        self.port = None

    @property
    def url(self):
        return "http://127.0.0.1:%d" % self.port

    def start(self, timeout=20.0):
        binary = nginx_binary()
        if binary is None:
            raise RuntimeError("nginx not installed (apt-get install nginx-light; scripts/setup does)")
        (self.prefix / "tmp").mkdir(parents=True, exist_ok=True)
        for _ in range(5):
            self.port = _free_port()
            conf = self.prefix / "nginx.conf"
            conf.write_text(CONF.format(prefix=self.prefix, port=self.port, root=self.root))
            self.proc = subprocess.Popen([binary, "-c", str(conf), "-p", str(self.prefix)],
                                         stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
            deadline = time.monotonic() + timeout
            while self.proc.poll() is None and time.monotonic() < deadline:
                try:
                    socket.create_connection(("127.0.0.1", self.port), timeout=1).close()
                    return self
                except OSError:
                    time.sleep(0.05)
            self.stop()  # the port was taken meanwhile, or nginx did not come up: try again
        raise RuntimeError("nginx did not start: %s" % self.error_log())

    def error_log(self):
        try:
            return (self.prefix / "error.log").read_text()[-2000:]
        except OSError:
            return ""

    def requests(self):
        """'METHOD PATH STATUS' of every request served so far."""
        try:
            lines = (self.prefix / "access.log").read_text().splitlines()
        except FileNotFoundError:
            return []
        out = []
        for line in lines:
            request = line.split('"')[1] if line.count('"') >= 2 else ""
            status = line.split('"')[2].split()[0] if line.count('"') >= 2 else ""
            method, _, rest = request.partition(" ")
            out.append("%s %s %s" % (method, rest.rsplit(" ", 1)[0], status))
        return out

    def stop(self):
        end_process(self.proc, signal.SIGQUIT)  # graceful: workers finish, then exit
        self.proc = None
