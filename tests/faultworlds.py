"""Small worlds for fault sweeps of the publish path (tests/faultsweep.py): each is built once as a
template and cloned fresh for every fault point.

    worlds = PublishWorlds(tmp_dir)
    report = faultsweep.sweep(worlds.resolve_local(), tmp_dir / "w", ["rename"], ["EIO"])

Every world holds a store with one model already in it (its snapshot and manifest must come out of
every point byte for byte), and a reference store: what the operation gives when nothing fails.
"""

import os
import random
import subprocess
from pathlib import Path

from faultsweep import Run, Scenario, bin_path, clone_tree, compare_states, store_models, tree_state


def _ok(argv, env, cwd=None):
    proc = subprocess.run([bin_path(argv[0]), *argv[1:]], env=env, cwd=cwd, capture_output=True,
                          text=True, timeout=300)
    assert proc.returncode == 0, "%s: %s" % (" ".join(argv), proc.stderr)
    return proc.stdout


def make_env(home):
    env = {k: v for k, v in os.environ.items() if not k.startswith("KIPOI_")}
    env.update(HOME=str(home), KIPOI_HOME=str(Path(home) / ".kipoi"), KIPOI_OFFLINE="1",
               NO_PROXY="127.0.0.1,localhost")
    return env


def write_model(folder, seed, size=6000):
    """A model as the zoo has them: yaml, weights, a script, an executable, a symlink, a subfolder."""
    rng = random.Random(seed)
    folder.mkdir(parents=True)
    (folder / "model.yaml").write_text("defined_as: model.Model\nargs:\n  w: w.bin\n")
    (folder / "model.py").write_text("class Model:  # %d\n    pass\n" % seed)
    (folder / "w.bin").write_bytes(bytes(rng.getrandbits(8) for _ in range(size)))
    (folder / "run.sh").write_text("#!/bin/sh\necho %d\n" % seed)
    (folder / "run.sh").chmod(0o755)
    os.symlink("model.py", folder / "alias.py")
    (folder / "dl").mkdir()
    (folder / "dl" / "dataloader.yaml").write_text("defined_as: dataloader.D  # %d\n" % seed)


STORE = "home/.kipoi/store"  # where a world's store lies


