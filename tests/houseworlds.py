"""Small worlds for fault sweeps of housekeeping (`store rm`, `store gc`) and config edits: built
once as a template, cloned fresh for every fault point (tests/faultsweep.py).

    worlds = HouseWorlds(tmp_dir)
    report = faultsweep.sweep(worlds.rm(), tmp_dir / "w", ["rename"], ["EIO", "KILL"])

The store of each world holds `lab:Fam/A` and `lab:Fam/B` (a git source: one snapshot holds both, and
they share a file) and `old:Other/C` (a local source, removed from the config): rm removes Fam/A and
must leave Fam/B byte for byte; gc collects Other/C and must leave both Fam models byte for byte.
"""

import os
import subprocess
from pathlib import Path

from faultsweep import (Run, Scenario, bin_path, clone_tree, store_models, verify_problems,
                        writable_snapshot_dirs)
from faultworlds import _ok, make_env, write_model

SHARED = b"the same bytes in Fam/A and Fam/B\n"

# `kipoi store rm` until the model is gone: what a user reruns after a failed rm. A model that is
# no longer there is what the user wanted, not a failure.
RM_AGAIN = """#!/bin/sh
out=$("%s" store rm "$@" 2>&1) && exit 0
case "$out" in *"is not in the store"*) exit 0;; esac
printf '%%s\\n' "$out" >&2
exit 1
"""


def right_after(store):
    """What must hold right after a faulted or killed rm or gc: verify finds nothing, and no snapshot
    directory is writable but those a removal cut short may have opened (pending.py: the next rm,
    gc or verify --repair finishes it and closes them; verify leaves them alone meanwhile)."""
    from kipoi_store.store.core.store import Store
    from kipoi_store.store.housekeeping.pending import pending_folders, read_manifests

    exact, whole = set(), set()
    for key in os.listdir(store / "manifests") if (store / "manifests").is_dir() else ():
        found = read_manifests(Store(store), key)
        if not found.pending:
            continue
        if not found.known:
            whole.add("snapshots/" + key)  # dropped whole: opened at its top to move out
        exact.update("snapshots/%s/%s" % (key, f) if f else "snapshots/" + key
                     for f in pending_folders(found.pending_files()))
    prefix = "writable snapshot dir "
    writable = [p for p in writable_snapshot_dirs(store)
                if p[len(prefix):] not in exact and p[len(prefix):].split("/", 2)[:2] not in
                [w.split("/") for w in whole]]
    return verify_problems(store) + writable


def _git(*args, cwd):
    subprocess.run(["git", *args], cwd=cwd, check=True, capture_output=True,
                   env=dict(os.environ, GIT_AUTHOR_NAME="t", GIT_AUTHOR_EMAIL="t@example.org",
                            GIT_COMMITTER_NAME="t", GIT_COMMITTER_EMAIL="t@example.org"))


