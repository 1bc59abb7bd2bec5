"""Pushing store snapshots to a registry: blobs first, then model manifests, md5 artifacts, and last
the snapshot index and the tags that name it.

    push = Push(store, repository)                 # repository: client.Repository(ref, push=True)
    push.add_model(key, "rbp_eclip/UPF1", directory="rbp_eclip/UPF1", commit=commit,
                   source="kipoi", source_url=url, ref="v0.4", remote={path: (url, md5)})
    pushed = push.run(progress=True)               # [Pushed(name, key, digest, ...)], in order added

Every object is sent as it is in the store (the layer digest is the object's sha256) and re-hashed
on the way by the client, so a damaged store never spreads. A blob the registry has is not sent
again (HEAD); one we pushed to or pulled from another repository of the same registry is mounted
from there (store/user/blobsightings.py), else uploaded. Blobs go several at a time (WORKERS),
then the manifests likewise. Manifests are deterministic (artifact.py), so pushing a snapshot
twice changes nothing; the index of a snapshot key is merged with what the
registry holds under that tag (another push may have added models of the same snapshot), and read
back after writing: a concurrent push that overwrote it with fewer models is merged again. Nothing
here prints.
"""

import os
import random
import threading
import time
from concurrent.futures import ThreadPoolExecutor

from kipoi_store.dist.oci import artifact
from kipoi_store.errors import IntegrityError, NetworkError, NotFoundError
from kipoi_store.store.core import hashing

WORKERS = 4
BLOB_RETRIES = 3  # how often a manifest is put again after its blobs are sent again
INDEX_ROUNDS = 5  # how often a snapshot index is merged again when a concurrent push overwrote it


class Pushed:
    """One model pushed: its manifest digest (hex), its snapshot key, the ref it moves."""

    def __init__(self, name, key, digest, ref=None):
        self.name, self.key, self.digest, self.ref = name, key, digest, ref


class Counts:
    def __init__(self):
        self.uploaded = self.exists = self.mounted = 0
        self.bytes = 0


