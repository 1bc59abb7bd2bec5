"""The content-addressed store: adding objects, publishing snapshots, verify, gc and info."""

import hashlib
import json
import os
import stat
import time

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from kipoi_store.store.core import hashing
from kipoi_store.errors import IntegrityError, UnsafePathError, UsageError
from kipoi_store.store.core.entries import FileEntry, LinkEntry, check_entries
from kipoi_store.store.housekeeping.gc import gc_execute, gc_plan
from kipoi_store.store.housekeeping.info import store_info
from kipoi_store.store.core.staging import HOST, remove_path
from kipoi_store.store.core.store import Store
from kipoi_store.store.housekeeping.verify import verify

KEY = "c0ffee" + "0" * 34
KEY2 = "beef" * 10


def sha(data):
    return hashlib.sha256(data).hexdigest()


@pytest.fixture
def store(tmp_path):
    return Store(tmp_path / "store")


def leftovers(store):
    return sorted(os.listdir(store.tmp_dir)) if store.tmp_dir.exists() else []


def make_old(path, seconds=2 * 86400):
    """Set a path's mtime into the past (its ctime cannot be: tests move the clock instead)."""
    t = time.time() - seconds
    os.utime(path, (t, t), follow_symlinks=False)


# ---------------------------------------------------------------------------------------- hashing

def test_hashing_helpers_agree_with_hashlib(tmp_path):
    data = os.urandom(3 * hashing.CHUNK_SIZE + 17)
    f = tmp_path / "f"
    f.write_bytes(data)
    assert hashing.sha256_file(f) == sha(data)
    assert hashing.md5_file(f) == hashlib.md5(data).hexdigest()
    h = hashing.hash_file(f, ("sha256", "md5"))
    assert (h.size, h.hexdigest("md5")) == (len(data), hashlib.md5(data).hexdigest())
    with open(f, "rb") as src, open(tmp_path / "g", "wb") as dst:
        assert hashing.copy_hashing(src, dst).hexdigest() == sha(data)
    assert (tmp_path / "g").read_bytes() == data
    assert hashing.is_sha256(sha(b"")) and not hashing.is_sha256(sha(b"").upper())


# --------------------------------------------------------------------------------------- objects

def test_add_bytes_file_and_stream_store_each_content_once(store, tmp_path):
    src = tmp_path / "weights.bin"
    src.write_bytes(b"w" * 5000)
    d1 = store.add_file(src)
    d2 = store.add_bytes(b"w" * 5000)
    d3 = store.add_stream(iter([b"w" * 2000, b"", b"w" * 3000]), expected_sha256=d1, expected_size=5000)
    assert d1 == d2 == d3 == sha(b"w" * 5000)
    obj = store.object_path(d1)
    assert obj == store.root / "objects" / "sha256" / d1[:2] / d1
    assert obj.read_bytes() == b"w" * 5000
    assert stat.S_IMODE(obj.stat().st_mode) == 0o444
    assert src.exists()  # copied, not moved
    assert [n for n in os.listdir(store.objects_dir / d1[:2])] == [d1]
    assert leftovers(store) == []


def test_add_file_move_consumes_the_source(store):
    tmp = store.new_tmp_path("download")
    tmp.write_bytes(b"downloaded")
    digest = store.add_file(tmp, expected_sha256=sha(b"downloaded"), move=True)
    assert not tmp.exists() and store.has_object(digest)
    again = store.new_tmp_path("download")
    again.write_bytes(b"downloaded")
    assert store.add_file(again, move=True) == digest
    assert not again.exists() and leftovers(store) == []


@pytest.mark.parametrize("how, wrong", [(how, wrong) for how in ("file", "move", "bytes", "stream")
                                         for wrong in ("digest", "size")
                                         if (how, wrong) != ("bytes", "size")])  # add_bytes: no size