class PublishWorlds:
    """Templates under `top`: a local source (models Fam/A, Fam/B, Other/C; Other/C already in the
    store) and a bundle of Fam/A + Fam/B for import into a store that already holds Other/C."""

    def __init__(self, top):
        self.top = Path(top)
        self.src = self.top / "src"
        if not self.src.exists():
            write_model(self.src / "Fam" / "A", 1)
            write_model(self.src / "Fam" / "B", 2)
            write_model(self.src / "Other" / "C", 3)
        self._templates = {}

    # ---------------------------------------------------------------------------------- templates

    def _home_with_c(self, home):
        """A home whose config names the local source and whose store holds Other/C."""
        env = make_env(home)
        _ok(["kipoi", "source", "add", "loc", str(self.src)], env)
        _ok(["kipoi-source-resolve", "loc:Other/C"], env)
        return env

    def _template(self, name, build):
        if name not in self._templates:
            folder = self.top / ("template-" + name)
            if not folder.exists():
                build(folder)
            self._templates[name] = folder
        return self._templates[name]

    def _reference(self, name, argv, world):
        """The models of the store when `argv` runs in a clean clone of the template `world`."""
        folder = self.top / ("reference-" + name)
        if not folder.exists():
            clone_tree(world, folder)
            _ok(argv, self._env(folder))
        return store_models(folder / "home" / ".kipoi" / "store")

    @staticmethod
    def _env(world):
        return make_env(world / "home")

    def _scenario(self, name, template, argv, verify_after_fault=True, within=None):
        reference = self._reference(name, argv, template)
        before_c = self._c_state(template / "home" / ".kipoi" / "store")

        def prepare(world):
            world.rmdir()
            clone_tree(template, world)
            return Run(list(argv), self._env(world), store=world / "home" / ".kipoi" / "store")

        def check(run, outcome, again):
            problems = compare_states(before_c, self._c_state(run.store), "model Other/C")
            if again is not None and again.returncode == 0:
                got = store_models(run.store)
                if got != reference:
                    differ = sorted(k for k in set(got) | set(reference) if got.get(k) != reference.get(k))
                    problems.append("after the rerun the store serves other bytes than the "
                                    "reference store for %s" % ", ".join(differ))
            return problems

        return Scenario(name, prepare, check, verify_after_fault=verify_after_fault, within=within)

    def _c_state(self, store):
        """Other/C as the store holds it: its snapshot tree and manifest, byte for byte."""
        state = {}
        for mdir in sorted((Path(store) / "manifests").glob("*")):
            if (mdir / "Other%2FC.json").exists():
                state.update(("m/" + k, v) for k, v in tree_state(mdir).items())
                state.update(("s/" + k, v)
                             for k, v in tree_state(Path(store) / "snapshots" / mdir.name).items())
        return state

    # ---------------------------------------------------------------------------------- scenarios

    def resolve_local(self, within=None):
        """`kipoi source resolve loc:Fam/A loc:Fam/B` into a store holding Other/C. `within`:
        STORE sweeps only the calls on the store (not the per-user caches beside it)."""
        template = self._template("resolve", lambda f: self._home_with_c(f / "home"))
        return self._scenario("resolve", template, ["kipoi-source-resolve", "loc:Fam/A", "loc:Fam/B"],
                              within=within)

    def import_bundle(self, within=None):
        """`kipoi store import bundle.tar` (Fam/A and Fam/B) into a store holding Other/C."""

        def build(folder):
            exporter = make_env(self.top / "exporter")
            if not (self.top / "bundle.tar").exists():
                _ok(["kipoi", "source", "add", "loc", str(self.src)], exporter)
                _ok(["kipoi-store-export", "-o", str(self.top / "bundle.tar"), "loc:Fam/A",
                     "loc:Fam/B"], exporter)
            self._home_with_c(folder / "home")

        template = self._template("import", build)
        return self._scenario("import", template, ["kipoi-store-import", str(self.top / "bundle.tar")],
                              within=within)

    def concurrent_imports(self, workdir, writers=8, verify_beside=False):
        """`writers` processes importing the same bundle into one fresh store at once (the objects
        of every writer collide): problems, empty when every writer succeeded and the store
        verifies clean and serves the reference bytes. With `verify_beside`, verify runs over
        and over while they publish, and whatever it reports is a problem too."""
        import threading

        from faultsweep import _fresh, check_outcome, check_store, concurrent, verify_problems

        scenario = self.import_bundle()
        world = Path(workdir) / "concurrent"
        _fresh(world)
        run = scenario.prepare(world)
        seen, done = [], threading.Event()

        def verify_until_done():
            while not done.is_set():
                seen.extend("while publishing: " + p for p in verify_problems(run.store))

        watcher = threading.Thread(target=verify_until_done)
        if verify_beside:
            watcher.start()
        try:
            outcomes = concurrent([run] * writers)
        finally:
            done.set()
            if verify_beside:
                watcher.join()
        problems = sorted(set(seen))
        for outcome in outcomes:
            problems += ["%s: %s" % (outcome.fault, p) for p in check_outcome(outcome)]
            if outcome.returncode != 0:
                problems.append("%s failed: %s" % (outcome.fault, outcome.stderr.strip()))
        problems += check_store(run.store)
        problems += scenario.check(run, outcomes[0], outcomes[0])
        return problems


def scenarios(top):
    """{operation: Scenario} of the publish path, for scripts/faults and the tests."""
    worlds = PublishWorlds(top)
    return {"resolve": worlds.resolve_local, "import": worlds.import_bundle}
