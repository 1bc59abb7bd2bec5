"""The OCI registry client against Debian's docker-registry, with skopeo as the independent client,
and against a fault registry for what real registries do only on bad days."""

import hashlib
import io
import json
import os

import pytest
from hypothesis import given
from hypothesis import strategies as st

from kipoi_store.dist.oci import reference
from kipoi_store.dist.oci.client import MAX_MANIFEST, OCI_INDEX, OCI_MANIFEST, Repository
from kipoi_store.errors import IntegrityError, NetworkError, NotFoundError, UsageError
from kipoi_store.net import hosts
from kipoi_store.net.http import Options

EMPTY_CONFIG = "application/vnd.oci.empty.v1+json"


def sha(data):
    return "sha256:" + hashlib.sha256(data).hexdigest()


def opener(data):
    return lambda: io.BytesIO(data)


def quick(sleeps=None, tries=3, timeout=(5, 5)):
    """Options that never really sleep: the waits asked for are recorded instead."""
    return Options(tries=tries, backoff=0.01, timeout=timeout,
                   sleep=(sleeps.append if sleeps is not None else (lambda s: None)))


def push_artifact(repo, tag, files):
    """Push `files` (title -> bytes) as one OCI artifact with our client; returns the manifest."""
    config = b"{}"
    repo.push_blob(sha(config), len(config), opener(config))
    layers = []
    for title, data in files.items():
        repo.push_blob(sha(data), len(data), opener(data))
        layers.append({"mediaType": "application/octet-stream", "digest": sha(data),
                       "size": len(data),
                       "annotations": {"org.opencontainers.image.title": title}})
    manifest = {"schemaVersion": 2, "mediaType": OCI_MANIFEST,
                "artifactType": "application/vnd.kipoi.test.v1",
                "config": {"mediaType": EMPTY_CONFIG, "digest": sha(config), "size": len(config)},
                "layers": layers}
    data = json.dumps(manifest, sort_keys=True).encode()
    assert repo.put_manifest(tag, data, OCI_MANIFEST) == sha(data)
    return data


@pytest.fixture(autouse=True)
def fresh_hosts():
    """A silent host is remembered for the run: each test starts with none."""
    hosts.forget()
    yield
    hosts.forget()


# -- references --------------------------------------------------------------------------------

def test_a_reference_names_registry_repository_tag_and_digest():
    digest = "sha256:" + "ab" * 32
    ref = reference.parse("oci://ghcr.io/kipoi/models:v0.4@" + digest)
    assert ref == reference.Reference("ghcr.io", "kipoi/models", "v0.4", digest)
    assert ref.ref == digest
    assert reference.parse("oci://LocalHost:5000/a/b/c").registry == "localhost:5000"
    assert reference.parse("oci://127.0.0.1:5000/lab/x").tag is None
    assert str(reference.parse("oci://reg.example.org/lab/x:main")) == "oci://reg.example.org/lab/x:main"


@pytest.mark.parametrize("text, what", [
    ("ghcr.io/kipoi/models", "must start with oci://"),
    ("oci://ghcr.io", "no repository"),
    ("oci:///lab/x", "no registry host"),
    ("oci://ghcr.io/Kipoi/models", "bad repository name"),
    ("oci://ghcr.io/kipoi//models", "bad repository name"),
    ("oci://ghcr.io/kipoi/models/", "bad repository name"),
    ("oci://ghcr.io/kipoi/-models", "bad repository name"),
    ("oci://ghcr.io/kipoi/models:.hidden", "bad tag"),
    ("oci://ghcr.io/kipoi/models:" + "t" * 129, "bad tag"),
    ("oci://ghcr.io/kipoi/models@sha256:abc", "bad digest"),
    ("oci://ghcr.io/kipoi/models@md5:" + "0" * 32, "bad digest"),
    ("oci://gh cr.io/kipoi/models", "not a registry host"),
    ("oci://ghcr.io:99999/kipoi/models", "out of range"),
    ("oci://ghcr.io/" + "a" * 260, "longer than"),
])
def test_a_bad_reference_is_bad_input_naming_it(text, what):
    with pytest.raises(UsageError) as err:
        reference.parse(text)
    assert what in str(err.value)
    assert err.value.exit_code == 2


_component = st.from_regex(r"[a-z0-9]{1,6}([._-][a-z0-9]{1,4})?", fullmatch=True)


