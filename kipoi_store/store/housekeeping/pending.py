"""Removals that survive a kill: a model leaves the store by a tombstone first, its files after.

Removing a model takes many steps (its manifests, the files only it used, empty directories, a whole
snapshot tree). The first step renames each of its manifests `<name>.json` to `<name>.json.removing`
(a tombstone): in that one rename the model disappears for every reader (they look for the `.json`),
while the tombstone still names its files. A process killed or failing after that leaves a pending
removal, not damage: verify counts the files a tombstone names as expected, and the next `store rm`,
`gc` or `verify --repair` in that snapshot finishes the job (finish_pending).

A whole snapshot goes in this order, so that a kill between any two steps leaves something every
command reads as consistent: tombstones (models invisible), the tree renamed into tmp/ in one step
(a killed process's tmp/ entry is garbage gc removes), the manifests folder, then the tree in tmp/.

Manifests are read here once each and an unreadable one is never taken for absent: ManifestRead
keeps it apart (`unknown`), and callers refuse or keep whatever it might name.
"""

import errno
import json
import os
from dataclasses import dataclass, field

from kipoi_store.errors import KipoiError
from kipoi_store.store.core import readonly
from kipoi_store.store.core.staging import discard, remove_path
from kipoi_store.store.core.store import Store, manifest_filename

TOMBSTONE = ".removing"


class ManifestUnreadable(KipoiError):
    """A manifest exists but cannot be read or parsed: what it names is unknown."""


@dataclass
class ManifestRead:
    """The manifests of one snapshot key, each read once."""
    known: dict = field(default_factory=dict)  # name -> (path, doc)
    # (path, why, damaged) of manifests that exist but cannot be read: damaged when their bytes are
    # no manifest, else (an I/O error) they may read fine next time
    unknown: list = field(default_factory=list)
    pending: dict = field(default_factory=dict)  # name -> (tombstone path, doc)
    pending_unknown: list = field(default_factory=list)  # (path, why, damaged) of tombstones

    def unreadable(self):
        """ManifestUnreadable for the first unreadable manifest."""
        path, why, _damaged = self.unknown[0]
        return ManifestUnreadable("cannot read manifest %s (%s): what it names is unknown, so "
                                  "nothing of its snapshot was removed; 'kipoi store verify' checks it"
                                  % (path, why))

    def pending_files(self):
        """The snapshot paths only tombstones name: a removal under way, or cut short."""
        named = {p for _path, doc in self.known.values() for p in doc["files"]}
        return {p for _path, doc in self.pending.values() for p in doc["files"]} - named


def pending_folders(files):
    """The folders (relative, "" for the snapshot's root) holding `files` or their folders: those a
    removal of `files` opens while it works."""
    folders = {""}
    for rel in files:
        parts = rel.split("/")[:-1]
        folders.update("/".join(parts[:i]) for i in range(1, len(parts) + 1))
    return folders


def read_doc(path):
    """(doc, None, False) for a readable manifest; (None, why, damaged) for one that exists but
    cannot be read (damaged: False) or is no manifest (damaged: True); (None, None, False) for one
    that is gone."""
    try:
        with open(path, "rb") as f:
            data = f.read()
    except FileNotFoundError:
        return None, None, False
    except OSError as exc:
        return None, exc.strerror or str(exc), False
    doc, why = _parse(data, path)
    return doc, why, why is not None


def _parse(data, path):
    try:
        doc = json.loads(data)
    except ValueError as exc:
        return None, "not JSON: %s" % exc
    if not (isinstance(doc, dict) and isinstance(doc.get("files"), dict)
            and isinstance(doc.get("name"), str)
            and all(isinstance(k, str) and isinstance(v, str) for k, v in doc["files"].items())):
        return None, "not a manifest"
    filename = os.path.basename(os.fspath(path))
    if filename.endswith(TOMBSTONE):
        filename = filename[:-len(TOMBSTONE)]
    if filename != manifest_filename(doc["name"]):
        return None, "names model %r, which is not its file name" % doc["name"]
    return doc, None


