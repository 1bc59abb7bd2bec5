"""kipoi source resolve: specs in, one absolute model directory (or JSON object) out per spec."""

import json
import sys

from .. import cli, paths
from ..configcache import load_cached
from ..errors import EXIT_OK, KipoiError
from ..store import Store

SUMMARY = "Resolve model specs to verified local directories in the store"


def parser():
    p = cli.ArgumentParser(prog="kipoi source resolve", summary=SUMMARY, epilog=(
        "Specs: SOURCE:PATH[@REF], SOURCE::PATH, PATH (source 'kipoi'), "
        "github-permalink:USER/REPO/tree/COMMIT/PATH, https://github.com/USER/REPO/tree/COMMIT/PATH. "
        "Exit status: 0 all resolved, 1 some failed (not found, network), 2 bad input (spec, config)."))
    p.add_argument("specs", nargs="*", metavar="SPEC", help="model specs")
    p.add_argument("--stdin", action="store_true", help="also read specs from stdin, one per line")
    p.add_argument("-z", "--null", action="store_true",
                   help="with --stdin, specs are NUL-separated; output is NUL-separated too")
    p.add_argument("--json", action="store_true", help="one JSON object per spec and line")
    p.add_argument("--offline", action="store_true", help="never touch the network (also KIPOI_OFFLINE=1)")
    p.add_argument("--refresh", action="store_true", help="refresh refs from the remote now")
    return p


def read_specs(stream, nul):
    data = stream.read()
    parts = data.split("\0") if nul else data.splitlines()
    return [s.strip() if not nul else s for s in parts if s.strip()]


def main(argv):
    args = parser().parse_args(argv)
    specs = list(args.specs)
    if args.stdin:
        specs += read_specs(sys.stdin, args.null)
    elif not specs:
        parser().error("no spec given (name one, or use --stdin)")
    store = Store.default()
    config = load_cached(store.cache_dir)
    for message in config.warnings:
        cli.warn(message)
    from ..resolve import Resolver

    resolver = Resolver(config, store, offline=args.offline or paths.offline(),
                        refresh=args.refresh, warn=cli.warn)
    end = "\0" if args.null else "\n"
    out = sys.stdout
    worst = EXIT_OK
    try:
        for text in specs:
            try:
                r = resolver.resolve(text)
            except KipoiError as exc:
                cli.error_line(str(exc))
                worst = max(worst, exc.exit_code)
                continue
            if args.json:
                out.write(json.dumps(dict(r.as_json(), spec=text), sort_keys=True) + end)
            else:
                out.write(str(r.directory) + end)
    finally:
        resolver.close()
    return worst
