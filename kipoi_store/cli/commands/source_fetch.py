"""kipoi source fetch: ask the remotes what their refs point to now, and remember the answers."""

import sys

from kipoi_store.cli import boundary
from kipoi_store.cli.commands import json_line
from kipoi_store.config import load as configmod
from kipoi_store import paths
from kipoi_store.errors import EXIT_FAILED, EXIT_OK, KipoiError, OfflineError, UsageError
from kipoi_store.store.core.store import Store

SUMMARY = "Refresh the refs of git sources (and the tags of registry sources) from their remotes"
GIT_TYPES = ("git", "git-lfs")
FETCHED = GIT_TYPES + ("oci",)


def parser():
    p = boundary.ArgumentParser(prog="kipoi source fetch", summary=SUMMARY, description=(
        SUMMARY + ". Prints NAME<TAB>COMMIT for each source (a registry source: NAME<TAB>sha256:DIGEST, "
        "what its tag names). Without NAME: every git and registry source."))
    p.add_argument("names", nargs="*", metavar="NAME", help="configured git or git-lfs sources")
    p.add_argument("--json", action="store_true",
                   help='one JSON object per source: {"source", "commit"}, or {"source", "error", '
                        '"exit"} (with "commit" too when a cached commit remains)')
    return p


def main(argv):
    args = parser().parse_args(argv)
    if paths.offline():
        raise OfflineError("kipoi source fetch needs the network, but KIPOI_OFFLINE is set")
    config = configmod.load()
    for message in config.warnings:
        boundary.warn(message)
    if args.names:
        sources = [config.source(name) for name in args.names]
        for s in sources:
            if s.type not in FETCHED:
                raise UsageError("source '%s' has type %s: only git, git-lfs and oci sources have refs "
                                 "to fetch" % (s.name, s.type))
    else:
        sources = [s for s in config.sources.values() if s.type in FETCHED]
    from kipoi_store.git.cli import scrub
    from kipoi_store.net import limits
    from kipoi_store.sources.git import GitSource

    limits.configure(config.connect_timeout, config.read_timeout)
    store = Store.default()
    worst = EXIT_OK
    for source in sources:
        held = []  # the fallback to a cached commit is reported as this source's error instead
        try:
            if source.type == "oci":
                commit, failed = _ask_tag(source, store), None
            else:
                git = GitSource(source, store, refresh=True, warn=held.append,
                                rewrites=config.url_rewrites)
                commit = git.commit_for(None)
                failed = git.failed
        except KipoiError as exc:
            commit, failed, code = None, str(exc), exc.exit_code
        else:
            code = EXIT_FAILED
            for message in held if failed is None else ():
                boundary.warn(message)
        if failed is None:
            if args.json:
                json_line({"source": source.name,
                           "digest" if source.type == "oci" else "commit": commit})
            else:
                sys.stdout.write("%s\t%s\n" % (source.name, commit))
            continue
        # The remote could not be asked: exit 1 and say which, even when a cached answer remains.
        message = failed if failed.startswith("source '") else "source '%s': %s" % (source.name, failed)
        if commit is not None:
            message += " (its cached commit %s stays)" % commit[:12]
        message = scrub(message)
        boundary.error_line(message)
        worst = max(worst, code)
        if args.json:
            row = {"source": source.name, "error": message, "exit": code}
            if commit is not None:
                row["commit"] = commit
            json_line(row)
    return worst


def _ask_tag(source, store):
    """A registry source: ask what its tag names now (remembered for resolves); sha256:DIGEST."""
    from kipoi_store.sources.oci import RegistrySource

    registry = RegistrySource(source, store, refresh=True)
    return "sha256:" + registry.registry.ask_tag(registry.default_tag)
