"""Fetching LFS objects through the batch API from a server that misbehaves on demand
(tests/lfsserver.py), and from local remotes."""

import base64
import io
import json
import os
import random
import stat
from datetime import datetime, timedelta, timezone
from email.utils import format_datetime

import pytest

from kipoi_store.lfs import pointer
from kipoi_store.lfs.batch import Client
from kipoi_store.lfs.endpoint import Endpoint, SshTarget, discover_endpoint
from kipoi_store.lfs.fetch import fetch_objects
from kipoi_store.net.http import Options, retry_after
from kipoi_store.net.progress import Progress
from kipoi_store.errors import IntegrityError, NetworkError, NotFoundError
from lfsserver import BATCH, FaultServer

MiB = 1 << 20


def fetch(server, store, pointers, what=None, **options):
    """fetch_objects against `server`, with test-sized waits: retries sleep 10 ms, not seconds."""
    options.setdefault("backoff", 0.01)
    fetch_objects(Endpoint("http", url=server.url), pointers, store, what=what,
                      progress=False, **options)


def blob(n, seed=0):
    return random.Random(seed).randbytes(n)


def leftovers(store):
    tmp = store.root / "tmp"
    return sorted(p for p in tmp.rglob("*") if p.is_file()) if tmp.exists() else []


def test_downloads_every_object_in_batches_of_100(fault_server, lfs_store):
    pointers = [fault_server.add(b"object %d" % i) for i in range(150)]
    fetch(fault_server, lfs_store, pointers)
    assert all(lfs_store.has_object(p.oid) for p in pointers)
    sizes = [len(body["objects"]) for body in fault_server.batch_bodies]
    assert sizes == [100, 50]
    assert len(fault_server.downloads()) == 150


def test_objects_already_in_the_store_are_not_requested(fault_server, lfs_store):
    have, want = fault_server.add(b"have"), fault_server.add(b"want")
    fetch(fault_server, lfs_store, [have])
    fetch(fault_server, lfs_store, [have, want])
    assert [r.path for r in fault_server.downloads()] == ["/obj/" + have.oid, "/obj/" + want.oid]
    fetch(fault_server, lfs_store, [have, want])
    assert len(fault_server.batches()) == 2


def test_server_errors_are_retried(fault_server, lfs_store):
    p = fault_server.add(blob(1000))
    fault_server.fail(BATCH, ("status", 502))
    fault_server.fail(p.oid, ("status", 500), ("status", 503))
    fetch(fault_server, lfs_store, [p])
    assert lfs_store.has_object(p.oid)
    assert len(fault_server.batches()) == 2
    assert len(fault_server.downloads(p.oid)) == 3


def test_retries_are_bounded(fault_server, lfs_store):
    p = fault_server.add(b"never")
    fault_server.fail(p.oid, *[("status", 500)] * 3)
    with pytest.raises(NetworkError, match=r"models:a/never\.bin.*500.*3 tries"):
        fetch(fault_server, lfs_store, [p], what={p.oid: "models:a/never.bin"}, tries=3)
    assert not lfs_store.has_object(p.oid)
    assert leftovers(lfs_store) == []


def test_429_waits_as_long_as_retry_after_says(fault_server, lfs_store):
    p = fault_server.add(b"busy")
    fault_server.fail(BATCH, ("status", 429, {"Retry-After": "1"}))
    fault_server.fail(p.oid, ("status", 429, {"Retry-After": "2"}))
    slept = []
    fetch(fault_server, lfs_store, [p], sleep=slept.append)
    assert slept == [1.0, 2.0]
    assert lfs_store.has_object(p.oid)


def test_backoff_doubles_between_tries(fault_server, lfs_store):
    p = fault_server.add(b"flaky")
    fault_server.fail(p.oid, ("status", 500), ("status", 500), ("status", 500))
    slept = []
    fetch(fault_server, lfs_store, [p], backoff=1.0, sleep=slept.append)
    assert len(slept) == 3
    assert 0.75 <= slept[0] <= 1.25 and 1.5 <= slept[1] <= 2.5 and 3.0 <= slept[2] <= 5.0


