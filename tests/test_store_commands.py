"""`kipoi store verify | gc | info | du`, run as the real executables on a store in tmp_path."""

import hashlib
import json
import os
import subprocess
import sys
import time
from pathlib import Path

import pytest

from kipoi_store.store.core.entries import FileEntry, LinkEntry
from kipoi_store.store.housekeeping.info import store_info
from kipoi_store.store.core.store import Store

BIN = Path(sys.executable).parent
OLD, CURRENT = "1" * 40, "c" * 40


@pytest.fixture
def env(tmp_path):
    home = tmp_path / "home"
    home.mkdir()
    env = {k: v for k, v in os.environ.items() if not k.startswith("KIPOI_")}
    env.update(HOME=str(home), KIPOI_HOME=str(home / ".kipoi"), KIPOI_STORE=str(tmp_path / "store"))
    return env


@pytest.fixture
def store(env):
    return Store(env["KIPOI_STORE"])


def kipoi(*args, env):
    return subprocess.run([str(BIN / "kipoi"), *args], env=env, capture_output=True, text=True,
                          timeout=120)


def publish(store, key, name, files):
    entries = {p: FileEntry(store.add_bytes(data)) for p, data in files.items()}
    entries[name + "/link"] = LinkEntry("model.yaml")
    return store.publish(key, name, entries)


def test_info_of_a_store_not_yet_made(env):
    env = dict(env)
    del env["KIPOI_STORE"]  # the default store, which nothing has made yet
    store = Store(Path(env["KIPOI_HOME"]) / "store")
    r = kipoi("store", "info", env=env)
    assert r.returncode == 0, r.stderr
    assert "location:  %s\n" % store.root in r.stdout and "(not chosen yet)" in r.stdout
    verify = kipoi("store", "verify", env=env)
    assert (verify.returncode, verify.stderr) == (0, "kipoi: no store at %s yet: nothing to verify\n"
                                                  % store.root)
    assert not store.root.exists()  # looking does not create it


@pytest.mark.parametrize("command", [["info"], ["du", "--json"], ["verify"], ["verify", "--repair"],
                                     ["gc", "--dry-run"], ["gc"], ["ls"], ["ls", "--json"],
                                     ["rm", "a" * 40], ["rm", "--dry-run", "demo:Basset"]])
def test_store_commands_refuse_what_is_not_a_store(env, tmp_path, command):
    typo = dict(env, KIPOI_STORE=str(tmp_path / "typo"))
    r = kipoi("store", *command, env=typo)
    assert (r.returncode, r.stdout) == (2, "")
    assert r.stderr == "kipoi: error: no store at %s: no such directory (check KIPOI_STORE)\n" % (
        tmp_path / "typo")
    home = tmp_path / "home"  # a folder with other things in it: never verified, never collected
    (home / "notes.txt").write_text("mine")
    r = kipoi("store", *command, env=dict(env, KIPOI_STORE=str(home)))
    assert (r.returncode, r.stdout) == (2, "")
    assert "%s is not a kipoi store" % home in r.stderr and (home / "notes.txt").exists()
    r = kipoi("store", *command, env=dict(env, KIPOI_STORE=str(home / "notes.txt")))
    assert r.returncode == 2 and "it is a file, not a directory" in r.stderr


def test_resolving_and_importing_never_make_a_store_of_a_folder_holding_other_things(env, tmp_path):
    from kipoi_store.demo import DEMO_ROOT

    assert kipoi("source", "add", "demo", str(DEMO_ROOT), env=env).returncode == 0
    bundle = tmp_path / "demo.tar"
    exported = kipoi("store", "export", "-o", str(bundle), "demo:Basset", env=env)
    assert exported.returncode == 0, exported.stderr
    home = tmp_path / "mine"
    (home / "notes.txt").parent.mkdir()
    (home / "notes.txt").write_text("mine")
    mine = dict(env, KIPOI_STORE=str(home))
    for command in (["source", "resolve", "demo:Basset"], ["source", "pin", "demo:Basset"],
                    ["store", "export", "-o", str(tmp_path / "x.tar"), "demo:Basset"],
                    ["store", "import", str(bundle)]):
        r = kipoi(*command, env=mine)
        assert (r.returncode, r.stdout) == (2, ""), command
        assert r.stderr == "kipoi: error: %s is not a kipoi store: it holds none of objects/, snapshots/, " \
            "manifests/ (check KIPOI_STORE)\n" % home
    assert os.listdir(home) == ["notes.txt"]
    new = dict(env, KIPOI_STORE=str(tmp_path / "new"))  # a store not there yet is made, as it was
    assert kipoi("store", "import", str(bundle), env=new).returncode == 0
    assert kipoi("source", "resolve", "--offline", "demo:Basset", env=new).returncode == 0


