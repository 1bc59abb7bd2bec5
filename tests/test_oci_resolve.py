"""Resolving from a registry: as a store mirror, as a source, and as a spec that needs no config.

Real parts: the lab's git source served by `git http-backend`, weights on a 127.0.0.1 file server,
Debian's docker-registry, skopeo. The lab pushes its models; then the git server is stopped and
the weights' URL answers 404, and another HOME with an empty store resolves everything through the
registry. Every layer is verified before it is published: hostile manifests and damaged blobs leave
nothing in the store.
"""

import hashlib
import json
import os
from pathlib import Path
from types import SimpleNamespace

import pytest
from hypothesis import given
from hypothesis import strategies as st

from conftest import run_kipoi, store_files
from fileserver import FileServer
from gitserver import GitHTTPServer
from ocilab import EXPECTED, REMOTE_WEIGHTS, SPECS, build_lab, make_env, ok, retitle, tree_listing

from kipoi_store.dist.oci import artifact
from kipoi_store.dist.oci.client import Repository

REPO = "lab/models"


# -- the spec form, pure ---------------------------------------------------------------------------

@pytest.mark.parametrize("text, registry, repo, ref, path", [
    ("oci://127.0.0.1:5000/lab/models:v0.4/rbp_eclip/UPF1", "127.0.0.1:5000", "lab/models", "v0.4",
     "rbp_eclip/UPF1"),
    ("oci://GHCR.io/kipoi/models@sha256:" + "a" * 64 + "/Basset", "ghcr.io", "kipoi/models",
     "sha256:" + "a" * 64, "Basset"),
    ("oci://docker.io/lab/models:latest/a//b/", "docker.io", "lab/models", "latest", "a/b"),
])
def test_registry_specs_parse_and_format_back(text, registry, repo, ref, path):
    from kipoi_store import spec

    got = spec.parse(text)
    assert spec.is_registry(got)
    assert (got.host, got.repo, got.ref, got.path) == ("oci://" + registry, repo, ref, path)
    assert spec.parse(spec.format(got)) == got


@pytest.mark.parametrize("text, why", [
    ("oci://h/Lab/models:v1/M", "not a registry repository name"),
    ("oci://h/lab/models/M", "must look like"),
    ("oci://h/lab/models@sha256:abc/M", "not sha256: and 64"),
    ("oci://h/lab/models:-v1/M", "not a registry tag"),
    ("oci://h/lab/models:v1", "the model path is empty"),
    ("oci://h/lab/models:v1/../M", "leaves its source"),
    ("oci://h:99999/lab/models:v1/M", "not a valid host"),
])
def test_bad_registry_specs_are_refused_naming_the_spec(text, why):
    from kipoi_store import spec
    from kipoi_store.errors import SpecError

    with pytest.raises(SpecError, match="bad spec '%s': .*%s" % (text.replace("?", "."), why)):
        spec.parse(text)


_component = st.from_regex(r"[a-z0-9]{1,4}(?:[._-][a-z0-9]{1,3})?", fullmatch=True)


@given(repo=st.lists(_component, min_size=1, max_size=3).map("/".join),
       tag=st.from_regex(r"[A-Za-z0-9_][A-Za-z0-9._-]{0,20}", fullmatch=True),
       path=st.lists(st.from_regex(r"[A-Za-z0-9_][A-Za-z0-9_.+-]{0,8}", fullmatch=True),
                     min_size=1, max_size=3).map("/".join),
       digest=st.one_of(st.none(), st.from_regex(r"[0-9a-f]{64}", fullmatch=True)))
def test_registry_specs_round_trip(repo, tag, path, digest):
    from kipoi_store import spec

    ref = ("@sha256:" + digest) if digest else (":" + tag)
    text = "oci://reg.example.org:5000/%s%s/%s" % (repo, ref, path)
    parsed = spec.parse(text)
    assert spec.format(parsed) == spec.format(spec.parse(spec.format(parsed)))
    assert parsed.repo == repo and parsed.ref == ref[1:]