def test_retry_after_reads_seconds_and_http_dates():
    now = datetime(2024, 5, 1, 12, 0, 0, tzinfo=timezone.utc)
    assert retry_after("7") == 7.0
    assert retry_after(format_datetime(now + timedelta(seconds=30), usegmt=True), now=now) == 30.0
    assert retry_after(format_datetime(now - timedelta(seconds=30), usegmt=True), now=now) == 0.0
    assert retry_after("soon") is None and retry_after(None) is None


def test_a_broken_connection_resumes_with_range(fault_server, lfs_store):
    p = fault_server.add(blob(4 * MiB))
    fault_server.fail(p.oid, "reset")
    fetch(fault_server, lfs_store, [p])
    assert lfs_store.has_object(p.oid)
    first, second = fault_server.downloads(p.oid)
    assert "range" not in first.headers
    start = int(second.headers["range"][len("bytes="):-1])
    assert 0 < start < p.size


def test_a_server_that_ignores_range_is_read_from_the_start(fault_server, lfs_store):
    p = fault_server.add(blob(4 * MiB, seed=1))
    fault_server.fail(p.oid, "reset", "ignore_range")
    fetch(fault_server, lfs_store, [p])
    assert lfs_store.has_object(p.oid)
    assert "range" in fault_server.downloads(p.oid)[1].headers


def test_a_stalled_body_times_out_and_resumes(fault_server, lfs_store):
    p = fault_server.add(blob(2 * MiB, seed=2))
    fault_server.fail(p.oid, ("stall", 2.0))
    fetch(fault_server, lfs_store, [p], timeout=(5.0, 0.3))
    assert lfs_store.has_object(p.oid)
    assert "range" in fault_server.downloads(p.oid)[-1].headers


def test_a_slow_body_that_keeps_coming_is_awaited(fault_server, lfs_store):
    p = fault_server.add(blob(MiB, seed=3))
    fault_server.fail(p.oid, ("stall", 0.3))
    fetch(fault_server, lfs_store, [p], timeout=(5.0, 5.0))
    assert lfs_store.has_object(p.oid)
    assert len(fault_server.downloads(p.oid)) == 1


def test_wrong_bytes_are_an_integrity_error_and_nothing_is_kept(fault_server, lfs_store):
    p = fault_server.add(blob(MiB, seed=4))
    fault_server.fail(p.oid, "wrong")
    with pytest.raises(IntegrityError, match=r"models:rbp/UPF1/model\.h5"):
        fetch(fault_server, lfs_store, [p], what={p.oid: "models:rbp/UPF1/model.h5"})
    assert not lfs_store.has_object(p.oid)
    assert leftovers(lfs_store) == []


def test_a_pointer_whose_size_is_wrong_is_an_integrity_error(fault_server, lfs_store):
    p = fault_server.add(b"twelve bytes")
    for size in (p.size - 1, p.size + 1):
        with pytest.raises(IntegrityError, match="w.bin"):
            fetch(fault_server, lfs_store, [pointer.Pointer(p.oid, size)], what={p.oid: "w.bin"})
    assert not lfs_store.has_object(p.oid)
    assert leftovers(lfs_store) == []


@pytest.mark.parametrize("how", ["in", "at"])
def test_an_expired_action_is_requested_again(fault_server, lfs_store, how):
    p = fault_server.add(b"fresh")
    fault_server.fail(BATCH, ("expired", how))
    fetch(fault_server, lfs_store, [p])
    assert lfs_store.has_object(p.oid)
    assert len(fault_server.batches()) == 2
    assert len(fault_server.downloads(p.oid)) == 1  # the stale href was never used


def test_a_refused_href_is_requested_again(fault_server, lfs_store):
    p = fault_server.add(b"token expired early")
    fault_server.fail(p.oid, ("status", 403))
    fetch(fault_server, lfs_store, [p])
    assert lfs_store.has_object(p.oid)
    assert len(fault_server.batches()) == 2


def test_a_missing_object_is_not_found_naming_the_file(fault_server, lfs_store):
    there = fault_server.add(b"there")
    gone = pointer.Pointer("ab" * 32, 5)
    with pytest.raises(NotFoundError, match=r"src:models/gone\.bin"):
        fetch(fault_server, lfs_store, [there, gone], what={gone.oid: "src:models/gone.bin"})
    assert not lfs_store.has_object(gone.oid)


