"""Faults at any system call of a publish (resolve, bundle import): a clear error, nothing lost,
nothing half-visible (issue 16 item 5).

Each sweep runs a real command once per fault point in a fresh copy of a small world, with one
system call failed by strace (`inject=SYSCALL:error=ERRNO:when=N`) or the process killed at one,
and checks the invariants of tests/faultsweep.py after each point. These are samples of the sweep
`scripts/faults` runs in full (every point, every errno).
"""

import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
from pathlib import Path

import pytest

import faultsweep
from faultsweep import Run, Scenario
from faultworlds import STORE, PublishWorlds, make_env

pytestmark = pytest.mark.skipif(not faultsweep.have_strace(), reason="strace is missing "
                                "(scripts/setup installs it)")

# The calls a publish makes on the store, and one errno each in turn.
PUBLISH_CALLS = ("rename", "link", "mkdir", "chmod", "symlink", "openat", "write", "fdatasync",
                 "fsync", "unlink")


@pytest.fixture(scope="module")
def worlds():
    """Templates of the publish worlds, on /dev/shm where there is one (many small files)."""
    top = Path(tempfile.mkdtemp(prefix="kipoi-faults-", dir="/dev/shm" if os.path.isdir("/dev/shm")
                                else None))
    yield PublishWorlds(top)
    faultsweep._remove(top)


@pytest.fixture
def workdir(worlds):
    path = worlds.top / ("work-%s" % os.urandom(4).hex())
    yield path
    faultsweep._remove(path)


def scenario(worlds, operation):
    return {"resolve": worlds.resolve_local, "import": worlds.import_bundle}[operation](within=STORE)


@pytest.mark.parametrize("operation", ["resolve", "import"])
@pytest.mark.parametrize("syscall", PUBLISH_CALLS)
def test_a_publish_failing_at_any_store_call_leaves_nothing_half_visible(worlds, workdir, operation,
                                                                          syscall):
    # Before: an unmanifested snapshot verify reported, directories published writable (an
    # unreadable directory skipped by os.walk while closing), TypeError from remove_path.
    report = faultsweep.sweep(scenario(worlds, operation), workdir, [syscall], faultsweep.ERRNOS,
                              limit=6, rotate=True)
    assert report.broken == [], report.describe()


def test_a_publish_killed_at_any_rename_is_undone_before_anyone_looks(worlds, workdir):
    # SIGKILL as the process enters its Nth rename (every one of an import: the snapshot's, then
    # its manifest's...): verify, run right after, finds nothing half-published.
    report = faultsweep.sweep(scenario(worlds, "import"), workdir, ["rename"], ["KILL"])
    assert report.broken == [], report.describe()
    report = faultsweep.sweep(scenario(worlds, "resolve"), workdir, ["chmod"], ["KILL"], limit=3)
    assert report.broken == [], report.describe()


def test_sigterm_during_a_publish_undoes_it_and_exits_143(worlds, workdir):
    report = faultsweep.sweep(scenario(worlds, "import"), workdir, ["rename"], ["TERM"], limit=3)
    assert report.broken == [], report.describe()


def test_a_full_disk_during_import_names_the_store_file_not_the_bundle(worlds, workdir):
    world = scenario(worlds, "import")
    points = faultsweep.find_points(world, workdir, "write")
    assert points
    for when in faultsweep.sample(points, 4):
        world_dir = workdir / "point"
        faultsweep._fresh(world_dir)
        run = world.prepare(world_dir)
        outcome = faultsweep.run_command(run, ("write", "ENOSPC", when))
        assert outcome.returncode == 1, outcome
        assert "truncated" not in outcome.stderr and "not a tar" not in outcome.stderr
        assert "cannot write '%s/" % run.store in outcome.stderr, outcome.stderr
        faultsweep._remove(world_dir)


