"""giftless, a real Git LFS server (PyPI), run by gunicorn on 127.0.0.1 for tests.

    server = Giftless(venv, tmp_path / "giftless").start()
    server.lfs_url("org/repo")     # http://127.0.0.1:PORT/org/repo.git/info/lfs
    ...
    server.stop()

Anonymous users may read and write (giftless.auth.allow_anon:read_write), objects live in a
LocalStorage directory under the given root, and gunicorn gets its own HOME there, so nothing is
written outside the test's tmp directory. The listening socket is opened here and handed to gunicorn
(`--bind fd://N`): the port is known before the server starts and no other process can take it.
"""

import ctypes
import os
import signal
import socket
import subprocess
import time
from pathlib import Path

import yaml
from serving import Served, end_process


def giftless_venv():
    """The giftless venv from KIPOI_TEST_GIFTLESS, else .venv-giftless next to tests/; or None."""
    explicit = os.environ.get("KIPOI_TEST_GIFTLESS")
    venv = Path(explicit) if explicit else Path(__file__).resolve().parent.parent / ".venv-giftless"
    return venv if (venv / "bin" / "gunicorn").exists() else None


def _die_with_parent():
    """Linux: SIGTERM the server when the test process dies, even by SIGKILL (no orphans)."""
    try:
        ctypes.CDLL(None, use_errno=True).prctl(1, signal.SIGTERM)  # PR_SET_PDEATHSIG
    except (OSError, AttributeError):
        pass


class Giftless(Served):
    def __init__(self, venv, root):
        self.venv = Path(venv)
        self.root = Path(root)
        self.proc = None
        self.port = None

    @property
    def storage(self):
        return self.root / "storage"

    @property
    def base(self):
        return "http://127.0.0.1:%d" % self.port

    def lfs_url(self, repo="org/repo"):
        return "%s/%s.git/info/lfs" % (self.base, repo)

    def start(self, timeout=30.0):
        self.root.mkdir(parents=True, exist_ok=True)
        self.storage.mkdir(exist_ok=True)
        home = self.root / "home"
        home.mkdir(exist_ok=True)
        config = {
            "AUTH_PROVIDERS": ["giftless.auth.allow_anon:read_write"],
            # Only the documented `<org>/<repo>.git/info/lfs` routes (no FutureWarning either).
            "LEGACY_ENDPOINTS": False,
            "TRANSFER_ADAPTERS": {"basic": {
                "factory": "giftless.transfer.basic_streaming:factory",
                "options": {
                    "storage_class": "giftless.storage.local_storage:LocalStorage",
                    "storage_options": {"path": str(self.storage)},
                    "action_lifetime": 900,
                },
            }},
        }
        sock = socket.socket()
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind(("127.0.0.1", 0))
        sock.listen(64)
        self.port = sock.getsockname()[1]
        env = {
            "PATH": "%s:%s" % (self.venv / "bin", os.environ.get("PATH", "/usr/bin:/bin")),
            "HOME": str(home),
            "GIFTLESS_CONFIG_STR": yaml.safe_dump(config),
            "PYTHONDONTWRITEBYTECODE": "1",
        }
        log = open(self.root / "gunicorn.log", "wb")
        try:
            self.proc = subprocess.Popen(
                [str(self.venv / "bin" / "gunicorn"), "--no-control-socket",
                 "--bind", "fd://%d" % sock.fileno(), "--workers", "1", "--threads", "8",
                 "--graceful-timeout", "2", "--access-logfile", str(self.root / "access.log"),
                 "--chdir", str(self.root), "giftless.wsgi_entrypoint:app"],
                env=env, cwd=str(self.root), pass_fds=(sock.fileno(),),
                stdout=log, stderr=subprocess.STDOUT, preexec_fn=_die_with_parent)
        finally:
            sock.close()
            log.close()
        self._wait_ready(timeout)
        return self

    def _wait_ready(self, timeout):
        import requests

        deadline = time.monotonic() + timeout
        while True:
            if self.proc.poll() is not None:
                raise RuntimeError("giftless exited (%s): %s" % (self.proc.returncode, self.log()))
            try:
                # Any HTTP answer means the app is loaded and serving.
                requests.get(self.base + "/", timeout=2)
                return
            except requests.ConnectionError:
                if time.monotonic() > deadline:
                    self.stop()
                    raise RuntimeError("giftless did not start: %s" % self.log()) from None
                time.sleep(0.1)

    def sent(self, oid, repo=""):
        """How many times the server has sent the object `oid` (of `repo`, as in lfs_url: GETs in
        its access log)."""
        try:
            lines = (self.root / "access.log").read_text(errors="replace").splitlines()
        except FileNotFoundError:
            return 0
        return sum(1 for line in lines if '"GET /%s' % repo in line and oid in line)

    def log(self):
        try:
            return (self.root / "gunicorn.log").read_text(errors="replace")[-2000:]
        except OSError:
            return ""

    def stop(self):
        end_process(self.proc)
        self.proc = None
