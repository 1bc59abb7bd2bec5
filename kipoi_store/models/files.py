"""Model files: the weights and data that model.yaml and dataloader.yaml name as `{url, md5}`,
fetched into the store, verified, and laid out where kipoi looks for them.

    paths = fetch_model_files(resolution, store, config)   # after Resolver(...).resolve(spec)

Where kipoi puts a download (kipoi/sources.py `_get_component_download_dir`, kipoi/model.py,
kipoi/specs.py `download_default_args`), relative to the source root:
    model M:              M/downloaded/model_files/<arg>/<md5>
    group row G/R:        G/downloaded/model_files/R/<arg>/<md5>
    tensorflow checkpoint <model files>/ckp/model.meta, model.index, model.data-00000-of-00001
    tensorflow2 saved     <model files>/sdm/saved_model.pb, sdm/variables/variables.index, ...data...
    dataloader D:         D/downloaded/dataloader_files/<md5>          (only each arg's `default`)
`<md5>` is `file` when a file declares none (then its sha256 must be given: nothing unverified is
ever published). kipoi downloads only top-level remote args; deeper `{url, md5}` leaves are laid out
by their arg path (`<arg>/<key>/.../<md5>`) so that they too are there offline.

A file is fetched at most once per store: an md5 -> sha256 index (store.cache_dir/"md5", rebuildable:
every hit is checked against the objects) finds it again from any model of any commit. Downloads
try each URL from `url_rewrites` (mirrors) before the original, run in a few threads, and go
through download.download_url (resume with Range, retry with backoff, md5 and sha256 hashed while
streaming); bytes whose md5 is wrong never reach the store. The files are then published as model
`<name>#files` of the same snapshot, so `kipoi store verify` checks them and gc keeps them.
"""

import os
import posixpath
import re
import threading
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Optional

from kipoi_store.net import download
from kipoi_store.errors import IntegrityError, NetworkError, NotFoundError, OfflineError, UnsafePathError
from kipoi_store.store.core import FileEntry, check_relpath
from kipoi_store.net.rewrites import candidate_urls

FILES_SUFFIX = "#files"  # manifest name of a model's downloaded files: `<model>#files`
MODEL_FILES = ("model.yaml", "model.yml")
TEMPLATE_FILES = ("model-template.yaml", "model-template.yml")
DATALOADER_FILES = ("dataloader.yaml", "dataloader.yml")
DATALOADER_TEMPLATES = ("dataloader-template.yaml", "dataloader-template.yml")
GROUP_TABLE = "models.tsv"
WORKERS = 4
UNNAMED = "file"  # kipoi's file name for a download without an md5

_MD5 = re.compile(r"[0-9a-fA-F]{32}")
_SHA256 = re.compile(r"[0-9a-fA-F]{64}")
# kipoi's fixed names for tensorflow's multi-file arguments (kipoi/model.py).
TF_CHECKPOINT = ("checkpoint_path", "ckp", {"meta": "model.meta", "index": "model.index",
                                            "data": "model.data-00000-of-00001"})
TF2_SAVEDMODEL = ("savedmodel_path", "sdm", {"pb": "saved_model.pb",
                                             "index": "variables/variables.index",
                                             "data": "variables/variables.data-00000-of-00001"})


# -- the arg tree ---------------------------------------------------------------------------------

def is_remote(node) -> bool:
    """Whether a yaml node is a remote file: a mapping with a string `url` (kipoi turns every such
    mapping into a RemoteFile, and looks no deeper)."""
    return isinstance(node, dict) and isinstance(node.get("url"), str)


