"""Credentials for an LFS endpoint from git's own machinery: `git credential fill|approve|reject`
for http(s), and `git-lfs-authenticate` over ssh. Secrets travel through stdin, never argv."""

import json
import os
import shlex
import subprocess
from urllib.parse import urlsplit


def credential_request(url):
    parts = urlsplit(url)
    req = {"protocol": parts.scheme, "host": parts.netloc.rsplit("@", 1)[-1]}
    if parts.path:
        req["path"] = parts.path.lstrip("/")
    if parts.username:
        req["username"] = parts.username
    return req


def credential(action, fields):
    """`git credential fill|approve|reject`, fields through stdin (never on a command line)."""
    text = "".join("%s=%s\n" % (k, v) for k, v in fields.items()
                   if v is not None and "\n" not in str(v)) + "\n"
    try:
        proc = subprocess.run(["git", "credential", action], input=text.encode(),
                              capture_output=True, timeout=300)
    except (OSError, subprocess.TimeoutExpired):
        return None
    if action != "fill" or proc.returncode != 0:
        return None
    out = {}
    for line in proc.stdout.decode("utf-8", "replace").splitlines():
        key, sep, value = line.partition("=")
        if sep:
            out[key] = value
    return out


def ssh_authenticate(target, timeout=60.0, env=None):
    """The JSON `git-lfs-authenticate <path> download` prints over ssh, or None on failure."""
    env = os.environ if env is None else env
    if target.host.startswith("-") or target.destination.startswith("-"):
        return None  # never let a host name become an ssh option
    path = target.path
    safe = all(c.isalnum() or c in "._/~-" for c in path)
    command = "git-lfs-authenticate %s download" % (path if safe and path else shlex.quote(path))
    args = []
    if target.port:
        args += ["-p", str(target.port)]
    args += [target.destination, command]
    if env.get("GIT_SSH_COMMAND"):
        argv = ["sh", "-c", env["GIT_SSH_COMMAND"] + ' "$@"', "git-ssh"] + args
    else:
        argv = [env.get("GIT_SSH") or "ssh"] + args
    try:
        proc = subprocess.run(argv, stdin=subprocess.DEVNULL, capture_output=True,
                              timeout=timeout, env=dict(env))
    except (OSError, subprocess.TimeoutExpired):
        return None
    if proc.returncode != 0:
        return None
    try:
        answer = json.loads(proc.stdout.decode("utf-8"))
    except ValueError:
        return None
    if not isinstance(answer, dict) or not isinstance(answer.get("href"), str):
        return None
    if urlsplit(answer["href"]).scheme.lower() not in ("http", "https"):
        return None
    return answer