def test_one_transient_link_error_does_not_make_the_store_copy_mode(worlds, workdir):
    # The first link of a fresh store is its link probe: EIO there once used to record "copy".
    template = scenario(worlds, "import")

    def fresh_store(world_dir):
        run = template.prepare(world_dir)
        shutil.rmtree(run.store)  # a fresh store: the import probes its link mode
        return run

    world = Scenario("import into a fresh store", fresh_store)
    [probe] = faultsweep.find_points(world, workdir, "link", contains="link-probe")
    (workdir / "point").mkdir(parents=True)
    run = fresh_store(workdir / "point")
    outcome = faultsweep.run_command(run, ("link", "EIO", probe))
    assert outcome.returncode == 0, outcome.stderr
    assert faultsweep.check_store(run.store) == []
    assert (run.store / "link-mode").read_text().strip() != "copy" if (
        run.store / "link-mode").exists() else True
    again = faultsweep.run_command(run, argv=["kipoi-source-resolve", "loc:Other/C"])
    assert again.returncode == 0, again.stderr
    assert (run.store / "link-mode").read_text().strip() == "hardlink"
    snapshot_file = Path(again.stdout.strip()) / "w.bin"
    assert os.stat(snapshot_file).st_nlink >= 2  # one inode for the object and the snapshot file


def test_an_object_that_appeared_meanwhile_is_never_renamed_over(tmp_path):
    # Another writer's object appears between our "is it there?" and our commit (made certain
    # here by failing the stat of that object). Renaming ours over it would make a concurrent
    # publisher's link of it fail with ENOENT ("vanished while publishing"): it must stay.
    from kipoi_store.store.core.store import Store

    data = b"the same bytes from two writers\n" * 100
    store = Store(tmp_path / "store")
    digest = store.add_bytes(data)
    obj = store.object_path(digest)
    before = os.stat(obj)
    code = ("import sys; from kipoi_store.store.core.store import Store; "
            "Store(sys.argv[1]).add_bytes(sys.argv[2].encode() * 100)")
    proc = subprocess.run([faultsweep.STRACE, "-f", "-qq", "-o", "/dev/null", "-P", str(obj),
                           "-e", "trace=newfstatat,stat,lstat,statx",
                           "-e", "inject=newfstatat,stat,lstat,statx:error=ENOENT",
                           sys.executable, "-c", code, str(store.root), data[:32].decode()],
                          capture_output=True, text=True, timeout=60)
    assert proc.returncode == 0, proc.stderr
    after = os.stat(obj)
    assert (after.st_ino, after.st_nlink) == (before.st_ino, before.st_nlink)
    assert os.listdir(store.tmp_dir) == []


def test_eight_concurrent_imports_of_one_bundle_never_fail_each_other(worlds, workdir):
    assert worlds.concurrent_imports(workdir) == []
    assert worlds.concurrent_imports(workdir, verify_beside=True) == []


def test_remove_path_reports_the_real_error_of_an_unreadable_directory(tmp_path):
    # shutil.rmtree's error hook gets os.open for a directory it cannot open: the retry used to
    # call os.open(path) without flags (TypeError) and hid the real error.
    code = ("import sys\nfrom kipoi_store.store.core.staging import remove_path\n"
            "try:\n    remove_path(sys.argv[1])\nexcept OSError as e:\n"
            "    print('OSError', e.errno, e.filename)\n")

    def tree(world_dir):
        (world_dir / "tree" / "a" / "b").mkdir(parents=True)
        (world_dir / "tree" / "a" / "b" / "f").write_text("x")
        return Run([sys.executable, "-c", code, str(world_dir / "tree" / "a")], dict(os.environ))

    world = Scenario("remove_path", tree)
    points = faultsweep.find_points(world, tmp_path, "openat", within="tree/a/b")
    assert points
    for when in points:
        faultsweep._fresh(tmp_path / "point")
        run = tree(tmp_path / "point")
        proc = faultsweep.run_command(run, ("openat", "EIO", when))
        assert proc.returncode == 0 and "Traceback" not in proc.stderr, proc.stderr
        assert proc.stdout.startswith("OSError 5 %s" % (tmp_path / "point" / "tree" / "a")), \
            proc.stdout


