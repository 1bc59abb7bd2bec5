"""kipoi store import: verify a bundle (or mirror directory) and publish its models model by model."""

import sys

from kipoi_store.cli import boundary
from kipoi_store.cli.commands import existing_store
from kipoi_store.dist.bundleimport import import_bundle

SUMMARY = "Import models from a tar bundle or a mirror directory into the store"


def parser():
    p = boundary.ArgumentParser(prog="kipoi store import", summary=SUMMARY, epilog=(
        "Every entry is checked before anything enters the store: names (no absolute path, no "
        "'..'), types (regular files only: no links, no devices), sizes (as the bundle declares) "
        "and every object's sha256. A damaged bundle changes nothing and the error names the "
        "entry and the models that use it. Then each model is published, all or nothing; models "
        "the store has are left as they are, so importing twice changes nothing. stdout lists the "
        "models published. Exit status: 0 done, 1 damaged bundle, 2 bad input."))
    p.add_argument("bundle", metavar="FILE.tar|DIR", help="a bundle from 'kipoi store export -o', "
                   "'-' for one on stdin, or a mirror directory")
    return p


def main(argv):
    args = parser().parse_args(argv)
    store, _ = existing_store(new_ok=True)  # into a new store (an air-gapped site's first)
    done = import_bundle(store, args.bundle)
    for label in done.published:
        sys.stdout.write(label + "\n")
    boundary.note("imported %d model(s) (%d new object(s)) into %s; %d already there"
                  % (len(done.published), done.objects, store.root, len(done.present)))
    return 0