class Push:
    def __init__(self, store, repository, workers=WORKERS, sightings=None):
        self.store = store
        self.repository = repository
        self.workers = workers
        self.sightings = sightings  # store/user/blobsightings.py's (the user's, when None)
        self.mounts = {}     # digest -> another repository of the registry that holds it
        self.models = []     # (ModelArtifact, ref)
        self.paths = {}      # digest -> object file in the store holding it
        self.md5 = {}        # md5 -> (sha256, size) of remote files
        self.sizes = {}      # digest -> size of the objects run() sends
        self.small = {}      # digest -> bytes of the config blobs run() sends
        self.counts = Counts()
        self._lock = threading.Lock()

    def add_model(self, key, name, directory=None, group=None, commit=None, source=None,
                  source_url=None, ref=None, remote=None, parts=("#files", "#examples")):
        """Take model `name` of snapshot `key` as the store holds it, with its published parts
        (`<name>#files`, `#examples`); `remote` {path: (url, md5)} says where each remote file
        came from (md5 computed from the object when not given)."""
        holder = self.store.use(key, name)
        manifest = holder.manifest(key, name) if holder is not None else None
        if manifest is None:
            raise NotFoundError("cannot push %s at %s: not published in the store %s"
                                % (name, key, self.store.root))
        remote = remote or {}
        files, links = [], {}
        for part, suffix in [("", "")] + [(p, s) for p, s in artifact.PARTS.items() if s in parts]:
            doc = manifest if not part else self._manifest(key, name + suffix)
            if doc is None:
                continue
            executable = set(doc.get("executable") or ())
            for path, value in sorted(doc["files"].items()):
                if value.startswith("->"):
                    links[path] = value[2:]
                    continue
                size = self._take(value, name, key)
                url, md5 = remote.get(path, (None, None))
                if part and md5 is None:
                    md5 = hashing.md5_file(self.paths[value])
                if md5:
                    self.md5[md5] = (value, size)
                files.append(artifact.ModelFile(path, value, size, path in executable, part, url, md5))
        art = artifact.ModelArtifact(name, key, files, links, commit=commit, source=source,
                                     source_url=source_url, directory=directory, group=group)
        self.models.append((art, ref))
        return art

    def _manifest(self, key, name):
        holder = self.store.use(key, name)
        return holder.manifest(key, name) if holder is not None else None

    def _take(self, digest, name, key):
        if digest not in self.paths:
            for store in (self.store, *self.store.sites):
                path = store.object_str(digest)
                if os.path.isfile(path):
                    self.paths[digest] = path
                    break
            else:
                raise IntegrityError("cannot push %s at %s: object %s is missing from the store %s "
                                     "(run 'kipoi store verify')" % (name, key, digest, self.store.root))
        return os.stat(self.paths[digest]).st_size

    # -- sending ------------------------------------------------------------------------------

    def run(self, progress=False):
        """Push everything added; returns [Pushed] in the order the models were added.
        `progress`: draw the blobs sent on stderr (the command passes whether it is a terminal)."""
        from kipoi_store.net.progress import Progress

        blobs = {}
        manifests = []
        for art, ref in self.models:
            data, config = artifact.model_manifest(art)
            config_digest = hashing.sha256_bytes(config)
            manifests.append((art, ref, data, [f.digest for f in art.files] + [config_digest]))
            blobs[config_digest] = config
        md5s = []
        for md5, (digest, size) in sorted(self.md5.items()):
            data, config = artifact.md5_manifest(md5, digest, size)
            md5s.append((md5, data, [digest, hashing.sha256_bytes(config)]))
            blobs[hashing.sha256_bytes(config)] = config
        self.sizes = {f.digest: f.size for art, _ in self.models for f in art.files}
        self.small = blobs
        self.mounts = self._known_elsewhere(list(self.sizes) + list(blobs))
        meter = Progress(sum(self.sizes.values()), len(self.sizes), progress, label="push", unit="files")
        try:
            self._send_blobs(meter)
        finally:
            meter.close()
        self._sightings().add(self.repository.registry, self.repository.name,
                              list(self.sizes) + list(blobs))
        # The model and md5 manifests several at a time (each names only blobs, all sent by
        # now); an index only once every manifest it lists is there.
        jobs = [(data, None, needs) for _, _, data, needs in manifests]
        jobs += [(data, artifact.md5_tag(md5), needs) for md5, data, needs in md5s]
        with ThreadPoolExecutor(max(1, min(self.workers, len(jobs) or 1)),
                                thread_name_prefix="push-manifest") as pool:
            digests = list(pool.map(lambda job: self._put(*job), jobs))
        pushed = [Pushed(art.name, art.key, digest, ref)
                  for (art, ref, _, _), digest in zip(manifests, digests)]
        by_key = {}  # key -> (commit, {name: (digest, size)}, [Pushed])
        for (art, _, data, _), p in zip(manifests, pushed):
            commit, models, members = by_key.setdefault(art.key, (art.commit, {}, []))
            models[art.name] = (p.digest, len(data))
            members.append(p)
        for key, (commit, models, members) in sorted(by_key.items()):
            self._index(key, commit, models)
            for tag in sorted({artifact.ref_tag(p.ref) for p in members if p.ref} - {None}):
                self._move(tag, key)
        return pushed

    def _sightings(self):
        if self.sightings is None:
            from kipoi_store.store.user.blobsightings import user_blob_sightings

            self.sightings = user_blob_sightings()
        return self.sightings

    def _known_elsewhere(self, digests):
        """{digest: repository} for blobs we pushed to or pulled from another repository of this
        registry: the registry can mount them from there (docker does the same)."""
        where = self._sightings().where(self.repository.registry, digests)
        name = self.repository.name
        return {d: next(r for r in repos if r != name) for d, repos in where.items()
                if any(r != name for r in repos)}

    def _send(self, digest):
        """push_blob of one blob of this push: "exists", "mounted" or "uploaded"."""
        mount = self.mounts.get(digest)
        if mount is not None:
            try:
                return self._push_blob(digest, mount)
            except NetworkError:
                # A repository we may not read (a token without pull on it is a 401): upload.
                self.mounts.pop(digest, None)
        return self._push_blob(digest, None)

    def _push_blob(self, digest, mount):
        if digest in self.small:
            data = self.small[digest]
            return self.repository.push_blob("sha256:" + digest, len(data), lambda: _BytesReader(data),
                                             mount_from=mount)
        return self.repository.push_blob("sha256:" + digest, self.sizes[digest],
                                         lambda: open(self.paths[digest], "rb"), mount_from=mount)

    def _send_blobs(self, meter):
        sizes, small = self.sizes, self.small

        def send(digest):
            outcome = self._send(digest)
            if digest in sizes:
                meter.add(sizes[digest])
                meter.file_done()
            return digest, outcome

        todo = sorted(sizes, key=lambda d: -sizes[d]) + sorted(small)
        with ThreadPoolExecutor(max(1, min(self.workers, len(todo) or 1)),
                                thread_name_prefix="push") as pool:
            for digest, outcome in pool.map(send, todo):
                self._count(digest, outcome)

    def _count(self, digest, outcome):
        with self._lock:  # a manifest put again re-sends its blobs from a manifest thread
            self._count_locked(digest, outcome)

    def _count_locked(self, digest, outcome):
        setattr(self.counts, outcome, getattr(self.counts, outcome) + 1)
        if outcome == "uploaded":
            self.counts.bytes += self.sizes.get(digest, len(self.small.get(digest, b"")))

    def _put(self, data, tag, needs=()):
        """Put manifest `data` (by digest, or under `tag`); its digest (hex). A registry that
        answers that a blob it names is unknown gets the blobs `needs` sent again, and the
        manifest once more: distribution 2.8 rewrites a blob's link file in place when another
        push sends the same blob, and a manifest checked at that moment reads it empty
        (DIGEST_INVALID, MANIFEST_BLOB_UNKNOWN)."""
        digest = hashing.sha256_bytes(data)
        ref = tag or "sha256:" + digest
        for attempt in range(BLOB_RETRIES + 1):
            try:
                got = self.repository.put_manifest(ref, data, _media_type(data))
                break
            except NetworkError as exc:
                if "BLOB_UNKNOWN" not in str(exc) or attempt == BLOB_RETRIES:
                    raise
            time.sleep(random.uniform(0.05, 0.25))
            for blob in needs:
                self._count(blob, self._send(blob))
        got = (got or "sha256:" + digest).split(":", 1)[-1]
        if got != digest:
            raise IntegrityError("registry %s names manifest %s as %s" % (self.repository.where, digest, got))
        return digest

    def _get_index(self, tag):
        try:
            data, media_type, _ = self.repository.get_manifest(tag, (artifact.INDEX_TYPE,))
        except NotFoundError:
            return None
        if not artifact.is_index(media_type, data):
            raise IntegrityError("registry %s: tag %s is not an image index" % (self.repository.where, tag))
        return artifact.read_index(data, "registry %s, tag %s" % (self.repository.where, tag))

    def _index(self, key, commit, models):
        """Merge `models` into the index tagged `key` (what the registry holds there stays)."""
        for _round in range(INDEX_ROUNDS):
            there = self._get_index(key)
            merged = dict(there.models) if there is not None else {}
            merged.update(models)
            if there is not None and merged == there.models:
                return
            data = artifact.snapshot_index(key, commit or (there.commit if there else None), merged)
            self._put(data, key)
            # Another push of the same snapshot may have read the index before our write and
            # written its own merge after it: read back twice, a moment apart, and merge again
            # until ours are all there (a concurrent push's own read-back sees our merge too).
            if all(self._still_there(key, models) for _check in range(2)):
                return
        raise IntegrityError("registry %s: the index of snapshot %s keeps changing under concurrent "
                             "pushes; push again" % (self.repository.where, key))

    def _still_there(self, key, models):
        time.sleep(random.uniform(0.05, 0.25))
        there = self._get_index(key)
        return there is not None and all(there.models.get(n) == v for n, v in models.items())

    def _move(self, tag, key):
        """Point `tag` (a branch or tag name) at the index of snapshot `key`."""
        data, _, _ = self.repository.get_manifest(key, (artifact.INDEX_TYPE,))
        self.repository.put_manifest(tag, data, artifact.INDEX_TYPE)


def _media_type(data):
    return artifact.INDEX_TYPE if artifact.is_index(None, data) else artifact.MANIFEST_TYPE


class _BytesReader:
    """A file object over bytes, as push_blob's open_fn hands one back."""

    def __init__(self, data):
        import io

        self.f = io.BytesIO(data)

    def read(self, n=-1):
        return self.f.read(n)

    def close(self):
        self.f.close()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()
