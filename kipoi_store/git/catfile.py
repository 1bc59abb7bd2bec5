"""`git cat-file --batch-command`: one long-running process reading any number of objects.

Objects are asked for by full id only (never a revision expression), in pipelined windows, and a
body is read chunk by chunk, so a large blob is never whole in memory. The process is never allowed
a transport: an object that is not here is reported missing, never lazily fetched.
"""

import collections
import re

# subprocess and tempfile are imported when the process starts: a warm resolve may import this
# module without ever reading an object.

from kipoi_store.git.cli import GitError, command, environment, reason, scrub

CHUNK = 1 << 20

# How many requests go down the pipe before their answers are read. Few enough that a window of
# requests always fits in an empty pipe (4 KiB at the least, even when a user's pipe quota is
# spent: 50 * 75 bytes for sha256 ids), so writing one never blocks while git, its output pipe
# full, waits for us to read: no deadlock, and no thread.
WINDOW = 50

# For cat-file only: no transport is allowed, whatever any config says. A repository whose config
# names a promisor remote would otherwise fetch a missing object over the network, one request per
# object; this way that fetch fails at once and the object is reported missing.
_NO_TRANSPORT = {"GIT_ALLOW_PROTOCOL": ""}


def _missing(oid, git_dir):
    error = GitError("object %s is not in %s" % (oid, git_dir))
    error.missing = True
    return error


