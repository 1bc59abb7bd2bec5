"""Every process kipoi_store starts, started one way: in its own process group (a new session, so
it has no terminal to prompt on either), and ended with that whole group.

    result = procs.run(argv, env=env, idle=30, first=40)   # Finished(returncode, stdout, stderr, stalled)
    proc = procs.spawn(argv, stdin=PIPE, stdout=PIPE)       # long-running: end it with procs.end(proc)

A group, not a process: git starts `sh -c "$GIT_SSH_COMMAND ..."`, which starts ssh; killing git
alone would leave ssh waiting on a silent host with parent 1. So a timeout, Ctrl-C (the
KeyboardInterrupt unwinding through `run`, and the exit hook), SIGTERM and SIGHUP all end every
group we started, and a group whose leader exited is swept before the leader is reaped (its
process-group id cannot be reused while the zombie holds it).

`idle` is a watchdog on progress: when for that many seconds the group wrote nothing on stdout or
stderr and used no CPU, it is ended and `stalled` says after how long. `first` is the allowance
before the first output (a connection being set up), `deadline` a bound on the whole run.

`meanwhile(work)` has the main thread do `work()` while the next watched run (a transfer: the
network, mostly) works, instead of in a second thread: two threads importing overlapping modules
can hand one a half-made module (CI saw `NameError: name 'sys' is not defined` that way).
"""

import os
import signal
import threading
import time

_live = {}  # pgid -> Popen of every group started and not ended yet
_lock = threading.Lock()
_hooked = []
_meanwhile = []  # one-shot work for the main thread during the next watched run (see `meanwhile`)
_STDERR_KEEP = 256 << 10  # the tail of stderr that is kept (progress lines can be many)
_CPU_STEP = 0.05  # seconds of CPU that count as progress between two looks


class Finished:
    """What a finished run gave: returncode, stdout (bytes), stderr (bytes: its tail), `stalled`
    (when the watchdog ended it: the allowance it went without progress, else None), `heard`
    (whether it wrote anything at all) and `expired` (the deadline ended it)."""

    __slots__ = ("argv", "returncode", "stdout", "stderr", "stalled", "heard", "expired")

    def __init__(self, argv, returncode, stdout, stderr, stalled=None, heard=False, expired=False):
        self.argv, self.returncode, self.stdout, self.stderr = argv, returncode, stdout, stderr
        self.stalled, self.heard, self.expired = stalled, heard, expired


def _signal_group(pgid, sig):
    try:
        os.killpg(pgid, sig)
    except OSError:
        pass


def end_all(sig=signal.SIGTERM, grace=0.2):
    """Signal every group we started (then SIGKILL after `grace` seconds); returns None."""
    with _lock:
        groups = list(_live)
    for pgid in groups:
        _signal_group(pgid, sig)
    if groups and sig != signal.SIGKILL:
        time.sleep(grace)
        for pgid in groups:
            _signal_group(pgid, signal.SIGKILL)


def _on_signal(signum, frame):
    end_all()
    # Then die of the same signal, as if we had no handler: the exit status says what happened.
    signal.signal(signum, signal.SIG_DFL)
    os.kill(os.getpid(), signum)


def _hook():
    """Once per process: end our groups at exit and on SIGTERM/SIGHUP (where nobody else handles
    them; only the main thread may set handlers)."""
    if _hooked:
        return
    _hooked.append(True)
    import atexit

    atexit.register(end_all, signal.SIGKILL)
    if threading.current_thread() is not threading.main_thread():
        return
    for sig in (signal.SIGTERM, signal.SIGHUP):
        try:
            if signal.getsignal(sig) in (signal.SIG_DFL, None):
                signal.signal(sig, _on_signal)
        except (ValueError, OSError):
            pass


def _death_signal():
    """A preexec function that has the kernel SIGKILL the child when the thread that started it
    dies (even by SIGKILL, which no handler sees); None where prctl is not to be had (not Linux)."""
    try:
        import ctypes

        prctl = ctypes.CDLL(None, use_errno=True).prctl
    except (OSError, AttributeError):
        return None
    parent = os.getpid()

    def preexec():
        prctl(1, signal.SIGKILL, 0, 0, 0)  # PR_SET_PDEATHSIG
        if os.getppid() != parent:  # the parent died before that took effect
            os._exit(1)

    return preexec


def spawn(argv, stdin=None, stdout=None, stderr=None, env=None, cwd=None, die_with_us=False):
    """Popen `argv` as the leader of a new session and process group; FileNotFoundError when the
    program does not exist. End it with `end`. `die_with_us`: the kernel kills it should this
    thread die first (for a process waited for where it was started: never one kept for later,
    which another thread may go on using)."""
    import subprocess

    _hook()
    proc = subprocess.Popen(argv, stdin=stdin, stdout=stdout, stderr=stderr, env=env, cwd=cwd,
                            start_new_session=True,
                            preexec_fn=_death_signal() if die_with_us else None)
    with _lock:
        _live[proc.pid] = proc
    return proc


def _exited(pid, timeout):
    """Wait up to `timeout` seconds (None: for good) for `pid` to exit, without reaping it."""
    deadline = None if timeout is None else time.monotonic() + timeout
    while True:
        try:
            if os.waitid(os.P_PID, pid, os.WEXITED | os.WNOWAIT | os.WNOHANG) is not None:
                return True
        except ChildProcessError:
            return True  # already reaped
        if deadline is not None and time.monotonic() >= deadline:
            return False
        time.sleep(0.01)


