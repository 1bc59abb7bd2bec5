"""The ssh that git would run for a remote, with what we add to it, and ssh's failures explained.

The user's choice, in git's order: `GIT_SSH_COMMAND`, then `core.sshCommand` (git config: system,
global), then `GIT_SSH` (a program), then `ssh`; its variant from `GIT_SSH_VARIANT`, `ssh.variant`,
or the program's name (as git decides it; `auto`: OpenSSH when `CMD -G HOST` works).

To OpenSSH we add only what the user left unset, checked on their command line and in what
`ssh -G HOST` says their ssh config gives the host:

    -o ConnectTimeout=N   N = the connect timeout (net/limits.py); it bounds the banner wait too
    -o BatchMode=yes      never a password, passphrase or host-key prompt

Other variants (plink, wrappers) get nothing added; the watchdog of procs.run bounds them.
"""

import math
import os
import re
import shlex
import threading
from dataclasses import dataclass
from typing import Optional
from urllib.parse import unquote, urlsplit

from kipoi_store.git import cli, urls
from kipoi_store.net import limits

_KNOWN_VARIANTS = {"ssh": "ssh", "ssh.exe": "ssh", "plink": "plink", "plink.exe": "plink",
                   "putty": "putty", "tortoiseplink": "tortoiseplink",
                   "tortoiseplink.exe": "tortoiseplink"}
_cache = {}
_lock = threading.Lock()


@dataclass(frozen=True)
class Host:
    """Where ssh connects: `host` as the user wrote it (an ssh config alias, say)."""

    host: str
    user: Optional[str] = None
    port: Optional[int] = None

    @property
    def destination(self):
        return "%s@%s" % (self.user, self.host) if self.user else self.host

    @property
    def key(self):
        """The host as net/hosts.py remembers it (a failed host is not asked again this run)."""
        return "ssh://%s%s" % (self.destination, ":%d" % self.port if self.port else "")


def remote(url):
    """(Host, path) of an ssh remote (scp-like or ssh://); None for any other URL."""
    kind = urls.url_kind(url)
    if kind == "scp":
        m = re.match(r"^(?:(?P<user>[^@/]+)@)?(?P<host>\[[^\]]+\]|[^:/\[\]]+):(?P<path>.*)$", url)
        if m is None:
            return None
        return Host(m.group("host").strip("[]"), m.group("user")), m.group("path")
    if kind == "url" and url.lower().startswith(("ssh://", "git+ssh://", "ssh+git://")):
        parts = urlsplit(url)
        try:
            port = parts.port
        except ValueError:
            port = None
        if not parts.hostname:
            return None
        return Host(parts.hostname, parts.username, port), unquote(parts.path)
    return None


@dataclass(frozen=True)
class Command:
    """The user's ssh as a shell command (run as `sh -c 'CMD "$@"' git-ssh ARGS...`), its variant,
    and the options we add (none for what the user set)."""

    shell: str
    variant: str
    added: tuple = ()

    @property
    def full(self):
        return " ".join([self.shell] + [shlex.quote(a) for a in self.added])

    def argv(self, host, *args):
        """argv that runs `args` (a remote command) on `host`, as git would pass them."""
        options = []
        if host.port and self.variant == "ssh":
            options = ["-p", str(host.port)]
        elif host.port and self.variant in ("plink", "putty"):
            options = ["-P", str(host.port)]
        elif self.variant == "tortoiseplink":
            options = ["-batch"] + (["-P", str(host.port)] if host.port else [])
        return ["sh", "-c", self.full + ' "$@"', "git-ssh"] + options + [host.destination, *args]

    def environment(self):
        """The variables that make git run exactly this ssh."""
        return {"GIT_SSH_COMMAND": self.full, "GIT_SSH_VARIANT": self.variant}


