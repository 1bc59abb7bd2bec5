"""Config edits keep the file's owner, group and mode, whoever makes them.

An admin (root) editing a user's config must leave it the user's, as private as it was, and the
user must still be able to edit it afterwards. CI runs as root, and root ignores modes, so the
other side is a real other user: `nobody`, through setpriv.
"""

import os
import pwd
import shutil
import stat
import subprocess
import sys
import sysconfig
import tempfile
from pathlib import Path

import pytest

from .conftest import run_kipoi

REPO = Path(__file__).resolve().parent.parent

pytestmark = pytest.mark.skipif(os.geteuid() != 0, reason="needs root to act for another user")


@pytest.fixture
def nobody():
    return pwd.getpwnam("nobody")


@pytest.fixture
def user_home(nobody):
    """A HOME owned by nobody, in a folder nobody can reach (pytest's own tmp is root's, 0700)."""
    base = Path(tempfile.mkdtemp(prefix="kipoi-owner-", dir="/tmp"))
    os.chmod(base, 0o755)
    home = base / "home"
    (home / ".kipoi").mkdir(parents=True)
    for path in (home, home / ".kipoi"):
        os.chown(path, nobody.pw_uid, nobody.pw_gid)
    yield home
    shutil.rmtree(base)


def env_for(home):
    env = {k: v for k, v in os.environ.items() if not k.startswith("KIPOI_")}
    return dict(env, HOME=str(home), KIPOI_HOME=str(home / ".kipoi"))


def run_as(user, python, home, *args):
    """`kipoi-<noun>-<verb> args` run as `user`, from this checkout and the venv's packages."""
    env = dict(env_for(home), PYTHONPATH="%s:%s" % (REPO, sysconfig.get_paths()["purelib"]))
    cmd = ["setpriv", "--reuid=%d" % user.pw_uid, "--regid=%d" % user.pw_gid, "--clear-groups",
           python, str(REPO / "bin" / args[0]), *args[1:]]
    return subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=120, cwd="/")


def ownership(path):
    st = os.stat(path)
    return st.st_uid, st.st_gid, stat.S_IMODE(st.st_mode)


@pytest.fixture
def as_nobody(nobody, user_home):
    """Run a command as nobody, with a python of our version nobody can start (the venv's lives
    under root's 0700 home on these machines)."""
    version = "%d.%d" % sys.version_info[:2]
    tried = []
    for python in (sys.executable, "/usr/bin/python" + version, "/usr/local/bin/python" + version):
        probe = run_as(nobody, python, user_home, "kipoi-source-list")
        if probe.returncode == 0:
            return lambda *args: run_as(nobody, python, user_home, *args)
        tried.append("%s: %s" % (python, probe.stderr.strip().splitlines()[-1:]))
    pytest.skip("no python %s that user nobody can run here (%s)" % (version, "; ".join(tried)))


def test_root_editing_a_users_private_config_leaves_it_theirs(nobody, user_home, as_nobody):
    config = user_home / ".kipoi" / "config.yaml"
    assert as_nobody("kipoi-source-add", "mine", "/srv/mine", "--type", "local").returncode == 0
    os.chmod(config, 0o600)
    assert ownership(config) == (nobody.pw_uid, nobody.pw_gid, 0o600)
    out = run_kipoi("kipoi-source-add", "lab", "https://e.org/lab.git", env=env_for(user_home))
    assert out.returncode == 0, out.stderr
    assert ownership(config) == (nobody.pw_uid, nobody.pw_gid, 0o600)
    assert "  lab:\n" in config.read_text()
    # The user edits on: the lock file root's edit left behind is no obstacle.
    out = as_nobody("kipoi-source-remove", "lab")
    assert out.returncode == 0, out.stderr
    assert "lab" not in config.read_text()
    assert ownership(config) == (nobody.pw_uid, nobody.pw_gid, 0o600)
    assert sorted(p.name for p in config.parent.iterdir()) == ["config.yaml", "config.yaml.lock"]


def test_a_read_only_config_stays_read_only(nobody, user_home, as_nobody):
    config = user_home / ".kipoi" / "config.yaml"
    assert as_nobody("kipoi-source-add", "mine", "/srv/mine", "--type", "local").returncode == 0
    os.chmod(config, 0o444)
    text = config.read_text()
    # Its owner may not write it: the edit is refused, nothing changes.
    out = as_nobody("kipoi-source-add", "lab", "https://e.org/lab.git")
    assert (out.returncode, out.stderr) == (
        1, "kipoi: error: %s: not writable for you (mode 0444), not edited\n" % config)
    assert config.read_text() == text
    # root may (as with any file): it stays 0444 and the user's.
    out = run_kipoi("kipoi-source-add", "lab", "https://e.org/lab.git", env=env_for(user_home))
    assert out.returncode == 0, out.stderr
    assert "  lab:\n" in config.read_text()
    assert ownership(config) == (nobody.pw_uid, nobody.pw_gid, 0o444)


def test_a_group_shared_config_keeps_its_group(tmp_path):
    config = tmp_path / "config.yaml"
    config.write_text("model_sources:\n  a:\n    type: local\n    local_path: /a\n")
    os.chown(config, 0, pwd.getpwnam("nobody").pw_gid)
    os.chmod(config, 0o664)
    env = dict(env_for(tmp_path), KIPOI_CONFIG=str(config))
    assert run_kipoi("kipoi-source-remove", "a", env=env).returncode == 0
    assert ownership(config) == (0, pwd.getpwnam("nobody").pw_gid, 0o664)
