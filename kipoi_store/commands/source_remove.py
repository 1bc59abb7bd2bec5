"""kipoi source remove: remove a model source from the config."""

from .. import cli, config as configmod, paths

SUMMARY = "Remove a model source from the config"


def parser():
    p = cli.ArgumentParser(prog="kipoi source remove", summary=SUMMARY, epilog=(
        "Only the config entry goes; cached snapshots stay until 'kipoi store gc'."))
    p.add_argument("name", help="configured source name")
    return p


def main(argv):
    args = parser().parse_args(argv)
    configmod.remove_source(args.name)
    cli.note("removed source '%s' from %s" % (args.name, paths.config_path()))
    return 0
