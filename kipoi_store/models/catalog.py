"""What counts as a model in a source tree, and which paths a model needs to work.

kipoi's rules, made explicit:
- a directory holding `model.yaml` (or `model.yml`) is a model, named by its path;
- a directory holding `model-template.yaml` (or `.yml`) and `models.tsv` is a model group: each value
  of the tsv's `model` column names one model `<group dir>/<value>` (values may hold `/`), and that
  model's directory is the group directory;
- an explicit model directory wins over a group row of the same name.

Everything here works on a tree.Tree, so the same rules hold for a folder and a git commit.
"""

import difflib
import re
from collections import deque
from dataclasses import dataclass
from typing import Optional

from kipoi_store.errors import NotFoundError, UnsafePathError
from kipoi_store.tree import DIR, FILE, LINK, basename, is_below, join, parent, sort_key, split

MODEL_FILES = ("model.yaml", "model.yml")
TEMPLATE_FILES = ("model-template.yaml", "model-template.yml")
GROUP_TABLE = "models.tsv"
DATALOADER_FILES = ("dataloader.yaml", "dataloader.yml")

MAX_LINK_HOPS = 40          # as Linux's MAXSYMLINKS: a longer chain is treated as a loop
MAX_REFERENCE_LENGTH = 512  # longer yaml strings are prose, not paths
SUGGESTIONS = 5
GROUP_EXAMPLES = 3

_PRESENT = (FILE, LINK)  # a model.yaml that is a symlink (kipoi's templates use them) still counts


@dataclass(frozen=True)
class ModelRef:
    name: str                     # the model name, e.g. "rbp_eclip/UPF1" or "DeepBind/D00328.018"
    directory: str                # the model directory; for a group model, the group directory
    group: Optional[str] = None   # the group directory, for group models


# -- what a directory is -------------------------------------------------------------------------

def _has(tree, directory, names):
    return any(tree.kind(join(directory, n)) in _PRESENT for n in names)


def is_model_dir(tree, d) -> bool:
    return _has(tree, d, MODEL_FILES)


def is_group_dir(tree, d) -> bool:
    return _has(tree, d, TEMPLATE_FILES) and tree.kind(join(d, GROUP_TABLE)) in _PRESENT


def _is_model_or_group(names):
    """The same two tests on a set of names already listed from one directory."""
    return bool(names.intersection(MODEL_FILES)) or (
        bool(names.intersection(TEMPLATE_FILES)) and GROUP_TABLE in names)


def clean_name(name):
    """A model name or prefix with redundant slashes dropped; UnsafePathError for `.`/`..` segments."""
    parts = [p for p in name.split("/") if p]
    return "/".join(split("/".join(parts))) if parts else ""


# -- model groups --------------------------------------------------------------------------------

def parse_rows(text):
    """The `model` column of a models.tsv: tab separated, a header row, `#` comment lines allowed.

    Rows whose name is not a clean relative path are skipped: a name is a path below the group.
    """
    rows, column = [], None
    for line in text.splitlines():
        if not line.strip() or line.lstrip().startswith("#"):
            continue
        cells = [_unquote(c.strip()) for c in line.split("\t")]
        if column is None:
            if "model" not in cells:
                return []  # not a kipoi group table: it names no models
            column = cells.index("model")
            continue
        if column >= len(cells):
            continue
        try:
            row = clean_name(cells[column])
        except UnsafePathError:
            continue
        if row:
            rows.append(row)
    return rows


def _unquote(cell):
    if len(cell) >= 2 and cell[0] == cell[-1] == '"':
        return cell[1:-1].replace('""', '"')
    return cell


def group_rows(tree, d) -> list:
    data = _read_following(tree, join(d, GROUP_TABLE))
    if data is None:
        return []
    return parse_rows(data.decode("utf-8", "surrogateescape"))


# -- finding and listing -------------------------------------------------------------------------

def find_model(tree, name, source=None) -> ModelRef:
    """The model called `name`. Cheap when it exists: a few lookups, no walk over the tree."""
    name = clean_name(name)
    if name and is_model_dir(tree, name):
        return ModelRef(name, name)
    parts = name.split("/") if name else []
    # The nearest group above wins: its rows are the most specific claim on the name.
    for i in range(len(parts) - 1, -1, -1):
        group = "/".join(parts[:i])
        if tree.kind(group) == DIR and is_group_dir(tree, group) and \
                "/".join(parts[i:]) in group_rows(tree, group):
            return ModelRef(name, group, group=group)
    raise NotFoundError(not_found_message(tree, name, source))