def test_a_wrong_digest_or_size_keeps_nothing(store, tmp_path, how, wrong):
    data = b"model weights"
    expected = {"expected_sha256": sha(b"other")} if wrong == "digest" else {"expected_size": 3}
    src = store.new_tmp_path("src") if how == "move" else tmp_path / "src"
    src.write_bytes(data)
    with pytest.raises(IntegrityError, match="weights.h5"):
        if how == "file":
            store.add_file(src, what="weights.h5", **expected)
        elif how == "move":
            store.add_file(src, move=True, what="weights.h5", **expected)
        elif how == "bytes":
            store.add_bytes(data, what="weights.h5", **expected)
        else:
            store.add_stream([data[:4], data[4:]], what="weights.h5", **expected)
    assert not store.has_object(sha(data))
    assert not store.objects_dir.exists() or list(store.iter_objects()) == []
    assert leftovers(store) == []
    assert src.exists() == (how != "move")


def test_a_failing_stream_keeps_nothing(store):
    def chunks():
        yield b"half of it"
        raise ConnectionError("reset")

    with pytest.raises(ConnectionError):
        store.add_stream(chunks())
    assert leftovers(store) == [] and list(store.iter_objects()) == []


def test_object_names_are_checked(store):
    with pytest.raises(UsageError):
        store.object_path("../../etc/passwd")
    assert not store.has_object("nothex")


def test_tmp_names_carry_their_owner_and_dead_owners_are_cleaned(store):
    mine = store.new_tmp_path("x/y")
    mine.mkdir()
    assert "/" not in mine.name and mine.name.startswith("%d@" % os.getpid())
    dead = store.tmp_dir / mine.name.replace(str(os.getpid()), "999999999", 1)
    dead.mkdir()
    (dead / "f").write_bytes(b"x")
    os.chmod(dead / "f", 0o444)
    foreign = store.tmp_dir / "7@another-host@abc"
    foreign.mkdir()
    stranger = store.tmp_dir / "not-ours"
    stranger.write_bytes(b"")
    make_old(stranger)
    assert set(store.clean_tmp()) == {dead, stranger}
    assert sorted(os.listdir(store.tmp_dir)) == sorted([mine.name, foreign.name])
    make_old(foreign)
    make_old(mine)
    assert store.clean_tmp() == [foreign]  # ours stays however old: this process is alive


# ------------------------------------------------------------------------------------- publishing

def publish_files(store, key, name, files, links=None, executable=()):
    """Add `files` ({path: bytes}) as objects and publish them (plus `links`) as model `name`."""
    entries = {p: FileEntry(store.add_bytes(data), p in executable) for p, data in files.items()}
    entries.update({p: LinkEntry(t) for p, t in (links or {}).items()})
    return store.publish(key, name, entries)


def test_publish_builds_a_read_only_hardlinked_tree(store):
    root = publish_files(store, KEY, "rbp_eclip/UPF1",
                         {"rbp_eclip/UPF1/model.yaml": b"type: keras\n",
                          "rbp_eclip/template/dataloader.py": b"import x\n",
                          "rbp_eclip/UPF1/run.sh": b"#!/bin/sh\n"},
                         links={"rbp_eclip/UPF1/dataloader.py": "../template/dataloader.py"},
                         executable={"rbp_eclip/UPF1/run.sh"})
    assert root == store.snapshot_root(KEY) == store.root / "snapshots" / KEY
    model = root / "rbp_eclip" / "UPF1"
    assert (model / "dataloader.py").read_bytes() == b"import x\n"
    assert os.readlink(model / "dataloader.py") == "../template/dataloader.py"
    assert stat.S_IMODE(os.stat(model / "model.yaml").st_mode) == 0o444
    assert stat.S_IMODE(os.stat(model / "run.sh").st_mode) == 0o555
    # Directories are read-only too: nothing without chmod adds, removes or renames an entry.
    assert {stat.S_IMODE(os.stat(d).st_mode) for d in (root, root / "rbp_eclip", model)} == {0o555}
    obj = store.object_path(sha(b"type: keras\n"))
    assert os.stat(model / "model.yaml").st_ino == os.stat(obj).st_ino
    assert store.link_mode == "hardlink" and (store.root / "link-mode").read_text() == "hardlink\n"
    doc = store.manifest(KEY, "rbp_eclip/UPF1")
    assert doc["files"]["rbp_eclip/UPF1/dataloader.py"] == "->../template/dataloader.py"
    assert doc["files"]["rbp_eclip/UPF1/model.yaml"] == sha(b"type: keras\n")
    assert (store.manifests_dir / KEY / "rbp_eclip%2FUPF1.json").is_file()
    assert store.manifest(KEY, "rbp_eclip/UPF2") is None
    assert leftovers(store) == []


