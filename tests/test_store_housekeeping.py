"""Housekeeping as a user does it: `kipoi store ls` shows what takes the space and when it was last
used, `kipoi store rm` removes models keeping what others share, and `kipoi store gc --prune=now`
(or --keep-days 0) frees unreferenced objects at once."""

import json
import os
import time
from pathlib import Path

import pytest

from conftest import run_kipoi

BIG = os.urandom(6 << 20)
SMALL = b"small weights\n"


def write(root, files):
    for rel, data in files.items():
        path = Path(root) / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(data if isinstance(data, bytes) else data.encode())


@pytest.fixture
def lab(kipoi_env, tmp_path):
    """A local source `lab`: `big` (6 MiB of weights), `a` and `b` sharing one weights file."""
    src = tmp_path / "lab"
    write(src, {"big/model.yaml": "type: keras\n", "big/w.h5": BIG,
                "a/model.yaml": "type: keras\n# a\n", "a/w.h5": SMALL,
                "b/model.yaml": "type: keras\n# b\n", "b/w.h5": SMALL})
    r = run_kipoi("kipoi", "source", "add", "lab", str(src), env=kipoi_env)
    assert r.returncode == 0, r.stderr
    return kipoi_env


def kipoi(env, *args):
    return run_kipoi("kipoi", *args, env=env)


def store_root(env):
    return Path(env["KIPOI_HOME"]) / "store"


def objects(env):
    return sorted(p.name for p in (store_root(env) / "objects").rglob("*") if p.is_file())


def sha(data):
    import hashlib

    return hashlib.sha256(data).hexdigest()


def resolve(env, *specs):
    r = kipoi(env, "source", "resolve", *specs)
    assert r.returncode == 0, r.stderr
    return r.stdout.splitlines()


def test_keep_days_zero_frees_a_removed_sources_objects_now(lab):
    resolve(lab, "lab:big")
    assert sha(BIG) in objects(lab)
    assert kipoi(lab, "source", "remove", "lab").returncode == 0
    r = kipoi(lab, "store", "gc", "--keep-days", "0")
    assert r.returncode == 0, r.stderr
    assert "object\t%s\t%d" % (sha(BIG), len(BIG)) in r.stdout.splitlines()
    assert "freed 6.0 MiB" in r.stderr, r.stderr
    assert objects(lab) == []


def test_prune_now_frees_objects_younger_than_the_grace_period(lab):
    big, = resolve(lab, "lab:big")
    assert kipoi(lab, "source", "remove", "lab").returncode == 0
    # Used 40 days ago: gc drops the snapshot, but its objects arrived minutes ago: kept an hour.
    old = time.time() - 40 * 86400
    for m in (store_root(lab) / "manifests").rglob("*.json"):
        os.utime(m, (old, old))
    r = kipoi(lab, "store", "gc")
    assert r.returncode == 0 and not Path(big).exists(), r.stderr
    assert sha(BIG) in objects(lab)
    r = kipoi(lab, "store", "gc", "--prune=now")
    assert r.returncode == 0, r.stderr
    assert "object\t%s\t%d" % (sha(BIG), len(BIG)) in r.stdout.splitlines()
    assert objects(lab) == []


def test_the_grace_period_reads_when_bytes_arrived_not_when_links_changed(lab):
    """Unlinking a snapshot's hardlinks moves the objects' ctime: that must not make them young."""
    resolve(lab, "lab:big")
    assert kipoi(lab, "source", "remove", "lab").returncode == 0
    two_hours_ago = time.time() - 7200
    for p in store_root(lab).rglob("*"):
        if not p.is_symlink():
            os.utime(p, (two_hours_ago, two_hours_ago))
    old = time.time() - 40 * 86400
    for m in (store_root(lab) / "manifests").rglob("*.json"):
        os.utime(m, (old, old))
    r = kipoi(lab, "store", "gc")  # the default: keep 30 days, objects an hour
    assert r.returncode == 0, r.stderr
    assert objects(lab) == []


def test_prune_now_keeps_an_object_a_publish_under_way_links(lab):
    resolve(lab, "lab:big")
    assert kipoi(lab, "source", "remove", "lab").returncode == 0
    obj = next((store_root(lab) / "objects").rglob(sha(BIG)))
    # What Store.publish builds in tmp/ before the rename: a live process's hardlinks.
    from kipoi_store.store.core.staging import HOST

    staging = store_root(lab) / "tmp" / ("%d@%s@0123456789abcdef@publish" % (os.getpid(), HOST))
    staging.mkdir(parents=True)
    os.link(obj, staging / "w.h5")
    r = kipoi(lab, "store", "gc", "--prune=now", "--keep-days", "0")
    assert r.returncode == 0, r.stderr
    assert sha(BIG) in objects(lab)


