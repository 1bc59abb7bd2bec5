"""Stores a user can only read: another user's store, a read-only mount, files planted by others.

Real users (useradd) and real read-only bind mounts (unshare -m); see tests/users.py. A resolve of
what such a store holds complete writes nothing to it, and nothing that runs code when loaded is
read from a place another user can write.
"""

import json
import os
import pickle
import shutil
from pathlib import Path

import pytest

from .users import home_of, inodes, user, world_dir

DEMO = Path(__file__).resolve().parent.parent / "kipoi_store" / "demo" / "models"
SPECS = ["lab:rbp_eclip/XRCC6", "lab:CpGenie/A549", "demo:Basset", "demo:rbp_eclip/UPF1"]


@pytest.fixture
def base():
    path = world_dir()
    yield path
    shutil.rmtree(path)


@pytest.fixture
def alice():
    return user("kst-alice")


@pytest.fixture
def bob():
    return user("kst-bob")


def configure(who, env, kipoi_repo):
    for args in (["lab", kipoi_repo.http_url], ["demo", str(DEMO)]):
        r = who.kipoi("source", "add", *args, env=env)
        assert r.returncode == 0, r.stderr


def filled_store(base, owner, kipoi_repo):
    """A store `owner` filled with SPECS; returns (store, owner's env, the resolve's stdout)."""
    store = base / "store"
    store.mkdir()
    owner.own(store)
    env = home_of(owner, base, KIPOI_STORE=store)
    configure(owner, env, kipoi_repo)
    first = owner.kipoi("source", "resolve", *SPECS, env=env)
    assert first.returncode == 0, first.stderr
    return store, env, first.stdout


def test_another_users_store_resolves_warm_and_is_not_written(base, alice, bob, kipoi_repo):
    store, _, first = filled_store(base, alice, kipoi_repo)
    env = home_of(bob, base, KIPOI_STORE=store)  # bob has no records, caches or clone of his own
    configure(bob, env, kipoi_repo)
    before = inodes(store)
    for _ in range(2):  # the first learns from the manifests, the second from bob's own records
        again = bob.kipoi("source", "resolve", *SPECS, env=env)
        assert (again.returncode, again.stderr, again.stdout) == (0, "", first)
    assert inodes(store) == before
    # What the store lacks cannot be added by bob: said plainly, still without a write.
    for spec in ("lab:Basset", "demo:DeepSEA/predict"):
        r = bob.kipoi("source", "resolve", spec, env=env)
        assert r.returncode == 1
        assert r.stderr.startswith("kipoi: error: %s: cannot write to the store %s (Permission denied)"
                                   % (spec, store))
        assert "Traceback" not in r.stderr
    assert inodes(store) == before


def test_a_read_only_mount_of_ones_own_store_resolves_warm(base, bob, kipoi_repo):
    store, env, first = filled_store(base, bob, kipoi_repo)
    fresh = home_of(bob, base, name="bob-elsewhere", KIPOI_STORE=store)  # no records either
    configure(bob, fresh, kipoi_repo)
    before = inodes(store)
    for e in (env, fresh, fresh):
        again = bob.kipoi("source", "resolve", *SPECS, env=e, read_only=[store])
        assert (again.returncode, again.stderr, again.stdout) == (0, "", first)
    assert inodes(store) == before
    r = bob.kipoi("source", "resolve", "demo:DeepSEA/predict", env=env, read_only=[store])
    assert r.returncode == 1
    assert r.stderr.startswith("kipoi: error: demo:DeepSEA/predict: cannot write to the store %s "
                               "(Read-only file system)" % store)


class Payload:
    """Unpickling this creates the file its argument names: proof that a pickle was loaded."""

    def __init__(self, marker):
        self.marker = marker

    def __reduce__(self):
        return (open, (self.marker, "w"))


def test_files_planted_by_another_user_never_run_or_crash(base, alice, bob, kipoi_repo):
    store, _, first = filled_store(base, bob, kipoi_repo)
    marker = base / "pwned"
    evil = pickle.dumps(Payload(str(marker)))
    # Where earlier versions kept pickles and records, in the store anyone of a group may write...
    for rel in ("cache/config.pickle", "cache/config.marshal", "cache/records/00/0000.rec",
                "cache/stat/cache.db", "cache/git-blobs/cache.db", "cache/md5/cache.db"):
        (store / rel).parent.mkdir(parents=True, exist_ok=True)
        (store / rel).write_bytes(evil)
    # ...and files a store does hold, damaged: a manifest whose info leads outside, a clone state
    # that is not JSON, a `shared` setting nobody knows.
    [manifest] = (store / "manifests").glob("*/rbp_eclip%2FXRCC6.json")
    doc = json.loads(manifest.read_text())
    doc["info"]["directory"] = "../../.."
    os.chmod(manifest, 0o644)
    manifest.write_text(json.dumps(doc))
    for state in (store / "git").glob("*.git/kipoi.json"):
        state.write_bytes(b"\x80not json")
    (store / "shared").write_text("everyone\n")
    env = home_of(bob, base, name="bob2", KIPOI_STORE=store)  # no records: reads the manifests
    configure(bob, env, kipoi_repo)
    # ...and bob's own cache dir, made writable by others: its pickle is not trusted either.
    cache = Path(env["KIPOI_HOME"]) / "cache"
    cache.mkdir(parents=True)
    for name in ("config.pickle", "config.marshal"):  # the latter is today's cache
        (cache / name).write_bytes(evil)
        alice.own(cache / name)
    bob.own(cache)
    os.chmod(cache, 0o777)
    for args in (["source", "resolve", *SPECS], ["store", "verify"], ["store", "info"],
                 ["store", "gc", "--dry-run"], ["source", "list"]):
        r = bob.kipoi(*args, env=env)
        assert "Traceback" not in r.stderr and "internal error" not in r.stderr, r.stderr
        assert r.returncode in (0, 1), r.stderr
    assert not marker.exists()
    r = bob.kipoi("source", "resolve", *SPECS, env=env)
    assert r.returncode == 0, r.stderr
    # The damaged manifest's directory was refused: XRCC6 lies where its commit has it.
    assert r.stdout.splitlines()[0].endswith("/rbp_eclip/XRCC6")
