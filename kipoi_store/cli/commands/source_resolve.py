"""kipoi source resolve: specs in, one absolute model directory (or JSON object) out per spec."""

from kipoi_store.cli import boundary
from kipoi_store.cli.commands import json_text
from kipoi_store.cli.commands.specs import add_spec_options, run_specs

SUMMARY = "Resolve model specs to verified local directories in the store"


def parser():
    p = boundary.ArgumentParser(prog="kipoi source resolve", summary=SUMMARY, epilog=(
        "Specs: SOURCE:PATH[@REF], SOURCE::PATH, PATH (source 'kipoi'), "
        "github-permalink:USER/REPO/tree/COMMIT/PATH, https://github.com/USER/REPO/tree/COMMIT/PATH. "
        "Exit status: 0 all resolved, 1 some failed (not found, network), 2 bad input (spec, config)."))
    add_spec_options(p)
    p.add_argument("--files", action="store_true",
                   help="also fetch the remote files (weights, data) the model names into the store")
    add_examples_option(p)
    return p


def add_examples_option(p, implies=" (implies --files)"):
    p.add_argument("--examples", action="store_true", help=(
        "also lay out the dataloader's example files and the model's test expectations%s, so "
        "`kipoi test` and predict_example run offline" % implies))


def output(run, text, resolution, files):
    """The line printed for one resolved spec: its directory, or a JSON object with --json."""
    if not run.args.json:
        return resolution.location
    record = dict(resolution.as_json(), spec=text, path=resolution.model)
    if files is not None:
        record["files"] = files
    return json_text(record)


def resolve_one(run, text, files=False, examples=False, progress=False):
    resolution, fetched = run.session.resolve(text, files=files, examples=examples, progress=progress)
    return output(run, text, resolution, fetched)


def main(argv):
    return run_specs(parser(), argv, lambda run, text: resolve_one(run, text, files=run.args.files,
                                                                   examples=run.args.examples))