def walk_remote(tree, path=()):
    """Every remote-file leaf of a parsed yaml tree of any nesting, as (arg path, leaf) in document
    order; an arg path is a tuple of mapping keys and list indexes (as strings). yaml anchors can
    share a node or make one contain itself: each container is entered once per path only."""
    out = []
    stack = [(path, tree, frozenset())]
    while stack:
        here, node, above = stack.pop()
        if is_remote(node):
            out.append((here, node))
            continue
        if isinstance(node, dict):
            items = [(str(k), v) for k, v in node.items()]
        elif isinstance(node, list):
            items = [(str(i), v) for i, v in enumerate(node)]
        else:
            continue
        if id(node) in above:
            continue  # a self-containing anchor: its own leaves were found on the way in
        inner = above | {id(node)}
        stack.extend((here + (k,), v, inner) for k, v in reversed(items))
    return out


# -- what to fetch, and where it goes ---------------------------------------------------------------

@dataclass(frozen=True)
class Wanted:
    path: str                # where the file goes, relative to the snapshot root
    component: str           # "model" or "dataloader"
    arg: str                 # the arg path, dotted: "weights", "checkpoint_path.meta"
    url: str
    md5: Optional[str]       # lower-case hex, or None
    sha256: Optional[str]    # lower-case hex, or None

    @property
    def content(self):
        """What identifies the bytes: two Wanted with the same content are one download."""
        return (self.md5, self.sha256)


def _digest(leaf, key, pattern, what):
    value = leaf.get(key)
    if value is None or value == "":
        return None
    value = str(value).strip()
    if not pattern.fullmatch(value):
        raise IntegrityError("%s: %s %r is not a hex digest" % (what, key, value))
    return value


def _wanted(path, component, arg, leaf, what):
    md5 = _digest(leaf, "md5", _MD5, what)
    sha256 = _digest(leaf, "sha256", _SHA256, what)
    for segment in path.split("/"):
        if segment in ("", ".", "..") or "\0" in segment:
            raise UnsafePathError("%s: arg %s gives the unsafe download path %r" % (what, arg, path))
    check_relpath(path)
    return Wanted(path, component, arg, leaf["url"].strip(), md5 and md5.lower(),
                  sha256 and sha256.lower())


def _file_name(leaf):
    md5 = leaf.get("md5")
    return str(md5).strip() if md5 not in (None, "") else UNNAMED


def model_layout(doc, download_dir, what="model"):
    """The remote files of a parsed model.yaml with their kipoi paths under `download_dir`."""
    args = doc.get("args") if isinstance(doc, dict) else None
    if not isinstance(args, dict):
        return []
    special = {}
    defined_as = doc.get("defined_as")
    if doc.get("type") == "tensorflow" or defined_as == "kipoi.model.TensorFlowModel":
        special[TF_CHECKPOINT[0]] = TF_CHECKPOINT[1:]
    if defined_as == "kipoi.model.TensorFlow2Model":
        special[TF2_SAVEDMODEL[0]] = TF2_SAVEDMODEL[1:]
    out = []
    for argpath, leaf in walk_remote(args):
        arg = ".".join(argpath)
        fixed = special.get(argpath[0])
        value = args.get(argpath[0])
        if (fixed and len(argpath) == 2 and isinstance(value, dict)
                and set(value) == set(fixed[1]) and all(is_remote(v) for v in value.values())):
            rel = posixpath.join(fixed[0], fixed[1][argpath[1]])
        else:
            rel = posixpath.join(*argpath, _file_name(leaf))
        out.append(_wanted(posixpath.join(download_dir, rel), "model", arg, leaf, what))
    return out


def dataloader_layout(doc, download_dir, what="dataloader"):
    """The remote `default`s of a parsed dataloader.yaml's args under `download_dir`."""
    args = doc.get("args") if isinstance(doc, dict) else None
    if isinstance(args, list):  # the list form: [{name: ..., default: ...}, ...]
        args = {a.get("name"): a for a in args if isinstance(a, dict) and a.get("name")}
    if not isinstance(args, dict):
        return []
    out = []
    for name, spec in args.items():
        if not isinstance(spec, dict) or "default" not in spec:
            continue
        default = spec["default"]
        for subpath, leaf in walk_remote(default):
            arg = ".".join((str(name),) + subpath)
            if subpath:
                rel = posixpath.join(str(name), *subpath, _file_name(leaf))
            else:
                rel = _file_name(leaf)
            out.append(_wanted(posixpath.join(download_dir, rel), "dataloader", arg, leaf, what))
    return out


