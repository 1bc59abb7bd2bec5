"""Real other users for permission tests: CI runs as root, and root ignores file modes.

    alice = user("kst-alice", groups=["kst-lab"])       # useradd/groupadd, once per machine
    r = alice.kipoi("source", "resolve", "lab:X", env=env, umask=0o077)
    r = bob.kipoi("source", "resolve", "lab:X", env=env, read_only=[site])   # a real EROFS mount
    subprocess.run(bound_by_modes("kipoi source resolve lab:X"), ...)   # root, modes binding

Commands run under `setpriv --reuid --regid --groups` (no capabilities left), optionally inside
`unshare -m` with read-only bind mounts that vanish with the process. The interpreter is the
system's python3.11 with this checkout and the venv's packages on PYTHONPATH: the venv's own
interpreter lives under /root (0700), which other users cannot enter.
"""

import atexit
import grp
import os
import pwd
import shutil
import subprocess
import sysconfig
import tempfile
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
PYTHON = "/usr/bin/python3.11"


# The capabilities that let root ignore file modes: without them root's reads and writes are
# checked as anyone's.
DROP = "cap_dac_override,cap_dac_read_search,cap_fowner"


def bound_by_modes(script):
    """argv running shell `script` as a process file modes bind: root without DROP (capsh), or the
    user running the tests when that is not root."""
    if os.geteuid() != 0:
        return ["sh", "-c", script]
    return ["capsh", "--drop=" + DROP, "--", "-c", script]


def need_real_users():
    """Skip, saying why, where the machine cannot give us other users and private mounts."""
    if os.geteuid() != 0:
        pytest.skip("needs root to create users and mounts (CI runs as root)")
    for tool in ("useradd", "groupadd", "setpriv", "unshare", "mount"):
        if shutil.which(tool) is None:
            pytest.skip("%s is not installed" % tool)
    if not os.access(PYTHON, os.X_OK):
        pytest.skip("%s is missing: other users need an interpreter outside /root" % PYTHON)


_OPENED = {}  # directory -> its mode before we let others through it


def _restore_modes():
    for path, mode in _OPENED.items():
        try:
            os.chmod(path, mode)
        except OSError:
            pass


def let_others_reach(path):
    """Give every directory above `path` the search bit for others, for this test session only: the
    checkout (and its venv's packages) may lie below a 0700 directory (`mktemp -d`, /root), and other
    users run this checkout's code. Nothing is made readable or writable that was not."""
    if not _OPENED:
        atexit.register(_restore_modes)
    path = Path(path).resolve()
    for d in [path, *path.parents]:
        mode = d.stat().st_mode & 0o7777
        if not mode & 0o001 and str(d) not in _OPENED:
            _OPENED[str(d)] = mode
            os.chmod(d, mode | 0o001)


def _group(name):
    try:
        return grp.getgrnam(name).gr_gid
    except KeyError:
        subprocess.run(["groupadd", "-f", name], check=True, capture_output=True)
        return grp.getgrnam(name).gr_gid


class User:
    def __init__(self, name, groups=()):
        self.name = name
        self.group_names = list(groups)
        try:
            pwd.getpwnam(name)
        except KeyError:
            subprocess.run(["useradd", "-M", "-N", "-s", "/usr/sbin/nologin", "-g", "nogroup", name],
                           check=True, capture_output=True)
        entry = pwd.getpwnam(name)
        self.uid, self.gid = entry.pw_uid, entry.pw_gid
        self.groups = [_group(g) for g in groups]
        for path in (ROOT, sysconfig.get_paths()["purelib"]):
            let_others_reach(path)

    def own(self, *paths):
        for p in paths:
            os.chown(p, self.uid, self.gid)

    def command(self, argv, umask=None, read_only=()):
        groups = ",".join(str(g) for g in self.groups) or "-"
        cmd = ["setpriv", "--reuid=%d" % self.uid, "--regid=%d" % self.gid,
               "--groups=%s" % groups if self.groups else "--clear-groups", "--"]
        if umask is not None:
            cmd += ["sh", "-c", 'umask %03o && exec "$@"' % umask, "sh"]
        cmd += list(argv)
        if read_only:
            script = " && ".join("mount --bind '%s' '%s' && mount -o remount,bind,ro '%s'" % (p, p, p)
                                 for p in map(str, read_only))
            cmd = ["unshare", "-m", "sh", "-c", script + ' && exec "$@"', "sh"] + cmd
        return cmd

    @staticmethod
    def _env(env):
        env = dict(env)
        env.update(PATH="/usr/bin:/bin", PYTHONDONTWRITEBYTECODE="1",
                   PYTHONPATH="%s:%s" % (ROOT, sysconfig.get_paths()["purelib"]))
        return env

    def run(self, argv, env, umask=None, read_only=(), timeout=180, input=None):
        return subprocess.run(self.command(argv, umask, read_only), env=self._env(env),
                              capture_output=True, text=True, timeout=timeout, input=input)

    def kipoi(self, *args, env, **kw):
        return self.run([PYTHON, str(ROOT / "bin" / "kipoi"), *args], env=env, **kw)

    def start_kipoi(self, *args, env, umask=None):
        """`kipoi ARGS` started in the background: a Popen with text stdout and stderr pipes."""
        return subprocess.Popen(self.command([PYTHON, str(ROOT / "bin" / "kipoi"), *args], umask),
                                env=self._env(env), stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                                text=True)

    def python(self, code, *args, env, **kw):
        return self.run([PYTHON, "-c", code, *args], env=env, **kw)


def user(name, groups=()):
    need_real_users()
    return User(name, groups)


def world_dir(prefix="kst-"):
    """A fresh directory every user can enter (pytest's tmp_path lies under root's 0700 dir)."""
    path = Path(tempfile.mkdtemp(prefix=prefix, dir="/tmp"))
    os.chmod(path, 0o755)
    return path


def home_of(u, base, name=None, **env):
    """An environment for user `u`: its own HOME and KIPOI_HOME under `base` (in `name`, default
    the user's name), no KIPOI_* leaking in."""
    home = base / (name or u.name)
    home.mkdir(mode=0o700)
    u.own(home)
    clean = {k: v for k, v in os.environ.items()
             if not k.startswith(("KIPOI_", "GIT_", "PYTHON")) and k != "HOME"}
    clean.update(HOME=str(home), KIPOI_HOME=str(home / ".kipoi"), GIT_CONFIG_NOSYSTEM="1",
                 GIT_TERMINAL_PROMPT="0", NO_PROXY="127.0.0.1,localhost")
    clean.update({k: str(v) for k, v in env.items()})
    return clean


def inodes(root):
    """Everything observable of every entry under `root`: a write of any kind changes it."""
    seen = {}
    for folder, dirs, files in os.walk(root):
        for name in [""] + dirs + files:
            p = os.path.join(folder, name) if name else folder
            st = os.lstat(p)
            seen[os.path.relpath(p, root)] = (st.st_ino, st.st_mode, st.st_uid, st.st_gid, st.st_size,
                                              st.st_mtime_ns, st.st_ctime_ns, st.st_nlink)
    return seen
