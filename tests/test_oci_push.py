"""kipoi store push: models become OCI artifacts in a real registry (Debian's docker-registry),
read back by skopeo, an independent client.

The mapping itself (dist/oci/artifact.py) is pure and tested first: the same snapshot gives the
same bytes, and what a registry hands back is refused when it is hostile.
"""

import hashlib
import json
import subprocess
import sys
from pathlib import Path

import pytest

from fileserver import FileServer
from gitserver import GitHTTPServer
from ocilab import EXPECTED, REMOTE_WEIGHTS, SPECS, build_lab, ok, retitle

from kipoi_store.dist.oci import artifact
from kipoi_store.errors import IntegrityError

SHA = {n: hashlib.sha256(n.encode()).hexdigest() for n in ("a", "b", "c")}


def sample(**changes):
    fields = dict(name="rbp_eclip/UPF1", key="1" * 40, commit="1" * 40, source="lab",
                  source_url="https://git.example.org/lab.git", directory="rbp_eclip/UPF1",
                  files=[artifact.ModelFile("rbp_eclip/UPF1/model.yaml", SHA["a"], 10),
                         artifact.ModelFile("rbp_eclip/run.sh", SHA["b"], 20, True),
                         artifact.ModelFile("rbp_eclip/UPF1/downloaded/model_files/weights/" + "f" * 32,
                                            SHA["c"], 30, False, "files", "https://zenodo.org/w.h5",
                                            "f" * 32)],
                  links={"rbp_eclip/UPF1/utils.py": "../run.sh"})
    fields.update(changes)
    return artifact.ModelArtifact(**fields)


# -- the mapping, pure --------------------------------------------------------------------------

def test_the_same_snapshot_gives_the_same_bytes_in_any_order():
    one, config = artifact.model_manifest(sample())
    two, _ = artifact.model_manifest(sample(files=list(reversed(sample().files))))
    assert one == two
    doc = json.loads(one)
    assert doc["artifactType"] == "application/vnd.cncf.model.manifest.v1+json"
    assert doc["config"]["mediaType"] == "application/vnd.cncf.model.config.v1+json"
    assert doc["config"]["digest"] == "sha256:" + hashlib.sha256(config).hexdigest()
    assert [d["digest"] for d in doc["layers"]] == ["sha256:" + SHA[n] for n in "abc"]
    paths = [(d["annotations"]["org.opencontainers.image.title"],
              d["annotations"]["org.cncf.model.filepath"]) for d in doc["layers"]]
    assert paths == [(p, p) for p in ("rbp_eclip/UPF1/model.yaml", "rbp_eclip/run.sh",
                                      "rbp_eclip/UPF1/downloaded/model_files/weights/" + "f" * 32)]
    assert doc["layers"][2]["annotations"]["org.kipoi.store.url"] == "https://zenodo.org/w.h5"
    assert json.loads(config)["descriptor"] == {"name": "rbp_eclip/UPF1", "revision": "1" * 40,
                                                "sourceURL": "https://git.example.org/lab.git"}
    assert b"created" not in one and b" " not in one


def test_reading_back_gives_the_store_manifests():
    data, _ = artifact.model_manifest(sample())
    art = artifact.read_model_manifest(data, "here", name="rbp_eclip/UPF1")
    parts = art.store_manifests()
    assert sorted(parts) == ["rbp_eclip/UPF1", "rbp_eclip/UPF1#files"]
    assert parts["rbp_eclip/UPF1"]["rbp_eclip/run.sh"].executable
    assert parts["rbp_eclip/UPF1"]["rbp_eclip/UPF1/utils.py"].target == "../run.sh"
    assert art.key == "1" * 40 and art.directory == "rbp_eclip/UPF1"
    assert [f.md5 for f in art.files if f.part] == ["f" * 32]


def hostile(change):
    doc = json.loads(artifact.model_manifest(sample())[0])
    change(doc)
    return json.dumps(doc).encode()