def test_publishing_a_second_model_merges_into_the_same_snapshot(store):
    shared = {"g/shared.py": b"shared"}
    publish_files(store, KEY, "g/a", {"g/a/model.yaml": b"a", **shared})
    first_inode = os.stat(store.snapshot_root(KEY) / "g/shared.py").st_ino
    publish_files(store, KEY, "g/b", {"g/b/model.yaml": b"b", **shared})
    publish_files(store, KEY, "g/a", {"g/a/model.yaml": b"a", **shared})  # again: a no-op
    root = store.snapshot_root(KEY)
    assert sorted(os.listdir(root / "g")) == ["a", "b", "shared.py"]
    assert os.stat(root / "g/shared.py").st_ino == first_inode
    assert store.manifest(KEY, "g/a") and store.manifest(KEY, "g/b")
    assert verify(store).ok


def test_a_name_with_percent_and_slash_gets_its_own_manifest(store):
    publish_files(store, KEY, "a%2Fb", {"x": b"1"})
    publish_files(store, KEY, "a/b", {"y": b"2"})
    assert store.manifest(KEY, "a%2Fb")["files"] == {"x": sha(b"1")}
    assert store.manifest(KEY, "a/b")["files"] == {"y": sha(b"2")}


@pytest.mark.parametrize("key", ["HEAD", "../x", "abc", "local-", "a" * 41, "local-xyz0000000"])
def test_keys_are_commits_or_local_digests(store, key):
    with pytest.raises(UsageError):
        store.snapshot_root(key)


def test_valid_keys(store):
    for key in ("a" * 40, "b" * 64, "local-" + "c" * 40):
        assert store.snapshot_root(key).name == key


@pytest.mark.parametrize("path", ["/etc/passwd", "../x", "a/../../x", "a//b", "a/./b", "", "a/",
                                  "a\0b", "."])
def test_unsafe_paths_are_refused(store, path):
    digest = store.add_bytes(b"x")
    with pytest.raises(UnsafePathError):
        store.publish(KEY, "m", {path: FileEntry(digest)})
    assert not store.snapshot_root(KEY).exists()


@pytest.mark.parametrize("link, target", [
    ("m/l", "/etc/passwd"),
    ("m/l", "../../outside"),
    ("l", "../x"),
    ("m/l", "../m/../../x"),
    ("m/l", "../d/../.."),  # d is a link to "." : the kernel would climb out of the root
    ("m/l", "nothere/../../../x"),
    ("m/loop", "loop2"),
])
def test_symlinks_leaving_the_snapshot_are_refused_naming_the_link(store, link, target):
    digest = store.add_bytes(b"x")
    entries = {"m/model.yaml": FileEntry(digest), "d": LinkEntry("."),
               "m/loop2": LinkEntry("loop"), link: LinkEntry(target)}
    with pytest.raises(UnsafePathError, match=link):
        store.publish(KEY, "m", entries)
    assert not store.snapshot_root(KEY).exists() and store.manifest(KEY, "m") is None


