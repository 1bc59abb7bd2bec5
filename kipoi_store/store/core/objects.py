"""ObjectStore: the store's objects/, every content once, named by its sha256 and read-only.

    objects/sha256/ab/<64 hex>[.x]   `.x`: the 0555 variant; a hardlink shares its inode's mode,
                                     so an executable needs its own inode

Content is hashed while it is written to a tmp/ file, checked against what the caller expected,
and only then renamed into place: an object exists only once its bytes are known to match its name.
Store (store.py) extends this with snapshots and manifests.
"""

import errno
import os
import re
from pathlib import Path

from kipoi_store.errors import IntegrityError, KipoiError, UsageError
from kipoi_store.store.core import hashing
from kipoi_store.store.core import staging
from kipoi_store.store.core.staging import TMP_MAX_AGE, discard_file, remove_path

SHARED_FILE = "shared"
SHARED_MODES = ("group",)
_OBJECT_NAME = re.compile(r"([0-9a-f]{64})(\.x)?")
# os.link failures that mean "this file cannot be linked here", not "something is broken":
# too many links (ext4 caps an inode at 65000), protected_hardlinks, another device, no support.
LINK_REFUSALS = {errno.EMLINK, errno.EPERM, errno.EACCES, errno.EXDEV, errno.ENOTSUP,
                 errno.EOPNOTSUPP}


def _read_only(path):
    try:
        return bool(os.statvfs(path).f_flag & os.ST_RDONLY)
    except OSError:
        return False


# A failed write() (a full disk, say) names no file: these errors get the path being written.
_WRITE_ERRORS = {errno.ENOSPC, errno.EDQUOT, errno.EFBIG, errno.EROFS, errno.EIO, errno.EACCES,
                 errno.EPERM}


def named(exc, path):
    """Give OSError `exc` the file `path` if it is a write failure that names none."""
    if exc.filename is None and exc.errno in _WRITE_ERRORS:
        exc.filename = str(path)


def _put(tmp, target):
    """Make file `tmp` the object `target`, never replacing one that is there: a concurrent
    publisher may be linking that very object, and a rename over it fails its link (ENOENT: the
    inode it looked up lost its last name). A link adds the name only where there is none; where
    links are refused, a rename is the only way (readers then open, which has no such race)."""
    try:
        os.link(tmp, target)
    except FileExistsError:
        pass  # the same bytes, put there first by someone else
    except OSError as exc:
        if exc.errno not in LINK_REFUSALS:
            raise
        os.replace(tmp, target)
        return
    discard_file(tmp)


