"""The Python API: what `kipoi source resolve` does, for notebooks and workflow rules.

    import kipoi_store
    r = kipoi_store.resolve("kipoi:rbp_eclip/UPF1@v0.4", files=True)
    r.directory, r.kipoi_path, r.commit, r.pinned     # strings (None where there is nothing)
    results = kipoi_store.resolve_many(["lab:A", "lab:B@v1"], errors="return")

Errors are the typed exceptions of kipoi_store.errors (each carries the exit code the command
line gives it); nothing is printed: warnings (a config entry that was moved, a cached commit
used because the network failed) are collected on each result.
"""

from kipoi_store import paths
from kipoi_store.errors import KipoiError
from kipoi_store.frozen import Frozen, fresh


class Result(Frozen):
    """One resolved spec (immutable). Paths are absolute strings: kipoi 0.8.6 wants `str`."""

    __slots__ = (
        "spec",        # the spec as given
        "source",      # configured source name
        "model",       # the model name, normalised
        "directory",   # the model directory in the store (group models: the group directory)
        "kipoi_path",  # what to hand to kipoi: `kipoi.get_model(r.kipoi_path, source="dir")`
        "ref",         # the ref asked for or configured, if any
        "commit",      # the full commit (None for local sources)
        "key",         # the snapshot key in the store
        "group",       # the group directory name of a group model, else None
        "pinned",      # a spec naming exactly these bytes again (None for local sources)
        "files",       # absolute paths of the remote files laid out (files=True), else ()
        "warnings",    # what the command line would have said on stderr
    )
    DEFAULTS = {"files": (), "warnings": fresh(tuple)}

    def as_dict(self):
        return {name: getattr(self, name) for name in self.__slots__}


class Session:
    """One config, one store and one resolver shared by many specs (the command line's run too).

    `warn(message)` receives every warning; the API collects them, the commands print them."""

    def __init__(self, offline=False, refresh=False, warn=None):
        from kipoi_store.config.cache import load_cached
        from kipoi_store.resolver import Resolver, open_store

        self.offline = offline or paths.offline()
        self.warn = warn or (lambda message: None)
        self.config = load_cached()  # per user: never from the store
        for message in self.config.warnings:
            self.warn(message)
        self.store = open_store(self.config, warn=self.warn)  # with its site stores and locks
        self.resolver = Resolver(self.config, self.store, offline=self.offline, refresh=refresh,
                                 warn=self.warn)

    def resolve(self, text, files=False, examples=False, progress=False):
        """(Resolution, laid-out file paths or None) for spec `text`. `examples` implies `files`:
        `kipoi test` needs the weights as much as the example inputs."""
        resolution = self.resolver.resolve(text)
        fetched = None
        if files or examples:
            from kipoi_store.models.files import EXAMPLES_SUFFIX, FILES_SUFFIX, fetch_model_files
            from kipoi_store.store.tiers.adopt import adopt_for

            # Files are laid out beside the model: one a site store holds without them is built
            # in the user's store first (its objects from the site), the files fetched there.
            location = adopt_for(self.store, resolution.key, resolution.model, resolution.location,
                                 [FILES_SUFFIX] + ([EXAMPLES_SUFFIX] if examples else []))
            resolution = resolution.replace(location=location)
            fetched = fetch_model_files(resolution, self.store, self.config, offline=self.offline,
                                        progress=progress, examples=examples,
                                        mirrors=self.resolver.mirrors)
        return resolution, fetched

    def close(self):
        self.resolver.close()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()


def _result(text, resolution, fetched, warnings):
    return Result(spec=text, source=resolution.source, model=resolution.model,
                  directory=resolution.location, kipoi_path=resolution.kipoi_path, ref=resolution.ref,
                  commit=resolution.commit, key=resolution.key, group=resolution.group,
                  pinned=resolution.pinned, files=tuple(fetched or ()), warnings=tuple(warnings))


def resolve_many(specs, files=False, examples=False, offline=False, refresh=False, errors="raise"):
    """A Result per spec, in order, sharing one config, store and resolver.

    `files`: also fetch the remote files (weights, data) the models name; `examples`: also the
    dataloader example files and test expectations (implies `files`); `offline`: never touch the
    network (as KIPOI_OFFLINE=1). `errors="raise"` raises the first spec's KipoiError;
    `errors="return"` puts it in that spec's place in the list instead."""
    if isinstance(specs, (str, bytes)):
        raise TypeError("resolve_many takes a list of specs, not one spec: use resolve(%r)" % (specs,))
    if errors not in ("raise", "return"):
        raise ValueError("errors must be 'raise' or 'return', not %r" % (errors,))
    specs = list(specs)
    for text in specs:
        if not isinstance(text, str):
            raise TypeError("a spec is a str, not %s: %r" % (type(text).__name__, text))
    said = []
    out = []
    with Session(offline=offline, refresh=refresh, warn=said.append) as session:
        common = list(said)  # the config's own warnings belong to every result
        session.resolver.expect(specs)
        for text in specs:
            del said[len(common):]
            try:
                resolution, fetched = session.resolve(text, files=files, examples=examples)
            except KipoiError as exc:
                if errors == "raise":
                    raise
                out.append(exc)
                continue
            out.append(_result(text, resolution, fetched, said))
    return out


def resolve(spec, files=False, examples=False, offline=False, refresh=False):
    """Resolve one spec (see resolve_many); raises the KipoiError subclass the CLI maps to its
    exit code: UsageError and its kinds (exit 2), NotFoundError, NetworkError, ... (exit 1)."""
    if not isinstance(spec, str):
        raise TypeError("a spec is a str, not %s: %r" % (type(spec).__name__, spec))
    return resolve_many([spec], files=files, examples=examples, offline=offline, refresh=refresh)[0]
