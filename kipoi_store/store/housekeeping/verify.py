"""Verifying the store: re-hash every object and every file a manifest records, find what no
manifest names (files, directories, whole snapshots) and snapshot directories left writable;
optionally repair.

Repair deletes what is damaged (objects, snapshot files, the manifests that relied on them) and what
no manifest names, and closes writable directories, so the next resolve fetches and publishes
them again. What could not be read (an I/O error: it may read fine next time) is reported, never
deleted. Files that only a removal's tombstone names (pending.py: a `store rm` or gc cut short) are
no damage: no reader sees them; repair finishes that removal.
"""

import os
import stat
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Tuple

from kipoi_store.errors import UnsafePathError
from kipoi_store.store.core import hashing
from kipoi_store.store.core import readonly
from kipoi_store.store.housekeeping.gc import GRACE_SECONDS
from kipoi_store.store.core.entries import check_relpath
from kipoi_store.store.core.scan import walk_files
from kipoi_store.store.core.staging import remove_path, stale_entries
from kipoi_store.store.core.store import Store
from kipoi_store.store.housekeeping.pending import finish_pending, pending_folders, read_manifests


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
    if store.writable:
        store.clean_tmp()  # a killed publish is undone first: what it left is not damage
    publishing = _publishing(store)  # before the manifests are read (and again after)
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
            problems.append("cannot read object %s%s: %s" % (digest, ".x" if executable else "",
                                                            exc.strerror or exc))
            continue  # not known to be damaged: never deleted for it
        if actual == digest:
            good[(st.st_dev, st.st_ino)] = digest
            continue
        problems.append("damaged object %s%s: content is %s" % (digest, ".x" if executable else "",
                                                               actual))
        damaged.append(path)
        bad_objects.add((digest, executable))
        bad_inodes.add((st.st_dev, st.st_ino))

    hashed = {}  # (dev, ino) -> digest of snapshot files hashed so far (shared inodes once)
    reported = set()
    n_files = 0
    named = {}  # key -> every path its manifests (and tombstones) name
    pending = []  # keys holding a removal cut short
    dropping = set()  # keys whose every model is removed: the tree goes as a whole
    unsure = set()  # keys with a manifest that could not be read: what it names is unknown
    for key in store.keys():
        root = store.snapshot_root(key)
        found = read_manifests(store, key)
        named[key] = found.pending_files()
        if found.pending or found.pending_unknown:
            pending.append(key)
            if not found.known and not found.unknown:
                dropping.add(key)
        for mpath, why, is_damaged in found.unknown + found.pending_unknown:
            where = mpath.relative_to(store.root)
            if is_damaged:
                problems.append("damaged manifest %s: %s" % (where, why))
                bad_manifests.append(mpath)
            else:
                problems.append("cannot read manifest %s: %s" % (where, why))
                unsure.add(key)
        for _name, (mpath, doc) in sorted(found.known.items()):
            executable = set(doc.get("executable") or ())
            named[key].update(doc["files"])
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
                    if problem.startswith(_UNREADABLE):
                        continue  # it may read fine next time: nothing to repair
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
            for path, st in walk_files(store.snapshot_root(key)):
                rel = os.path.relpath(path, store.snapshot_root(key))
                if (st.st_dev, st.st_ino) in bad_inodes and "%s/%s" % (key, rel) not in reported:
                    problems.append("damaged snapshot file %s/%s: a link to a damaged object"
                                    % (key, rel))
                    damaged.append(Path(path))

    in_flight = publishing or _publishing(store)
    extras, open_dirs = [], []
    for key in sorted(named):
        found, writable = _unnamed(store.snapshot_root(key), key, named[key], in_flight)
        if found or writable:
            # A publish may have completed since its key's manifests were read: read them again.
            again = read_manifests(store, key)
            named[key].update(p for _, doc in again.known.values() for p in doc["files"])
            found, writable = _unnamed(store.snapshot_root(key), key, named[key], in_flight)
        if key in unsure:
            found = []  # the manifest that could not be read may name them
        if key in dropping:
            writable = []  # opened to be moved out whole (pending.drop_snapshot)
        elif key in pending:
            # Folders a removal cut short opened (and closes when it is finished).
            busy = pending_folders(read_manifests(store, key).pending_files())
            writable = [(where, path) for where, path in writable
                        if where.partition("/")[2] not in busy]
        extras += found
        open_dirs += writable
        problems += ["unexpected %s %s: no manifest names it" % (kind, where) for where, kind, _ in found]
        problems += ["writable directory %s: snapshot directories are read-only" % where
                     for where, _ in writable]

    removed = []
    if repair:
        for path in damaged + bad_manifests:
            if os.path.lexists(path):
                remove_path(path)
                removed.append(str(path))
        # What only a dropped manifest named is now named by none: it goes too (the next resolve
        # publishes the model again, complete).
        dropped = {Path(m).parent.name for m in bad_manifests}
        for key in sorted(dropped & set(named)):
            found = read_manifests(store, key)
            if found.unknown:
                continue  # what the unreadable one names is unknown: keep it all
            left = {p for _, doc in found.known.values() for p in doc["files"]}
            extras += _unnamed(store.snapshot_root(key), key, left | found.pending_files(),
                               in_flight)[0]
        for _, _, path in extras:
            if os.path.lexists(path):
                remove_path(path)
                removed.append(str(path))
        for _, path in open_dirs:
            if os.path.isdir(path):
                readonly.close(path)
        for key in pending:
            removed += finish_pending(store, key)
    return VerifyReport(n_objects, n_files, tuple(problems), tuple(removed))


