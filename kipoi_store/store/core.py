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
    cache/                           other modules' diskcache databases

Correctness never rests on a lock: every change becomes visible through one rename of something
complete (an object, a directory subtree, a manifest), so a process killed at any moment leaves
at most garbage in tmp/ (see clean_tmp) and never a half-written file where a reader looks.
Nothing here prints.
"""

from __future__ import annotations  # annotations stay strings: no typing import

import errno
import json
import os
import re
import stat
import time
from collections import namedtuple
from collections.abc import Mapping
from pathlib import Path

from kipoi_store.store import hashing
from kipoi_store import paths
from kipoi_store.errors import IntegrityError, UnsafePathError, UsageError

FileEntry = namedtuple("FileEntry", "digest executable", defaults=(False,))
LinkEntry = namedtuple("LinkEntry", "target")

LINK_MODES = ("hardlink", "copy")
# Objects this young are never collected: a concurrent resolve may have added them and be about to
# publish. Linking an object into a snapshot updates its ctime, so "young" covers recent use too.
GRACE_SECONDS = 3600
TMP_MAX_AGE = 86400
MAX_SYMLINK_HOPS = 40  # as the kernel's ELOOP limit

_KEY = re.compile(r"[0-9a-f]{40}|[0-9a-f]{64}|local-[0-9a-f]{8,64}")
_OBJECT_NAME = re.compile(r"([0-9a-f]{64})(\.x)?")
_UNSAFE_NAME_CHARS = re.compile(r"[^A-Za-z0-9_.+-]")
# os.link failures that mean "this file cannot be linked here", not "something is broken":
# too many links (ext4 caps an inode at 65000), protected_hardlinks, another device, no support.
_LINK_REFUSALS = {errno.EMLINK, errno.EPERM, errno.EACCES, errno.EXDEV, errno.ENOTSUP,
                  errno.EOPNOTSUPP}


def _host():
    return _UNSAFE_NAME_CHARS.sub("_", os.uname().nodename or "localhost")[:64]


HOST = _host()


# ---------------------------------------------------------------------------------------- paths

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


def _manifest_filename(name):
    encoded = name.replace("%", "%25").replace("/", "%2F")
    if len(encoded.encode("utf-8", "surrogateescape")) > 200:  # file names stop at 255 bytes
        encoded = encoded[:100] + "~" + hashing.sha256_bytes(
            name.encode("utf-8", "surrogateescape"))[:32]
    return encoded + ".json"


# ------------------------------------------------------------------------------------ removing

def remove_path(path):
    """Delete a file, link or whole tree, making read-only directories writable as needed; a path
    that is already gone is fine."""
    path = str(path)
    try:
        st = os.lstat(path)
    except FileNotFoundError:
        return
    if not stat.S_ISDIR(st.st_mode):
        try:
            os.unlink(path)
        except PermissionError:
            os.chmod(os.path.dirname(path) or ".", 0o755)
            os.unlink(path)
        except FileNotFoundError:
            pass
        return

    def retry(func, p, exc_info):
        if isinstance(exc_info[1], FileNotFoundError):
            return
        os.chmod(os.path.dirname(p) or ".", 0o755)
        if os.path.isdir(p) and not os.path.islink(p):
            os.chmod(p, 0o755)
        func(p)

    import shutil  # only when something is deleted: keeps the warm path's imports small

    shutil.rmtree(path, onerror=retry)


def _unlink_quiet(path):
    try:
        os.unlink(path)
    except FileNotFoundError:
        pass


def tmp_owner(name):
    """(pid, host) encoded in a tmp/ entry name, or None for a name we did not make."""
    parts = name.split("@")
    if len(parts) < 3 or not parts[0].isdigit():
        return None
    return int(parts[0]), parts[1]


def _owner_dead(name):
    """True only when we can tell: the owner ran on this host and no such process exists now."""
    owner = tmp_owner(name)
    if owner is None or owner[1] != HOST:
        return False
    try:
        os.kill(owner[0], 0)
    except ProcessLookupError:
        return True
    except PermissionError:  # alive, another user's
        return False
    return False


# ---------------------------------------------------------------------------------------- store

class Store:
    def __init__(self, root):
        self.root = Path(os.path.abspath(os.path.expanduser(str(root))))  # printed paths are absolute
        self.objects_dir = self.root / "objects" / "sha256"
        self.snapshots_dir = self.root / "snapshots"
        self._snapshots = str(self.snapshots_dir)
        self.tmp_dir = self.root / "tmp"
        self.manifests_dir = self.root / "manifests"
        self._manifests = str(self.manifests_dir)
        self.cache_dir = self.root / "cache"
        self._link_mode = None
        self._tmp_cleaned = False

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
            _unlink_quiet(probe)
            _unlink_quiet(str(probe) + "-link")

    # -------------------------------------------------------------------------------- objects

    def object_path(self, digest, executable=False) -> Path:
        if not hashing.is_sha256(digest):
            raise UsageError("not a sha256 digest: %r" % (digest,))
        return self.objects_dir / digest[:2] / (digest + (".x" if executable else ""))

    def has_object(self, digest) -> bool:
        return hashing.is_sha256(digest) and os.path.isfile(self.object_path(digest))

    def new_tmp_path(self, hint="") -> Path:
        """A fresh name under tmp/ (nothing is created there). The name carries our pid and host, so
        clean_tmp can tell a dead process's leftovers from a live one's work."""
        self.tmp_dir.mkdir(parents=True, exist_ok=True)
        name = "%d@%s@%s" % (os.getpid(), HOST, os.urandom(8).hex())
        if hint:
            name += "@" + _UNSAFE_NAME_CHARS.sub("_", hint)[:48]
        return self.tmp_dir / name

    @staticmethod
    def _check(hasher, expected_sha256, expected_size, what):
        if expected_size is not None and hasher.size != int(expected_size):
            raise IntegrityError("%s: expected %d bytes, got %d" % (what, int(expected_size),
                                                                     hasher.size))
        digest = hasher.hexdigest()
        if expected_sha256 is not None and digest != str(expected_sha256).lower():
            raise IntegrityError("%s: sha256 mismatch, expected %s, got %s"
                                 % (what, expected_sha256, digest))
        return digest

    def commit_verified(self, tmp, digest):
        """Make file `tmp` under tmp/, whose sha256 the caller computed while writing it, the object
        `digest` (or drop it when that object exists). Saves re-reading a download to hash it."""
        if not hashing.is_sha256(digest):
            raise IntegrityError("not a sha256 digest: %r" % (digest,))
        return self._commit(tmp, digest)

    def _commit(self, tmp, digest):
        """Make verified file `tmp` the object `digest` (or drop it when that object exists)."""
        target = self.object_path(digest)
        if target.is_file():
            _unlink_quiet(tmp)
            return digest
        os.chmod(tmp, 0o444)
        target.parent.mkdir(parents=True, exist_ok=True)
        os.replace(tmp, target)  # identical bytes if someone beat us to it: harmless
        return digest

    def add_file(self, src, expected_sha256=None, expected_size=None, move=False, what=None) -> str:
        """Add the content of file `src`; returns its sha256. With move=True `src` (best in tmp/)
        becomes the object, or is deleted: it never survives a failed check."""
        what = what or str(src)
        if move:
            try:
                digest = self._check(hashing.hash_file(src), expected_sha256, expected_size, what)
            except BaseException:
                _unlink_quiet(src)
                raise
            try:
                return self._commit(src, digest)
            except OSError as exc:
                if exc.errno != errno.EXDEV:
                    raise
            # Another filesystem: fall through to a verified copy, then drop the source.
            try:
                return self.add_file(src, digest, expected_size, what=what)
            finally:
                _unlink_quiet(src)
        if expected_sha256 is not None and self.has_object(str(expected_sha256).lower()):
            # Already stored: only confirm the claim, no need to write a second copy.
            return self._check(hashing.hash_file(src), expected_sha256, expected_size, what)
        tmp = self.new_tmp_path("add")
        try:
            with open(src, "rb") as f, open(tmp, "xb") as out:
                hasher = hashing.copy_hashing(f, out)
            digest = self._check(hasher, expected_sha256, expected_size, what)
            return self._commit(tmp, digest)
        finally:
            _unlink_quiet(tmp)

    def add_bytes(self, data, expected_sha256=None, what=None) -> str:
        hasher = hashing.Hasher()
        hasher.update(data)
        digest = self._check(hasher, expected_sha256, None, what or "data")
        if self.has_object(digest):
            return digest
        tmp = self.new_tmp_path("bytes")
        try:
            with open(tmp, "xb") as out:
                out.write(data)
            return self._commit(tmp, digest)
        finally:
            _unlink_quiet(tmp)

    def add_stream(self, chunks, expected_sha256=None, expected_size=None, what=None) -> str:
        tmp = self.new_tmp_path("stream")
        try:
            with open(tmp, "xb") as out:
                hasher = hashing.write_hashing(chunks, out)
            digest = self._check(hasher, expected_sha256, expected_size, what or "stream")
            return self._commit(tmp, digest)
        finally:
            _unlink_quiet(tmp)

    def _copy_object(self, digest, dst, executable):
        """Copy object `digest` to `dst` (mode 0555 or 0444), checking its bytes on the way."""
        with open(self.object_path(digest), "rb") as f, open(dst, "xb") as out:
            hasher = hashing.copy_hashing(f, out)
        if hasher.hexdigest() != digest:
            _unlink_quiet(dst)
            raise IntegrityError("object %s is damaged (run 'kipoi store verify --repair')" % digest)
        os.chmod(dst, 0o555 if executable else 0o444)

    def _ensure_executable(self, digest):
        target = self.object_path(digest, executable=True)
        if target.is_file():
            return
        tmp = self.new_tmp_path("exec")
        try:
            self._copy_object(digest, tmp, executable=True)
            os.replace(tmp, target)
        finally:
            _unlink_quiet(tmp)

    # ------------------------------------------------------------------------------ snapshots

    @staticmethod
    def check_key(key):
        if not isinstance(key, str) or not _KEY.fullmatch(key):
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
        return self.manifests_dir / self.check_key(key) / _manifest_filename(name)

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

    def use(self, key, name) -> bool:
        """Whether model `name` is completely published under `key`, recording the use for gc's
        --keep-days. The cheap check a warm resolve makes (the manifest is written last)."""
        key = self.check_key(key)
        if not isinstance(name, str) or not name or "\0" in name:
            raise UsageError("not a model name: %r" % (name,))
        # Plain strings, not Path objects: this runs once per spec, a thousand times per batch.
        try:
            os.utime("%s/%s/%s" % (self._manifests, key, _manifest_filename(name)))
        except (FileNotFoundError, NotADirectoryError):
            return False
        return os.path.isdir("%s/%s" % (self._snapshots, key))

    def touch(self, key, name):
        try:
            os.utime(self.manifest_path(key, name))
        except FileNotFoundError:
            pass

    def publish(self, key, name, entries: Mapping) -> Path:
        """Make `entries` ({relative path: FileEntry | LinkEntry}) visible under snapshot_root(key)
        and record model `name` as complete there. Safe against concurrent publishers of the same
        or overlapping trees: what exists already is kept."""
        root = self.snapshot_root(key)
        manifest_path = self.manifest_path(key, name)
        entries = dict(entries)
        check_entries(entries)
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
        for _attempt in range(3):
            staging = self.new_tmp_path("publish")
            try:
                self._build(staging, entries)
                self._staged(staging)
                self._merge(staging, root, key, "")
            finally:
                remove_path(staging)
            # A concurrent gc may have moved the tree away under us: publish again.
            missing = [p for p in entries if not os.path.lexists(root / p)]
            if not missing:
                break
        else:
            raise IntegrityError("snapshot %s: %s vanished while publishing %s (a concurrent gc?)"
                                 % (key, missing[0], name))
        doc = {"name": name, "key": key,
               "files": {p: ("->" + e.target if isinstance(e, LinkEntry) else e.digest)
                         for p, e in sorted(entries.items())},
               "executable": sorted(p for p, e in entries.items()
                                    if isinstance(e, FileEntry) and e.executable),
               "published": time.time()}
        manifest_path.parent.mkdir(parents=True, exist_ok=True)
        self._write_atomic(manifest_path, json.dumps(doc, indent=1, sort_keys=True).encode())
        return root

    def _staged(self, staging):
        """Called between building the tree in tmp/ and merging it: a seam for crash tests."""

    def _build(self, staging, entries):
        os.mkdir(staging, 0o755)
        hardlink = self.link_mode == "hardlink"
        made = {""}
        for path in sorted(entries):
            entry = entries[path]
            parent = os.path.dirname(path)
            if parent not in made:
                os.makedirs(os.path.join(staging, parent), 0o755, exist_ok=True)
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
                    if exc.errno not in _LINK_REFUSALS:
                        raise
            self._copy_object(entry.digest, dst, entry.executable)

    def _merge(self, src, dst, key, rel):
        """Move tree `src` into `dst`: whatever is missing arrives by one rename (complete), existing
        directories are merged into, existing files and links are kept (same content)."""
        try:
            st = os.lstat(dst)
        except FileNotFoundError:
            try:
                os.rename(src, dst)
                return
            except OSError as exc:  # appeared meanwhile: merge into what is there now
                if exc.errno not in (errno.EEXIST, errno.ENOTEMPTY, errno.EISDIR, errno.ENOTDIR):
                    raise
            st = os.lstat(dst)
        mine = os.lstat(src)
        if stat.S_ISDIR(mine.st_mode) and stat.S_ISDIR(st.st_mode):
            for name in sorted(os.listdir(src)):
                self._merge(os.path.join(src, name), os.path.join(dst, name), key,
                            name if not rel else rel + "/" + name)
            return
        if stat.S_IFMT(mine.st_mode) == stat.S_IFMT(st.st_mode):
            return
        kinds = {stat.S_IFDIR: "directory", stat.S_IFREG: "file", stat.S_IFLNK: "symlink"}
        raise IntegrityError("snapshot %s: %s is a %s in the store but a %s in what is published"
                             % (key, rel or ".", kinds.get(stat.S_IFMT(st.st_mode), "special file"),
                                kinds.get(stat.S_IFMT(mine.st_mode), "special file")))

    def _write_atomic(self, path, data):
        tmp = self.new_tmp_path("write")
        try:
            with open(tmp, "xb") as f:
                f.write(data)
            os.replace(tmp, path)
        finally:
            _unlink_quiet(tmp)

    # ---------------------------------------------------------------------------- enumerating

    def iter_objects(self):
        """(digest, executable, path) for every object, and (None, None, path) for stray files."""
        try:
            fans = sorted(os.listdir(self.objects_dir))
        except FileNotFoundError:
            return
        for fan in fans:
            folder = self.objects_dir / fan
            if not folder.is_dir():
                yield None, None, folder
                continue
            for name in sorted(os.listdir(folder)):
                m = _OBJECT_NAME.fullmatch(name)
                if m and name[:2] == fan:
                    yield m.group(1), bool(m.group(2)), folder / name
                else:
                    yield None, None, folder / name

    def keys(self):
        """Every snapshot key with a snapshot tree or manifests, sorted."""
        found = set()
        for folder in (self.snapshots_dir, self.manifests_dir):
            try:
                found.update(k for k in os.listdir(folder) if _KEY.fullmatch(k))
            except FileNotFoundError:
                pass
        return sorted(found)

    def manifest_files(self, key):
        folder = self.manifests_dir / self.check_key(key)
        try:
            return sorted(folder / n for n in os.listdir(folder) if n.endswith(".json"))
        except FileNotFoundError:
            return []

    # ------------------------------------------------------------------------------ tmp clean

    def clean_tmp(self, max_age=TMP_MAX_AGE):
        """Remove tmp/ entries whose owner died on this host, or that are older than `max_age`
        seconds and not owned by a live process here; returns the paths removed."""
        removed = []
        for path in self.stale_tmp(max_age):
            remove_path(path)
            removed.append(path)
        return removed

    def stale_tmp(self, max_age=TMP_MAX_AGE):
        try:
            names = sorted(os.listdir(self.tmp_dir))
        except FileNotFoundError:
            return []
        now = time.time()
        stale = []
        for name in names:
            path = self.tmp_dir / name
            if _owner_dead(name):
                stale.append(path)
                continue
            owner = tmp_owner(name)
            if owner is not None and owner[1] == HOST:
                continue  # a live process of this host is still working on it
            try:
                age = now - os.lstat(path).st_mtime
            except FileNotFoundError:
                continue
            if age > max_age:
                stale.append(path)
        return stale

    # ------------------------------------------------------------------- maintenance (storegc)

    def verify(self, repair=False):
        from kipoi_store.store.maintenance import verify
        return verify(self, repair=repair)

    def gc_plan(self, keep_keys, keep_days):
        from kipoi_store.store.maintenance import gc_plan
        return gc_plan(self, keep_keys, keep_days)

    def gc_execute(self, plan) -> int:
        from kipoi_store.store.maintenance import gc_execute
        return gc_execute(self, plan)

    def info(self):
        from kipoi_store.store.maintenance import info
        return info(self)
