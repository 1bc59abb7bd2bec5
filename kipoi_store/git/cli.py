"""The git CLI, run one safe way: always `--git-dir`, never a hook, filter or prompt.

Every call goes through `run()` (or `catfile.CatFile`, one process reading any number of objects):

    git --git-dir=<dir> -c core.hooksPath=/dev/null -c protocol.version=2 ... <subcommand> ...

Callers put `--end-of-options` before any user-supplied value (ref, url, path), so a ref such as
`--upload-pack=...` is a ref to git, never an option. The environment drops the variables that would
point git at another repository, and sets GIT_TERMINAL_PROMPT=0 (credentials come from helpers or
ssh, never a prompt that would hang), GIT_LFS_SKIP_SMUDGE=1 and LC_ALL=C (so messages can be parsed).

Every git process runs through procs (its own process group, ended with it; `transfer` adds the
no-progress watchdog for calls that talk to a remote).

Errors become `GitError` with git's own reason (its `fatal:` line); URLs in messages lose their
`user:pass@`.
"""

import os
import re

# subprocess (~4 ms to import) is imported where git runs: a warm resolve imports this module (for
# scrub and GitError) but never starts git.

from kipoi_store.errors import KipoiError

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
    # A fetch lists an alternate's refs by running git in it, under its owner's config: the site
    # stores' clones we read objects from (alternates.py) are data, never a repository git runs in.
    "-c", "core.alternateRefsCommand=true",
)


class GitError(KipoiError):
    """A git command failed. The message carries git's reason (see `reason`), credentials removed."""

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


# git's generic closing words after a failed connection: the line before them says what failed
# (ssh's "Connection refused", a helper's complaint).
_GENERIC_FATAL = "fatal: Could not read from remote repository."


def reason(stderr):
    """What git said went wrong: its first `fatal:` line, with the `error:` lines before it (the
    advice git prints last, "...and the repository exists.", is not the reason)."""
    lines = [line.strip() for line in stderr.splitlines() if line.strip()]
    lines = [line for line in lines if not line.startswith("hint:")]
    first = next((i for i, line in enumerate(lines) if line.startswith("fatal:")), None)
    if first is None:
        errors = [line for line in lines if line.startswith("error:")]
        return (errors or lines or [""])[0 if errors else -1]
    said = [line for line in lines[:first] if line.startswith("error:")]
    if not said and lines[first] == _GENERIC_FATAL and first > 0 \
            and not lines[first - 1].startswith(("warning:", "remote:")):
        said = [lines[first - 1]]
    return "; ".join(said + [lines[first]])


def _spawn(argv, input, env, **watch):
    """Run `argv` through procs (its own process group, ended with it); `watch`: procs.run's
    idle, first and deadline."""
    from kipoi_store import procs

    try:
        return procs.run(argv, input=input, env=environment(env), **watch)
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


def transfer(git_dir, args, input=None, config=(), env=None, idle=None, first=None):
    """Run a git command that talks to a remote, under the no-progress watchdog (see procs.run);
    returns procs.Finished (`stalled` set when the watchdog ended it)."""
    return _spawn(command(git_dir, args, config), input, env, idle=idle, first=first)


def error_from(proc, argv, what=None):
    stderr = proc.stderr.decode("utf-8", "replace") if isinstance(proc.stderr, bytes) else proc.stderr
    subcommand = next((a for a in argv[1:] if not a.startswith("-") and "=" not in a), "git")
    why = reason(stderr) or "exit status %d" % proc.returncode
    message = "git %s failed: %s" % (what or subcommand, why)
    return GitError(scrub(message), scrub(stderr), proc.returncode)
