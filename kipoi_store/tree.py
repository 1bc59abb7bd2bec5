"""A read-only view of one model source at one version: a folder on disk now, a git commit elsewhere.

Paths are posix, relative to the source root, with no `.`, `..` or empty segments; "" is the root.
A tree follows no symlink by itself: `kind` reports a link as "link", and a path that goes *through*
a link (`a/link/x`) does not exist in the tree. Following links is the caller's decision
(models.closure does it, inside the tree only), so no view can be tricked into reading outside it.
"""

from __future__ import annotations  # annotations stay strings: no typing import

import errno
import os
import stat
from collections.abc import Iterator

from kipoi_store.errors import UnsafePathError

DIR, FILE, LINK = "dir", "file", "link"

# Not part of any model in a folder: git's own data, and the byte code Python leaves beside the
# model's .py files whenever kipoi imports them (it would make every run a new snapshot).
HIDDEN = frozenset({".git", "__pycache__"})


def sort_key(name):
    """Bytewise order (as `LC_ALL=C sort`), also for names that are not valid UTF-8."""
    return name.encode("utf-8", "surrogateescape")


def split(path):
    """The segments of a tree path; UnsafePathError for anything that is not a clean relative path."""
    if path == "":
        return []
    if not isinstance(path, str):
        raise TypeError("a tree path is a str, not %r" % (path,))
    parts = path.split("/")
    for part in parts:
        if part in ("", ".", "..") or "\0" in part:
            raise UnsafePathError("bad path %r in a source: it must be relative, without '.', '..' "
                                  "or empty segments" % path)
    return parts


def join(directory, name):
    return name if directory == "" else directory + "/" + name


def parent(path):
    return path.rpartition("/")[0]


def basename(path):
    return path.rpartition("/")[2]


def is_below(path, directory):
    """Whether `path` is `directory` itself or lies under it (whole segments)."""
    return directory == "" or path == directory or path.startswith(directory + "/")


class Tree:
    """Interface of a read-only source tree. Subclasses implement kind, listdir, read and readlink."""

    def kind(self, path) -> str | None:
        """"dir", "file" or "link"; None when nothing (or nothing usable, e.g. a fifo) is there."""
        raise NotImplementedError

    def listdir(self, path) -> list:
        """The names in a directory, bytewise sorted. FileNotFoundError / NotADirectoryError otherwise."""
        raise NotImplementedError

    def read(self, path) -> bytes:
        """The bytes of a regular file (a link is not followed: FileNotFoundError)."""
        raise NotImplementedError

    def readlink(self, path) -> str:
        """The target text of a symlink, as stored."""
        raise NotImplementedError

    def walk(self, path="") -> Iterator[tuple[str, str]]:
        """(path, kind) for everything below directory `path`, with paths relative to the tree root.

        Depth first, each directory's entries in bytewise order, a directory right before its
        contents; links are reported, never descended into.
        """
        for name in self.listdir(path):
            child = join(path, name)
            kind = self.kind(child)
            if kind is None:
                continue
            yield child, kind
            if kind == DIR:
                yield from self.walk(child)