def _publishing(store):
    """Whether tmp/ holds live entries: a publish may be under way."""
    try:
        names = set(os.listdir(store.tmp_dir))
    except FileNotFoundError:
        return False
    return bool(names - {p.name for p in stale_entries(store.tmp_dir)})


def _unnamed(root, key, names, in_flight):
    """What snapshot tree `root` holds beyond what its manifests `names` (files, links, and the
    directories holding them): [(where, "file" | "directory", path)], and its writable directories:
    [(where, path)]. While a publish may be under way (`in_flight`: live tmp/ entries), entries
    changed within GRACE_SECONDS are left out: its manifest may not be written yet."""
    dirs = {""}
    for p in names:
        parts = p.split("/")
        dirs.update("/".join(parts[:i]) for i in range(1, len(parts)))
    now = time.time()
    extras, writable = [], []

    def note(rel, kind, path, st):
        if not (in_flight and now - max(st.st_mtime, st.st_ctime) < GRACE_SECONDS):
            extras.append(("%s/%s" % (key, rel) if rel else key, kind, path))

    try:
        st = os.lstat(root)
    except FileNotFoundError:
        return extras, writable
    if not names:
        note("", "snapshot", root, st)
        return extras, writable
    for folder, subdirs, files in os.walk(root):
        rel_folder = os.path.relpath(folder, root)
        rel_folder = "" if rel_folder == "." else rel_folder
        st = os.lstat(folder)
        if readonly.is_open(st) and not (in_flight and now - st.st_ctime < GRACE_SECONDS):
            writable.append(("%s/%s" % (key, rel_folder) if rel_folder else key, folder))
        keep = []
        for name in subdirs:
            path = os.path.join(folder, name)
            rel = name if not rel_folder else rel_folder + "/" + name
            if os.path.islink(path):
                files.append(name)
            elif rel in dirs:
                keep.append(name)
            else:
                note(rel + "/", "directory", path, os.lstat(path))
        subdirs[:] = keep
        for name in files:
            rel = name if not rel_folder else rel_folder + "/" + name
            if rel not in names:
                path = os.path.join(folder, name)
                note(rel, "file", path, os.lstat(path))
    return extras, writable


_UNREADABLE = "unreadable"


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

