"""kipoi source set-url: point a model source at another URL (or folder)."""

from kipoi_store.cli import boundary
from kipoi_store.config import edit as configedit
from kipoi_store.config import locations
from kipoi_store.cli.commands import load_config

SUMMARY = "Change the URL of a model source"


def parser():
    p = boundary.ArgumentParser(prog="kipoi source set-url", summary=SUMMARY, epilog=(
        "Sets remote_url for git and git-lfs sources (a git URL or a repository folder), "
        "local_path for local sources (a folder), base_url for github-permalink sources; "
        "folders are made absolute. The same checks as 'kipoi source add'."))
    p.add_argument("name", help="configured source name")
    p.add_argument("url", help="new git URL, folder or base URL")
    return p


def main(argv):
    args = parser().parse_args(argv)
    source = load_config().source(args.name)
    where = locations.locate(args.url, source.type, args.name)
    for message in where.warnings:
        boundary.warn(message)
    configedit.set_url(args.name, where.value)
    boundary.note("source '%s': %s = %s" % (args.name, where.key, where.value))
    return 0
