"""Where a source points: the one check of URLs and folders that `source add` and `source set-url`
share, so both accept, refuse and warn about the same things.

A location is an existing folder (a work tree, a bare repository or a plain folder), a git URL
(`scheme://...` or scp-like `[user@]host:path`, as git reads them), or, for a local source, a
folder that does not exist yet (warned about). Folders are stored absolute. A git work tree becomes
a local source unless the type says git: editing a checkout is how kipoi models are written, and a
local source shows uncommitted edits that a git source would not.
"""

import os
import re
from pathlib import Path

from kipoi_store import paths
from kipoi_store.config.schema import GIT_TYPES, PERMALINK_SOURCE
from kipoi_store.errors import UsageError
from kipoi_store.frozen import Frozen, fresh

URL_RE = re.compile(r"[A-Za-z][A-Za-z0-9+.-]*://")
SCP_RE = re.compile(r"(?:[^@/:\s]+@)?[^@/:\s]+:")
HTTP_RE = re.compile(r"https?://[^/\s]", re.IGNORECASE)


class Location(Frozen):
    """What a URL_OR_PATH means for a source: its type, the setting it goes into, and what to
    tell the user about it."""

    __slots__ = (
        "kind",      # one of schema.TYPES
        "key",       # remote_url, local_path or base_url
        "value",     # the text to store (folders made absolute)
        "warnings",  # [str]: doubtful but accepted
        "notes",     # [str]: what was chosen and how to choose otherwise
    )
    DEFAULTS = {"warnings": fresh(list), "notes": fresh(list)}


def check_text(text, what="URL or folder"):
    """Refuse what no URL or path should hold: nothing at all, control characters (a newline
    would also split a spec list)."""
    if not isinstance(text, str) or not text.strip():
        raise UsageError("bad %s %r: must not be empty" % (what, text))
    if any(c < " " or c == "\x7f" for c in text):
        raise UsageError("bad %s %r: must not hold control characters (newline, tab, ...)"
                         % (what, text))
    return text


def is_git_url(text):
    return bool(URL_RE.match(text) or SCP_RE.match(text))


def is_work_tree(path):
    return (path / ".git").exists()


def is_bare_repository(path):
    return (path / "HEAD").is_file() and (path / "objects").is_dir() and (path / "refs").is_dir()


OCI_RE = re.compile(r"oci://[A-Za-z0-9.\[\]:-]+/[a-z0-9]+(?:(?:\.|_|__|-+)[a-z0-9]+)*"
                    r"(?:/[a-z0-9]+(?:(?:\.|_|__|-+)[a-z0-9]+)*)*/?", re.IGNORECASE)


def locate(location, kind=None, name="NAME"):
    """The Location of `location` for a source of type `kind` (None: guess it), named `name`."""
    check_text(location)
    if kind == "oci" or location[:6].lower() == "oci://":
        if kind not in (None, "oci") or not OCI_RE.fullmatch(location) or \
                location[6:].split("/", 1)[1] != location[6:].split("/", 1)[1].lower():
            raise UsageError("a registry source takes oci://REGISTRY/REPOSITORY (a lowercase "
                             "repository, no tag or digest), not '%s'%s" % (
                                 location, " with --type %s" % kind if kind not in (None, "oci") else ""))
        return Location(kind="oci", key="remote_url", value="oci://" + location[6:].rstrip("/"))
    if kind == PERMALINK_SOURCE:
        if not HTTP_RE.match(location):
            raise UsageError("a github-permalink source takes a base URL such as "
                             "https://github.com, not '%s'" % location)
        return Location(kind=kind, key="base_url", value=location)
    path = Path(os.path.abspath(paths.expand(location)))
    if path.exists():
        return _folder(location, path, kind, name)
    if is_git_url(location):
        if kind == "local":
            raise UsageError("'%s' is a URL; a local source needs a folder" % location)
        return Location(kind=kind or "git", key="remote_url", value=location,
                        warnings=_check_git_url(location))
    if kind == "local":
        return Location(kind=kind, key="local_path", value=str(path),
                        warnings=["folder '%s' does not exist (yet)" % path])
    raise UsageError("'%s' is neither an existing folder nor a git URL "
                     "(https://..., ssh://..., user@host:path, file://...)" % location)


def _check_git_url(url):
    """Refuse a `scheme://` URL git could never fetch (a typo in the scheme, no host, a space);
    warnings for a file:// URL whose repository is not there (yet), as for a missing folder."""
    scheme, sep, rest = url.partition("://")
    if not sep:
        return []  # scp-like: git asks ssh
    scheme = scheme.lower()
    if scheme == "file":
        path = rest[rest.find("/"):] if "/" in rest else ""
        if not path:
            raise UsageError("bad git URL '%s': no path after file://" % url)
        if not os.path.exists(path):
            return ["repository '%s' does not exist (yet)" % path]
        return []
    if scheme in _GIT_SCHEMES:
        host = rest.split("/", 1)[0].rpartition("@")[2]
        if not host:
            raise UsageError("bad git URL '%s': no host after %s://" % (url, scheme))
        if any(c.isspace() for c in url):
            raise UsageError("bad git URL '%s': a URL cannot hold spaces (write %%20)" % url)
        return []
    if not _remote_helper(scheme):
        import difflib

        near = difflib.get_close_matches(scheme, _GIT_SCHEMES + ("file",), n=1)
        raise UsageError("bad git URL '%s': git cannot fetch %s:// URLs (no remote helper git-remote-%s)%s"
                         % (url, scheme, scheme, "; did you mean %s://?" % near[0] if near else ""))
    return []


# The transports git has itself; any other scheme needs a git-remote-<scheme> program.
_GIT_SCHEMES = ("https", "http", "ssh", "git", "ftps", "ftp", "git+ssh", "ssh+git")


def _remote_helper(scheme):
    """Whether git finds a `git-remote-<scheme>` helper (in its exec path or on PATH)."""
    import shutil

    from kipoi_store import procs

    try:
        exec_path = procs.run(["git", "--exec-path"], deadline=30).stdout.decode(
            "utf-8", "surrogateescape").strip()
    except OSError:
        exec_path = ""
    search = os.pathsep.join(p for p in (exec_path, os.environ.get("PATH", "")) if p)
    return shutil.which("git-remote-" + scheme, path=search) is not None


def _folder(location, path, kind, name):
    if not path.is_dir():
        raise UsageError("'%s' is a file, not a folder or a git repository" % location)
    work_tree, bare = is_work_tree(path), is_bare_repository(path)
    notes = []
    if kind is None:
        kind = "git" if bare else "local"
        if work_tree:
            notes.append("'%s' is a git work tree: added as a local source, so uncommitted edits "
                         "and new models are visible; to follow its commits instead: kipoi "
                         "source add %s %s --type git --force" % (path, name, path))
    if kind in GIT_TYPES:
        if not (work_tree or bare):
            raise UsageError("'%s' is not a git repository (use --type local for a plain folder)"
                             % location)
        return Location(kind=kind, key="remote_url", value=str(path), notes=notes)
    return Location(kind=kind, key="local_path", value=str(path), notes=notes)
