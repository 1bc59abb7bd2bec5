"""Fault sweeps: run one of our real commands with one system call failing (or the process killed at
one system call), in a fresh world each time, and check the invariants every operation keeps.

    world = Scenario("resolve", prepare=make_world)        # prepare(dir) -> Run(argv, env, store)
    points = find_points(world, tmp_path, "rename")        # invocations that touch the world
    report = sweep(world, tmp_path, ["rename"], ["EIO"], limit=20)
    assert report.broken == [], report.describe()

How a fault is made: `strace -f -e inject=SYSCALL:error=ERRNO:when=N` fails the Nth call of SYSCALL
(strace counts per system call and per process); `inject=SYSCALL:signal=KILL:when=N` kills the
process as it enters that call, which makes "killed at a chosen moment" reproducible. A clean run
traced with `-y` (file descriptors shown with their paths) tells which invocations of the main
process touch the world's directory: those are the points swept. Calls that touch only the Python
installation (imports) are not ours to survive.

The invariants (check_outcome, check_store), after every point:
  - the command succeeded, or printed exactly one `kipoi: error:` line (and no traceback, no
    `internal error`); a killed one printed no traceback;
  - `kipoi store verify` finds nothing, right after the faulted run (no half-state is ever visible)
    and after a clean rerun, which succeeds;
  - every snapshot directory is read-only;
  - what the scenario's own check says (other models byte for byte, config files, ...).
"""

import dataclasses
import os
import random
import re
import shutil
import signal as _signal
import stat
import subprocess
import sys
import time
import zlib
from pathlib import Path
from typing import Callable, List, Optional, Sequence

STRACE = shutil.which("strace") or "/usr/bin/strace"

# The system calls and errnos of issue 16's sweep (what Python's os functions call on x86-64 Linux).
SYSCALLS = ("write", "pwrite64", "openat", "rename", "link", "mkdir", "unlink", "chmod", "fsync",
            "fdatasync", "symlink", "rmdir", "unlinkat", "fchmod")
ERRNOS = ("ENOSPC", "EIO", "EACCES", "EPERM", "EMFILE")
KILLS = ("KILL", "TERM")


def have_strace():
    return os.access(STRACE, os.X_OK)


@dataclasses.dataclass
class Run:
    """One command to run in a world: argv (argv[0] a program name in the venv's bin, or a path),
    its environment, and the store it writes (None when it writes no store)."""
    argv: Sequence[str]
    env: dict
    store: Optional[Path] = None
    cwd: Optional[Path] = None
    input: Optional[str] = None
    rerun: Optional[Sequence[str]] = None  # the clean rerun, when not argv itself


@dataclasses.dataclass
class Outcome:
    returncode: int
    stdout: str
    stderr: str
    fault: str  # "rename:EIO@3", "rename:KILL@3", "clean"


@dataclasses.dataclass
class Scenario:
    """An operation to sweep. prepare(dir) builds a fresh world under the empty directory `dir`
    and returns its Run; check(run, outcome, rerun_outcome) returns extra problems (strings)."""
    name: str
    prepare: Callable[[Path], Run]
    check: Optional[Callable[[Run, Outcome, Optional[Outcome]], List[str]]] = None
    verify_after_fault: bool = True  # the store must verify clean right after the faulted run
    within: Optional[str] = None  # sweep only calls touching this path of the world (default: all)
    # What is checked right after the faulted run, in place of check_store (store -> problems).
    after_fault: Optional[Callable[[Path], List[str]]] = None


@dataclasses.dataclass
class Report:
    scenario: str
    tried: int = 0
    broken: list = dataclasses.field(default_factory=list)  # [(fault, [problems])]

    def describe(self, limit=20):
        lines = ["%s: %d points tried, %d broken" % (self.scenario, self.tried, len(self.broken))]
        for fault, problems in self.broken[:limit]:
            lines.append("  %s: %s" % (fault, "; ".join(problems)))
        return "\n".join(lines)


def _bin_dir():
    here = Path(sys.executable).parent
    if (here / "kipoi").exists():
        return here
    return Path(__file__).resolve().parent.parent / ".venv" / "bin"  # run from scripts/faults


BIN = _bin_dir()


