"""The lab of the registry tests: a git source with a model whose weights live at a URL, pulled
into a store, ready to push to the real registry (tests/ociregistry.py). Shared by
test_oci_push.py and test_oci_resolve.py."""

import hashlib
import json
import os
from pathlib import Path
from types import SimpleNamespace

from conftest import isolated_env, ok  # noqa: F401 (ok: for the tests that import it from here)
from gitserver import HISTORY, build_kipoi_repo

REMOTE_WEIGHTS = b"weights that live on zenodo " * 300
EXPECTED = b"what kipoi test compares predictions with\n"
SPECS = ["lab:rbp_eclip/UPF1@v0.2", "lab:Basset", "lab:CpGenie/A549", "lab:Remote"]


def make_env(home, **extra):
    """A user of the registry tests: nothing from the outside's docker or podman logins."""
    (Path(home) / ".kipoi").mkdir(parents=True, exist_ok=True)
    return isolated_env(home, drop=("REGISTRY_AUTH_FILE", "DOCKER_CONFIG"),
                        DOCKER_CONFIG=str(Path(home) / ".docker"), **extra)


def remote_model(files):
    url = files.add("/zenodo/record/7/weights.h5", REMOTE_WEIGHTS)
    expect_url = files.add("/zenodo/record/7/expect.h5", EXPECTED)
    return {"Remote/model.yaml": "defined_as: model.Model\nargs:\n  weights:\n    url: %s\n"
                                 "    md5: %s\ntest:\n  expect:\n    url: %s\n    md5: %s\n"
                                 % (url, hashlib.md5(REMOTE_WEIGHTS).hexdigest(), expect_url,
                                    hashlib.md5(EXPECTED).hexdigest()),
            "Remote/model.py": "class Model:\n    pass\n"}, url


def build_lab(tmp, git_server, files):
    """The lab's source (git, served), its config and a HOME whose store holds SPECS with files."""
    remote, url = remote_model(files)
    repo = build_kipoi_repo(git_server.root / "lab.git", history=HISTORY + [("remote weights", remote)])
    config = ("model_sources:\n  lab:\n    type: git\n    remote_url: %s\n"
              "    local_path: ~/.kipoi/models/lab\n    auto_update: true\n"
              % git_server.repo_url("lab.git"))
    env = make_env(tmp / "lab-home")
    (Path(env["KIPOI_HOME"]) / "config.yaml").write_text(config)
    pulled = ok("kipoi", "source", "pull", "--examples", "--json", *SPECS, env=env).stdout
    records = [json.loads(line) for line in pulled.splitlines()]
    return SimpleNamespace(env=env, config=config, records=records, repo=repo, weights_url=url,
                           store=Path(env["KIPOI_HOME"]) / "store", tmp=tmp,
                           git_url=git_server.repo_url("lab.git"))


def tree_listing(root):
    """{relative path: ("file", executable, bytes) | ("link", target)} of a snapshot tree."""
    out = {}
    for dirpath, dirnames, filenames in os.walk(root):
        for name in dirnames + filenames:
            full = os.path.join(dirpath, name)
            rel = os.path.relpath(full, root)
            if os.path.islink(full):
                out[rel] = ("link", os.readlink(full))
            elif os.path.isfile(full):
                out[rel] = ("file", os.access(full, os.X_OK), Path(full).read_bytes())
    return out


def retitle(i, path):
    """A change to a manifest document: layer `i` claims `path` (both path annotations)."""
    def change(doc):
        doc["layers"][i]["annotations"].update({"org.opencontainers.image.title": path,
                                                "org.cncf.model.filepath": path})
    return change