def test_verify_beside_a_publish_that_completes_meanwhile_reports_nothing(tmp_path):
    # verify reads a key's manifests, then a publisher completes (manifest written, tmp/ entry
    # gone) before verify looks at the files: they are that publisher's, not damage.
    from kipoi_store.store.core.entries import FileEntry
    from kipoi_store.store.core.store import Store
    from kipoi_store.store.housekeeping import verify as verify_module

    key = "cd" * 20
    publisher = Store(tmp_path / "store")
    publisher.publish(key, "m1", {"m1/model.yaml": FileEntry(publisher.add_bytes(b"m1"))})
    entries = {"m2/model.yaml": FileEntry(publisher.add_bytes(b"m2")),
               "m2/w": FileEntry(publisher.add_bytes(b"weights" * 100))}
    release, placed = threading.Event(), threading.Event()

    class Paused(Store):
        def _write_manifest(self, manifest_path, doc):
            placed.set()
            release.wait(30)
            super()._write_manifest(manifest_path, doc)

    class Watching(Store):
        def manifest_files(self, key_):
            found = super().manifest_files(key_)
            release.set()  # the publisher completes right after verify read the manifests
            thread.join(30)
            return found

    thread = threading.Thread(target=Paused(tmp_path / "store").publish, args=(key, "m2", entries))
    thread.start()
    assert placed.wait(30)
    report = verify_module.verify(Watching(tmp_path / "store"))
    thread.join(30)
    assert report.problems == ()
    assert json.loads((publisher.manifest_path(key, "m2")).read_bytes())["name"] == "m2"


def test_a_kill_at_a_random_moment_leaves_the_store_whole(worlds, workdir):
    world = scenario(worlds, "import")
    for delay in (0.05, 0.15, 0.3):
        assert faultsweep.kill_after(world, workdir, delay, signal.SIGKILL) == []


def test_the_harness_sees_a_broken_invariant(worlds, workdir):
    # A sweep that cannot fail proves nothing: a store left with a writable snapshot directory
    # and an unmanifested file is reported.
    world = scenario(worlds, "resolve")

    def spoil(world_dir):
        run = world.prepare(world_dir)
        env = make_env(world_dir / "home")
        subprocess.run([faultsweep.bin_path("kipoi-source-resolve"), "loc:Fam/A"], env=env,
                       check=True, capture_output=True)
        snap = next((run.store / "snapshots").iterdir())
        os.chmod(snap, 0o755)
        (snap / "stray").write_text("x")
        return run

    problems = faultsweep.one_point(Scenario("spoilt", spoil), workdir, None, rerun=False)
    assert any("writable" in p for p in problems) and any("stray" in p for p in problems)


@pytest.mark.skipif(os.geteuid() != 0, reason="mounts a full tmpfs (CI runs as root)")
def test_a_full_disk_during_an_lfs_download_names_the_file(tmp_path, giftless_server, kipoi_env):
    # A git-lfs resolve used to say only "No space left on device". The store's tmp/ is a tmpfs
    # filled to the last byte, in a private mount namespace: a real full disk, where the download
    # is the first thing written (the clone, the model.yaml object and the link mode are there).
    from gitserver import GitHTTPServer, build_kipoi_repo

    server = GitHTTPServer(tmp_path / "served").start()
    try:
        lfs_url = giftless_server.lfs_url("lab/faults-%s" % tmp_path.name)
        repo = build_kipoi_repo(server.root / "lab.git", lfs=True, lfs_url=lfs_url, push_lfs=True)
        kipoi = faultsweep.bin_path("kipoi")
        for argv in (["source", "add", "lab", server.repo_url("lab.git"), "--type", "git-lfs"],
                     ["source", "resolve", "lab:rbp_eclip/XRCC6"]):
            done = subprocess.run([kipoi, *argv], env=kipoi_env, capture_output=True, text=True)
            assert done.returncode == 0, done.stderr
        store = Path(kipoi_env["KIPOI_HOME"]) / "store"
        weights = [oid for oid, data in repo.lfs_objects.items() if data == b"XRCC6 weights\n"]
        for oid in weights:
            os.unlink(store / "objects" / "sha256" / oid[:2] / oid)
        for folder in ("snapshots", "manifests"):
            faultsweep._remove(store / folder)
        script = ('mount -t tmpfs -o size=4k none "$1/tmp" && '
                  '(dd if=/dev/zero of="$1/tmp/fill" bs=1k count=64 2>/dev/null; true) && '
                  'exec "$2" source resolve lab:rbp_eclip/XRCC6')
        outcome = subprocess.run(["unshare", "-m", "sh", "-c", script, "sh", str(store), kipoi],
                                 env=kipoi_env, capture_output=True, text=True, timeout=120)
        assert outcome.returncode == 1, outcome.stderr
        assert "cannot write '%s/tmp/" % store in outcome.stderr, outcome.stderr
        assert "No space left on device" in outcome.stderr and "Traceback" not in outcome.stderr
        assert weights
    finally:
        server.stop()