@pytest.fixture(scope="module")
def lab(tmp_path_factory, oci_registry):
    """The lab pushed its models (with their weights and examples) to REPO; then its git server
    stopped and the weights' URL answers 404."""
    tmp = tmp_path_factory.mktemp("oci-resolve")
    with FileServer() as files:
        with GitHTTPServer(tmp / "served") as git_server:
            built = build_lab(tmp, git_server, files)
            pushed = ok("kipoi", "store", "push", *SPECS, oci_registry.ref(REPO), env=built.env)
        for path in ("/zenodo/record/7/weights.h5", "/zenodo/record/7/expect.h5"):
            files.files[path]["fault"] = "404"  # the record is gone
        yield SimpleNamespace(**vars(built), pushed=pushed.stdout.split(), files=files,
                              registry=oci_registry)


@pytest.fixture
def node(tmp_path, lab):
    """A compute node: an empty store, the lab's config (its origins are down)."""
    env = make_env(tmp_path / "node")
    (Path(env["KIPOI_HOME"]) / "config.yaml").write_text(lab.config)
    return env


def snapshot(store, record):
    return tree_listing(Path(store) / "snapshots" / record["key"])


def node_store(env):
    return Path(env["KIPOI_HOME"]) / "store"


def test_a_registry_mirror_serves_pinned_models_with_the_origin_gone(lab, node):
    node = dict(node, KIPOI_STORE_MIRRORS=lab.registry.ref(REPO))
    pinned = [r["pinned"] for r in lab.records]
    r = ok("kipoi", "source", "resolve", "--examples", "--json", *pinned, env=node)
    for line, record in zip(r.stdout.splitlines(), lab.records, strict=True):
        got = json.loads(line)
        assert got["key"] == record["key"]
        assert snapshot(node_store(node), record) == snapshot(lab.store, record)
    weights = json.loads(r.stdout.splitlines()[-1])["files"]
    assert {Path(f).read_bytes() for f in weights} == {REMOTE_WEIGHTS, EXPECTED}
    ok("kipoi", "store", "verify", env=node)


def test_a_dead_url_revives_by_md5_from_the_registry(lab, tmp_path):
    """Another source's model names the same dead URL and md5: its weights come from the
    registry's md5-<hex> tag."""
    folder = tmp_path / "mine"
    (folder / "M").mkdir(parents=True)
    (folder / "M" / "model.yaml").write_text(
        "defined_as: model.Model\nargs:\n  weights:\n    url: %s\n    md5: %s\n"
        % (lab.weights_url, hashlib.md5(REMOTE_WEIGHTS).hexdigest()))
    env = make_env(tmp_path / "home")
    ok("kipoi", "source", "add", "mine", str(folder), env=env)
    dead = run_kipoi("kipoi", "source", "resolve", "--files", "mine:M", env=env)
    assert dead.returncode == 1 and "(not found)" in dead.stderr, dead.stderr
    env["KIPOI_STORE_MIRRORS"] = lab.registry.ref(REPO)
    r = ok("kipoi", "source", "resolve", "--files", "--json", "mine:M", env=env)
    assert [Path(f).read_bytes() for f in json.loads(r.stdout)["files"]] == [REMOTE_WEIGHTS]


def test_a_registry_spec_needs_no_config_and_its_pin_resolves_offline(lab, tmp_path):
    env = make_env(tmp_path / "home")
    spec = "%s:v0.2/rbp_eclip/UPF1" % lab.registry.ref(REPO)
    r = ok("kipoi", "source", "resolve", "--json", spec, env=env)
    got = json.loads(r.stdout)
    upf1 = lab.records[0]
    assert got["commit"] == upf1["commit"]
    # A registry cannot prove what it calls commit C is C: its models get a snapshot key of their
    # own, so no registry can change what lab:PATH@C resolves to.
    assert got["key"] != upf1["key"]
    assert snapshot(node_store(env), got) == snapshot(lab.store, upf1)
    assert got["pinned"] == lab.pushed[0]  # what push printed: the model's manifest by digest
    offline = ok("kipoi", "source", "resolve", "--offline", "--json", got["pinned"], env=env)
    assert json.loads(offline.stdout)["directory"] == got["directory"]
    # The pinned spec in a fresh store: from the registry, the same bytes.
    env2 = make_env(tmp_path / "home2")
    again = json.loads(ok("kipoi", "source", "resolve", "--json", got["pinned"], env=env2).stdout)
    assert snapshot(node_store(env2), again) == snapshot(lab.store, upf1)
    assert again["pinned"] == got["pinned"] and again["key"] == got["key"]


