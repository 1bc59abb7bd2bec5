"""What a snapshot is made of, and the rules it must obey before anything is written.

A snapshot is described as {relative posix path: FileEntry | LinkEntry}: a file is an object's
digest (plus whether it is executable), a link a relative target. Every path must stay inside the
snapshot and every link must resolve inside it, as the kernel would follow it. Pure: no file system.
"""

from collections import namedtuple

from kipoi_store.errors import UnsafePathError, UsageError

FileEntry = namedtuple("FileEntry", "digest executable", defaults=(False,))
LinkEntry = namedtuple("LinkEntry", "target")

MAX_SYMLINK_HOPS = 40  # as the kernel's ELOOP limit

def check_relpath(path, what="path"):
    """Raise UnsafePathError unless `path` is a plain relative posix path: no absolute, `..`, `.`,
    empty segment or NUL (the shapes that could land outside a snapshot or alias another path)."""
    if not isinstance(path, str) or not path:
        raise UnsafePathError("%s %r: empty or not a string" % (what, path))
    if "\0" in path:
        raise UnsafePathError("%s %r: contains NUL" % (what, path))
    if path.startswith("/"):
        raise UnsafePathError("%s %r: absolute path" % (what, path))
    for segment in path.split("/"):
        if segment in ("", ".", ".."):
            raise UnsafePathError("%s %r: has an empty, '.' or '..' segment" % (what, path))


def check_entries(entries):
    """Validate a whole snapshot description (see Store.publish); returns nothing, raises
    UnsafePathError naming the first bad path or link."""
    dirs = set()
    for path, entry in entries.items():
        check_relpath(path)
        if not isinstance(entry, (FileEntry, LinkEntry)):
            raise UsageError("path %r: entry must be a FileEntry or LinkEntry, not %r" % (path, entry))
        parts = path.split("/")
        for i in range(1, len(parts)):
            dirs.add("/".join(parts[:i]))
    for path in entries:
        if path in dirs:
            # A file or link that is also a parent: writing below a symlink would follow it.
            raise UnsafePathError("path %r: is both a directory and a %s" % (
                path, "symlink" if isinstance(entries[path], LinkEntry) else "file"))
    for path, entry in entries.items():
        if isinstance(entry, LinkEntry):
            resolve_link(path, entries, dirs)


def resolve_link(path, entries, dirs=None):
    """Where symlink `path` points, as a list of segments from the snapshot root, following the
    other links of `entries` as the kernel would. Raises UnsafePathError naming the link when the
    target is absolute, climbs above the root, or climbs (`..`) out of something that is not
    known to be a directory of the snapshot (it could be another link in a tree merged later)."""
    if dirs is None:
        dirs = {"/".join(p.split("/")[:i]) for p in entries for i in range(1, p.count("/") + 1)}
    target = entries[path].target
    if not isinstance(target, str) or not target or "\0" in target:
        raise UnsafePathError("symlink %s: empty or invalid target %r" % (path, target))
    if target.startswith("/"):
        raise UnsafePathError("symlink %s -> %s: absolute target, refused" % (path, target))
    hops = [0]

    def walk(stack, target):
        for segment in target.split("/"):
            if segment in ("", "."):
                continue
            if segment == "..":
                if not stack:
                    raise UnsafePathError("symlink %s -> %s: points outside the snapshot, refused"
                                          % (path, entries[path].target))
                if "/".join(stack) not in dirs:
                    raise UnsafePathError("symlink %s -> %s: climbs out of %s, which is not a "
                                          "directory of the snapshot, refused"
                                          % (path, entries[path].target, "/".join(stack)))
                stack.pop()
                continue
            stack.append(segment)
            entry = entries.get("/".join(stack))
            if isinstance(entry, LinkEntry):
                hops[0] += 1
                if hops[0] > MAX_SYMLINK_HOPS:
                    raise UnsafePathError("symlink %s: too many levels of symlinks" % path)
                stack.pop()
                stack = walk(stack, entry.target)
        return stack

    return walk(path.split("/")[:-1], target)
