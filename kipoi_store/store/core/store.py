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
complete (an object, a directory subtree, a manifest), so a process killed at any moment leaves
at most garbage in tmp/ (see clean_tmp) and never a half-written file where a reader looks.
Nothing here prints.

Where the rest lives: adding and checking objects, and tmp/, in objects.py (ObjectStore, which
Store extends); what a snapshot may contain in entries.py; verify, gc and info in their own modules.
"""

from __future__ import annotations  # annotations stay strings: no typing import

import errno
import json
import os
import re
import stat
import time
from collections.abc import Mapping
from pathlib import Path

from kipoi_store import paths
from kipoi_store.errors import IntegrityError, UsageError
from kipoi_store.store.core import hashing
from kipoi_store.store.core import inplace
from kipoi_store.store.core import readonly
from kipoi_store.store.core.entries import FileEntry, LinkEntry, check_entries
from kipoi_store.store.core.objects import LINK_REFUSALS, ObjectStore
from kipoi_store.store.core.staging import remove_path, unlink_quiet

LINK_MODES = ("hardlink", "copy")

KEY_PATTERN = re.compile(r"[0-9a-f]{40}|[0-9a-f]{64}|local-[0-9a-f]{8,64}")


def manifest_filename(name):
    encoded = name.replace("%", "%25").replace("/", "%2F")
    if len(encoded.encode("utf-8", "surrogateescape")) > 200:  # file names stop at 255 bytes
        encoded = encoded[:100] + "~" + hashing.sha256_bytes(
            name.encode("utf-8", "surrogateescape"))[:32]
    return encoded + ".json"


class Store(ObjectStore):
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
        if self._link_mode is None:
            mode = self.recorded_link_mode()
            if mode is None:
                mode = self._probe_link_mode()
                self._write_atomic(self.root / "link-mode", (mode + "\n").encode())
            self._link_mode = mode
        return self._link_mode

    def _probe_link_mode(self):
        probe = self.new_tmp_path("link-probe")
        try:
            probe.write_bytes(b"")
            os.link(probe, str(probe) + "-link")
            return "hardlink"
        except OSError:
            return "copy"
        finally:
            unlink_quiet(probe)
            unlink_quiet(str(probe) + "-link")

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
        for _attempt in range(3):
            staging = self.new_tmp_path("publish")
            try:
                self._build(staging, entries)
                self._staged(staging)
                self._merge(staging, root, key, "", entries)
                # A concurrent gc may have moved the tree away under us: publish again.
                missing = [p for p in entries if not os.path.lexists(root / p)]
                if not missing:
                    # Written while our tmp/ entry still exists: verify, seeing it, leaves alone
                    # the files a manifest does not name yet.
                    self._write_manifest(manifest_path, doc)
                    return root
            finally:
                remove_path(staging)
        raise IntegrityError("snapshot %s: %s vanished while publishing %s (a concurrent gc?)"
                             % (key, missing[0], name))

    def _write_manifest(self, manifest_path, doc):
        doc["published"] = time.time()
        manifest_path.parent.mkdir(parents=True, exist_ok=True)
        self._write_atomic(manifest_path, json.dumps(doc, indent=1, sort_keys=True).encode())

    def _staged(self, staging):
        """Called between building the tree in tmp/ and merging it: a seam for crash tests."""

    def _build(self, staging, entries):
        """The tree of `entries` under `staging`, its directories open: entries move out of them
        while merging; each subtree is closed as it moves into the snapshot (_place). Modes come
        from the umask: group-writable in a shared store (see objects.py, readonly.py)."""
        os.mkdir(staging)
        hardlink = self.link_mode == "hardlink"
        made = {""}
        for path in sorted(entries):
            entry = entries[path]
            parent = os.path.dirname(path)
            if parent not in made:
                os.makedirs(os.path.join(staging, parent), exist_ok=True)
                made.add(parent)
            dst = os.path.join(staging, path)
            if isinstance(entry, LinkEntry):
                os.symlink(entry.target, dst)
                continue
            if hardlink:
                try:
                    os.link(self.object_path(entry.digest, entry.executable), dst)
                    continue
                except FileNotFoundError:
                    raise IntegrityError("object %s vanished while publishing %s (a concurrent gc?)"
                                         % (entry.digest, path)) from None
                except OSError as exc:
                    if exc.errno not in LINK_REFUSALS:
                        raise
            self._copy_object(entry.digest, dst, entry.executable)

    def _merge(self, src, dst, key, rel, entries):
        """Move tree `src` into `dst`: whatever is missing arrives by one rename (complete), existing
        directories are merged into, existing files and links are kept when they are what
        `entries` says they are, and replaced when not (never trusted for being there)."""
        try:
            st = os.lstat(dst)
        except FileNotFoundError:
            if self._place(src, dst):
                return
            st = os.lstat(dst)  # appeared meanwhile: merge into what is there now
        mine = os.lstat(src)
        if stat.S_ISDIR(mine.st_mode) and stat.S_ISDIR(st.st_mode):
            for name in sorted(os.listdir(src)):
                self._merge(os.path.join(src, name), os.path.join(dst, name), key,
                            name if not rel else rel + "/" + name, entries)
            if readonly.is_open(st):
                readonly.close(dst)  # left open by a killed publisher or an older store
            return
        if not stat.S_ISDIR(st.st_mode) and not stat.S_ISDIR(mine.st_mode):
            if not inplace.matches(self, dst, st, entries.get(rel)):
                self._replace(src, dst, st)
            return
        if self._named(key, rel):
            kinds = {stat.S_IFDIR: "directory", stat.S_IFREG: "file", stat.S_IFLNK: "symlink"}
            raise IntegrityError("snapshot %s: %s is a %s in the store but a %s in what is published"
                                 % (key, rel or ".", kinds.get(stat.S_IFMT(st.st_mode), "special file"),
                                    kinds.get(stat.S_IFMT(mine.st_mode), "special file")))
        self._replace(src, dst, st)  # a stray no manifest names: ours wins

    def _named(self, key, rel):
        """Whether a manifest of `key` names `rel` or a path below it."""
        from kipoi_store.store.core.scan import read_manifest

        below = rel + "/"
        for path in self.manifest_files(key):
            files = (read_manifest(path) or {}).get("files", {})
            if rel in files or any(p.startswith(below) for p in files):
                return True
        return False

    def _place(self, src, dst):
        """Rename `src` to the free path `dst`, opening its directory for that moment; False when
        something else got there first."""
        moving_dir = stat.S_ISDIR(os.lstat(src).st_mode)
        if moving_dir:
            # Closed before it is visible, but its top: moving a directory rewrites its `..`.
            readonly.close_tree(src, include_top=False)

        def rename():
            try:
                os.rename(src, dst)
                return True
            except OSError as exc:
                if exc.errno not in (errno.EEXIST, errno.ENOTEMPTY, errno.EISDIR, errno.ENOTDIR):
                    raise
                return False

        parent = os.path.dirname(dst)
        placed = rename() if parent == self._snapshots else readonly.change_in(parent, rename)
        if moving_dir:
            if placed:
                readonly.close(dst)
            else:
                readonly.open_tree(src)  # its entries are merged one by one instead
        return placed

    def _replace(self, src, dst, st):
        """Put `src` where `dst` (lstat `st`) is: one rename for a file or link over a file or link,
        else the old entry moves aside into tmp/ first and is deleted after."""
        parent = os.path.dirname(dst)
        if not stat.S_ISDIR(st.st_mode) and not stat.S_ISDIR(os.lstat(src).st_mode):
            readonly.change_in(parent, lambda: os.rename(src, dst))
            return
        aside = self.new_tmp_path("replaced")

        def move_aside():
            if stat.S_ISDIR(st.st_mode):
                readonly.open_dir(dst)
            os.rename(dst, aside)

        try:
            readonly.change_in(parent, move_aside)
        except FileNotFoundError:
            pass  # gone meanwhile
        try:
            if not self._place(src, dst):
                raise IntegrityError("snapshot path %s keeps changing while it is published" % dst)
        finally:
            remove_path(aside)

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