def test_a_registry_source_lists_and_resolves_and_kipoi_still_loads_the_config(lab, tmp_path,
                                                                                 kipoi_reader):
    env = make_env(tmp_path / "home")
    ok("kipoi", "source", "add", "reg", lab.registry.ref(REPO), env=env)
    text = (Path(env["KIPOI_HOME"]) / "config.yaml").read_text()
    assert "type: oci" in text.split("source_settings:")[1]
    names = ok("kipoi", "source", "models", "reg@v0.2", env=env).stdout.split()
    assert names == ["rbp_eclip/UPF1"]
    latest = ok("kipoi", "source", "models", "reg", env=env).stdout.split()
    assert latest == sorted(r["model"] for r in lab.records[1:])
    r = ok("kipoi", "source", "resolve", "--json", "reg:Basset", "reg:rbp_eclip/UPF1@v0.2", env=env)
    basset, upf1 = (json.loads(line) for line in r.stdout.splitlines())
    assert basset["commit"] == lab.records[1]["commit"] and upf1["commit"] == lab.records[0]["commit"]
    assert upf1["pinned"] == "reg:rbp_eclip/UPF1@" + lab.records[0]["key"]  # the key's tag
    offline = ok("kipoi", "source", "resolve", "--offline", upf1["pinned"], env=env)
    assert offline.stdout.strip() == upf1["directory"]
    # A tag offline: the snapshot it named when last asked, said on stderr.
    offline = ok("kipoi", "source", "resolve", "--offline", "reg:Basset", env=env)
    assert offline.stdout.strip() == basset["directory"]
    assert "which tag latest named when last asked" in offline.stderr
    assert ok("kipoi", "source", "pin", "reg:Basset", env=env).stdout.strip() == \
        "reg:Basset@" + lab.records[1]["key"]
    listed = ok("kipoi", "source", "list", env=env).stdout
    assert "reg\toci" in listed
    # gc keeps what the source's tag (latest) names, not what another tag named once.
    ok("kipoi", "store", "gc", "--keep-days", "0", env=env)
    assert Path(basset["directory"]).is_dir() and not Path(upf1["directory"]).exists()
    if kipoi_reader is not None:  # kipoi 0.8.6 loads it, and sees only its own sources
        names = [s[0] for s in kipoi_reader.sources(text)]
        assert "reg" not in names and "kipoi" in names
    ok("kipoi", "source", "rename", "reg", "lab2", env=env)
    ok("kipoi", "source", "remove", "lab2", env=env)
    assert "lab2" not in (Path(env["KIPOI_HOME"]) / "config.yaml").read_text()


def write_layout(root, files, config=b"{}", config_type="application/vnd.oci.empty.v1+json",
                 annotations=None, tag="v1"):
    """An OCI image layout written by hand, as another tool would: one manifest of raw layers."""
    blobs = root / "blobs" / "sha256"
    blobs.mkdir(parents=True)

    def blob(data):
        digest = hashlib.sha256(data).hexdigest()
        (blobs / digest).write_bytes(data)
        return "sha256:" + digest

    layers = [{"mediaType": artifact.WEIGHT, "digest": blob(data), "size": len(data),
               "annotations": {"org.opencontainers.image.title": path,
                               "org.cncf.model.filepath": path}}
              for path, data in files.items()]
    manifest = {"schemaVersion": 2, "mediaType": artifact.MANIFEST_TYPE,
                "artifactType": artifact.ARTIFACT_TYPE,
                "config": {"mediaType": config_type, "digest": blob(config), "size": len(config)},
                "layers": layers}
    if annotations:
        manifest["annotations"] = annotations
    data = json.dumps(manifest).encode()
    digest = blob(data)
    (root / "oci-layout").write_text('{"imageLayoutVersion": "1.0.0"}')
    (root / "index.json").write_text(json.dumps({"schemaVersion": 2, "manifests": [
        {"mediaType": artifact.MANIFEST_TYPE, "digest": digest, "size": len(data),
         "annotations": {"org.opencontainers.image.ref.name": tag}}]}))
    return digest


