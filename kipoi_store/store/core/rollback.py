"""Undoing a publish that could not finish, so no reader ever sees half of one.

A publish makes a model visible by renames into its snapshot tree, then writes the manifest. Until
the manifest exists, what those renames placed is half-state: `verify` would call it damage and a
reader would find files no manifest vouches for. So each placement is written down first:

    tmp/<pid>@<host>@<random>@journal     "<key>\\n" then one snapshot path per line, each written
                                          before the rename that places it

A publish that fails removes what it placed (Publication.undo); one that was killed is undone by the
next process that cleans tmp/ (its owner is dead: undo_journal). Only what no manifest names goes:
a path another publisher has meanwhile recorded in its manifest stays (a concurrent publisher that
finds a path it relied on gone publishes it again: see Store.publish). An unreadable manifest
counts as naming everything: nothing is removed on a guess.
"""

import os

from kipoi_store.errors import UsageError
from kipoi_store.store.core import readonly
from kipoi_store.store.core.staging import discard_file, remove_path, sync_dir

JOURNAL_HINT = "journal"


class Publication:
    """What one publish of snapshot `key` has placed so far (and, on disk, the journal of it)."""

    def __init__(self, store, key):
        self.store = store
        self.key = key
        self.root = str(store.snapshot_root(key))
        self.placed = []  # full paths renamed into the snapshot by us
        self.touched = set()  # directories we changed an entry of (they must end closed)
        self._journal = None
        self._fd = None

    def about_to_place(self, path):
        """Write `path` into the journal before the rename that places it (a kill after the rename
        leaves a journal naming it), and count it as placed until not_placed() says otherwise: a
        signal handled right after the rename (SIGTERM) raises before anything else runs."""
        if self._fd is None:
            self._journal = str(self.store.new_tmp_path(JOURNAL_HINT))
            self._fd = os.open(self._journal, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_APPEND,
                               0o666)
            self._write((self.key + "\n").encode())
        self._write((os.path.relpath(path, self.root) + "\n").encode("utf-8", "surrogateescape"))
        self.touched.add(os.path.dirname(path))
        self.placed.append(path)

    def _write(self, data):
        try:
            while data:
                data = data[os.write(self._fd, data):]
        except OSError as exc:
            exc.filename = exc.filename or self._journal  # a full disk names no file
            raise

    def not_placed(self, path):
        """The rename of `path` failed: what is there is someone else's."""
        if path in self.placed:
            self.placed.remove(path)

    def sync(self):
        """Flush the directory entries this publish made (each placed tree's directories and the
        directories it placed into) before the manifest says the model is complete: after a power
        loss a manifest never names a file whose name was lost (README: Durability)."""
        dirs = set(self.touched)
        for path in self.placed:
            if os.path.isdir(path) and not os.path.islink(path):
                dirs.update(folder for folder, _d, _f in os.walk(path, onerror=_raise))
        for folder in sorted(dirs):
            sync_dir(folder)

    def undo(self):
        """Remove what this publish placed that no manifest names; close what it opened."""
        undo(self.store, self.key, self.placed, self.touched)

    def close(self, keep_journal=False):
        """Drop the journal: the publish is complete (manifest written) or undone. A journal kept
        (its undo failed) is undone by whoever cleans tmp/ after this process is gone."""
        if self._fd is not None:
            os.close(self._fd)
            self._fd = None
            if not keep_journal:
                discard_file(self._journal)


def _raise(exc):
    raise exc


def undo(store, key, paths, touched=()):
    """Remove each of `paths` (under snapshot `key`) that no manifest of `key` names, keeping what
    one does (within a placed directory, only its unnamed entries go); then close the directories
    in `touched` and those holding `paths`, so nothing is left writable."""
    root = str(store.snapshot_root(key))
    names = manifest_names(store, key)
    dirs = set(touched)
    for path in reversed(paths):
        dirs.add(os.path.dirname(path))
        if os.path.lexists(path):
            _remove_unnamed(path, os.path.relpath(path, root), names)
    for folder in sorted(dirs, key=len, reverse=True):  # deepest first
        _close_up(folder, root)


def manifest_names(store, key):
    """Every path the manifests of `key` name, or None when one cannot be read (then every path
    counts as named)."""
    from kipoi_store.store.core.scan import read_manifest

    names = set()
    for mpath in store.manifest_files(key):
        doc = read_manifest(mpath)
        if doc is None:
            if os.path.exists(mpath):
                return None  # there, but unreadable now: it may name anything
            continue
        names.update(doc["files"])
    return names


def _named(rel, names):
    if names is None:
        return True
    if rel == ".":
        return bool(names)
    below = rel + "/"
    return rel in names or any(p.startswith(below) for p in names)


def _remove_unnamed(path, rel, names):
    if not _named(rel, names):
        remove_path(path)
        return
    if os.path.isdir(path) and not os.path.islink(path):
        for name in sorted(os.listdir(path)):
            child_rel = name if rel == "." else rel + "/" + name
            _remove_unnamed(os.path.join(path, name), child_rel, names)
        _close_up(path, path)


def _close_up(folder, root):
    """Close `folder` and the directories above it up to snapshot `root` (included)."""
    root = os.path.normpath(root)
    folder = os.path.normpath(folder)
    while folder == root or folder.startswith(root + "/"):
        try:
            readonly.close(folder)
        except FileNotFoundError:
            pass
        if folder == root:
            break
        folder = os.path.dirname(folder)


def undo_journal(store, journal):
    """Undo the publish whose journal is file `journal` (its owner died): what it may have placed
    and no manifest names goes."""
    try:
        with open(journal, "rb") as f:
            lines = f.read().decode("utf-8", "surrogateescape").splitlines()
    except FileNotFoundError:
        return
    if not lines:
        return
    key = lines[0]
    try:
        root = str(store.snapshot_root(key))
    except UsageError:  # not a key: not a journal of ours
        return
    paths = []
    for rel in lines[1:]:
        path = os.path.normpath(os.path.join(root, rel))
        if path == root or path.startswith(root + "/"):
            paths.append(path)
    undo(store, key, paths)
