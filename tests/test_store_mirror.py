"""A lab publishes its store as a mirror; other machines resolve through it with the origin down.

Real parts: a git-lfs repository made with the real git and git-lfs clients, served by
`git http-backend`, its LFS objects in a private giftless; a model file on a 127.0.0.1 file server;
the mirror written by `kipoi store export --mirror` and served by a real nginx. Once the lab has
exported, every origin is stopped (the file server stays up, answering 404 for the weights).
"""

import hashlib
import json
import os
import stat
import subprocess
from pathlib import Path
from types import SimpleNamespace

import pytest

from conftest import isolated_env, ok, run_kipoi
from fileserver import FileServer
from giftless import Giftless, giftless_venv
from gitserver import HISTORY, GitHTTPServer, build_kipoi_repo
from mirrorfaults import FAULTS, FaultMirror
from nginx import Nginx, nginx_binary

REMOTE_WEIGHTS = b"weights that live on zenodo " * 300
EXPECTED = b"what kipoi test compares predictions with\n"

SPECS = ["lab:rbp_eclip/UPF1@v0.2", "lab:Basset", "lab:CpGenie/A549", "lab:Remote"]


def make_env(home):
    return isolated_env(home)


def tree_listing(root):
    """{relative path: ("file", mode bits, bytes) | ("link", target) | ("dir", mode bits)}."""
    out = {}
    for dirpath, dirnames, filenames in os.walk(root):
        for name in dirnames + filenames:
            full = os.path.join(dirpath, name)
            rel = os.path.relpath(full, root)
            st = os.lstat(full)
            if stat.S_ISLNK(st.st_mode):
                out[rel] = ("link", os.readlink(full))
            elif stat.S_ISDIR(st.st_mode):
                out[rel] = ("dir", stat.S_IMODE(st.st_mode))
            else:
                out[rel] = ("file", stat.S_IMODE(st.st_mode), Path(full).read_bytes())
    return out


def store_state(store):
    """What an import may change: every path under objects/, snapshots/, manifests/ with its inode
    and modification time."""
    state = {}
    for part in ("objects", "snapshots", "manifests"):
        for dirpath, dirnames, filenames in os.walk(Path(store) / part):
            for name in dirnames + filenames:
                st = os.lstat(os.path.join(dirpath, name))
                state[os.path.join(dirpath, name)] = (st.st_ino, st.st_mtime_ns, st.st_size)
    return state


@pytest.fixture(scope="module")
def lab(tmp_path_factory):
    """The lab: sources served, models pulled, exported as a mirror and a bundle; then the git and
    LFS servers stopped and the weights' URL answering 404."""
    venv = giftless_venv()
    if venv is None:
        if os.environ.get("KIPOI_TEST_REQUIRE_SERVERS") == "1":
            pytest.fail("giftless venv not found (bash scripts/setup --with-servers)")
        pytest.skip("giftless venv not found")
    if nginx_binary() is None:
        pytest.fail("nginx not installed (bash scripts/setup installs nginx-light)")
    tmp = tmp_path_factory.mktemp("lab")
    files = FileServer().__enter__()
    giftless = Giftless(venv, tmp / "giftless").start()
    git_server = GitHTTPServer(tmp / "served").start()
    try:
        url = files.add("/zenodo/record/7/weights.h5", REMOTE_WEIGHTS)
        expect_url = files.add("/zenodo/record/7/expect.h5", EXPECTED)
        remote = {"Remote/model.yaml": "defined_as: model.Model\nargs:\n  weights:\n    url: %s\n"
                                       "    md5: %s\ntest:\n  expect:\n    url: %s\n    md5: %s\n"
                                       % (url, hashlib.md5(REMOTE_WEIGHTS).hexdigest(), expect_url,
                                          hashlib.md5(EXPECTED).hexdigest()),
                  "Remote/model.py": "class Model:\n    pass\n"}
        repo = build_kipoi_repo(git_server.root / "lab.git", lfs=True,
                                lfs_url=giftless.lfs_url("lab/models"),
                                history=HISTORY + [("a model with remote weights", remote)], push_lfs=True)
        config = ("model_sources:\n  lab:\n    type: git-lfs\n    remote_url: %s\n"
                  "    local_path: ~/.kipoi/models/lab\n    auto_update: true\n"
                  % git_server.repo_url("lab.git"))
        env = make_env(tmp / "lab-home")
        Path(env["KIPOI_HOME"]).mkdir()
        (Path(env["KIPOI_HOME"]) / "config.yaml").write_text(config)
        pulled = ok("kipoi", "source", "pull", "--json", *SPECS, env=env).stdout
        records = [json.loads(line) for line in pulled.splitlines()]
        mirror, bundle = tmp / "mirror", tmp / "models.tar"
        exported = ok("kipoi", "store", "export", "--examples", "--mirror", str(mirror), *SPECS, env=env)
        ok("kipoi", "store", "export", "--examples", "-o", str(bundle), *SPECS, env=env)
    finally:
        git_server.stop()
        giftless.stop()
    for path in ("/zenodo/record/7/weights.h5", "/zenodo/record/7/expect.h5"):
        files.files[path]["fault"] = "404"  # the record is gone
    try:
        yield SimpleNamespace(env=env, config=config, records=records, mirror=mirror, bundle=bundle,
                              pinned=exported.stdout.split(), store=Path(env["KIPOI_HOME"]) / "store",
                              files=files, weights_url=url, tmp=tmp, repo=repo,
                              git_url=git_server.repo_url("lab.git"))
    finally:
        files.__exit__(None, None, None)


