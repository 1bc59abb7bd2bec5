"""The git CLI, run one safe way: always `--git-dir`, never a hook, filter or prompt.

Every call goes through `run()` (or `CatFile` for reading many blobs through one process):

    git --git-dir=<dir> -c core.hooksPath=/dev/null -c protocol.version=2 ... <subcommand> ...

Callers put `--end-of-options` before any user-supplied value (ref, url, path), so a ref such as
`--upload-pack=...` is a ref to git, never an option. The environment drops the variables that would
point git at another repository, and sets GIT_TERMINAL_PROMPT=0 (credentials come from helpers or
ssh, never a prompt that would hang), GIT_LFS_SKIP_SMUDGE=1 and LC_ALL=C (so messages can be parsed).

Errors become `GitError` with git's last line of stderr; URLs in messages lose their `user:pass@`.
"""

import os
import re
import subprocess

from .errors import KipoiError

# Variables that redirect git to another repository or config (as `git rev-parse --local-env-vars`
# lists them): inherited from a hook or a script, they would make us read or write the wrong place.
_LOCAL_ENV_VARS = (
    "GIT_ALTERNATE_OBJECT_DIRECTORIES", "GIT_CONFIG", "GIT_CONFIG_PARAMETERS", "GIT_CONFIG_COUNT",
    "GIT_OBJECT_DIRECTORY", "GIT_DIR", "GIT_WORK_TREE", "GIT_IMPLICIT_WORK_TREE", "GIT_GRAFT_FILE",
    "GIT_INDEX_FILE", "GIT_NO_REPLACE_OBJECTS", "GIT_REPLACE_REF_BASE", "GIT_PREFIX",
    "GIT_SHALLOW_FILE", "GIT_COMMON_DIR", "GIT_NAMESPACE", "GIT_QUARANTINE_PATH",
)

BASE_CONFIG = (
    "-c", "core.hooksPath=/dev/null",
    "-c", "protocol.version=2",
    "-c", "core.fsmonitor=false",   # a user's fsmonitor hook is a program too
    "-c", "protocol.ext.allow=never",  # `ext::` urls run commands
)

CHUNK = 1 << 20


class GitError(KipoiError):
    """A git command failed. The message carries git's last line of stderr, credentials removed."""

    missing = False  # True when the error is "that object is not here"

    def __init__(self, message, stderr="", returncode=None):
        super().__init__(message)
        self.stderr = stderr
        self.returncode = returncode


_USERINFO = re.compile(r"(?P<scheme>[A-Za-z][A-Za-z0-9+.-]*://)(?P<userinfo>[^/@\s]*)@")


def scrub(text):
    """`text` with credentials removed from every URL in it.

    http(s) user names are often tokens too, so the whole user part goes; other schemes (ssh) keep
    the user name and lose only a password.
    """

    def repl(m):
        scheme, userinfo = m.group("scheme"), m.group("userinfo")
        if scheme.lower().startswith(("http", "ftp")):
            return scheme + "***@"
        if ":" in userinfo:
            return scheme + userinfo.split(":", 1)[0] + ":***@"
        return m.group(0)

    return _USERINFO.sub(repl, text)


def environment(extra=None):
    env = {k: v for k, v in os.environ.items() if k not in _LOCAL_ENV_VARS}
    env.update(GIT_TERMINAL_PROMPT="0", GIT_LFS_SKIP_SMUDGE="1", LC_ALL="C")
    if extra:
        env.update(extra)
    return env


def command(git_dir, args, config=()):
    """The argv for one git call: our fixed options, extra `-c` pairs, then `args`."""
    argv = ["git"]
    if git_dir is not None:
        argv.append("--git-dir=%s" % os.fspath(git_dir))
    argv.extend(BASE_CONFIG)
    for item in config:
        argv.extend(("-c", item))
    argv.extend(args)
    return argv


def last_line(stderr):
    lines = [line.strip() for line in stderr.splitlines() if line.strip()]
    # `hint:` lines are advice, not the reason.
    reasons = [line for line in lines if not line.startswith("hint:")]
    return (reasons or lines or [""])[-1]