# -- reading the published snapshot -----------------------------------------------------------------

def _load_yaml(path, what):
    import yaml

    try:
        with open(path, "rb") as f:
            return yaml.safe_load(f)
    except (OSError, yaml.YAMLError) as exc:
        raise IntegrityError("%s: cannot read %s: %s" % (what, path, exc)) from None


def _first(root, directory, names):
    for name in names:
        path = os.path.join(root, directory, name) if directory else os.path.join(root, name)
        if os.path.isfile(path):
            return path
    return None


def _read_text(path):
    with open(path, "rb") as f:
        return f.read().decode("utf-8", "replace")


def _group_doc(root, group, row, templates, what):
    """A group row's rendered yaml, parsed; None when `group` holds no such template."""
    from kipoi_store.models import render

    template = _first(root, group, templates)
    table = _first(root, group, (GROUP_TABLE,))
    if template is None or table is None:
        return None
    text = render.render_row(_read_text(template), _read_text(table), row, where=group or ".")
    import yaml

    try:
        return yaml.safe_load(text)
    except yaml.YAMLError as exc:
        raise IntegrityError("%s: the rendered %s does not parse: %s"
                             % (what, os.path.basename(template), exc)) from None


def _join(*parts):
    return "/".join(p for p in parts if p)


def _dataloader_component(model, reference):
    """kipoi's name for the default dataloader of `model`: `os.path.join("/" + model, ref)[1:]`,
    normalised; None when it names another source or leaves the source root."""
    if not isinstance(reference, str) or ":" in reference or not reference.strip():
        return None
    joined = posixpath.normpath(posixpath.join("/" + model, reference.strip()))
    if not joined.startswith("/"):
        return None
    name = joined.lstrip("/")
    return None if name.startswith("..") else name


def wanted_files(root, model, group=None, what=None):
    """Every remote file of `model` (and of its default dataloader) in snapshot tree `root`, with
    its kipoi path relative to `root`. `group` is the group directory of a group model."""
    what = what or "model %s" % model
    if group is not None:
        row = model[len(group):].lstrip("/") if group else model
        doc = _group_doc(root, group, row, TEMPLATE_FILES, what)
        model_dir = _join(group, "downloaded/model_files", row)
    else:
        path = _first(root, model, MODEL_FILES)
        doc = _load_yaml(path, what) if path else None
        model_dir = _join(model, "downloaded/model_files")
    if not isinstance(doc, dict):
        return []
    found = model_layout(doc, model_dir, what)
    component = _dataloader_component(model, doc.get("default_dataloader", "."))
    if component is not None:
        found += _dataloader_files(root, component, what)
    return found


def _dataloader_files(root, component, what):
    path = _first(root, component, DATALOADER_FILES)
    if path is not None:
        return dataloader_layout(_load_yaml(path, what), _join(component, "downloaded/dataloader_files"),
                                 "%s, dataloader %s" % (what, component or "."))
    # A dataloader group (dataloader-template.yaml + models.tsv) above the component.
    parts = component.split("/") if component else []
    for i in range(len(parts) - 1, -1, -1):
        group, row = "/".join(parts[:i]), "/".join(parts[i:])
        if _first(root, group, DATALOADER_TEMPLATES) is None:
            continue
        try:
            doc = _group_doc(root, group, row, DATALOADER_TEMPLATES, what)
        except NotFoundError:
            return []
        return dataloader_layout(doc, _join(group, "downloaded/dataloader_files", row),
                                 "%s, dataloader %s" % (what, component))
    return []


# -- URLs ---------------------------------------------------------------------------------------

# -- the md5 index --------------------------------------------------------------------------------