def test_gc_refuses_a_bad_prune_age(lab):
    r = kipoi(lab, "store", "gc", "--prune=soonish")
    assert r.returncode == 2 and "kipoi: error: --prune=soonish" in r.stderr, r.stderr


def test_ls_shows_size_unique_bytes_and_last_use(lab):
    big, a = resolve(lab, "lab:big", "lab:a")
    b, = resolve(lab, "lab:b")
    r = kipoi(lab, "store", "ls", "--json", "--sort", "size")
    assert r.returncode == 0, r.stderr
    rows = [json.loads(line) for line in r.stdout.splitlines()]
    assert rows[0]["model"] == "big"  # largest first
    by = {row["model"]: row for row in rows}
    assert by["big"]["size"] >= len(BIG) and by["big"]["unique"] >= len(BIG)
    assert by["big"]["key"] == Path(big).parent.name
    # a and b share their weights: each holds its own model.yaml only.
    assert by["a"]["size"] == len(SMALL) + len("type: keras\n# a\n")
    assert by["a"]["unique"] == len("type: keras\n# a\n")
    assert all(row["last_used"].endswith("Z") for row in rows)
    # Using `a` again makes it the most recently used; nothing under the store records it.
    time.sleep(1.1)
    manifests = {p: p.stat().st_mtime for p in (store_root(lab) / "manifests").rglob("*.json")}
    resolve(lab, "lab:a")
    assert {p: p.stat().st_mtime for p in manifests} == manifests
    r = kipoi(lab, "store", "ls", "--sort", "used", "--bytes")
    lines = [line.split("\t") for line in r.stdout.splitlines()]
    assert lines[-1][3] == "%s/a" % Path(a).parent.name
    assert lines[-1][0] == str(len(SMALL) + len("type: keras\n# a\n"))
    snap = kipoi(lab, "store", "ls", "--snapshots", "--json")
    assert sorted(json.loads(line)["models"][0] for line in snap.stdout.splitlines()) == ["a", "b", "big"]


def test_ls_names_a_manifest_it_cannot_read_instead_of_skipping_it(lab):
    a, b = resolve(lab, "lab:a", "lab:b")
    damaged, = [p for p in (store_root(lab) / "manifests").rglob("b.json")]
    os.chmod(damaged, 0o644)
    damaged.write_text("{not json")
    r = kipoi(lab, "store", "ls", "--json")
    assert r.returncode == 0, r.stderr
    assert [json.loads(line)["model"] for line in r.stdout.splitlines()] == ["a"]
    warning, = r.stderr.splitlines()
    assert warning.startswith("kipoi: warning: cannot read manifest %s: not JSON" % damaged)
    assert "count as the other models' own" in warning


def test_rm_removes_a_model_and_keeps_what_another_shares(lab):
    a, b = resolve(lab, "lab:a", "lab:b")
    dry = kipoi(lab, "store", "rm", "--dry-run", "lab:a")
    assert dry.returncode == 0, dry.stderr
    # Each model as the user named it, with its KEY/MODEL beside it (issue 16, item 6).
    assert dry.stdout == "lab:a\t%s/a\n" % Path(a).parent.name and "would free" in dry.stderr
    assert Path(a).exists()
    r = kipoi(lab, "store", "rm", "lab:a")
    assert r.returncode == 0, r.stderr
    assert not Path(a).exists() and Path(b).exists()
    assert sha(SMALL) in objects(lab)  # b still uses it
    assert kipoi(lab, "store", "verify").returncode == 0
    r = kipoi(lab, "store", "rm", Path(b).parent.name)  # by key, as `store ls` shows it
    assert r.returncode == 0, r.stderr
    assert objects(lab) == []
    assert resolve(lab, "lab:a") == [a]  # it comes back on the next resolve


