"""A model snapshot <-> an OCI artifact: the bytes of the manifests we push, and reading them back
(ours or another tool's in the same shape) with every hostile shape refused. Pure: no I/O.

    art = ModelArtifact(name="rbp_eclip/UPF1", key=commit, commit=commit, source="kipoi",
                        source_url="https://github.com/kipoi/models.git", directory="rbp_eclip/UPF1",
                        files=[ModelFile("rbp_eclip/UPF1/model.yaml", sha256, 812)], links={...})
    manifest, config = model_manifest(art)         # deterministic bytes: same snapshot, same digest
    read_model_manifest(manifest, "where")         # the ModelArtifact again, validated

The shape (CNCF ModelPack, as ORAS lays out files):
- one raw layer per file, its digest the store object's sha256 (no tar, no re-hashing), annotated
  with its path in the snapshot (`org.opencontainers.image.title` and `org.cncf.model.filepath`)
  and, as ModelPack does, `org.cncf.model.file.metadata+json` (mode 0755 for executables; uid,
  gid and mtime zero so the bytes never depend on the pushing machine);
- the remote files a model.yaml names (`{url, md5}`), fetched by `resolve --files/--examples`,
  are layers too, with `org.kipoi.store.part` (`files`, `examples`), `org.kipoi.store.url` and
  `org.kipoi.store.md5`: a pull publishes them as the store's `<model>#files`/`#examples`;
- symlinks have no bytes: the manifest annotation `org.kipoi.store.symlinks` maps each path to
  its relative target (JSON);
- the config blob is ModelPack's (`application/vnd.cncf.model.config.v1+json`: descriptor name =
  model path, revision = commit, sourceURL; modelfs diffIds = the layer digests), and the
  manifest's artifactType `application/vnd.cncf.model.manifest.v1+json`;
- what is ours (source, commit, snapshot key, model directory and group) is in manifest
  annotations `org.kipoi.store.*`.
An artifact without our annotations (a plain ORAS or ModelPack push of one model's files) is read
as a model of its own: paths relative to the model directory, its key the manifest's digest.

One repository holds a whole source: per snapshot key an image index (tagged with the key) lists
the model manifests, each annotated with its model name; remote files are also findable by md5
through a one-layer manifest tagged `md5-<hex>`.
"""

import json
import re
from collections import namedtuple

from kipoi_store.errors import IntegrityError, UnsafePathError
from kipoi_store.store.core import hashing
from kipoi_store.store.core.entries import FileEntry, LinkEntry, check_entries, check_relpath
from kipoi_store.store.core.store import KEY_PATTERN

MANIFEST_TYPE = "application/vnd.oci.image.manifest.v1+json"
INDEX_TYPE = "application/vnd.oci.image.index.v1+json"
ARTIFACT_TYPE = "application/vnd.cncf.model.manifest.v1+json"
CONFIG_TYPE = "application/vnd.cncf.model.config.v1+json"
WEIGHT, WEIGHT_CONFIG, CODE, DOC, DATASET = (
    "application/vnd.cncf.model.%s.v1.raw" % kind
    for kind in ("weight", "weight.config", "code", "doc", "dataset"))
# Raw file bytes under other names other tools use: ORAS labels a pushed file as a tar layer.
RAW_ALIASES = ("application/octet-stream", "application/vnd.oci.image.layer.v1.tar")
MD5_FILE_TYPE = "application/vnd.kipoi.store.file.v1"

TITLE = "org.opencontainers.image.title"
FILEPATH = "org.cncf.model.filepath"
FILE_METADATA = "org.cncf.model.file.metadata+json"
REVISION = "org.opencontainers.image.revision"
SOURCE_URL = "org.opencontainers.image.source"
OURS = "org.kipoi.store."
PART, URL, MD5 = OURS + "part", OURS + "url", OURS + "md5"
MODEL, KEY, COMMIT, SOURCE = OURS + "model", OURS + "key", OURS + "commit", OURS + "source"
DIRECTORY, GROUP, SYMLINKS = OURS + "directory", OURS + "group", OURS + "symlinks"

