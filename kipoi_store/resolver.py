"""Spec -> config -> source -> store: the one pipeline every resolving command shares."""

import os

from kipoi_store import paths
from kipoi_store import spec as specmod
from kipoi_store.errors import KipoiError, UsageError
from kipoi_store.store.user.records import user_records
from kipoi_store.store.user.statcache import StatCache
from kipoi_store.store.core.store import Store


def site_store_paths(config, store_root):
    """The site stores, in the order they are searched: KIPOI_SITE_STORES, then the config's
    site_stores (the user's, then the system config's); each once, never the user's own store."""
    found = []
    for path in paths.site_stores_env() + list(getattr(config, "site_stores", ())):
        path = os.path.abspath(path)
        if path != str(store_root) and path not in found:
            found.append(path)
    return found


def open_store(config, warn=None):
    """The user's store (KIPOI_STORE, else $KIPOI_HOME/store), with the site stores behind it:
    models complete there are used in place, and their objects are taken before the network's.
    Its download locks as KIPOI_LOCKS / KIPOI_LOCK_TIMEOUT, else the config, say."""
    from kipoi_store.store.core.locks import DEFAULT_TIMEOUT, Locks

    store = Store.default()
    if not os.path.isdir(store.tmp_dir):
        from kipoi_store.store.core.scan import is_store

        # A new store is made in nothing or an empty folder, never in one holding other things
        # (KIPOI_STORE=$HOME, a typo naming /tmp): UsageError naming it. A store has tmp/ once written.
        is_store(store.root, must_exist=False)
    store.sites = tuple(Store(p) for p in usable_sites(site_store_paths(config, store.root), warn))
    from kipoi_store.config.schema import env_seconds

    enabled = paths.locks_env()
    timeout = env_seconds("KIPOI_LOCK_TIMEOUT", allow_zero=True)
    enabled = _first(enabled, getattr(config, "locks", None), True)
    timeout = _first(timeout, getattr(config, "lock_timeout", None), DEFAULT_TIMEOUT)
    store.locks = Locks(store.root / "locks", enabled=enabled, timeout=timeout, warn=warn)
    return store


_WARNED_SITES = set()  # a site store that is not one is said once per process, not once per session


def usable_sites(site_paths, warn):
    """The `site_paths` that can be site stores; a warning naming each that cannot (a typo in
    KIPOI_SITE_STORES or site_stores would otherwise go unnoticed)."""
    if not site_paths:
        return []
    from kipoi_store.store.core.scan import site_problem

    usable = []
    for path in site_paths:
        problem = site_problem(path)
        if problem is None:
            usable.append(path)
        elif warn is not None and path not in _WARNED_SITES:
            _WARNED_SITES.add(path)
            warn("site store %s is not used: %s (check KIPOI_SITE_STORES and site_stores in the "
                 "config)" % (path, problem))
    return usable


def _first(*values):
    return next(v for v in values if v is not None)


class Resolver:
    """Resolves many specs against one config and one store, reusing open sources between them."""

    def __init__(self, config, store, offline=False, refresh=False, warn=None):
        self.config = config
        self.store = store
        self.offline = offline
        self.refresh = refresh
        self._warn = warn or (lambda message: None)
        self._warned = set()
        self.statcache = StatCache(paths.user_cache() / "stat", warn=self.warn)  # per user, never in a store
        self.records = user_records()
        self._backends = {}
        self._batch = ()
        self._mirrors = None
        from kipoi_store.net import limits

        limits.configure(config.connect_timeout, config.read_timeout)

    @property
    def mirrors(self):
        """The run's store mirrors (dist/mirrors.py), opened on first use: a warm resolve never
        asks. One per run, so a mirror dropped for failing is not asked again."""
        if self._mirrors is None:
            from kipoi_store.dist.mirrors import Mirrors

            self._mirrors = Mirrors.from_config(self.config, self.store, offline=self.offline,
                                                warn=self.warn)
        return self._mirrors

    def warn(self, message):
        """Each warning once per run: a batch of a thousand specs says a thing once, not 1000 times."""
        if message not in self._warned:
            self._warned.add(message)
            self._warn(message)

    def backend(self, source_name):
        backend = self._backends.get(source_name)
        if backend is None:
            backend = self._backends[source_name] = self._open(self.config.source(source_name))
        return backend

    def _open(self, source):
        if source.type == "local":
            from kipoi_store.sources.local import LocalSource

            return LocalSource(source, self.store, self.statcache, self.records, warn=self.warn)
        if source.type in ("git", "git-lfs"):
            from kipoi_store.sources.git import GitSource

            return GitSource(source, self.store, offline=self.offline, refresh=self.refresh,
                             warn=self.warn, rewrites=self.config.url_rewrites,
                             mirrors=lambda: self.mirrors, records=self.records,
                             batch=lambda: self.batch_for(source.name))
        if source.type == "github-permalink":
            from kipoi_store.sources.github import PermalinkSource

            return PermalinkSource(source, self.store, offline=self.offline, warn=self.warn,
                                   rewrites=self.config.url_rewrites, mirrors=lambda: self.mirrors)
        if source.type == "oci":
            from kipoi_store.sources.oci import RegistrySource

            return RegistrySource(source, self.store, offline=self.offline, warn=self.warn,
                                  records=self.records, refresh=self.refresh)
        raise UsageError("source '%s' has type '%s', which cannot resolve models"
                         % (source.name, source.type))

    def resolve(self, text):
        spec = specmod.parse(text)
        return self.resolve_spec(spec)

    def expect(self, texts):
        """A batch of specs is about to be resolved one by one. A source that can prepare for many
        models at once (sources/git.py: one fetch for all, not one per model) asks for its share
        on its first cold model (batch_for): a warm batch never even parses them twice."""
        self._batch = list(texts)

    def batch_for(self, source_name):
        """[(model path, ref)] of the batch's specs naming `source_name`; a bad spec is left out
        here, for its own turn to report."""
        found = []
        for text in self._batch:
            try:
                spec = specmod.parse(text)
            except KipoiError:
                continue
            if spec.repo is None and spec.source == source_name:
                found.append((spec.path, spec.ref))
        return found

    def resolve_spec(self, spec):
        if specmod.is_registry(spec):
            from kipoi_store.sources.oci import resolve_registry_spec

            return resolve_registry_spec(spec, self.store, offline=self.offline, warn=self.warn,
                                         registries=self._backends.setdefault(("oci",), {}))
        if spec.repo is not None:
            backend = self.backend(spec.source)
            if not hasattr(backend, "resolve_permalink"):
                raise UsageError("source '%s' is configured with type %s, so it cannot resolve the "
                                 "permalink '%s' (it needs type github-permalink)"
                                 % (spec.source, self.config.source(spec.source).type, specmod.format(spec)))
            return backend.resolve_permalink(spec)
        return self.backend(spec.source).resolve(spec.path, spec.ref)

    def close(self):
        self.statcache.close()
