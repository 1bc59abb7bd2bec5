"""Bounded waits for git's own transfers: git over http(s) has no connect timeout and waits on a
silent server for good, so before a fetch the host is probed within the connect timeout (once
per run, through the proxy git would use), the fetch runs with http.lowSpeedLimit/lowSpeedTime set
from the read timeout, and a host that gave no answer is not asked again this run (net/hosts.py).
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


def before_fetch(url, git_dir):
    """`-c` settings for a fetch of `url`; raises NetworkError when its host cannot be reached."""
    if not _is_http(url):
        return []
    hosts.check(url)
    connect = limits.timeouts()[0]
    reason = hosts.connect_error(url, connect, proxy=_env_proxy(url))
    if reason is not None:
        proxy = _git_proxy(url, git_dir)
        if proxy is not None:
            reason = hosts.connect_error(url, connect, proxy=proxy)
    if reason is not None:
        hosts.failed(url, reason)
        raise NetworkError("cannot connect to %s: %s" % (hosts.shown(url), reason))
    return limits.git_config()


def after_failure(url, stderr):
    """Remember the host of `url` as failed when git's `stderr` says it gave no answer."""
    if not _is_http(url):
        return
    for line in stderr.splitlines():
        if any(s in line for s in _NO_ANSWER):
            hosts.failed(url, cli.scrub(line.strip().rsplit(": ", 1)[-1]))
            return