def test_paths_below_a_link_or_file_are_refused(store):
    digest = store.add_bytes(b"x")
    with pytest.raises(UnsafePathError, match="'a'"):
        check_entries({"a": LinkEntry("b"), "a/c": FileEntry(digest)})
    with pytest.raises(UnsafePathError):
        check_entries({"a": FileEntry(digest), "a/c": FileEntry(digest)})


def test_publish_needs_every_object(store):
    with pytest.raises(IntegrityError, match="m/model.yaml"):
        store.publish(KEY, "m", {"m/model.yaml": FileEntry(sha(b"never added"))})
    assert not store.snapshot_root(KEY).exists()


def test_a_type_conflict_with_what_is_published_is_an_error(store):
    publish_files(store, KEY, "a", {"m/x": b"file"})
    with pytest.raises(IntegrityError, match="m/x"):
        publish_files(store, KEY, "b", {"m/x/y": b"dir"})
    assert store.manifest(KEY, "b") is None and leftovers(store) == []


def test_copy_mode_is_remembered_and_makes_independent_files(store):
    store.root.mkdir(parents=True)
    (store.root / "link-mode").write_text("copy\n")
    root = publish_files(store, KEY, "m", {"m/w": b"weights", "m/x": b"#!"}, executable={"m/x"})
    f = root / "m/w"
    assert f.read_bytes() == b"weights"
    assert os.stat(f).st_ino != os.stat(store.object_path(sha(b"weights"))).st_ino
    assert stat.S_IMODE(os.stat(f).st_mode) == 0o444
    assert stat.S_IMODE(os.stat(root / "m/x").st_mode) == 0o555
    assert Store(store.root).link_mode == "copy"
    assert verify(store).ok
    info = store_info(store)
    assert info.link_mode == "copy" and info.bytes_saved == 0


def test_a_killed_publish_retry_succeeds_after_partial_merge(store):
    """A snapshot tree with files but no manifest (a publisher killed mid-merge) is completed."""
    publish_files(store, KEY, "m", {"m/a": b"a"})
    os.unlink(store.manifests_dir / KEY / "m.json")
    assert store.manifest(KEY, "m") is None
    publish_files(store, KEY, "m", {"m/a": b"a", "m/b": b"b"})
    assert store.manifest(KEY, "m") and (store.snapshot_root(KEY) / "m/b").read_bytes() == b"b"


# --------------------------------------------------------------------------------- property test

segment = st.text(alphabet="abcxyz_.-0", min_size=1, max_size=5).filter(lambda s: s not in (".", ".."))
rel_path = st.lists(segment, min_size=1, max_size=3).map("/".join)


@st.composite
def trees(draw):
    """A consistent tree: files (bytes) and links (arbitrary relative targets) at distinct paths."""
    paths = draw(st.lists(rel_path, min_size=1, max_size=8, unique=True))
    taken, files, links = set(), {}, {}
    for p in paths:
        parts = p.split("/")
        prefixes = {"/".join(parts[:i]) for i in range(1, len(parts))}
        if p in taken or prefixes & set(files) or prefixes & set(links) or any(
                t.startswith(p + "/") for t in taken):
            continue
        taken.add(p)
        if draw(st.integers(0, 3)) == 0:
            links[p] = draw(st.lists(st.sampled_from(["..", ".", "a", "x", "b/c"]), min_size=1,
                                     max_size=4).map("/".join))
        else:
            files[p] = draw(st.binary(max_size=64))
    return files, links


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(tree=trees())
def test_any_published_tree_is_byte_identical_and_never_leaves_the_root(tmp_path_factory, tree):
    files, links = tree
    store = Store(tmp_path_factory.mktemp("prop") / "store")
    try:
        root = publish_files(store, KEY, "m", files, links)
    except UnsafePathError as exc:
        assert any(link in str(exc) for link in links)
        assert not store.snapshot_root(KEY).exists()
        return
    real_root = os.path.realpath(root)
    for p, data in files.items():
        assert (root / p).read_bytes() == data
    for p, target in links.items():
        assert os.readlink(root / p) == target
        resolved = os.path.realpath(root / p)
        assert resolved == real_root or resolved.startswith(real_root + os.sep), (p, target)
    assert verify(store).ok and leftovers(store) == []


