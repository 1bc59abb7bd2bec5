"""A `local` source: a folder on disk, materialised into the store under a digest of its content."""

import errno
import os
import stat
from pathlib import Path

from kipoi_store.errors import KipoiError, UsageError
from kipoi_store.store.user.statcache import stat_key
from kipoi_store.store.core.entries import FileEntry, LinkEntry
from kipoi_store.sources import Resolution, warn_once

RECORD = ("key", "directory", "group", "stats")


def content_key(entries):
    """The snapshot key of a set of entries: the same content gives the same key, wherever it lives."""
    import hashlib  # here only: a warm resolve reads the key from its record

    h = hashlib.sha256()
    for path in sorted(entries):
        e = entries[path]
        if isinstance(e, LinkEntry):
            h.update(b"l %s\0%s\n" % (path.encode("utf-8", "surrogateescape"),
                                       e.target.encode("utf-8", "surrogateescape")))
        else:
            h.update(b"%s %s\0%s\n" % (b"x" if e.executable else b"f",
                                        path.encode("utf-8", "surrogateescape"), e.digest.encode()))
    return "local-" + h.hexdigest()[:40]


def _unchanged(path, key):
    try:
        return stat_key(os.lstat(path)) == key
    except OSError:
        return False


class LocalSource:
    def __init__(self, config, store, statcache, records, warn=None):
        self.name = config.name
        self.warn = warn_once(warn)
        if config.local_path is None:
            raise UsageError("source '%s' (type local) has no local_path" % self.name)
        self.root = Path(config.local_path)
        self._prefix = os.path.join(self.root, "")
        self.store = store
        self.statcache = statcache
        self.records = records
        self._tree = self._memo = None
        self._entries = {}  # path -> (entry, stat key): a file shared by models is hashed once a run

    def _record_key(self, model):
        return ("local", str(self.root), model)

    def _warm(self, model):
        """The earlier resolution of `model`, if nothing it was built from has changed since."""
        record = self.records.get(self._record_key(model), RECORD)
        if record is None:
            return None
        root = self._prefix
        try:
            for path, recorded in record["stats"]:
                try:
                    st = os.lstat(root + path)
                except OSError:
                    return None
                if stat_key(st) != tuple(recorded):
                    return None
            holder = self.store.use(record["key"], model)
        except (TypeError, ValueError, UsageError):  # a damaged record: build it again
            return None
        return None if holder is None else (holder, record)

    def resolve(self, model, ref=None):
        if ref is not None:
            raise UsageError("source '%s' is a local folder: '@%s' names no version of it" % (self.name, ref))
        warm = self._warm(model)
        if warm is None:
            if not self.root.is_dir():
                raise UsageError("source '%s': local_path %s is not a directory" % (self.name, self.root))
            warm = self._materialise(model)
        holder, record = warm
        location = holder.snapshot_location(record["key"], record["directory"])
        return Resolution(source=self.name, model=model, location=location, key=record["key"],
                          group=record["group"])

    def _materialise(self, model):
        from kipoi_store.models import catalog, closure
        from kipoi_store.tree import LocalTree

        # What this run has seen (a LocalTree, the closures' memo, each file's digest) serves every
        # later model, as long as what the model is made of is still as it was seen: the folder may
        # be edited between two resolves of a Session. Then start again from a fresh look.
        for fresh in (self._tree is None, True):
            if fresh:
                self._tree, self._memo, self._entries = LocalTree(self.root), {}, {}
            try:
                ref = catalog.find_model(self._tree, model, source=self.name, warn=self.warn)
                paths = closure.closure(self._tree, ref, source=self.name, memo=self._memo,
                                        warn=self.warn)
                built = self._entries_of(model, ref, paths, check=not fresh)
            except (KipoiError, OSError):
                if fresh:
                    raise
                continue  # perhaps only what was seen before is wrong (a row added since): look again
            if built is not None:
                break
        entries, stats = built
        key = content_key(entries)
        holder = self.store.use(key, model)  # here, or in a site store: used from there
        if holder is None:
            self._add_objects(entries)
            self.store.publish(key, model, entries,
                               info={"directory": ref.directory, "group": ref.group})
            holder = self.store
        record = {"key": key, "directory": ref.directory, "group": ref.group, "stats": stats}
        self.records.put(self._record_key(model), record)
        return holder, record

    def _entries_of(self, model, ref, paths, check):
        """(entries, stats) of the closure `paths`; None, when `check`ing, if any of them (or a
        directory holding them) has changed since this run's tree first looked at it."""
        tree, known, prefix = self._tree, self._entries, self._prefix
        entries, stats = {}, []
        # The stats recorded are the tree's first look at each path, taken before it was listed, read
        # or hashed: whatever changes after, a warm resolve sees as a change.
        for path in paths:
            hit = known.get(path)
            if hit is None:
                st = tree.lstat(path)
                if st is None:
                    raise FileNotFoundError(errno.ENOENT, "vanished while resolving " + model, prefix + path)
                if stat.S_ISLNK(st.st_mode):
                    entry = LinkEntry(tree.readlink(path))
                elif stat.S_ISREG(st.st_mode):
                    entry = FileEntry(self._file_digest(prefix + path, st), bool(st.st_mode & 0o111))
                else:
                    entry = None
                hit = known[path] = (entry, stat_key(st))
            if hit[0] is not None:
                if check and not _unchanged(prefix + path, hit[1]):
                    return None
                entries[path] = hit[0]
                stats.append((path, hit[1]))
        # A directory's stat changes when entries are added or removed: watching the directories that
        # hold the closure is how a warm resolve notices a new file without walking anything.
        for d in sorted({os.path.dirname(p) for p in entries} | {ref.directory}):
            st = tree.lstat(d)
            if st is None:
                raise FileNotFoundError(errno.ENOENT, "vanished while resolving " + model, prefix + d)
            if check and not _unchanged(prefix + d, stat_key(st)):
                return None
            stats.append((d, stat_key(st)))
        return entries, stats

    def _file_digest(self, full, st):
        """The sha256 of file `full` (as `st` saw it), from the user's stat cache when it is still
        as it was. Only hashed, not stored, where a site store may hold the model: a model complete
        there is used in place and costs the user's store nothing; _add_objects stores what is
        published here. Without site stores, hashing and storing are one read."""
        digest = self.statcache.get("sha256", full, st)
        if digest is not None:
            return digest
        if self.store.writable and not self.store.sites:
            digest = self.store.add_file(full, what=full)
        else:
            from kipoi_store.store.core.hashing import sha256_file

            digest = sha256_file(full)
        after = os.lstat(full)
        if stat_key(after) == stat_key(st):  # changed while we read it: learn nothing from this pass
            self.statcache.put("sha256", full, st, digest)
        return digest

    def _add_objects(self, entries):
        """Before publishing in the user's store: each file's object, taken from a site store
        that has it (has_object) or read from the folder, checked against the digest it had."""
        for path, entry in entries.items():
            if isinstance(entry, FileEntry) and not self.store.has_object(entry.digest):
                self.store.add_file(self._prefix + path, expected_sha256=entry.digest,
                                    what=self._prefix + path)

    def list_models(self, prefix=None, ref=None, unusable=None):
        if ref is not None:
            raise UsageError("source '%s' is a local folder: '@%s' names no version of it" % (self.name, ref))
        if not self.root.is_dir():
            raise UsageError("source '%s': local_path %s is not a directory" % (self.name, self.root))
        from kipoi_store.models import catalog
        from kipoi_store.tree import LocalTree

        return catalog.list_models(LocalTree(self.root), prefix, warn=self.warn, source=self.name,
                                   unusable=unusable)
