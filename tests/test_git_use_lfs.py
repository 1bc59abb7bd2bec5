"""`use_lfs: false` on a `git` source keeps LFS pointer files as they are, as kipoi does: no LFS
server is asked, so the model resolves even when the server lacks the objects. The same commit
through a source that resolves LFS gets the real bytes, in a snapshot of its own.

Real parts: a repository made with the real git-lfs client, served by `git http-backend`, its LFS
endpoint a real giftless server that does not hold the objects until they are pushed.
"""

import json
import subprocess
from pathlib import Path

from .conftest import run_kipoi
from .gitserver import GitHTTPServer, build_kipoi_repo, git_env

POINTER_START = b"version https://git-lfs.github.com/spec/v1\n"


def test_use_lfs_false_keeps_pointers_and_never_asks_the_lfs_server(tmp_path, giftless_server, kipoi_env):
    server = GitHTTPServer(tmp_path / "served").start()
    try:
        lfs_url = giftless_server.lfs_url("lab/pointers-%s" % tmp_path.name)
        repo = build_kipoi_repo(server.root / "lab.git", lfs=True, lfs_url=lfs_url)
        url = server.repo_url("lab.git")
        config = Path(kipoi_env["KIPOI_HOME"]) / "config.yaml"
        config.parent.mkdir(parents=True)
        config.write_text("model_sources:\n"
                          "  pointers:\n    type: git\n    remote_url: %s\n    use_lfs: false\n"
                          "    local_path: kipoi-clone-1\n"
                          "  weights:\n    type: git\n    remote_url: %s\n"
                          "    local_path: kipoi-clone-2\n" % (url, url))

        # The LFS server holds none of the objects: the pointers are all one needs.
        kept = run_kipoi("kipoi", "source", "resolve", "--json", "pointers:rbp_eclip/XRCC6", env=kipoi_env)
        assert kept.returncode == 0, kept.stderr
        kept = json.loads(kept.stdout)
        assert kept["commit"] == repo.head
        pointer = (Path(kept["directory"]) / "model.weights").read_bytes()
        assert pointer.startswith(POINTER_START) and b"oid sha256:" in pointer
        assert (Path(kept["directory"]) / "model.yaml").is_file()

        # The same commit through a source that resolves LFS needs the objects: the server lacks them.
        missing = run_kipoi("kipoi", "source", "resolve", "weights:rbp_eclip/XRCC6", env=kipoi_env)
        assert missing.returncode == 1 and missing.stderr.startswith("kipoi: error: ")
        assert "model.weights" in missing.stderr

        push = subprocess.run(["git", "lfs", "push", "--all", lfs_url], cwd=repo.work, env=git_env(),
                              capture_output=True, text=True)
        assert push.returncode == 0, push.stderr
        real = run_kipoi("kipoi", "source", "resolve", "--json", "weights:rbp_eclip/XRCC6", env=kipoi_env)
        assert real.returncode == 0, real.stderr
        real = json.loads(real.stdout)
        assert (Path(real["directory"]) / "model.weights").read_bytes() == b"XRCC6 weights\n"
        # One commit, two snapshots: neither source ever sees the other's bytes.
        assert real["commit"] == kept["commit"] and real["directory"] != kept["directory"]
        again = run_kipoi("kipoi", "source", "resolve", "pointers:rbp_eclip/XRCC6", env=kipoi_env)
        assert Path(again.stdout.strip(), "model.weights").read_bytes() == pointer
        assert run_kipoi("kipoi", "store", "verify", env=kipoi_env).returncode == 0
    finally:
        server.stop()