def _user_choice(git_dir):
    """(shell command, variant or None) the user chose, in git's order."""
    code, out, _ = cli.run_full(git_dir or "/nonexistent/kipoi-no-repository",
                                ["config", "--get-regexp", r"^(core\.sshcommand|ssh\.variant)$"])
    config = {}
    for line in out.decode("utf-8", "surrogateescape").splitlines() if code == 0 else ():
        key, _, value = line.partition(" ")
        config[key] = value
    variant = os.environ.get("GIT_SSH_VARIANT") or config.get("ssh.variant") or None
    if os.environ.get("GIT_SSH_COMMAND"):
        return os.environ["GIT_SSH_COMMAND"], variant
    if config.get("core.sshcommand"):
        return config["core.sshcommand"], variant
    if os.environ.get("GIT_SSH"):
        return shlex.quote(os.environ["GIT_SSH"]), variant
    return "ssh", variant


def _variant_of(shell):
    try:
        words = shlex.split(shell)
    except ValueError:
        return "auto"
    if not words:
        return "auto"
    return _KNOWN_VARIANTS.get(os.path.basename(words[0]).lower(), "auto")


def _effective(shell, host, connect):
    """{key: value} of what `ssh -G` says this command gives `host`; None when it is no OpenSSH."""
    from kipoi_store import procs

    try:
        result = procs.run(["sh", "-c", shell + ' -G "$@"', "git-ssh", host.destination],
                           env=cli.environment(), deadline=max(connect, 5.0))
    except OSError:
        return None
    if result.returncode != 0:
        return None
    values = {}
    for line in result.stdout.decode("utf-8", "replace").splitlines():
        key, _, value = line.partition(" ")
        values[key.lower()] = value.strip()
    return values if "hostname" in values else None


def command_for(host, git_dir=None):
    """The Command git would run for `host`, with our options where the user set none."""
    connect = limits.timeouts()[0]
    shell, variant = _user_choice(git_dir)
    cache_key = (shell, variant, host, connect)
    with _lock:
        if cache_key in _cache:
            return _cache[cache_key]
    variant = (variant or _variant_of(shell)).lower()
    added = []
    if variant in ("ssh", "auto"):
        effective = _effective(shell, host, connect)
        if variant == "auto":
            variant = "ssh" if effective is not None else "simple"
        if effective is not None:
            said = shell.lower()
            if "connecttimeout" not in said and effective.get("connecttimeout", "none") == "none":
                added += ["-o", "ConnectTimeout=%d" % max(1, math.ceil(connect))]
            if "batchmode" not in said and effective.get("batchmode") != "yes":
                added += ["-o", "BatchMode=yes"]
    result = Command(shell, variant, tuple(added))
    with _lock:
        _cache[cache_key] = result
    return result


# -- what went wrong ---------------------------------------------------------------------------

# ssh's words for a host that gave no answer at all (not for an answer such as a refused key).
_NO_ANSWER = ("Connection refused", "timed out", "Could not resolve hostname", "No route to host",
              "Network is unreachable", "Name or service not known")
_NOISE = ("Warning: Permanently added", "debug", "Pseudo-terminal will not be allocated",
          "fatal: Could not read from remote repository", "Please make sure you have",
          "and the repository exists")


def reason(stderr):
    """ssh's own reason: the last meaningful line of its stderr ("" when none)."""
    lines = [line.strip() for line in stderr.splitlines()]
    lines = [line for line in lines if line and not line.startswith(_NOISE)
             and not line.startswith(("remote: ", "Receiving objects", "Resolving deltas"))]
    return lines[-1] if lines else ""


def no_answer(text):
    """Whether `text` (ssh's reason) says the host gave no answer at all."""
    return any(s in text for s in _NO_ANSWER)


def explain(text, host):
    """`text` with what to do, for the failures that batch mode turns from a prompt into an error."""
    name = host.destination
    if "Host key verification failed" in text:
        return ("%s (the host key of %s is unknown or has changed, and kipoi never asks: run "
                "`ssh %s` once to check its fingerprint and accept it)" % (text, name, name))
    if "Permission denied" in text:
        return ("%s (kipoi runs ssh without prompts: add a key with a passphrase to ssh-agent with "
                "`ssh-add`, and check the key is authorized on %s)" % (text, name))
    return text
