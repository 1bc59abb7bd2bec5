"""kipoi source rename: rename a model source in the config."""

from kipoi_store.cli import boundary
from kipoi_store.config import edit as configedit

SUMMARY = "Rename a model source"


def parser():
    p = boundary.ArgumentParser(prog="kipoi source rename", summary=SUMMARY)
    p.add_argument("old", help="configured source name")
    p.add_argument("new", help="new name (letters, digits and . _ + -)")
    return p


def main(argv):
    args = parser().parse_args(argv)
    configedit.rename_source(args.old, args.new)
    boundary.note("renamed source '%s' to '%s'" % (args.old, args.new))
    return 0
