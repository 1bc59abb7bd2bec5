"""kipoi store gc: plan, then delete snapshots the config no longer reaches and their objects."""

import sys

from kipoi_store.cli import boundary
from kipoi_store.cli.commands import existing_store, json_line
from kipoi_store.errors import UsageError
from kipoi_store.store.housekeeping.gc import GRACE_SECONDS, gc_execute, gc_plan
from kipoi_store.cli.commands.store_info import human

SUMMARY = "Delete snapshots and objects no longer used (plan first with --dry-run)"


def current_keys(config, store):
    try:
        from kipoi_store.refs import current_keys as keys
    except ModuleNotFoundError as exc:  # only while refs.py is not there yet
        if exc.name != "kipoi_store.refs":
            raise
        return set()
    return keys(config, store)


def parser():
    p = boundary.ArgumentParser(prog="kipoi store gc", summary=SUMMARY, epilog=(
        "Kept: the snapshot each configured source currently resolves to, and every snapshot a "
        "model was published or resolved from in the last --keep-days days; objects added in the "
        "last hour are kept (a resolve may be about to use them) unless --prune=now, which "
        "--keep-days 0 implies: do not prune now while other jobs resolve into this store. "
        "Leftovers of killed processes in "
        "tmp/ go too, and download lock files nobody holds that are older than --prune. "
        "Output: KIND<TAB>NAME<TAB>BYTES per deleted item (snapshot, object, tmp, lock); "
        "the total on stderr."))
    p.add_argument("-n", "--dry-run", action="store_true", help="print the plan, delete nothing")
    p.add_argument("--keep-days", type=float, default=30.0, metavar="N",
                   help="keep snapshots used in the last N days (default 30)")
    p.add_argument("--prune", metavar="AGE", default=None,
                   help="delete unused objects added more than AGE ago: 'now', or e.g. 30m, 2h "
                        "(default 1h; 'now' with --keep-days 0)")
    p.add_argument("--json", action="store_true", help="the plan as one JSON object")
    return p


def prune_seconds(text, keep_days):
    if text is None:
        return 0.0 if keep_days == 0 else float(GRACE_SECONDS)
    if text.strip().lower() == "now":
        return 0.0
    from kipoi_store.config.schema import parse_duration

    try:
        return parse_duration(text)
    except UsageError:
        raise UsageError("--prune=%s: expected 'now' or an age such as 30m, 2h, 1d" % text) from None


def main(argv):
    args = parser().parse_args(argv)
    if args.keep_days < 0:
        parser().error("--keep-days must not be negative")
    from kipoi_store.cli.commands import load_config

    store, _ = existing_store()
    keep = current_keys(load_config(), store)
    plan = gc_plan(store, keep, args.keep_days, prune=prune_seconds(args.prune, args.keep_days))
    if args.json:
        json_line({"store": str(store.root), "dry_run": args.dry_run,
                   "bytes": plan.bytes_freed, "kept_snapshots": plan.kept_snapshots,
                   "items": [{"kind": i.kind, "name": i.name, "bytes": i.bytes}
                             for i in plan.items]})
    else:
        for item in plan.items:
            sys.stdout.write("%s\t%s\t%d\n" % (item.kind, item.name, item.bytes))
    counts = "%d snapshot(s), %d object(s), %d tmp leftover(s), %d stale lock(s)" % (
        len(plan.snapshots), len(plan.objects), len(plan.tmp), len(plan.locks))
    if args.dry_run:
        boundary.note("would delete %s, freeing %s; keeping %d snapshot(s)"
                 % (counts, human(plan.bytes_freed), plan.kept_snapshots))
        return 0
    freed = gc_execute(store, plan)
    boundary.note("deleted %s, freed %s; kept %d snapshot(s)" % (counts, human(freed), plan.kept_snapshots))
    return 0
