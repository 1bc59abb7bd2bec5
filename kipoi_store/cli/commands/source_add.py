"""kipoi source add: add a model source to the config."""

import argparse
import os
from pathlib import Path

from kipoi_store.cli import boundary
from kipoi_store.config import edit as configedit
from kipoi_store.config import locations
from kipoi_store.config import schema as configschema
from kipoi_store import paths
from kipoi_store.errors import UsageError

SUMMARY = "Add a model source to the config"


def parser():
    p = boundary.ArgumentParser(prog="kipoi source add", summary=SUMMARY, epilog=(
        "Without --type: a folder becomes a local source (a git work tree too: its uncommitted "
        "edits are visible); a bare repository or a git URL becomes a git source (--type git-lfs "
        "to say so, --type git to follow a work tree's commits)."))
    p.add_argument("name", help="source name, used in specs as NAME:path/to/model")
    p.add_argument("location", metavar="URL_OR_PATH",
                   help="git URL, repository path, folder, or oci://REGISTRY/REPOSITORY")
    # `kipoi source add NAME TYPE URL_OR_PATH` (the design card's form) works too.
    p.add_argument("more", nargs="?", help=argparse.SUPPRESS)
    p.add_argument("--type", choices=configschema.TYPES, help="source type (default: guessed)")
    p.add_argument("--local-path", help="where kipoi itself checks the repository out "
                   "(default: ~/.kipoi/sources/NAME/)")
    p.add_argument("--ref", help="branch, tag or commit to follow (default: the remote HEAD; "
                   "a registry's tag: latest)")
    p.add_argument("--lfs-url", help="Git LFS endpoint (default: discovered from the remote)")
    p.add_argument("--force", action="store_true", help="replace a source of the same name")
    return p


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
    where = locations.locate(args.location, args.type, args.name)
    kind = where.kind
    entry = {"type": kind, where.key: where.value}
    if args.local_path is not None:
        if kind == "local":
            raise UsageError("--local-path is for git sources; a local source's folder is "
                             "URL_OR_PATH")
        locations.check_text(args.local_path, "--local-path")
        entry["local_path"] = str(Path(os.path.abspath(paths.expand(args.local_path))))
    if args.local_path is not None and kind == "oci":
        raise UsageError("--local-path is for git sources, not a registry")
    if args.ref is not None:
        if kind not in configschema.GIT_TYPES + ("oci",):
            raise UsageError("--ref needs a git, git-lfs or oci source, not %s" % kind)
        check_ref(args.ref)
        entry["ref"] = args.ref
    if args.lfs_url is not None:
        if kind not in configschema.GIT_TYPES:
            raise UsageError("--lfs-url needs a git or git-lfs source, not %s" % kind)
        entry["lfs_url"] = locations.check_text(args.lfs_url, "--lfs-url")
    for message in where.warnings:
        boundary.warn(message)
    configedit.add_source(args.name, entry, force=args.force)
    # boundary.note shows the URL without its password or token (`***`).
    boundary.note("added source '%s' (%s %s) to %s" % (args.name, kind, where.value,
                                                        paths.config_path()))
    for message in where.notes:
        boundary.note(message)
    return 0
