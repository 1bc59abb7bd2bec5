"""kipoi source resolve: specs in, one absolute model directory (or JSON object) out per spec."""

import json

from kipoi_store.cli import boundary
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
    return p


def output(run, text, resolution, files):
    """The line printed for one resolved spec: its directory, or a JSON object with --json."""
    if not run.args.json:
        return resolution.location
    record = dict(resolution.as_json(), spec=text, path=resolution.model)
    if files is not None:
        record["files"] = files
    return json.dumps(record, sort_keys=True)


def resolve_one(run, text, files=False, progress=False):
    resolution = run.resolver.resolve(text)
    fetched = None
    if files:
        from kipoi_store.models.files import fetch_model_files

        fetched = fetch_model_files(resolution, run.store, run.config, offline=run.offline,
                                    progress=progress, mirrors=run.resolver.mirrors)
    return output(run, text, resolution, fetched)


def main(argv):
    return run_specs(parser(), argv, lambda run, text: resolve_one(run, text, files=run.args.files))
