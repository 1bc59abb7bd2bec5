"""kipoi source pin: print, for each spec, the spec that names exactly the same bytes forever.

    $ kipoi source pin kipoi:rbp_eclip/UPF1@v0.4 https://github.com/kipoi/models/blob/7d3ea78/Basset/x.py
    kipoi:rbp_eclip/UPF1@7d3ea78c2b8e...                       (SOURCE:PATH@<full commit>)
    github-permalink:kipoi/models/tree/7d3ea78c2b8e.../Basset  (permalinks: the full commit, the model dir)

Pinning resolves the spec first (as `kipoi source resolve` does), so the model is in the store and
the printed spec resolves again offline, to the same directory. A `local` source has no commits:
pinning one is refused with exit status 2, as `local:model@ref` is (it asks for a version of what
has no versions; no retry can make it work), without materialising anything.
"""

import sys

from .. import cli, config as configmod, paths, spec as specmod
from ..errors import EXIT_OK, KipoiError, UsageError
from ..store import Store
from .source_resolve import read_specs

SUMMARY = "Print the commit-pinned form of model specs"


def parser():
    p = cli.ArgumentParser(prog="kipoi source pin", summary=SUMMARY, epilog=(
        "Each spec is resolved (fetched into the store if need be); its pinned form is printed, one "
        "per line: SOURCE:PATH@<full commit> for git sources, the permalink at its full commit (a "
        "tree/ link to the model directory) for permalinks. Local sources cannot be pinned. "
        "Exit status: 0 all pinned, 1 some failed (not found, network), 2 bad input (spec, config, "
        "a local source)."))
    p.add_argument("specs", nargs="*", metavar="SPEC", help="model specs")
    p.add_argument("--stdin", action="store_true", help="also read specs from stdin, one per line")
    p.add_argument("-z", "--null", action="store_true",
                   help="with --stdin, specs are NUL-separated; output is NUL-separated too")
    p.add_argument("--offline", action="store_true", help="never touch the network (also KIPOI_OFFLINE=1)")
    p.add_argument("--refresh", action="store_true", help="refresh refs from the remote now")
    return p


def pin(resolver, config, text):
    """The pinned form of spec `text` (resolving it); UsageError for what cannot be pinned."""
    spec = specmod.parse(text)
    if spec.repo is None:
        source = config.source(spec.source)
        if source.type == "local":
            raise UsageError("cannot pin %r: source '%s' is a local folder, which has no commits "
                             "to pin to" % (text, source.name))
    resolution = resolver.resolve_spec(spec)
    if resolution.pinned is None:
        raise UsageError("cannot pin %r: source '%s' gives no commit to pin to"
                         % (text, resolution.source))
    return resolution.pinned


def main(argv):
    args = parser().parse_args(argv)
    specs = list(args.specs)
    if args.stdin:
        specs += read_specs(sys.stdin, args.null)
    elif not specs:
        parser().error("no spec given (name one, or use --stdin)")
    config = configmod.load()
    for message in config.warnings:
        cli.warn(message)
    from ..resolve import Resolver

    resolver = Resolver(config, Store.default(), offline=args.offline or paths.offline(),
                        refresh=args.refresh, warn=cli.warn)
    end = "\0" if args.null else "\n"
    worst = EXIT_OK
    try:
        for text in specs:
            try:
                pinned = pin(resolver, config, text)
            except KipoiError as exc:
                cli.error_line(str(exc))
                worst = max(worst, exc.exit_code)
                continue
            sys.stdout.write(pinned + end)
    finally:
        resolver.close()
    return worst
