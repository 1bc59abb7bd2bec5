"""Garbage collection: plan what nothing kept uses, then delete it unless used since the plan.

Kept: the snapshots of `keep_keys`, those published or used (this user's record, lastuse.py) in
the last keep_days days (and, while younger than GRACE_SECONDS, a snapshot with no manifest yet: a
publish under way), every object a kept manifest names, every object added less than `prune`
seconds ago (default GRACE_SECONDS: a resolve may be about to publish it), every object with a
hardlink outside the snapshots being deleted (a publish building in tmp/, a tree not yet
manifested), tmp/ entries that are not stale, and download lock files that are held or younger than
`prune` (locks.py: a lock file is deleted only while gc itself holds it). gc_execute re-checks
each item before deleting. A kept manifest that cannot be read might name any object: then no object
is collected (rather than one it needs). A snapshot goes as pending.drop_snapshot orders it, so gc
killed at any moment leaves nothing verify or a resolve takes for damage; removals cut short in kept
snapshots are finished.

An object's age is its mtime, set when its bytes arrived. Not its ctime: linking or unlinking a
snapshot's hardlinks moves that, so deleting a snapshot used to make its objects look young again.
"""

import os
import stat
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import FrozenSet, Optional, Tuple

from kipoi_store.store.core.locks import remove_if_free, stale_locks
from kipoi_store.store.core.scan import walk_files
from kipoi_store.store.core.staging import TMP_MAX_AGE, stale_entries
from kipoi_store.store.core.store import Store
from kipoi_store.store.housekeeping.pending import drop_snapshot, finish_pending, read_manifests

# Objects added this recently are not collected by default: a concurrent resolve may have added them
# and be about to publish (`--prune=now` collects them anyway).
GRACE_SECONDS = 3600


@dataclass(frozen=True)
class GcItem:
    kind: str  # "snapshot" | "object" | "tmp" | "lock"
    name: str  # snapshot key, object file name, tmp entry name, or lock name
    paths: Tuple[Path, ...]  # everything deleted for it
    bytes: int  # bytes this item frees (each inode counted for the first item that frees it)
    stamp: Optional[object] = None  # snapshots: last use when planned; objects: (mtime, ctime, nlink)


@dataclass(frozen=True)
class GcPlan:
    items: Tuple[GcItem, ...]
    bytes_freed: int
    keep_keys: FrozenSet[str] = field(default_factory=frozenset)
    kept_snapshots: int = 0
    pending_keys: Tuple[str, ...] = ()  # kept snapshots holding a removal cut short (pending.py)

    @property
    def snapshots(self):
        return tuple(i for i in self.items if i.kind == "snapshot")

    @property
    def objects(self):
        return tuple(i for i in self.items if i.kind == "object")

    @property
    def tmp(self):
        return tuple(i for i in self.items if i.kind == "tmp")

    @property
    def locks(self):
        return tuple(i for i in self.items if i.kind == "lock")

    @property
    def manifests(self):
        return tuple(p for i in self.snapshots for p in i.paths[1:])


def _identity(st):
    """What changes when an object is linked, unlinked or replaced: compared at execute time."""
    return (st.st_mtime, st.st_ctime, st.st_nlink)


def _newest_manifest(store, key):
    stamps = []
    for m in store.manifest_files(key):
        try:
            stamps.append(os.lstat(m).st_mtime)
        except FileNotFoundError:
            pass
    return max(stamps) if stamps else None


def _last_use(store, key):
    """When a model of `key` was last published or used (by this user); None without manifests."""
    published = _newest_manifest(store, key)
    if published is None:
        return None
    return max(published, store.last_use.newest(key) or published)


def links_in(paths):
    """(dev, ino) -> how many of the links under `paths` point at it."""
    counts = {}
    for p in paths:
        for _path, st in walk_files(p):
            if stat.S_ISREG(st.st_mode):
                counts[(st.st_dev, st.st_ino)] = counts.get((st.st_dev, st.st_ino), 0) + 1
    return counts