@given(registry=st.sampled_from(["ghcr.io", "127.0.0.1:5000", "reg.example.org:443", "[::1]:5000"]),
       parts=st.lists(_component, min_size=1, max_size=4),
       tag=st.none() | st.from_regex(r"[A-Za-z0-9_][A-Za-z0-9._-]{0,20}", fullmatch=True),
       digest=st.none() | st.binary(min_size=1, max_size=8).map(sha))
def test_format_and_parse_are_inverse(registry, parts, tag, digest):
    ref = reference.Reference(registry, "/".join(parts), tag, digest)
    assert reference.parse(reference.format(ref)) == ref
    assert reference.format(reference.parse(reference.format(ref))) == reference.format(ref)


def test_a_registry_on_this_machine_or_listed_insecure_is_reached_over_plain_http():
    env = {"KIPOI_INSECURE_REGISTRIES": "reg.lab:5000 mirror.lab"}
    assert reference.api_base("127.0.0.1:5000", {}) == "http://127.0.0.1:5000/v2/"
    assert reference.api_base("127.3.4.5", {}) == "http://127.3.4.5/v2/"
    assert reference.api_base("localhost:5000", {}) == "http://localhost:5000/v2/"
    assert reference.api_base("[::1]:5000", {}) == "http://[::1]:5000/v2/"
    assert reference.api_base("reg.lab:5000", env) == "http://reg.lab:5000/v2/"
    assert reference.api_base("mirror.lab:8443", env) == "http://mirror.lab:8443/v2/"
    assert reference.api_base("reg.lab:5001", env) == "https://reg.lab:5001/v2/"
    assert reference.api_base("ghcr.io", env) == "https://ghcr.io/v2/"
    assert reference.api_base("docker.io", {}) == "https://registry-1.docker.io/v2/"
    assert reference.parse_registry("https://index.docker.io/v1/") == "docker.io"
    assert reference.parse_registry("oci://127.0.0.1:5000/lab/x") == "127.0.0.1:5000"


# -- a real registry, and skopeo as the other client --------------------------------------------

def test_what_we_push_skopeo_reads_byte_for_byte(oci_registry, oci_env, skopeo, tmp_path):
    repo = Repository(oci_registry.ref("lab/pushed"), push=True)
    files = {"model.yaml": b"type: keras\n", "weights/model.h5": os.urandom(3 << 20)}
    manifest = push_artifact(repo, "v1", files)
    raw = skopeo("inspect", "--raw", "--tls-verify=false",
                 "docker://%s/lab/pushed:v1" % oci_registry.host).stdout
    assert raw.encode() == manifest
    skopeo("copy", "--src-tls-verify=false", "docker://%s/lab/pushed:v1" % oci_registry.host,
           "oci:%s:v1" % (tmp_path / "layout"))
    for data in files.values():
        blob = tmp_path / "layout" / "blobs" / "sha256" / sha(data).split(":")[1]
        assert blob.read_bytes() == data


def _oci_layout(directory, files):
    """An OCI image layout laid out by hand, as another tool would; returns the manifest bytes."""
    blobs = directory / "blobs" / "sha256"
    blobs.mkdir(parents=True)
    config = b"{}"
    layers = []
    for title, data in list(files.items()) + [("", config)]:
        (blobs / sha(data).split(":")[1]).write_bytes(data)
        if title:
            layers.append({"mediaType": "application/octet-stream", "digest": sha(data),
                           "size": len(data),
                           "annotations": {"org.opencontainers.image.title": title}})
    manifest = json.dumps({"schemaVersion": 2, "mediaType": OCI_MANIFEST,
                           "config": {"mediaType": EMPTY_CONFIG, "digest": sha(config), "size": 2},
                           "layers": layers}).encode()
    (blobs / sha(manifest).split(":")[1]).write_bytes(manifest)
    (directory / "oci-layout").write_text('{"imageLayoutVersion": "1.0.0"}')
    (directory / "index.json").write_text(json.dumps({"schemaVersion": 2, "manifests": [
        {"mediaType": OCI_MANIFEST, "digest": sha(manifest), "size": len(manifest),
         "annotations": {"org.opencontainers.image.ref.name": "v2"}}]}))
    return manifest


