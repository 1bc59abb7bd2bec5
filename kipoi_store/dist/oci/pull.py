"""Pulling model artifacts from a registry into the store: all or nothing.

    art = find_model(repository, "v0.4", "rbp_eclip/UPF1")     # index at a tag (or digest) -> model
    pull_model(repository, art, store)                          # objects + manifests, published

Every layer is fetched into the store's tmp/ and verified against its digest and size by the
client while it streams; only once every layer of the model is there do they become objects, and
the model is published through the store's own publish (Store.publish: the tree staged, renamed
into place, the manifest last; the model's `#files`/`#examples` parts first, the model itself
last). A manifest that is hostile (artifact.py refuses it before any byte is fetched), a layer
that does not match, a registry that fails midway: nothing of that model is left in the store.
Nothing here prints.
"""

from concurrent.futures import ThreadPoolExecutor

from kipoi_store.dist.oci import artifact
from kipoi_store.errors import IntegrityError, NotFoundError
from kipoi_store.store.core.staging import unlink_quiet

WORKERS = 4
ACCEPT = (artifact.MANIFEST_TYPE, artifact.INDEX_TYPE)


class Found:
    """A model manifest found in a registry: its ModelArtifact, manifest digest (hex), and the
    digest of the index it was listed in (None when named directly)."""

    def __init__(self, art, digest, index=None):
        self.art, self.digest, self.index = art, digest, index


def where(repository, ref):
    return "registry %s, %s" % (getattr(repository, "where", repository), ref)


def get(repository, ref, accept=ACCEPT):
    """(data, media type, digest hex) of manifest `ref` (a tag or `sha256:<hex>`); NotFoundError
    when the registry has none; a digest is checked against the bytes."""
    from kipoi_store.store.core import hashing

    data, media_type, _ = repository.get_manifest(ref, accept)  # NotFoundError when not there
    actual = hashing.sha256_bytes(data)
    if ref.startswith("sha256:") and ref != "sha256:" + actual:
        raise IntegrityError("%s: the manifest's bytes have digest sha256:%s" % (where(repository, ref), actual))
    return data, media_type, actual


def read_index(repository, ref):
    """The artifact.Index at `ref` and its digest (hex)."""
    data, media_type, digest = get(repository, ref)
    if not artifact.is_index(media_type, data):
        raise NotFoundError("%s: is one model's manifest, not a snapshot index" % where(repository, ref))
    return artifact.read_index(data, where(repository, ref)), digest


def find_model(repository, ref, name=None, seen=None):
    """Found for model `name` at `ref`: a tag or digest naming an index (then `name` is needed)
    or a model's manifest (then `name`, when given, must be its model). `seen`: a dict that keeps
    what `ref` named for the rest of a run (a batch of a source's models reads its index once)."""
    if seen is not None and ref in seen:
        data, media_type, digest = seen[ref]
    else:
        data, media_type, digest = get(repository, ref)
        if seen is not None:
            seen[ref] = data, media_type, digest
    index = None
    if artifact.is_index(media_type, data):
        listed = artifact.read_index(data, where(repository, ref))
        if name is None:
            raise NotFoundError("%s is a snapshot of %d models: name one (.../PATH)"
                                % (where(repository, ref), len(listed.models)))
        if name not in listed.models:
            raise NotFoundError(not_listed(repository, ref, name, listed))
        index = digest
        model_digest, _ = listed.models[name]
        data, _, digest = get(repository, "sha256:" + model_digest, (artifact.MANIFEST_TYPE,))
        ref = "sha256:" + digest
    art = artifact.read_model_manifest(data, where(repository, ref), digest=digest, name=name)
    return Found(art, digest, index)


def not_listed(repository, ref, name, listed):
    import difflib

    near = difflib.get_close_matches(name, list(listed.models), n=3)
    hint = "; did you mean %s?" % ", ".join(near) if near else ""
    return "model %s is not in %s (%d models there)%s" % (name, where(repository, ref),
                                                          len(listed.models), hint)


def pull_model(repository, art, store, workers=WORKERS, cancelled=None):
    """Publish model `art` (and its parts) in `store` from `repository`; the store's root of the
    snapshot. What the store (or a site store) already holds is not fetched."""
    sizes = art.sizes()
    missing = sorted(d for d in sizes if not store.has_object(d))
    fetched = {}
    try:
        if missing:
            def fetch(digest):
                tmp = store.new_tmp_path("oci")
                fetched[digest] = tmp
                repository.fetch_blob("sha256:" + digest, sizes[digest], str(tmp))
                return digest

            with ThreadPoolExecutor(max(1, min(workers, len(missing))), thread_name_prefix="pull") as pool:
                list(pool.map(fetch, missing))
        # Every layer is here and verified: only now do they become objects.
        for digest in missing:
            store.commit_verified(fetched.pop(digest), digest)
    finally:
        for tmp in fetched.values():
            unlink_quiet(tmp)
    manifests = art.store_manifests()
    for name in sorted(manifests, key=lambda n: (n == art.name, n)):
        store.publish(art.key, name, manifests[name], info=art.record if name == art.name else None)
    seen_in(repository, sizes)
    return store.snapshot_root(art.key)


def seen_in(repository, digests):
    """Remember that blobs `digests` are in `repository` (a push to another repository of that
    registry mounts them from there: push.py)."""
    from kipoi_store.store.user.blobsightings import user_blob_sightings

    user_blob_sightings().add(repository.registry, repository.name, list(digests))
