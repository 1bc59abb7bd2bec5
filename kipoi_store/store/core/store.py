"""The content-addressed store: objects once, snapshots as read-only hardlink views, atomic publish.

    store = Store.default()                       # $KIPOI_STORE, else $KIPOI_HOME/store
    digest = store.add_file("weights.h5")         # hashed while copied into objects/sha256/..
    store.publish(commit, "rbp_eclip/UPF1", {"rbp_eclip/UPF1/model.yaml": FileEntry(digest),
                                             "rbp_eclip/UPF1/dl.py": LinkEntry("../template/dl.py")})
    store.manifest(commit, "rbp_eclip/UPF1")      # a dict once that model is completely published

Layout under the root:
    objects/sha256/ab/<64 hex>[.x]   every content once, read-only (`.x`: the 0555 variant; a hardlink
                                     shares its inode's mode, so an executable needs its own inode)
    snapshots/<key>/<path...>        read-only files (hardlinks to objects, copies in copy mode),
                                     relative symlinks that never leave snapshots/<key>
    manifests/<key>/<name>.json      "model `name` is complete under <key>": written last
    tmp/<pid>@<host>@<random>[@hint] staging on the same filesystem, owned by one process
    link-mode                        "hardlink" or "copy", chosen once per store
    shared                           "group" when made by `kipoi store init --shared=group`

Correctness never rests on a lock: every change becomes visible through one rename of something
complete (an object, a directory subtree, a manifest), so a reader never finds a half-written file.
What a publish has placed but no manifest names yet is undone when the publish fails, and from its
journal in tmp/ when it was killed (rollback.py, clean_tmp). Object bytes and the directory entries
a publish made are flushed before its manifest is written (README: Durability). Nothing here prints.

Where the rest lives: adding and checking objects, and tmp/, in objects.py (ObjectStore, which
Store extends); merging a built tree into a snapshot in placing.py; what a snapshot may contain in
entries.py; verify, gc and info in their own modules.
"""

from __future__ import annotations  # annotations stay strings: no typing import

import _thread  # built in: the id of the publishing thread
import json
import os
import re
import time
from collections.abc import Mapping
from pathlib import Path

from kipoi_store import paths
from kipoi_store.errors import IntegrityError, UsageError
from kipoi_store.store.core import hashing
from kipoi_store.store.core import inplace
from kipoi_store.store.core import rollback
from kipoi_store.store.core.entries import FileEntry, LinkEntry, check_entries
from kipoi_store.store.core.objects import LINK_REFUSALS, ObjectStore
from kipoi_store.store.core.placing import Placing
from kipoi_store.store.core.staging import discard, discard_file

LINK_MODES = ("hardlink", "copy")

KEY_PATTERN = re.compile(r"[0-9a-f]{40}|[0-9a-f]{64}|local-[0-9a-f]{8,64}")


def manifest_filename(name):
    encoded = name.replace("%", "%25").replace("/", "%2F")
    if len(encoded.encode("utf-8", "surrogateescape")) > 200:  # file names stop at 255 bytes
        encoded = encoded[:100] + "~" + hashing.sha256_bytes(
            name.encode("utf-8", "surrogateescape"))[:32]
    return encoded + ".json"


