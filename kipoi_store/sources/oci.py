"""Models in an OCI registry: a configured `oci` source, and the config-free `oci://...` spec.

    source = RegistrySource(config.source("lab"), store)     # remote_url oci://REGISTRY/REPOSITORY
    source.list_models(None, "v1")                           # the names the index at tag v1 lists
    source.resolve("rbp_eclip/UPF1", "v1")                   # pulled into the store (dist/oci/pull.py)
    resolve_registry_spec(spec.parse("oci://ghcr.io/lab/models:v1/rbp_eclip/UPF1"), store)

A repository holds a whole source (`kipoi store push`): per snapshot key an index tagged with the
key, branch and tag names as tags too. A source's ref (`NAME:PATH@TAG`, else its `ref` setting, else
`latest`) is a tag; the index it names gives the snapshot key, and a model already published there
in the store is used as it is, else its artifact is pulled. `Resolution.pinned` names the same bytes
again: `NAME:PATH@<snapshot key>` (the key is a tag too, and a model published under it resolves
without the registry), and for a spec `oci://REGISTRY/REPOSITORY@sha256:<model manifest>/PATH`.

Snapshot keys: a registry cannot prove that what it calls commit C is commit C (git can: a commit
id is the hash of its content). So what a registry source or spec pulls is published under a key of
its own, `store_key(repository URL, the artifact's key)`, never under the commit the registry
claims: a registry can never change what `kipoi:PATH@C` resolves to. (A registry configured as a
store mirror is trusted like the source itself, as every mirror is, and serves the commit's key.)
Objects are shared all the same.

A digest never changes what it names: what a digest resolved to is recorded per user, so the
pinned spec resolves offline from then on. A tag is asked like a git source's ref: what it named
(the digest of its index) is recorded with the time, and asked again only once older than the
source's `refresh` (`auto_update: false`: never), or when `--refresh` or `kipoi source fetch` say
so; a spec's tag (no source, no setting) is asked each time. When the registry cannot be reached
(or --offline), the snapshot the tag last named is used, with a warning.
"""

import time

from kipoi_store import spec as specmod
from kipoi_store.errors import NetworkError, NotFoundError, OfflineError
from kipoi_store.sources import Resolution
from kipoi_store.store.core.store import KEY_PATTERN
from kipoi_store.store.user.records import user_records

DEFAULT_TAG = "latest"


def store_key(url, key):
    """The snapshot key of snapshot `key` as registry repository `url` serves it (64 hex)."""
    import hashlib

    return hashlib.sha256(b"kipoi-store oci\0%s\0%s" % (url.encode(), key.encode())).hexdigest()