def test_an_artifact_another_tool_laid_out_resolves(lab, tmp_path, skopeo):
    files = {"model.yaml": b"defined_as: model.Model\n", "model.py": b"class Model:\n    pass\n",
             "weights.h5": b"\x00weights\x01" * 50}
    config = json.dumps({"descriptor": {"name": "theirs"}, "config": {},
                         "modelfs": {"type": "layers", "diffIds": []}}).encode()
    digest = write_layout(tmp_path / "layout", files, config, artifact.CONFIG_TYPE)
    skopeo("copy", "--dest-tls-verify=false", "oci:%s:v1" % (tmp_path / "layout"),
           "docker://%s/other/model:v1" % lab.registry.host)
    env = make_env(tmp_path / "home")
    spec = "%s:v1/theirs/M" % lab.registry.ref("other/model")
    got = json.loads(ok("kipoi", "source", "resolve", "--json", spec, env=env).stdout)
    from kipoi_store.sources.oci import store_key

    # Its snapshot is its manifest's digest, under the key this repository's snapshots get.
    assert got["key"] == store_key(lab.registry.ref("other/model"), digest.split(":")[1])
    assert {p: Path(got["directory"], p).read_bytes() for p in files} == files
    assert got["pinned"] == "%s@%s/theirs/M" % (lab.registry.ref("other/model"), digest)


def hostile_repo(lab, name, change):
    """Push a manifest of the lab's shape (two layers, their blobs uploaded) changed by `change`."""
    repo = Repository(lab.registry.ref(name), push=True)
    # Bytes of this repository's own: a registry keeps one blob per digest for all its repositories.
    blobs = {"M/model.yaml": b"defined_as: model.Model\n", "M/w.h5": b"weights of %s " % name.encode() * 100}
    files = []
    for path, data in blobs.items():
        digest = hashlib.sha256(data).hexdigest()
        repo.push_blob("sha256:" + digest, len(data), lambda data=data: __import__("io").BytesIO(data))
        files.append(artifact.ModelFile(path, digest, len(data)))
    art = artifact.ModelArtifact("M", "2" * 40, files, commit="2" * 40)
    data, config = artifact.model_manifest(art)
    repo.push_blob("sha256:" + hashlib.sha256(config).hexdigest(), len(config),
                   lambda: __import__("io").BytesIO(config))
    doc = json.loads(data)
    change(doc)
    repo.put_manifest("v1", json.dumps(doc).encode(), artifact.MANIFEST_TYPE)
    return repo, blobs


@pytest.mark.parametrize("name, change, why", [
    ("dotdot", retitle(0, "M/../../x"), "'..'"),
    ("absolute", retitle(0, "/etc/x"), "absolute"),
    ("duplicate", retitle(1, "M/model.yaml"), "appears twice"),
])
def test_hostile_manifests_leave_nothing_in_the_store(lab, tmp_path, name, change, why):
    hostile_repo(lab, "hostile/" + name, change)
    env = make_env(tmp_path / "home")
    r = run_kipoi("kipoi", "source", "resolve", "%s:v1/M" % lab.registry.ref("hostile/" + name), env=env)
    assert r.returncode == 1 and why in r.stderr and r.stderr.startswith("kipoi: error: ")
    assert "Traceback" not in r.stderr
    assert store_files(node_store(env)) == []


