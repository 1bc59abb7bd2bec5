"""Bounded waits for git's own transfers, and hosts that gave no answer not asked again this run
(net/hosts.py).

http(s): git has no connect timeout and waits on a silent server for good, so before a fetch the
host is probed within the connect timeout (once per run, through the proxy git would use), and the
fetch runs with http.lowSpeedLimit/lowSpeedTime set from the read timeout.

ssh: git runs the user's ssh (git/ssh.py) with a connect timeout and batch mode added where the
user set neither. For every remote transfer a watchdog (procs.run) ends the whole process group
when git made no progress for the read timeout (connect + read before its first word): a server
that authenticates and then never answers, or an ssh that cannot be told a timeout.
"""

from kipoi_store.errors import NetworkError
from kipoi_store.git import cli
from kipoi_store.net import hosts
from kipoi_store.net import limits

# What git (libcurl) says when a server gave no answer at all; an answer such as 404 is not here.
_NO_ANSWER = ("Operation too slow", "Failed to connect", "Could not resolve host",
              "Connection timed out", "Connection refused", "Couldn't connect to server",
              "Resolving timed out")


def _is_http(url):
    return url.lower().startswith(("http://", "https://"))


def _env_proxy(url):
    """The proxy curl would take from the environment for `url`, or None."""
    import urllib.request

    if urllib.request.proxy_bypass_environment(url.split("://", 1)[1].split("/", 1)[0]):
        return None
    proxy = urllib.request.getproxies_environment().get(url.split(":", 1)[0].lower())
    if proxy and "://" not in proxy:
        proxy = "http://" + proxy
    return proxy or None


def _git_proxy(url, git_dir):
    """git's own http.proxy for `url` (a process: asked only when the direct probe failed)."""
    code, out, _ = cli.run_full(git_dir, ["config", "--get-urlmatch", "http.proxy", url])
    configured = out.decode("utf-8", "replace").strip() if code == 0 else ""
    if not configured:
        return None
    return configured if "://" in configured else "http://" + configured


class Bounds:
    """How one transfer runs: `-c` settings, environment, and the watchdog's allowances."""

    def __init__(self, config=(), env=None, idle=None, first=None):
        self.config, self.env, self.idle, self.first = list(config), dict(env or {}), idle, first


def before_fetch(url, git_dir):
    """The Bounds of a fetch of `url`; raises NetworkError when its host cannot be reached (or
    failed earlier in this run)."""
    from kipoi_store.git import ssh  # not on the warm path (dataclasses, typing)

    connect, read = limits.timeouts()
    target = ssh.remote(url)
    if target is not None:
        host = target[0]
        try:
            hosts.check(host.key)
        except hosts.HostDown as e:
            raise hosts.HostDown("git remote %s %s" % (cli.scrub(url), e)) from None
        return Bounds(env=ssh.command_for(host, git_dir).environment(), idle=read,
                      first=connect + read)
    if not _is_http(url):
        return Bounds()  # a local repository: no network to wait for
    hosts.check(url)
    reason = hosts.connect_error(url, connect, proxy=_env_proxy(url))
    if reason is not None:
        proxy = _git_proxy(url, git_dir)
        if proxy is not None:
            reason = hosts.connect_error(url, connect, proxy=proxy)
    if reason is not None:
        hosts.failed(url, reason)
        raise NetworkError("cannot connect to %s: %s" % (hosts.shown(url), reason))
    return Bounds(config=limits.git_config(), idle=read, first=connect + read)


def stall_text(result):
    """Why the watchdog ended `result` (a procs.Finished), naming the settings that bound it."""
    if result.heard:
        return "no progress for %g s (the read timeout, %s): ended" % (result.stalled, limits.ENV_READ)
    return ("no answer within %g s (the connect and read timeouts, %s and %s): ended"
            % (result.stalled, limits.ENV_CONNECT, limits.ENV_READ))


def failure(url, result):
    """Why the transfer `result` (procs.Finished) of `url` failed, in one line; a host that gave no
    answer is remembered as failed."""
    from kipoi_store.git import ssh

    stderr = result.stderr.decode("utf-8", "replace")
    target = ssh.remote(url)
    if result.stalled is not None:
        why = stall_text(result)
        said = ssh.reason(stderr) if target is not None else ""
        if said and target is not None and ssh.no_answer(said):
            why = said
        hosts.failed(target[0].key if target is not None else url, why)
        return why
    if target is not None:
        said = cli.scrub(ssh.reason(stderr) or cli.reason(stderr))
        if said and ssh.no_answer(said):
            hosts.failed(target[0].key, said)
        return ssh.explain(said, target[0]) if said else "exit status %d" % result.returncode
    if _is_http(url):
        for line in stderr.splitlines():
            if any(s in line for s in _NO_ANSWER):
                hosts.failed(url, cli.scrub(line.strip().rsplit(": ", 1)[-1]))
                break
    return cli.scrub(cli.reason(stderr)) or "exit status %d" % result.returncode
