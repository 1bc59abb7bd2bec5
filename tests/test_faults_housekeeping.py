"""Faults in housekeeping and in the user's own records (issue 16, items 5 and 6): a system call of
`store rm`, `store gc`, a config edit or a cache failing (strace's fault injection), or the process
killed there, never costs another model anything, never shows a half-done state, and ends in one
`kipoi: error:` line naming the path, or in success.

The worlds (tests/houseworlds.py) hold `lab:Fam/A` and `lab:Fam/B` in one snapshot of a git source,
sharing a file, and `old:Other/C`; each fault point gets a fresh copy (tests/faultsweep.py).
"""

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).parent))  # the sweep harness, as scripts/faults imports it

import faultsweep  # noqa: E402
from faultsweep import STRACE, bin_path, check_outcome, clone_tree, store_models  # noqa: E402
from houseworlds import HouseWorlds, right_after  # noqa: E402
from kipoi_store.store.core.staging import HOST  # noqa: E402

pytestmark = pytest.mark.skipif(not faultsweep.have_strace(), reason="needs strace (scripts/setup)")


@pytest.fixture(scope="module")
def worlds(tmp_path_factory):
    return HouseWorlds(tmp_path_factory.mktemp("house"))


def kipoi(env, *args, strace=()):
    argv = [*strace, bin_path("kipoi"), *args]
    return subprocess.run(argv, env=env, capture_output=True, text=True, timeout=120)


def inject(*rules, paths=()):
    """strace failing system calls (`rules`: inject specs) on `paths` only, when given."""
    argv = [STRACE, "-f", "-qq", "-o", "/dev/null"]
    for p in paths:
        argv += ["-P", str(p)]
    for rule in rules:
        argv += ["-e", "inject=" + rule]
    return argv


def world(worlds, tmp_path, name="world"):
    folder = tmp_path / name
    clone_tree(worlds.template(), folder)
    return folder, worlds.env(folder), worlds.store(folder)


def manifest_of(store, model):
    (path,) = store.glob("manifests/*/%s.json" % model.replace("/", "%2F"))
    return path


def test_rm_never_takes_a_model_whose_manifest_cannot_be_read_for_absent(worlds, tmp_path):
    """The data loss of issue 16: a read of Fam/B's manifest failing once made `rm lab:Fam/A` remove
    Fam/B too (exit 0); one of Fam/A's gave `internal error: KeyError`. Each read of either
    manifest fails in turn here: the rm succeeds, or fails naming the manifest with nothing
    removed; Fam/B always stays byte for byte."""
    for model in ("Fam/B", "Fam/A"):
        for when in (1, 2, 3):
            folder, env, store = world(worlds, tmp_path, "w-%s-%d" % (model[-1], when))
            before = store_models(store)
            b = {k: v for k, v in before.items() if k.endswith("Fam%2FB.json")}
            manifest = manifest_of(store, model)
            r = kipoi(env, "store", "rm", "lab:Fam/A",
                      strace=inject("openat:error=EIO:when=%d" % when, paths=[manifest]))
            assert check_outcome(faultsweep.Outcome(r.returncode, r.stdout, r.stderr, "")) == []
            after = store_models(store)
            assert {k: v for k, v in after.items() if k.endswith("Fam%2FB.json")} == b
            if r.returncode == 0:
                assert r.stdout.startswith("lab:Fam/A\t") and not any(
                    k.endswith("Fam%2FA.json") for k in after)
            else:
                assert r.returncode == 1 and r.stdout == "" and after == before, r.stderr
                assert "cannot read manifest %s (Input/output error)" % manifest in r.stderr
            assert right_after(store) == []
            again = subprocess.run([str(folder / "rm-again"), "lab:Fam/A"], env=env,
                                   capture_output=True, text=True)
            assert again.returncode == 0, again.stderr
            assert faultsweep.check_store(store) == []
            assert set(store_models(store)) == set(before) - {k for k in before if k.endswith("Fam%2FA.json")}
            faultsweep._remove(folder)


