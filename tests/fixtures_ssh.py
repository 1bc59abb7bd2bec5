"""Fixtures for ssh remotes: a real OpenSSH server on 127.0.0.1, reached through ssh config aliases.

Registered in tests/conftest.py with `pytest_plugins`.

    ssh_server     a session-wide sshd (own config, host key, authorized keys, a free port) serving
                   bare repositories made by the real git and git-lfs clients, with a
                   `git-lfs-authenticate` on its PATH that hands out the giftless server's href.
                   Client side: `ssh_server.config`, an ssh config file whose `Host` aliases are
                       gitbox          the server, a known host key, a key without passphrase
                       gitbox-hang     the server; this key's forced command never answers
                       gitbox-unknown  the server, whose host key is not in known_hosts
                       gitbox-locked   the server, with a key that has a passphrase (no agent)
                       gitbox-closed   a port nothing listens on
                       gitbox-silent   a listener that accepts and never sends the ssh banner
    run_traced     run a kipoi command (optionally under a pseudo-terminal) and report any process
                   it started that is still alive after it ended
"""

import getpass
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
import uuid
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parent))

from gitserver import HISTORY, build_kipoi_repo, git, git_env  # noqa: E402
from serving import end_process  # noqa: E402
from silentserver import SilentServer  # noqa: E402

SSHD = "/usr/sbin/sshd"
TRACE = "KIPOI_TEST_TRACE"  # every process our command starts inherits it: how leftovers are found


def _free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _keygen(path, passphrase=""):
    subprocess.run(["ssh-keygen", "-q", "-t", "ed25519", "-N", passphrase, "-C", path.name,
                    "-f", str(path)], check=True)
    return path.with_suffix(".pub").read_text().strip()