def end(proc, grace=1.0, kill=True):
    """End `proc` and everything else in its group; reap it; return its exit status.

    With `kill`, the group gets SIGTERM (git removes its temporary files), then SIGKILL after
    `grace` seconds; without, the leader is waited for (it was told to stop another way)."""
    if proc.returncode is None:
        if kill:
            _signal_group(proc.pid, signal.SIGTERM)
            if not _exited(proc.pid, grace):
                _signal_group(proc.pid, signal.SIGKILL)
        _exited(proc.pid, None)
        _signal_group(proc.pid, signal.SIGKILL)  # stragglers: the zombie leader still holds the id
    with _lock:
        _live.pop(proc.pid, None)
    return proc.wait()


def _group_cpu(pgid):
    """CPU seconds used so far by the live members of group `pgid` (0 where /proc is missing)."""
    total = 0
    try:
        names = os.listdir("/proc")
    except OSError:
        return 0.0
    for name in names:
        if not name.isdigit():
            continue
        try:
            with open("/proc/%s/stat" % name, "rb") as f:
                fields = f.read().rsplit(b")", 1)[1].split()
        except (OSError, IndexError):
            continue
        if len(fields) > 12 and fields[2] == b"%d" % pgid:
            total += int(fields[11]) + int(fields[12])
    return total / os.sysconf("SC_CLK_TCK")


def meanwhile(work):
    """Do `work()` (which must not raise) in the main thread once the next run with a watchdog
    (`idle`) has started its process; once, however often it is asked for. Returns None."""
    if work not in _meanwhile:
        _meanwhile.append(work)


def forget(work):
    """Drop `work` if it has not been done yet (nothing may wait on it any more)."""
    if work in _meanwhile:
        _meanwhile.remove(work)


def _do_meanwhile():
    while _meanwhile and threading.current_thread() is threading.main_thread():
        _meanwhile.pop(0)()


def run(argv, input=None, env=None, cwd=None, idle=None, first=None, deadline=None):
    """Run `argv` to its end (or until the watchdog or `deadline` ends it); return a Finished.

    Raises FileNotFoundError when the program does not exist. Whatever happens (an exception, a
    KeyboardInterrupt), the group is ended before this returns or raises.
    """
    import selectors
    import subprocess

    # A transfer (watched) dies with us even when we are SIGKILLed; its ssh then sees its input
    # end, or gives up by its own connect timeout.
    proc = spawn(argv, stdin=subprocess.PIPE if input is not None else subprocess.DEVNULL,
                 stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=env, cwd=cwd,
                 die_with_us=idle is not None)
    out, err = [], bytearray()
    stalled, expired, done, heard = None, False, False, False
    try:
        if idle is not None:
            _do_meanwhile()  # before the clock starts: its time is not the child's silence
        sel = selectors.DefaultSelector()
        sel.register(proc.stdout, selectors.EVENT_READ)
        sel.register(proc.stderr, selectors.EVENT_READ)
        pending = memoryview(input or b"")
        if input is not None:
            os.set_blocking(proc.stdin.fileno(), False)
            if pending:
                sel.register(proc.stdin, selectors.EVENT_WRITE)
            else:
                proc.stdin.close()
        start = last = looked = time.monotonic()
        cpu = 0.0
        while sel.get_map():
            watching = idle is not None or deadline is not None
            for key, _ in sel.select(0.25 if watching else None):
                if key.fileobj is proc.stdin:
                    try:
                        pending = pending[os.write(key.fd, pending[:1 << 16]):]
                    except BlockingIOError:
                        continue
                    except OSError:  # it stopped reading (exited): its status says why
                        pending = pending[:0]
                    if not pending:
                        sel.unregister(proc.stdin)
                        proc.stdin.close()
                    continue
                data = os.read(key.fd, 1 << 16)
                if not data:
                    sel.unregister(key.fileobj)
                    continue
                last, heard = time.monotonic(), True
                if key.fileobj is proc.stdout:
                    out.append(data)
                else:
                    err += data
                    if len(err) > 2 * _STDERR_KEEP:
                        del err[:-_STDERR_KEEP]
            now = time.monotonic()
            if deadline is not None and now - start > deadline:
                expired = True
                break
            if idle is None:
                continue
            if now - looked >= 1.0 and now - last >= 1.0:
                looked, used = now, _group_cpu(proc.pid)
                if used - cpu >= _CPU_STEP:
                    last = now  # silent but working (resolving deltas, say)
                cpu = max(cpu, used)
            allowed = idle if heard else (first or idle)
            if now - last > allowed:
                stalled = allowed
                break
        else:
            done = True
    finally:
        for stream in (proc.stdin, proc.stdout, proc.stderr):
            if stream is not None:
                try:
                    stream.close()
                except OSError:
                    pass
        # Both pipes at their end: the leader is exiting (a few seconds' grace for one that
        # closed them and lingers); otherwise it is ended now.
        code = end(proc, kill=not (done and _exited(proc.pid, 5.0)))
    return Finished(argv, code, b"".join(out), bytes(err[-_STDERR_KEEP:]), stalled, heard, expired)