def read_manifests(store: Store, key) -> ManifestRead:
    """Every manifest and tombstone of snapshot `key`, each read once (a folder that cannot be
    listed raises OSError)."""
    found = ManifestRead()
    folder = store.manifests_dir / store.check_key(key)
    try:
        tombstones = sorted(n for n in os.listdir(folder) if n.endswith(".json" + TOMBSTONE))
    except FileNotFoundError:
        return found
    for path in [*store.manifest_files(key), *(folder / n for n in tombstones)]:
        live = path.name.endswith(".json")
        doc, why, damaged = read_doc(path)
        if why is not None:
            (found.unknown if live else found.pending_unknown).append((path, why, damaged))
        elif doc is not None:
            (found.known if live else found.pending)[doc["name"]] = (path, doc)
    return found


def tombstone(manifest):
    """Make the model of `manifest` invisible, its file list kept (one rename)."""
    try:
        os.rename(manifest, "%s%s" % (manifest, TOMBSTONE))
    except FileNotFoundError:
        pass  # removed by someone else meanwhile


def drop_snapshot(store: Store, key):
    """Remove snapshot `key` and its manifests, in the order the module docstring gives."""
    for path in store.manifest_files(key):
        tombstone(path)
    root = store.snapshot_root(key)
    moved = store.new_tmp_path("drop-" + key[:16])
    try:
        readonly.open_dir(root)  # moving a directory elsewhere rewrites its `..`
    except FileNotFoundError:
        moved = None
    else:
        try:
            os.rename(root, moved)
        except FileNotFoundError:
            moved = None
        except OSError:
            _close_quietly(root)  # a failed move leaves the snapshot as it was: read-only
            raise
    remove_path(store.manifests_dir / key)
    if moved is not None:
        discard(moved)  # out of every reader's sight already; what a failure leaves, gc removes
    store.last_use.forget(key)


def remove_files(store: Store, key, paths):
    """Delete snapshot files of `key` (relative paths), then the directories that became empty.
    Whatever fails, the directories on the way are closed again (a close refused once is tried
    again), so a failed removal leaves no snapshot directory writable."""
    root = store.snapshot_root(key)
    folders = {os.path.join(str(root), f) if f else str(root) for f in pending_folders(paths)}
    try:
        for rel in sorted(paths):
            remove_path(root / rel)
        prune_empty_dirs(root, {os.path.dirname(str(root / rel)) for rel in paths})
    except BaseException:
        _close_all(folders)
        raise
    failed = _close_all(folders)
    if failed is not None:
        raise failed


def _close_all(folders):
    """Close each of `folders` that is open (a killed or failed change may have left it so), each
    tried twice; the error of one that stays open, or None."""
    failed = None
    for folder in sorted(folders, key=len, reverse=True):
        for attempt in (1, 2):
            try:
                readonly.close(folder)
                break
            except FileNotFoundError:
                break
            except OSError as exc:
                if attempt == 2 and failed is None:
                    failed = exc
    return failed


def finish_pending(store: Store, key, found=None):
    """Finish the removals tombstones of `key` record: the files only they name go, then the
    tombstones; returns the paths removed. Nothing happens while a manifest of `key` cannot be
    read (it might name those files)."""
    found = read_manifests(store, key) if found is None else found
    if found.unknown or not (found.pending or found.pending_unknown):
        return []
    if not found.known:
        drop_snapshot(store, key)  # no model remains in it
        return [str(store.snapshot_root(key)), str(store.manifests_dir / key)]
    files = sorted(found.pending_files())
    remove_files(store, key, files)
    for path, _doc in found.pending.values():
        remove_path(path)
    return [str(store.snapshot_root(key) / p) for p in files] + \
        [str(p) for p, _doc in found.pending.values()]


def prune_empty_dirs(root, folders):
    """Remove the now-empty directories among `folders` and their parents, up to `root` (each
    parent opened for its rmdir and closed again)."""
    root = str(root)
    for folder in sorted({str(f) for f in folders}, key=len, reverse=True):
        current = folder
        while current != root and current.startswith(root + os.sep):
            parent = os.path.dirname(current)
            try:
                if os.listdir(current):
                    break  # not empty: something else lives here
                readonly.change_in(parent, lambda path=current: os.rmdir(path))
            except FileNotFoundError:
                pass  # gone already
            except OSError as exc:
                if exc.errno in (errno.ENOTEMPTY, errno.EEXIST):
                    break
                raise
            current = parent


def _close_quietly(path):
    try:
        readonly.close(path)
    except OSError:
        pass

