"""Read-only all the way: nothing without chmod adds, removes or changes an entry of a published
snapshot, while publishing, merging, verify --repair and gc still work.

Root ignores file modes and CI runs as root: every check here runs as root with the capabilities
that bypass modes dropped (capsh), or as the user running the tests when that is not root.
"""

import hashlib
import json
import os
import shlex
import stat
import subprocess
import sys
from pathlib import Path

import pytest

from .conftest import BIN
from .fileserver import FileServer
from .users import bound_by_modes
from .test_store_concurrency import PUBLISHER, model

KEY = "ab" * 20


def unprivileged_argv(argv):
    """`argv` run as a process for which file modes bite (tests/users.py)."""
    return bound_by_modes(shlex.join(str(a) for a in argv))


def unprivileged(argv, env=None):
    return subprocess.run(unprivileged_argv(argv), env=env, capture_output=True, text=True, timeout=120)


def python(code, *args):
    """Run `code` in a fresh unprivileged interpreter; its last stdout line, parsed as JSON."""
    out = unprivileged([sys.executable, "-c", code, *args])
    assert out.returncode == 0, out.stderr
    return json.loads(out.stdout.splitlines()[-1])


def directory_modes(root):
    return {stat.S_IMODE(os.lstat(folder).st_mode) for folder, _, _ in os.walk(root)}


# Tries every way a loader could change a snapshot; prints the errno name each one got.
TAMPER = r"""
import errno, json, os, sys
d = sys.argv[1]
def attempt(change):
    try:
        change()
        return "allowed"
    except OSError as exc:
        return errno.errorcode[exc.errno]
print(json.dumps({
    "mkdir __pycache__": attempt(lambda: os.mkdir(os.path.join(d, "__pycache__"))),
    "create a file": attempt(lambda: open(os.path.join(d, "downloaded"), "x")),
    "delete a file": attempt(lambda: os.unlink(os.path.join(d, "model.yaml"))),
    "rename a file": attempt(lambda: os.rename(os.path.join(d, "model.yaml"), os.path.join(d, "m.yaml"))),
    "write a file": attempt(lambda: open(os.path.join(d, "model.yaml"), "r+b")),
}))
"""

NOTHING_CHANGES = {"mkdir __pycache__": "EACCES", "create a file": "EACCES", "delete a file": "EACCES",
                   "rename a file": "EACCES", "write a file": "EACCES"}

# Publishes two models of one snapshot (merging into closed directories), then verify, then gc.
STORE_LIFE = r"""
import json, os, sys
from kipoi_store.store.core.entries import FileEntry
from kipoi_store.store.housekeeping.gc import gc_execute, gc_plan
from kipoi_store.store.core.store import Store
from kipoi_store.store.housekeeping.verify import verify
store, key, step = Store(sys.argv[1]), sys.argv[2], sys.argv[3]

def publish(name, files):
    store.publish(key, name, {p: FileEntry(store.add_bytes(d.encode())) for p, d in files.items()})

if step == "publish":
    shared = {"g/dataloader.py": "class Dl: pass\n"}
    publish("g/a", {"g/a/model.yaml": "a", "g/a/w/x.h5": "weights a", **shared})
    publish("g/b", {"g/b/model.yaml": "b", **shared})
    publish("g/a", {"g/a/model.yaml": "a", "g/a/w/x.h5": "weights a", **shared})
    print(json.dumps({"ok": verify(store).ok}))
elif step == "verify":
    report = verify(store, repair="--repair" in sys.argv)
    print(json.dumps({"problems": report.problems, "removed": report.removed}))
elif step == "gc":
    plan = gc_plan(store, keep_keys=(), keep_days=0)
    gc_execute(store, plan)
    print(json.dumps({"snapshots": [i.name for i in plan.snapshots],
                      "left": os.listdir(store.snapshots_dir)}))
"""


def test_published_directories_admit_no_change_and_the_store_still_manages_them(tmp_path):
    root = tmp_path / "store"
    assert python(STORE_LIFE, root, KEY, "publish") == {"ok": True}
    snapshot = root / "snapshots" / KEY
    assert directory_modes(snapshot) == {0o555}
    assert python(TAMPER, snapshot / "g/a") == NOTHING_CHANGES
    assert python(TAMPER, snapshot / "g") == dict(NOTHING_CHANGES, **{
        "delete a file": "ENOENT", "rename a file": "ENOENT", "write a file": "ENOENT"})
    assert sorted(os.listdir(snapshot / "g")) == ["a", "b", "dataloader.py"]

    # What only chmod can do (an older store, or someone determined): verify names it...
    os.chmod(snapshot / "g/a", 0o755)
    (snapshot / "g/a/__pycache__").mkdir()
    (snapshot / "g/a/__pycache__/model.cpython-311.pyc").write_bytes(b"")
    (snapshot / "g/a/notes.txt").write_text("left by hand\n")
    found = python(STORE_LIFE, root, KEY, "verify")
    assert sorted(found["problems"]) == [
        "unexpected directory %s/g/a/__pycache__/: no manifest names it" % KEY,
        "unexpected file %s/g/a/notes.txt: no manifest names it" % KEY,
        "writable directory %s/g/a: snapshot directories are read-only" % KEY]
    assert found["removed"] == []
    # ... and --repair, run by the store's owner without any privilege, deletes it and closes up.
    fixed = python(STORE_LIFE, root, KEY, "verify", "--repair")
    assert fixed["problems"] == found["problems"] and len(fixed["removed"]) == 2
    assert python(STORE_LIFE, root, KEY, "verify") == {"problems": [], "removed": []}
    assert directory_modes(snapshot) == {0o555}

    # gc still deletes a whole read-only snapshot.
    assert python(STORE_LIFE, root, KEY, "gc") == {"snapshots": [KEY], "left": []}


