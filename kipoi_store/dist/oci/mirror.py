"""A registry as a store mirror (`oci://REGISTRY/REPOSITORY` in store_mirrors / KIPOI_STORE_MIRRORS):
the mirror layout's paths (dist/layout.py) answered from what `kipoi store push` wrote there.

    objects/sha256/ab/<hex>        the blob sha256:<hex>
    index/md5/ab/<md5>             the one layer of the manifest tagged md5-<md5>
    manifests/<key>/<name>.json    model <name> of the index tagged <key>, as a layout manifest
                                   (`<model>#files` / `#examples`: that model's remote-file layers)

dist/mirrors.py reads a mirror only through open() and read_small(); everything it gets here is
checked there as from any mirror (objects by digest while they stream into the store, manifests by
layout.ModelDoc), after artifact.py has refused hostile registry content. A tag or blob the registry
does not have is a quiet miss (None); a registry that cannot answer is MirrorDown.
"""

import os

from kipoi_store.dist import layout as fmt
from kipoi_store.dist.oci import artifact
from kipoi_store.dist.oci.pull import seen_in
from kipoi_store.errors import IntegrityError, KipoiError, NotFoundError
from kipoi_store.store.core import hashing
from kipoi_store.store.core.staging import unlink_quiet

SCHEME = "oci://"


def is_oci(location):
    return location[:len(SCHEME)].lower() == SCHEME


class OciMirror:
    local = False

    def __init__(self, location, store, down):
        from kipoi_store.dist.oci import reference

        self.ref = reference.parse(location)
        self.name = location
        self.store = store
        self.down = down  # the MirrorDown class of dist/mirrors.py (which imports us: no cycle)
        self._repository = None
        self._indexes = {}
        self._models = {}

    @property
    def repository(self):
        if self._repository is None:
            from kipoi_store.dist.oci.client import Repository

            self._repository = Repository(self.ref)
        return self._repository

    def _ask(self, call, *args):
        """call(*args), None when the registry has no such thing, MirrorDown when it cannot say."""
        try:
            return call(*args)
        except NotFoundError:
            return None
        except IntegrityError:
            raise
        except KipoiError as exc:
            raise self.down(str(exc)) from None

    def open(self, relpath):
        kind = fmt.classify(relpath)
        if kind is None or kind[0] != "object":
            data = self.read_small(relpath)
            return None if data is None else (iter([data]), lambda: None)
        digest = kind[1]
        # Straight to the GET (no HEAD first: a mirror asked for an LFS object mostly has it, and
        # a 404 is the same quiet miss). The client verifies the blob against its digest and the
        # size the registry sends as it lands in tmp/; mirrors.py checks the size it expects and
        # hashes it again on its way into objects/ (one read point for every kind of mirror).
        tmp = self.store.new_tmp_path("oci-mirror")
        try:
            self._ask(self.repository.fetch_blob, "sha256:" + digest, None, str(tmp))
            if not os.path.exists(tmp):
                return None
            f = open(tmp, "rb")
            seen_in(self.repository, [digest])
        except BaseException:
            unlink_quiet(tmp)
            raise

        def close():
            f.close()
            unlink_quiet(tmp)

        return hashing.iter_file(f), close

    def read_small(self, relpath):
        kind = fmt.classify(relpath)
        if kind is None:
            return None
        if kind[0] == "md5":
            tag = artifact.md5_tag(kind[1])
            got = self._ask(self.repository.get_manifest, tag, (artifact.MANIFEST_TYPE,))
            if got is None:
                return None
            sha256, _ = artifact.read_md5_manifest(got[0], kind[1], "store mirror %s, tag %s"
                                                   % (self.name, tag))
            return (sha256 + "\n").encode()
        if kind[0] == "manifest":
            name = _model_name(os.path.basename(relpath))
            return None if name is None else self._layout_manifest(kind[1], name)
        if kind[0] == "marker":
            return fmt.marker_bytes()
        return None

    def _layout_manifest(self, key, name):
        base, part = name, ""
        for p, suffix in artifact.PARTS.items():
            if suffix and name.endswith(suffix):
                base, part = name[:-len(suffix)], p
        art = self._model(key, base)
        if art is None:
            return None
        files = [f for f in art.files if f.part == part]
        if part and not files:
            return None
        manifest = {"name": name, "key": key,
                    "files": {f.path: f.digest for f in files},
                    "executable": [f.path for f in files if f.executable]}
        if not part:
            manifest["files"].update({p: "->" + t for p, t in art.links.items()})
        doc = fmt.model_doc(manifest, {f.digest: f.size for f in files},
                            art.directory if not part else None, art.group if not part else None)
        return fmt.doc_bytes(doc)

    def _model(self, key, name):
        if (key, name) in self._models:
            return self._models[key, name]
        if key not in self._indexes:
            got = self._ask(self.repository.get_manifest, key, (artifact.INDEX_TYPE,))
            where = "store mirror %s, tag %s" % (self.name, key)
            index = None
            if got is not None:
                if not artifact.is_index(got[1], got[0]):
                    raise IntegrityError("%s: not a snapshot index" % where)
                index = artifact.read_index(got[0], where)
                if index.key not in (None, key):
                    raise IntegrityError("%s: is the index of snapshot %s" % (where, index.key))
            self._indexes[key] = index
        index = self._indexes[key]
        art = None
        if index is not None and name in index.models:
            digest = "sha256:" + index.models[name][0]
            got = self._ask(self.repository.get_manifest, digest, (artifact.MANIFEST_TYPE,))
            if got is not None:
                if "sha256:" + hashing.sha256_bytes(got[0]) != digest:
                    raise IntegrityError("store mirror %s: manifest %s has other bytes" % (self.name, digest))
                art = artifact.read_model_manifest(got[0], "store mirror %s, %s" % (self.name, digest),
                                                   name=name)
                if art.key != key:
                    raise IntegrityError("store mirror %s: %s is model %s at %s, not at %s"
                                         % (self.name, digest, name, art.key, key))
        self._models[key, name] = art
        return art


def _model_name(filename):
    """The model name a layout manifest file name encodes (layout.manifest_path), or None for a
    shortened one (over 200 bytes: it cannot be read back)."""
    encoded = filename[:-len(".json")]
    if len(encoded) == 133 and encoded[100] == "~":
        return None
    return encoded.replace("%2F", "/").replace("%25", "%")
