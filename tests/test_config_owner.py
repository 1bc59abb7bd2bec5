"""Config edits keep the file's owner, group and mode, whoever makes them.

An admin (root) editing a user's config must leave it the user's, as private as it was, and the
user must still be able to edit it afterwards. CI runs as root, and root ignores modes, so the
other side is a real other user: `nobody`, through setpriv.
"""

import os
import pwd
import shutil
import stat

import pytest

from .conftest import run_kipoi
from .users import PYTHON, ROOT, User, world_dir

pytestmark = pytest.mark.skipif(os.geteuid() != 0, reason="needs root to act for another user")


@pytest.fixture
def nobody():
    return User("nobody")


@pytest.fixture
def user_home(nobody):
    """A HOME owned by nobody, in a folder nobody can reach (pytest's own tmp is root's, 0700)."""
    base = world_dir("kipoi-owner-")
    home = base / "home"
    (home / ".kipoi").mkdir(parents=True)
    nobody.own(home, home / ".kipoi")
    yield home
    shutil.rmtree(base)


def env_for(home):
    env = {k: v for k, v in os.environ.items() if not k.startswith("KIPOI_")}
    return dict(env, HOME=str(home), KIPOI_HOME=str(home / ".kipoi"))


def ownership(path):
    st = os.stat(path)
    return st.st_uid, st.st_gid, stat.S_IMODE(st.st_mode)


@pytest.fixture
def as_nobody(nobody, user_home):
    """`kipoi-<noun>-<verb> args` run as nobody (tests/users.py: setpriv, an interpreter outside
    root's 0700 home, this checkout on PYTHONPATH)."""
    if not os.access(PYTHON, os.X_OK):
        pytest.skip("%s is missing: nobody needs an interpreter outside /root" % PYTHON)
    return lambda *args: nobody.run([PYTHON, str(ROOT / "bin" / args[0]), *args[1:]], env=env_for(user_home))


def test_root_editing_a_users_private_config_leaves_it_theirs(nobody, user_home, as_nobody):
    config = user_home / ".kipoi" / "config.yaml"
    assert as_nobody("kipoi-source-add", "mine", "/srv/mine", "--type", "local").returncode == 0
    os.chmod(config, 0o600)
    assert ownership(config) == (nobody.uid, nobody.gid, 0o600)
    out = run_kipoi("kipoi-source-add", "lab", "https://e.org/lab.git", env=env_for(user_home))
    assert out.returncode == 0, out.stderr
    assert ownership(config) == (nobody.uid, nobody.gid, 0o600)
    assert "  lab:\n" in config.read_text()
    # The user edits on: the lock file root's edit left behind is no obstacle.
    out = as_nobody("kipoi-source-remove", "lab")
    assert out.returncode == 0, out.stderr
    assert "lab" not in config.read_text()
    assert ownership(config) == (nobody.uid, nobody.gid, 0o600)
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
    assert ownership(config) == (nobody.uid, nobody.gid, 0o444)


def test_a_group_shared_config_keeps_its_group(tmp_path):
    config = tmp_path / "config.yaml"
    config.write_text("model_sources:\n  a:\n    type: local\n    local_path: /a\n")
    os.chown(config, 0, pwd.getpwnam("nobody").pw_gid)
    os.chmod(config, 0o664)
    env = dict(env_for(tmp_path), KIPOI_CONFIG=str(config))
    assert run_kipoi("kipoi-source-remove", "a", env=env).returncode == 0
    assert ownership(config) == (0, pwd.getpwnam("nobody").pw_gid, 0o664)