def test_a_damaged_layer_leaves_nothing_in_the_store(lab, tmp_path):
    repo, blobs = hostile_repo(lab, "hostile/damaged", lambda doc: None)
    damaged = lab.registry.blob_path("sha256:" + hashlib.sha256(blobs["M/w.h5"]).hexdigest())
    os.chmod(damaged, 0o644)
    damaged.write_bytes(b"W" + damaged.read_bytes()[1:])  # same size, other bytes
    env = make_env(tmp_path / "home")
    r = run_kipoi("kipoi", "source", "resolve", "%s:v1/M" % lab.registry.ref("hostile/damaged"), env=env)
    assert r.returncode == 1 and "wrong content" in r.stderr, r.stderr
    assert store_files(node_store(env)) == []  # model.yaml's good layer was not kept either


def test_our_artifact_carried_by_skopeo_to_another_repository_resolves_the_same(lab, tmp_path, skopeo):
    """skopeo copies the Remote model's artifact out to an OCI layout directory and into another
    repository under a tag of its own: resolved from there, it is the lab's model, weights and all."""
    remote = lab.pushed[-1]
    digest = remote.split("@")[1].split("/")[0]
    skopeo("copy", "--src-tls-verify=false", "docker://%s/%s@%s" % (lab.registry.host, REPO, digest),
           "oci:%s:carried" % (tmp_path / "layout"))
    skopeo("copy", "--dest-tls-verify=false", "oci:%s:carried" % (tmp_path / "layout"),
           "docker://%s/elsewhere/models:carried" % lab.registry.host)
    env = make_env(tmp_path / "home")
    spec = "%s:carried/Remote" % lab.registry.ref("elsewhere/models")
    got = json.loads(ok("kipoi", "source", "resolve", "--examples", "--json", spec, env=env).stdout)
    assert got["pinned"] == "%s@%s/Remote" % (lab.registry.ref("elsewhere/models"), digest)
    assert tree_listing(got["directory"]) == tree_listing(lab.records[-1]["directory"])
    assert {Path(f).read_bytes() for f in got["files"]} == {REMOTE_WEIGHTS, EXPECTED}


def test_the_mirror_reads_objects_by_sha256_and_drops_a_registry_serving_wrong_bytes(lab, tmp_path):
    """What an LFS object costs through a registry mirror: one blob by its sha256. A registry whose
    blob does not match is dropped for the run, with one warning, and nothing enters the store."""
    from kipoi_store.dist.mirrors import Mirrors
    from kipoi_store.store.core.store import Store

    weights = hashlib.sha256(REMOTE_WEIGHTS).hexdigest()
    store, warnings = Store(tmp_path / "store"), []
    mirrors = Mirrors([lab.registry.ref(REPO)], store, warn=warnings.append)
    assert mirrors.fetch_object("0" * 64) is False and warnings == []
    assert mirrors.fetch_object(weights, len(REMOTE_WEIGHTS)) is True
    assert store.object_path(weights).read_bytes() == REMOTE_WEIGHTS
    # Another repository of the registry holding the same digest with other bytes.
    repo, blobs = hostile_repo(lab, "hostile/mirror", lambda doc: None)
    damaged = hashlib.sha256(blobs["M/w.h5"]).hexdigest()
    path = lab.registry.blob_path("sha256:" + damaged)
    os.chmod(path, 0o644)
    size = path.stat().st_size
    path.write_bytes(b"W" + path.read_bytes()[1:])
    mirrors = Mirrors([lab.registry.ref("hostile/mirror")], store, warn=warnings.append)
    assert mirrors.fetch_object(damaged, size) is False
    assert len(warnings) == 1 and "wrong" in warnings[0] and "not asked again" in warnings[0]
    assert not store.has_object(damaged)
    assert os.listdir(store.tmp_dir) == []


