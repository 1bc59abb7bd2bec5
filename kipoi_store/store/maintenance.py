"""Store maintenance: verify (re-hash, optionally repair), gc (plan, then execute), info.

Each reads the filesystem as it is: there is no index to trust or rebuild. Sizes are apparent
sizes (st_size) of regular files, each inode counted once, so hardlinked snapshot files cost
nothing beyond their object.
"""

import json
import os
import stat
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import FrozenSet, Optional, Tuple

from kipoi_store.store import hashing
from kipoi_store.store.core import GRACE_SECONDS, TMP_MAX_AGE, Store, check_relpath, remove_path
from kipoi_store.errors import UnsafePathError


# --------------------------------------------------------------------------------------- walking

def _walk_files(path):
    """lstat results of every non-directory under `path` (or of `path` itself), never following
    links: (path, stat_result)."""
    path = str(path)
    try:
        st = os.lstat(path)
    except FileNotFoundError:
        return
    if not stat.S_ISDIR(st.st_mode):
        yield path, st
        return
    for folder, dirs, files in os.walk(path):
        for name in files + [d for d in dirs if os.path.islink(os.path.join(folder, d))]:
            p = os.path.join(folder, name)
            try:
                yield p, os.lstat(p)
            except FileNotFoundError:
                continue


def _read_manifest(path) -> Optional[dict]:
    try:
        doc = json.loads(Path(path).read_bytes())
    except (OSError, ValueError):
        return None
    if not isinstance(doc, dict) or not isinstance(doc.get("files"), dict):
        return None
    return doc


# ---------------------------------------------------------------------------------------- verify

@dataclass(frozen=True)
class VerifyReport:
    objects_checked: int
    files_checked: int
    problems: Tuple[str, ...]  # one line each
    removed: Tuple[str, ...] = ()  # what --repair deleted

    @property
    def ok(self):
        return not self.problems


def verify(store: Store, repair=False) -> VerifyReport:
    problems, damaged, bad_manifests = [], [], []
    good = {}  # (dev, ino) -> digest of objects that hash to their name
    bad_inodes, bad_objects = set(), set()  # bad_objects: (digest, executable)
    n_objects = 0
    for digest, executable, path in store.iter_objects():
        if digest is None:
            problems.append("stray %s: not an object name" % path.relative_to(store.root))
            damaged.append(path)
            continue
        n_objects += 1
        try:
            st = os.lstat(path)
            actual = hashing.sha256_file(path) if stat.S_ISREG(st.st_mode) else "not a file"
        except OSError as exc:
            st, actual = None, "unreadable (%s)" % exc.strerror
        if actual == digest:
            good[(st.st_dev, st.st_ino)] = digest
            continue
        problems.append("damaged object %s%s: content is %s" % (digest, ".x" if executable else "",
                                                               actual))
        damaged.append(path)
        bad_objects.add((digest, executable))
        if st is not None:
            bad_inodes.add((st.st_dev, st.st_ino))

    hashed = {}  # (dev, ino) -> digest of snapshot files hashed so far (shared inodes once)
    reported = set()
    n_files = 0
    for key in store.keys():
        root = store.snapshot_root(key)
        for mpath in store.manifest_files(key):
            doc = _read_manifest(mpath)
            if doc is None:
                problems.append("damaged manifest %s: unreadable" % mpath.relative_to(store.root))
                bad_manifests.append(mpath)
                continue
            executable = set(doc.get("executable") or ())
            broken = False
            for rel, value in sorted(doc["files"].items()):
                n_files += 1
                where = "%s/%s" % (key, rel)
                try:
                    check_relpath(rel)
                except UnsafePathError as exc:
                    problems.append("damaged manifest %s: %s" % (mpath.relative_to(store.root), exc))
                    broken = True
                    break
                path = root / rel
                if where in reported:
                    broken = True
                    continue
                problem = _check_file(path, value, rel in executable, good, bad_inodes,
                                      bad_objects, hashed)
                if problem is not None:
                    problems.append("damaged snapshot file %s: %s" % (where, problem))
                    reported.add(where)
                    if os.path.lexists(path):
                        damaged.append(path)
                    broken = True
                elif (value, rel in executable) in bad_objects:
                    broken = True  # its object goes: let the next resolve bring both back
            if broken:
                bad_manifests.append(mpath)

    if bad_inodes:
        # Hardlinks of a damaged object that no manifest names (a publish killed before its
        # manifest): the next publish would keep them, so they go too.
        for key in store.keys():
            for path, st in _walk_files(store.snapshot_root(key)):
                rel = os.path.relpath(path, store.snapshot_root(key))
                if (st.st_dev, st.st_ino) in bad_inodes and "%s/%s" % (key, rel) not in reported:
                    problems.append("damaged snapshot file %s/%s: a link to a damaged object"
                                    % (key, rel))
                    damaged.append(Path(path))

    removed = []
    if repair:
        for path in damaged + bad_manifests:
            if os.path.lexists(path):
                remove_path(path)
                removed.append(str(path))
    return VerifyReport(n_objects, n_files, tuple(problems), tuple(removed))