def not_found_message(tree, name, source=None):
    """Only on the failure path: this one walks the whole source to suggest names."""
    where = " in source '%s'" % source if source else ""
    names = list_models(tree)
    if not name:
        shown = ", ".join(names[:GROUP_EXAMPLES]) + (", ..." if len(names) > GROUP_EXAMPLES else "")
        return "no model name given%s; it holds %d models, e.g. %s" % (where, len(names), shown)
    below = [n for n in names if n.startswith(name + "/")]
    if below:
        shown = ", ".join(below[:GROUP_EXAMPLES]) + (", ..." if len(below) > GROUP_EXAMPLES else "")
        return "'%s'%s is a group of %d models, e.g. %s" % (name, where, len(below), shown)
    message = "model '%s' not found%s" % (name, where)
    close = suggest(name, names)
    if close:
        message += "; did you mean: " + ", ".join(close)
    return message


def suggest(name, names, n=SUGGESTIONS):
    """The closest names: same last segment first (a forgotten group), then difflib's closest."""
    last = basename(name).lower()
    same_leaf = [x for x in names if basename(x).lower() == last and x != name]
    close = difflib.get_close_matches(name, names, n=n, cutoff=0.6)
    out = []
    for x in same_leaf + close:
        if x not in out:
            out.append(x)
    return out[:n]


def list_models(tree, prefix=None) -> list:
    """Every model name, bytewise sorted; `prefix` keeps those equal to it or below it (whole segments)."""
    prefix = clean_name(prefix) if prefix else ""
    names = set()
    if prefix:
        # Groups above the prefix can hold rows below it (DeepBind's rows are `Homo_sapiens/TF/...`).
        parts = prefix.split("/")
        for i in range(len(parts) - 1, -1, -1):
            group = "/".join(parts[:i])
            if tree.kind(group) == DIR and is_group_dir(tree, group):
                names.update(join(group, row) for row in group_rows(tree, group))
        entries = tree.walk(prefix) if tree.kind(prefix) == DIR else ()
    else:
        entries = tree.walk("")
    present = {}
    for path, kind in entries:
        if kind in _PRESENT:
            present.setdefault(parent(path), set()).add(basename(path))
    for directory, files in present.items():
        if files.intersection(MODEL_FILES) and directory:
            names.add(directory)
        if files.intersection(TEMPLATE_FILES) and GROUP_TABLE in files:
            names.update(join(directory, row) for row in group_rows(tree, directory))
    if prefix:
        names = {n for n in names if is_below(n, prefix)}
    return sorted(names, key=sort_key)


# -- closure: what to materialise -----------------------------------------------------------------

KIPOI_DOWNLOADS = "downloaded"


def closure(tree, ref: ModelRef, source=None) -> list:
    """Every path (files and symlinks) a model needs, bytewise sorted.

    - everything below the model directory, except nested directories that are models or groups
      themselves (and, for a group model, the directories of the group's other rows);
    - each symlink and, when inside the tree, its target (a link to a directory brings the
      directory's files, a link to a link is followed); a target outside the tree is refused
      (UnsafePathError), a dangling one keeps the link only;
    - what model.yaml and dataloader.yaml reference: `default_dataloader: ..` brings that
      directory's dataloader.yaml and, transitively, what it references; any string naming an
      existing path relative to the yaml's directory (`../model_architecture.py`) brings it along.
    """
    return _Closure(tree, source).run(ref)


