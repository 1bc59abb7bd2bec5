"""kipoi source pin: print, for each spec, the spec that names exactly the same bytes forever.

    $ kipoi source pin kipoi:rbp_eclip/UPF1@v0.4 https://github.com/kipoi/models/blob/7d3ea78/Basset/x.py
    kipoi:rbp_eclip/UPF1@7d3ea78c2b8e...                       (SOURCE:PATH@<full commit>)
    github-permalink:kipoi/models/tree/7d3ea78c2b8e.../Basset  (permalinks: the full commit, the model dir)

Pinning resolves the spec first (as `kipoi source resolve` does), so the model is in the store and
the printed spec resolves again offline, to the same directory. A `local` source has no commits:
pinning one is refused with exit status 2, as `local:model@ref` is (it asks for a version of what
has no versions; no retry can make it work), without materialising anything.
"""

from kipoi_store.cli import boundary
from kipoi_store import spec as specmod
from kipoi_store.errors import UsageError
from kipoi_store.cli.commands import json_text
from kipoi_store.cli.commands.specs import add_spec_options, run_specs

SUMMARY = "Print the commit-pinned form of model specs"


def parser():
    p = boundary.ArgumentParser(prog="kipoi source pin", summary=SUMMARY, epilog=(
        "Each spec is resolved (fetched into the store if need be); its pinned form is printed, one "
        "per line: SOURCE:PATH@<full commit> for git sources, the permalink at its full commit (a "
        "tree/ link to the model directory) for permalinks. Local sources cannot be pinned. "
        "Exit status: 0 all pinned, 1 some failed (not found, network), 2 bad input (spec, config, "
        "a local source)."))
    add_spec_options(p)
    return p


def pin(resolver, config, text):
    """The pinned form of spec `text` (resolving it); UsageError for what cannot be pinned."""
    spec = specmod.parse(text)
    if spec.repo is None:
        source = config.source(spec.source)
        if source.type == "local":
            raise UsageError("cannot pin %r: source '%s' is a local folder, which has no commits "
                             "to pin to" % (text, source.name))
    resolution = resolver.resolve_spec(spec)
    if resolution.pinned is None:
        raise UsageError("cannot pin %r: source '%s' gives no commit to pin to"
                         % (text, resolution.source))
    return resolution.pinned


def output(run, text):
    pinned = pin(run.resolver, run.config, text)
    if not run.args.json:
        return pinned
    return json_text({"spec": text, "pinned": pinned})


def main(argv):
    return run_specs(parser(), argv, output)