@pytest.fixture(scope="module")
def nginx(lab):
    with Nginx(root=lab.mirror, prefix=lab.tmp / "nginx") as server:
        yield server


@pytest.fixture
def node(tmp_path, lab):
    """A compute node: an empty store on another HOME with the lab's config (origins are down)."""
    env = make_env(tmp_path / "node")
    Path(env["KIPOI_HOME"]).mkdir()
    (Path(env["KIPOI_HOME"]) / "config.yaml").write_text(lab.config)
    return env


def snapshot(store, record):
    return tree_listing(Path(store) / "snapshots" / record["key"])


def test_export_prints_pinned_specs_and_a_second_export_writes_nothing(lab):
    assert lab.pinned == [r["pinned"] for r in lab.records]
    again = ok("kipoi", "store", "export", "--files", "--mirror", str(lab.mirror), *lab.pinned,
               env=lab.env)
    assert ": 0 object(s) written (0 bytes)" in again.stderr
    assert json.loads((lab.mirror / "kipoi-mirror.json").read_text())["layout"] == 1


def test_export_streams_the_same_bundle_to_stdout(lab, tmp_path):
    streamed = tmp_path / "streamed.tar"
    with open(streamed, "wb") as out:
        r = subprocess.run([str(Path(os.sys.executable).parent / "kipoi"), "store", "export",
                            "--examples", "-o", "-", *lab.pinned], env=lab.env, stdout=out,
                           stderr=subprocess.PIPE, text=True)
    assert r.returncode == 0, r.stderr
    assert streamed.read_bytes() == lab.bundle.read_bytes()


@pytest.mark.parametrize("form", ["tar", "directory", "stdin"])
def test_import_on_another_home_gives_the_same_snapshots_offline(lab, node, form):
    source = {"tar": str(lab.bundle), "directory": str(lab.mirror), "stdin": "-"}[form]
    stdin = lab.bundle.read_bytes() if form == "stdin" else None
    if stdin is not None:
        r = subprocess.run([str(Path(os.sys.executable).parent / "kipoi"), "store", "import", "-"],
                           input=stdin, env=node, capture_output=True)
        assert r.returncode == 0, r.stderr
    else:
        ok("kipoi", "store", "import", source, env=node)
    store = Path(node["KIPOI_HOME"]) / "store"
    for record in lab.records:
        assert snapshot(store, record) == snapshot(lab.store, record)
    ok("kipoi", "store", "verify", env=node)
    offline = ok("kipoi", "source", "pull", "--offline", "--json", *lab.pinned, env=node)
    for line, record in zip(offline.stdout.splitlines(), lab.records, strict=True):
        got = json.loads(line)
        assert got["directory"] == record["directory"].replace(str(lab.store), str(store))
    weights = [f for f in json.loads(offline.stdout.splitlines()[-1])["files"]]
    assert [Path(f).read_bytes() for f in weights] == [REMOTE_WEIGHTS]
    before = store_state(store)
    if stdin is None:
        again = run_kipoi("kipoi", "store", "import", source, env=node)
    else:
        again = subprocess.run([str(Path(os.sys.executable).parent / "kipoi"), "store", "import", "-"],
                               input=stdin, env=node, capture_output=True)
    assert again.returncode == 0 and not again.stdout
    assert store_state(store) == before


def test_pinned_git_lfs_spec_resolves_through_nginx_with_origins_down(lab, nginx, node):
    node = dict(node, KIPOI_STORE_MIRRORS=nginx.url)
    upf1 = lab.records[0]
    r = ok("kipoi", "source", "resolve", "--json", upf1["pinned"], env=node)
    got = json.loads(r.stdout)
    store = Path(node["KIPOI_HOME"]) / "store"
    assert snapshot(store, got) == snapshot(lab.store, upf1)
    assert b"UPF1 weights v2\n" == (Path(got["directory"]) / "model.weights").read_bytes()
    assert not r.stderr
    served = nginx.requests()
    assert "GET /manifests/%s/rbp_eclip%%252FUPF1.json 200" % upf1["key"] in served
    # No git remote was contacted: there is no clone in the node's store.
    assert not (store / "git").exists() and not any(store.glob("**/*.git"))
    ok("kipoi", "store", "verify", env=node)
    # The same spec with no mirror needs the origin, which is down: a clear failure.
    other = dict(node, KIPOI_STORE_MIRRORS="", KIPOI_HOME=node["KIPOI_HOME"] + "2")
    os.makedirs(other["KIPOI_HOME"])
    Path(other["KIPOI_HOME"], "config.yaml").write_text(lab.config)
    bare = run_kipoi("kipoi", "source", "resolve", upf1["pinned"], env=other)
    assert bare.returncode == 1
    assert bare.stderr.startswith("kipoi: error:") and "127.0.0.1" in bare.stderr