def test_action_headers_go_only_to_the_action_host(lfs_store):
    with FaultServer() as other, FaultServer(action_headers={"Authorization": "Bearer s3cret",
                                                             "X-Token": "t0k"}) as server:
        p = server.add(b"redirected")
        other.add(b"redirected")
        server.fail(p.oid, ("redirect", other.base + "/obj/" + p.oid))
        fetch(server, lfs_store, [p])
        assert lfs_store.has_object(p.oid)
        (asked,) = server.downloads(p.oid)
        assert asked.headers["authorization"] == "Bearer s3cret"
        (redirected,) = other.downloads(p.oid)
        assert "authorization" not in redirected.headers
        assert "x-token" not in redirected.headers


def test_only_http_hrefs_are_followed(lfs_store):
    with FaultServer(href_base="file:///etc") as server:
        p = server.add(b"x")
        with pytest.raises(NetworkError, match="non-http"):
            fetch(server, lfs_store, [p])
    assert not lfs_store.has_object(p.oid)


def test_credentials_come_from_git_credential_when_the_server_asks(lfs_git_env, lfs_store,
                                                                    tmp_path):
    helper = tmp_path / "helper"
    helper.write_text("#!/bin/sh\n[ \"$1\" = get ] && printf 'username=alice\\npassword=pw0rd\\n'\n"
                      "echo \"$1\" >> %s\n" % (tmp_path / "helper.log"))
    helper.chmod(helper.stat().st_mode | stat.S_IXUSR)
    with open(lfs_git_env["GIT_CONFIG_GLOBAL"], "a") as f:
        f.write("[credential]\n\thelper = %s\n" % helper)
    token = "Basic " + base64.b64encode(b"alice:pw0rd").decode()
    with FaultServer(require_auth=token) as server:
        p = server.add(b"private")
        fetch(server, lfs_store, [p])
        assert lfs_store.has_object(p.oid)
        first, second = server.batches()
        assert "authorization" not in first.headers
        assert second.headers["authorization"] == token
    assert (tmp_path / "helper.log").read_text().split() == ["get", "store"]


def test_wrong_credentials_are_rejected_once(lfs_git_env, lfs_store, tmp_path):
    with open(lfs_git_env["GIT_CONFIG_GLOBAL"], "a") as f:
        f.write("[credential]\n\thelper = \"!f() { echo username=bob; echo password=nope; }; f\"\n")
    with FaultServer(require_auth="Basic x") as server:
        p = server.add(b"private")
        with pytest.raises(NetworkError, match="authentication failed") as e:
            fetch(server, lfs_store, [p])
        assert "nope" not in str(e.value)
        assert len(server.batches()) == 2


def test_ssh_endpoints_use_git_lfs_authenticate(fault_server, lfs_store, tmp_path, monkeypatch):
    log = tmp_path / "ssh.log"
    fake_ssh = tmp_path / "ssh"
    answer = json.dumps({"href": fault_server.url, "header": {"Authorization": "RemoteAuth xyz"},
                         "expires_in": 3600})
    fake_ssh.write_text("#!/bin/sh\nprintf '%%s\\n' \"$@\" > %s\necho '%s'\n" % (log, answer))
    fake_ssh.chmod(0o755)
    monkeypatch.setenv("GIT_SSH", str(fake_ssh))
    monkeypatch.delenv("GIT_SSH_COMMAND", raising=False)
    p = fault_server.add(b"over ssh")
    endpoint = discover_endpoint("ssh://git@example.org:2222/org/repo.git")
    fetch_objects(endpoint, [p], lfs_store, progress=False)
    assert lfs_store.has_object(p.oid)
    assert log.read_text().splitlines() == ["-p", "2222", "git@example.org",
                                            "git-lfs-authenticate /org/repo.git download"]
    assert fault_server.batches()[0].headers["authorization"] == "RemoteAuth xyz"