def bin_path(program):
    """A program of ours: the venv's bin holds every launcher (`pip install -e`)."""
    if os.sep in program:
        return program
    return str(BIN / program)


def _env(run):
    env = dict(run.env)
    env.setdefault("PYTHONHASHSEED", "0")  # the same run makes the same calls in the same order
    return env


def run_command(run, fault=None, timeout=120, argv=None):
    """Run `run` (its argv, or `argv`); `fault` is None, or (syscall, ERRNO or KILL/TERM, when)."""
    argv = [bin_path(argv[0] if argv else run.argv[0]), *(argv or run.argv)[1:]]
    label = "clean"
    if fault is not None:
        syscall, what, when = fault
        action = "signal=SIG%s" % what if what in KILLS else "error=%s" % what
        # A seccomp filter stops the process only at the traced call (much faster), but strace
        # 6.1 then never delivers an injected signal: kills run without it.
        fast = [] if what in KILLS else ["--seccomp-bpf"]
        argv = [STRACE, *fast, "-f", "-qq", "-o", "/dev/null", "-e", "trace=" + syscall,
                "-e", "inject=%s:%s:when=%d" % (syscall, action, when), *argv]
        label = "%s:%s@%d" % fault
    proc = subprocess.run(argv, env=_env(run), cwd=run.cwd, input=run.input, capture_output=True,
                          text=True, timeout=timeout)
    return Outcome(proc.returncode, proc.stdout, proc.stderr, label)


_LINE = re.compile(r"^(\d+) +([a-z0-9_]+)\(")
_CWD = re.compile(r"AT_FDCWD<[^>]*>")


def find_points(scenario, workdir, syscall, within=None, contains=None):
    """The invocation numbers (1-based, counted per process and thread as strace counts them) of
    `syscall` that touch the world: a path or descriptor under the world's directory (or
    `within`), in any process or thread (`when=N` then fails the Nth call of each of them: the
    main thread's and, say, a download thread's). Builds a world in workdir/probe-<syscall> for a
    traced clean run. `contains`: only calls whose traced line holds that text (a file name)."""
    world = Path(workdir) / ("probe-" + syscall)
    _fresh(world)
    run = scenario.prepare(world)
    trace = world.parent / (world.name + ".trace")
    argv = [STRACE, "--seccomp-bpf", "-f", "-y", "-qq", "-s", "0", "-o", str(trace), "-e", "trace=" + syscall,
            bin_path(run.argv[0]), *run.argv[1:]]
    subprocess.run(argv, env=_env(run), cwd=run.cwd, input=run.input, capture_output=True,
                   text=True, timeout=300)
    within = within or scenario.within
    marker = str(world / within if within else world)
    counts, points = {}, set()
    with open(trace, errors="replace") as f:
        for line in f:
            m = _LINE.match(line)
            if not m or m.group(2) != syscall:
                continue  # "<... resumed>" lines continue a call already counted
            pid = m.group(1)
            counts[pid] = counts.get(pid, 0) + 1
            if marker in _CWD.sub("", line) and (contains is None or contains in line):
                points.add(counts[pid])
    _remove(world)
    os.unlink(trace)
    return sorted(p for p in points if p <= 65535)  # strace's limit for `when`


def sample(points, limit, seed=0):
    """At most `limit` of `points`, spread over the run (first and last always included)."""
    points = sorted(points)
    if limit is None or len(points) <= limit:
        return points
    if limit <= 2:
        return points[:limit]
    rng = random.Random(seed)
    middle = rng.sample(points[1:-1], limit - 2)
    return sorted([points[0], points[-1], *middle])


# ------------------------------------------------------------------------------------ invariants