def test_what_skopeo_pushes_we_read_and_verify(oci_registry, oci_env, skopeo, tmp_path):
    files = {"a.txt": b"alpha\n", "big.bin": os.urandom(2 << 20)}
    manifest = _oci_layout(tmp_path / "layout", files)
    skopeo("copy", "--dest-tls-verify=false", "oci:%s:v2" % (tmp_path / "layout"),
           "docker://%s/lab/skopeoed:v2" % oci_registry.host)
    repo = Repository(oci_registry.host, "lab/skopeoed")
    data, media_type, digest = repo.get_manifest("v2", [OCI_MANIFEST, OCI_INDEX])
    assert (data, media_type, digest) == (manifest, OCI_MANIFEST, sha(manifest))
    assert repo.get_manifest(digest)[0] == manifest
    assert repo.manifest_digest("v2") == digest
    assert repo.tags() == ["v2"]
    for title, blob in files.items():
        layer = next(x for x in json.loads(data)["layers"]
                     if x["annotations"]["org.opencontainers.image.title"] == title)
        assert repo.blob_size(layer["digest"]) == len(blob)
        dest = tmp_path / title
        repo.fetch_blob(layer["digest"], layer["size"], str(dest))
        assert dest.read_bytes() == blob


def test_a_blob_there_is_skipped_one_elsewhere_mounted_else_uploaded(oci_registry, oci_env):
    data = os.urandom(1 << 16)
    first = Repository(oci_registry.ref("lab/first"), push=True)
    second = Repository(oci_registry.ref("lab/second"), push=True)
    assert first.blob_size(sha(data)) is None
    assert first.push_blob(sha(data), len(data), opener(data)) == "uploaded"
    assert first.push_blob(sha(data), len(data), opener(data)) == "exists"
    assert second.push_blob(sha(data), len(data), opener(data), mount_from="lab/first") == "mounted"
    assert second.blob_size(sha(data)) == len(data)


def test_large_blobs_stream_in_a_patch_or_go_in_chunks(oci_registry, oci_env, tmp_path):
    big = os.urandom((5 << 20) + 123)
    streamed = Repository(oci_registry.ref("lab/streamed"), push=True)
    assert streamed.push_blob(sha(big), len(big), opener(big)) == "uploaded"
    chunked = Repository(oci_registry.ref("lab/chunked"), push=True, chunk_size=1 << 20)
    assert chunked.push_blob(sha(big), len(big), opener(big)) == "uploaded"
    for repo in (streamed, chunked):
        dest = tmp_path / repo.name.replace("/", "_")
        repo.fetch_blob(sha(big), len(big), str(dest))
        assert dest.read_bytes() == big


def test_a_blob_whose_bytes_do_not_match_its_digest_is_refused_by_the_registry(
        oci_registry, oci_env):
    repo = Repository(oci_registry.ref("lab/lying"), push=True)
    for data in (b"small", os.urandom(2 << 20)):
        with pytest.raises(IntegrityError) as err:
            repo.push_blob(sha(data + b"x"), len(data), opener(data))
        assert "DIGEST_INVALID" in str(err.value) and "lab/lying" in str(err.value)
        assert repo.blob_size(sha(data + b"x")) is None


def test_a_partial_download_resumes_and_a_damaged_stored_blob_is_refused(
        oci_registry, oci_env, tmp_path):
    data = os.urandom(3 << 20)
    repo = Repository(oci_registry.ref("lab/resume"), push=True)
    repo.push_blob(sha(data), len(data), opener(data))
    dest = tmp_path / "partial"
    dest.write_bytes(data[:1 << 20])
    got = []
    repo.fetch_blob(sha(data), len(data), str(dest), progress=got.append)
    assert dest.read_bytes() == data
    assert sum(got) == len(data) - (1 << 20)  # only the rest travelled
    # The registry's copy damaged on disk (same size): the bytes never pass as the blob.
    oci_registry.blob_path(sha(data)).write_bytes(bytes(b ^ 1 for b in data))
    dest2 = tmp_path / "damaged"
    with pytest.raises(IntegrityError) as err:
        repo.fetch_blob(sha(data), len(data), str(dest2))
    assert "wrong content" in str(err.value) and sha(data) in str(err.value)
    assert not dest2.exists()


def test_manifests_by_tag_and_digest_tags_and_delete(oci_registry, oci_env):
    repo = Repository(oci_registry.ref("lab/manifests"), push=True)
    manifest = push_artifact(repo, "one", {"f": b"f"})
    digest = repo.put_manifest("two", manifest, OCI_MANIFEST)
    assert repo.tags() == ["one", "two"]
    assert repo.get_manifest("one")[2] == digest == sha(manifest)
    index = json.dumps({"schemaVersion": 2, "mediaType": OCI_INDEX, "manifests": [
        {"mediaType": OCI_MANIFEST, "digest": digest, "size": len(manifest)}]}).encode()
    assert repo.put_manifest(sha(index), index, OCI_INDEX) == sha(index)
    assert repo.get_manifest(sha(index)) == (index, OCI_INDEX, sha(index))
    with pytest.raises(NotFoundError) as err:
        repo.get_manifest("three")
    assert "lab/manifests" in str(err.value) and "MANIFEST_UNKNOWN" in str(err.value)
    assert repo.delete_manifest(digest) is True
    assert repo.manifest_digest("one") is None
    assert Repository(oci_registry.ref("lab/never-pushed")).tags() == []


