"""kipoi source models: list the model names a source holds."""

import sys

from kipoi_store.cli import boundary
from kipoi_store.errors import UsageError
from kipoi_store.cli.commands.specs import Run

SUMMARY = "List the models of a source, one name per line"


def parser():
    p = boundary.ArgumentParser(prog="kipoi source models", summary=SUMMARY)
    p.add_argument("source", nargs="?", default="kipoi",
                   help="configured source name, optionally with @REF (default: kipoi)")
    p.add_argument("prefix", nargs="?", help="only models under this path (whole segments)")
    p.add_argument("--specs", action="store_true", help="print SOURCE:NAME instead of bare names")
    p.add_argument("-z", "--null", action="store_true", help="NUL-separated output")
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
    try:
        names = run.resolver.backend(source).list_models(prefix, ref or None)
    finally:
        run.resolver.close()
    end = "\0" if args.null else "\n"
    out = sys.stdout
    for name in names:
        out.write(("%s:%s" % (source, name) if args.specs else name) + end)
    return 0