def freed_bytes(groups):
    """Given [(item index, [paths])], the bytes each item frees: an inode is freed once every one of
    its links is deleted, and is credited to the first item holding one of them."""
    inodes = {}  # (dev, ino) -> [links seen, nlink, size, first item]
    for index, item_paths in groups:
        for p in item_paths:
            for _path, st in walk_files(p):
                if not stat.S_ISREG(st.st_mode):
                    continue
                rec = inodes.setdefault((st.st_dev, st.st_ino), [0, st.st_nlink, st.st_size, index])
                rec[0] += 1
    freed = {}
    for seen, nlink, size, index in inodes.values():
        if seen >= nlink:
            freed[index] = freed.get(index, 0) + size
    return freed


def gc_plan(store: Store, keep_keys, keep_days, prune=GRACE_SECONDS) -> GcPlan:
    """What gc would delete; `prune`: collect objects added at least this many seconds ago (0:
    now, whatever their age)."""
    now = time.time()
    keep_keys = frozenset(keep_keys)
    referenced = set()
    candidates = []  # (kind, name, paths, stamp)
    kept = 0
    pending = []
    unknown = False  # a kept manifest that cannot be read might name any object
    for key in store.keys():
        newest = _last_use(store, key)
        root = store.snapshot_root(key)
        keep = key in keep_keys or (newest is not None and now - newest < keep_days * 86400)
        if not keep and newest is None:
            try:  # no manifest yet: maybe a publish under way
                st = os.lstat(root)
                keep = now - max(st.st_mtime, st.st_ctime) < GRACE_SECONDS
            except FileNotFoundError:
                pass
        if keep:
            kept += 1
            found = read_manifests(store, key)
            unknown = unknown or bool(found.unknown)
            if found.pending or found.pending_unknown:
                pending.append(key)
            for _path, doc in found.known.values():
                referenced.update(v for v in doc["files"].values() if not v.startswith("->"))
            continue
        candidates.append(("snapshot", key, (root, store.manifests_dir / key), newest))
    doomed_links = links_in(p for c in candidates for p in c[2])
    for digest, _executable, path in () if unknown else store.iter_objects():
        if digest is None or digest in referenced:
            continue  # strays are verify's business
        try:
            st = os.lstat(path)
        except FileNotFoundError:
            continue
        if now - st.st_mtime < prune:
            continue
        if st.st_nlink > 1 + doomed_links.get((st.st_dev, st.st_ino), 0):
            continue  # linked from somewhere that stays: a publish under way, say
        candidates.append(("object", path.name, (path,), _identity(st)))
    for path in stale_entries(store.tmp_dir, TMP_MAX_AGE):
        candidates.append(("tmp", path.name, (path,), None))
    for path in stale_locks(store.root / "locks", prune):
        candidates.append(("lock", os.path.basename(path), (Path(path),), None))
    # Objects first: the bytes of a hardlinked file belong to its object.
    order = {"object": 0, "snapshot": 1, "tmp": 2, "lock": 3}
    candidates.sort(key=lambda c: (order[c[0]], c[1]))
    freed = freed_bytes([(i, c[2]) for i, c in enumerate(candidates)])
    items = tuple(GcItem(kind, name, paths, freed.get(i, 0), stamp)
                  for i, (kind, name, paths, stamp) in enumerate(candidates))
    return GcPlan(items, sum(i.bytes for i in items), keep_keys, kept, tuple(pending))


def gc_execute(store: Store, plan: GcPlan) -> int:
    """Delete what `plan` lists, skipping anything used since it was made; returns bytes freed."""
    todo = []
    for item in plan.items:
        if item.kind == "snapshot":
            if _last_use(store, item.name) != item.stamp:
                continue  # resolved (or published) since the plan
        elif item.kind == "object":
            try:
                # Objects go before snapshots, so only others' links and unlinks change this.
                if _identity(os.lstat(item.paths[0])) != item.stamp:
                    continue  # linked or re-added since the plan
            except FileNotFoundError:
                continue
        todo.append(item)
    freed = freed_bytes([(i, item.paths) for i, item in enumerate(todo)])
    for item in todo:
        if item.kind == "snapshot":
            drop_snapshot(store, item.name)
        elif item.kind == "lock":
            remove_if_free(item.paths[0])  # unless some process took it since the plan
        else:
            store.remove_tmp_entry(item.paths[0])  # a killed publish's journal is undone first
    for key in plan.pending_keys:
        finish_pending(store, key)  # removals that were cut short: their files, their tombstones
    return sum(freed.values())

