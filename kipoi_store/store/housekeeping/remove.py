"""Removing models from the store (`kipoi store rm`): plan, then delete, keeping what others share.

A target is a whole snapshot (key, None) or one model of it (key, model). Removing a model drops
its manifests (the model's and its downloaded files', `<model>#files`) first, so readers see it
missing at once, then the snapshot files no remaining manifest of that snapshot lists (the whole
tree when none remains), then the objects no remaining manifest anywhere names and nothing else
links to.
"""

import os
from dataclasses import dataclass
from pathlib import Path
from typing import Optional, Tuple

from kipoi_store.errors import NotFoundError
from kipoi_store.store.housekeeping.gc import freed_bytes, links_in
from kipoi_store.store.core.scan import read_manifest
from kipoi_store.store.core.staging import remove_path
from kipoi_store.store.core.store import Store
from kipoi_store.store.housekeeping.usage import model_of


@dataclass(frozen=True)
class Removal:
    key: str
    models: Tuple[str, ...]  # the models removed from `key`
    whole: bool  # no model remains: the snapshot goes
    manifests: Tuple[Path, ...]
    paths: Tuple[Path, ...]  # snapshot files (or the whole tree) to delete


@dataclass(frozen=True)
class RemovalPlan:
    removals: Tuple[Removal, ...]
    objects: Tuple[Path, ...]
    bytes: int  # what deleting it all frees, each inode once


def _manifests(store, key):
    """{manifest name: (path, doc)} of snapshot `key`."""
    found = {}
    for path in store.manifest_files(key):
        doc = read_manifest(path)
        if doc is not None and isinstance(doc.get("name"), str):
            found[doc["name"]] = (path, doc)
    return found


def _digests(docs):
    return {v for doc in docs for v in doc["files"].values()
            if isinstance(v, str) and not v.startswith("->")}


def plan_removal(store: Store, targets) -> RemovalPlan:
    """`targets`: (key, model or None) pairs. NotFoundError names a target the store lacks."""
    wanted = {}
    for key, model in targets:
        store.check_key(key)
        manifests = _manifests(store, key)
        names = {n for n in manifests if model is None or model_of(n) == model}
        if not names and not (model is None and store.snapshot_root(key).exists()):
            what = "snapshot %s" % key if model is None else "model %s in snapshot %s" % (model, key)
            raise NotFoundError("%s is not in the store %s" % (what, store.root))
        wanted.setdefault(key, set()).update(names)
    removals, dropped, kept = [], [], []
    for key in sorted(wanted):
        manifests = _manifests(store, key)
        names = wanted[key]
        rest = [doc for n, (_, doc) in manifests.items() if n not in names]
        gone = [doc for n, (_, doc) in manifests.items() if n in names]
        root = store.snapshot_root(key)
        if rest:
            keep = {p for doc in rest for p in doc["files"]}
            paths = sorted({root / p for doc in gone for p in doc["files"] if p not in keep})
        else:
            paths = [root]
        removals.append(Removal(key, tuple(sorted({model_of(n) for n in names})), not rest,
                                tuple(sorted(manifests[n][0] for n in names)), tuple(paths)))
        dropped.extend(gone)
    for key in store.keys():
        names = wanted.get(key, set())
        kept.extend(doc for n, (_, doc) in _manifests(store, key).items() if n not in names)
    doomed = [p for r in removals for p in r.paths]
    links = links_in(doomed)
    objects = []
    for digest in sorted(_digests(dropped) - _digests(kept)):
        for executable in (False, True):
            path = store.object_path(digest, executable)
            try:
                st = os.lstat(path)
            except FileNotFoundError:
                continue
            if st.st_nlink <= 1 + links.get((st.st_dev, st.st_ino), 0):
                objects.append(path)  # nothing outside what goes links to it
    groups = [(0, doomed + objects)]
    return RemovalPlan(tuple(removals), tuple(objects), sum(freed_bytes(groups).values()))


def execute_removal(store: Store, plan: RemovalPlan) -> None:
    for r in plan.removals:
        for m in r.manifests:
            remove_path(m)
        if r.whole:
            # Out of sight in one rename first: nobody sees a half-deleted tree.
            moved = store.new_tmp_path("rm-" + r.key[:16])
            try:
                os.rename(store.snapshot_root(r.key), moved)
            except FileNotFoundError:
                moved = None
            remove_path(store.manifests_dir / r.key)
            if moved is not None:
                remove_path(moved)
            store.last_use.forget(r.key)
            continue
        for p in r.paths:
            remove_path(p)
        _prune_empty_dirs(store.snapshot_root(r.key), {p.parent for p in r.paths})
        for m in r.manifests:
            store.last_use.forget(r.key, m.name)
    for path in plan.objects:
        try:
            if os.lstat(path).st_nlink > 1:
                continue  # linked since the plan: in use again
        except FileNotFoundError:
            continue
        remove_path(path)


def _prune_empty_dirs(root, folders):
    """Remove the now-empty directories among `folders` and their parents, up to `root`."""
    todo = sorted({str(f) for f in folders}, key=len, reverse=True)
    for folder in todo:
        current: Optional[str] = folder
        while current and current != str(root) and current.startswith(str(root) + os.sep):
            try:
                os.rmdir(current)
            except OSError:
                break  # not empty: something else lives here
            current = os.path.dirname(current)
