"""`git` and `git-lfs` sources: a bare partial clone per remote, models published by commit.

Both types resolve LFS pointers by content: a `git` source whose repository holds LFS files still
gives real bytes, and a `git-lfs` source without LFS files is simply a git source. A `git` source
with `use_lfs: false` follows kipoi 0.8.6's rule (GitSource.clone and pull_source turn LFS on
whenever the checkout has a root `.gitattributes`): at a commit without one it keeps the pointer
files as they are and never asks an LFS server, and those snapshots have their own key
(pointer_key), as the same paths hold other bytes; at a commit with one it gives the real bytes.
"""

import re

from kipoi_store import paths
from kipoi_store.errors import (IntegrityError, KipoiError, NetworkError, OfflineError, UnsafePathError,
                                UsageError)
from kipoi_store.store.core import hashing
from kipoi_store.store.core.entries import FileEntry, LinkEntry, check_relpath
from kipoi_store.store.user.records import user_records
from kipoi_store.net.rewrites import candidate_urls
from kipoi_store.sources import Resolution, background, warn_once

LFS_POINTER_MAX = 1024
MODE_LINK = "120000"
MODE_EXEC = "100755"
MODE_DIR = "040000"
_PINNED = re.compile(r"[0-9a-f]{40}|[0-9a-f]{64}")
RECORD = ("directory", "group")  # what a warm resolve needs of a model: also its manifest's info


STRUCTURAL_SUFFIXES = (".yaml", ".yml", ".tsv", ".py")
MODEL_MARKERS = ("model.yaml", "model.yml", "model-template.yaml", "model-template.yml")


def likely_blobs(tree, model):
    """The blobs to fetch in one round trip before looking at the model: everything below its
    directory except nested models (the closure takes it all, weights and LFS pointers included),
    and what models/ reads around it: yaml, tsv, python files and symlinks directly in each
    directory above it (`..` references, group templates), and the commit's .lfsconfig. Only what
    the closure then finds elsewhere (symlink targets, referenced directories) costs one more.
    Only the directories concerned are looked at, never the whole commit: a batch asks this for
    every model of the zoo."""
    wanted = []
    parts = model.split("/")
    for i in range(len(parts)):
        directory = "/".join(parts[:i])
        if tree.mode(directory) != MODE_DIR:
            break
        for name in tree.listdir(directory):
            path = directory + "/" + name if directory else name
            mode = tree.mode(path)
            if mode == MODE_LINK or (mode != MODE_DIR and (
                    path == ".lfsconfig" or name.endswith(STRUCTURAL_SUFFIXES))):
                wanted.append(path)
    todo = [model] if model and tree.mode(model) == MODE_DIR else []
    while todo:
        directory = todo.pop()
        names = tree.listdir(directory)
        if directory != model and any(n in MODEL_MARKERS for n in names):
            continue  # a nested model: not this one's
        for name in names:
            path = directory + "/" + name
            (todo if tree.mode(path) == MODE_DIR else wanted).append(path)
    return wanted


def pointer_key(commit):
    """The snapshot key of `commit` with its LFS pointer files kept (a 64-hex key, as a sha256
    repository's commit: nothing else the store would mistake it for)."""
    return hashing.sha256_bytes(b"kipoi-store lfs pointers kept\0" + commit.encode())


def model_info(manifest):
    """The record a manifest's info gives ({"directory", "group"}), or None when it has none or
    not of that shape (an older store, or a file nobody should trust)."""
    info = manifest.get("info") if isinstance(manifest, dict) else None
    if not isinstance(info, dict) or not isinstance(info.get("group"), (str, type(None))):
        return None
    try:
        check_relpath(info.get("directory"))  # a location inside the snapshot, nowhere else
    except UnsafePathError:
        return None
    return {"directory": info["directory"], "group": info["group"]}


