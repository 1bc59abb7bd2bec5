"""Timing helpers shared by the benchmarks in scripts/ (stdlib only).

    with sandbox("kipoi-bench-") as root:            # on /dev/shm: the working disk is noisy
        m = measure([kipoi, "source", "resolve", spec], env)
        m.seconds, m.peak_rss, m.stdout              # wall time, max RSS in bytes, output

Why these choices (see /work/shared/NOTES.md):
- `peak_rss` is the largest resident set of any process in the command's tree (Linux semantics of
  ru_maxrss: a child's rusage covers every descendant it reaped). Linux also counts, at exec, the
  RSS of the process that exec'ed, i.e. of the fork of this Python (~35 MiB): a floor under every
  figure. So commands run under GNU time (`/usr/bin/time -f %M`, a ~1 MiB process) when it is
  installed, which reports its child's rusage; otherwise os.wait4's rusage, floor included.
- `real_python` resolves a pyenv shim: starting through the shim costs ~80 ms more than the binary.
- Sides are interleaved by the callers (A B A B) and reported as medians and ratios.
"""

import contextlib
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass

MIB = 1 << 20
GNU_TIME = "/usr/bin/time" if os.access("/usr/bin/time", os.X_OK) else None


class BenchError(Exception):
    """A measured command failed: the benchmark stops, a number from a failed run means nothing."""


@dataclass(frozen=True)
class Measurement:
    seconds: float
    peak_rss: int        # bytes: the largest max-RSS of the process tree
    stdout: bytes
    stderr: bytes


def real_python():
    return os.path.realpath(sys.executable)


def measure(cmd, env, stdin=None, cwd=None, check=True):
    """Run `cmd`; return its wall time, peak RSS (whole process tree) and output."""
    with tempfile.TemporaryFile() as out, tempfile.TemporaryFile() as err, \
            tempfile.TemporaryFile() as inp, tempfile.NamedTemporaryFile() as rss:
        if stdin is not None:
            inp.write(stdin)
            inp.seek(0)
        argv = [str(c) for c in cmd]
        if GNU_TIME:
            argv = [GNU_TIME, "-f", "%M", "-o", rss.name] + argv
        start = time.perf_counter()
        proc = subprocess.Popen(argv, env=env, cwd=cwd, stdin=inp, stdout=out, stderr=err)
        _, status, usage = os.wait4(proc.pid, 0)
        elapsed = time.perf_counter() - start
        proc.returncode = os.waitstatus_to_exitcode(status)  # so Popen never waits again
        peak = usage.ru_maxrss
        if GNU_TIME:
            lines = rss.read().decode(errors="replace").split()
            peak = int(lines[-1]) if lines and lines[-1].isdigit() else peak
        out.seek(0)
        err.seek(0)
        m = Measurement(elapsed, peak * 1024, out.read(), err.read())
    if check and proc.returncode != 0:
        raise BenchError("%s failed (%d): %s" % (" ".join(map(str, cmd)), proc.returncode,
                                                 m.stderr.decode(errors="replace").strip()[-2000:]))
    return m


def timed(cmd, env, stdin=None):
    """(seconds, stdout) of a command that must succeed; exits the benchmark if it fails."""
    try:
        m = measure(cmd, env, stdin=stdin)
    except BenchError as e:
        sys.exit("bench: %s" % e)
    return m.seconds, m.stdout


def median(xs):
    return statistics.median(xs)


def shm_dir():
    """/dev/shm when there is one: many small files there time steadily, on the disk they do not."""
    return "/dev/shm" if os.path.isdir("/dev/shm") else None


@contextlib.contextmanager
def sandbox(prefix, keep=False):
    root = tempfile.mkdtemp(prefix=prefix, dir=shm_dir())
    try:
        yield root
    finally:
        if keep:
            print("sandbox kept:", root, file=sys.stderr)
        else:
            shutil.rmtree(root, ignore_errors=True)


def fill_file(path, size, seed):
    """Write `size` bytes, distinct for each `seed`, cheaply: one random MiB with a counter per block."""
    block = os.urandom(MIB)
    tag = b"%d:" % seed
    with open(path, "wb") as f:
        left, i = size, 0
        while left > 0:
            chunk = (tag + i.to_bytes(8, "little") + block)[:min(MIB, left)]
            f.write(chunk)
            left -= len(chunk)
            i += 1
