"""pytest fixtures for git remotes (registered in conftest.py with `pytest_plugins`).

    def test_x(kipoi_repo, git_http_server, tmp_path):
        remote = GitRemote(tmp_path / "store", kipoi_repo.http_url)   # or kipoi_repo.file_url
        ...
        assert git_http_server.count(repo=kipoi_repo.name) == 2

`git_http_server` and `kipoi_repo` live for the whole session and must not be changed by a test;
`served_repo(...)` builds a fresh repository a test may change (push to it, refuse filters), and
`git_server` starts a private server a test may stop.
"""

import itertools

import pytest

from gitserver import GitHTTPServer, build_kipoi_repo

_names = itertools.count()


@pytest.fixture(scope="session")
def git_http_server(tmp_path_factory):
    """A `git http-backend` server on 127.0.0.1 for the whole session (do not stop it)."""
    server = GitHTTPServer(tmp_path_factory.mktemp("git-served")).start()
    yield server
    server.stop()


def _serve(server, name, **kwargs):
    repo = build_kipoi_repo(server.root / (name + ".git"), **kwargs)
    repo.http_url = server.repo_url(name + ".git")
    repo.name = name + ".git"
    return repo


@pytest.fixture(scope="session")
def kipoi_repo(git_http_server):
    """A kipoi-shaped repository served over HTTP (`.http_url`) and as a file (`.file_url`, `.bare`).

    Shared by the session: read it, never change it (use `served_repo` for that).
    """
    return _serve(git_http_server, "models")


@pytest.fixture
def served_repo(git_http_server):
    """A factory: `served_repo(lfs=False, allow_filter=True)` builds and serves a fresh repository."""

    def make(**kwargs):
        return _serve(git_http_server, "repo%d" % next(_names), **kwargs)

    return make


@pytest.fixture
def git_server(tmp_path):
    """A private server a test may stop (to prove nothing needs the network); `.root` is empty."""
    server = GitHTTPServer(tmp_path / "served").start()
    yield server
    server.stop()


@pytest.fixture
def git_home(tmp_path, monkeypatch):
    """Run git as a fresh user: a temporary HOME, no system or global git config of the machine."""
    home = tmp_path / "home"
    home.mkdir(exist_ok=True)
    monkeypatch.setenv("HOME", str(home))
    monkeypatch.setenv("KIPOI_HOME", str(home / ".kipoi"))
    monkeypatch.setenv("XDG_CONFIG_HOME", str(home / ".config"))
    monkeypatch.setenv("GIT_CONFIG_NOSYSTEM", "1")
    monkeypatch.delenv("GIT_CONFIG_GLOBAL", raising=False)
    monkeypatch.delenv("KIPOI_OFFLINE", raising=False)
    return home
