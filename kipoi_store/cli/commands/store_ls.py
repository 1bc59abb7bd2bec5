"""kipoi store ls: which models and snapshots take the space, and when each was last used."""

import sys
import time

from kipoi_store.cli import boundary
from kipoi_store.cli.commands import existing_store, json_line
from kipoi_store.cli.commands.store_info import human
from kipoi_store.store.housekeeping.usage import scan_usage

SUMMARY = "List the models (or snapshots) in the store with their size and last use"
SORTS = ("name", "size", "unique", "used")


def parser():
    p = boundary.ArgumentParser(prog="kipoi store ls", summary=SUMMARY, epilog=(
        "Output: SIZE<TAB>UNIQUE<TAB>LAST-USED<TAB>KEY/MODEL per model (with --snapshots: "
        "SIZE<TAB>UNIQUE<TAB>LAST-USED<TAB>KEY<TAB>MODELS). SIZE counts every file once, UNIQUE "
        "the bytes nothing else in the store shares: what 'kipoi store rm' of it frees. LAST-USED "
        "is the newest of its publication and your own resolves of it (recorded under KIPOI_HOME, "
        "never in the store). --json: one object per line with key, model (models), size, unique, "
        "last_used (ISO 8601 UTC or null), files / models."))
    p.add_argument("--snapshots", action="store_true", help="one line per snapshot, not per model")
    p.add_argument("--sort", choices=SORTS, default="name",
                   help="name (default), size or unique (largest first), used (least recent first)")
    p.add_argument("-r", "--reverse", action="store_true", help="reverse the order")
    p.add_argument("--bytes", action="store_true", help="exact byte counts instead of KiB/MiB")
    p.add_argument("--json", action="store_true", help="one JSON object per line")
    return p


def _order(rows, how, name):
    if how == "size":
        return sorted(rows, key=lambda r: (-r.size, name(r)))
    if how == "unique":
        return sorted(rows, key=lambda r: (-r.unique, name(r)))
    if how == "used":
        return sorted(rows, key=lambda r: (r.last_used or 0.0, name(r)))
    return sorted(rows, key=name)


def iso(stamp):
    return None if stamp is None else time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(stamp))


def main(argv):
    args = parser().parse_args(argv)
    store, _ = existing_store()
    models, snapshots = scan_usage(store, warn=boundary.warn)
    size = str if args.bytes else human
    if args.snapshots:
        rows = _order(snapshots, args.sort, lambda r: r.key.encode())
    else:
        rows = _order(models, args.sort, lambda r: ("%s/%s" % (r.key, r.model)).encode())
    if args.reverse:
        rows.reverse()
    out = sys.stdout
    for r in rows:
        if args.json:
            record = {"key": r.key, "size": r.size, "unique": r.unique, "last_used": iso(r.last_used)}
            if args.snapshots:
                record["models"] = list(r.models)
            else:
                record.update(model=r.model, files=r.files)
            json_line(record)
            continue
        what = "%s\t%s" % (r.key, ",".join(r.models)) if args.snapshots else "%s/%s" % (r.key, r.model)
        out.write("%s\t%s\t%s\t%s\n" % (size(r.size), size(r.unique), _when(r.last_used), what))
    return 0


def _when(stamp):
    return "-" if stamp is None else time.strftime("%Y-%m-%d %H:%M", time.localtime(stamp))
