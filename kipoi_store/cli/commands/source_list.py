"""kipoi source list: the configured model sources, one per line."""

import sys

from kipoi_store.cli import boundary
from kipoi_store.cli.commands import json_line, load_config, source_fields
from kipoi_store.git.cli import scrub

SUMMARY = "List the configured model sources"


def parser():
    p = boundary.ArgumentParser(prog="kipoi source list", summary=SUMMARY, epilog=(
        "Output: NAME<TAB>TYPE per line, sorted by name; -v adds URL and local path ('-' when "
        "unset)."))
    p.add_argument("-v", "--verbose", action="store_true", help="add URL and local path")
    p.add_argument("--json", action="store_true", help="one JSON object per source, every setting")
    return p


def main(argv):
    args = parser().parse_args(argv)
    config = load_config()
    sources = sorted(config.sources.values(), key=lambda s: s.name.encode())
    out = sys.stdout
    if args.json:
        for s in sources:
            # No password or token from a URL is ever printed: it is shown as `***`.
            json_line({k: scrub(v) if isinstance(v, str) else v
                       for k, v in source_fields(s).items()})
        return 0
    for s in sources:
        fields = [s.name, s.type]
        if args.verbose:
            fields += [scrub(s.remote_url or s.base_url or "-"),
                       str(s.local_path) if s.local_path is not None else "-"]
        out.write("\t".join(fields) + "\n")
    return 0
