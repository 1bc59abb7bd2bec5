"""Importing a bundle (a tar from `kipoi store export -o`) or a mirror directory into the store.

    done = import_bundle(store, "models.tar")      # or a mirror directory, or "-" for stdin
    done.published, done.present                   # models added, models the store already had

Two phases, so a damaged bundle leaves the store as it was: first every entry is checked (its name,
its type, its declared size) and every object is hashed into a private staging directory under
tmp/; any problem raises IntegrityError naming the entry and the models that use it, and the
staging directory goes. Only then is each model published (objects by rename, then the snapshot,
then its manifest): all or nothing per model, and a model the store has is left untouched. Last,
the bundle's md5 index goes into the user's (store/user/md5index.py), each entry whose object the store
now holds and whose bytes were seen to have that md5: a later model naming the same remote file
(by URL and md5) finds it without a download.
"""

import os
import tarfile

from kipoi_store.errors import IntegrityError, UnsafePathError, UsageError
from kipoi_store.store.core import hashing
from kipoi_store.dist import layout as fmt
from kipoi_store.store.core.entries import check_relpath
from kipoi_store.store.user.records import user_records
from kipoi_store.store.core.objects import named
from kipoi_store.store.core.staging import discard

SMALL_MAX = 16 << 20  # a header, manifest or index entry larger than this is not ours


class Imported:
    def __init__(self):
        self.published = []  # "model NAME at KEY" labels
        self.present = []
        self.objects = 0     # objects added to the store


class _Staged:
    """What phase one found: verified objects in `root`, and the manifests."""

    def __init__(self, root, where):
        self.root = root
        self.where = where
        self.objects = {}  # digest -> staged path
        self.docs = []
        self.md5 = {}  # md5 -> sha256, as the bundle's index says (checked before it is used)

    def fail(self, entry, why, digest=None):
        users = sorted(d.label() for d in self.docs if digest in d.sizes) if digest else []
        raise IntegrityError("bundle %s: entry %s: %s%s; nothing was imported"
                             % (self.where, entry, why, " (used by %s)" % ", ".join(users) if users else ""))


def import_bundle(store, source):
    """Import every model of tar bundle or mirror directory `source` ("-": a tar on stdin)."""
    where = "-" if source == "-" else os.path.abspath(os.path.expanduser(str(source)))
    staging = store.new_tmp_path("import")
    os.mkdir(staging, 0o700)
    try:
        staged = _Staged(str(staging), where)
        if where != "-" and os.path.isdir(where):
            _stage_dir(store, staged)
        else:
            _stage_tar(store, staged)
        _check_complete(store, staged)
        done = _publish(store, staged)
        _index_md5(store, staged)
        return done
    finally:
        discard(staging)  # a failure to delete our staging is not the import's (clean_tmp's)


# -- phase one: a tar ------------------------------------------------------------------------------

def _stage_tar(store, staged):
    import sys

    if staged.where == "-":
        fileobj, tar_path = sys.stdin.buffer, None
    else:
        if not os.path.exists(staged.where):
            raise UsageError("bundle %s: no such file or directory" % staged.where)
        fileobj, tar_path = None, staged.where
    declared = None
    last = "(the start)"
    seen = set()
    bad = None  # the first damaged object, reported once the manifests naming it are known
    try:
        with tarfile.open(tar_path, mode="r|*", fileobj=fileobj) as tar:
            for member in tar:
                name = member.name
                kind = _check_member(staged, member, declared)
                if kind == "header":
                    declared = _read_header(staged, tar, member)
                    last = name
                    continue
                if declared is None:
                    staged.fail(name, "comes before %s: not a bundle made by 'kipoi store export'"
                                % fmt.BUNDLE_HEADER)
                kind, value = kind
                if kind == "object":
                    if bad is None and value not in staged.objects:
                        why = _stage_object(store, staged, value, tar.extractfile(member), member.size)
                        if why:
                            bad = (name, why, value)
                else:
                    _read_small(staged, kind, value, name, tar.extractfile(member).read(member.size))
                last = name
                seen.add(name)
    except (tarfile.TarError, EOFError, OSError) as exc:
        if isinstance(exc, OSError) and not isinstance(exc, EOFError):
            if exc.filename is None and tar_path is not None and not isinstance(
                    exc, tarfile.TarError):
                exc.filename = tar_path  # reading the bundle failed (writes name their file)
            if exc.filename:
                raise
        staged.fail(last + " (the last good one)", "the bundle is truncated or not a tar (%s)" % exc)
    if bad is not None:
        staged.fail(*bad)
    if declared is None:
        staged.fail(fmt.BUNDLE_HEADER, "missing: not a bundle made by 'kipoi store export'")
    missing = sorted(set(declared) - seen)
    if missing:
        # tar ends at any block boundary: a bundle cut there reads as a shorter, valid tar.
        staged.fail(missing[0], "declared but missing: the bundle is truncated (after entry %s)" % last)