class SshServer:
    def __init__(self, root, lfs_href):
        self.root = Path(root)
        self.lfs_href = lfs_href
        self.port = _free_port()
        self.closed_port = _free_port()  # bound once and let go: nothing listens there
        self.silent = SilentServer()
        self.srv = self.root / "srv"
        self.log = self.root / "commands.log"
        self.config = self.root / "ssh_config"
        self.proc = None

    def _write(self):
        r = self.root
        (r / "bin").mkdir(parents=True)
        self.srv.mkdir()
        host_pub = _keygen(r / "host_key")
        keys = {name: _keygen(r / name, "secret" if name == "id_locked" else "")
                for name in ("id_ok", "id_hang", "id_locked")}
        # Every command the server runs is logged, with our bin/ first on its PATH (whatever the
        # login shell's rc files do to PATH).
        serve = r / "serve"
        serve.write_text('#!/bin/sh\nprintf "%%s\\n" "$SSH_ORIGINAL_COMMAND" >> %s\n'
                         'PATH=%s:$PATH; export PATH\nexec sh -c "$SSH_ORIGINAL_COMMAND"\n'
                         % (self.log, r / "bin"))
        serve.chmod(0o755)
        auth = r / "bin" / "git-lfs-authenticate"
        auth.write_text("#!/bin/sh\n# git-lfs-authenticate PATH OPERATION\n"
                        "echo '%s'\n" % json.dumps({"href": self.lfs_href, "header": {},
                                                    "expires_in": 3600}))
        auth.chmod(0o755)
        (r / "authorized_keys").write_text(
            'command="%s" %s\n' % (serve, keys["id_ok"])
            + 'command="%s" %s\n' % (serve, keys["id_locked"])
            # Authenticates, then never answers (and ends once the client has gone away).
            + 'command="while kill -0 $PPID 2>/dev/null; do sleep 1; done",no-pty %s\n'
            % keys["id_hang"])
        (r / "sshd_config").write_text(
            "Port %d\nListenAddress 127.0.0.1\nHostKey %s\nPidFile %s\nAuthorizedKeysFile %s\n"
            "StrictModes no\nUsePAM no\nPasswordAuthentication no\nKbdInteractiveAuthentication no\n"
            "PubkeyAuthentication yes\nPermitRootLogin prohibit-password\nAcceptEnv GIT_PROTOCOL\n"
            "MaxStartups 100\nLogLevel VERBOSE\n"
            % (self.port, r / "host_key", r / "sshd.pid", r / "authorized_keys"))
        (r / "known_hosts").write_text("gitbox %s\n" % " ".join(host_pub.split()[:2]))
        (r / "empty_known_hosts").write_text("")
        common = ("  HostName 127.0.0.1\n  User %s\n  IdentitiesOnly yes\n  IdentityAgent none\n"
                  "  GlobalKnownHostsFile /dev/null\n  HostKeyAlias gitbox\n"
                  "  StrictHostKeyChecking yes\n  LogLevel ERROR\n" % getpass.getuser())
        hosts = [("gitbox", self.port, "id_ok", "known_hosts"),
                 ("gitbox-hang", self.port, "id_hang", "known_hosts"),
                 ("gitbox-unknown", self.port, "id_ok", "empty_known_hosts"),
                 ("gitbox-locked", self.port, "id_locked", "known_hosts"),
                 ("gitbox-closed", self.closed_port, "id_ok", "known_hosts"),
                 ("gitbox-silent", self.silent.sock.getsockname()[1], "id_ok", "known_hosts")]
        self.config.write_text("".join(
            "Host %s\n  Port %d\n  IdentityFile %s\n  UserKnownHostsFile %s\n%s"
            % (alias, port, r / key, r / known, common) for alias, port, key, known in hosts))

    def start(self, timeout=20.0):
        self._write()
        os.makedirs("/run/sshd", exist_ok=True)  # sshd's privilege-separation directory
        self.silent.__enter__()
        with open(self.root / "sshd.log", "wb") as log:
            self.proc = subprocess.Popen([SSHD, "-D", "-e", "-f", str(self.root / "sshd_config")],
                                         stdin=subprocess.DEVNULL, stdout=log, stderr=log)
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError("sshd exited: %s" % (self.root / "sshd.log").read_text())
            try:
                with socket.create_connection(("127.0.0.1", self.port), timeout=1) as s:
                    if s.recv(4).startswith(b"SSH-"):
                        return self
            except OSError:
                time.sleep(0.05)
        raise RuntimeError("sshd did not start: %s" % (self.root / "sshd.log").read_text())

    def stop(self):
        end_process(self.proc)
        self.silent.__exit__(None, None, None)

    def commands(self):
        """What the server was asked to run, in order."""
        return self.log.read_text().splitlines() if self.log.exists() else []

    def env(self, env, how="GIT_SSH_COMMAND"):
        """`env` with our ssh config reached the way a user would: GIT_SSH_COMMAND, or
        core.sshCommand in the global git config (`how="core.sshCommand"`)."""
        env = {k: v for k, v in env.items() if k not in ("GIT_SSH", "GIT_SSH_COMMAND",
                                                          "GIT_SSH_VARIANT", "SSH_AUTH_SOCK")}
        command = "ssh -F %s" % self.config
        if how == "GIT_SSH_COMMAND":
            env["GIT_SSH_COMMAND"] = command
        else:
            gitconfig = Path(env["HOME"]) / ".gitconfig"
            gitconfig.write_text('[core]\n\tsshCommand = "%s"\n' % command)
            env["GIT_CONFIG_GLOBAL"] = str(gitconfig)
        return env


@pytest.fixture(scope="session")
def ssh_server(tmp_path_factory, giftless_server):
    if not os.access(SSHD, os.X_OK) or shutil.which("ssh") is None:
        message = "OpenSSH not installed (bash scripts/setup)"
        if os.environ.get("KIPOI_TEST_REQUIRE_SERVERS") == "1":
            pytest.fail(message)
        pytest.skip(message)
    root = tmp_path_factory.mktemp("sshd")
    lfs_url = giftless_server.lfs_url("ssh/models")
    server = SshServer(root, lfs_url).start()
    # Plain git: a kipoi-shaped zoo. git-lfs: the same zoo with LFS weights pushed by the real
    # git-lfs to giftless, and a last commit without .lfsconfig, so the endpoint comes from the
    # ssh remote (git-lfs-authenticate), as for any repository that names none.
    server.models = build_kipoi_repo(server.srv / "models.git")
    server.lfs = build_kipoi_repo(server.srv / "lfs.git", lfs=True, lfs_url=lfs_url,
                                  history=HISTORY + [("no .lfsconfig", {".lfsconfig": None})])
    push = subprocess.run(["git", "lfs", "push", "--all", lfs_url], cwd=server.lfs.work,
                          env=git_env(), capture_output=True, text=True)
    assert push.returncode == 0, push.stderr
    git(server.lfs.bare, "config", "uploadpack.allowFilter", "true")
    yield server
    server.stop()