class Store(Placing, ObjectStore):
    def __init__(self, root):
        super().__init__(root)
        self.snapshots_dir = self.root / "snapshots"
        self._snapshots = str(self.snapshots_dir)
        self.manifests_dir = self.root / "manifests"
        self._manifests = str(self.manifests_dir)
        self.cache_dir = self.root / "cache"
        self._link_mode = None
        self._tmp_cleaned = False
        self.locks = None  # download locks (locks.Locks), set by whoever opens the store to fetch
        self._last_use = None
        self._publications = {}  # thread id -> the rollback.Publication under way in it

    @property
    def last_use(self):
        """This user's record of when each model here was last used (store/user/lastuse.py)."""
        if self._last_use is None:
            from kipoi_store.store.user.lastuse import LastUse

            self._last_use = LastUse(self.root)
        return self._last_use

    @classmethod
    def default(cls):
        return cls(paths.store_root())

    def __repr__(self):
        return "Store(%r)" % str(self.root)

    # ------------------------------------------------------------------------------ link mode

    def recorded_link_mode(self) -> str | None:
        """The link mode written in root/link-mode, or None while none has been chosen."""
        try:
            mode = (self.root / "link-mode").read_text().strip()
        except (FileNotFoundError, NotADirectoryError):
            return None
        return mode if mode in LINK_MODES else None

    @property
    def link_mode(self):
        """"hardlink" or "copy": chosen on evidence, once per store (see _probe_link_mode)."""
        if self._link_mode is None:
            mode = self.recorded_link_mode()
            if mode is None:
                mode = self._probe_link_mode()
                if mode is None:
                    # Nothing learnt (a transient error): link, falling back to a copy file by
                    # file (_build), and ask again next time.
                    self._link_mode = "hardlink"
                    return self._link_mode
                try:
                    self._write_atomic(self.root / "link-mode", (mode + "\n").encode())
                except OSError:
                    pass  # not recorded: the next process probes again
            self._link_mode = mode
        return self._link_mode

    def _probe_link_mode(self):
        """"hardlink" when a link works; "copy" when links are refused for a reason that lasts
        (another device, no support, not permitted, too many links) twice in a row; None when the
        probe failed otherwise (EIO, a full disk): one transient error never decides for good."""
        for _attempt in range(2):
            probe = self.new_tmp_path("link-probe")
            try:
                with open(probe, "xb"):
                    pass
                os.link(probe, str(probe) + "-link")
                return "hardlink"
            except OSError as exc:
                if exc.errno not in LINK_REFUSALS:
                    return None
            finally:
                discard_file(probe)
                discard_file(str(probe) + "-link")
        return "copy"

    # ------------------------------------------------------------------------------ snapshots

    @staticmethod
    def check_key(key):
        if not isinstance(key, str) or not KEY_PATTERN.fullmatch(key):
            raise UsageError("not a snapshot key (a 40/64-hex commit or local-<hex>): %r" % (key,))
        return key

    def snapshot_root(self, key) -> Path:
        return self.snapshots_dir / self.check_key(key)

    def snapshot_location(self, key, relpath) -> str:
        """str(snapshot_root(key) / relpath), built as one string: it is on the per-spec path."""
        return "%s/%s/%s" % (self._snapshots, self.check_key(key), relpath)

    def manifest_path(self, key, name) -> Path:
        if not isinstance(name, str) or not name or "\0" in name:
            raise UsageError("not a model name: %r" % (name,))
        return self.manifests_dir / self.check_key(key) / manifest_filename(name)

    def manifest(self, key, name) -> dict | None:
        path = self.manifest_path(key, name)
        try:
            doc = json.loads(path.read_bytes())
        except (FileNotFoundError, NotADirectoryError, ValueError):
            return None
        if not isinstance(doc, dict) or doc.get("name") != name or doc.get("key") != key:
            return None
        if not self.snapshot_root(key).is_dir():  # collected by gc since
            return None
        return doc

    def use(self, key, name):
        """The store of the chain (this one, then each site store) where model `name` is completely
        published under `key`, or None: the cheap check a warm resolve makes (the manifest is
        written last). The use is recorded per user, outside every store (lastuse.py), for
        `store ls` and gc's --keep-days: a read never writes to a store."""
        store = self.holder(key, name)
        if store is not None:
            store.last_use.record(key, manifest_filename(name))
        return store

    def holder(self, key, name):
        """As use(), recording no use: whether a model is there, asked before deciding to build it."""
        key = self.check_key(key)
        if not isinstance(name, str) or not name or "\0" in name:
            raise UsageError("not a model name: %r" % (name,))
        # Plain strings, not Path objects: this runs once per spec, a thousand times per batch.
        filename = manifest_filename(name)
        for store in (self, *self.sites):
            if (os.path.exists("%s/%s/%s" % (store._manifests, key, filename))
                    and os.path.isdir("%s/%s" % (store._snapshots, key))):
                return store
        return None

    def touch(self, key, name):
        """Record a use of model `name` under `key` (as use() does, without checking)."""
        self.last_use.record(self.check_key(key), manifest_filename(name))

    # ----------------------------------------------------------------------------- publishing

    def publish(self, key, name, entries: Mapping, info=None) -> Path:
        """Make `entries` ({relative path: FileEntry | LinkEntry}) visible under snapshot_root(key)
        and record model `name` as complete there, with `info` (plain JSON values: what a reader
        of another user needs to use the model without rebuilding it). Safe against concurrent
        publishers of the same or overlapping trees: what exists already is kept."""
        root = self.snapshot_root(key)
        manifest_path = self.manifest_path(key, name)
        entries = dict(entries)
        check_entries(entries)
        self.require_writable()
        if not self._tmp_cleaned:
            # Whoever publishes tidies up after killed processes, once per process: the cold
            # path is the one that already pays for file system work.
            self._tmp_cleaned = True
            self.clean_tmp()
        for path, entry in sorted(entries.items()):
            if isinstance(entry, FileEntry):
                if not self.has_object(entry.digest):
                    raise IntegrityError("cannot publish %s of %s: object %s is not in the store"
                                         % (path, name, entry.digest))
                if entry.executable:
                    self._ensure_executable(entry.digest)
        self.snapshots_dir.mkdir(parents=True, exist_ok=True)
        doc = {"name": name, "key": key,
               "files": {p: ("->" + e.target if isinstance(e, LinkEntry) else e.digest)
                         for p, e in sorted(entries.items())},
               "executable": sorted(p for p, e in entries.items()
                                    if isinstance(e, FileEntry) and e.executable)}
        if info:
            doc["info"] = info
        if inplace.all_in_place(self, root, entries):
            # Every file is there already (another model of the snapshot brought it: a group's
            # files serve all its rows): only the manifest is new.
            self._write_manifest(manifest_path, doc)
            return root
        publication = rollback.Publication(self, key)
        self._publications[_thread.get_ident()] = publication
        try:
            for _attempt in range(3):
                staging = self.new_tmp_path("publish")
                try:
                    self._build(staging, entries)
                    self._staged(staging)
                    self._merge(staging, root, key, "", entries)
                    # A concurrent gc, or the undo of a failed publisher, may have taken a path
                    # away under us: publish again. Checked again once the manifest is written,
                    # so a path taken between the check and the manifest is not missed.
                    missing = self._missing(root, entries)
                    if not missing:
                        publication.sync()
                        self._write_manifest(manifest_path, doc)
                        missing = self._missing(root, entries)
                        if not missing:
                            publication.close()
                            return root
                finally:
                    discard(staging)
            discard_file(manifest_path)
            raise IntegrityError("snapshot %s: %s vanished while publishing %s (a concurrent gc?)"
                                 % (key, missing[0], name))
        except BaseException:
            # Failed or interrupted (SIGTERM, Ctrl-C): what we placed and no manifest names goes.
            undone = False
            try:
                publication.undo()
                undone = True
            except OSError:
                pass  # the error being raised says what went wrong; the journal stays for clean_tmp
            finally:
                publication.close(keep_journal=not undone)
            raise
        finally:
            del self._publications[_thread.get_ident()]

    def _settle(self, path):
        if path.name.endswith("@" + rollback.JOURNAL_HINT):
            rollback.undo_journal(self, path)

    def _publication(self):
        """The rollback.Publication of the publish under way in this thread."""
        return self._publications[_thread.get_ident()]

    @staticmethod
    def _missing(root, entries):
        return [p for p in entries if not os.path.lexists(root / p)]

    def _write_manifest(self, manifest_path, doc):
        doc["published"] = time.time()
        manifest_path.parent.mkdir(parents=True, exist_ok=True)
        self._write_atomic(manifest_path, json.dumps(doc, indent=1, sort_keys=True).encode())

    def _staged(self, staging):
        """Called between building the tree in tmp/ and merging it: a seam for crash tests."""

    # ---------------------------------------------------------------------------- enumerating

    def keys(self):
        """Every snapshot key with a snapshot tree or manifests, sorted."""
        found = set()
        for folder in (self.snapshots_dir, self.manifests_dir):
            try:
                found.update(k for k in os.listdir(folder) if KEY_PATTERN.fullmatch(k))
            except FileNotFoundError:
                pass
        return sorted(found)

    def manifest_files(self, key):
        folder = self.manifests_dir / self.check_key(key)
        try:
            return sorted(folder / n for n in os.listdir(folder) if n.endswith(".json"))
        except FileNotFoundError:
            return []