@pytest.mark.parametrize("operation,syscalls,points", [
    ("rm", ("rename", "unlink", "rmdir", "chmod", "openat"), 16),
    ("gc", ("rename", "unlinkat", "unlink", "rmdir", "chmod"), 16),
    ("config_edit", ("rename", "write", "fsync", "openat"), 8),
])
def test_a_fault_or_a_kill_anywhere_in_rm_gc_or_a_config_edit_leaves_things_whole(
        worlds, tmp_path, operation, syscalls, points):
    """A sample of each system call's invocations failed with EIO or killed there: one error line
    or success, `verify` clean right after (a removal cut short is pending, not damage) and after a
    clean rerun, no snapshot directory left writable, the models that stay byte for byte; a config
    is the old file or the new one, and the next edit leaves no temporary file behind."""
    scenario = getattr(worlds, operation)()
    report = faultsweep.sweep(scenario, tmp_path / "sweep", syscalls, ("EIO", "KILL"), limit=2)
    assert report.tried >= points
    assert report.broken == [], report.describe()


def test_verify_reports_a_removal_cut_short_as_nothing_and_repair_finishes_it(worlds, tmp_path):
    folder, env, store = world(worlds, tmp_path)
    (key,) = {p.parent.name for p in store.glob("manifests/*/Fam%2FA.json")}
    # Killed right after its first step: Fam/A's manifest is a tombstone, its files still there.
    r = kipoi(env, "store", "rm", "lab:Fam/A", strace=inject("unlink:signal=KILL:when=1"))
    assert r.returncode == -9
    assert not manifest_of_exists(store, key, "Fam/A") and (store / "snapshots" / key / "Fam/A").exists()
    assert kipoi(env, "source", "resolve", "--offline", "lab:Fam/B").returncode == 0
    v = kipoi(env, "store", "verify")
    assert (v.returncode, v.stdout) == (0, ""), v.stdout + v.stderr
    assert "Fam/A" not in kipoi(env, "store", "ls").stdout
    repaired = kipoi(env, "store", "verify", "--repair")
    assert repaired.returncode == 0, repaired.stderr
    assert not (store / "snapshots" / key / "Fam/A").exists()
    assert not list(store.glob("manifests/*/*.removing"))
    assert faultsweep.check_store(store) == []
    assert kipoi(env, "source", "resolve", "--offline", "lab:Fam/A").returncode == 0  # it comes back


def manifest_of_exists(store, key, model):
    return (store / "manifests" / key / (model.replace("/", "%2F") + ".json")).exists()


def test_rm_on_a_read_only_store_prints_nothing_it_did_not_do(worlds, tmp_path):
    folder, env, store = world(worlds, tmp_path)
    before = store_models(store)
    script = 'mount --bind "$1" "$1" && mount -o remount,bind,ro "$1" && shift && exec "$@"'
    r = subprocess.run(["unshare", "-m", "sh", "-c", script, "sh", str(store), bin_path("kipoi"),
                        "store", "rm", "lab:Fam/A"], env=env, capture_output=True, text=True)
    assert (r.returncode, r.stdout) == (1, "")
    assert r.stderr.splitlines()[-1].startswith("kipoi: error: cannot write to the store %s" % store)
    assert len(r.stderr.splitlines()) == 1 and store_models(store) == before


def test_rm_names_each_model_as_written_with_its_key(worlds, tmp_path):
    """Issue 16, item 6: `rm --dry-run loc:rmA` printed only the key."""
    folder, env, store = world(worlds, tmp_path)
    key_c = manifest_of(store, "Other/C").parent.name
    key = manifest_of(store, "Fam/A").parent.name
    r = kipoi(env, "store", "rm", "--dry-run", "old:Other/C", "%s/Fam/A" % key)
    assert r.returncode == 0, r.stderr
    assert r.stdout == "old:Other/C\t%s/Other/C\n%s/Fam/A\t%s/Fam/A\n" % (key_c, key, key)
    assert r.stderr.startswith("kipoi: would free ")
    r = kipoi(env, "store", "rm", "--json", "old:Other/C", key)
    lines = [json.loads(line) for line in r.stdout.splitlines()]
    assert lines == [  # in the order of the arguments
        {"spec": "old:Other/C", "key": key_c, "models": ["Other/C"], "snapshot_removed": True,
         "dry_run": False},
        {"spec": key, "key": key, "models": ["Fam/A", "Fam/B"], "snapshot_removed": True,
         "dry_run": False}]
    assert store_models(store) == {} and faultsweep.check_store(store) == []