def test_a_missing_file_is_named(tmp_path):
    root = tmp_path / "store"
    python(STORE_LIFE, root, KEY, "publish")
    snapshot = root / "snapshots" / KEY
    os.chmod(snapshot / "g/a/w", 0o755)
    os.unlink(snapshot / "g/a/w/x.h5")
    os.chmod(snapshot / "g/a/w", 0o555)
    assert python(STORE_LIFE, root, KEY, "verify")["problems"] == [
        "damaged snapshot file %s/g/a/w/x.h5: missing" % KEY]


def test_concurrent_unprivileged_publishers_merge_into_closed_directories(tmp_path):
    """Each publisher opens a directory for its one rename and closes it; one that finds it closed
    again by another retries. No lock: every model ends complete and every directory closed."""
    root, flag = tmp_path / "store", tmp_path / "go"
    shared = "def load(): pass\n"
    children = []
    for i in range(6):
        models = [model("m%d" % i, shared), model("m%d" % ((i + 1) % 6), shared), model("common", shared)]
        children.append(subprocess.Popen(unprivileged_argv(
            [sys.executable, "-c", PUBLISHER, root, flag, json.dumps(models)]), stderr=subprocess.PIPE))
    flag.touch()
    for child in children:
        assert child.wait(timeout=120) == 0, child.stderr.read().decode()
    [key] = os.listdir(root / "snapshots")
    models = ["m%d" % i for i in range(6)]
    assert sorted(os.listdir(root / "snapshots" / key / "g")) == ["common", *models, "shared"]
    assert directory_modes(root / "snapshots" / key) == {0o555}
    assert python(STORE_LIFE, root, key, "verify") == {"problems": [], "removed": []}


# -- end to end: kipoi's own writes fail, and resolve --files replaces what it does not trust --------

WEIGHTS = b"the right weights " * 100


@pytest.fixture
def zoo(tmp_path, kipoi_env):
    """A local source with a model whose weights are served on 127.0.0.1; yields (env, server)."""
    with FileServer() as server:
        server.add("/w.h5", WEIGHTS)
        src = tmp_path / "src"
        (src / "m").mkdir(parents=True)
        (src / "m/model.yaml").write_text("defined_as: model.Tiny\nargs:\n  weights:\n    url: %s\n"
                                          "    md5: %s\n" % (server.url("/w.h5"),
                                                            hashlib.md5(WEIGHTS).hexdigest()))
        (src / "m/model.py").write_text("class Tiny: pass\n")
        (src / "m/dataloader.yaml").write_text("defined_as: dataloader.Dl\n")
        (src / "m/dataloader.py").write_text("class Dl: pass\n")
        assert kipoi(kipoi_env, "source", "add", "zoo", src).returncode == 0
        yield kipoi_env, server


def kipoi(env, *args):
    return unprivileged([BIN / "kipoi", *args], env=env)


def test_kipoi_cannot_write_into_a_resolved_model_and_resolve_files_replaces_a_wrong_file(zoo):
    env, server = zoo
    r = kipoi(env, "source", "resolve", "zoo:m")
    assert r.returncode == 0, r.stderr
    model = Path(r.stdout.strip())
    # What kipoi does on load (byte code beside model.py, its download cache) is refused.
    assert python(TAMPER, model) == NOTHING_CHANGES
    mkdir = unprivileged(["mkdir", model / "__pycache__"])
    assert mkdir.returncode != 0 and "Permission denied" in mkdir.stderr

    # A store written before directories were read-only: kipoi left a wrong file at the very path
    # the weights go to, read-only like ours, and the directory open.
    target = model / "downloaded/model_files/weights" / hashlib.md5(WEIGHTS).hexdigest()
    os.chmod(model, 0o755)
    target.parent.mkdir(parents=True)
    target.write_bytes(b"a stale download")
    os.chmod(target, 0o444)
    key = model.parent.name
    verify = kipoi(env, "store", "verify")
    assert verify.returncode == 1
    assert verify.stdout.splitlines() == [
        "unexpected directory %s/m/downloaded/: no manifest names it" % key,
        "writable directory %s/m: snapshot directories are read-only" % key]

    files = kipoi(env, "source", "resolve", "--files", "zoo:m")
    assert files.returncode == 0, files.stderr
    assert target.read_bytes() == WEIGHTS and stat.S_IMODE(target.stat().st_mode) == 0o444
    assert server.requests_for("/w.h5")
    assert directory_modes(model) == {0o555}
    clean = kipoi(env, "store", "verify")
    assert (clean.returncode, clean.stdout) == (0, ""), clean.stderr
    assert python(TAMPER, target.parent) == dict(NOTHING_CHANGES, **{
        "delete a file": "ENOENT", "rename a file": "ENOENT", "write a file": "ENOENT"})