class _Closure:
    def __init__(self, tree, source):
        self.tree = tree
        self.where = " in source '%s'" % source if source else ""
        self.paths = set()
        self.dirs_done = set()
        self.links_done = set()
        self.dataloaders_done = set()
        self.home = ""

    def run(self, ref):
        self.home = ref.directory
        skip = None
        if ref.group is not None:
            skip = _other_rows_filter(group_rows(self.tree, ref.group), ref.group,
                                      ref.name[len(ref.group):].lstrip("/"))
        self.add_dir(ref.directory, skip)
        self.dataloaders_done.add(ref.directory)
        yamls = MODEL_FILES + DATALOADER_FILES
        if ref.group is not None:
            self.add_yaml_refs(ref.directory, TEMPLATE_FILES, template=True)
        self.add_yaml_refs(ref.directory, yamls)
        return sorted(self.paths, key=sort_key)

    # directories and links
    def add_dir(self, d, skip=None):
        if d in self.dirs_done:
            return
        self.dirs_done.add(d)
        entries = list(self.tree.walk(d))
        present = {}
        for path, kind in entries:
            if kind in _PRESENT:
                present.setdefault(parent(path), set()).add(basename(path))
        nested = {x for x, names in present.items() if x != d and _is_model_or_group(names)}
        # kipoi's own download cache in a model folder is not part of the model: the store lays
        # out verified files there itself (modelfiles.py), and stale copies must not shadow them.
        nested.add(join(d, KIPOI_DOWNLOADS))
        for path, kind in entries:
            if kind == DIR or (skip is not None and skip(path)):
                continue
            if nested and _under_any(path, d, nested):
                continue
            if kind == FILE:
                self.paths.add(path)
            else:
                self.add_link(path)

    def add_link(self, link):
        if link in self.links_done:
            return
        self.links_done.add(link)
        self.paths.add(link)
        target = self.tree.readlink(link)
        if _lexically_outside(parent(link), target):
            # Also when it dangles inside: a copy must not hold a link that reads as leaving it.
            self._outside(link, link, target)
        found = self.resolve(parent(link), target, origin=link)
        if found is not None:
            self.take(*found)

    def take(self, path, kind):
        if kind == FILE:
            self.paths.add(path)
        elif kind == DIR:
            self.add_dir(path)

    def resolve(self, start, target, origin=None):
        """Follow `target` from directory `start` as the OS would, one segment at a time.

        Returns (path, kind) of what it names, or None when it names nothing (dangling, a loop).
        With `origin` (a symlink being materialised) leaving the tree raises UnsafePathError; without
        it (a string from a yaml file) leaving the tree just names nothing.
        """
        if target.startswith("/"):
            return self._outside(origin, origin, target)
        todo = deque(target.split("/"))
        here, kind, via, hops = start, DIR, [], 0
        while todo:
            part = todo.popleft()
            if part in ("", "."):
                continue
            if kind != DIR:
                return None  # `file/...`: not a directory
            if part == "..":
                if here == "":
                    return self._outside(origin, via[-1] if via else origin, target)
                here = parent(here)
                continue
            candidate = join(here, part)
            kind = self.tree.kind(candidate)
            if kind == LINK:
                hops += 1
                if hops > MAX_LINK_HOPS:
                    return None
                via.append(candidate)
                target = self.tree.readlink(candidate)
                if target.startswith("/"):
                    return self._outside(origin, candidate, target)
                todo.extendleft(reversed(target.split("/")))
                kind = DIR  # resolving continues from the link's own directory
                continue
            if kind is None:
                return None
            here = candidate
        # The links passed through are kept so the copy resolves alike; each is still followed in
        # full when met on its own (a link to a directory brings the whole directory then).
        self.paths.update(via)
        return here, kind

    def _outside(self, origin, link, target):
        """`link` (the symlink being materialised, or one its target passes through) leaves the tree."""
        if origin is None:
            return None
        how = ": %r" % target if link == origin else " through symlink '%s' -> %r" % (link, target)
        raise UnsafePathError("symlink '%s'%s points outside the source%s; refusing to follow it"
                              % (origin, self.where, how))

    # yaml references
    def add_yaml_refs(self, d, names, template=False):
        for name in names:
            data = _read_following(self.tree, join(d, name))
            if data is None:
                continue
            doc = _load_yaml(data, template)
            if doc is None:
                continue
            if isinstance(doc, dict):
                loader = doc.get("default_dataloader")
                if isinstance(loader, dict):
                    loader = loader.get("defined_as")
                if isinstance(loader, str):
                    self.add_dataloader(d, loader)
            for value in _strings(doc):
                self.add_reference(d, value)

    def add_dataloader(self, d, reference):
        """`default_dataloader: ..` (or a path): that directory's dataloader.yaml and its references."""
        if "::" in reference or len(reference) > MAX_REFERENCE_LENGTH or "\n" in reference:
            return  # `module.py::Class` or a python path: not a dataloader directory
        found = self.resolve(d, reference)
        if found is None or found[1] != DIR or found[0] in self.dataloaders_done:
            return
        directory = found[0]
        self.dataloaders_done.add(directory)
        for name in DATALOADER_FILES:
            if self.tree.kind(join(directory, name)) in _PRESENT:
                self.take(*self.resolve(directory, name) or (None, None))
        self.add_yaml_refs(directory, DATALOADER_FILES)

    def add_reference(self, d, value):
        if len(value) > MAX_REFERENCE_LENGTH or "\n" in value or "\0" in value or "://" in value:
            return
        value = value.split("::", 1)[0].strip()  # `dataloader.py::SeqDataset` names dataloader.py
        if not value or value.startswith(("/", "~")) or not value.strip("./"):
            return  # absolute, or only dots: `.`/`..` are dataloader references, not files
        found = self.resolve(d, value)
        if found is None:
            return
        path, kind = found
        if kind == DIR and is_below(self.home, path):
            return  # a directory holding the model itself: that would be everything around it
        self.take(path, kind)