class CatFile:
    """One `git cat-file --batch-command` process answering every question about objects.

        with CatFile(git_dir) as cat:
            cat.info(oid)                 # ("blob", 1234); GitError with .missing=True if not here
            cat.exists(oid)               # False rather than an error
            cat.read(oid)                 # the bytes
            cat.stream(oid, out.write)    # a large blob chunk by chunk, never whole in memory
            kind, size, chunks = cat.open(oid)          # header first, then decide how to read
            for oid, kind, size, chunks in cat.open_many(oids): ...   # pipelined, one pass
            cat.info_many(oids)           # {oid: (type, size) or None}, pipelined

    `info` and `contents` requests go to the same process (git >= 2.36), started on first use and
    kept until `close()`. Asking for contents commits us to reading the whole body: whatever a
    caller leaves unread is skipped before the next request (or, if much is left, the process is
    replaced), and an iterator left behind raises rather than hand out another object's bytes.

    Never a lazy fetch. The clones GitRemote makes name no promisor remote, so git answers
    `missing`; and should a repository name one, the process may use no transport at all, so the
    fetch git would start fails at once (git then exits: reported as missing, and the next request
    starts a new process). Fetch what you need in one batch first.
    """

    def __init__(self, git_dir, config=()):
        self.git_dir = git_dir
        self.config = tuple(config)
        self._proc = None
        self._errors = None  # git's stderr: a temporary file, since a pipe nobody reads can fill
        self._queued = collections.deque()  # oids asked for whose answers are not read yet
        self._left = 0  # bytes of the current body not read yet, its closing LF included
        self._body = 0  # which body is current: a stale iterator notices the change

    # -- the process ---------------------------------------------------------------------------
    def _process(self):
        if self._proc is None:
            argv = command(self.git_dir, ["cat-file", "--batch-command", "--buffer"], self.config)
            import subprocess
            import tempfile

            from kipoi_store import procs

            errors = tempfile.TemporaryFile()
            try:
                self._proc = procs.spawn(argv, stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                                         stderr=errors, env=environment(_NO_TRANSPORT))
            except FileNotFoundError:
                errors.close()
                raise GitError("git is not installed (no 'git' on PATH)") from None
            self._errors = errors
        return self._proc

    def _stop(self, kill=True):
        """End the process (killed: it may be blocked writing an answer nobody will read); return
        what it wrote on stderr."""
        proc, errors = self._proc, self._errors
        self._proc = self._errors = None
        self._queued.clear()
        self._left = 0
        self._body += 1
        if proc is None:
            return ""
        from kipoi_store import procs

        if kill:
            procs.end(proc, grace=0)
        for stream in (proc.stdin, proc.stdout):
            try:
                stream.close()  # git ends at the end of its input
            except OSError:
                pass
        procs.end(proc, kill=False)
        errors.seek(0)
        text = errors.read().decode("utf-8", "replace")
        errors.close()
        return text

    def _died(self, oid):
        stderr = self._stop()
        if "promisor remote" in stderr:  # a lazy fetch was refused: the object is not here
            return _missing(oid, self.git_dir)
        why = reason(stderr) or "it stopped"
        return GitError(scrub("git cat-file failed reading %s in %s: %s" % (oid, self.git_dir, why)),
                        scrub(stderr))

    # -- the protocol --------------------------------------------------------------------------
    def _settle(self):
        """Make the pipe ready for new requests: skip what an abandoned reader left unread."""
        if self._queued or self._left > CHUNK:
            self._stop()
        elif self._left:
            self._skip_body()

    def _send(self, verb, oids):
        # With --buffer, git runs the requests at `flush` and writes their answers in large writes
        # rather than one small write (and one wake-up of ours) for each.
        request = b"".join(b"%s %s\n" % (verb, oid.encode()) for oid in oids) + b"flush\n"
        proc = self._process()
        try:
            proc.stdin.write(request)
            proc.stdin.flush()
        except OSError:  # BrokenPipeError: it is gone; its stderr says why
            raise self._died(oids[0]) from None
        self._queued.extend(oids)

    def _header(self):
        """(type, size) answering the oldest request; GitError (.missing) for an object not here."""
        if self._left:
            self._skip_body()
        self._body += 1  # whatever iterator read the previous body is stale from now on
        oid = self._queued.popleft()
        line = self._proc.stdout.readline()
        if not line.endswith(b"\n"):
            raise self._died(oid)
        parts = line.split()
        if parts[:1] != [oid.encode()] or len(parts) not in (2, 3):
            self._stop()
            raise GitError("unexpected answer from git cat-file for %s: %r" % (oid, line[:200]))
        if len(parts) == 2:
            if parts[1] == b"missing":
                raise _missing(oid, self.git_dir)
            self._stop()
            raise GitError("git cat-file cannot read %s in %s: %s"
                           % (oid, self.git_dir, parts[1].decode("ascii", "replace")))
        return parts[1].decode("ascii"), int(parts[2])

    def _open_next(self, chunk):
        oid = self._queued[0]
        kind, size = self._header()
        self._left = size + 1
        return kind, size, self._chunks(oid, self._body, chunk)

    def _chunks(self, oid, body, chunk):
        while True:
            if self._body != body:
                raise GitError("reading %s was abandoned: another object was asked for since" % oid)
            if self._left <= 1:
                break
            data = self._proc.stdout.read(min(chunk, self._left - 1))
            if not data:
                raise self._died(oid)
            self._left -= len(data)
            if self._left == 1:
                self._end_body(oid)
            yield data
        if self._left == 1:  # an empty object
            self._end_body(oid)

    def _end_body(self, oid):
        if self._proc.stdout.read(1) != b"\n":
            self._stop()
            raise GitError("git cat-file: bad framing after %s" % oid)
        self._left = 0

    def _skip_body(self):
        out = self._proc.stdout
        while self._left > 1:
            data = out.read(min(CHUNK, self._left - 1))
            if not data:
                raise self._died("an object")
            self._left -= len(data)
        self._end_body("an object")

    # -- questions -----------------------------------------------------------------------------
    def info(self, oid):
        """(type, size) of an object, without reading it."""
        oid = _check_oid(oid)
        self._settle()
        self._send(b"info", [oid])
        return self._header()

    def info_many(self, oids):
        """{oid: (type, size), or None for an object not here}, asked in a few round trips."""
        oids = [_check_oid(oid) for oid in dict.fromkeys(oids)]
        self._settle()
        answers = {}
        pending = collections.deque(oids)
        while pending:
            window = [pending.popleft() for _ in range(min(WINDOW, len(pending)))]
            self._send(b"info", window)
            for i, oid in enumerate(window):
                try:
                    answers[oid] = self._header()
                except GitError as e:
                    if not e.missing:
                        raise
                    answers[oid] = None
                    if self._proc is None:  # it exited refusing a lazy fetch: ask again
                        pending.extendleft(reversed(window[i + 1:]))
                        break
        return answers

    def exists(self, oid):
        """Whether the object is here (git rescans its packs on a miss, so a fetch since is seen)."""
        try:
            self.info(oid)
            return True
        except GitError as e:
            if e.missing:
                return False
            raise

    def size(self, oid):
        return self.info(oid)[1]

    # -- contents ------------------------------------------------------------------------------
    def open(self, oid, chunk=CHUNK):
        """(type, size, chunks) of an object in one request: the header is read, `chunks` yields
        the body. Read it (or leave it) before the next request; a stale `chunks` raises."""
        oid = _check_oid(oid)
        self._settle()
        self._send(b"contents", [oid])
        return self._open_next(chunk)

    def open_many(self, oids, chunk=CHUNK):
        """Yield (oid, type, size, chunks) for each of `oids` in order, the requests pipelined.

        A missing object raises GitError (.missing) when its turn comes."""
        oids = [_check_oid(oid) for oid in oids]
        self._settle()
        for start in range(0, len(oids), WINDOW):
            window = oids[start:start + WINDOW]
            self._send(b"contents", window)
            for oid in window:
                if not self._queued or self._queued[0] != oid:
                    raise GitError("reading %s was abandoned: another request came between" % oid)
                yield (oid,) + self._open_next(chunk)

    def iter_chunks(self, oid, chunk=CHUNK):
        """Yield the object's bytes in chunks (at most `chunk` bytes each)."""
        yield from self.open(oid, chunk)[2]

    def stream(self, oid, callback, chunk=CHUNK):
        """Pass the object's bytes to `callback` chunk by chunk; return its size."""
        total = 0
        for data in self.iter_chunks(oid, chunk):
            callback(data)
            total += len(data)
        return total

    def read(self, oid):
        """The object's bytes (all in memory: use `stream` for what may be large)."""
        oid = _check_oid(oid)
        self._settle()
        self._send(b"contents", [oid])
        _, size = self._header()
        data = self._proc.stdout.read(size)
        if len(data) != size:
            raise self._died(oid)
        self._left = 1
        self._end_body(oid)
        return data

    def close(self):
        self._stop(kill=bool(self._queued or self._left))

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()

    def __del__(self):
        try:
            self.close()
        except Exception:
            pass


_OID = re.compile(r"^[0-9a-f]{40}([0-9a-f]{24})?$")


def _check_oid(oid):
    # cat-file reads revision expressions: only a full object id may go down that pipe.
    if not isinstance(oid, str) or not _OID.match(oid):
        raise GitError("not an object id: %r" % (oid,))
    return oid