# ----------------------------------------------------------------------------------------- verify

def corrupt(path, data=b"corrupted!"):
    os.chmod(path, 0o644)
    with open(path, "r+b") as f:
        f.write(data)


def test_verify_detects_a_corrupted_object_and_repair_drops_it(store):
    publish_files(store, KEY, "good", {"good/a": b"fine"})
    publish_files(store, KEY, "bad", {"bad/w": b"weights to be damaged"})
    damaged = sha(b"weights to be damaged")
    corrupt(store.object_path(damaged))
    report = verify(store)
    assert not report.ok
    assert any(damaged in line and "object" in line for line in report.problems)
    assert any("bad/w" in line for line in report.problems)
    assert store.has_object(damaged)  # reporting alone changes nothing
    repaired = verify(store, repair=True)
    assert repaired.problems == report.problems and repaired.removed
    assert not store.has_object(damaged)
    assert not (store.snapshot_root(KEY) / "bad/w").exists()
    assert store.manifest(KEY, "bad") is None and store.manifest(KEY, "good")
    assert verify(store).ok
    # The next resolve puts it back.
    publish_files(store, KEY, "bad", {"bad/w": b"weights to be damaged"})
    assert verify(store).ok


def test_verify_detects_a_damaged_copy_and_missing_files(store):
    store.root.mkdir(parents=True)
    (store.root / "link-mode").write_text("copy\n")
    root = publish_files(store, KEY, "m", {"m/a": b"aaa", "m/b": b"bbb"}, links={"m/l": "a"})
    corrupt(root / "m/a")
    os.unlink(root / "m/l")
    report = verify(store, repair=True)
    assert sorted(line.split(":")[0] for line in report.problems) == [
        "damaged snapshot file %s/m/a" % KEY, "damaged snapshot file %s/m/l" % KEY]
    assert store.manifest(KEY, "m") is None and store.has_object(sha(b"aaa"))
    assert verify(store).ok


# --------------------------------------------------------------------------------------------- gc

def age_everything(store, seconds):
    for folder, dirs, files in os.walk(store.root):
        for n in files + dirs:
            make_old(os.path.join(folder, n), seconds)


def test_gc_keeps_current_and_recent_snapshots_and_frees_what_it_planned(store, monkeypatch):
    publish_files(store, KEY, "old", {"old/w": b"O" * 1000, "old/shared": b"S" * 10})
    publish_files(store, KEY2, "current", {"cur/w": b"C" * 100, "cur/shared": b"S" * 10})
    recent_key = "d" * 40
    publish_files(store, recent_key, "recent", {"r/w": b"R" * 10})
    age_everything(store, 40 * 86400)
    store.touch(recent_key, "recent")
    # ctime cannot be set back: pretend the clock moved two hours ahead instead.
    real_time = time.time
    monkeypatch.setattr(time, "time", lambda: real_time() + 7200)
    before = store_info(store).bytes_on_disk

    plan = gc_plan(store, {KEY2}, keep_days=30)
    assert [i.name for i in plan.snapshots] == [KEY]
    assert [i.name for i in plan.objects] == [sha(b"O" * 1000)]
    assert plan.objects[0].bytes == 1000  # the object carries the bytes its hardlinks share
    assert store_info(store).bytes_on_disk == before  # planning deletes nothing
    freed = gc_execute(store, plan)
    assert freed == plan.bytes_freed
    assert before - store_info(store).bytes_on_disk == freed
    assert not store.snapshot_root(KEY).exists() and store.manifest(KEY, "old") is None
    assert store.manifest(KEY2, "current") and store.manifest(recent_key, "recent")
    assert store.has_object(sha(b"S" * 10)) and not store.has_object(sha(b"O" * 1000))
    assert verify(store).ok
    assert gc_plan(store, {KEY2}, keep_days=30).items == ()


