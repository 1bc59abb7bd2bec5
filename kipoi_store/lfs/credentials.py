"""Credentials for an LFS endpoint from git's own machinery: `git credential fill|approve|reject`
for http(s), and `git-lfs-authenticate` over the ssh git would run (git/ssh.py). Secrets travel
through stdin, never argv. Every process runs through procs (its own group, bounded)."""

import json
import shlex
from urllib.parse import urlsplit

from kipoi_store import procs
from kipoi_store.net import hosts


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
        proc = procs.run(["git", "credential", action], input=text.encode(), deadline=300)
    except OSError:
        return None
    if action != "fill" or proc.returncode != 0 or proc.expired:
        return None
    out = {}
    for line in proc.stdout.decode("utf-8", "replace").splitlines():
        key, sep, value = line.partition("=")
        if sep:
            out[key] = value
    return out


def ssh_authenticate(target, connect, read):
    """(answer, None): the JSON `git-lfs-authenticate <path> download` printed over ssh; or
    (None, why) when it could not be had (ssh's own reason, explained). Bounded by `connect`
    (ssh's connect timeout, where the user set none) and `read` (no answer after that long)."""
    from kipoi_store.git import cli, ssh

    if target.host.startswith("-") or target.destination.startswith("-"):
        return None, "refusing ssh host %r (looks like an option)" % target.host
    host = ssh.Host(target.host, target.user, target.port)
    try:
        hosts.check(host.key)
    except hosts.HostDown as e:
        return None, str(e)
    path = target.path
    safe = all(c.isalnum() or c in "._/~-" for c in path)
    command = "git-lfs-authenticate %s download" % (path if safe and path else shlex.quote(path))
    argv = ssh.command_for(host).argv(host, command)
    try:
        proc = procs.run(argv, env=cli.environment(), idle=read, first=connect + read)
    except OSError as e:
        return None, "cannot run ssh: %s" % e
    stderr = proc.stderr.decode("utf-8", "replace")
    said = ssh.reason(stderr)
    if proc.stalled is not None:
        from kipoi_store.git.reach import stall_text

        why = said if said and ssh.no_answer(said) else stall_text(proc)
        hosts.failed(host.key, why)
        return None, why
    if proc.returncode != 0:
        if said and ssh.no_answer(said):
            hosts.failed(host.key, said)
        return None, ssh.explain(said or "exit status %d" % proc.returncode, host)
    try:
        answer = json.loads(proc.stdout.decode("utf-8"))
    except ValueError:
        return None, "git-lfs-authenticate did not answer with JSON"
    if not isinstance(answer, dict) or not isinstance(answer.get("href"), str):
        return None, "git-lfs-authenticate gave no href"
    if urlsplit(answer["href"]).scheme.lower() not in ("http", "https"):
        return None, "git-lfs-authenticate gave a non-http(s) href"
    return answer, None
