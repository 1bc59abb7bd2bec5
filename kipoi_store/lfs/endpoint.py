"""Where a repository's Git LFS objects live: endpoint discovery as git-lfs does it.

Pure functions: nothing here touches the network. An ssh endpoint carries what is needed to run
`git-lfs-authenticate` later (when objects are actually fetched), so that discovery stays cheap and
works offline.
"""

import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Optional, Tuple
from urllib.parse import unquote, urlsplit

from kipoi_store.errors import ConfigError
from kipoi_store.git import ssh as git_ssh
from kipoi_store.net.urls import redact


@dataclass(frozen=True)
class SshTarget:
    """`ssh [-p port] [user@]host git-lfs-authenticate <path> download`."""

    host: str
    path: str
    user: Optional[str] = None
    port: Optional[int] = None

    @property
    def destination(self):
        return "%s@%s" % (self.user, self.host) if self.user else self.host


@dataclass(frozen=True)
class Endpoint:
    """An LFS endpoint.

    kind "http": `url` is the batch API base (`<url>/objects/batch`); `headers` are sent with batch
    requests (from `git-lfs-authenticate`). kind "local": objects are files under `objects_dir`.
    kind "ssh": run `git-lfs-authenticate` on `ssh` first; `url` is the https fallback.
    """

    kind: str
    url: Optional[str] = None
    objects_dir: Optional[Path] = None
    ssh: Optional[SshTarget] = None
    headers: Tuple[Tuple[str, str], ...] = field(default=())


def discover_endpoint(remote_url: str, lfs_url: Optional[str] = None,
                      lfsconfig: Optional[bytes] = None, remote_name: str = "origin") -> Endpoint:
    """The endpoint for `remote_url`: `lfs_url` (source config), else `lfs.url` (or
    `remote.<name>.lfsurl`) in the commit's `.lfsconfig`, else derived from the remote URL."""
    if lfs_url:
        return _explicit(lfs_url, "the source's lfs_url")
    if lfsconfig:
        values = parse_git_config(lfsconfig)
        url = values.get("lfs.url") or values.get("remote.%s.lfsurl" % remote_name)
        if url:
            return _explicit(url, "lfs.url in .lfsconfig")
    return derive_endpoint(remote_url)


def _explicit(url, where):
    """A configured LFS URL is used as it is (git-lfs appends nothing to it)."""
    url = url.strip()
    scheme = urlsplit(url).scheme.lower() if "://" in url else ""
    if scheme in ("http", "https"):
        return Endpoint("http", url=url.rstrip("/"))
    if scheme == "file" or (not scheme and _looks_local(url)):
        return Endpoint("local", objects_dir=_local_objects_dir(url))
    ssh = _ssh_target(url)
    if ssh is not None:
        return Endpoint("ssh", url=_https_fallback(ssh), ssh=ssh)
    raise ConfigError("unsupported LFS endpoint %r (%s)" % (redact(url), where))


def derive_endpoint(remote_url: str) -> Endpoint:
    url = remote_url.strip()
    scheme = urlsplit(url).scheme.lower() if "://" in url else ""
    if scheme in ("http", "https"):
        return Endpoint("http", url=_info_lfs(url))
    if scheme == "git":
        # git-lfs serves git:// remotes over https of the same host and path.
        return Endpoint("http", url=_info_lfs("https" + url[len("git"):]))
    if scheme == "file" or (not scheme and _looks_local(url)):
        return Endpoint("local", objects_dir=_local_objects_dir(url))
    ssh = _ssh_target(url)
    if ssh is not None:
        return Endpoint("ssh", url=_https_fallback(ssh), ssh=ssh)
    raise ConfigError("cannot find an LFS endpoint for remote %r" % redact(remote_url))


def _info_lfs(url):
    parts = urlsplit(url)
    path = parts.path.rstrip("/")
    if not path.endswith(".git"):
        path += ".git"
    return "%s://%s%s/info/lfs" % (parts.scheme, parts.netloc, path)


def _looks_local(url):
    """A plain path (git's rule: a colon before any slash makes it scp-like ssh)."""
    colon, slash = url.find(":"), url.find("/")
    return colon < 0 or (0 <= slash < colon)


