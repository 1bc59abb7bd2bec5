"""A git remote's address and the refs asked of it, as plain values: checked, normalised, quoted.

Nothing here runs git: `normalise_url` gives a remote its identity (credentials, case, `.git` and
scp-like vs ssh:// forms do not make another repository), `clone_dir` maps that identity to its bare
clone in the store, and `check_ref` keeps anything option-like away from git's command line.
"""

import os
import re
from pathlib import Path

from kipoi_store.errors import UsageError
from kipoi_store.git.cli import scrub
from kipoi_store.store.user.namedigest import name_digest

FULL_COMMIT = re.compile(r"^([0-9a-f]{40}|[0-9a-f]{64})$")
SHORT_COMMIT = re.compile(r"^[0-9a-fA-F]{4,63}$")
_SCP = re.compile(r"^(?:(?P<user>[^@/]+)@)?(?P<host>[^:/]+):(?P<path>.*)$")


# -- urls ------------------------------------------------------------------------------------

def url_kind(url):
    """"url" (scheme://), "scp" (`user@host:path`) or "path" (a local repository), as git decides."""
    if "://" in url:
        return "url"
    colon, slash = url.find(":"), url.find("/")
    if colon > 0 and (slash < 0 or colon < slash):
        return "scp"
    return "path"


def is_local(url):
    return url_kind(url) == "path" or url.lower().startswith("file://")


def check_url(url):
    if not isinstance(url, str) or not url.strip():
        raise UsageError("empty git remote url")
    if url.startswith("-"):
        raise UsageError("git remote url %r looks like an option" % scrub(url))
    if any(ord(c) < 32 or ord(c) == 127 for c in url):
        raise UsageError("git remote url %r has control characters" % scrub(url))
    return url


def normalise_url(url):
    """The identity of a remote: credentials, a trailing `/` or `.git`, and the case of scheme and
    host do not make another repository; scp-like and ssh:// forms of one address are the same;
    a local path is made absolute and file:// is the same path."""
    kind = url_kind(url)
    if kind == "path":
        path = os.path.abspath(os.path.expanduser(url))
        scheme, host = "file", ""
    elif kind == "scp":
        m = _SCP.match(url)
        scheme, host, path = "ssh", m.group("host"), "/" + m.group("path").lstrip("/")
    else:
        scheme, _, rest = url.partition("://")
        scheme = scheme.lower()
        host, _, path = rest.partition("/")
        host = host.rpartition("@")[2].lower()
        path = "/" + path
        if scheme == "file":
            from urllib.parse import unquote

            path = os.path.abspath(unquote(path))
    path = path.rstrip("/")
    if path.endswith(".git"):
        path = path[:-4]
    return "%s://%s%s" % (scheme, host, path.rstrip("/"))


def clone_dir(store_root, url):
    digest = name_digest(normalise_url(url))
    return Path(store_root) / "git" / (digest[:16] + ".git")


# -- refs --------------------------------------------------------------------------------------

def check_ref(ref):
    """A ref as the user gave it, or UsageError: nothing option-like or outside git's ref rules."""
    if ref is None:
        return None
    if not isinstance(ref, str) or ref == "":
        raise UsageError("empty ref")
    if ref.startswith("-"):
        raise UsageError("ref %r looks like an option" % ref)
    bad = [c for c in ref if ord(c) <= 32 or ord(c) == 127 or c in ":?*[\\^~"]
    if (bad or ".." in ref or "@{" in ref or ref.endswith((".", "/", ".lock"))
            or ref.startswith("/") or "//" in ref or "/." in ref or ref.startswith(".")):
        raise UsageError("%r is not a valid git ref" % ref)
    return ref


def config_quote(value):
    """`value` as a git config value: quoted, so `#`, `;` and spaces stay part of it."""
    return '"%s"' % value.replace("\\", "\\\\").replace('"', '\\"')
