"""A dead host costs a batch one try: a host that accepts connections and closes them before any
byte gets one request's tries (1 + 4 retries) in a whole run, not one request's per spec, for model
files ({url, md5} in model.yaml) and LFS objects alike.

Real parts: our commands, the real git CLI and git-lfs building an LFS repository served by `git
http-backend`; the dead host is a small in-test TCP server that accepts and closes at once,
counting connections (the fault injector).
"""

import hashlib
import socket
import threading

from .conftest import run_kipoi
from .gitserver import GitHTTPServer, build_kipoi_repo

SPECS = 10
TRIES = 5  # net/http.py Options.tries: one request's 1 + 4 retries


class ClosingServer:
    """Accepts each connection on 127.0.0.1 and closes it at once, without a byte; counts them."""

    def __init__(self):
        self.connections = 0
        self.sock = socket.create_server(("127.0.0.1", 0))
        self.base = "http://127.0.0.1:%d" % self.sock.getsockname()[1]
        self.thread = threading.Thread(target=self._accept, daemon=True)

    def _accept(self):
        while True:
            try:
                conn, _ = self.sock.accept()
            except OSError:
                return
            self.connections += 1
            conn.close()

    def __enter__(self):
        self.thread.start()
        return self

    def __exit__(self, *exc):
        self.sock.close()
        self.thread.join(5)


def check_batch(r, specs, what):
    assert r.returncode == 1
    errors = r.stderr.splitlines()
    assert len(errors) == len(specs) and all(e.startswith("kipoi: error: ") for e in errors), r.stderr
    for spec, line in zip(specs, errors, strict=True):
        assert spec in line and what in line, line
    assert "closed the connection without an answer" in errors[0]
    assert all("not tried again" in e for e in errors[1:]), errors


def test_model_files_on_a_host_that_closes_at_once_cost_the_batch_one_requests_tries(tmp_path, kipoi_env):
    with ClosingServer() as dead:
        zoo = tmp_path / "zoo"
        for i in range(SPECS):
            (zoo / ("m%d" % i)).mkdir(parents=True)
            (zoo / ("m%d" % i) / "model.yaml").write_text(
                "defined_as: model.M\nargs:\n  weights:\n    url: %s/records/%d/w.h5\n    md5: %s\n"
                % (dead.base, i, hashlib.md5(b"%d" % i).hexdigest()))
        r = run_kipoi("kipoi", "source", "add", "zoo", str(zoo), "--type", "local", env=kipoi_env)
        assert r.returncode == 0, r.stderr
        specs = ["zoo:m%d" % i for i in range(SPECS)]
        r = run_kipoi("kipoi", "source", "resolve", "--files", "--stdin", input="\n".join(specs) + "\n",
                      env=kipoi_env, timeout=300)
        assert dead.connections <= TRIES, dead.connections  # was 1 + 4 retries per spec: 50
        check_batch(r, specs, "w.h5")


def test_lfs_objects_on_a_host_that_closes_at_once_cost_the_batch_one_requests_tries(tmp_path, kipoi_env):
    with ClosingServer() as dead:
        history = [("ten models", {
            "m%d/model.yaml" % i: "type: keras\nargs:\n  weights: model.weights\n" for i in range(SPECS)})]
        history[0][1].update({"m%d/model.weights" % i: "weights %d\n" % i for i in range(SPECS)})
        server = GitHTTPServer(tmp_path / "served").start()
        try:
            build_kipoi_repo(server.root / "lab.git", lfs=True, lfs_url=dead.base + "/lab.git/info/lfs",
                             history=history)
            r = run_kipoi("kipoi", "source", "add", "lab", server.repo_url("lab.git"), "--type", "git-lfs",
                          env=kipoi_env)
            assert r.returncode == 0, r.stderr
            specs = ["lab:m%d" % i for i in range(SPECS)]
            r = run_kipoi("kipoi", "source", "resolve", "--stdin", input="\n".join(specs) + "\n",
                          env=kipoi_env, timeout=300)
        finally:
            server.stop()
        assert r.returncode == 1
        assert len(r.stderr.splitlines()) == SPECS, r.stderr
        assert dead.connections <= TRIES, dead.connections