def check_outcome(outcome):
    """Problems with how the command ended: success, or one `kipoi: error:` line; never a
    traceback or an internal error. A process killed by SIGKILL has nothing to say."""
    problems = []
    err = outcome.stderr
    if "Traceback" in err or "internal error" in err:
        problems.append("traceback/internal error: %s" % _tail(err))
    if outcome.returncode in (-_signal.SIGKILL, -_signal.SIGTERM):
        return problems  # killed (SIGTERM before the command set up its handler): nothing to say
    errors = [line for line in err.splitlines() if line.startswith("kipoi: error:")]
    if outcome.returncode == 0:
        if errors:
            problems.append("exit 0 with an error line: %s" % errors[0])
    elif outcome.returncode == 128 + _signal.SIGTERM:
        pass  # SIGTERM: cleaned up and exited 143, nothing to report
    elif outcome.returncode in (1, 2):
        if len(errors) != 1:
            problems.append("exit %d with %d error lines: %s" % (outcome.returncode, len(errors),
                                                                _tail(err)))
    else:
        problems.append("exit %d: %s" % (outcome.returncode, _tail(err)))
    return problems


def verify_problems(store):
    """What `kipoi store verify` (the library call behind it) reports for `store`."""
    if store is None or not os.path.isdir(store):
        return []
    from kipoi_store.store.core.store import Store
    from kipoi_store.store.housekeeping.verify import verify

    return ["verify: " + p for p in verify(Store(store)).problems]


def writable_snapshot_dirs(store):
    """Snapshot directories with a write bit (they must all be read-only)."""
    top = Path(store) / "snapshots"
    found = []
    if not top.is_dir():
        return found
    for folder, _dirs, _files in os.walk(top):
        if folder != str(top) and os.lstat(folder).st_mode & 0o222:
            found.append("writable snapshot dir %s" % os.path.relpath(folder, store))
    return found


def check_store(store):
    if store is None:
        return []
    return verify_problems(store) + writable_snapshot_dirs(store)


def tree_state(top, skip=()):
    """{relative path: (kind, mode, bytes or link target)} of everything under `top`: a byte-for-byte
    picture to compare before and after. `skip`: relative paths (and what is below them) left out."""
    top = Path(top)
    state = {}
    if not top.exists():
        return state
    for folder, dirs, files in os.walk(top):
        rel_folder = os.path.relpath(folder, top)
        for name in sorted(dirs + files):
            path = os.path.join(folder, name)
            rel = os.path.normpath(os.path.join(rel_folder, name))
            if any(rel == s or rel.startswith(s + "/") for s in skip):
                continue
            st = os.lstat(path)
            if stat.S_ISLNK(st.st_mode):
                state[rel] = ("link", 0, os.readlink(path))
            elif stat.S_ISDIR(st.st_mode):
                state[rel] = ("dir", stat.S_IMODE(st.st_mode), None)
            else:
                with open(path, "rb") as f:
                    state[rel] = ("file", stat.S_IMODE(st.st_mode), f.read())
        dirs[:] = [d for d in dirs if not os.path.islink(os.path.join(folder, d))]
    return state


def compare_states(before, after, what):
    """Problems naming what differs between two tree_state pictures."""
    problems = []
    for rel in sorted(set(before) | set(after)):
        if before.get(rel) != after.get(rel):
            how = "gone" if rel not in after else "new" if rel not in before else "changed"
            problems.append("%s: %s %s" % (what, rel, how))
    return problems[:5]


def store_models(store):
    """{key/manifest name: snapshot files of that model, byte for byte}: what a store serves."""
    import json

    store = Path(store)
    models = {}
    for mdir in sorted((store / "manifests").glob("*")):
        for mpath in sorted(mdir.glob("*.json")):
            doc = json.loads(mpath.read_bytes())
            root = store / "snapshots" / mdir.name
            files = {}
            for rel in doc["files"]:
                p = root / rel
                files[rel] = os.readlink(p) if p.is_symlink() else p.read_bytes()
            models["%s/%s" % (mdir.name, mpath.name)] = files
    return models


# ------------------------------------------------------------------------------------- sweeping

def one_point(scenario, workdir, fault, rerun=True):
    """Build a fresh world, run it with `fault` (None: clean), check every invariant; the list of
    problems (empty when all held). The world is removed afterwards."""
    world = Path(workdir) / "point"
    _fresh(world)
    try:
        run = scenario.prepare(world)
        return _judge(scenario, run, run_command(run, fault), "the fault", rerun)
    finally:
        _remove(world)


