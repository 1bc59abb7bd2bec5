"""kipoi source rename: rename a model source in the config."""

from .. import cli, config as configmod

SUMMARY = "Rename a model source"


def parser():
    p = cli.ArgumentParser(prog="kipoi source rename", summary=SUMMARY)
    p.add_argument("old", help="configured source name")
    p.add_argument("new", help="new name (letters, digits and . _ + -)")
    return p


def main(argv):
    args = parser().parse_args(argv)
    configmod.rename_source(args.old, args.new)
    cli.note("renamed source '%s' to '%s'" % (args.old, args.new))
    return 0