def test_lfs_objects_come_from_the_mirror_by_sha256_when_its_manifest_is_not_there(lab, nginx, node,
                                                                                   tmp_path):
    # The git server is back (on another port), the LFS server is still down, and the mirror has
    # no manifest for the model: the tree comes from git, the LFS weights from the mirror.
    upf1 = lab.records[0]
    [hidden] = (lab.mirror / "manifests" / upf1["key"]).glob("rbp_eclip%2FUPF1.json")
    hidden.rename(tmp_path / hidden.name)
    try:
        with GitHTTPServer(lab.tmp / "served") as git_server:
            config = lab.config.replace(lab.git_url, git_server.repo_url("lab.git"))
            Path(node["KIPOI_HOME"], "config.yaml").write_text(config)
            r = ok("kipoi", "source", "resolve", "--json", upf1["pinned"],
                   env=dict(node, KIPOI_STORE_MIRRORS=nginx.url))
    finally:
        (tmp_path / hidden.name).rename(hidden)
    store = Path(node["KIPOI_HOME"]) / "store"
    assert snapshot(store, json.loads(r.stdout)) == snapshot(lab.store, upf1)
    oid = hashlib.sha256(b"UPF1 weights v2\n").hexdigest()
    assert "GET /objects/sha256/%s/%s 200" % (oid[:2], oid) in nginx.requests()


def test_model_file_whose_url_is_gone_comes_from_the_mirror_by_md5(lab, nginx, node):
    node = dict(node, KIPOI_STORE_MIRRORS=nginx.url)
    r = ok("kipoi", "source", "pull", "--json", lab.pinned[-1], env=node)
    [weights] = json.loads(r.stdout)["files"]
    assert Path(weights).read_bytes() == REMOTE_WEIGHTS
    md5 = hashlib.md5(REMOTE_WEIGHTS).hexdigest()
    assert "GET /index/md5/%s/%s 200" % (md5[:2], md5) in nginx.requests()
    # Without the mirror the weights' URL answers 404: the pull fails, naming it.
    fresh = dict(node, KIPOI_HOME=node["KIPOI_HOME"] + "2")
    os.makedirs(fresh["KIPOI_HOME"])
    Path(fresh["KIPOI_HOME"], "config.yaml").write_text(lab.config)
    ok("kipoi", "source", "resolve", lab.pinned[-1], env=dict(fresh, KIPOI_STORE_MIRRORS=nginx.url))
    gone = run_kipoi("kipoi", "source", "pull", lab.pinned[-1], env=dict(fresh, KIPOI_STORE_MIRRORS=""))
    assert gone.returncode == 1
    assert "not found" in gone.stderr and "/zenodo/record/7/weights.h5" in gone.stderr


@pytest.mark.parametrize("fault", FAULTS)
def test_a_hostile_mirror_is_dropped_with_one_warning_and_the_next_one_serves(lab, nginx, node, fault):
    with FaultMirror(lab.mirror, fault, hang=3) as bad:
        env = dict(node, KIPOI_STORE_MIRRORS="%s %s" % (bad.url, nginx.url), KIPOI_READ_TIMEOUT="1")
        r = ok("kipoi", "source", "pull", "--examples", "--json", *lab.pinned, env=env)
        asked, bad_url = list(bad.log), bad.url
    store = Path(node["KIPOI_HOME"]) / "store"
    for line, record in zip(r.stdout.splitlines(), lab.records, strict=True):
        assert snapshot(store, json.loads(line)) == snapshot(lab.store, record)
    warnings = [line for line in r.stderr.splitlines() if line.startswith("kipoi: warning:")]
    assert warnings and all(bad_url in w for w in warnings), r.stderr
    if fault != "lacks":
        assert len(warnings) == 1, r.stderr  # dropped once, not asked again in this run
    if fault in ("500", "hang"):
        assert len(asked) == 1
    ok("kipoi", "store", "verify", env=node)  # nothing bad was stored


