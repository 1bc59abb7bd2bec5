"""The one layout of mirrors and bundles: what `kipoi store export` writes and what mirrors serve.

    kipoi-mirror.json                      {"format": "kipoi-mirror", "layout": 1}: the marker
    objects/sha256/ab/<64 hex>             bytes, named by their sha256 (the store's own layout)
    index/md5/ab/<32 hex>                  "<sha256>\\n": a remote model file known by its md5
    manifests/<key>/<name>.json            which files make model <name> at snapshot <key>

A manifest is the store's manifest plus what a reader needs before it has any byte: the size of
every object it names, and where the model's directory is (`directory`, `group`). A tar bundle is
the same tree in one file, objects first and manifests last, with a `bundle.json` first that
declares every entry's size. Nothing in it needs more than a plain GET: any static web server, a
bucket, or a path serves it. Pure: no file system, no network.
"""

import json
import re

from kipoi_store.errors import IntegrityError
from kipoi_store.store.core import hashing
from kipoi_store.store.core.entries import FileEntry, LinkEntry, check_entries, check_relpath
from kipoi_store.store.core.store import KEY_PATTERN, manifest_filename

LAYOUT = 1
MARKER = "kipoi-mirror.json"
BUNDLE_HEADER = "bundle.json"
# An export writes each mirror file through a hidden file beside it with this prefix: readers skip it.
TMP_PREFIX = ".tmp-"

_MD5 = re.compile(r"[0-9a-f]{32}")
_OBJECT = re.compile(r"objects/sha256/([0-9a-f]{2})/([0-9a-f]{64})")
_INDEX = re.compile(r"index/md5/([0-9a-f]{2})/([0-9a-f]{32})")
_MANIFEST = re.compile(r"manifests/([^/]+)/([^/]+\.json)")


def marker_bytes():
    return (json.dumps({"format": "kipoi-mirror", "layout": LAYOUT}) + "\n").encode()


def check_marker(data, where):
    """Raise IntegrityError unless `data` is a marker of a layout this version reads."""
    try:
        doc = json.loads(data)
        layout = doc["layout"] if doc.get("format") == "kipoi-mirror" else None
    except (ValueError, TypeError, KeyError, AttributeError):
        layout = None
    if layout != LAYOUT:
        raise IntegrityError("%s: not a kipoi mirror of layout %d (%s)" % (where, LAYOUT, MARKER))


def object_path(digest):
    return "objects/sha256/%s/%s" % (digest[:2], digest)


def md5_path(md5):
    return "index/md5/%s/%s" % (md5[:2], md5)


def manifest_path(key, name):
    return "manifests/%s/%s" % (key, manifest_filename(name))


def is_md5(text):
    return isinstance(text, str) and _MD5.fullmatch(text) is not None


def classify(relpath):
    """What entry `relpath` of a mirror or bundle is: ("marker"|"header", None), ("object",
    digest), ("md5", md5), ("manifest", key), or None for a name that has no place there."""
    if relpath == MARKER:
        return "marker", None
    if relpath == BUNDLE_HEADER:
        return "header", None
    m = _OBJECT.fullmatch(relpath)
    if m and m.group(2)[:2] == m.group(1):
        return "object", m.group(2)
    m = _INDEX.fullmatch(relpath)
    if m and m.group(2)[:2] == m.group(1):
        return "md5", m.group(2)
    m = _MANIFEST.fullmatch(relpath)
    if m and KEY_PATTERN.fullmatch(m.group(1)):
        return "manifest", m.group(1)
    return None


# -- manifests ------------------------------------------------------------------------------------

def model_doc(manifest, sizes, directory=None, group=None):
    """The mirror manifest of a store manifest (`Store.manifest(key, name)`), given the size of
    each object it names."""
    digests = {v for v in manifest["files"].values() if not v.startswith("->")}
    return {"layout": LAYOUT, "name": manifest["name"], "key": manifest["key"],
            "files": dict(sorted(manifest["files"].items())),
            "executable": sorted(manifest.get("executable", [])),
            "sizes": {d: sizes[d] for d in sorted(digests)},
            "directory": directory, "group": group}


def doc_bytes(doc):
    return (json.dumps(doc, indent=1, sort_keys=True) + "\n").encode()


class ModelDoc:
    """A mirror manifest, validated: every path safe, every link inside the snapshot, every object
    a sha256 with a size. Raises IntegrityError naming `where` otherwise."""

    def __init__(self, data, where, key=None, name=None):
        try:
            doc = json.loads(data)
            self.name, self.key = doc["name"], doc["key"]
            files, sizes = doc["files"], doc["sizes"]
            executable = set(doc.get("executable") or ())
            self.directory, self.group = doc.get("directory"), doc.get("group")
            if doc.get("layout") != LAYOUT or not isinstance(self.name, str) or not self.name:
                raise ValueError("not a layout %d manifest" % LAYOUT)
            if not isinstance(self.key, str) or not KEY_PATTERN.fullmatch(self.key):
                raise ValueError("bad key %r" % (self.key,))
            if (key is not None and self.key != key) or (name is not None and self.name != name):
                raise ValueError("names %s at %s, not what it was asked for" % (self.name, self.key))
            if self.directory is not None:
                check_relpath(self.directory, "directory")
            entries = {}
            for path, value in files.items():
                if value.startswith("->"):
                    entries[path] = LinkEntry(value[2:])
                elif hashing.is_sha256(value) and isinstance(sizes.get(value), int) \
                        and sizes[value] >= 0:
                    entries[path] = FileEntry(value, path in executable)
                else:
                    raise ValueError("%s: not a sha256 with a size: %r" % (path, value))
            check_entries(entries)
        except IntegrityError:
            raise
        except Exception as exc:  # noqa: B902 - any shape of bad JSON is the same failure
            raise IntegrityError("%s: bad manifest: %s" % (where, exc)) from None
        self.entries = entries
        self.sizes = {d: sizes[d] for d in self.digests()}

    def digests(self):
        return sorted({e.digest for e in self.entries.values() if isinstance(e, FileEntry)})

    @property
    def record(self):
        """What a warm resolve of this model reads (store/user/records.py), when it is a model."""
        return {"directory": self.directory, "group": self.group}

    def label(self):
        return "model %s at %s" % (self.name, self.key)
