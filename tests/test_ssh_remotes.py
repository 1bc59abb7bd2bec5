"""ssh remotes as a user has them: `type: git` and `git-lfs` over scp-like (`host:path`) and
`ssh://` URLs, through an ssh config `Host` alias reached by GIT_SSH_COMMAND or core.sshCommand.

Real parts: OpenSSH's sshd on 127.0.0.1 (tests/fixtures_ssh.py) serving bare repositories made by
the real git and git-lfs, its `git-lfs-authenticate` pointing at the giftless LFS server; the real
git-lfs client as the yardstick for what is sent to `git-lfs-authenticate`.
"""

import json
import subprocess
from pathlib import Path

import pytest

from .conftest import BIN, run_kipoi


def _env(kipoi_env, ssh_server, how="GIT_SSH_COMMAND"):
    env = ssh_server.env(kipoi_env, how)
    env.update(KIPOI_CONNECT_TIMEOUT="3", KIPOI_READ_TIMEOUT="10", NO_PROXY="127.0.0.1")
    return env


def _add(env, name, kind, url):
    added = run_kipoi("kipoi", "source", "add", name, kind, url, env=env)
    assert added.returncode == 0, added.stderr


@pytest.mark.parametrize("form", ["scp", "ssh"])
def test_a_git_source_over_ssh_resolves_through_a_host_alias(kipoi_env, ssh_server, run_traced, form):
    env = _env(kipoi_env, ssh_server)
    bare = ssh_server.models.bare
    url = "gitbox:%s" % bare if form == "scp" else "ssh://gitbox%s" % bare
    _add(env, "lab", "git", url)
    done = run_traced([str(BIN / "kipoi"), "source", "resolve", "--json", "lab:rbp_eclip/XRCC6"], env)
    assert done.returncode == 0, done.stderr
    assert done.leftovers == []
    row = json.loads(done.stdout)
    assert row["commit"] == ssh_server.models.head
    assert (Path(row["directory"]) / "model.weights").read_bytes() == b"XRCC6 weights\n"
    assert "git-upload-pack '%s'" % bare in ssh_server.commands()


@pytest.mark.parametrize("form", ["scp", "ssh"])
def test_a_git_lfs_source_over_ssh_gets_its_objects_through_git_lfs_authenticate(
        kipoi_env, ssh_server, form):
    env = _env(kipoi_env, ssh_server)
    bare = ssh_server.lfs.bare
    url = "gitbox:%s" % bare if form == "scp" else "ssh://gitbox%s" % bare
    _add(env, "lab", "git-lfs", url)
    before = len(ssh_server.commands())
    done = run_kipoi("kipoi", "source", "resolve", "--json", "lab:rbp_eclip/XRCC6", env=env)
    assert done.returncode == 0, done.stderr
    weights = Path(json.loads(done.stdout)["directory"]) / "model.weights"
    assert weights.read_bytes() == b"XRCC6 weights\n"
    # The path as git-lfs sends it: absolute for both forms here (the scp-like path is absolute).
    asked = [c for c in ssh_server.commands()[before:] if c.startswith("git-lfs-authenticate")]
    assert asked == ["git-lfs-authenticate %s download" % bare]


def test_git_lfs_authenticate_gets_the_path_the_real_git_lfs_sends(kipoi_env, ssh_server, tmp_path):
    env = _env(kipoi_env, ssh_server)
    url = "ssh://gitbox%s" % ssh_server.lfs.bare
    clone = tmp_path / "clone"
    # The real client, as a user runs it: a clone, then the objects of HEAD.
    git_env = dict(env, GIT_LFS_SKIP_SMUDGE="1", GIT_CONFIG_NOSYSTEM="1")
    for args in (["clone", "-q", url, str(clone)],
                 ["-C", str(clone), "-c", "lfs.ssh.automultiplex=false", "lfs", "fetch"]):
        real = subprocess.run(["git", *args], env=git_env, capture_output=True, text=True)
        assert real.returncode == 0, real.stderr
    theirs = [c for c in ssh_server.commands() if c.startswith("git-lfs-authenticate")][-1]
    _add(env, "lab", "git-lfs", url)
    before = len(ssh_server.commands())
    done = run_kipoi("kipoi", "source", "resolve", "lab:rbp_eclip/XRCC6", env=env)
    assert done.returncode == 0, done.stderr
    ours = [c for c in ssh_server.commands()[before:] if c.startswith("git-lfs-authenticate")]
    assert ours == [theirs] == ["git-lfs-authenticate %s download" % ssh_server.lfs.bare]


def test_core_ssh_command_alone_reaches_git_and_lfs(kipoi_env, ssh_server, run_traced):
    env = _env(kipoi_env, ssh_server, how="core.sshCommand")
    assert "GIT_SSH_COMMAND" not in env
    _add(env, "lab", "git-lfs", "gitbox:%s" % ssh_server.lfs.bare)
    done = run_traced([str(BIN / "kipoi"), "source", "resolve", "--json", "lab:rbp_eclip/XRCC6"], env)
    assert done.returncode == 0, done.stderr
    assert done.leftovers == []
    weights = Path(json.loads(done.stdout)["directory"]) / "model.weights"
    assert weights.read_bytes() == b"XRCC6 weights\n"