class HouseWorlds:
    def __init__(self, top):
        self.top = Path(top)
        self.repo = self.top / "lab"
        self.old = self.top / "old"
        if not self.repo.exists():
            write_model(self.repo / "Fam" / "A", 11)
            write_model(self.repo / "Fam" / "B", 12)
            for model in ("A", "B"):
                (self.repo / "Fam" / model / "common.txt").write_bytes(SHARED)
            _git("init", "-q", cwd=self.repo)
            _git("add", "-A", cwd=self.repo)
            _git("commit", "-q", "-m", "models", cwd=self.repo)
            write_model(self.old / "Other" / "C", 13)

    @staticmethod
    def env(world):
        return make_env(world / "home")

    @staticmethod
    def store(world):
        return world / "home" / ".kipoi" / "store"

    def template(self):
        """A home with sources `lab` and (for rm) `old`, all three models resolved."""
        folder = self.top / "template"
        if not folder.exists():
            env = self.env(folder)
            env.pop("KIPOI_OFFLINE")  # the first resolve of a git source clones it
            _ok(["kipoi", "source", "add", "lab", "file://%s" % self.repo, "--type", "git"], env)
            _ok(["kipoi", "source", "add", "old", str(self.old)], env)
            _ok(["kipoi-source-resolve", "lab:Fam/A", "lab:Fam/B", "old:Other/C"], env)
            (folder / "rm-again").write_text(RM_AGAIN % bin_path("kipoi"))
            (folder / "rm-again").chmod(0o755)
        return folder

    @staticmethod
    def models(store, *names):
        """{key/manifest: files} of the models `names` (manifest file names) in `store`."""
        return {k: v for k, v in store_models(store).items() if k.split("/", 1)[1] in names}

    def rm(self):
        """`kipoi store rm lab:Fam/A`: Fam/B and Other/C stay byte for byte; Fam/A goes."""
        template = self.template()
        keep = self.models(self.store(template), "Fam%2FB.json", "Other%2FC.json")

        def prepare(world):
            world.rmdir()
            clone_tree(template, world)
            return Run(["kipoi", "store", "rm", "lab:Fam/A"], self.env(world), store=self.store(world),
                       rerun=[str(world / "rm-again"), "lab:Fam/A"])

        def check(run, outcome, again):
            store = run.store
            problems = []
            if self.models(store, "Fam%2FB.json", "Other%2FC.json") != keep:
                problems.append("Fam/B or Other/C changed")
            if again is not None and again.returncode == 0:
                if self.models(store, "Fam%2FA.json") or any(store.glob("snapshots/*/Fam/A")):
                    problems.append("Fam/A still there after the rerun")
            if outcome.returncode == 0 and outcome.stdout.split("\t")[0] != "lab:Fam/A":
                problems.append("stdout does not name lab:Fam/A: %r" % outcome.stdout)
            if outcome.returncode != 0 and outcome.stdout and self.models(store, "Fam%2FA.json"):
                problems.append("printed %r, but Fam/A is still there" % outcome.stdout)
            return problems

        return Scenario("rm", prepare, check, after_fault=right_after)

    def gc(self):
        """`kipoi store gc --keep-days 0` after `old` left the config: Other/C goes, the Fam models
        stay byte for byte."""
        folder = self.top / "template-gc"
        if not folder.exists():
            clone_tree(self.template(), folder)
            _ok(["kipoi", "source", "remove", "old"], self.env(folder))
        keep = self.models(self.store(folder), "Fam%2FA.json", "Fam%2FB.json")
        argv = ["kipoi", "store", "gc", "--keep-days", "0"]

        def prepare(world):
            world.rmdir()
            clone_tree(folder, world)
            return Run(argv, self.env(world), store=self.store(world))

        def check(run, outcome, again):
            problems = []
            if self.models(run.store, "Fam%2FA.json", "Fam%2FB.json") != keep:
                problems.append("a Fam model changed")
            if again is not None and again.returncode == 0:
                if self.models(run.store, "Other%2FC.json") or any(run.store.glob("snapshots/*/Other")):
                    problems.append("Other/C still there after the rerun")
            return problems

        return Scenario("gc", prepare, check, after_fault=right_after)


    def config_edit(self):
        """`kipoi source add extra DIR`: right after any fault the config is the old file or the new
        one, byte for byte; the next edit (the rerun adds another source) leaves no temporary file
        of ours behind."""
        template = self.template()
        config = "home/.kipoi/config.yaml"
        old = (template / config).read_bytes()
        reference = self.top / "reference-config"
        if not reference.exists():
            clone_tree(template, reference)
            _ok(["kipoi", "source", "add", "extra", str(self.old)], self.env(reference))
        new = (reference / config).read_bytes()

        def prepare(world):
            world.rmdir()
            clone_tree(template, world)
            return Run(["kipoi", "source", "add", "extra", str(self.old)], self.env(world),
                       store=self.store(world),
                       rerun=["kipoi", "source", "add", "again", str(self.old)])

        def right_after_edit(store):
            got = (store.parent / "config.yaml").read_bytes()
            return [] if got in (old, new) else ["config.yaml is neither the old file nor the new one"]

        def check(run, outcome, again):
            folder = run.store.parent
            left = sorted(p.name for p in folder.glob(".config.yaml.*.tmp"))
            return ["temporary files left after the next edit: %s" % left] if left else []

        return Scenario("config", prepare, check, after_fault=right_after_edit, within="home/.kipoi")


def scenarios(top):
    """{operation: Scenario factory} of housekeeping and config edits, for scripts/faults and tests."""
    worlds = HouseWorlds(top)
    return {"rm": worlds.rm, "gc": worlds.gc, "config": worlds.config_edit}
