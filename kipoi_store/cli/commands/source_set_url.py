"""kipoi source set-url: point a model source at another URL (or folder)."""

import os

from kipoi_store.cli import boundary
from kipoi_store.config import edit as configedit
from kipoi_store import paths
from kipoi_store.cli.commands import load_config

SUMMARY = "Change the URL of a model source"


def parser():
    p = boundary.ArgumentParser(prog="kipoi source set-url", summary=SUMMARY, epilog=(
        "Sets remote_url for git and git-lfs sources, local_path (made absolute) for local "
        "sources, base_url for github-permalink sources."))
    p.add_argument("name", help="configured source name")
    p.add_argument("url", help="new git URL, folder or base URL")
    return p


def main(argv):
    args = parser().parse_args(argv)
    source = load_config().source(args.name)
    url = args.url
    if source.type == "local":
        url = os.path.abspath(paths.expand(url))
    configedit.set_url(args.name, url)
    boundary.note("source '%s': %s = %s" % (args.name, configedit.url_key(source.type), url))
    return 0
