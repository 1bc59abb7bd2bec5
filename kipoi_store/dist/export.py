"""Writing models out of the store: into a mirror directory, or as one tar bundle (layout.py).

    out = Export(store)
    out.add_model(commit, "rbp_eclip/UPF1", directory="rbp_eclip/UPF1")
    out.add_model(commit, "rbp_eclip/UPF1#files")        # the model's downloaded files
    out.write_mirror("/srv/mirror")                       # only what it lacks, manifests last
    out.write_tar(open("models.tar", "wb"))               # or a pipe: written as a stream

A model is taken from whichever store of the chain holds it (the user's, or a site store behind
it). Every object is re-hashed while it is copied out, so a damaged store never spreads. Nothing
here prints.
"""

import io
import os
import tarfile

from kipoi_store.errors import IntegrityError, NotFoundError
from kipoi_store.store.core import hashing
from kipoi_store.dist import layout as fmt
from kipoi_store.store.core.staging import write_atomic


class Written:
    """What one export wrote: counts for the command's summary line."""

    def __init__(self):
        self.models = 0
        self.objects = 0
        self.skipped = 0
        self.bytes = 0


class Export:
    def __init__(self, store):
        self.store = store
        self.docs = {}     # (key, name) -> mirror manifest dict
        self.sizes = {}    # digest -> size
        self.paths = {}    # digest -> its file, in the store holding it
        self.md5 = {}      # md5 -> sha256, of remote model files

    def add_model(self, key, name, directory=None, group=None, index_md5=False):
        """Take model `name` of snapshot `key` (as published in the store); with `index_md5`, its
        files are also indexed by md5 (downloaded model files are looked up that way)."""
        holder = self.store.use(key, name)
        manifest = holder.manifest(key, name) if holder is not None else None
        if manifest is None:
            raise NotFoundError("cannot export %s at %s: not published in the store %s"
                                % (name, key, self.store.root))
        for value in manifest["files"].values():
            if not value.startswith("->") and value not in self.sizes:
                path = holder.object_path(value)
                try:
                    self.sizes[value] = os.stat(path).st_size
                except FileNotFoundError:
                    raise IntegrityError("cannot export %s at %s: object %s is missing from the "
                                         "store %s (run 'kipoi store verify')"
                                         % (name, key, value, holder.root)) from None
                self.paths[value] = path
                if index_md5:
                    self.md5[hashing.md5_file(path)] = value
        self.docs[(key, name)] = fmt.model_doc(manifest, self.sizes, directory, group)

    def _small_entries(self):
        """(relpath, bytes) of the index and the manifests, in the order they are written."""
        for md5, sha256 in sorted(self.md5.items()):
            yield fmt.md5_path(md5), (sha256 + "\n").encode()
        for (key, name), doc in sorted(self.docs.items()):
            yield fmt.manifest_path(key, name), fmt.doc_bytes(doc)

    def _open_object(self, digest):
        return open(self.paths[digest], "rb")

    def _copy_checked(self, digest, src, out):
        hasher = hashing.copy_hashing(src, out)
        if hasher.hexdigest() != digest or hasher.size != self.sizes[digest]:
            raise IntegrityError("object %s is damaged in the store %s (run 'kipoi store verify "
                                 "--repair'); nothing of it was exported" % (digest, self.store.root))

    # -- a mirror directory ---------------------------------------------------------------------

    def write_mirror(self, root):
        """Add what `root` lacks: the marker, then objects, then the md5 index, then manifests, each
        file by one rename, so a reader never sees a manifest before the objects it names."""
        root = os.path.abspath(os.path.expanduser(str(root)))
        done = Written()
        os.makedirs(root, exist_ok=True)
        marker = os.path.join(root, fmt.MARKER)
        if os.path.exists(marker):
            with open(marker, "rb") as f:
                fmt.check_marker(f.read(), marker)
        else:
            _write_file(marker, fmt.marker_bytes())
        for digest in sorted(self.sizes):
            target = os.path.join(root, fmt.object_path(digest))
            try:
                if os.stat(target).st_size == self.sizes[digest]:
                    done.skipped += 1
                    continue
            except FileNotFoundError:
                pass
            with self._open_object(digest) as src:
                _write_file(target, lambda out, src=src, d=digest: self._copy_checked(d, src, out))
            done.objects += 1
            done.bytes += self.sizes[digest]
        for relpath, data in self._small_entries():
            target = os.path.join(root, relpath)
            try:
                with open(target, "rb") as f:
                    if f.read() == data:
                        continue
            except FileNotFoundError:
                pass
            _write_file(target, data)
        done.models = len(self.docs)
        return done

    # -- a tar bundle ---------------------------------------------------------------------------

    def write_tar(self, fileobj):
        """The whole export as an uncompressed tar stream on `fileobj` (a file or a pipe): a header
        declaring every entry and its size, the marker, objects, the md5 index, manifests."""
        small = list(self._small_entries())
        marker = fmt.marker_bytes()
        declared = {fmt.MARKER: len(marker)}
        declared.update((fmt.object_path(d), n) for d, n in sorted(self.sizes.items()))
        declared.update((p, len(data)) for p, data in small)
        header = fmt.doc_bytes({"layout": fmt.LAYOUT, "entries": declared})
        done = Written()
        with tarfile.open(fileobj=fileobj, mode="w|", format=tarfile.PAX_FORMAT) as tar:
            tar.addfile(_info(fmt.BUNDLE_HEADER, len(header)), io.BytesIO(header))
            tar.addfile(_info(fmt.MARKER, len(marker)), io.BytesIO(marker))
            for digest, size in sorted(self.sizes.items()):
                with self._open_object(digest) as src:
                    tar.addfile(_info(fmt.object_path(digest), size), _Checked(src, digest, self))
                done.objects += 1
                done.bytes += size
            for relpath, data in small:
                tar.addfile(_info(relpath, len(data)), io.BytesIO(data))
        done.models = len(self.docs)
        return done


class _Checked:
    """A file object handing an object's bytes to tarfile, hashing them; the digest is checked when
    the last byte has been read (tarfile reads exactly the declared size)."""

    def __init__(self, f, digest, export):
        self.f, self.digest, self.export = f, digest, export
        self.hasher = hashing.Hasher()

    def read(self, n=-1):
        data = self.f.read(n)
        self.hasher.update(data)
        if self.hasher.size >= self.export.sizes[self.digest] and self.hasher.hexdigest() != self.digest:
            raise IntegrityError("object %s is damaged in the store %s (run 'kipoi store verify "
                                 "--repair')" % (self.digest, self.export.store.root))
        return data


def _info(name, size):
    info = tarfile.TarInfo(name)
    info.size = size
    info.mode = 0o644
    info.mtime = 0  # the same models give the same bundle
    return info


def _write_file(target, data):
    """Write `target` (world-readable: web servers read mirrors), bytes or what a function writes."""
    os.makedirs(os.path.dirname(target), exist_ok=True)
    write_atomic(target, data, 0o644, tmp_prefix=fmt.TMP_PREFIX)