def test_the_mirror_gets_each_blob_without_asking_first(oci_faults, oci_env, tmp_path):
    """An object through a registry mirror is one GET: no HEAD before it. A blob the registry does
    not have is a quiet miss, and one of another size than expected never enters the store."""
    from kipoi_store.dist.mirrors import Mirrors
    from kipoi_store.store.core.store import Store

    data = os.urandom(50000)
    digest = oci_faults.add_blob(data)[len("sha256:"):]
    store, warnings = Store(tmp_path / "store"), []
    mirrors = Mirrors(["oci://%s/lab/x" % oci_faults.host], store, warn=warnings.append)
    assert mirrors.fetch_object(digest, len(data)) is True
    assert store.object_path(digest).read_bytes() == data
    assert mirrors.fetch_object("0" * 64) is False and warnings == []
    asked = [(r.method, r.path.rsplit("/", 1)[-1]) for r in oci_faults.requests if "/blobs/" in r.path]
    assert asked == [("GET", "sha256:" + digest), ("GET", "sha256:" + "0" * 64)]
    other = oci_faults.add_blob(os.urandom(1000))[len("sha256:"):]
    assert mirrors.fetch_object(other, 999) is False
    assert not store.has_object(other) and os.listdir(store.tmp_dir) == []


def tag_model(lab, name, tag, key, weights):
    """Point `tag` of repository `name` at model M of snapshot `key`, whose weights are `weights`."""
    import io

    repo = Repository(lab.registry.ref(name), push=True)
    files = []
    for path, data in {"M/model.yaml": b"defined_as: model.Model\n", "M/w.h5": weights}.items():
        digest = hashlib.sha256(data).hexdigest()
        repo.push_blob("sha256:" + digest, len(data), lambda data=data: io.BytesIO(data))
        files.append(artifact.ModelFile(path, digest, len(data)))
    data, config = artifact.model_manifest(artifact.ModelArtifact("M", key, files, commit=key))
    repo.push_blob("sha256:" + hashlib.sha256(config).hexdigest(), len(config),
                   lambda: io.BytesIO(config))
    repo.put_manifest(tag, data, artifact.MANIFEST_TYPE)


def test_a_registry_source_asks_its_tag_again_only_as_refresh_says(lab, tmp_path):
    """Like a git source's ref: the tag's answer is reused while younger than `refresh`;
    --refresh and `kipoi source fetch` ask again; refresh 0s asks every time; offline, the
    last answer."""
    import re

    env = make_env(tmp_path / "home")
    ref = lab.registry.ref("moving/models")
    ok("kipoi", "source", "add", "mov", ref, env=env)
    config = Path(env["KIPOI_HOME"]) / "config.yaml"

    def refresh(setting):
        text = re.sub(r"\n *refresh: .*(?=\n)", "", config.read_text())
        text = re.sub(r"\n( *)(remote_url: %s)\n" % re.escape(ref),
                      lambda m: "\n%s%s\n%srefresh: %s\n" % (m.group(1), m.group(2), m.group(1), setting),
                      text)
        config.write_text(text)
        assert ok("kipoi", "source", "show", "mov", env=env).stdout.count("refresh") == 1

    def weights(*flags):
        got = json.loads(ok("kipoi", "source", "resolve", "--json", *flags, "mov:M", env=env).stdout)
        return Path(got["directory"], "w.h5").read_bytes()

    refresh("1h")
    tag_model(lab, "moving/models", "latest", "4" * 40, b"first")
    assert weights() == b"first"
    tag_model(lab, "moving/models", "latest", "5" * 40, b"second")
    assert weights() == b"first"                 # asked less than an hour ago
    assert weights("--refresh") == b"second"
    tag_model(lab, "moving/models", "latest", "6" * 40, b"third")
    fetched = ok("kipoi", "source", "fetch", "mov", env=env).stdout
    assert fetched.startswith("mov\tsha256:")
    assert weights() == b"third"
    refresh("0s")
    tag_model(lab, "moving/models", "latest", "7" * 40, b"fourth")
    assert weights() == b"fourth"
    assert weights("--offline") == b"fourth"


