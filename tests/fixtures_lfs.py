"""Fixtures for Git LFS tests: a real giftless server, real `git lfs` repositories, a fault server.

Registered in tests/conftest.py with `pytest_plugins = ["tests.fixtures_lfs"]`.

    giftless_server      a session-wide giftless (skipped when its venv is missing, unless
                         KIPOI_TEST_REQUIRE_SERVERS=1, which makes a missing server a failure)
    lfs_git_env          environment for the real git and git-lfs: HOME and global config in tmp
    make_lfs_repo        build a repository whose files are LFS-tracked, with the real client
    fault_server         tests/lfsserver.py's FaultServer, started and stopped around a test
    lfs_store            an empty kipoi_store.store.core.store.Store to fetch into
"""

import os
import subprocess
import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parent))

from giftless import Giftless, giftless_venv  # noqa: E402
from lfsserver import FaultServer  # noqa: E402


@pytest.fixture(scope="session")
def giftless_server(tmp_path_factory):
    venv = giftless_venv()
    if venv is None:
        message = "giftless venv not found (bash scripts/setup --with-servers)"
        if os.environ.get("KIPOI_TEST_REQUIRE_SERVERS") == "1":
            pytest.fail(message)
        pytest.skip(message)
    server = Giftless(venv, tmp_path_factory.mktemp("giftless")).start()
    yield server
    server.stop()


@pytest.fixture
def lfs_git_env(tmp_path, monkeypatch):
    """HOME, global git config and credentials all under tmp_path; nothing prompts."""
    home = tmp_path / "home"
    home.mkdir()
    gitconfig = home / ".gitconfig"
    gitconfig.write_text("[user]\n\tname = Test\n\temail = test@example.org\n"
                         "[init]\n\tdefaultBranch = main\n")
    env = {
        "HOME": str(home),
        "GIT_CONFIG_GLOBAL": str(gitconfig),
        "GIT_CONFIG_NOSYSTEM": "1",
        "GIT_TERMINAL_PROMPT": "0",
        "GIT_ASKPASS": "",
        "SSH_ASKPASS": "",
        "NO_PROXY": "127.0.0.1,localhost",
        "KIPOI_HOME": str(tmp_path / "kipoi"),
    }
    for k, v in env.items():
        monkeypatch.setenv(k, v)
    for k in ("HTTP_PROXY", "HTTPS_PROXY", "http_proxy", "https_proxy", "ALL_PROXY",
              "all_proxy", "GIT_SSH", "GIT_SSH_COMMAND"):
        monkeypatch.delenv(k, raising=False)
    return dict(os.environ)


def _git(cwd, *args, env=None):
    return subprocess.run(["git", *args], cwd=cwd, env=env, check=True, capture_output=True)


@pytest.fixture
def make_lfs_repo(lfs_git_env):
    """make_lfs_repo(path, {"a/w.bin": b"..."}, lfs_url=None, extra={...}) -> {path: Pointer}

    A non-bare repository at `path` with the LFS files tracked by the real `git lfs` client and
    committed, plus `extra` ordinary files. With `lfs_url`, `git lfs push --all` uploads the
    objects there (and `.lfsconfig` is not written: the caller decides)."""
    from kipoi_store.lfs.pointer import parse_pointer

    def make(path, lfs_files, lfs_url=None, extra=None):
        path = Path(path)
        path.mkdir(parents=True)
        _git(path, "init", "-q")
        _git(path, "lfs", "install", "--local")
        _git(path, "lfs", "track", "*.bin")
        for rel, data in {**lfs_files, **(extra or {})}.items():
            (path / rel).parent.mkdir(parents=True, exist_ok=True)
            (path / rel).write_bytes(data)
        _git(path, "add", "-A")
        _git(path, "commit", "-q", "-m", "models with LFS weights")
        pointers = {}
        for rel in lfs_files:
            blob = _git(path, "cat-file", "blob", "HEAD:" + rel).stdout
            pointers[rel] = parse_pointer(blob)
            assert pointers[rel] is not None, "git lfs did not make %s a pointer" % rel
        if lfs_url:
            _git(path, "config", "lfs.url", lfs_url)
            _git(path, "lfs", "push", "--all", lfs_url)
        return pointers

    return make


@pytest.fixture
def fault_server():
    with FaultServer() as server:
        yield server


@pytest.fixture
def lfs_store(tmp_path):
    from kipoi_store.store.core.store import Store

    return Store(tmp_path / "store")
