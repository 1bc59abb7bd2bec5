"""kipoi source models: list the model names a source holds."""

import sys

from kipoi_store.cli import boundary
from kipoi_store.errors import UsageError
from kipoi_store.cli.commands import json_line
from kipoi_store.cli.commands.specs import Run

SUMMARY = "List the models of a source, one name per line"


def parser():
    p = boundary.ArgumentParser(prog="kipoi source models", summary=SUMMARY, epilog=(
        "Every name listed resolves as SOURCE:NAME. Directories (or models.tsv rows) whose name "
        "no spec can express (spaces at either end of a segment, a backslash, '@', control "
        "characters, bytes that are not UTF-8) are left out with a warning naming them; "
        "'*/template' directories are hidden, as kipoi does."))
    p.add_argument("source", nargs="?", default="kipoi",
                   help="configured source name, optionally with @REF (default: kipoi)")
    p.add_argument("prefix", nargs="?", help="only models under this path (whole segments)")
    p.add_argument("--specs", action="store_true",
                   help="print SOURCE:NAME (SOURCE:NAME@REF) instead of bare names")
    p.add_argument("-z", "--null", action="store_true", help="NUL-separated output")
    p.add_argument("--json", action="store_true",
                   help='one JSON object per model: {"source", "ref", "model", "spec"}')
    p.add_argument("--offline", action="store_true", help="never touch the network")
    p.add_argument("--refresh", action="store_true", help="refresh the ref from the remote now")
    return p


def main(argv):
    args = parser().parse_args(argv)
    source, _, ref = args.source.partition("@")
    if "@" in args.source and not ref:
        raise UsageError("bad source '%s': nothing after '@'" % args.source)
    prefix = args.prefix.strip("/") if args.prefix else None
    run = Run(args)
    unusable = {}
    try:
        names = run.resolver.backend(source).list_models(prefix, ref or None, unusable)
    finally:
        run.resolver.close()
    for path, (why, count) in sorted(unusable.items()):
        what = "" if count == 1 else " (%d models)" % count
        boundary.warn("source '%s': '%s'%s is not listed: no spec can name it (%s)"
                      % (source, path, what, why))
    end = "\0" if args.null else "\n"
    out = sys.stdout
    for name in names:
        spec = "%s:%s" % (source, name) + ("@" + ref if ref else "")
        if args.json:
            json_line({"source": source, "ref": ref or None, "model": name, "spec": spec}, end)
        else:
            out.write((spec if args.specs else name) + end)
    return 0