PARTS = {"": "", "files": "#files", "examples": "#examples"}  # part -> store manifest suffix
MD5_TAG_PREFIX = "md5-"
MAX_LAYERS = 100000
_TAG = re.compile(r"[A-Za-z0-9_][A-Za-z0-9._-]{0,127}")
_DIGEST = re.compile(r"sha256:([0-9a-f]{64})")
_MD5 = re.compile(r"[0-9a-f]{32}")

ModelFile = namedtuple("ModelFile", "path digest size executable part url md5",
                       defaults=(False, "", None, None))


class ModelArtifact:
    """One model of one snapshot as it travels: `files` (ModelFile, paths from the snapshot
    root), `links` {path: target}; `directory` is the model's directory in the snapshot."""

    def __init__(self, name, key, files, links=None, commit=None, source=None, source_url=None,
                 directory=None, group=None):
        self.name, self.key, self.commit = name, key, commit
        self.files = sorted(files, key=lambda f: (f.part, f.path))
        self.links = dict(sorted((links or {}).items()))
        self.source, self.source_url = source, source_url
        self.directory = directory if directory is not None else name
        self.group = group

    def store_manifests(self):
        """{store manifest name: {path: FileEntry | LinkEntry}}: the model, then `#files`, ...
        (only the parts it has)."""
        out = {self.name: {p: LinkEntry(t) for p, t in self.links.items()}}
        for f in self.files:
            out.setdefault(self.name + PARTS[f.part], {})[f.path] = FileEntry(f.digest, f.executable)
        return out

    def sizes(self):
        return {f.digest: f.size for f in self.files}

    @property
    def record(self):
        return {"directory": self.directory, "group": self.group}