@pytest.mark.parametrize("change, why", [
    (retitle(0, "../../etc/passwd"), "'..'"),
    (retitle(0, "/etc/passwd"), "absolute"),
    (retitle(1, "rbp_eclip/UPF1/model.yaml"), "appears twice"),
    (lambda d: d["layers"][0].pop("annotations"), "no path"),
    (lambda d: d["layers"][0].update(size=-1), "not a byte count"),
    (lambda d: d["layers"][0].update(digest="sha256:abc"), "not sha256"),
    (lambda d: d["layers"][0].update(mediaType="application/vnd.oci.image.layer.v1.tar+gzip"),
     "not raw file bytes"),
    (lambda d: d["annotations"].update({"org.kipoi.store.symlinks": '{"a/x": "../../.."}'}),
     "outside the snapshot"),
    (lambda d: d["annotations"].update({"org.kipoi.store.key": "../x"}), "snapshot key"),
    (lambda d: d.update(mediaType=artifact.INDEX_TYPE), "media type"),
])
def test_hostile_manifests_are_refused(change, why):
    with pytest.raises(IntegrityError, match="here: .*" + why):
        artifact.read_model_manifest(hostile(change), "here")


def test_another_tools_artifact_is_a_model_of_its_own():
    """An ORAS-style push of one model's files: titles relative to the model, no annotations of
    ours; the model is named by the spec and keyed by the manifest's digest."""
    doc = {"schemaVersion": 2, "mediaType": artifact.MANIFEST_TYPE,
           "config": {"mediaType": "application/vnd.oci.empty.v1+json", "size": 2,
                      "digest": "sha256:" + hashlib.sha256(b"{}").hexdigest()},
           "layers": [{"mediaType": "application/vnd.oci.image.layer.v1.tar", "size": 10,
                       "digest": "sha256:" + SHA["a"],
                       "annotations": {"org.opencontainers.image.title": "model.yaml"}}]}
    data = json.dumps(doc).encode()
    digest = hashlib.sha256(data).hexdigest()
    art = artifact.read_model_manifest(data, "here", digest=digest, name="mine/M")
    assert art.key == digest and art.directory == "mine/M"
    assert [f.path for f in art.files] == ["mine/M/model.yaml"]


def test_ref_tags_follow_the_tag_grammar():
    assert artifact.ref_tag("v0.4") == "v0.4"
    assert artifact.ref_tag("feature/x") == "feature-x"
    assert artifact.ref_tag(".hidden") == "_.hidden"
    assert len(artifact.ref_tag("x" * 300)) == 128
    assert artifact.ref_tag("a" * 40) is None            # reads as a snapshot key
    assert artifact.ref_tag("md5-" + "0" * 32) is None   # reads as an md5 tag
    for ref in ("v0.4", "feature/x", "ü-branch", "-x"):
        assert artifact.is_tag(artifact.ref_tag(ref))


def test_index_lists_models_sorted_and_reads_back():
    data = artifact.snapshot_index("1" * 40, "1" * 40, {"b": (SHA["b"], 5), "a": (SHA["a"], 4)})
    index = artifact.read_index(data, "here")
    assert list(index.models) == ["a", "b"] and index.key == "1" * 40
    bad = json.loads(data)
    bad["manifests"][1]["annotations"]["org.kipoi.store.model"] = "../a"
    with pytest.raises(IntegrityError, match="'..'"):
        artifact.read_index(json.dumps(bad).encode(), "here")


# -- pushing to a real registry -------------------------------------------------------------------

