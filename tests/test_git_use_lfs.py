"""`use_lfs: false` on a `git` source follows kipoi 0.8.6's real rule, per commit.

kipoi's GitSource.clone and pull_source turn LFS on whenever the checkout has a `.gitattributes` at
its root, whatever use_lfs says; only a repository without one keeps the pointer files. So: at a
commit with a root .gitattributes, the weights (the same bytes kipoi 0.8.6 itself pulls); at a commit
whose LFS rules live only below the root, the pointers, and no LFS server is asked.

Real parts: a repository made with the real git-lfs client, served by `git http-backend`, its LFS
endpoint a real giftless server; kipoi 0.8.6's own GitSource pulls the same model for comparison.
"""

import json
import os
import subprocess
from pathlib import Path

from .conftest import run_kipoi
from .gitserver import GitHTTPServer, git, git_env, serve_config, write
from .kipoi_client import require_kipoi

POINTER_START = b"version https://git-lfs.github.com/spec/v1\n"
WEIGHTS = b"XRCC6 weights\n"
RULE = "*.weights filter=lfs diff=lfs merge=lfs -text\n"


def lfs_repo(served, lfs_url, push=True):
    """A bare `lab.git` with two commits of one model and its LFS-tracked weights: the first has
    its LFS rules in `m/.gitattributes` only, the second moves them to the root. (commit1, commit2).
    `push`: upload the LFS objects to `lfs_url`."""
    work = served.parent / "lab-work"
    work.mkdir()
    git(work, "init", "-q", "-b", "main")
    for key, value in (("lfs.url", lfs_url), ("filter.lfs.clean", "git-lfs clean -- %f"),
                       ("filter.lfs.smudge", "git-lfs smudge -- %f"),
                       ("filter.lfs.process", "git-lfs filter-process"), ("filter.lfs.required", "true")):
        git(work, "config", key, value)
    write(work, {"m/.gitattributes": RULE, ".lfsconfig": "[lfs]\n\turl = %s\n" % lfs_url,
                 "m/model.yaml": "type: keras\nargs:\n  weights: model.weights\n",
                 "m/model.weights": WEIGHTS})
    git(work, "add", "-A", when=1)
    git(work, "commit", "-q", "-m", "LFS rules below the root", when=1)
    first = git(work, "rev-parse", "HEAD")
    git(work, "mv", "m/.gitattributes", ".gitattributes", when=2)
    git(work, "commit", "-q", "-m", "LFS rules at the root", when=2)
    second = git(work, "rev-parse", "HEAD")
    committed = git(work, "cat-file", "-p", "%s:m/model.weights" % first).encode() + b"\n"
    assert committed.startswith(POINTER_START)
    git(served.parent, "clone", "-q", "--bare", str(work), str(served))
    serve_config(served)
    if push:
        pushed = subprocess.run(["git", "lfs", "push", "--all", lfs_url], cwd=work, env=git_env(),
                                capture_output=True, text=True)
        assert pushed.returncode == 0, pushed.stderr
    return first, second


def configure(kipoi_env, url):
    config = Path(kipoi_env["KIPOI_HOME"]) / "config.yaml"
    config.parent.mkdir(parents=True)
    config.write_text("model_sources:\n"
                      "  kipoistyle:\n    type: git\n    remote_url: %s\n    use_lfs: false\n"
                      "    local_path: kipoi-clone\n" % url)


def resolve(kipoi_env, spec):
    r = run_kipoi("kipoi", "source", "resolve", "--json", spec, env=kipoi_env)
    assert r.returncode == 0, r.stderr
    return json.loads(r.stdout)


KIPOI_PULL = """
import sys
from kipoi.sources import GitSource
source = GitSource(sys.argv[1], sys.argv[2], use_lfs=False)
source.pull_model("m")
sys.stdout.buffer.write(open(sys.argv[2] + "/m/model.weights", "rb").read())
"""


def kipoi_pulls(python, url, tmp_path):
    """The bytes of m/model.weights as kipoi 0.8.6's own GitSource(use_lfs=False) gives them at
    the remote's HEAD."""
    home = tmp_path / "kipoi-home"
    home.mkdir()
    (home / ".gitconfig").write_text(
        "[filter \"lfs\"]\n\tclean = git-lfs clean -- %f\n\tsmudge = git-lfs smudge -- %f\n"
        "\tprocess = git-lfs filter-process\n\trequired = true\n")
    env = dict(os.environ, HOME=str(home), GIT_CONFIG_NOSYSTEM="1", GIT_TERMINAL_PROMPT="0",
               PATH="%s:%s" % (python.parent, os.environ.get("PATH", "/usr/bin:/bin")))
    r = subprocess.run([str(python), "-c", KIPOI_PULL, url, str(tmp_path / "kipoi-checkout")],
                       env=env, capture_output=True, timeout=300)
    assert r.returncode == 0, r.stderr.decode(errors="replace")[-3000:]
    return r.stdout


def test_use_lfs_false_gives_weights_at_a_commit_with_a_root_gitattributes_as_kipoi_does(
        tmp_path, giftless_server, kipoi_env):
    python = require_kipoi()
    server = GitHTTPServer(tmp_path / "served").start()
    try:
        first, second = lfs_repo(server.root / "lab.git",
                                 giftless_server.lfs_url("lab/attrs-%s" % tmp_path.name))
        url = server.repo_url("lab.git")
        configure(kipoi_env, url)
        at_head = resolve(kipoi_env, "kipoistyle:m")
        assert at_head["commit"] == second and at_head["key"] == second  # the key of real bytes
        ours = (Path(at_head["directory"]) / "model.weights").read_bytes()
        assert ours == WEIGHTS
        assert kipoi_pulls(python, url, tmp_path) == ours
        # Per commit: pinned to the first, whose LFS rules are not at the root, the pointer stays.
        pinned = resolve(kipoi_env, "kipoistyle:m@" + first)
        assert pinned["key"] != first
        assert (Path(pinned["directory"]) / "model.weights").read_bytes().startswith(POINTER_START)
        assert run_kipoi("kipoi", "store", "verify", env=kipoi_env).returncode == 0
    finally:
        server.stop()


def test_use_lfs_false_without_a_root_gitattributes_keeps_pointers_and_never_asks_lfs(
        tmp_path, giftless_server, kipoi_env):
    python = require_kipoi()
    server = GitHTTPServer(tmp_path / "served").start()
    try:
        # The LFS server is a port nobody listens on: asking it would fail the resolve.
        first, _ = lfs_repo(server.root / "lab.git", "http://127.0.0.1:9/nothing/info/lfs", push=False)
        work = tmp_path / "served" / "lab-work"
        git(work, "reset", "-q", "--hard", first)
        git(work, "push", "-q", "-f", str(server.root / "lab.git"), "main:main")
        url = server.repo_url("lab.git")
        configure(kipoi_env, url)
        kept = resolve(kipoi_env, "kipoistyle:m")
        assert kept["commit"] == first
        pointer = (Path(kept["directory"]) / "model.weights").read_bytes()
        assert pointer.startswith(POINTER_START) and b"oid sha256:" in pointer
        assert kipoi_pulls(python, url, tmp_path) == pointer  # kipoi keeps the pointer too
        again = resolve(kipoi_env, "kipoistyle:m")  # warm: the same snapshot
        assert again["directory"] == kept["directory"]
    finally:
        server.stop()