def test_examples_travel_in_a_bundle_and_resolve_offline(lab, node):
    ok("kipoi", "store", "import", str(lab.bundle), env=node)
    remote = lab.pinned[-1]
    r = ok("kipoi", "source", "resolve", "--examples", "--offline", "--json", remote, env=node)
    got = json.loads(r.stdout)
    md5 = hashlib.md5(EXPECTED).hexdigest()
    [expect] = [f for f in got["files"] if md5 not in f and "weights" not in f]
    assert Path(expect).read_bytes() == EXPECTED
    assert sorted(Path(f).read_bytes() for f in got["files"]) == sorted([EXPECTED, REMOTE_WEIGHTS])
    # The same offline on a store given the bundle exported without --examples: said plainly.
    bare = dict(node, KIPOI_HOME=node["KIPOI_HOME"] + "2")
    os.makedirs(bare["KIPOI_HOME"])
    Path(bare["KIPOI_HOME"], "config.yaml").write_text(lab.config)
    files_only = lab.tmp / "files-only.tar"
    if not files_only.exists():
        ok("kipoi", "store", "export", "--files", "-o", str(files_only), *lab.pinned, env=lab.env)
    ok("kipoi", "store", "import", str(files_only), env=bare)
    missing = run_kipoi("kipoi", "source", "resolve", "--examples", "--offline", remote, env=bare)
    assert missing.returncode == 1 and "/zenodo/record/7/expect.h5" in missing.stderr, missing.stderr


def test_an_imported_md5_index_serves_another_model_naming_the_same_file(lab, node, tmp_path):
    ok("kipoi", "store", "import", str(lab.bundle), env=node)
    # A model of the node's own, naming the same (now dead) URL and md5 as the lab's Remote.
    mine = tmp_path / "mine"
    (mine / "Same").mkdir(parents=True)
    (mine / "Same" / "model.yaml").write_text(
        "defined_as: model.Model\nargs:\n  weights:\n    url: %s\n    md5: %s\n"
        % (lab.weights_url, hashlib.md5(REMOTE_WEIGHTS).hexdigest()))
    ok("kipoi", "source", "add", "mine", str(mine), env=node)
    asked = len(lab.files.requests_for("/zenodo/record/7/weights.h5"))
    r = ok("kipoi", "source", "pull", "--json", "mine:Same", env=node)
    [weights] = json.loads(r.stdout)["files"]
    assert Path(weights).read_bytes() == REMOTE_WEIGHTS
    assert len(lab.files.requests_for("/zenodo/record/7/weights.h5")) == asked  # no download


def test_a_permalink_pinned_to_a_commit_resolves_through_the_mirror(lab, nginx, node):
    upf1 = lab.records[0]
    # github-permalink:lab/models/... goes to base_url, where no git server answers.
    config = lab.config + "  github-permalink:\n    type: github-permalink\n    local_path: %s\n" \
        "source_settings:\n  github-permalink:\n    base_url: http://127.0.0.1:9\n" % node["HOME"]
    Path(node["KIPOI_HOME"], "config.yaml").write_text(config)
    store = Path(node["KIPOI_HOME"]) / "store"
    links = ["github-permalink:lab/models/tree/%s/rbp_eclip/UPF1" % upf1["commit"],
             "github-permalink:lab/models/blob/%s/rbp_eclip/UPF1/model.yaml" % upf1["commit"]]
    r = ok("kipoi", "source", "resolve", "--json", *links, env=dict(node, KIPOI_STORE_MIRRORS=nginx.url))
    tree, blob = map(json.loads, r.stdout.splitlines())
    where = "%s/snapshots/%s/rbp_eclip/UPF1" % (store, upf1["commit"])
    assert tree["directory"] == blob["directory"] == where
    assert snapshot(store, tree) == snapshot(lab.store, upf1)
    assert tree["pinned"] == blob["pinned"] == links[0]
    assert not (store / "git").exists()  # no git remote was contacted
    # Without the mirror, the permalink needs its git server.
    fresh = dict(node, KIPOI_HOME=node["KIPOI_HOME"] + "2", KIPOI_STORE_MIRRORS="")
    os.makedirs(fresh["KIPOI_HOME"])
    Path(fresh["KIPOI_HOME"], "config.yaml").write_text(config)
    without = run_kipoi("kipoi", "source", "resolve", links[0], env=fresh)
    assert without.returncode == 1 and "127.0.0.1:9" in without.stderr, without.stderr


def test_mirrors_named_in_the_system_config_are_used(lab, nginx, node, tmp_path):
    system = tmp_path / "system.yaml"
    system.write_text("store_mirrors:\n  - %s\n" % nginx.url)
    r = ok("kipoi", "source", "resolve", "--json", lab.pinned[0],
           env=dict(node, KIPOI_SYSTEM_CONFIG=str(system)))
    got = json.loads(r.stdout)
    assert snapshot(Path(node["KIPOI_HOME"]) / "store", got) == snapshot(lab.store, lab.records[0])