class Md5Index:
    """md5 -> sha256 of store objects whose bytes were seen to have that md5. Only a hint: a hit
    counts when the object exists, and the store's own sha256 check keeps objects honest."""

    def __init__(self, store):
        self.store = store
        self._cache = None
        self._lock = threading.Lock()

    @property
    def cache(self):
        if self._cache is None:
            import diskcache

            self._cache = diskcache.Cache(str(self.store.cache_dir / "md5"), eviction_policy="none")
        return self._cache

    def get(self, md5):
        with self._lock:
            sha256 = self.cache.get(md5)
        return sha256 if sha256 is not None and self.store.has_object(sha256) else None

    def put(self, md5, sha256):
        with self._lock:
            self.cache.set(md5, sha256)

    def close(self):
        if self._cache is not None:
            self._cache.close()
            self._cache = None


# -- downloading ----------------------------------------------------------------------------------

def progress_meter(total_files, enabled, stream=None):
    """The stderr line of a pull: `model files: 1/3, 2.9 KiB, 1.2 MiB/s` (model.yaml states no
    sizes, so no total)."""
    return download.Progress(None, total_files, enabled, stream, label="model files", unit="")


class Fetcher:
    """Gets files into the store: from the store itself when their md5 (or sha256) is known, else
    from the first candidate URL that serves the right bytes."""

    def __init__(self, store, rewrites=(), offline=False, meter=None, **options):
        self.store = store
        self.rewrites = list(rewrites)
        self.offline = offline
        self.opts = download.Options(**options)
        self.index = Md5Index(store)
        self.meter = meter or progress_meter(0, enabled=False)
        # The md5 in model.yaml is of the bytes as served: never let a server compress them.
        self.sessions = download.Sessions({"User-Agent": "kipoi-store",
                                           "Accept-Encoding": "identity"})

    def close(self):
        self.index.close()

    def known(self, w: Wanted, what) -> Optional[str]:
        """The sha256 of an object already holding `w`'s bytes, or None."""
        if w.md5:
            sha256 = self.index.get(w.md5)
            if sha256 is not None:
                if w.sha256 and sha256 != w.sha256:
                    raise IntegrityError("%s: arg %s: md5 %s and sha256 %s disagree (the store holds "
                                         "that md5 as sha256 %s)" % (what, w.arg, w.md5, w.sha256, sha256))
                return sha256
        if w.sha256 and self.store.has_object(w.sha256):
            if w.md5:
                from kipoi_store.store import hashing

                actual = hashing.md5_file(self.store.object_path(w.sha256))
                if actual != w.md5:
                    raise IntegrityError("%s: arg %s: md5 %s and sha256 %s disagree (its md5 is %s)"
                                         % (what, w.arg, w.md5, w.sha256, actual))
                self.index.put(w.md5, w.sha256)
            return w.sha256
        return None

    def fetch(self, w: Wanted, what) -> str:
        """The sha256 of `w`'s bytes, now in the store."""
        sha256 = self.known(w, what)
        if sha256 is not None:
            self.meter.file_done()
            return sha256
        if self.offline:
            raise OfflineError("%s: arg %s: not in the store (offline): %s" % (what, w.arg, w.url))
        wrong, failed, missing = [], [], 0
        for url in candidate_urls(w.url, self.rewrites):
            try:
                sha256 = self._download(url, w)
            except IntegrityError as exc:
                wrong.append("%s (%s)" % (download.short_url(url), exc))
                continue
            except NotFoundError:
                missing += 1
                failed.append("%s (not found)" % download.short_url(url))
                continue
            except NetworkError as exc:
                failed.append("%s (%s)" % (download.short_url(url), exc))
                continue
            if w.md5:
                self.index.put(w.md5, sha256)
            self.meter.file_done()
            return sha256
        if wrong:
            raise IntegrityError("%s: arg %s: wrong content from %s" % (what, w.arg, "; ".join(wrong)))
        error = NotFoundError if missing == len(failed) else NetworkError
        raise error("%s: arg %s: cannot download %s: tried %s" % (what, w.arg, w.url, "; ".join(failed)))

    def _download(self, url, w):
        """Download `url`, hashing md5 and sha256 as it streams; only right bytes reach the store."""
        with download.download_url(url, self.store, algorithms=("md5",), opts=self.opts,
                                   meter=self.meter, session=self.sessions.get()) as got:
            if w.md5 and got.digests["md5"] != w.md5:
                raise IntegrityError("md5 %s, expected %s" % (got.digests["md5"], w.md5))
            if w.sha256 and got.sha256 != w.sha256:
                raise IntegrityError("sha256 %s, expected %s" % (got.sha256, w.sha256))
            # Hashed while streaming: no second pass over the file.
            return self.store.commit_verified(got.path, got.sha256)


