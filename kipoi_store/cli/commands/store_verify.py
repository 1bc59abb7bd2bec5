"""kipoi store verify: re-hash every object and snapshot file; report (or --repair) damage."""

import sys

from kipoi_store.cli import boundary
from kipoi_store.cli.commands import existing_store, json_line
from kipoi_store.store.housekeeping.verify import verify

SUMMARY = "Re-hash the store and report (or --repair) damage"


def parser():
    p = boundary.ArgumentParser(prog="kipoi store verify", summary=SUMMARY, epilog=(
        "Every object is re-hashed and compared with its name; every file a published model "
        "records is checked against its digest. Output: one line per problem on stdout, a summary "
        "on stderr. Exit status 1 when damage was found (also after --repair), 0 when clean. "
        "--repair deletes damaged objects and snapshot files and forgets the models that used "
        "them, so the next resolve fetches them again."))
    p.add_argument("--repair", action="store_true", help="delete what is damaged")
    p.add_argument("--json", action="store_true",
                   help="one JSON object (one line): store, ok, objects_checked, "
                        "files_checked, problems, removed")
    return p


def main(argv):
    args = parser().parse_args(argv)
    store, exists = existing_store()
    if not exists:
        boundary.note("no store at %s yet: nothing to verify" % store.root)
        return 0
    report = verify(store, repair=args.repair)
    if args.json:
        json_line({"store": str(store.root), "ok": report.ok,
                   "objects_checked": report.objects_checked,
                   "files_checked": report.files_checked,
                   "problems": list(report.problems), "removed": list(report.removed)})
    else:
        for line in report.problems:
            sys.stdout.write(line + "\n")
    summary = "verified %d objects and %d snapshot files in %s: " % (
        report.objects_checked, report.files_checked, store.root)
    if report.ok:
        boundary.note(summary + "no damage")
        return 0
    summary += "%d problem(s)" % len(report.problems)
    if args.repair:
        summary += ", removed %d damaged path(s); resolve again to restore them" % len(report.removed)
    else:
        summary += "; run 'kipoi store verify --repair' to drop what is damaged"
    boundary.note(summary)
    return 1