@pytest.fixture(scope="module")
def lab(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("oci-lab")
    with FileServer() as files, GitHTTPServer(tmp / "served") as git_server:
        yield build_lab(tmp, git_server, files)


def push(lab, registry, repository, *specs):
    return ok("kipoi", "store", "push", *specs, registry.ref(repository), env=lab.env)


def run(*args, env):
    from conftest import run_kipoi

    return run_kipoi(*args, env=env)


def uploads(stderr):
    """(blobs uploaded, bytes, already there) from push's summary line."""
    return summary(stderr)[:3]


def summary(stderr):
    """(blobs uploaded, bytes, already there, mounted) from push's summary line."""
    import re

    m = re.search(r"(\d+) blob\(s\) uploaded \((\d+) bytes\), (\d+) already there, (\d+) mounted",
                  stderr)
    return tuple(int(x) for x in m.groups())


def objects_of(store, records, parts=("", "#files", "#examples")):
    """The sha256 of every file the records' models (and their parts) hold in `store`."""
    found = set()
    for record in records:
        for suffix in parts:
            name = record["model"] + suffix
            quoted = name.replace("%", "%25").replace("/", "%2F")
            path = Path(store) / "manifests" / record["key"] / (quoted + ".json")
            if path.exists():
                found |= {v for v in json.loads(path.read_text())["files"].values() if not v.startswith("->")}
    return found


def test_push_prints_pinned_specs_and_skopeo_copies_our_objects(lab, oci_registry, skopeo, tmp_path):
    r = push(lab, oci_registry, "lab/models", *SPECS)
    lines = r.stdout.splitlines()
    assert len(lines) == len(SPECS)
    prefix = oci_registry.ref("lab/models") + "@sha256:"
    for line, record in zip(lines, lab.records, strict=True):
        assert line.startswith(prefix) and line.endswith("/" + record["model"])
    # skopeo, an independent client, copies the Remote model's artifact out of the registry: its
    # layers are our objects, byte for byte, weights and example files included.
    digest = lines[-1][len(prefix) - len("sha256:"):].split("/")[0]
    layout = tmp_path / "layout"
    skopeo("copy", "--src-tls-verify=false", "docker://%s/lab/models@%s" % (oci_registry.host, digest),
           "oci:%s" % layout)
    raw = json.loads(skopeo("inspect", "--raw", "--tls-verify=false",
                            "docker://%s/lab/models@%s" % (oci_registry.host, digest)).stdout)
    layers = {d["digest"].split(":")[1] for d in raw["layers"]}
    assert layers == objects_of(lab.store, lab.records[-1:])
    for digest in layers:
        copied = (layout / "blobs" / "sha256" / digest).read_bytes()
        assert copied == (lab.store / "objects" / "sha256" / digest[:2] / digest).read_bytes()
    assert {REMOTE_WEIGHTS, EXPECTED} <= {(layout / "blobs" / "sha256" / d).read_bytes() for d in layers}
    assert raw["artifactType"] == artifact.ARTIFACT_TYPE
    # Every remote file is also found by its md5, and the snapshot's index by its key; the
    # spec without a ref moved `latest`, the one at v0.2 moved `v0.2`.
    tags = set(json.loads(skopeo("list-tags", "--tls-verify=false",
                                 "docker://%s/lab/models" % oci_registry.host).stdout)["Tags"])
    md5s = {"md5-" + hashlib.md5(b).hexdigest() for b in (REMOTE_WEIGHTS, EXPECTED)}
    assert md5s <= tags
    assert {r["key"] for r in lab.records} | {"latest", "v0.2"} <= tags


def test_pushing_again_sends_nothing_and_gives_the_same_digests(lab, oci_registry):
    first = push(lab, oci_registry, "lab/again", *SPECS)
    again = push(lab, oci_registry, "lab/again", *SPECS)
    assert again.stdout == first.stdout
    sent, _, there = uploads(again.stderr)
    assert sent == 0 and there > 0


def test_a_second_commit_uploads_only_what_changed(lab, oci_registry):
    """The whole source at one commit, then at the next: the second push sends the objects that
    commit added and the models' config blobs (they name the commit), nothing else."""
    first, second = lab.repo.commits[1], lab.repo.commits[2]
    specs = {}
    for commit in (first, second):
        names = ok("kipoi", "source", "models", "lab@" + commit, env=lab.env).stdout.split()
        specs[commit] = ["lab:%s@%s" % (n, commit) for n in names]
    r1 = ok("kipoi", "store", "push", "--stdin", oci_registry.ref("lab/history"), env=lab.env,
            input="\n".join(specs[first]) + "\n")
    sent1, _, _, mounted1 = summary(r1.stderr)  # mounted: the objects other tests pushed elsewhere
    r2 = ok("kipoi", "store", "push", "--stdin", oci_registry.ref("lab/history"), env=lab.env,
            input="\n".join(specs[second]) + "\n")
    sent2, _, _, mounted2 = summary(r2.stderr)
    records = {c: [json.loads(line) for line in ok("kipoi", "source", "resolve", "--json", *specs[c],
                                                   env=lab.env).stdout.splitlines()] for c in specs}
    old, new = objects_of(lab.store, records[first], ("",)), objects_of(lab.store, records[second], ("",))
    assert sent1 + mounted1 == len(old) + len(specs[first])
    assert sent2 + mounted2 == len(new - old) + len(specs[second])
    assert 0 < len(new - old) < len(new)


def test_two_processes_pushing_overlapping_models_both_land(lab, oci_registry):
    target = oci_registry.ref("lab/parallel")
    one, two = SPECS[1:3], SPECS[2:]
    procs = [subprocess.Popen([str(Path(sys.executable).parent / "kipoi"), "store", "push", *specs, target],
                              env=lab.env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
             for specs in (one, two)]
    outs = [p.communicate(timeout=300) for p in procs]
    assert [p.returncode for p in procs] == [0, 0], outs
    from kipoi_store.dist.oci.client import Repository

    key = lab.records[1]["key"]
    data, _, _ = Repository(target).get_manifest(key)
    listed = artifact.read_index(data, "index").models
    assert set(listed) == {r["model"] for r in lab.records[1:]}


def test_push_refuses_a_repository_with_a_tag_and_a_missing_model(lab, oci_registry):
    r = run("kipoi", "store", "push", SPECS[1], oci_registry.ref("lab/models", "v1"), env=lab.env)
    assert r.returncode == 2 and r.stderr.startswith("kipoi: error: push to oci://")
    r = run("kipoi", "store", "push", "lab:NoSuchModel", oci_registry.ref("lab/none"), env=lab.env)
    assert r.returncode == 1 and "NoSuchModel" in r.stderr and "nothing pushed" in r.stderr
    r = run("kipoi", "store", "push", SPECS[1], env=lab.env)
    assert r.returncode == 2 and "oci://REGISTRY/REPOSITORY" in r.stderr


class Watched:
    """A real Repository whose manifest PUTs are watched: the first two must be in flight
    together (each waits for the other), and when each began and ended is recorded."""

    def __init__(self, repository):
        import threading

        self.repository = repository
        self.together = threading.Barrier(2)
        self.events = []
        self.lock = threading.Lock()

    def __getattr__(self, name):
        return getattr(self.repository, name)

    def put_manifest(self, ref, data, media_type):
        with self.lock:
            self.events.append(("begin", ref))
            first_two = sum(e == "begin" for e, _ in self.events) <= 2
        if first_two:
            self.together.wait(timeout=60)  # BrokenBarrierError when the PUTs go one by one
        got = self.repository.put_manifest(ref, data, media_type)
        with self.lock:
            self.events.append(("end", ref))
        return got


def test_manifests_go_up_together_and_the_index_after_them(lab, oci_registry):
    from kipoi_store.dist.oci.client import Repository
    from kipoi_store.dist.oci.push import Push
    from kipoi_store.store.core.store import Store

    watched = Watched(Repository(oci_registry.ref("lab/together"), push=True))
    push = Push(Store(lab.store), watched)
    for record in lab.records:
        push.add_model(record["key"], record["model"], commit=record["key"])
    pushed = push.run()
    keys = {r["key"] for r in lab.records}
    models = [("sha256:" + p.digest) for p in pushed]
    ends = [i for i, (e, ref) in enumerate(watched.events) if e == "end" and ref in models]
    index = [i for i, (e, ref) in enumerate(watched.events) if e == "begin" and ref in keys]
    assert len(ends) == len(models) and index and min(index) > max(ends)


@pytest.mark.parametrize("auth", ["anonymous", "token"])
def test_a_push_to_another_repository_of_the_registry_mounts_every_blob(lab, auth, request, skopeo,
                                                                         tmp_path):
    """The same models pushed to repository A, then to B of the same registry: every blob of B is
    mounted from A (the user's record of where blobs were pushed), none uploaded; skopeo reads B's
    artifacts whole. With token auth the mount asks for pull on A along with push on B."""
    from fixtures_oci import OCI_PASSWORD, OCI_USER

    registry = request.getfixturevalue("oci_registry" if auth == "anonymous" else "oci_registry_token")
    env = dict(lab.env)
    creds = []
    if auth == "token":
        env.update(KIPOI_REGISTRY_USERNAME=OCI_USER, KIPOI_REGISTRY_PASSWORD=OCI_PASSWORD,
                   KIPOI_REGISTRY_HOST=registry.host)
        creds = ["--src-creds", "%s:%s" % (OCI_USER, OCI_PASSWORD)]
    a = ok("kipoi", "store", "push", *SPECS, registry.ref("mount/a"), env=env)
    sent_a, _, _, mounted_a = summary(a.stderr)
    b = ok("kipoi", "store", "push", *SPECS, registry.ref("mount/b"), env=env)
    assert summary(b.stderr) == (0, 0, 0, sent_a + mounted_a)
    assert b.stdout.replace("mount/b", "mount/a") == a.stdout
    if auth == "token":
        assert any("repository:mount/a:pull" in scopes and "repository:mount/b:pull,push" in scopes
                   for _, scopes in registry.token.issued)
    digest = b.stdout.splitlines()[-1].split("@")[1].split("/")[0]
    layout = tmp_path / "layout"
    skopeo("copy", "--src-tls-verify=false", *creds,
           "docker://%s/mount/b@%s" % (registry.host, digest), "oci:%s" % layout)
    raw = json.loads((layout / "blobs" / "sha256" / digest.split(":")[1]).read_text())
    for layer in raw["layers"]:
        hexdigest = layer["digest"].split(":")[1]
        copied = (layout / "blobs" / "sha256" / hexdigest).read_bytes()
        assert copied == (lab.store / "objects" / "sha256" / hexdigest[:2] / hexdigest).read_bytes()


def test_a_mount_the_registry_refuses_becomes_an_upload(lab, oci_registry_token):
    """Blobs seen in a repository the user may no longer read: the registry refuses the mount
    (401, even with a fresh token), and push uploads them instead."""
    from fixtures_oci import OCI_PASSWORD, OCI_USER

    registry = oci_registry_token
    env = dict(lab.env, KIPOI_REGISTRY_USERNAME=OCI_USER, KIPOI_REGISTRY_PASSWORD=OCI_PASSWORD,
               KIPOI_REGISTRY_HOST=registry.host)
    first = ok("kipoi", "store", "push", *SPECS, registry.ref("revoked/models"), env=env)
    sent, _, _, mounted = summary(first.stderr)
    registry.token.denied.add("revoked")
    try:
        second = ok("kipoi", "store", "push", *SPECS, registry.ref("kept/models"), env=env)
    finally:
        registry.token.denied.discard("revoked")
    uploaded, _, there, mounted_again = summary(second.stderr)
    assert mounted_again == 0 and there == 0
    assert uploaded == sent + mounted
    assert any("repository:revoked/models:pull" in scopes for _, scopes in registry.token.issued)


def test_blob_sightings_name_the_newest_repositories_and_stay_private(tmp_path, monkeypatch):
    from kipoi_store.store.user import blobsightings
    from kipoi_store.store.user.blobsightings import BlobSightings

    one, two = "1" * 64, "2" * 64
    seen = BlobSightings(tmp_path / "seen")
    seen.add("reg.example", "lab/a", [one, two])
    seen.add("reg.example", "lab/b", [one])
    seen.add("other.example", "lab/c", [two])
    seen.add("reg.example", "lab/../x", [two])         # not a repository name: not kept
    assert seen.where("reg.example", [one, two, "3" * 64]) == {one: ["lab/b", "lab/a"], two: ["lab/a"]}
    monkeypatch.setattr(blobsightings, "MAX_BYTES", 1)  # every add compacts: nothing is lost
    seen.add("reg.example", "lab/a", [one])
    assert seen.where("reg.example", [one, two]) == {one: ["lab/a", "lab/b"], two: ["lab/a"]}
    (tmp_path / "seen").chmod(0o777)                   # a directory others could write: ignored
    assert seen.where("reg.example", [one]) == {}
