"""kipoi source remove: remove a model source from the config."""

from kipoi_store.cli import boundary
from kipoi_store.config import edit as configedit
from kipoi_store import paths

SUMMARY = "Remove a model source from the config"


def parser():
    p = boundary.ArgumentParser(prog="kipoi source remove", summary=SUMMARY, epilog=(
        "Only the config entry goes; cached snapshots stay until 'kipoi store gc'."))
    p.add_argument("name", help="configured source name")
    return p


def main(argv):
    args = parser().parse_args(argv)
    configedit.remove_source(args.name)
    boundary.note("removed source '%s' from %s" % (args.name, paths.config_path()))
    return 0
