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


def dir_bytes(path):
    """Bytes in the regular files under `path` (0 when it does not exist)."""
    total = 0
    for base, _, files in os.walk(path):
        for name in files:
            p = os.path.join(base, name)
            if not os.path.islink(p):
                total += os.path.getsize(p)
    return total


class _Requests:
    """Splits one client's HTTP/1.1 byte stream into request heads and bodies (Content-Length or
    chunked), counting the bytes of each: what a client sent, not what a server kept."""

    def __init__(self, counter):
        self.counter = counter
        self.buf = b""
        self.state, self.left = "head", 0   # head | body | size | chunk | trailer

    def feed(self, data):
        self.buf += data
        while True:
            if self.state == "head":
                end = self.buf.find(b"\r\n\r\n")
                if end < 0:
                    return
                head, self.buf = self.buf[:end + 4], self.buf[end + 4:]
                self.counter.add(head=len(head), request=1)
                fields = dict(line.split(b":", 1) for line in head.split(b"\r\n")[1:] if b":" in line)
                fields = {k.strip().lower(): v.strip().lower() for k, v in fields.items()}
                if b"chunked" in fields.get(b"transfer-encoding", b""):
                    self.state = "size"
                else:
                    self.left = int(fields.get(b"content-length", b"0") or 0)
                    self.state = "body" if self.left else "head"
            elif self.state in ("body", "chunk"):
                n = min(self.left, len(self.buf))
                if n == 0 and self.left:
                    return
                self.counter.add(body=n)
                self.buf, self.left = self.buf[n:], self.left - n
                if self.left == 0:
                    self.state = "head" if self.state == "body" else "crlf"
            elif self.state == "crlf":
                if len(self.buf) < 2:
                    return
                self.buf, self.state = self.buf[2:], "size"
            else:  # "size": a chunk-size line; "trailer": lines up to an empty one
                end = self.buf.find(b"\r\n")
                if end < 0:
                    return
                line, self.buf = self.buf[:end], self.buf[end + 2:]
                if self.state == "trailer":
                    self.state = "trailer" if line else "head"
                    continue
                self.left = int(line.split(b";")[0], 16)
                self.state = "chunk" if self.left else "trailer"


class ByteCounter:
    """A TCP proxy on 127.0.0.1 in front of `upstream` ("HOST:PORT") that counts what clients send:
    request heads, request bodies and requests. Clients talk to `.host` instead of upstream (the
    Host header they send is the proxy's, so a server's absolute Location URLs lead back here).

        with ByteCounter(reg.host) as proxy:
            run(client, "oci://%s/repo" % proxy.host)
        proxy.body_bytes, proxy.wire_bytes, proxy.requests
    """

    def __init__(self, upstream):
        import socket
        import threading

        host, _, port = upstream.rpartition(":")
        self.upstream = (host, int(port))
        self.lock = threading.Lock()
        self.head_bytes = self.body_bytes = self.requests = 0
        self.sock = socket.create_server(("127.0.0.1", 0))
        self.host = "127.0.0.1:%d" % self.sock.getsockname()[1]
        self.closing = False

    @property
    def wire_bytes(self):
        return self.head_bytes + self.body_bytes

    def add(self, head=0, body=0, request=0):
        with self.lock:
            self.head_bytes += head
            self.body_bytes += body
            self.requests += request

    def __enter__(self):
        import threading

        threading.Thread(target=self._accept, daemon=True).start()
        return self

    def __exit__(self, *exc):
        self.closing = True
        self.sock.close()

    def _accept(self):
        import socket
        import threading

        while not self.closing:
            try:
                client, _ = self.sock.accept()
            except OSError:
                return
            server = socket.create_connection(self.upstream)
            for args in ((client, server, _Requests(self)), (server, client, None)):
                threading.Thread(target=self._pump, args=args, daemon=True).start()

    @staticmethod
    def _pump(src, dst, parser):
        import socket

        try:
            while True:
                data = src.recv(1 << 16)
                if not data:
                    break
                if parser is not None:
                    parser.feed(data)
                dst.sendall(data)
        except OSError:
            pass
        finally:
            for s in (src, dst):
                try:
                    s.shutdown(socket.SHUT_RDWR)
                except OSError:
                    pass