class LocalTree(Tree):
    """A folder on disk. Every answer comes from lstat: no symlink inside the root is ever followed.

    The root itself may be a symlink (a configured `local_path` often is); nothing below it is.

    One LocalTree serves one run (a batch may resolve thousands of models sharing a group directory):
    it remembers each lstat, listing, link and file it has read and answers from that memory after.
    Each path is lstat'ed before it is listed or read, and `lstat` gives that first stat: a caller
    recording it to notice changes later (sources/local.py) records a stat no newer than what the
    tree told it, so an edit made since is seen.
    """

    def __init__(self, root):
        self.root = os.fspath(root)
        self._stats = {}     # path -> its first lstat this run (None: nothing there)
        self._listings = {}  # directory -> [(name, kind)], bytewise sorted
        self._links = {}     # path -> link target
        self._data = {}      # path -> bytes

    def __repr__(self):
        return "LocalTree(%r)" % self.root

    def _full(self, path):
        return self.root if path == "" else self.root + "/" + path

    def lstat(self, path):
        """The first lstat of `path` in this tree's life (the root's is a stat: it may be a link);
        None when the tree holds nothing there (as `kind`)."""
        return self._stats[path] if self.kind(path) is not None else None

    def _lstat(self, path):
        try:
            return self._stats[path]
        except KeyError:
            pass
        try:
            st = os.lstat(self.root + "/" + path if path else self.root + "/")
        except OSError as e:
            if e.errno not in (errno.ENOENT, errno.ENOTDIR, errno.ENAMETOOLONG, errno.ELOOP):
                raise
            st = None
        self._stats[path] = st
        return st

    def _is_dir(self, path):
        st = self._lstat(path)
        return st is not None and stat.S_ISDIR(st.st_mode)

    def kind(self, path):
        st = self._stats.get(path, False)
        if st is False:  # never looked at: check the path, then each parent (usually known)
            parts = split(path)
            if HIDDEN.intersection(parts):
                return None
            # Parents first: lstat of the full path would let the OS follow a link among them, out
            # of the root.
            prefix = ""
            for part in parts[:-1]:
                prefix = join(prefix, part)
                if not self._is_dir(prefix):
                    return None
            st = self._lstat(path)
        if st is None:
            return None
        mode = st.st_mode
        if stat.S_ISDIR(mode):
            return DIR
        if stat.S_ISREG(mode):
            return FILE
        if stat.S_ISLNK(mode):
            return LINK
        return None

    def _listing(self, path):
        listing = self._listings.get(path)
        if listing is not None:
            return listing
        kind = self.kind(path)
        if kind != DIR:
            raise (FileNotFoundError if kind is None else NotADirectoryError)(
                "no such directory in %s: %r" % (self.root, path))
        # scandir gives each entry's type from the directory listing itself: one syscall per directory
        # instead of one per entry, which is what makes listing a large source cheap.
        listing = []
        with os.scandir(self._full(path)) as it:
            for entry in it:
                if entry.name in HIDDEN:
                    continue
                try:
                    if entry.is_symlink():
                        kind = LINK
                    elif entry.is_dir(follow_symlinks=False):
                        kind = DIR
                    elif entry.is_file(follow_symlinks=False):
                        kind = FILE
                    else:
                        kind = None
                except OSError:
                    kind = None
                listing.append((entry.name, kind))
        listing.sort(key=lambda e: sort_key(e[0]))
        self._listings[path] = listing
        return listing

    def listdir(self, path):
        return [name for name, _kind in self._listing(path)]

    def read(self, path):
        data = self._data.get(path)
        if data is not None:
            return data
        if self.kind(path) != FILE:
            raise FileNotFoundError("no regular file in %s: %r" % (self.root, path))
        # O_NOFOLLOW: had the file been swapped for a link since the lstat, refuse instead of following.
        fd = os.open(self._full(path), os.O_RDONLY | getattr(os, "O_NOFOLLOW", 0))
        with os.fdopen(fd, "rb") as f:
            data = self._data[path] = f.read()
        return data

    def readlink(self, path):
        target = self._links.get(path)
        if target is not None:
            return target
        if self.kind(path) != LINK:
            raise FileNotFoundError("no symlink in %s: %r" % (self.root, path))
        target = self._links[path] = os.readlink(self._full(path))
        return target

    def walk(self, path=""):
        self._listing(path)  # errors now, not at the first next()
        return self._scan(path)

    def _scan(self, path):
        for name, kind in self._listing(path):
            if kind is None:
                continue
            child = join(path, name)
            yield child, kind
            if kind == DIR:
                yield from self._scan(child)


class MemoryTree(Tree):
    """A tree held in a dict, for tests and examples.

    MemoryTree({"a/model.yaml": b"type: keras", "a/dl.py": ("link", "../x/dl.py"), "empty": ("dir",)})
    Parent directories are implied.
    """

    def __init__(self, entries=None):
        self._kinds = {"": DIR}
        self._data = {}
        self._children = {"": set()}
        for path, value in (entries or {}).items():
            self._add(path, value)

    def _add(self, path, value):
        parts = split(path)
        if not parts:
            raise ValueError("the root of a MemoryTree is always a directory")
        for i in range(1, len(parts)):
            self._ensure_dir("/".join(parts[:i]))
        if isinstance(value, (bytes, bytearray)):
            kind, data = FILE, bytes(value)
        elif isinstance(value, str):
            kind, data = FILE, value.encode()
        elif isinstance(value, tuple) and value[:1] == ("link",) and len(value) == 2:
            kind, data = LINK, value[1]
        elif isinstance(value, tuple) and value == ("dir",):
            self._ensure_dir(path)
            return
        else:
            raise ValueError("MemoryTree entry %r: expected bytes, ('link', target) or ('dir',)" % path)
        if path in self._kinds:
            raise ValueError("MemoryTree entry %r given twice, or both a directory and not" % path)
        self._kinds[path] = kind
        self._data[path] = data
        self._children[parent(path)].add(basename(path))

    def _ensure_dir(self, path):
        kind = self._kinds.get(path)
        if kind == DIR:
            return
        if kind is not None:
            raise ValueError("MemoryTree entry %r is a %s and also has entries below it" % (path, kind))
        self._kinds[path] = DIR
        self._children[path] = set()
        self._children[parent(path)].add(basename(path))

    def kind(self, path):
        split(path)
        return self._kinds.get(path)

    def listdir(self, path):
        kind = self.kind(path)
        if kind is None:
            raise FileNotFoundError(path)
        if kind != DIR:
            raise NotADirectoryError(path)
        return sorted(self._children[path], key=sort_key)

    def read(self, path):
        if self.kind(path) != FILE:
            raise FileNotFoundError(path)
        return self._data[path]

    def readlink(self, path):
        if self.kind(path) != LINK:
            raise FileNotFoundError(path)
        return self._data[path]