def test_a_git_lfs_source_whose_lfs_server_is_gone_gets_its_objects_from_a_registry_mirror(
        oci_registry, tmp_path):
    """The lab pulls its git-lfs source (LFS objects read through file://) and pushes the models.
    The registry is then left with their blobs only (each snapshot's index deleted), so a node
    resolving the pinned specs gets the trees from git (over http) and every LFS object from the
    registry by its sha256: the LFS server it is configured with (recording every request) is
    never asked."""
    from gitserver import build_kipoi_repo
    from lfsserver import FaultServer

    with GitHTTPServer(tmp_path / "served") as git_server:
        repo = build_kipoi_repo(git_server.root / "lab.git", lfs=True)
        source = ("model_sources:\n  lab:\n    type: git-lfs\n    remote_url: %s\n"
                  "    local_path: ~/.kipoi/models/lab\n    auto_update: true\n")
        lab = make_env(tmp_path / "lab")
        # The lab reads the LFS objects from the bare repository, as git-lfs does for file://.
        (Path(lab["KIPOI_HOME"]) / "config.yaml").write_text(
            source % ("file://%s" % repo.bare) + "source_settings:\n  lab:\n    lfs_url: file://%s\n"
            % repo.bare)
        specs = ["lab:rbp_eclip/UPF1@v0.2", "lab:Basset"]
        records = [json.loads(line) for line in
                   ok("kipoi", "source", "pull", "--json", *specs, env=lab).stdout.splitlines()]
        ok("kipoi", "store", "push", *specs, oci_registry.ref("lfs/models"), env=lab)
        registry = Repository(oci_registry.ref("lfs/models"), push=True)
        for key in {r["key"] for r in records}:
            assert registry.delete_manifest(registry.manifest_digest(key))
        gone = FaultServer()
        gone.start()
        try:
            node = make_env(tmp_path / "node", KIPOI_STORE_MIRRORS=oci_registry.ref("lfs/models"))
            (Path(node["KIPOI_HOME"]) / "config.yaml").write_text(
                source % git_server.repo_url("lab.git") + "source_settings:\n  lab:\n    lfs_url: %s\n"
                % gone.url)
            got = [json.loads(line) for line in ok("kipoi", "source", "resolve", "--json",
                                                    *[r["pinned"] for r in records],
                                                    env=node).stdout.splitlines()]
            assert gone.requests == []
            # Without the registry the same node config asks that LFS server, and fails.
            bare = dict(node, KIPOI_STORE_MIRRORS="", KIPOI_HOME=str(tmp_path / "bare"))
            os.makedirs(bare["KIPOI_HOME"])
            Path(bare["KIPOI_HOME"], "config.yaml").write_text(
                Path(node["KIPOI_HOME"], "config.yaml").read_text())
            failed = run_kipoi("kipoi", "source", "resolve", records[0]["pinned"], env=bare)
            assert failed.returncode == 1 and gone.requests
        finally:
            gone.stop()
    for mine, theirs in zip(got, records, strict=True):
        assert mine["key"] == theirs["key"]
        assert snapshot(node_store(node), mine) == snapshot(node_store(lab), theirs)
    weights = Path(got[0]["directory"], "model.weights").read_bytes()
    assert weights == b"UPF1 weights v2\n" and hashlib.sha256(weights).hexdigest() in repo.lfs_objects
    ok("kipoi", "store", "verify", env=node)


def test_blobs_pulled_from_one_repository_are_mounted_when_pushed_to_another(lab, tmp_path):
    """A node resolves a model from the lab's repository, then publishes it in a repository of its
    own on the same registry: every file's blob is mounted from where it was pulled, none sent."""
    env = make_env(tmp_path / "home")
    spec = "%s:v0.2/rbp_eclip/UPF1" % lab.registry.ref(REPO)
    got = json.loads(ok("kipoi", "source", "resolve", "--json", spec, env=env).stdout)
    digest = got["pinned"].split("@")[1].split("/")[0]
    layers = json.loads(Repository(lab.registry.ref(REPO)).get_manifest(digest)[0])["layers"]
    pushed = ok("kipoi", "store", "push", spec, lab.registry.ref("node/own"), env=env)
    import re

    uploaded, mounted = (int(x) for x in re.search(r"(\d+) blob\(s\) uploaded .*, (\d+) mounted",
                                                   pushed.stderr).groups())
    assert (uploaded, mounted) == (1, len(layers))  # sent: the config blob, naming its new source