def _check_file(path, value, executable, good, bad_inodes, bad_objects, hashed):
    """What is wrong with snapshot file `path` that a manifest records as `value`, or None."""
    try:
        st = os.lstat(path)
    except FileNotFoundError:
        return "missing"
    except OSError as exc:
        return "unreadable (%s)" % exc.strerror
    if value.startswith("->"):
        if not stat.S_ISLNK(st.st_mode):
            return "should be a symlink to %s" % value[2:]
        if os.readlink(path) != value[2:]:
            return "points to %s, should point to %s" % (os.readlink(path), value[2:])
        return None
    if not stat.S_ISREG(st.st_mode):
        return "not a regular file"
    inode = (st.st_dev, st.st_ino)
    if inode in bad_inodes:
        return "a link to damaged object %s" % value
    if good.get(inode) == value:
        return None  # the object check covered these very bytes
    actual = hashed.get(inode)
    if actual is None:
        try:
            actual = hashed[inode] = hashing.sha256_file(path)
        except OSError as exc:
            return "unreadable (%s)" % exc.strerror
    if actual != value:
        return "content is %s, should be %s" % (actual, value)
    return None


# -------------------------------------------------------------------------------------------- gc

@dataclass(frozen=True)
class GcItem:
    kind: str  # "snapshot" | "object" | "tmp"
    name: str  # snapshot key, object file name, or tmp entry name
    paths: Tuple[Path, ...]  # everything deleted for it
    bytes: int  # bytes this item frees (each inode counted for the first item that frees it)
    stamp: Optional[float] = None  # snapshots: newest manifest mtime when planned; objects: its age stamp


@dataclass(frozen=True)
class GcPlan:
    items: Tuple[GcItem, ...]
    bytes_freed: int
    keep_keys: FrozenSet[str] = field(default_factory=frozenset)
    kept_snapshots: int = 0

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
    def manifests(self):
        return tuple(p for i in self.snapshots for p in i.paths[1:])


def _stamp(st):
    # ctime moves when a hardlink is made or the object is renamed in: "last used", roughly.
    return max(st.st_mtime, st.st_ctime)


def _newest_manifest(store, key):
    stamps = []
    for m in store.manifest_files(key):
        try:
            stamps.append(os.lstat(m).st_mtime)
        except FileNotFoundError:
            pass
    return max(stamps) if stamps else None


def _account(groups):
    """Given [(item index, [paths])], the bytes each item frees: an inode is freed once every one of
    its links is deleted, and is credited to the first item holding one of them."""
    inodes = {}  # (dev, ino) -> [links seen, nlink, size, first item]
    for index, item_paths in groups:
        for p in item_paths:
            for _path, st in _walk_files(p):
                if not stat.S_ISREG(st.st_mode):
                    continue
                rec = inodes.setdefault((st.st_dev, st.st_ino), [0, st.st_nlink, st.st_size, index])
                rec[0] += 1
    freed = {}
    for seen, nlink, size, index in inodes.values():
        if seen >= nlink:
            freed[index] = freed.get(index, 0) + size
    return freed


