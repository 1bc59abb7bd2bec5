"""kipoi store init: make a store, optionally shared by a group (as `git init --shared=group`)."""

import os

from kipoi_store.cli import boundary
from kipoi_store.errors import UsageError

SUMMARY = "Create a store, optionally one a group shares (--shared=group)"


def parser():
    p = boundary.ArgumentParser(prog="kipoi store init", summary=SUMMARY, epilog=(
        "With --shared=group the store records it (a file 'shared' in it): its directories "
        "become setgid and group-writable, and every kipoi command writing to it makes what it "
        "creates readable and writable by the group whatever the user's umask, so every member "
        "can resolve into it, verify it and gc it. Point members at it with KIPOI_STORE, or let "
        "them read it as a site store (site_stores: in /etc/kipoi/config.yaml). Running it again "
        "on an existing store adjusts the modes of what the caller owns."))
    p.add_argument("path", metavar="PATH", help="the store's directory (created if missing)")
    p.add_argument("--shared", choices=["group"], help="share the store with the directory's group")
    p.add_argument("--group", metavar="NAME",
                   help="with --shared=group: give PATH to this group first (chgrp)")
    return p


def _check_place(path):
    """A store is made in a new or empty folder, or an existing store is adjusted: never a file or
    a folder holding other things (`kipoi store init ~`)."""
    from kipoi_store.store.core.scan import STORE_ENTRIES

    try:
        names = os.listdir(path)
    except FileNotFoundError:
        return
    except NotADirectoryError:
        raise UsageError("cannot make a store at %s: it is a file" % path) from None
    if names and not STORE_ENTRIES.intersection(names):
        raise UsageError("cannot make a store at %s: it holds other things (a store is made in a new "
                         "or empty folder)" % path)


def main(argv):
    args = parser().parse_args(argv)
    if args.group and not args.shared:
        parser().error("--group needs --shared=group")
    if not args.path or "\0" in args.path:
        raise UsageError("store path %r: not a directory name" % args.path)
    from kipoi_store.paths import expand
    from kipoi_store.store.tiers.init import init_store

    path = os.path.abspath(expand(args.path))
    _check_place(path)
    if args.group:
        import grp

        try:
            gid = grp.getgrnam(args.group).gr_gid
        except KeyError:
            raise UsageError("no such group: %s" % args.group) from None
        os.makedirs(path, exist_ok=True)
        os.chown(path, -1, gid)
    refused = init_store(path, shared=args.shared)
    for p in refused:
        boundary.warn("cannot change the mode of %s (another user's: they must run this too)" % p)
    if args.shared:
        import grp

        group = grp.getgrgid(os.stat(path).st_gid).gr_name
        boundary.note("initialized store %s, shared with group %s" % (path, group))
    else:
        boundary.note("initialized store %s" % path)
    return 1 if refused else 0