class GitSource:
    def __init__(self, config, store, offline=False, refresh=False, warn=None, rewrites=None,
                 remote_url=None, mirrors=None, records=None, batch=None):
        from kipoi_store.git.remote import GitRemote

        self.config = config
        self.name = config.name
        url = remote_url or config.remote_url
        if not url:
            raise UsageError("source '%s' (type %s) has no remote_url" % (self.name, config.type))
        # A git remote has one address: the first rewrite that applies (a mirror), else the URL.
        self.url = candidate_urls(url, rewrites)[0]
        self.store = store
        self.offline = offline
        self.refresh = refresh
        self.warn = warn_once(warn)
        # A clone's config and hooks are code git runs: in a group-shared store, whose files any
        # member may write, each user keeps the clone in their own cache dir instead.
        clone_root = paths.user_cache() if store.shared_mode() else store.root
        self.remote = GitRemote(clone_root, self.url, warn=self.warn,
                                site_roots=[site.root for site in store.sites])
        self.records = records if records is not None else user_records()
        self._blobs = None
        self._commits = {}  # ref -> commit, as resolved in this run
        self._trees = {}  # commit -> GitTree: its listing is parsed once per run
        self._attributes = {}  # commit -> whether it has a root .gitattributes (LFS on, for kipoi)
        self._mirrors = mirrors  # () -> net.mirrors.Mirrors or None: opened on the cold path only
        self._batch = batch  # () -> [(model, ref)] of the run's batch (Resolver.batch_for), or None
        self.failed = None  # why the remote failed in this run: it is not asked again

    # -- refs ---------------------------------------------------------------------------------
    def _uses_lfs(self):
        return self.config.type == "git-lfs" or bool(self.config.use_lfs)

    def _keeps_pointers(self, commit):
        """Whether LFS pointer files stay as they are at `commit`: kipoi's rule, per commit."""
        if self.config.type != "git" or self.config.use_lfs is not False:
            return False
        known = self._attributes.get(commit)
        if known is None:
            record = self.records.get(("git-root-attributes", commit))
            if isinstance(record, bool):
                known = record
            else:
                from kipoi_store.models.catalog import PRESENT

                known = self.tree(commit).kind(".gitattributes") in PRESENT
                self.records.put(("git-root-attributes", commit), known)
            self._attributes[commit] = known
        return not known

    def snapshot_key(self, commit):
        """Where a model of `commit` is published in the store."""
        return pointer_key(commit) if self._keeps_pointers(commit) else commit

    def commit_for(self, ref):
        ref = ref or self.config.ref
        commit = self._commits.get(ref)
        if commit is not None:
            return commit  # one ref, one commit for the whole run: a batch is one version
        commit = self.remote.resolve_ref(ref, self.config.refresh, refresh=self.refresh,
                                         offline=self.offline, warn=self.warn)
        if self.remote.failure is not None and self.failed is None:
            # The network failed and a cached commit stood in: the rest of the run stays offline.
            self.failed, self.offline = str(self.remote.failure), True
        self._commits[ref] = commit
        return commit

    def _prepare_batch(self, commit, ref):
        """On the run's first cold model: fetch in one round trip the blobs that the batch's other
        models at the same ref, those not yet in the store, most likely need, instead of one round
        trip per model. Only a hint: it raises nothing (each model meets its own errors), and with
        store mirrors configured it fetches nothing (they are asked first, model by model)."""
        batch, self._batch = self._batch, None
        if batch is None or self.offline:
            return
        try:
            key = self.snapshot_key(commit)
            cold = {m for m, r in batch() if r == ref and self.store.holder(key, m) is None}
            if len(cold) < 2 or self.mirrors:
                return
            tree = self.tree(commit)
            wanted = set()
            for model in cold:
                wanted.update(likely_blobs(tree, model))
            tree.prefetch(sorted(wanted))
        except (NetworkError, OfflineError) as exc:
            self._named(exc)  # the run's later specs hear this reason without asking again
        except KipoiError:
            pass  # each model meets it again, with its own name on it

    @property
    def blobs(self):
        """git blob id -> sha256 of its bytes (diskcache: opened on the cold path only)."""
        if self._blobs is None:
            from kipoi_store.store.user.statcache import StatCache

            self._blobs = StatCache(paths.user_cache() / "git-blobs", warn=self.warn)
        return self._blobs

    def tree(self, commit):
        from kipoi_store.git.tree import GitTree

        tree = self._trees.get(commit)
        if tree is None:
            self.remote.fetch_commit(commit, offline=self.offline)
            tree = self._trees[commit] = GitTree(self.remote, commit, offline=self.offline)
        tree.offline = self.offline  # the run may have gone offline since (a remote that failed)
        return tree

    def list_models(self, prefix=None, ref=None, unusable=None):
        from kipoi_store.models import catalog

        try:
            return catalog.list_models(self.tree(self.commit_for(ref)), prefix, warn=self.warn,
                                       source=self.name, unusable=unusable)
        except (NetworkError, OfflineError) as exc:
            raise self._named(exc) from None

    def resolve(self, model, ref=None):
        if ref is not None and _PINNED.fullmatch(ref):
            # Pinned: the store, then the mirrors, may have it; the remote is asked only if not.
            return self.resolve_at(model, ref, ref)
        if self._uses_lfs() and not self.offline and not self.remote.exists():
            # A first use: the whole cold path is ahead, and its first wait is on the network.
            background.import_requests()
        try:
            commit = self.commit_for(ref)
            return self.resolve_at(model, commit, ref)
        except (NetworkError, OfflineError) as exc:
            raise self._named(exc) from None
        finally:
            background.finish()

    def _named(self, exc):
        """`exc` naming this source. A remote that failed is not asked again in this run: later
        specs get what the store already has, or this same reason at once."""
        if isinstance(exc, NetworkError) and self.failed is None:
            self.failed = str(exc)
            self.offline = True
        elif isinstance(exc, OfflineError) and self.failed is not None:
            exc = NetworkError(self.failed)
        message = str(exc)
        if not message.startswith("source '"):
            message = "source '%s': %s" % (self.name, message)
        return type(exc)(message)

    def resolve_at(self, model, commit, ref=None):
        # The warm path: one small record file and a stat or two, no git process, no tree. The
        # model may be complete in a site store: then it is used from there, as it is.
        key = self.snapshot_key(commit)
        record = self.records.get(("git", commit, model), RECORD)
        holder = self.store.use(key, model)
        if holder is not None and record is None:
            record = model_info(holder.manifest(key, model))  # published by another user
            if record is not None:
                self.records.put(("git", commit, model), record)
        if holder is None or record is None:
            try:
                self._prepare_batch(commit, ref)
                # Mirrors hold real bytes by commit: a source that keeps pointers builds its own.
                mirrored = self.from_mirrors(model, commit) if key == commit else None
                record = mirrored or self._materialise(model, commit)
            finally:
                background.finish()
            holder = self.store.use(key, model) or self.store
        return Resolution(source=self.name, model=model, ref=ref, commit=commit, key=key,
                          location=holder.snapshot_location(key, record["directory"]),
                          group=record["group"], pinned="%s:%s@%s" % (self.name, model, commit))

    # -- cold path ------------------------------------------------------------------------------
    @property
    def mirrors(self):
        if self._mirrors is None:
            return None
        return self._mirrors()

    def from_mirrors(self, model, commit):
        """The model's record, published from a store mirror (manifest and objects); or None."""
        mirrors = self.mirrors
        if not mirrors or self.store.manifest(commit, model) is not None:
            return None
        doc = mirrors.publish_model(commit, model)
        if doc is None or doc.directory is None:
            return None
        self.records.put(("git", commit, model), doc.record)
        return doc.record

    def _materialise(self, model, commit):
        from kipoi_store.models import catalog, closure  # cold path only: a warm resolve reads a record

        self.store.require_writable()  # before git writes to the clone in it
        tree = self.tree(commit)
        if self._uses_lfs() and not self.offline:
            background.import_requests()
        # One round trip for what the model most likely needs, instead of one per file as
        # closure() discovers them; whatever the closure needs beyond that comes in one more.
        tree.prefetch(likely_blobs(tree, model))
        mref = catalog.find_model(tree, model, source=self.name, warn=self.warn)
        record = {"directory": mref.directory, "group": mref.group}
        key = self.snapshot_key(commit)
        if self.store.use(key, model) is None:
            paths = closure.closure(tree, mref, source=self.name, warn=self.warn)
            self.store.publish(key, model, self._entries(tree, paths), info=record)
        self.records.put(("git", commit, model), record)
        return record

    def _entries(self, tree, paths):
        entries, blobs = {}, {}
        for path in paths:
            mode = tree.mode(path)
            if mode == MODE_LINK:
                entries[path] = LinkEntry(tree.readlink(path))
            elif mode is not None and mode.startswith("100"):
                blobs[path] = tree.oid(path)
        known = {}
        for path, oid in blobs.items():
            digest = self.blobs.get_raw(oid)
            if digest is not None and self.store.has_object(digest):
                known[path] = digest
        missing = [p for p in blobs if p not in known]
        if missing:
            tree.prefetch(missing)
        pointers = {}
        # Each blob once (paths may share one), all through the remote's one cat-file process:
        # one request per blob whose answer gives the size, and the requests are pipelined.
        paths_of = {}
        for path in missing:
            paths_of.setdefault(blobs[path], []).append(path)
        for oid, _, size, chunks in self.remote.cat().open_many(list(paths_of)):
            digest, pointer, cacheable = self._store_blob(size, chunks, paths_of[oid][0], tree.commit)
            for path in paths_of[oid]:
                if pointer is not None:
                    pointers[path] = pointer
                else:
                    known[path] = digest
            if cacheable:
                self.blobs.put_raw(oid, digest)
        if pointers:
            self._fetch_lfs(tree, pointers)
            for path, pointer in pointers.items():
                known[path] = pointer.oid
        for path, digest in known.items():
            entries[path] = FileEntry(digest, tree.mode(path) == MODE_EXEC)
        return entries

    def _store_blob(self, size, chunks, path, commit):
        """Put one blob (its size, and its bytes as `chunks`) into the store: (digest, None, True);
        an LFS pointer is returned instead, (None, pointer, False), unless this source keeps
        pointers: (digest, None, False), as a kept pointer is not the content other sources see
        for that blob. Small blobs are read whole (a pointer is small), larger ones streamed."""
        from kipoi_store.lfs import pointer

        what = "%s:%s" % (self.name, path)
        if size <= LFS_POINTER_MAX:
            data = b"".join(chunks)
            pointer = pointer.parse_pointer(data)
            if pointer is not None and not self._keeps_pointers(commit):
                return None, pointer, False
            return self.store.add_bytes(data, what=what), None, pointer is None
        return self.store.add_stream(chunks, expected_size=size, what=what), None, True

    def _fetch_lfs(self, tree, pointers):
        background.finish()  # no wait is left to do it in: the imports below do it now
        from kipoi_store.lfs.endpoint import discover_endpoint
        from kipoi_store.lfs.fetch import fetch_objects

        wanted = [p for p in pointers.values() if not self.store.has_object(p.oid)]
        if not wanted:
            return
        lfsconfig = tree.read(".lfsconfig") if tree.kind(".lfsconfig") == "file" else None
        endpoint = discover_endpoint(self.url, lfs_url=self.config.lfs_url, lfsconfig=lfsconfig)
        what = {p.oid: "%s:%s" % (self.name, path) for path, p in pointers.items()}
        mirrors = self.mirrors
        if mirrors:
            wanted = [p for p in wanted if not mirrors.fetch_object(p.oid, p.size, what[p.oid])]
            if not wanted:
                return
        if self.offline:
            missing = sorted(what[p.oid] for p in wanted)
            from kipoi_store.errors import OfflineError

            raise OfflineError("offline: LFS objects of source '%s' are not in the store: %s"
                               % (self.name, ", ".join(missing)))
        fetch_objects(endpoint, wanted, self.store, what=what)
        for p in wanted:
            if not self.store.has_object(p.oid):
                raise IntegrityError("LFS object %s (%s) did not arrive" % (p.oid, what[p.oid]))