def test_rm_of_one_model_in_a_shared_snapshot_keeps_the_others(kipoi_env, kipoi_repo):
    env = kipoi_env
    assert kipoi(env, "source", "add", "lab", kipoi_repo.file_url, "--type", "git").returncode == 0
    xrcc6, basset = resolve(env, "lab:rbp_eclip/XRCC6", "lab:Basset")
    key = Path(basset).parent.name
    assert Path(xrcc6).parent.parent.name == key  # one snapshot holds both
    listed = kipoi(env, "store", "ls").stdout
    assert "%s/rbp_eclip/XRCC6\n" % key in listed and "%s/Basset\n" % key in listed
    r = kipoi(env, "store", "rm", "%s/rbp_eclip/XRCC6" % key)
    assert r.returncode == 0, r.stderr
    assert r.stdout == "{0}/rbp_eclip/XRCC6\t{0}/rbp_eclip/XRCC6\n".format(key)
    assert not Path(xrcc6).exists() and (Path(basset) / "model.yaml").exists()
    assert kipoi(env, "store", "verify").returncode == 0
    assert "XRCC6" not in kipoi(env, "store", "ls").stdout


def test_rm_names_what_is_not_in_the_store(lab):
    r = kipoi(lab, "store", "rm", "a" * 40)
    assert r.returncode == 1
    assert r.stderr.startswith("kipoi: error: snapshot %s is not in the store" % ("a" * 40)), r.stderr
    r = kipoi(lab, "store", "rm", "nosuch:model")
    assert r.returncode == 2 and "unknown source 'nosuch'" in r.stderr


def test_rm_removes_what_it_can_and_ends_with_the_error_of_the_rest(lab):
    (a,) = resolve(lab, "lab:a")
    r = kipoi(lab, "store", "rm", "nosuch:model", "lab:a")
    assert r.returncode == 2
    assert not Path(a).exists()
    lines = r.stderr.splitlines()
    assert lines[0].startswith("kipoi: freed ")
    assert lines[-1].startswith("kipoi: error: nosuch:model: unknown source 'nosuch'"), r.stderr


def test_gc_deletes_old_lock_files_nobody_holds(lab, tmp_path):
    import hashlib

    from fileserver import FileServer
    from kipoi_store.store.core.locks import Locks

    with FileServer() as server:
        url = server.add("/w.bin", b"remote weights\n")
        write(tmp_path / "lab", {"remote/model.yaml": "type: keras\nargs:\n  weights:\n    url: %s\n"
                                 "    md5: %s\n" % (url, hashlib.md5(b"remote weights\n").hexdigest())})
        r = kipoi(lab, "source", "pull", "lab:remote")
        assert r.returncode == 0, r.stderr
    locks = store_root(lab) / "locks"
    [pulled] = [p for p in locks.rglob("*") if p.is_file()]  # the download's lock, now free
    held_name, young_name = sha(b"held"), sha(b"young")
    held, busy = Locks(locks).try_many([held_name])  # as a download still running would
    assert busy == [] and list(held) == [held_name]
    Locks.release(Locks(locks).try_many([young_name])[0])
    hours_ago = time.time() - 7200
    for path in (pulled, locks / held_name[:2] / held_name):
        os.utime(path, (hours_ago, hours_ago))
    try:
        plan = kipoi(lab, "store", "gc", "--dry-run")
        assert plan.stdout.splitlines() == ["lock\t%s\t0" % pulled.name]
        assert "0 tmp leftover(s), 1 stale lock(s)" in plan.stderr
        r = kipoi(lab, "store", "gc")
        assert r.returncode == 0, r.stderr
        assert sorted(p.name for p in locks.rglob("*") if p.is_file()) == sorted([held_name, young_name])
    finally:
        Locks.release(held)
    # Released, the held one is just old: gone with the next gc; --prune=now takes the young one too.
    kipoi(lab, "store", "gc", "--prune=now")
    assert not [p for p in locks.rglob("*") if p.is_file()]


def test_a_waiter_never_shares_a_lock_with_whoever_locks_the_file_after_gc_deleted_it(tmp_path):
    from kipoi_store.store.core.locks import Locks, remove_if_free

    name = sha(b"weights")
    path = tmp_path / "locks" / name[:2] / name
    waiter, newcomer = Locks(tmp_path / "locks"), Locks(tmp_path / "locks")
    opened = waiter._open(name)  # the waiter opened the file, and has not locked it yet...
    assert remove_if_free(path)  # ...when gc deletes it
    locked, fd = waiter._lock(name, opened)  # locking the deleted file is noticed: the new one is taken
    assert locked and os.fstat(fd).st_ino == os.stat(path).st_ino
    held, busy = newcomer.try_many([name])
    assert (held, busy) == ({}, [name])
    assert not remove_if_free(path)  # gc never deletes a held lock
    os.close(fd)