def _check_member(staged, member, declared):
    """Refuse what could write outside staging, or more than the bundle said it holds."""
    name = member.name
    try:
        check_relpath(name, "name")
    except UnsafePathError as exc:
        staged.fail(name, "unsafe name (%s), refused" % str(exc).split(": ", 1)[-1])
    if not member.isreg():
        kind = ("a symlink" if member.issym() else "a hardlink" if member.islnk()
                else "a device" if member.isdev() else "a directory" if member.isdir()
                else "a fifo" if member.isfifo() else "not a regular file")
        staged.fail(name, "is %s, refused (a bundle holds regular files only)" % kind)
    kind = fmt.classify(name)
    if kind is None:
        staged.fail(name, "has no place in a kipoi mirror layout, refused")
    if kind[0] == "header":
        if declared is not None or member.size > SMALL_MAX:
            staged.fail(name, "a second or oversized bundle header, refused")
        return "header"
    if declared is not None:
        expected = declared.get(name)
        if expected is None:
            staged.fail(name, "not declared in %s, refused" % fmt.BUNDLE_HEADER)
        if member.size != expected:
            staged.fail(name, "%d bytes, but the bundle declares %d, refused" % (member.size, expected),
                        kind[1] if kind[0] == "object" else None)
    return kind


def _read_header(staged, tar, member):
    import json

    try:
        doc = json.loads(tar.extractfile(member).read(member.size))
        entries = doc["entries"]
        if doc.get("layout") != fmt.LAYOUT or not all(
                isinstance(k, str) and isinstance(v, int) and v >= 0 for k, v in entries.items()):
            raise ValueError("not a layout %d header" % fmt.LAYOUT)
    except (ValueError, TypeError, KeyError, AttributeError) as exc:
        staged.fail(member.name, "bad header: %s" % exc)
    return entries


def _read_small(staged, kind, value, name, data):
    if kind == "marker":
        fmt.check_marker(data, "bundle %s: entry %s" % (staged.where, name))
    elif kind == "md5":
        sha256 = data.decode("latin-1").strip()
        if not hashing.is_sha256(sha256):
            staged.fail(name, "not a sha256")
        staged.md5[value] = sha256
    elif kind == "manifest":
        staged.docs.append(fmt.ModelDoc(data, "bundle %s: entry %s" % (staged.where, name), key=value))


def _stage_object(store, staged, digest, f, size):
    """Hash object `digest` into staging unless the store has it; returns what is wrong, or None."""
    if store.has_object(digest):
        # Still read through: the entry must be right even when its bytes are not needed.
        hasher = hashing.Hasher()
        for chunk in hashing.iter_file(f):
            hasher.update(chunk)
    else:
        path = os.path.join(staged.root, digest)
        try:
            with open(path, "xb") as out:
                hasher = hashing.copy_hashing(f, out)
        except OSError as exc:
            named(exc, path)  # a full disk is the store's, not the bundle's: name where it was
            raise
        staged.objects[digest] = path
    if hasher.size != size:
        return "%d bytes, expected %d" % (hasher.size, size)
    if hasher.hexdigest() != digest:
        return "sha256 mismatch (got %s): damaged" % hasher.hexdigest()
    return None


# -- phase one: a directory ----------------------------------------------------------------------