def gc_plan(store: Store, keep_keys, keep_days) -> GcPlan:
    now = time.time()
    keep_keys = frozenset(keep_keys)
    referenced = set()
    candidates = []  # (kind, name, paths, stamp)
    kept = 0
    for key in store.keys():
        manifests = store.manifest_files(key)
        newest = _newest_manifest(store, key)
        root = store.snapshot_root(key)
        keep = key in keep_keys or (newest is not None and now - newest < keep_days * 86400)
        if not keep and newest is None:
            try:  # no manifest yet: maybe a publish under way
                keep = now - _stamp(os.lstat(root)) < GRACE_SECONDS
            except FileNotFoundError:
                pass
        if keep:
            kept += 1
            for m in manifests:
                doc = _read_manifest(m)
                if doc:
                    referenced.update(v for v in doc["files"].values() if not v.startswith("->"))
            continue
        candidates.append(("snapshot", key, (root, store.manifests_dir / key), newest))
    for digest, _executable, path in store.iter_objects():
        if digest is None or digest in referenced:
            continue  # strays are verify's business
        try:
            stamp = _stamp(os.lstat(path))
        except FileNotFoundError:
            continue
        if now - stamp >= GRACE_SECONDS:
            candidates.append(("object", path.name, (path,), stamp))
    for path in store.stale_tmp(TMP_MAX_AGE):
        candidates.append(("tmp", path.name, (path,), None))
    # Objects first: the bytes of a hardlinked file belong to its object.
    order = {"object": 0, "snapshot": 1, "tmp": 2}
    candidates.sort(key=lambda c: (order[c[0]], c[1]))
    freed = _account([(i, c[2]) for i, c in enumerate(candidates)])
    items = tuple(GcItem(kind, name, paths, freed.get(i, 0), stamp)
                  for i, (kind, name, paths, stamp) in enumerate(candidates))
    return GcPlan(items, sum(i.bytes for i in items), keep_keys, kept)


def gc_execute(store: Store, plan: GcPlan) -> int:
    """Delete what `plan` lists, skipping anything used since it was made; returns bytes freed."""
    todo = []
    for item in plan.items:
        if item.kind == "snapshot":
            if _newest_manifest(store, item.name) != item.stamp:
                continue  # resolved (or published) since the plan
        elif item.kind == "object":
            try:
                if _stamp(os.lstat(item.paths[0])) != item.stamp:
                    continue  # linked or re-added since the plan
            except FileNotFoundError:
                continue
        todo.append(item)
    freed = _account([(i, item.paths) for i, item in enumerate(todo)])
    for item in todo:
        if item.kind == "snapshot":
            root, manifests = item.paths
            # Move the tree out of sight first: nobody may see it half deleted.
            moved = store.new_tmp_path("gc-" + item.name[:16])
            try:
                os.rename(root, moved)
            except FileNotFoundError:
                moved = None
            remove_path(manifests)
            if moved is not None:
                remove_path(moved)
        else:
            remove_path(item.paths[0])
    return sum(freed.values())


# ------------------------------------------------------------------------------------------ info

@dataclass(frozen=True)
class StoreInfo:
    location: Path
    link_mode: Optional[str]  # None while no snapshot was ever published
    snapshots: int
    models: int  # published (key, model) pairs: manifests
    objects: int
    bytes_on_disk: int  # every regular file under the store, each inode once
    bytes_objects: int
    bytes_logical: int  # what the published models would take as plain copies
    bytes_saved: int  # by deduplication and hardlinks

    def as_dict(self):
        d = dict(self.__dict__)
        d["location"] = str(self.location)
        return d


def info(store: Store) -> StoreInfo:
    seen = set()
    total = 0
    for _path, st in _walk_files(store.root) if store.root.is_dir() else ():
        if stat.S_ISREG(st.st_mode) and (st.st_dev, st.st_ino) not in seen:
            seen.add((st.st_dev, st.st_ino))
            total += st.st_size
    sizes, object_bytes, n_objects = {}, 0, 0
    for digest, _executable, path in store.iter_objects():
        if digest is None:
            continue
        try:
            st = os.lstat(path)
        except FileNotFoundError:
            continue
        n_objects += 1
        object_bytes += st.st_size
        sizes[digest] = st.st_size
    # Saved = what plain copies of every published model would take, minus what their files take
    # in the store: distinct inodes among their snapshot files and objects (copies count in copy mode).
    logical, models, snapshots, used = 0, 0, 0, {}
    for key in store.keys():
        root = store.snapshot_root(key)
        if root.is_dir():
            snapshots += 1
        for m in store.manifest_files(key):
            doc = _read_manifest(m)
            if doc is None:
                continue
            models += 1
            executable = set(doc.get("executable") or ())
            for rel, value in doc["files"].items():
                if value.startswith("->") or value not in sizes:
                    continue
                logical += sizes[value]
                for p in (root / rel, store.object_path(value, rel in executable)):
                    try:
                        st = os.lstat(p)
                    except (OSError, ValueError):
                        continue
                    if stat.S_ISREG(st.st_mode):
                        used[(st.st_dev, st.st_ino)] = st.st_size
    stored = sum(used.values())
    return StoreInfo(store.root, store.recorded_link_mode(), snapshots, models, n_objects, total,
                     object_bytes, logical, max(0, logical - stored))