def canonical(doc):
    """The one byte form of a JSON document we push: sorted keys, no spaces, no timestamps."""
    return json.dumps(doc, sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode("utf-8")


def descriptor(media_type, data_or_digest, size=None, annotations=None, artifact_type=None):
    if isinstance(data_or_digest, bytes):
        digest, size = "sha256:" + hashing.sha256_bytes(data_or_digest), len(data_or_digest)
    else:
        digest = "sha256:" + data_or_digest
    d = {"mediaType": media_type, "digest": digest, "size": size}
    if annotations:
        d["annotations"] = annotations
    if artifact_type:
        d["artifactType"] = artifact_type
    return d


def media_type_for(f):
    """ModelPack's kind of a file: remote files are weights (examples: data), else by its name."""
    if f.part == "examples":
        return DATASET
    if f.part:
        return WEIGHT
    base = f.path.rsplit("/", 1)[-1].lower()
    if base.endswith(".py"):
        return CODE
    if base.endswith((".md", ".rst", ".txt")) or base.startswith(("readme", "license")):
        return DOC
    if base.endswith((".yaml", ".yml", ".json", ".tsv")):
        return WEIGHT_CONFIG
    return WEIGHT


def model_config(name, commit, source_url, digests):
    descriptor_ = {"name": name}
    if commit:
        descriptor_["revision"] = commit
    if source_url:
        descriptor_["sourceURL"] = source_url
    return canonical({"descriptor": descriptor_, "config": {},
                      "modelfs": {"type": "layers", "diffIds": ["sha256:" + d for d in digests]}})


def model_manifest(art):
    """(manifest bytes, config bytes) of `art`: the same model gives the same bytes anywhere."""
    layers = []
    for f in art.files:
        notes = {TITLE: f.path, FILEPATH: f.path, FILE_METADATA: canonical({
            "name": f.path, "mode": 0o755 if f.executable else 0o644, "uid": 0, "gid": 0,
            "size": f.size, "mtime": "1970-01-01T00:00:00Z", "typeflag": 48}).decode("utf-8")}
        if f.part:
            notes[PART] = f.part
            for k, v in ((URL, f.url), (MD5, f.md5)):
                if v:
                    notes[k] = v
        layers.append(descriptor(media_type_for(f), f.digest, f.size, notes))
    config = model_config(art.name, art.commit, art.source_url, [f.digest for f in art.files])
    notes = {TITLE: art.name, MODEL: art.name, KEY: art.key, DIRECTORY: art.directory}
    for k, v in ((COMMIT, art.commit), (REVISION, art.commit), (SOURCE, art.source),
                 (SOURCE_URL, art.source_url), (GROUP, art.group)):
        if v:
            notes[k] = v
    if art.links:
        notes[SYMLINKS] = canonical(art.links).decode("utf-8")
    manifest = {"schemaVersion": 2, "mediaType": MANIFEST_TYPE, "artifactType": ARTIFACT_TYPE,
                "config": descriptor(CONFIG_TYPE, config), "layers": layers, "annotations": notes}
    return canonical(manifest), config


def snapshot_index(key, commit, models):
    """The index of snapshot `key`: `models` {name: (manifest digest hex, size)}, sorted by name."""
    entries = [descriptor(MANIFEST_TYPE, d, n, {MODEL: name, TITLE: name}, ARTIFACT_TYPE)
               for name, (d, n) in sorted(models.items())]
    notes = {KEY: key}
    if commit:
        notes[COMMIT] = notes[REVISION] = commit
    return canonical({"schemaVersion": 2, "mediaType": INDEX_TYPE, "manifests": entries,
                      "annotations": notes})


def md5_manifest(md5, digest, size):
    """(manifest bytes, config bytes) of the one-layer artifact tagged md5_tag(md5)."""
    config = model_config(md5_tag(md5), None, None, [digest])
    layer = descriptor(WEIGHT, digest, size, {TITLE: md5, MD5: md5})
    return canonical({"schemaVersion": 2, "mediaType": MANIFEST_TYPE, "artifactType": MD5_FILE_TYPE,
                      "config": descriptor(CONFIG_TYPE, config), "layers": [layer],
                      "annotations": {MD5: md5}}), config


def md5_tag(md5):
    return MD5_TAG_PREFIX + md5


def is_tag(text):
    return isinstance(text, str) and _TAG.fullmatch(text) is not None


def ref_tag(ref):
    """The tag a branch or tag `ref` moves (README: every character outside `[A-Za-z0-9._-]`
    becomes `-`, a leading `.` or `-` gets a `_` before it, at most 128 characters), or None for a
    ref that would read as one of our own tags (a snapshot key, `md5-<hex>`)."""
    tag = re.sub(r"[^A-Za-z0-9._-]", "-", ref or "")
    if tag and not re.match(r"[A-Za-z0-9_]", tag):
        tag = "_" + tag
    tag = tag[:128]
    if not is_tag(tag) or KEY_PATTERN.fullmatch(tag) or tag.startswith(MD5_TAG_PREFIX):
        return None
    return tag


# -- reading (registry content is untrusted) ------------------------------------------------------

Index = namedtuple("Index", "key commit models")  # models: {name: (digest hex, size)}


def _doc(data, where, media_type):
    try:
        doc = json.loads(data)
    except (ValueError, UnicodeDecodeError) as exc:
        raise IntegrityError("%s: not JSON (%s)" % (where, exc)) from None
    if not isinstance(doc, dict) or doc.get("schemaVersion") != 2:
        raise IntegrityError("%s: not an OCI document (schemaVersion 2)" % where)
    if doc.get("mediaType", media_type) != media_type:
        raise IntegrityError("%s: media type %r, expected %s" % (where, doc.get("mediaType"), media_type))
    notes = doc.get("annotations") or {}
    if not isinstance(notes, dict) or not all(isinstance(v, str) for v in notes.values()):
        raise IntegrityError("%s: annotations are not a mapping of strings" % where)
    return doc, notes


def _digest_size(d, where):
    """(hex digest, size) of descriptor `d`, or IntegrityError."""
    if not isinstance(d, dict):
        raise IntegrityError("%s: a descriptor is not a mapping" % where)
    m = _DIGEST.fullmatch(d.get("digest") or "") if isinstance(d.get("digest"), str) else None
    size = d.get("size")
    if m is None:
        raise IntegrityError("%s: digest %r is not sha256:<64 hex>" % (where, d.get("digest")))
    if not isinstance(size, int) or isinstance(size, bool) or size < 0:
        raise IntegrityError("%s: size %r of %s is not a byte count" % (where, size, d["digest"]))
    if not isinstance(d.get("mediaType"), str):
        raise IntegrityError("%s: %s has no media type" % (where, d["digest"]))
    notes = d.get("annotations") or {}
    if not isinstance(notes, dict) or not all(isinstance(v, str) for v in notes.values()):
        raise IntegrityError("%s: annotations of %s are not strings" % (where, d["digest"]))
    return m.group(1), size


def is_index(media_type, data=None):
    if media_type == INDEX_TYPE:
        return True
    if media_type == MANIFEST_TYPE:
        return False
    try:
        return json.loads(data).get("mediaType") == INDEX_TYPE
    except (ValueError, TypeError, AttributeError):
        return False


def read_index(data, where):
    doc, notes = _doc(data, where, INDEX_TYPE)
    key = notes.get(KEY)
    if key is not None and not KEY_PATTERN.fullmatch(key):
        raise IntegrityError("%s: %s %r is not a snapshot key" % (where, KEY, key))
    entries = doc.get("manifests")
    if not isinstance(entries, list):
        raise IntegrityError("%s: no list of manifests" % where)
    models = {}
    for d in entries:
        digest, size = _digest_size(d, where)
        name = (d.get("annotations") or {}).get(MODEL) or (d.get("annotations") or {}).get(TITLE)
        if not name:
            continue  # not a model (another tool's entry): nothing to resolve by name
        _check_path(name, where, "model name")
        if name in models:
            raise IntegrityError("%s: model %s listed twice" % (where, name))
        models[name] = (digest, size)
    return Index(key, notes.get(COMMIT), models)


def _check_path(path, where, what="path"):
    try:
        check_relpath(path, what)
    except UnsafePathError as exc:
        raise IntegrityError("%s: %s" % (where, exc)) from None


def read_model_manifest(data, where, digest=None, name=None):
    """The ModelArtifact of manifest `data` (its sha256 hex `digest`; `name`: the model asked
    for, which the manifest must be when it says), or IntegrityError naming `where` and the
    first thing wrong: a path that is absolute, climbs with `..`, repeats or is missing, a layer
    that is not raw file bytes, a size or digest that is no size or digest, a link escaping."""
    doc, notes = _doc(data, where, MANIFEST_TYPE)
    _digest_size(doc.get("config"), where)
    layers = doc.get("layers")
    if not isinstance(layers, list) or len(layers) > MAX_LAYERS:
        raise IntegrityError("%s: layers are not a list (of at most %d)" % (where, MAX_LAYERS))
    ours = MODEL in notes
    model = notes.get(MODEL) or name
    if not model:
        raise IntegrityError("%s: names no model (annotation %s)" % (where, MODEL))
    _check_path(model, where, "model name")
    if name is not None and model != name:
        raise IntegrityError("%s: is model %s, not %s" % (where, model, name))
    key = notes.get(KEY) or digest
    if not isinstance(key, str) or not KEY_PATTERN.fullmatch(key):
        raise IntegrityError("%s: snapshot key %r is not a commit, sha256 or local-<hex>" % (where, key))
    directory = notes.get(DIRECTORY, model) if ours else model
    base = "" if ours else model + "/"  # another tool's titles are relative to the model
    files, seen, sizes = [], set(), {}
    for d in layers:
        hexdigest, size = _digest_size(d, where)
        lnotes = d.get("annotations") or {}
        path = lnotes.get(FILEPATH) or lnotes.get(TITLE)
        if not path:
            raise IntegrityError("%s: layer %s has no path (%s)" % (where, hexdigest, FILEPATH))
        if lnotes.get(TITLE) and lnotes.get(FILEPATH) and lnotes[TITLE] != lnotes[FILEPATH]:
            raise IntegrityError("%s: layer %s: title %r and filepath %r disagree"
                                 % (where, hexdigest, lnotes[TITLE], lnotes[FILEPATH]))
        media = d["mediaType"]
        if not (media in RAW_ALIASES or (media.startswith("application/vnd.cncf.model.")
                                         and media.endswith(".v1.raw"))):
            raise IntegrityError("%s: layer %s (%s) is %s, not raw file bytes" % (where, hexdigest, path, media))
        path = base + path
        _check_path(path, where)
        if path in seen:
            raise IntegrityError("%s: path %s appears twice" % (where, path))
        seen.add(path)
        if sizes.setdefault(hexdigest, size) != size:
            raise IntegrityError("%s: object %s is given two sizes" % (where, hexdigest))
        part = lnotes.get(PART, "")
        if part not in PARTS:
            raise IntegrityError("%s: layer %s: unknown part %r" % (where, path, part))
        md5 = lnotes.get(MD5)
        if md5 is not None and not _MD5.fullmatch(md5):
            raise IntegrityError("%s: layer %s: md5 %r is not 32 hex digits" % (where, path, md5))
        files.append(ModelFile(path, hexdigest, size, _executable(lnotes, where, path), part,
                               lnotes.get(URL), md5))
    links = _links(notes.get(SYMLINKS), where, base) if ours else {}
    art = ModelArtifact(model, key, files, links, commit=notes.get(COMMIT), source=notes.get(SOURCE),
                        source_url=notes.get(SOURCE_URL), directory=directory, group=notes.get(GROUP))
    _check_path(art.directory, where)
    clash = sorted(seen & set(links))
    if clash:
        raise IntegrityError("%s: path %s appears twice" % (where, clash[0]))
    try:
        check_entries({**{p: LinkEntry(t) for p, t in links.items()},
                       **{f.path: FileEntry(f.digest) for f in files}})
    except UnsafePathError as exc:
        raise IntegrityError("%s: %s" % (where, exc)) from None
    return art




def _executable(notes, where, path):
    text = notes.get(FILE_METADATA)
    if text is None:
        return False
    try:
        mode = json.loads(text).get("mode", 0o644)
    except (ValueError, AttributeError):
        raise IntegrityError("%s: layer %s: %s is not a JSON object" % (where, path, FILE_METADATA)) from None
    if not isinstance(mode, int) or isinstance(mode, bool):
        raise IntegrityError("%s: layer %s: mode %r is not a number" % (where, path, mode))
    return bool(mode & 0o111)


def _links(text, where, base):
    if text is None:
        return {}
    try:
        links = json.loads(text)
    except ValueError:
        links = None
    if not isinstance(links, dict) or not all(isinstance(t, str) and t for t in links.values()):
        raise IntegrityError("%s: %s is not a JSON map of paths to targets" % (where, SYMLINKS))
    out = {}
    for path, target in links.items():
        _check_path(base + path, where)
        out[base + path] = target
    return out


def read_md5_manifest(data, md5, where):
    """(sha256 hex, size) of the file the md5 artifact holds, or IntegrityError."""
    doc, notes = _doc(data, where, MANIFEST_TYPE)
    layers = doc.get("layers")
    if not isinstance(layers, list) or len(layers) != 1:
        raise IntegrityError("%s: an md5 artifact holds exactly one layer" % where)
    hexdigest, size = _digest_size(layers[0], where)
    said = (layers[0].get("annotations") or {}).get(MD5, notes.get(MD5))
    if said is not None and said != md5:
        raise IntegrityError("%s: holds md5 %s, not %s" % (where, said, md5))
    return hexdigest, size