@pytest.mark.parametrize("rule", ["pwrite64:error=ENOSPC", "pwrite64:error=EIO", "openat:error=EIO",
                                  "openat:error=EMFILE", "fdatasync:error=EIO"])
def test_a_cache_that_cannot_be_used_is_skipped_with_one_warning(worlds, tmp_path, rule):
    """The sqlite (diskcache) caches in KIPOI_HOME on a full disk or failing: the batch goes on,
    with one warning naming the cache; no `internal error: OperationalError`."""
    folder, env, store = world(worlds, tmp_path)
    src = tmp_path / "more"
    for name in ("x", "y", "z"):
        (src / name).mkdir(parents=True)
        (src / name / "model.yaml").write_text("type: keras  # %s\n" % name)
        (src / name / "w.bin").write_bytes(name.encode() * 1000)
    assert kipoi(env, "source", "add", "more", str(src)).returncode == 0
    cache = Path(env["KIPOI_HOME"]) / "cache" / "stat"
    files = [cache / n for n in ("cache.db", "cache.db-wal", "cache.db-shm")]
    assert cache.is_dir()  # made by the template's resolve of old:Other/C
    r = kipoi(env, "source", "resolve", "more:x", "more:y", "more:z", strace=inject(rule, paths=files))
    assert r.returncode == 0, r.stderr
    assert len(r.stdout.splitlines()) == 3
    warnings = r.stderr.splitlines()
    assert len(warnings) <= 1 and "internal error" not in r.stderr, r.stderr
    if warnings:
        assert warnings[0].startswith("kipoi: warning: cache %s cannot be used (" % cache)
    assert kipoi(env, "source", "resolve", "more:x").returncode == 0


def test_a_cache_that_fails_is_skipped_in_the_library_too(tmp_path):
    from kipoi_store.store.user.statcache import StatCache

    folder = tmp_path / "cache"
    said = []
    cache = StatCache(folder, warn=said.append)
    cache.put_raw("k", "v")
    cache.close()
    (folder / "cache.db").write_bytes(b"this is no sqlite database" * 100)
    cache = StatCache(folder, warn=said.append)
    assert cache.get_raw("k") is None and cache.get_raw("other") is None
    cache.put_raw("k", "v2")
    cache.close()
    assert len(said) == 1 and said[0].startswith("cache %s cannot be used (" % folder), said


def test_a_config_edit_killed_before_its_rename_leaves_nothing_after_the_next_edit(worlds, tmp_path):
    folder, env, store = world(worlds, tmp_path)
    config = Path(env["KIPOI_HOME"]) / "config.yaml"
    before = config.read_bytes()
    r = kipoi(env, "source", "add", "extra", str(worlds.old),
              strace=inject("rename:signal=KILL:when=1"))  # its one rename: tmp -> config
    assert r.returncode == -9
    assert config.read_bytes() == before  # the old file, byte for byte
    left = [p.name for p in config.parent.glob(".config.yaml.*.tmp")]
    assert len(left) == 1
    # What a live writer (this test's pid) is writing stays, and so does a young file whose
    # writer cannot be told (another host's, an older version's).
    live = config.parent / (".config.yaml.%d@%s@0123456789abcdef.tmp" % (os.getpid(), HOST))
    live.write_text("being written\n")
    other = config.parent / ".config.yaml.0123456789ab.tmp"
    other.write_text("whose?\n")
    r = kipoi(env, "source", "add", "extra", str(worlds.old))
    assert r.returncode == 0, r.stderr
    assert sorted(p.name for p in config.parent.glob(".config.yaml.*.tmp")) == sorted(
        [live.name, other.name])
    assert b"extra" in config.read_bytes()