def _spawn(argv, input, env):
    try:
        return subprocess.run(argv, input=input, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                              env=environment(env),
                              stdin=None if input is not None else subprocess.DEVNULL)
    except FileNotFoundError:
        raise GitError("git is not installed (no 'git' on PATH)") from None


def run(git_dir, args, input=None, config=(), check=True, env=None, what=None):
    """Run git and return its stdout (bytes). Raise GitError unless it exits 0 (when `check`).

    `what` names the operation in the error message ("ls-tree abc123 in https://host/repo").
    """
    argv = command(git_dir, args, config)
    proc = _spawn(argv, input, env)
    if check and proc.returncode != 0:
        raise error_from(proc, argv, what)
    return proc.stdout


def run_full(git_dir, args, input=None, config=(), env=None):
    """Run git; return (returncode, stdout bytes, stderr text) without raising on failure."""
    proc = _spawn(command(git_dir, args, config), input, env)
    return proc.returncode, proc.stdout, proc.stderr.decode("utf-8", "replace")


def error_from(proc, argv, what=None):
    stderr = proc.stderr.decode("utf-8", "replace") if isinstance(proc.stderr, bytes) else proc.stderr
    subcommand = next((a for a in argv[1:] if not a.startswith("-") and "=" not in a), "git")
    reason = last_line(stderr) or "exit status %d" % proc.returncode
    message = "git %s failed: %s" % (what or subcommand, reason)
    return GitError(scrub(message), scrub(stderr), proc.returncode)


class CatFile:
    """One `git cat-file --batch` process reading any number of objects.

    `read(oid)` returns the bytes; `stream(oid, callback)` / `iter_chunks(oid)` hand over a large
    blob in chunks without holding it in memory; `size(oid)` asks `--batch-check` (a second process,
    started on first use). A missing object raises GitError (lazy fetching is switched off by the
    caller's `config`: fetch blobs in one batch first).
    """

    def __init__(self, git_dir, config=()):
        self.git_dir = git_dir
        self.config = tuple(config)
        self._batch = None
        self._check = None

    def _start(self, mode):
        argv = command(self.git_dir, ["cat-file", mode], self.config)
        return subprocess.Popen(argv, stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                                stderr=subprocess.DEVNULL, env=environment())

    def _ask(self, proc, oid):
        oid = _check_oid(oid)
        try:
            proc.stdin.write(oid.encode() + b"\n")
            proc.stdin.flush()
        except BrokenPipeError:
            raise GitError("git cat-file stopped unexpectedly (%s)" % self.git_dir) from None
        header = proc.stdout.readline()
        if not header.endswith(b"\n"):
            raise GitError("git cat-file stopped unexpectedly (%s)" % self.git_dir) from None
        parts = header.split()
        if len(parts) == 2 and parts[1] == b"missing":
            error = GitError("object %s is not in %s" % (oid, self.git_dir))
            error.missing = True
            raise error
        if len(parts) != 3:
            raise GitError("unexpected answer from git cat-file for %s: %r" % (oid, header[:200]))
        return parts[1].decode(), int(parts[2])

    def info(self, oid):
        """(type, size) of an object, without reading it."""
        if self._check is None:
            self._check = self._start("--batch-check")
        return self._ask(self._check, oid)

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

    def iter_chunks(self, oid, chunk=CHUNK):
        """Yield the object's bytes in chunks. Consume it fully before asking for the next object."""
        if self._batch is None:
            self._batch = self._start("--batch")
        _, size = self._ask(self._batch, oid)
        out = self._batch.stdout
        left = size
        while left:
            data = out.read(min(chunk, left))
            if not data:
                raise GitError("git cat-file ended in the middle of %s" % oid)
            left -= len(data)
            yield data
        if out.read(1) != b"\n":
            raise GitError("git cat-file: bad framing after %s" % oid)

    def stream(self, oid, callback, chunk=CHUNK):
        """Pass the object's bytes to `callback` chunk by chunk; return its size."""
        total = 0
        for data in self.iter_chunks(oid, chunk):
            callback(data)
            total += len(data)
        return total

    def read(self, oid):
        return b"".join(self.iter_chunks(oid))

    def close(self):
        for proc in (self._batch, self._check):
            if proc is not None:
                try:
                    proc.stdin.close()
                except OSError:
                    pass
                proc.wait()
        self._batch = self._check = None

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