def test_saved_counts_each_file_of_a_snapshot_once_however_many_group_models_hold_it(env, store):
    weights = b"W" * 10000
    group = {"G/model-template.yaml": b"t", "G/models.tsv": b"model\na\nb\nc\n", "G/w.h5": weights}
    for row in ("G/a", "G/b", "G/c"):  # three models of one group: one directory in the snapshot
        store.publish(CURRENT, row, {p: FileEntry(store.add_bytes(d)) for p, d in group.items()})
    info = json.loads(kipoi("store", "info", "--json", env=env).stdout)
    assert (info["models"], info["snapshots"]) == (3, 1)
    assert info["bytes_logical"] == len(weights) + len(b"t") + len(b"model\na\nb\nc\n")
    assert info["bytes_saved"] == 0  # one snapshot, each file once: nothing to deduplicate


def test_info_and_du_report_the_same(env, store):
    publish(store, OLD, "m", {"m/model.yaml": b"a", "m/w": b"W" * 5000})
    publish(store, CURRENT, "m", {"m/model.yaml": b"a", "m/w": b"W" * 5000})
    info = json.loads(kipoi("store", "info", "--json", env=env).stdout)
    assert info["location"] == str(store.root)
    assert (info["link_mode"], info["snapshots"], info["models"], info["objects"]) == ("hardlink", 2, 2, 2)
    assert info["bytes_saved"] == 5001
    du = kipoi("store", "du", "--json", env=env).stdout
    assert du.count("\n") == 1 and json.loads(du) == info  # JSON Lines: one object, one line
    text = kipoi("store", "du", "--bytes", env=env).stdout
    assert "objects:   2 (5001)\n" in text and "saved:     5001\n" in text


def test_verify_reports_damage_on_stdout_and_repair_fixes_it(env, store):
    publish(store, CURRENT, "m", {"m/model.yaml": b"a", "m/w": b"weights"})
    clean = kipoi("store", "verify", env=env)
    assert (clean.returncode, clean.stdout) == (0, "")
    assert "2 objects" in clean.stderr and "no damage" in clean.stderr

    digest = hashlib.sha256(b"weights").hexdigest()
    obj = store.object_path(digest)
    os.chmod(obj, 0o644)
    obj.write_bytes(b"bit rot")
    r = kipoi("store", "verify", env=env)
    assert r.returncode == 1
    lines = r.stdout.splitlines()
    assert lines[0].startswith("damaged object %s: content is " % digest)
    assert lines[1] == "damaged snapshot file %s/m/w: a link to damaged object %s" % (CURRENT, digest)
    assert len(lines) == 2 and "--repair" in r.stderr

    js = json.loads(kipoi("store", "verify", "--json", env=env).stdout)
    assert js["ok"] is False and js["problems"] == lines and js["removed"] == []

    fixed = kipoi("store", "verify", "--repair", env=env)
    assert fixed.returncode == 1 and fixed.stdout.splitlines() == lines
    # the object, its snapshot link, the manifest, and the snapshot no manifest names any more
    assert "removed 4" in fixed.stderr
    again = kipoi("store", "verify", env=env)
    assert (again.returncode, again.stdout) == (0, "")
    assert store.manifest(CURRENT, "m") is None and not store.has_object(digest)


def test_gc_dry_run_then_real_run(env, store):
    publish(store, OLD, "old", {"old/model.yaml": b"o", "old/w": b"O" * 3000})
    publish(store, CURRENT, "new", {"new/model.yaml": b"n"})
    past = time.time() - 40 * 86400
    for m in store.manifest_files(OLD):
        os.utime(m, (past, past))

    dry = kipoi("store", "gc", "--dry-run", env=env)
    assert dry.returncode == 0, dry.stderr
    kind, name, size = dry.stdout.splitlines()[0].split("\t")
    assert (kind, name) == ("snapshot", OLD) and int(size) > 0
    assert len(dry.stdout.splitlines()) == 1  # objects are young: an hour's grace
    assert "would delete 1 snapshot(s)" in dry.stderr
    assert store.snapshot_root(OLD).is_dir()

    before = store_info(store).bytes_on_disk
    real = kipoi("store", "gc", env=env)
    assert real.returncode == 0, real.stderr
    assert real.stdout == dry.stdout
    assert before - store_info(store).bytes_on_disk == int(size)
    assert not store.snapshot_root(OLD).exists() and store.manifest(CURRENT, "new")
    assert kipoi("store", "gc", "--dry-run", "--json", env=env).stdout.count('"kind"') == 0


