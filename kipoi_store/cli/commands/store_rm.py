"""kipoi store rm: remove models (or whole snapshots) from the store, keeping what others share."""

import re
import sys

from kipoi_store.cli import boundary
from kipoi_store.cli.commands import existing_store, json_line
from kipoi_store.cli.commands.store_info import human
from kipoi_store.errors import EXIT_OK, KipoiError
from kipoi_store.store.housekeeping.remove import execute_removal, plan_removal
from kipoi_store.store.core.store import KEY_PATTERN

SUMMARY = "Remove models or snapshots from the store (shared files stay)"
_KEY = re.compile(r"(?P<key>%s)(?:/(?P<model>.+))?\Z" % KEY_PATTERN.pattern)


def parser():
    p = boundary.ArgumentParser(prog="kipoi store rm", summary=SUMMARY, epilog=(
        "Each argument is a spec (SOURCE:PATH[@REF]: the snapshot it resolves to now, found "
        "offline), a snapshot KEY (all its models), or KEY/MODEL as 'kipoi store ls' prints it. "
        "Files and objects another model still uses stay. Output: one line per removed model, "
        "ARGUMENT<TAB>KEY/MODEL (the argument as written; KEY alone for a snapshot without "
        "models), printed once it is gone; the bytes freed on stderr."))
    p.add_argument("targets", nargs="+", metavar="SPEC|KEY", help="what to remove")
    p.add_argument("-n", "--dry-run", action="store_true", help="print what would go, delete nothing")
    p.add_argument("--json", action="store_true", help="one JSON object per argument removed")
    return p


def _targets(args, store):
    """(argument, key, model or None) triples, and (message, exit code) for each argument that
    named nothing."""
    targets, errors, resolver = [], [], None
    for text in args.targets:
        m = _KEY.match(text)
        if m:
            targets.append((text, m.group("key"), m.group("model")))
            continue
        try:
            if resolver is None:
                from kipoi_store.cli.commands import load_config
                from kipoi_store.resolver import Resolver

                resolver = Resolver(load_config(), store, offline=True, warn=boundary.warn)
            r = resolver.resolve(text)
        except KipoiError as exc:
            errors.append((_named(text, exc), exc.exit_code))
            continue
        targets.append((text, r.key, r.model))
    if resolver is not None:
        resolver.close()
    return targets, errors


def _named(text, exc):
    return str(exc) if text in str(exc) else "%s: %s" % (text, exc)


def main(argv):
    args = parser().parse_args(argv)
    store, _ = existing_store()
    targets, errors = _targets(args, store)
    try:
        if targets:
            errors += _remove(args, store, targets)
    finally:
        # After the summary: a failed command's last line is its error, as for every command.
        for message, _ in errors:
            boundary.error_line(message)
    return max([EXIT_OK] + [code for _, code in errors])


def _remove(args, store, targets):
    """Remove what `targets` name, printing each argument's models once they are gone; returns
    (message, exit code) for the targets that could not be removed."""
    plan = plan_removal(store, targets)
    failures = [(_named(label, exc), exc.exit_code) for label, exc in plan.failures]

    def show(removal):
        for t in plan.targets:
            if t.key != removal.key:
                continue
            if args.json:
                json_line({"spec": t.label, "key": t.key, "models": list(t.models),
                           "snapshot_removed": removal.whole, "dry_run": args.dry_run})
            else:
                sys.stdout.writelines("%s\t%s\n" % (t.label, "%s/%s" % (t.key, model) if model else t.key)
                                      for model in t.models or ("",))
        sys.stdout.flush()

    if args.dry_run:
        for r in plan.removals:
            show(r)
        boundary.note("would free %s (%d object(s))" % (human(plan.bytes), len(plan.objects)))
        return failures
    if plan.removals:
        execute_removal(store, plan, done=show)
        boundary.note("freed %s (%d object(s))" % (human(plan.bytes), len(plan.objects)))
    return failures