def _local_objects_dir(url):
    path = Path(unquote(urlsplit(url).path)) if url.lower().startswith("file://") else Path(url)
    path = path.expanduser()
    # Non-bare repositories keep LFS objects under .git; bare ones at the top.
    if (path / ".git").is_dir():
        return path / ".git" / "lfs" / "objects"
    return path / "lfs" / "objects"


def _ssh_target(url):
    found = git_ssh.remote(url)  # the same reading of scp-like and ssh:// remotes as git's transfers
    if found is None:
        return None
    host, path = found
    # As git-lfs sends it: ssh://host/abs/path.git is `/abs/path.git` (git-lfs 3.3 measured).
    return SshTarget(host.host, path, host.user, host.port)


def _https_fallback(ssh):
    path = ssh.path.lstrip("/")
    return _info_lfs("https://%s/%s" % (ssh.host, path))


# git-config syntax, enough of it for .lfsconfig: sections, subsections, quoting, escapes,
# comments and continuation lines. Keys come back as git prints them: section.subsection.key,
# section and key lower-cased, subsection as written. The last value of a key wins.

_SECTION = re.compile(r'^\[\s*([A-Za-z0-9.-]+)(?:\s+"((?:[^"\\\n]|\\.)*)")?\s*\]')
_KEY = re.compile(r"^([A-Za-z][A-Za-z0-9-]*)\s*(=)?")


def parse_git_config(data: bytes) -> dict:
    """{"section.key": value} from git-config text; unparsable lines are skipped."""
    text = data.decode("utf-8", "replace")
    values = {}
    section = None
    lines = text.splitlines()
    i = 0
    while i < len(lines):
        line = lines[i].lstrip()
        i += 1
        while line:
            if line[0] in "#;":
                break
            if line[0] == "[":
                m = _SECTION.match(line)
                if not m:
                    section = None
                    break
                name, sub = m.group(1).lower(), m.group(2)
                if sub is not None:
                    section = "%s.%s" % (name, re.sub(r"\\(.)", r"\1", sub))
                elif "." in name:  # the old [section.subsection] form
                    head, _, tail = name.partition(".")
                    section = "%s.%s" % (head, tail)
                else:
                    section = name
                line = line[m.end():].lstrip()
                continue
            m = _KEY.match(line)
            if not m or section is None:
                break
            key = "%s.%s" % (section, m.group(1).lower())
            if not m.group(2):
                rest = line[m.end():].strip()
                if not rest or rest[0] in "#;":
                    values[key] = "true"  # a bare key means true
                break
            raw = line[m.end():]
            while _continues(raw):
                raw = raw.rstrip("\r")[:-1] + (lines[i] if i < len(lines) else "")
                i += 1
            value = _config_value(raw)
            if value is not None:
                values[key] = value
            break
    return values


def _continues(raw):
    """A line ending in an unescaped backslash, outside a comment, continues on the next line."""
    stripped = raw.rstrip("\r")
    if not stripped.endswith("\\"):
        return False
    quoted = False
    i = 0
    while i < len(stripped):
        c = stripped[i]
        if c == "\\":
            if i == len(stripped) - 1:
                return True
            i += 2
            continue
        if c == '"':
            quoted = not quoted
        elif c in "#;" and not quoted:
            return False
        i += 1
    return False


_ESCAPES = {"n": "\n", "t": "\t", "b": "\b", "\\": "\\", '"': '"'}


def _config_value(raw):
    out = []
    quoted = False
    pending_space = ""
    i = 0
    raw = raw.strip()
    while i < len(raw):
        c = raw[i]
        if c == "\\":
            if i + 1 >= len(raw) or raw[i + 1] not in _ESCAPES:
                return None  # git rejects bad escapes
            out.append(pending_space + _ESCAPES[raw[i + 1]])
            pending_space = ""
            i += 2
            continue
        if c == '"':
            quoted = not quoted
        elif c in "#;" and not quoted:
            break
        elif c in " \t" and not quoted:
            pending_space += c  # inner whitespace is kept, trailing dropped
        else:
            out.append(pending_space + c)
            pending_space = ""
        i += 1
    if quoted:
        return None
    return "".join(out)