class Registry:
    """One repository of one registry, as models are resolved from it."""

    def __init__(self, url, store, offline=False, warn=None, records=None, max_age=0.0,
                 refresh=False):
        self.url = url.rstrip("/")
        self.store = store
        self.offline = offline
        self.max_age = max_age  # seconds a tag's answer stays fresh (None: until refresh)
        self.refresh = refresh  # ask every tag again, however fresh
        self.warn = warn or (lambda message: None)
        self.records = records if records is not None else user_records()
        self._repository = None
        self._seen = {}  # ref -> what it named, for this run

    @property
    def repository(self):
        if self.offline:
            raise OfflineError("registry %s: not asked (offline)" % self.url)
        if self._repository is None:  # not on the warm path: a published model needs no registry
            from kipoi_store.dist.oci.client import Repository

            self._repository = Repository(self.url)
        return self._repository

    def _published(self, key, model):
        """(store, info) when model `model` is complete under `key` in the store chain, else None."""
        holder = self.store.use(key, model)
        manifest = holder.manifest(key, model) if holder is not None else None
        if manifest is None:
            return None
        from kipoi_store.sources.git import model_info

        return holder, model_info(manifest) or {"directory": model, "group": None}

    def _resolution(self, source, model, key, tag, info, holder, commit, pinned):
        return Resolution(source=source, model=model, key=key, commit=commit, ref=tag,
                          location=holder.snapshot_location(key, info["directory"]),
                          group=info["group"], pinned=pinned)

    def resolve(self, source, model, ref, pinned_of):
        """The Resolution of `model` at `ref` (a tag, or `sha256:<hex>`); `pinned_of(snapshot,
        digest)` gives its pinned spec text from the artifact's snapshot key (a tag) and its
        manifest's digest."""
        record_key = ("oci", self.url, ref, model)
        if KEY_PATTERN.fullmatch(ref):  # a snapshot key: published once, it never changes
            key = store_key(self.url, ref)
            done = self._published(key, model)
            if done is not None:
                return self._resolution(source, model, key, ref, done[1], done[0], None,
                                        pinned_of(ref, None))
        seen = self.records.get(record_key, ("key", "snapshot", "digest", "commit"))
        tagged = not ref.startswith("sha256:")
        asked = self._tag_answer(ref) if tagged else None
        if seen is not None and asked is not None and seen.get("index") == asked:
            # The tag still names what it named when this model was resolved: no registry.
            done = self._published(seen["key"], model)
            if done is not None:
                return self._resolution(source, model, seen["key"], ref, done[1], done[0],
                                        seen["commit"], pinned_of(seen["snapshot"], seen["digest"]))
        if seen is not None and ref.startswith("sha256:"):
            done = self._published(seen["key"], model)
            if done is not None:
                return self._resolution(source, model, seen["key"], ref, done[1], done[0],
                                        seen["commit"], pinned_of(seen["snapshot"], seen["digest"]))
        from kipoi_store.dist.oci import pull

        try:
            # A fresh answer for the tag: what it named, by digest (another model of it, new here).
            found = pull.find_model(self.repository, "sha256:" + asked if asked else ref, model,
                                    seen=self._seen)
        except (NetworkError, OfflineError) as exc:
            done = self._published(seen["key"], model) if seen is not None else None
            if done is None:
                raise
            self.warn("registry %s: %s; using snapshot %s, which tag %s named when last asked"
                      % (self.url, exc, seen["snapshot"], ref))
            return self._resolution(source, model, seen["key"], ref, done[1], done[0],
                                    seen["commit"], pinned_of(seen["snapshot"], seen["digest"]))
        art = found.art
        snapshot, art.key = art.key, store_key(self.url, art.key)
        done = self._published(art.key, model)
        if done is None:
            pull.pull_model(self.repository, art, self.store)
            done = self._published(art.key, model)
        named = found.index or found.digest
        if tagged and asked is None:
            self.records.put(("oci-tag", self.url, ref), {"digest": named, "at": time.time()})
        seen = {"key": art.key, "snapshot": snapshot, "digest": found.digest, "commit": art.commit,
                "index": named}
        self.records.put(record_key, seen)
        self.records.put(("oci", self.url, "sha256:" + found.digest, model), seen)
        return self._resolution(source, model, art.key, ref, done[1], done[0], art.commit,
                                pinned_of(snapshot, found.digest))

    def _tag_answer(self, tag):
        """The digest (hex) tag `tag` named when last asked, if that answer is still fresh."""
        if self.refresh or self.offline:
            return None  # offline: the fallback below says which snapshot it uses
        asked = self.records.get(("oci-tag", self.url, tag), ("digest", "at"))
        if asked is None or (self.max_age is not None and time.time() - asked["at"] >= self.max_age):
            return None
        return asked["digest"]

    def ask_tag(self, tag):
        """Ask the registry what `tag` names now (`kipoi source fetch`): its digest (hex), recorded."""
        from kipoi_store.dist.oci import pull

        _, _, digest = pull.get(self.repository, tag)
        self.records.put(("oci-tag", self.url, tag), {"digest": digest, "at": time.time()})
        return digest

    def models(self, tag):
        from kipoi_store.dist.oci import pull

        index, _ = pull.read_index(self.repository, tag)
        return sorted(index.models)


class RegistrySource:
    """A source of type `oci`: `remote_url` oci://REGISTRY/REPOSITORY, `ref` its default tag."""

    def __init__(self, config, store, offline=False, warn=None, records=None, refresh=False):
        self.name = config.name
        self.default_tag = config.ref or DEFAULT_TAG
        self.registry = Registry(config.remote_url, store, offline=offline, warn=warn, records=records,
                                 max_age=config.refresh, refresh=refresh)

    def resolve(self, model, ref=None):
        tag = ref or self.default_tag
        _check_ref(tag, "%s:%s@%s" % (self.name, model, tag))
        return self.registry.resolve(self.name, model, tag,
                                     lambda key, digest: "%s:%s@%s" % (self.name, model, key))

    def list_models(self, prefix=None, ref=None, unusable=None):
        names = self.registry.models(ref or self.default_tag)
        if prefix:
            names = [n for n in names if n == prefix or n.startswith(prefix.rstrip("/") + "/")]
        return names


def _check_ref(tag, text):
    from kipoi_store.dist.oci import artifact
    from kipoi_store.errors import SpecError

    if not artifact.is_tag(tag):
        raise SpecError("bad spec %r: %r is not a registry tag ([A-Za-z0-9_][A-Za-z0-9._-]*, at "
                        "most 128 characters)" % (text, tag))


def resolve_registry_spec(spec, store, offline=False, warn=None, registries=None):
    """Resolve an `oci://REGISTRY/REPOSITORY(:TAG|@sha256:HEX)/PATH` spec (spec.is_registry)."""
    url = "%s/%s" % (spec.host, spec.repo)
    registries = registries if registries is not None else {}
    registry = registries.get(url)
    if registry is None:
        registry = registries[url] = Registry(url, store, offline=offline, warn=warn)

    def pinned_of(key, digest):
        if digest is None:
            return None
        return specmod.format(spec.replace(ref="sha256:" + digest))

    if not spec.ref:
        raise NotFoundError("%s: names no tag or digest" % specmod.format(spec))
    return registry.resolve(specmod.OCI_SOURCE, spec.path, spec.ref, pinned_of)
