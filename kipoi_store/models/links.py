"""Following symlinks inside a tree.Tree as the OS would, without ever leaving the tree.

A model source may link anywhere; only what stays inside it can be materialised. Both finding
models (a models.tsv or model.yaml may be a link) and a model's closure resolve paths this way.
"""

from collections import deque

from kipoi_store.errors import UnsafePathError
from kipoi_store.tree import DIR, FILE, LINK, join, parent

MAX_LINK_HOPS = 40          # as Linux's MAXSYMLINKS: a longer chain is treated as a loop


def follow(tree, start, target, origin=None, where=""):
    """Follow `target` from directory `start` as the OS would, one segment at a time.

    Returns (path, kind, links passed through) of what it names, or None when it names nothing
    (dangling, a loop). With `origin` (a symlink being materialised) leaving the tree raises
    UnsafePathError (`where` says in which source); without it (a string from a yaml file) leaving
    the tree just names nothing.
    """
    if target.startswith("/"):
        return outside(origin, origin, target, where)
    todo = deque(target.split("/"))
    here, kind, via, hops = start, DIR, [], 0
    while todo:
        part = todo.popleft()
        if part in ("", "."):
            continue
        if kind != DIR:
            return None  # `file/...`: not a directory
        if part == "..":
            if here == "":
                return outside(origin, via[-1] if via else origin, target, where)
            here = parent(here)
            continue
        candidate = join(here, part)
        kind = tree.kind(candidate)
        if kind == LINK:
            hops += 1
            if hops > MAX_LINK_HOPS:
                return None
            via.append(candidate)
            target = tree.readlink(candidate)
            if target.startswith("/"):
                return outside(origin, candidate, target, where)
            todo.extendleft(reversed(target.split("/")))
            kind = DIR  # resolving continues from the link's own directory
            continue
        if kind is None:
            return None
        here = candidate
    return here, kind, via


def outside(origin, link, target, where=""):
    """`link` (the symlink being materialised, or one its target passes through) leaves the tree:
    UnsafePathError, or None when nothing is being materialised (`origin` is None)."""
    if origin is None:
        return None
    how = ": %r" % target if link == origin else " through symlink '%s' -> %r" % (link, target)
    raise UnsafePathError("symlink '%s'%s points outside the source%s; refusing to follow it"
                          % (origin, where, how))


def lexically_outside(directory, target):
    """Whether `target`, read from a link in `directory`, climbs above the root by its text alone."""
    if target.startswith("/"):
        return True
    depth = len(directory.split("/")) if directory else 0
    for part in target.split("/"):
        if part == "..":
            depth -= 1
            if depth < 0:
                return True
        elif part not in ("", "."):
            depth += 1
    return False


def read_following(tree, path):
    """The bytes of `path`, following symlinks inside the tree; None if there is no such file."""
    kind = tree.kind(path)
    if kind == FILE:
        return tree.read(path)
    if kind != LINK:
        return None
    found = follow(tree, parent(path), tree.readlink(path))
    if found is None or found[1] != FILE:
        return None
    return tree.read(found[0])
