"""Which remote files a model names, and where kipoi expects them: the weights and data that
model.yaml and dataloader.yaml give as `{url, md5}`, each with its path in the source tree.

    wanted = wanted_files(snapshot_root, "rbp_eclip/UPF1")   # [Wanted(path, arg, url, md5, ...)]

Where kipoi puts a download (kipoi/sources.py `_get_component_download_dir`, kipoi/model.py,
kipoi/specs.py `download_default_args`), relative to the source root:
    model M:              M/downloaded/model_files/<arg>/<md5>
    group row G/R:        G/downloaded/model_files/R/<arg>/<md5>
    tensorflow checkpoint <model files>/ckp/model.meta, model.index, model.data-00000-of-00001
    tensorflow2 saved     <model files>/sdm/saved_model.pb, sdm/variables/variables.index, ...data...
    dataloader D:         D/downloaded/dataloader_files/<md5>          (only each arg's `default`)
With examples (kipoi/specs.py `example_kwargs`, kipoi/cli/main.py `cli_test`):
    dataloader example:   <D's dir>/downloaded/example_files/<name, else the arg's name>
                          (<D's dir>: D itself, or the group directory of a dataloader group)
    test expectation:     <model files>/test.expect.h5                 (`test: expect: {url, md5}`)
`<md5>` is `file` when a file declares none (then its sha256 must be given: nothing unverified is
ever published). kipoi downloads only top-level remote args; deeper `{url, md5}` leaves are laid out
by their arg path (`<arg>/<key>/.../<md5>`) so that they too are there offline.
"""

import os
import posixpath
import re
from dataclasses import dataclass
from typing import Optional

from kipoi_store.errors import IntegrityError, NotFoundError, UnsafePathError
from kipoi_store.models.kipoi_names import (DATALOADER_FILES, DATALOADER_TEMPLATES, DOWNLOADS, GROUP_TABLE,
                                            MODEL_FILES, TEMPLATE_FILES)
from kipoi_store.models.yamldoc import load_strict, parse_rendered
from kipoi_store.store.core.entries import check_relpath

UNNAMED = "file"  # kipoi's file name for a download without an md5
EXPECT_FILE = "test.expect.h5"  # kipoi's name for a downloaded `test: expect:` file

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
    component: str           # "model", "dataloader", "example" (a dataloader's) or "test"
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


def _dataloader_args(doc):
    args = doc.get("args") if isinstance(doc, dict) else None
    if isinstance(args, list):  # the list form: [{name: ..., default: ...}, ...]
        args = {a.get("name"): a for a in args if isinstance(a, dict) and a.get("name")}
    return args if isinstance(args, dict) else {}


def dataloader_layout(doc, download_dir, what="dataloader"):
    """The remote `default`s of a parsed dataloader.yaml's args under `download_dir`."""
    out = []
    for name, spec in _dataloader_args(doc).items():
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


def example_layout(doc, example_dir, what="dataloader"):
    """The remote `example`s of a parsed dataloader.yaml's args under `example_dir`. kipoi fetches
    only an arg whose whole example is one remote file, named by its `name` (a base name) or else
    by the arg's name."""
    out = []
    for name, spec in _dataloader_args(doc).items():
        example = spec.get("example") if isinstance(spec, dict) else None
        if not is_remote(example):
            continue
        file_name = posixpath.basename(str(example.get("name") or "")) or str(name)
        out.append(_wanted(posixpath.join(example_dir, file_name), "example", str(name), example, what))
    return out


def expect_layout(doc, model_files_dir, what="model"):
    """A parsed model.yaml's remote `test: expect:` file, where `kipoi test` downloads it."""
    test = doc.get("test") if isinstance(doc, dict) else None
    expect = test.get("expect") if isinstance(test, dict) else None
    if not is_remote(expect):
        return []
    return [_wanted(posixpath.join(model_files_dir, EXPECT_FILE), "test", "test.expect", expect, what)]


# -- reading the published snapshot -----------------------------------------------------------------

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
    return parse_rendered(text, what, os.path.basename(template))


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


def _model_doc(root, model, group, what):
    """(parsed model yaml or None, the model's download directory `.../downloaded/model_files`)."""
    if group is not None:
        row = model[len(group):].lstrip("/") if group else model
        doc = _group_doc(root, group, row, TEMPLATE_FILES, what)
        return doc, _join(group, DOWNLOADS, "model_files", row)
    path = _first(root, model, MODEL_FILES)
    return (load_strict(path, what) if path else None), _join(model, DOWNLOADS, "model_files")


def wanted_files(root, model, group=None, what=None):
    """Every remote file of `model` (and of its default dataloader) in snapshot tree `root`, with
    its kipoi path relative to `root`. `group` is the group directory of a group model."""
    return _model_and_loader(root, model, group, what, model_layout,
                             lambda dl_doc, dl_dir, download_dir, dl_what:
                             dataloader_layout(dl_doc, download_dir, dl_what))


def wanted_examples(root, model, group=None, what=None):
    """The remote example files of `model`'s default dataloader and its remote test expectation,
    with their kipoi paths relative to `root` (see wanted_files)."""
    return _model_and_loader(root, model, group, what, expect_layout,
                             lambda dl_doc, dl_dir, download_dir, dl_what:
                             example_layout(dl_doc, _join(dl_dir, DOWNLOADS, "example_files"), dl_what))


def _model_and_loader(root, model, group, what, own_layout, loader_layout):
    """`own_layout` of the model's yaml plus `loader_layout` of its default dataloader's, if any."""
    what = what or "model %s" % model
    doc, model_dir = _model_doc(root, model, group, what)
    if not isinstance(doc, dict):
        return []
    found = own_layout(doc, model_dir, what)
    loader = _default_dataloader(root, model, doc, what)
    if loader is not None:
        found += loader_layout(*loader)
    return found


def _default_dataloader(root, model, doc, what):
    """(parsed dataloader yaml, the directory kipoi runs it in, its download directory, label) of
    `model`'s default dataloader in this source, or None (none, another source's, a package's)."""
    component = _dataloader_component(model, doc.get("default_dataloader", "."))
    if component is None:
        return None
    label = "%s, dataloader %s" % (what, component or ".")
    path = _first(root, component, DATALOADER_FILES)
    if path is not None:
        return (load_strict(path, what), component, _join(component, DOWNLOADS, "dataloader_files"),
                label)
    # A dataloader group (dataloader-template.yaml + models.tsv) above the component: kipoi runs
    # it in the group directory.
    parts = component.split("/") if component else []
    for i in range(len(parts) - 1, -1, -1):
        group, row = "/".join(parts[:i]), "/".join(parts[i:])
        if _first(root, group, DATALOADER_TEMPLATES) is None:
            continue
        try:
            dl_doc = _group_doc(root, group, row, DATALOADER_TEMPLATES, what)
        except NotFoundError:
            return None
        return dl_doc, group, _join(group, DOWNLOADS, "dataloader_files", row), label
    return None