def _traced(token):
    """Pids of live processes whose environment carries `token` (zombies have none)."""
    found = []
    needle = ("%s=%s" % (TRACE, token)).encode()
    for name in os.listdir("/proc"):
        if not name.isdigit():
            continue
        try:
            with open("/proc/%s/environ" % name, "rb") as f:
                if needle in f.read().split(b"\0"):
                    found.append(int(name))
        except OSError:
            continue
    return found


def _describe(pids):
    out = []
    for pid in pids:
        try:
            with open("/proc/%d/cmdline" % pid, "rb") as f:
                out.append("%d %s" % (pid, f.read().replace(b"\0", b" ").decode(errors="replace")))
        except OSError:
            pass
    return out


class Traced:
    def __init__(self, returncode, stdout, stderr, seconds, leftovers):
        self.returncode, self.stdout, self.stderr = returncode, stdout, stderr
        self.seconds, self.leftovers = seconds, leftovers


@pytest.fixture
def run_traced():
    """run_traced(argv, env, input=None, pty=False, hang_guard=120, signal_after=None) -> Traced

    Runs `argv`; every process it starts carries a marker in its environment, so whatever is still
    alive once it ended (after a short grace) is listed in `.leftovers` ("pid cmdline"). `pty`
    gives it a pseudo-terminal as its controlling terminal and stdin/stdout/stderr (then `.stdout`
    holds both streams). `signal_after=(seconds, SIGNAL)` sends it a signal while it runs.
    `hang_guard` only keeps a broken run from hanging the suite."""
    started = []

    def run(argv, env, input=None, pty=False, hang_guard=120, signal_after=None):
        token = uuid.uuid4().hex
        env = dict(env, **{TRACE: token})
        start = time.monotonic()
        if pty:
            code, out, err = _run_pty(argv, env, hang_guard, signal_after, started)
        else:
            proc = subprocess.Popen(argv, env=env, stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                                    stderr=subprocess.PIPE, text=True)
            started.append(proc.pid)
            if signal_after is not None:
                try:
                    proc.wait(signal_after[0])
                except subprocess.TimeoutExpired:
                    proc.send_signal(signal_after[1])
            out, err = proc.communicate(input, timeout=hang_guard)
            code = proc.returncode
        seconds = time.monotonic() - start
        deadline = time.monotonic() + 3.0
        while _traced(token) and time.monotonic() < deadline:
            time.sleep(0.05)
        return Traced(code, out, err, seconds, _describe(_traced(token)))

    yield run
    for pid in started:  # a failed assertion must not leave a hung command behind
        try:
            os.kill(pid, signal.SIGKILL)
        except OSError:
            pass


def _run_pty(argv, env, hang_guard, signal_after, started):
    import pty

    pid, fd = pty.fork()
    if pid == 0:  # the child: its controlling terminal is the pty
        try:
            os.execve(argv[0], argv, env)
        finally:
            os._exit(127)
    started.append(pid)
    out = bytearray()
    start = time.monotonic()
    signalled = False
    import select

    while True:
        if signal_after and not signalled and time.monotonic() - start > signal_after[0]:
            os.kill(pid, signal_after[1])
            signalled = True
        if time.monotonic() - start > hang_guard:
            os.kill(pid, signal.SIGKILL)
        ready, _, _ = select.select([fd], [], [], 0.1)
        if ready:
            try:
                data = os.read(fd, 65536)
            except OSError:  # EIO: the child side closed
                break
            if not data:
                break
            out += data
    _, status = os.waitpid(pid, 0)
    os.close(fd)
    code = os.waitstatus_to_exitcode(status)
    return code, out.decode(errors="replace"), ""
