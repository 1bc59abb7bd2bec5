"""kipoi source pull: resolve specs and also fetch every remote file their models name.

Like `kipoi source resolve --files`, with a progress line on stderr when it is a terminal. Prints
one absolute model directory (or, with --json, one object with the published `files`) per spec.
"""

import sys

from kipoi_store.cli import boundary
from kipoi_store.cli.commands.source_resolve import add_examples_option, resolve_one
from kipoi_store.cli.commands.specs import add_spec_options, run_specs

SUMMARY = "Resolve model specs and fetch the weights and data files their models name"


def parser():
    p = boundary.ArgumentParser(prog="kipoi source pull", summary=SUMMARY, epilog=(
        "Files named as {url, md5} in model.yaml (group models: the rendered model-template.yaml) "
        "and in the default dataloader's dataloader.yaml are downloaded once per store, verified, "
        "and laid out where kipoi looks for them (downloaded/model_files/..., "
        "downloaded/dataloader_files/...). URLs are tried through the config's url_rewrites "
        "first, the original last. Exit status: 0 all done, 1 some failed (not found, network, "
        "wrong content, missing offline), 2 bad input (spec, config)."))
    add_spec_options(p)
    add_examples_option(p, implies="")  # pull fetches the files anyway
    return p


def main(argv):
    progress = sys.stderr.isatty()
    return run_specs(parser(), argv, lambda run, text: resolve_one(run, text, files=True,
                                                                   examples=run.args.examples,
                                                                   progress=progress))