def _lexically_outside(directory, target):
    if target.startswith("/"):
        return True
    depth = len(directory.split("/")) if directory else 0
    for part in target.split("/"):
        if part == "..":
            depth -= 1
            if depth < 0:
                return True
        elif part not in ("", "."):
            depth += 1
    return False


def _under_any(path, top, dirs):
    """Whether `path` lies below one of `dirs` (each strictly below `top`)."""
    d = parent(path)
    while d != top and d:
        if d in dirs:
            return True
        d = parent(d)
    return False


def _other_rows_filter(rows, group, own):
    """For a group model: skip what lies in the directory of another row of the same group.

    Old kipoi groups kept one weights directory per row (DeepBind/<row>/model_files/...); one model
    should not bring the weights of hundreds of siblings.
    """
    others = set(rows) - {own}
    if not others:
        return None
    offset = len(group) + 1 if group else 0

    def skip(path):
        rel = path[offset:]
        parts = rel.split("/")
        # The deepest row claiming the path decides (rows may nest: `a` and `a/b`).
        for i in range(len(parts), 0, -1):
            candidate = "/".join(parts[:i])
            if candidate == own:
                return False
            if candidate in others:
                return True
        return False

    return skip


def _read_following(tree, path):
    """The bytes of `path`, following symlinks inside the tree; None if there is no such file."""
    kind = tree.kind(path)
    if kind == FILE:
        return tree.read(path)
    if kind != LINK:
        return None
    found = _Closure(tree, None).resolve(parent(path), tree.readlink(path))
    if found is None or found[1] != FILE:
        return None
    return tree.read(found[0])


_JINJA_BLOCK = re.compile(r"^\s*\{%.*?%\}\s*$", re.M)
_JINJA_EXPR = re.compile(r"\{\{.*?\}\}")


def _load_yaml(data, template=False):
    """A parsed yaml document, or None when it does not parse (then it just references nothing)."""
    import yaml  # not needed on the warm path

    text = data.decode("utf-8", "replace")
    if template:
        # kipoi renders model-template.yaml with Jinja2; without rendering, drop the block tags and
        # put a plain word where each expression was, which keeps the rest parseable.
        text = _JINJA_EXPR.sub("x", _JINJA_BLOCK.sub("", text))
    try:
        return yaml.safe_load(text)
    except Exception:  # any yaml error (or a recursion limit on a hostile file)
        return None


def _strings(doc):
    """Every string value in a parsed yaml document (keys are names, not references).

    yaml anchors make shared and even self-containing nodes: each container is visited once, so
    neither a `&a [*a]` loop nor a billion-laughs document can make this run away.
    """
    stack, seen = [doc], set()
    while stack:
        item = stack.pop()
        if isinstance(item, str):
            yield item
        elif isinstance(item, (dict, list, tuple)):
            if id(item) in seen:
                continue
            seen.add(id(item))
            stack.extend(item.values() if isinstance(item, dict) else item)
