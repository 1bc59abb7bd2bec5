"""Many processes on one store, and processes killed mid-publish: the store stays correct."""

import json
import os
import signal
import subprocess
import sys
import time

import pytest

from kipoi_store.store.core.entries import FileEntry
from kipoi_store.store.core.store import Store
from kipoi_store.store.housekeeping.verify import verify

KEY = "ab" * 20

# A child publishing models: argv = store root, start flag, JSON list of [model, {path: text}].
PUBLISHER = r"""
import json, os, sys, time
from kipoi_store.store.core.entries import FileEntry
from kipoi_store.store.core.store import Store
root, flag, models = sys.argv[1], sys.argv[2], json.loads(sys.argv[3])
while not os.path.exists(flag):  # start together, to collide as much as possible
    time.sleep(0.001)
store = Store(root)
for name, files in models:
    entries = {p: FileEntry(store.add_bytes(text.encode())) for p, text in files.items()}
    store.publish(%r, name, entries)
    assert store.manifest(%r, name) is not None
""" % (KEY, KEY)

# A child that stops at `stage` of publishing and waits to be killed:
# "staged": the tree is built in tmp/; "merging": the first directory is already merged in.
KILLED = r"""
import os, sys, time
from kipoi_store.store.core.entries import FileEntry
from kipoi_store.store.core.store import Store
root, marker, stage = sys.argv[1], sys.argv[2], sys.argv[3]

def wait_for_death():
    open(marker, "w").close()
    time.sleep(600)

class Paused(Store):
    def _staged(self, staging):
        if stage == "staged":
            wait_for_death()

    def _merge(self, src, dst, key, rel, entries):
        super()._merge(src, dst, key, rel, entries)
        if stage == "merging" and rel == "m/a":
            wait_for_death()

store = Paused(root)
entries = {"m/a/w": FileEntry(store.add_bytes(b"A" * 300000)),
           "m/b/w": FileEntry(store.add_bytes(b"B" * 300000)),
           "m/model.yaml": FileEntry(store.add_bytes(b"type: keras"))}
store.publish(%r, "m", entries)
""" % KEY


def model(name, shared):
    """A model directory plus a file shared by every model (as a group directory would be)."""
    return [name, {"g/%s/model.yaml" % name: "model %s\n" % name,
                   "g/%s/weights" % name: ("weights of %s " % name) * 1000,
                   "g/shared/dataloader.py": shared}]


def test_eight_processes_publishing_overlapping_models_all_succeed(tmp_path):
    root, flag = tmp_path / "store", tmp_path / "go"
    shared = "def load(): pass\n"
    children = []
    for i in range(8):
        # Each child publishes its own model and two it shares with its neighbours.
        models = [model("m%d" % i, shared), model("m%d" % ((i + 1) % 8), shared),
                  model("common", shared)]
        children.append(subprocess.Popen([sys.executable, "-c", PUBLISHER, str(root), str(flag),
                                          json.dumps(models)], stderr=subprocess.PIPE))
    flag.touch()
    for child in children:
        _, err = child.communicate(timeout=120)
        assert child.returncode == 0, err.decode()
    store = Store(root)
    for i in range(8):
        doc = store.manifest(KEY, "m%d" % i)
        assert doc is not None
        weights = store.snapshot_root(KEY) / ("g/m%d/weights" % i)
        assert weights.read_text() == ("weights of m%d " % i) * 1000
    assert sorted(os.listdir(store.snapshot_root(KEY) / "g")) == sorted(
        ["m%d" % i for i in range(8)] + ["common", "shared"])
    assert verify(store).ok
    assert os.listdir(store.tmp_dir) == []


def visible_files(root):
    out = {}
    for folder, _dirs, files in os.walk(root):
        for n in files:
            p = os.path.join(folder, n)
            out[os.path.relpath(p, root)] = open(p, "rb").read()
    return out


@pytest.mark.parametrize("stage", ["staged", "merging"])
def test_a_publisher_killed_mid_publish_leaves_nothing_partial(tmp_path, stage):
    root, marker = tmp_path / "store", tmp_path / "paused"
    store = Store(root)
    # Another model of the same commit is there already, so the child merges piece by piece.
    store.publish(KEY, "other", {"m/other": FileEntry(store.add_bytes(b"other"))})
    child = subprocess.Popen([sys.executable, "-c", KILLED, str(root), str(marker), stage])
    try:
        deadline = time.monotonic() + 120
        while not marker.exists():
            assert child.poll() is None, "the child ended before reaching %s" % stage
            assert time.monotonic() < deadline
            time.sleep(0.01)
    finally:
        child.send_signal(signal.SIGKILL)
        child.wait()
    assert store.manifest(KEY, "m") is None  # never reported as published
    snapshot = visible_files(store.snapshot_root(KEY))
    if stage == "staged":
        assert snapshot == {"m/other": b"other"}
    else:  # one whole directory arrived, complete; the rest did not
        assert snapshot == {"m/other": b"other", "m/a/w": b"A" * 300000}
    leftovers = os.listdir(store.tmp_dir)
    assert leftovers and all(n.startswith("%d@" % child.pid) for n in leftovers)

    # The next publish succeeds and the dead process's staging area is cleaned away.
    entries = {}
    for path, data in {"m/a/w": b"A" * 300000, "m/b/w": b"B" * 300000,
                       "m/model.yaml": b"type: keras"}.items():
        entries[path] = FileEntry(store.add_bytes(data))
    store.publish(KEY, "m", entries)
    assert store.manifest(KEY, "m") is not None
    assert visible_files(store.snapshot_root(KEY))["m/b/w"] == b"B" * 300000
    assert [p.name for p in store.clean_tmp()] == sorted(leftovers)
    assert os.listdir(store.tmp_dir) == []
    assert verify(store).ok
