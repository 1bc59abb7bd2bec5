"""kipoi store info (alias: kipoi store du): where the store is and what it holds."""

import sys

from kipoi_store.cli import boundary
from kipoi_store.cli.commands import existing_store, json_line
from kipoi_store.store.housekeeping.info import store_info

SUMMARY = "Show the store's location, link mode, contents and size"


def human(n):
    """1536 -> '1.5 KiB' (binary units, as du -h)."""
    size = float(n)
    for unit in ("B", "KiB", "MiB", "GiB", "TiB"):
        if abs(size) < 1024 or unit == "TiB":
            return ("%d %s" % (size, unit)) if unit == "B" else ("%.1f %s" % (size, unit))
        size /= 1024
    return "%d B" % n


def parser(prog="kipoi store info"):
    p = boundary.ArgumentParser(prog=prog, summary=SUMMARY, epilog=(
        "Sizes are apparent sizes, each hardlinked file counted once. 'saved' is what plain "
        "copies of every published model would take beyond what the store uses for them. Site "
        "stores (KIPOI_SITE_STORES, site_stores: in the config) follow the user's own store."))
    p.add_argument("--json", action="store_true",
                   help="one JSON object per store: the user's (tier: user), then each site store")
    p.add_argument("--bytes", action="store_true", help="exact byte counts instead of KiB/MiB")
    return p


def main(argv, prog="kipoi store info"):
    args = parser(prog).parse_args(argv)
    from kipoi_store.cli.commands import load_config
    from kipoi_store.resolver import site_store_paths, usable_sites
    from kipoi_store.store.core.store import Store

    store, _ = existing_store()
    info = store_info(store)
    site_paths = site_store_paths(load_config(), store.root)
    usable_sites(site_paths, boundary.warn)  # all are shown; those that are not stores, warned about
    sites = [store_info(Store(p)) for p in site_paths]
    if args.json:
        json_line(dict(info.as_dict(), tier="user"))
        for site in sites:
            json_line(dict(site.as_dict(), tier="site"))
        return 0
    size = str if args.bytes else human
    _rows(info, size)
    for site in sites:
        sys.stdout.write("\nsite store (read only, searched after the one above):\n")
        _rows(site, size)
    return 0


def _rows(info, size):
    rows = [("location", str(info.location)),
            ("link mode", info.link_mode or "(not chosen yet)"),
            ("snapshots", str(info.snapshots)),
            ("models", str(info.models)),
            ("objects", "%d (%s)" % (info.objects, size(info.bytes_objects))),
            ("on disk", size(info.bytes_on_disk)),
            ("saved", size(info.bytes_saved))]
    for name, value in rows:
        sys.stdout.write("%-10s %s\n" % (name + ":", value))


def main_du(argv):
    return main(argv, prog="kipoi store du")