def test_a_manifest_over_the_limit_is_refused_before_it_is_sent(oci_registry, oci_env):
    repo = Repository(oci_registry.ref("lab/huge"), push=True)
    huge = json.dumps({"schemaVersion": 2, "pad": "x" * MAX_MANIFEST}).encode()
    with pytest.raises(UsageError) as err:
        repo.put_manifest("v1", huge, OCI_MANIFEST)
    assert "over the" in str(err.value)
    with pytest.raises(UsageError):
        repo.put_manifest("bad tag", b"{}", OCI_MANIFEST)


# -- a hostile or broken registry ----------------------------------------------------------------

def _fault_repo(srv, **kwargs):
    return Repository(srv.host, "lab/x", opts=kwargs.pop("opts", quick()), **kwargs)


def test_wrong_bytes_or_size_leave_nothing_behind(oci_faults, oci_env, tmp_path):
    data = os.urandom(100000)
    digest = oci_faults.add_blob(data)
    path = "/v2/lab/x/blobs/" + digest
    oci_faults.fail(path, "wrong", ("size", len(data) - 10), ("size", len(data) + 10))
    for what in ("wrong content", "wrong size", "wrong size"):
        dest = tmp_path / "blob"
        with pytest.raises(IntegrityError) as err:
            _fault_repo(oci_faults).fetch_blob(digest, len(data), str(dest))
        assert what in str(err.value) and digest in str(err.value)
        assert not dest.exists()


def test_a_broken_connection_resumes_with_range(oci_faults, oci_env, tmp_path):
    data = os.urandom(300000)
    digest = oci_faults.add_blob(data)
    oci_faults.fail("/v2/lab/x/blobs/" + digest, "reset")
    dest = tmp_path / "blob"
    _fault_repo(oci_faults).fetch_blob(digest, len(data), str(dest))
    assert dest.read_bytes() == data
    gets = [r for r in oci_faults.requests if r.method == "GET" and digest in r.path]
    assert "range" not in gets[0].headers and gets[1].headers["range"].startswith("bytes=")
    assert gets[1].headers["range"] != "bytes=0-"


def test_an_oversized_or_altered_manifest_is_refused(oci_faults, oci_env):
    big = b'{"pad": "' + b"x" * MAX_MANIFEST + b'"}'
    oci_faults.add_manifest("lab/x", "big", big)
    digest = oci_faults.add_manifest("lab/x", sha(b'{"a": 1}'), b'{"a": 1}')
    oci_faults.fail("/v2/lab/x/manifests/" + digest, "wrong")
    repo = _fault_repo(oci_faults)
    with pytest.raises(IntegrityError, match="over the"):
        repo.get_manifest("big")
    with pytest.raises(IntegrityError, match="wrong content"):
        repo.get_manifest(digest)


def test_a_redirect_loop_is_stopped(oci_faults, oci_env, tmp_path):
    digest = oci_faults.add_blob(b"x")
    path = "/v2/lab/x/blobs/" + digest
    oci_faults.fail(path, *[("redirect", oci_faults.url + path)] * 3)
    with pytest.raises(NetworkError, match="redirect loop"):
        _fault_repo(oci_faults).fetch_blob(digest, 1, str(tmp_path / "b"))


def test_authorization_never_follows_a_redirect_to_another_host(oci_env, tmp_path):
    from ocifaults import FaultRegistry

    data = b"weights on a CDN"
    with FaultRegistry() as registry, FaultRegistry(address="127.0.0.2") as cdn:
        digest = cdn.add_blob(data)
        registry.add_blob(data)
        registry.auth = "token"
        registry.fail("/v2/lab/x/blobs/" + digest, ("redirect", "%s/v2/cdn/blobs/%s?sig=1"
                                                    % (cdn.url, digest)))
        _fault_repo(registry).fetch_blob(digest, len(data), str(tmp_path / "b"))
        assert (tmp_path / "b").read_bytes() == data
        sent = [r for r in registry.requests if r.path.endswith(digest)]
        assert sent[-1].headers.get("authorization") == "Bearer tok-123"
        assert cdn.requests and all("authorization" not in r.headers for r in cdn.requests)