def test_gc_never_drops_young_objects(store):
    store.add_bytes(b"just downloaded, not yet published")
    assert gc_plan(store, set(), keep_days=0).objects == ()


def test_gc_skips_a_snapshot_resolved_after_the_plan(store, monkeypatch):
    publish_files(store, KEY, "m", {"m/a": b"a"})
    age_everything(store, 40 * 86400)
    plan = gc_plan(store, set(), keep_days=30)
    assert [i.name for i in plan.snapshots] == [KEY]
    store.touch(KEY, "m")
    assert gc_execute(store, plan) == 0
    assert store.manifest(KEY, "m")


# ------------------------------------------------------------------------------------------- info

def test_info_counts_hardlinked_bytes_once(store):
    big = b"W" * 4096
    publish_files(store, KEY, "a", {"a/w": big})
    publish_files(store, KEY2, "b", {"b/w": big, "b/w2": big})
    info = store_info(store)
    assert (info.snapshots, info.models, info.objects) == (2, 2, 1)
    assert info.link_mode == "hardlink" and info.location == store.root
    assert info.bytes_objects == 4096 and info.bytes_logical == 3 * 4096
    assert info.bytes_saved == 2 * 4096
    assert 4096 <= info.bytes_on_disk < 2 * 4096  # the manifests are small
    assert json.loads(json.dumps(info.as_dict()))["objects"] == 1


def test_remove_path_handles_read_only_trees(tmp_path):
    d = tmp_path / "ro"
    (d / "sub").mkdir(parents=True)
    (d / "sub" / "f").write_bytes(b"")
    os.chmod(d / "sub" / "f", 0o444)
    os.chmod(d / "sub", 0o555)
    remove_path(d)
    assert not d.exists()
    remove_path(d)  # gone already: fine


def test_a_file_that_cannot_be_hardlinked_is_copied(store, monkeypatch):
    import errno

    assert store.link_mode == "hardlink"  # chosen while links still work

    def refuse(src, dst, **kw):
        raise OSError(errno.EMLINK, "Too many links")

    monkeypatch.setattr(os, "link", refuse)
    root = publish_files(store, KEY, "m", {"m/w": b"popular content"})
    assert (root / "m/w").read_bytes() == b"popular content"
    assert os.stat(root / "m/w").st_ino != os.stat(store.object_path(sha(b"popular content"))).st_ino
    assert verify(store).ok


def test_gc_collects_a_dead_process_leftovers(store):
    leftover = store.tmp_dir / ("999999999@%s@0123abcd@publish" % HOST)
    leftover.mkdir(parents=True)
    (leftover / "half").write_bytes(b"x" * 100)
    plan = gc_plan(store, set(), keep_days=30)
    assert [(i.kind, i.bytes) for i in plan.items] == [("tmp", 100)]
    assert gc_execute(store, plan) == 100 and not leftover.exists()


def test_write_atomic_sets_the_mode_whatever_the_umask_and_leaves_nothing_when_it_fails(tmp_path):
    from kipoi_store.store.core.staging import write_atomic

    target = tmp_path / "f"
    old = os.umask(0o077)
    try:
        write_atomic(target, b"one", 0o644)
    finally:
        os.umask(old)
    assert target.read_bytes() == b"one" and stat.S_IMODE(target.stat().st_mode) == 0o644

    def half_then_fail(f):
        f.write(b"tw")
        raise OSError(28, "No space left on device")

    with pytest.raises(OSError):
        write_atomic(target, half_then_fail)
    assert target.read_bytes() == b"one"  # the old file, never a part of the new
    assert os.listdir(tmp_path) == ["f"]
