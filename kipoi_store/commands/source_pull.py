"""kipoi source pull: resolve specs and also fetch every remote file their models name.

Like `kipoi source resolve --files`, with a progress line on stderr when it is a terminal. Prints
one absolute model directory (or, with --json, one object with the published `files`) per spec.
"""

import json
import sys

from .. import cli, config as configmod, paths
from ..errors import EXIT_OK, KipoiError
from ..store import Store
from .source_resolve import read_specs

SUMMARY = "Resolve model specs and fetch the weights and data files their models name"


def parser():
    p = cli.ArgumentParser(prog="kipoi source pull", summary=SUMMARY, epilog=(
        "Files named as {url, md5} in model.yaml (group models: the rendered model-template.yaml) "
        "and in the default dataloader's dataloader.yaml are downloaded once per store, verified, "
        "and laid out where kipoi looks for them (downloaded/model_files/..., "
        "downloaded/dataloader_files/...). URLs are tried through the config's url_rewrites "
        "first, the original last. Exit status: 0 all done, 1 some failed (not found, network, "
        "wrong content, missing offline), 2 bad input (spec, config)."))
    p.add_argument("specs", nargs="*", metavar="SPEC", help="model specs")
    p.add_argument("--stdin", action="store_true", help="also read specs from stdin, one per line")
    p.add_argument("-z", "--null", action="store_true",
                   help="with --stdin, specs are NUL-separated; output is NUL-separated too")
    p.add_argument("--json", action="store_true", help="one JSON object per spec and line")
    p.add_argument("--offline", action="store_true",
                   help="never touch the network: files must be in the store (also KIPOI_OFFLINE=1)")
    p.add_argument("--refresh", action="store_true", help="refresh refs from the remote now")
    return p


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
    from ..modelfiles import fetch_model_files
    from ..resolve import Resolver

    offline = args.offline or paths.offline()
    store = Store.default()
    resolver = Resolver(config, store, offline=offline, refresh=args.refresh, warn=cli.warn)
    progress = sys.stderr.isatty()
    end = "\0" if args.null else "\n"
    worst = EXIT_OK
    try:
        for text in specs:
            try:
                r = resolver.resolve(text)
                files = fetch_model_files(r, store, config, offline=offline, progress=progress)
            except KipoiError as exc:
                cli.error_line(str(exc))
                worst = max(worst, exc.exit_code)
                continue
            if args.json:
                sys.stdout.write(json.dumps(dict(r.as_json(), spec=text, files=files),
                                            sort_keys=True) + end)
            else:
                sys.stdout.write(str(r.directory) + end)
    finally:
        resolver.close()
    return worst