def _stage_dir(store, staged):
    root = staged.where
    marker = os.path.join(root, fmt.MARKER)
    try:
        with open(marker, "rb") as f:
            fmt.check_marker(f.read(SMALL_MAX), marker)
    except FileNotFoundError:
        raise UsageError("%s: not a kipoi mirror (no %s)" % (root, fmt.MARKER)) from None
    manifests = os.path.join(root, "manifests")
    for key in sorted(os.listdir(manifests)) if os.path.isdir(manifests) else ():
        folder = os.path.join(manifests, key)
        for name in sorted(os.listdir(folder)):
            relpath = "manifests/%s/%s" % (key, name)
            if name.startswith(fmt.TMP_PREFIX):
                continue  # an export still writing
            if fmt.classify(relpath) != ("manifest", key):
                staged.fail(relpath, "has no place in a kipoi mirror layout, refused")
            staged.docs.append(fmt.ModelDoc(_read_regular(staged, relpath), "mirror %s: %s"
                                            % (root, relpath), key=key))
    index = os.path.join(root, "index", "md5")
    for fan in sorted(os.listdir(index)) if os.path.isdir(index) else ():
        for name in sorted(os.listdir(os.path.join(index, fan))):
            relpath = "index/md5/%s/%s" % (fan, name)
            kind = fmt.classify(relpath)
            if name.startswith(fmt.TMP_PREFIX) or kind is None:
                continue  # an export still writing, or nothing of ours: the index is only a hint
            _read_small(staged, kind[0], kind[1], relpath, _read_regular(staged, relpath))
    for doc in staged.docs:
        for digest, size in doc.sizes.items():
            if digest in staged.objects or store.has_object(digest):
                continue
            relpath = fmt.object_path(digest)
            path = os.path.join(root, relpath)
            _regular_stat(staged, relpath, size, digest)
            with open(path, "rb") as f:
                why = _stage_object(store, staged, digest, f, size)
            if why:
                staged.fail(relpath, why, digest)


def _regular_stat(staged, relpath, size=None, digest=None):
    import stat

    try:
        st = os.lstat(os.path.join(staged.where, relpath))
    except FileNotFoundError:
        staged.fail(relpath, "missing", digest)
    if not stat.S_ISREG(st.st_mode):
        staged.fail(relpath, "not a regular file (a link or special file), refused", digest)
    if size is not None and st.st_size != size:
        staged.fail(relpath, "%d bytes, but the manifest declares %d, refused" % (st.st_size, size),
                    digest)
    if size is None and st.st_size > SMALL_MAX:
        staged.fail(relpath, "too large for a manifest, refused")


def _read_regular(staged, relpath):
    _regular_stat(staged, relpath)
    with open(os.path.join(staged.where, relpath), "rb") as f:
        return f.read(SMALL_MAX + 1)


# -- phase two ---------------------------------------------------------------------------------

def _check_complete(store, staged):
    for doc in staged.docs:
        for digest in doc.digests():
            if digest not in staged.objects and not store.has_object(digest):
                staged.fail(fmt.manifest_path(doc.key, doc.name), "names object %s, which is in neither "
                            "the bundle nor the store" % digest, digest)


def _publish(store, staged):
    done = Imported()
    records = user_records()
    for doc in sorted(staged.docs, key=lambda d: (d.key, d.name)):
        if store.manifest(doc.key, doc.name) is not None:
            done.present.append(doc.label())
            continue
        for digest in doc.digests():
            path = staged.objects.pop(digest, None)
            if path is not None and not store.has_object(digest):
                store.commit_verified(path, digest)  # hashed in phase one: moved, not re-read
                done.objects += 1
        store.publish(doc.key, doc.name, doc.entries,
                      info=doc.record if doc.directory is not None else None)
        if doc.directory is not None and "#" not in doc.name and not doc.key.startswith("local-"):
            # The record a warm resolve of a git source reads (sources/git.py: resolve_at).
            records.put(("git", doc.key, doc.name), doc.record)
        done.published.append(doc.label())
    return done


def _index_md5(store, staged):
    """The bundle's md5 index, into the user's: only entries whose object is in the store now, and
    whose bytes have that md5 (an index is a claim; the bytes are checked)."""
    from kipoi_store.store.user.md5index import Md5Index

    index = Md5Index(store)
    try:
        for md5, sha256 in sorted(staged.md5.items()):
            path = store.object_path(sha256)
            if not os.path.isfile(path) or index.cache.get_raw(md5) == sha256:
                continue
            if hashing.md5_file(path) == md5:
                index.put(md5, sha256)
    finally:
        index.close()
