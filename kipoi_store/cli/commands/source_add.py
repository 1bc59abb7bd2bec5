"""kipoi source add: add a model source to the config."""

import argparse
import os
import re
from pathlib import Path

from kipoi_store.cli import boundary
from kipoi_store.config import edit as configedit
from kipoi_store.config import schema as configschema
from kipoi_store import paths
from kipoi_store.errors import UsageError

SUMMARY = "Add a model source to the config"

# scheme://... (https, http, ssh, git, file) or scp-like [user@]host:path, as git reads them.
URL_RE = re.compile(r"[A-Za-z][A-Za-z0-9+.-]*://")
SCP_RE = re.compile(r"(?:[^@/:\s]+@)?[^@/:\s]+:")


def parser():
    p = boundary.ArgumentParser(prog="kipoi source add", summary=SUMMARY, epilog=(
        "Without --type: an existing folder that is not a git repository becomes a local source; "
        "a git URL or a path to a repository becomes a git source (--type git-lfs to say so)."))
    p.add_argument("name", help="source name, used in specs as NAME:path/to/model")
    p.add_argument("location", metavar="URL_OR_PATH", help="git URL, repository path or folder")
    # `kipoi source add NAME TYPE URL_OR_PATH` (the design card's form) works too.
    p.add_argument("more", nargs="?", help=argparse.SUPPRESS)
    p.add_argument("--type", choices=configschema.TYPES, help="source type (default: guessed)")
    p.add_argument("--local-path", help="where kipoi itself checks the repository out")
    p.add_argument("--ref", help="branch, tag or commit to follow (default: the remote HEAD)")
    p.add_argument("--lfs-url", help="Git LFS endpoint (default: discovered from the remote)")
    p.add_argument("--force", action="store_true", help="replace a source of the same name")
    return p


def is_git_url(text):
    return bool(URL_RE.match(text) or SCP_RE.match(text))


def is_git_repository(path):
    """A work tree (has .git) or a bare repository (HEAD, objects/, refs/)."""
    return (path / ".git").exists() or (
        (path / "HEAD").is_file() and (path / "objects").is_dir() and (path / "refs").is_dir())


def guess_entry(location, kind=None):
    """(type, settings) for URL_OR_PATH; an explicit `kind` wins where it makes sense."""
    path = Path(os.path.abspath(paths.expand(location)))
    if path.exists():
        if not path.is_dir():
            raise UsageError("'%s' is a file, not a folder or a git repository" % location)
        repo = is_git_repository(path)
        kind = kind or ("git" if repo else "local")
        if kind in configschema.GIT_TYPES and not repo:
            raise UsageError("'%s' is not a git repository (use --type local for a plain folder)"
                             % location)
        if kind == configschema.PERMALINK_SOURCE:
            raise UsageError("a github-permalink source takes a base URL such as "
                             "https://github.com, not a folder")
        key = "local_path" if kind == "local" else "remote_url"
        return kind, {"type": kind, key: str(path)}
    if is_git_url(location):
        kind = kind or "git"
        if kind == "local":
            raise UsageError("'%s' is a URL; a local source needs an existing folder" % location)
        key = "base_url" if kind == configschema.PERMALINK_SOURCE else "remote_url"
        return kind, {"type": kind, key: location}
    if kind == "local":
        boundary.warn("folder '%s' does not exist (yet)" % path)
        return kind, {"type": kind, "local_path": str(path)}
    raise UsageError("'%s' is neither an existing folder nor a git URL "
                     "(https://..., ssh://..., user@host:path, file://...)" % location)


def check_ref(ref):
    if not ref or ref.startswith("-") or any(c < " " or c == "\x7f" for c in ref):
        raise UsageError("bad --ref '%s': a branch, tag or commit (not starting with '-')" % ref)


def main(argv):
    args = parser().parse_args(argv)
    if args.more is not None:
        if args.location not in configschema.TYPES or args.type not in (None, args.location):
            raise UsageError("expected NAME [TYPE] URL_OR_PATH with TYPE one of %s, got '%s'"
                             % (", ".join(configschema.TYPES), args.location))
        args.type, args.location = args.location, args.more
    kind, entry = guess_entry(args.location, args.type)
    if args.local_path is not None:
        if kind == "local":
            raise UsageError("--local-path is for git sources; a local source's folder is "
                             "URL_OR_PATH")
        entry["local_path"] = str(Path(os.path.abspath(paths.expand(args.local_path))))
    if args.ref is not None:
        if kind not in configschema.GIT_TYPES:
            raise UsageError("--ref needs a git or git-lfs source, not %s" % kind)
        check_ref(args.ref)
        entry["ref"] = args.ref
    if args.lfs_url is not None:
        if kind not in configschema.GIT_TYPES:
            raise UsageError("--lfs-url needs a git or git-lfs source, not %s" % kind)
        entry["lfs_url"] = args.lfs_url
    configedit.add_source(args.name, entry, force=args.force)
    where = entry.get("remote_url") or entry.get("local_path") or entry.get("base_url")
    boundary.note("added source '%s' (%s %s) to %s" % (args.name, kind, where, paths.config_path()))
    return 0