def _judge(scenario, run, outcome, what, rerun):
    """Every invariant after `outcome` (a run that met `what`): its own output, the store right
    after, and, with `rerun`, a clean rerun and the store after it; the list of problems."""
    problems = check_outcome(outcome)
    if scenario.verify_after_fault:
        problems += ["after %s: %s" % (what, p) for p in (scenario.after_fault or check_store)(run.store)]
    again = None
    if rerun:
        again = run_command(run, argv=run.rerun)
        if again.returncode != 0:
            problems.append("clean rerun failed (exit %d): %s" % (again.returncode, _tail(again.stderr)))
        problems += ["after the rerun: " + p for p in check_store(run.store)]
    if scenario.check is not None:
        problems += scenario.check(run, outcome, again)
    return problems


def sweep(scenario, workdir, syscalls=SYSCALLS, faults=ERRNOS, limit=None, seed=0, rerun=True,
          progress=None, rotate=False):
    """Every (syscall, fault, point) in a fresh world: `faults` are errno names and/or KILL, TERM;
    at most `limit` points per syscall (sampled, see sample()). With `rotate`, each point gets one
    fault, the next of `faults` in turn (a CI-sized sweep). Returns a Report."""
    workdir = Path(workdir)
    workdir.mkdir(parents=True, exist_ok=True)
    report = Report(scenario.name)
    for syscall in syscalls:
        points = find_points(scenario, workdir, syscall)
        todo = []
        if rotate:
            chosen = sample(points, limit, seed + zlib.crc32(syscall.encode()))
            todo = [(faults[i % len(faults)], when) for i, when in enumerate(chosen)]
        else:
            for what in faults:
                seed_here = seed + zlib.crc32(("%s:%s" % (syscall, what)).encode())
                todo += [(what, when) for when in sample(points, limit, seed_here)]
        for what, when in todo:
            fault = (syscall, what, when)
            problems = one_point(scenario, workdir, fault, rerun=rerun)
            report.tried += 1
            if problems:
                report.broken.append(("%s:%s@%d" % fault, problems))
            if progress:
                progress(report, fault, problems)
    return report


def kill_after(scenario, workdir, delay, sig=_signal.SIGKILL, rerun=True):
    """Start the world's command, send `sig` after `delay` seconds (wall clock: the moment is not
    reproducible, the invariants must hold anyway), then check as one_point does."""
    world = Path(workdir) / "point"
    _fresh(world)
    try:
        run = scenario.prepare(world)
        proc = subprocess.Popen([bin_path(run.argv[0]), *run.argv[1:]], env=_env(run), cwd=run.cwd,
                                stdin=subprocess.PIPE if run.input else subprocess.DEVNULL,
                                stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        time.sleep(delay)
        try:
            proc.send_signal(sig)
        except ProcessLookupError:
            pass
        out, err = proc.communicate(run.input, timeout=120)
        outcome = Outcome(proc.returncode, out, err, "%s after %.3fs" % (sig.name, delay))
        return _judge(scenario, run, outcome, "the kill", rerun)
    finally:
        _remove(world)


def concurrent(runs, timeout=300):
    """Start every Run at once; [Outcome] in order. For N writers of one store."""
    procs = [subprocess.Popen([bin_path(r.argv[0]), *r.argv[1:]], env=_env(r), cwd=r.cwd,
                              stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                              stderr=subprocess.PIPE, text=True) for r in runs]
    outcomes = []
    for i, proc in enumerate(procs):
        out, err = proc.communicate(timeout=timeout)
        outcomes.append(Outcome(proc.returncode, out, err, "writer %d" % i))
    return outcomes


# -------------------------------------------------------------------------------------- helpers

def clone_tree(template, dest):
    """A byte-for-byte copy of directory `template` at `dest` (modes and hardlinks kept), so a world
    built once can be handed out fresh for every point."""
    Path(dest).parent.mkdir(parents=True, exist_ok=True)
    subprocess.run(["cp", "-a", str(template), str(dest)], check=True)


def _fresh(path):
    _remove(path)
    Path(path).mkdir(parents=True)


def _remove(path):
    """Delete a world, read-only snapshot directories included."""
    if not os.path.lexists(path):
        return
    subprocess.run(["chmod", "-R", "u+w", str(path)], capture_output=True)
    shutil.rmtree(path, ignore_errors=True)


def _tail(text, n=300):
    text = text.strip().replace("\n", " | ")
    return text[-n:]
