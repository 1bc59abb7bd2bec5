"""Removing models from the store (`kipoi store rm`): plan, then delete, keeping what others share.

A target is a whole snapshot (key, None) or one model of it (key, model), each with the argument
the user wrote for it. Every manifest is read once, when planning: one that exists but cannot be
read is never taken for absent (it may name the very files a removal would delete), so a model of
its snapshot is not removed (an error names the manifest), and no object is deleted while any
manifest that stays is unknown.

Removing a model turns its manifests (the model's and its downloaded files', `<model>#files`) into
tombstones first (pending.py: readers see it gone at once, and a kill leaves a removal that the next
rm, gc or verify --repair finishes), then deletes the snapshot files no remaining manifest lists
(the whole tree when none remains), then the objects no remaining manifest anywhere names and
nothing else links to.
"""

import os
from dataclasses import dataclass
from pathlib import Path
from typing import Tuple

from kipoi_store.errors import KipoiError, NotFoundError
from kipoi_store.store.core.staging import remove_path
from kipoi_store.store.core.store import Store
from kipoi_store.store.housekeeping.gc import freed_bytes, links_in
from kipoi_store.store.housekeeping.pending import (TOMBSTONE, drop_snapshot, read_manifests,
                                                    remove_files, tombstone)
from kipoi_store.store.housekeeping.usage import model_of


@dataclass(frozen=True)
class Removal:
    key: str
    models: Tuple[str, ...]  # the models removed from `key`
    whole: bool  # no model remains: the snapshot goes
    manifests: Tuple[Path, ...]  # made tombstones first
    paths: Tuple[str, ...]  # snapshot files to delete, relative to its root (unless whole)
    pending: Tuple[Path, ...]  # tombstones of removals cut short, finished by this one


@dataclass(frozen=True)
class Target:
    label: str  # the argument as the user wrote it: a spec, KEY or KEY/MODEL
    key: str
    models: Tuple[str, ...]  # the models of `key` it removes


@dataclass(frozen=True)
class RemovalPlan:
    removals: Tuple[Removal, ...]
    targets: Tuple[Target, ...]  # in the order given
    objects: Tuple[Path, ...]
    bytes: int  # what deleting it all frees, each inode once
    failures: Tuple[Tuple[str, KipoiError], ...] = ()  # (label, why) of targets left alone


def _digests(docs):
    return {v for doc in docs for v in doc["files"].values() if not v.startswith("->")}


def plan_removal(store: Store, targets) -> RemovalPlan:
    """`targets`: (label, key, model or None). A target the store lacks, or whose snapshot has a
    manifest that cannot be read, is left out with its error in `failures`."""
    found = {}  # key -> pending.ManifestRead, each manifest read once

    def manifests(key):
        if key not in found:
            found[key] = read_manifests(store, key)
        return found[key]

    wanted, whole_keys, chosen, failures = {}, set(), [], []
    for label, key, model in targets:
        try:
            store.check_key(key)
            m = manifests(key)
            if model is None:
                if not (m.known or m.unknown or m.pending or m.pending_unknown
                        or store.snapshot_root(key).exists()):
                    raise NotFoundError("snapshot %s is not in the store %s" % (key, store.root))
                names = set(m.known) | set(m.pending)
                whole_keys.add(key)
            else:
                if m.unknown:
                    raise m.unreadable()
                names = {n for n in list(m.known) + list(m.pending) if model_of(n) == model}
                if not names:
                    raise NotFoundError("model %s in snapshot %s is not in the store %s"
                                        % (model, key, store.root))
        except KipoiError as exc:
            failures.append((label, exc))
            continue
        wanted.setdefault(key, set()).update(names)
        chosen.append(Target(label, key, tuple(sorted({model_of(n) for n in names}))))

    removals, dropped = [], []
    for key in wanted:  # in the order the arguments named them (dicts keep it)
        m, names = manifests(key), wanted[key]
        gone = [doc for n, (_, doc) in m.known.items() if n in names]
        rest = [doc for n, (_, doc) in m.known.items() if n not in names]
        finished = [doc for _, doc in m.pending.values()]
        whole = key in whole_keys or not (rest or m.unknown)
        keep = {p for doc in rest for p in doc["files"]}
        paths = () if whole else tuple(sorted({p for doc in gone + finished for p in doc["files"]}
                                              - keep))
        removals.append(Removal(key, tuple(sorted({model_of(n) for n in names})), whole,
                                tuple(sorted(m.known[n][0] for n in names if n in m.known)),
                                paths, tuple(sorted(p for p, _ in m.pending.values()))))
        dropped.extend(gone + finished)

    kept, unknown = [], False
    for key in store.keys():
        if key in whole_keys:
            continue
        m = manifests(key)
        unknown = unknown or bool(m.unknown)
        kept.extend(doc for n, (_, doc) in m.known.items() if n not in wanted.get(key, ()))
    doomed = [store.snapshot_root(r.key) for r in removals if r.whole]
    doomed += [store.snapshot_root(r.key) / p for r in removals if not r.whole for p in r.paths]
    links = links_in(doomed)
    objects = []
    # An unreadable manifest that stays may name any object: then none goes (gc frees them later).
    for digest in () if unknown else sorted(_digests(dropped) - _digests(kept)):
        for executable in (False, True):
            path = store.object_path(digest, executable)
            try:
                st = os.lstat(path)
            except FileNotFoundError:
                continue
            if st.st_nlink <= 1 + links.get((st.st_dev, st.st_ino), 0):
                objects.append(path)  # nothing outside what goes links to it
    return RemovalPlan(tuple(removals), tuple(chosen), tuple(objects),
                       sum(freed_bytes([(0, doomed + objects)]).values()), tuple(failures))


def execute_removal(store: Store, plan: RemovalPlan, done=None) -> None:
    """Carry out `plan`; `done(removal)` is called as each snapshot's removal completes."""
    store.require_writable()  # before anything changes: a read-only store is refused whole
    for r in plan.removals:
        if r.whole:
            drop_snapshot(store, r.key)
        else:
            for m in r.manifests:
                tombstone(m)
            remove_files(store, r.key, r.paths)
            for m in r.manifests:
                remove_path("%s%s" % (m, TOMBSTONE))
                store.last_use.forget(r.key, m.name)
            for t in r.pending:
                remove_path(t)
        if done is not None:
            done(r)
    for path in plan.objects:
        try:
            if os.lstat(path).st_nlink > 1:
                continue  # linked since the plan: in use again
        except FileNotFoundError:
            continue
        remove_path(path)