# -- the whole job ----------------------------------------------------------------------------------

def fetch_model_files(resolution, store, config, offline=False, progress=False, workers=WORKERS,
                      **options):
    """Bring every remote file of a resolved model (and of its default dataloader) into the store and
    publish them at kipoi's paths in the model's snapshot; returns their absolute paths, sorted.

    Already published for this snapshot: returns at once. `offline`: only what the store holds,
    else OfflineError naming each missing file and its URL. Wrong bytes at every URL:
    IntegrityError naming model, arg and URL. `options` tune transfers (download.Options: tries,
    backoff, max_wait, timeout, sleep)."""
    name = resolution.model + FILES_SUFFIX
    root = store.snapshot_root(resolution.key)
    done = store.manifest(resolution.key, name)
    if done is not None:
        store.touch(resolution.key, name)
        return sorted(str(root / p) for p in done["files"])
    what = "model %s:%s" % (resolution.source, resolution.model)
    wanted = wanted_files(str(root), resolution.model, resolution.group, what)
    by_path = {}
    for w in wanted:
        if not w.md5 and not w.sha256:
            raise IntegrityError("%s: arg %s: %s has neither md5 nor sha256, so it cannot be "
                                 "verified" % (what, w.arg, w.url))
        by_path.setdefault(w.path, w)
    unique = {}
    for w in by_path.values():
        unique.setdefault(w.content, w)
    meter = progress_meter(len(unique), enabled=progress)
    fetcher = Fetcher(store, config.url_rewrites if config is not None else (), offline=offline,
                      meter=meter, **options)
    try:
        digests, errors = _fetch_all(fetcher, list(unique.values()), what, workers)
    finally:
        meter.close()
        fetcher.close()
    if errors:
        offline_errors = [e for e in errors if isinstance(e, OfflineError)]
        if offline_errors and len(offline_errors) == len(errors):
            missing = ["%s %s" % (w.arg, w.url) for w in unique.values() if w.content not in digests]
            raise OfflineError("%s: %d file%s not in the store (offline): %s" % (
                what, len(missing), "" if len(missing) == 1 else "s", "; ".join(missing)))
        first = next((e for e in errors if not isinstance(e, OfflineError)), errors[0])
        if len(errors) > 1:
            first.args = ("%s (and %d more failed)" % (first, len(errors) - 1),)
        raise first
    entries = {p: FileEntry(digests[w.content]) for p, w in by_path.items()}
    store.publish(resolution.key, name, entries)
    return sorted(str(root / p) for p in entries)


def _fetch_all(fetcher, items, what, workers):
    """{content: sha256} for every item that could be had, and the errors of the others."""
    digests, errors = {}, []
    if not items:
        return digests, errors
    with ThreadPoolExecutor(max(1, min(workers, len(items))), thread_name_prefix="files") as pool:
        futures = [(w, pool.submit(fetcher.fetch, w, what)) for w in items]
        for w, future in futures:
            try:
                digests[w.content] = future.result()
            except BaseException as exc:  # noqa: B902 - reported after the others finish
                if not isinstance(exc, Exception):
                    pool.shutdown(wait=False, cancel_futures=True)
                    raise
                errors.append(exc)
    return digests, errors