def test_429_waits_what_retry_after_says_and_5xx_is_retried_a_bounded_number_of_times(
        oci_faults, oci_env, tmp_path):
    data = b"model bytes"
    digest = oci_faults.add_blob(data)
    path = "/v2/lab/x/blobs/" + digest
    oci_faults.fail(path, ("status", 429, {"Retry-After": "7"}), ("status", 503))
    sleeps = []
    _fault_repo(oci_faults, opts=quick(sleeps)).fetch_blob(digest, len(data), str(tmp_path / "b"))
    assert (tmp_path / "b").read_bytes() == data
    assert sleeps[0] == 7 and len(sleeps) == 2
    oci_faults.fail(path, *[("status", 500)] * 10)
    before = len(oci_faults.requests)
    with pytest.raises(NetworkError, match="gave up after 3 tries") as err:
        _fault_repo(oci_faults).fetch_blob(digest, len(data), str(tmp_path / "c"))
    assert "answered 500" in str(err.value) and oci_faults.host in str(err.value)
    assert len(oci_faults.requests) - before == 3


def test_a_silent_registry_is_given_up_on_after_the_read_timeout(oci_env, monkeypatch, tmp_path):
    from silentserver import SilentServer

    monkeypatch.setenv("KIPOI_READ_TIMEOUT", "0.5")
    with SilentServer() as server:
        host = server.base.split("://")[1]
        repo = Repository(host, "lab/x")  # the timeouts of net/limits.py
        with pytest.raises(NetworkError) as err:
            repo.get_manifest("v1")
        assert "no answer within 0.5 s" in str(err.value) and host in str(err.value)
        # Given up on for this run: the next request fails at once, and says why.
        with pytest.raises(NetworkError, match="failed earlier in this run"):
            repo.fetch_blob(sha(b"x"), 1, str(tmp_path / "b"))
        assert server.requests == 1
        assert not (tmp_path / "b").exists()


def test_a_missing_blob_is_not_found_and_leaves_no_file(oci_registry, oci_env, tmp_path):
    repo = Repository(oci_registry.ref("lab/missing"))
    with pytest.raises(NotFoundError) as err:
        repo.fetch_blob(sha(b"nowhere"), 7, str(tmp_path / "b"))
    assert "BLOB_UNKNOWN" in str(err.value) and "lab/missing" in str(err.value)
    assert not (tmp_path / "b").exists()


def test_a_401_after_a_fresh_token_is_a_clear_error(oci_faults, oci_env):
    oci_faults.auth = "always"
    with pytest.raises(NetworkError) as err:
        _fault_repo(oci_faults).get_manifest("v1")
    message = str(err.value)
    assert "refused GET" in message and "with a fresh token (401" in message
    assert oci_faults.host in message and "lab/x/manifests/v1" in message
    assert "tok-123" not in message


def test_a_registry_limiting_request_size_gets_chunks(oci_faults, oci_env):
    oci_faults.max_body = 3 << 20
    data = os.urandom(5 << 20)
    repo = _fault_repo(oci_faults, push=True)
    assert repo.push_blob(sha(data), len(data), opener(data)) == "uploaded"
    assert oci_faults.blobs[sha(data)] == data
    patches = [r for r in oci_faults.requests if r.method == "PATCH"]
    assert any("content-range" in r.headers for r in patches)


def test_an_upload_broken_by_the_registry_starts_over(oci_faults, oci_env):
    data = os.urandom(2 << 20)  # over MONOLITHIC_MAX: POST, a streamed PATCH, PUT
    oci_faults.fail("/v2/lab/x/blobs/uploads/", ("status", 429, {"Retry-After": "3"}))
    oci_faults.fail("/v2/lab/x/blobs/uploads/u0", ("status", 502))
    sleeps = []
    repo = _fault_repo(oci_faults, push=True, opts=quick(sleeps, tries=4))
    assert repo.push_blob(sha(data), len(data), opener(data)) == "uploaded"
    assert oci_faults.blobs[sha(data)] == data
    assert sleeps[0] == 3 and len(sleeps) == 2
    posts = [r for r in oci_faults.requests if r.method == "POST"]
    assert len(posts) == 3  # 429, then an upload the PATCH's 502 broke, then the one that worked