def test_gc_keep_days_zero_drops_every_snapshot_the_config_does_not_reach(env, store):
    publish(store, CURRENT, "new", {"new/model.yaml": b"n"})
    r = kipoi("store", "gc", "--keep-days", "0", "--json", env=env)
    assert r.returncode == 0, r.stderr
    plan = json.loads(r.stdout)
    # Nothing recent is kept: --keep-days 0 also prunes the objects only it used, young as they are.
    assert [i["name"] for i in plan["items"] if i["kind"] == "snapshot"] == [CURRENT]
    assert [i["kind"] for i in plan["items"]].count("object") == 1 and plan["dry_run"] is False
    assert not store.snapshot_root(CURRENT).exists()


def test_gc_rejects_a_negative_keep_days(env):
    r = kipoi("store", "gc", "--keep-days", "-1", env=env)
    assert r.returncode == 2 and "kipoi: error:" in r.stderr


def test_store_commands_are_listed_with_their_summaries(env):
    r = kipoi("store", env=env)
    assert r.returncode == 0
    for verb in ("du", "gc", "info", "verify"):
        assert "store %s" % verb in r.stdout


@pytest.mark.parametrize("command, says", [
    (["export", "-o", "{tmp}/no/such/x.tar", "demo:Basset"],
     "-o {tmp}/no/such/x.tar: no such directory {tmp}/no/such"),
    (["export", "-o", "{tmp}", "demo:Basset"],
     "-o {tmp}: is a directory (use --mirror DIR to write a mirror)"),
    (["export", "--mirror", "{tmp}/file", "demo:Basset"], "--mirror {tmp}/file: is a file, not a directory"),
    (["init", "{tmp}/file"], "cannot make a store at {tmp}/file: it is a file"),
    (["init", "{tmp}"], "cannot make a store at {tmp}: it holds other things"),
])
def test_export_and_init_refuse_a_destination_they_cannot_use_before_any_work(env, tmp_path, command, says):
    from kipoi_store.demo import DEMO_ROOT

    assert kipoi("source", "add", "demo", str(DEMO_ROOT), env=env).returncode == 0
    (tmp_path / "file").write_text("mine")
    r = kipoi("store", *[arg.format(tmp=tmp_path) for arg in command], env=env)
    assert (r.returncode, r.stdout) == (2, "")
    assert r.stderr.startswith("kipoi: error: " + says.format(tmp=tmp_path)) and r.stderr.count("\n") == 1
    assert not Path(env["KIPOI_STORE"]).exists()  # nothing was resolved first
    assert (tmp_path / "file").read_text() == "mine"


def test_a_site_store_that_is_not_a_store_is_named_once_and_not_used(env, tmp_path):
    from kipoi_store.demo import DEMO_ROOT

    assert kipoi("source", "add", "demo", str(DEMO_ROOT), env=env).returncode == 0
    notes = tmp_path / "notes"
    notes.mkdir()
    (notes / "todo.txt").write_text("mine")
    sites = dict(env, KIPOI_SITE_STORES="%s:%s" % (tmp_path / "typo", notes))
    r = kipoi("source", "resolve", "demo:Basset", "demo:Basset", env=sites)
    assert r.returncode == 0, r.stderr
    assert r.stderr == (
        "kipoi: warning: site store %s is not used: no such file or directory (check "
        "KIPOI_SITE_STORES and site_stores in the config)\n"
        "kipoi: warning: site store %s is not used: it holds none of objects/, snapshots/, manifests/ "
        "(check KIPOI_SITE_STORES and site_stores in the config)\n" % (tmp_path / "typo", notes))
    info = kipoi("store", "info", env=sites)
    # store info still shows what is configured, with the same warning
    assert info.returncode == 0 and "site store %s is not used" % notes in info.stderr
    assert info.stdout.count("site store (read only") == 2