class ObjectStore:
    def __init__(self, root):
        self.root = Path(os.path.abspath(os.path.expanduser(str(root))))  # printed paths are absolute
        self.objects_dir = self.root / "objects" / "sha256"
        self._objects_str = None
        self.tmp_dir = self.root / "tmp"
        self.sites = ()  # read-only stores behind this one, searched in order (see has_object)
        self._unwritable = None  # why we cannot write here ("" when we can), once asked

    def object_path(self, digest, executable=False) -> Path:
        return Path(self.object_str(digest, executable))

    def object_str(self, digest, executable=False) -> str:
        """object_path as a plain string: a batch asks for tens of thousands of them."""
        if not hashing.is_sha256(digest):
            raise UsageError("not a sha256 digest: %r" % (digest,))
        if self._objects_str is None:
            self._objects_str = str(self.objects_dir)
        return "%s/%s/%s%s" % (self._objects_str, digest[:2], digest, ".x" if executable else "")

    def has_object(self, digest) -> bool:
        """Whether object `digest` is here, or was just brought here from a site store."""
        if not hashing.is_sha256(digest):
            return False
        if os.path.isfile(self.object_str(digest)):
            return True
        return any(self._take_from(site, digest) for site in self.sites)

    def _take_from(self, site, digest):
        """Bring object `digest` from read-only store `site`: a hardlink (its bytes checked first),
        or a verified copy where the link is refused (another device, protected_hardlinks). A site
        object that is missing, unreadable or damaged is not taken: the origin is asked instead."""
        src = site.object_path(digest)
        if not os.path.isfile(src):
            return False
        target = self.object_path(digest)
        try:
            if hashing.sha256_file(src) != digest:
                return False
            target.parent.mkdir(parents=True, exist_ok=True)
            os.link(src, target)
            return True
        except FileExistsError:
            return True
        except OSError as exc:
            if exc.errno not in LINK_REFUSALS:
                return False
        try:
            self.add_file(src, expected_sha256=digest, what="%s in site store %s" % (digest, site.root))
        except (OSError, IntegrityError):
            return False
        return True

    # --------------------------------------------------------------------------------- adding

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
            discard_file(tmp)
            return digest
        staging.sync_file(tmp)  # on disk before anything names it (README: Durability)
        os.chmod(tmp, 0o444)
        target.parent.mkdir(parents=True, exist_ok=True)
        _put(tmp, target)
        return digest

    def add_file(self, src, expected_sha256=None, expected_size=None, move=False, what=None) -> str:
        """Add the content of file `src`; returns its sha256. With move=True `src` (best in tmp/)
        becomes the object, or is deleted: it never survives a failed check."""
        what = what or str(src)
        if move:
            try:
                digest = self._check(hashing.hash_file(src), expected_sha256, expected_size, what)
            except BaseException:
                discard_file(src)
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
                discard_file(src)
        known = str(expected_sha256).lower() if expected_sha256 is not None else None
        if hashing.is_sha256(known) and os.path.isfile(self.object_path(known)):
            # Already stored: only confirm the claim, no need to write a second copy.
            return self._check(hashing.hash_file(src), expected_sha256, expected_size, what)
        with open(src, "rb") as f:
            return self._add_written("add", lambda out: hashing.copy_hashing(f, out),
                                     expected_sha256, expected_size, what)

    def add_bytes(self, data, expected_sha256=None, what=None) -> str:
        hasher = hashing.Hasher()
        hasher.update(data)
        digest = self._check(hasher, expected_sha256, None, what or "data")
        if self.has_object(digest):
            return digest
        return self._through_tmp("bytes", lambda out: out.write(data),
                                 lambda tmp, _: self._commit(tmp, digest))

    def add_stream(self, chunks, expected_sha256=None, expected_size=None, what=None) -> str:
        return self._add_written("stream", lambda out: hashing.write_hashing(chunks, out),
                                 expected_sha256, expected_size, what or "stream")

    def _add_written(self, hint, write, expected_sha256, expected_size, what):
        """Add what `write(out)` writes (it returns the Hasher that saw the bytes), once checked."""
        return self._through_tmp(hint, write, lambda tmp, hasher: self._commit(
            tmp, self._check(hasher, expected_sha256, expected_size, what)))

    def _through_tmp(self, hint, write, finish):
        """`finish(tmp, write(out))` for a fresh tmp/ file written by `write`: the one way a file
        enters the store. The tmp/ file goes whatever fails; a write failure names it."""
        tmp = self.new_tmp_path(hint)
        try:
            with open(tmp, "xb") as out:
                written = write(out)
            return finish(tmp, written)
        except OSError as exc:
            named(exc, tmp)
            raise
        finally:
            discard_file(tmp)

    # --------------------------------------------------------------------------------- copies

    def _copy_object(self, digest, dst, executable):
        """Copy object `digest` to `dst` (mode 0555 or 0444), checking its bytes on the way."""
        try:
            with open(self.object_path(digest), "rb") as f, open(dst, "xb") as out:
                hasher = hashing.copy_hashing(f, out)
        except OSError as exc:
            named(exc, dst)  # a full disk names no file
            raise
        staging.sync_file(dst)  # a copy is not the object's inode: its own flush
        if hasher.hexdigest() != digest:
            discard_file(dst)
            raise IntegrityError("object %s is damaged (run 'kipoi store verify --repair')" % digest)
        os.chmod(dst, 0o555 if executable else 0o444)

    def _ensure_executable(self, digest):
        target = self.object_path(digest, executable=True)
        if target.is_file():
            return
        tmp = self.new_tmp_path("exec")
        try:
            self._copy_object(digest, tmp, executable=True)
            _put(tmp, target)
        finally:
            discard_file(tmp)

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

    # ------------------------------------------------------------------------------------ tmp

    def new_tmp_path(self, hint="") -> Path:
        """A fresh name under tmp/ (nothing is created there). The name carries our pid and host, so
        clean_tmp can tell a dead process's leftovers from a live one's work."""
        self.require_writable()
        return self.tmp_dir / staging.new_name(hint)

    def require_writable(self):
        """KipoiError, saying why, unless we can add to this store."""
        if not self.writable:
            raise KipoiError("cannot write to the store %s (%s): what is complete in it still "
                             "resolves; anything else needs a store you can write (KIPOI_STORE)"
                             % (self.root, self._unwritable))

    @property
    def writable(self):
        """Whether we can add to this store (asked once: a read-only mount, another user's store).
        In a group-shared store, it also makes what this process creates from now on readable
        and writable by the group, whatever the umask was: the umask is process-wide, and every
        file a command creates is either in this store or in the user's private cache dir, whose
        modes are explicit."""
        if self._unwritable is None:
            if self.shared_mode() == "group":
                os.umask(os.umask(0) & ~0o070)
            try:
                self.tmp_dir.mkdir(parents=True, exist_ok=True)
                self._unwritable = "" if os.access(self.tmp_dir, os.W_OK | os.X_OK) else \
                    os.strerror(errno.EROFS if _read_only(self.tmp_dir) else errno.EACCES)
            except OSError as exc:
                self._unwritable = exc.strerror or str(exc)
        return not self._unwritable

    def shared_mode(self):
        """What `kipoi store init --shared` recorded in the store ("group"), or None."""
        try:
            with open(self.root / SHARED_FILE, encoding="ascii") as f:
                mode = f.read().strip()
        except (OSError, UnicodeDecodeError):
            return None
        return mode if mode in SHARED_MODES else None

    def _write_atomic(self, path, data):
        """Write `path` through tmp/ (not staging.write_atomic's file beside it): a killed writer's
        leftover is then one clean_tmp removes, never a stray among manifests."""
        def finish(tmp, _written):
            staging.sync_file(tmp)
            os.replace(tmp, path)

        self._through_tmp("write", lambda out: out.write(data), finish)

    def clean_tmp(self, max_age=TMP_MAX_AGE):
        """Remove tmp/ entries whose owner died on this host, or that are older than `max_age`
        seconds and not owned by a live process here; returns the paths removed."""
        removed = []
        for path in staging.stale_entries(self.tmp_dir, max_age):
            try:
                self.remove_tmp_entry(path)
            except OSError:
                continue  # left for a later clean (a publish is not the place to fail for it)
            removed.append(path)
        return removed

    def remove_tmp_entry(self, path):
        """Remove stale tmp/ entry `path` (its owner is gone), first undoing what it stood for:
        gc and clean_tmp remove them this way."""
        self._settle(path)
        remove_path(path)

    def _settle(self, path):
        """Called for each stale tmp/ entry before it goes (Store undoes a killed publish here)."""