def test_a_failing_ssh_falls_back_to_https(tmp_path, monkeypatch):
    fake_ssh = tmp_path / "ssh"
    fake_ssh.write_text("#!/bin/sh\nexit 255\n")
    fake_ssh.chmod(0o755)
    monkeypatch.setenv("GIT_SSH", str(fake_ssh))
    monkeypatch.delenv("GIT_SSH_COMMAND", raising=False)
    client = Client(Endpoint("ssh", url="https://host/r.git/info/lfs",
                             ssh=SshTarget("host", "r.git", "git")), Options())
    client.authenticate_ssh()
    assert (client.url, client.headers) == ("https://host/r.git/info/lfs", ())


def test_progress_shows_files_and_bytes_when_asked(fault_server, lfs_store, capsys):
    p = fault_server.add(blob(3000))
    fetch_objects(Endpoint("http", url=fault_server.url), [p], lfs_store, progress=True)
    err = capsys.readouterr().err
    assert "1/1 files" in err and "2.9 KiB / 2.9 KiB" in err
    fetch_objects(Endpoint("http", url=fault_server.url), [fault_server.add(b"q")],
                      lfs_store, progress=None)  # auto: stderr is not a terminal here
    assert capsys.readouterr().err == ""


def test_progress_meter_line():
    out = io.StringIO()
    meter = Progress(2 * MiB, 2, enabled=True, stream=out)
    meter.add(MiB)
    meter.file_done()
    meter.close()
    assert "1/2 files, 1.0 MiB / 2.0 MiB" in out.getvalue() and out.getvalue().endswith("\n")


# -- local remotes: objects read straight from lfs/objects ----------------------------------

def test_local_remote_objects_are_copied_and_verified(make_lfs_repo, lfs_store, tmp_path):
    repo = tmp_path / "models"
    pointers = make_lfs_repo(repo, {"a/w.bin": blob(5000), "b/w.bin": b"small"})
    endpoint = discover_endpoint("file://%s" % repo)
    assert endpoint.kind == "local"
    fetch_objects(endpoint, list(pointers.values()), lfs_store)
    assert all(lfs_store.has_object(p.oid) for p in pointers.values())
    # A copy, not a link: the remote's file is untouched by whatever the store does.
    src = repo / ".git" / "lfs" / "objects" / pointers["a/w.bin"].oid[:2]
    assert all(os.stat(f).st_nlink == 1 for f in src.rglob("*") if f.is_file())


def test_local_remote_missing_or_damaged_objects(make_lfs_repo, lfs_store, tmp_path):
    repo = tmp_path / "models"
    pointers = make_lfs_repo(repo, {"w.bin": b"original"})
    p = pointers["w.bin"]
    endpoint = discover_endpoint(str(repo))
    with pytest.raises(NotFoundError, match="src:other.bin"):
        fetch_objects(endpoint, [pointer.Pointer("cd" * 32, 3)], lfs_store,
                          what={"cd" * 32: "src:other.bin"})
    obj = endpoint.objects_dir / p.oid[:2] / p.oid[2:4] / p.oid
    obj.chmod(0o644)
    obj.write_bytes(b"damaged!")
    with pytest.raises(IntegrityError):
        fetch_objects(endpoint, [p], lfs_store, what={p.oid: "src:w.bin"})
    assert not lfs_store.has_object(p.oid)


def test_a_malformed_href_is_a_network_error(lfs_store):
    with FaultServer(href_base="http://127.0.0.1:notaport") as server:
        p = server.add(b"x")
        with pytest.raises(NetworkError, match="cannot request"):
            fetch(server, lfs_store, [p])


def test_one_bad_object_fails_the_fetch_and_keeps_only_verified_ones(fault_server, lfs_store):
    good = [fault_server.add(blob(1000, seed=i)) for i in range(6)]
    bad = fault_server.add(blob(1000, seed=99))
    fault_server.fail(bad.oid, "wrong")
    with pytest.raises(IntegrityError, match="bad.bin"):
        fetch(fault_server, lfs_store, good + [bad], what={bad.oid: "bad.bin"}, workers=2)
    assert not lfs_store.has_object(bad.oid)
    assert leftovers(lfs_store) == []
