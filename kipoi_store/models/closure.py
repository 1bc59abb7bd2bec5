"""What a model needs beyond its own files: its closure, every path of the source to materialise.

A model directory is rarely self-contained in kipoi's sources: model.yaml points at `../` helpers and
at a shared dataloader (`default_dataloader: ..`), templates use symlinks, and a group's directory
holds the files of all its rows. The closure takes what the model uses and leaves its neighbours.
"""

from kipoi_store.errors import UnsafePathError
from kipoi_store.models.catalog import PRESENT, ModelRef, group_rows, is_model_or_group
from kipoi_store.models.kipoi_names import (DATALOADER_FILES, DATALOADER_TEMPLATES, DOWNLOADS, GROUP_TABLE,
                                            MODEL_FILES, TEMPLATE_FILES)
from kipoi_store.models.links import follow, lexically_outside, outside, read_following
from kipoi_store.models.yamldoc import key_line, parse_lenient, parse_model_file, text_line
from kipoi_store.tree import DIR, FILE, basename, is_below, join, parent, sort_key

MAX_REFERENCE_LENGTH = 512  # longer yaml strings are prose, not paths


def closure(tree, ref: ModelRef, source=None, memo=None, warn=None) -> list:
    """Every path (files and symlinks) a model needs, bytewise sorted.

    - everything below the model directory, except nested directories that are models or groups
      themselves (and, for a group model, the directories of the group's other rows);
    - each symlink and, when inside the tree, its target (a link to a directory brings the
      directory's files, a link to a link is followed); a dangling one keeps the link only;
    - a model.yaml that is not a mapping of keys raises ModelError naming the file and line:
      kipoi could not load the model;
    - what is never stricter than kipoi: a `default_dataloader` that names no dataloader, a `../`
      reference that names nothing, a symlink leaving the tree (left out: a snapshot never points
      outside itself) are each a `warn`ing naming the file and line; the model resolves with
      everything that exists (kipoi 0.8.6 loads it, and fails only when that part is used);
    - what model.yaml and dataloader.yaml reference: `default_dataloader: ..` brings that whole
      directory (as a model directory comes), the python module its `defined_as` names and,
      transitively, what its dataloader.yaml references; any string naming an
      existing path relative to the yaml's directory (`../model_architecture.py`) brings it along.

    `memo` (a dict, kept by the caller for as long as `tree` stays the same) holds what models of one
    source share, worked out once: a group's rows, a directory's files, the paths a yaml names.
    """
    return _Closure(tree, source, {} if memo is None else memo, warn).run(ref)


class _Closure:
    def __init__(self, tree, source, memo, warn=None):
        self.tree = tree
        self.memo = memo
        self.warn = warn or (lambda message: None)
        self.where = " in source '%s'" % source if source else ""
        # A warning's head names the source, not the model: said once per file, however many models.
        self.said = "source '%s': " % source if source else ""
        self.paths = set()
        self.dirs_done = set()
        self.links_done = set()
        self.dataloaders_done = set()
        self.home = ""
        self.what = ""
        self.name = ""

    def run(self, ref):
        self.home = ref.directory
        self.what = "model '%s'%s" % (ref.name, self.where)
        self.name = ref.name
        skip = None
        if ref.group is not None:
            rows = self.memo.get(("rows", ref.group))
            if rows is None:
                rows = self.memo["rows", ref.group] = frozenset(group_rows(self.tree, ref.group))
            skip = _other_rows_filter(rows, ref.group, ref.name[len(ref.group):].lstrip("/"))
        self.add_dir(ref.directory, skip)
        self.dataloaders_done.add(ref.directory)
        if ref.group is not None:
            self.add_yaml_refs(ref.directory, TEMPLATE_FILES, template=True, model=True)
        else:
            self.add_yaml_refs(ref.directory, MODEL_FILES[:1] if self.tree.kind(
                join(ref.directory, MODEL_FILES[0])) in PRESENT else MODEL_FILES[1:], model=True)
        self.add_yaml_refs(ref.directory, DATALOADER_FILES)
        return sorted(self.paths, key=sort_key)

    # directories and links
    def add_dir(self, d, skip=None):
        if d in self.dirs_done:
            return
        self.dirs_done.add(d)
        for path, kind in self._dir_entries(d):
            if skip is not None and skip(path):
                continue
            if kind == FILE:
                self.paths.add(path)
            else:
                self.add_link(path)

    def _dir_entries(self, d):
        """The files and links below `d` that belong with it: not those of nested models or groups."""
        found = self.memo.get(("dir", d))
        if found is not None:
            return found
        entries = list(self.tree.walk(d))
        present = {}
        for path, kind in entries:
            if kind in PRESENT:
                present.setdefault(parent(path), set()).add(basename(path))
        nested = {x for x, names in present.items() if x != d and is_model_or_group(names)}
        # kipoi's own download cache in a model folder is not part of the model: the store lays
        # out verified files there itself (layout.py), and stale copies must not shadow them.
        nested.add(join(d, DOWNLOADS))
        found = self.memo["dir", d] = tuple((path, kind) for path, kind in entries
                                            if kind != DIR and not _under_any(path, d, nested))
        return found

    def add_link(self, link):
        if link in self.links_done:
            return
        self.links_done.add(link)
        target = self.tree.readlink(link)
        try:
            if lexically_outside(parent(link), target):
                # Also when it dangles inside: a copy must not hold a link that reads as leaving it.
                outside(link, link, target, self.where)
            found = self.resolve(parent(link), target, origin=link)
        except UnsafePathError as exc:
            # kipoi's checkout would hold a link to whatever lies there on each machine; a snapshot
            # holds nothing outside itself: the link is left out, and said so.
            self.warn("%s%s; left out" % (self.said, str(exc).replace(self.where, "", 1)
                                          .replace("; refusing to follow it", "")))
            return
        self.paths.add(link)
        if found is not None:
            self.take(*found)

    def take(self, path, kind):
        if kind == FILE:
            self.paths.add(path)
        elif kind == DIR:
            self.add_dir(path)

    def resolve(self, start, target, origin=None):
        """links.follow from directory `start`: (path, kind) of what `target` names, or None."""
        found = follow(self.tree, start, target, origin, self.where)
        if found is None:
            return None
        here, kind, via = found
        # The links passed through are kept so the copy resolves alike; each is still followed in
        # full when met on its own (a link to a directory brings the whole directory then).
        self.paths.update(via)
        return here, kind

    # yaml references
    def add_yaml_refs(self, d, names, template=False, model=False):
        """Follow the references of the yaml files `names` in `d`; returns their parsed documents.
        `model`: these are the model's own yaml (the first present is what kipoi reads), checked
        as kipoi would load them."""
        docs = []
        for name in names:
            data = read_following(self.tree, join(d, name))
            if data is None:
                continue
            if model and not template:
                doc = parse_model_file(data, join(d, name), self.what)
            else:
                doc = parse_lenient(data, template)
            if doc is None:
                continue
            docs.append(doc)
            if isinstance(doc, dict):
                loader = doc.get("default_dataloader")
                if isinstance(loader, dict):
                    loader = loader.get("defined_as")
                    if isinstance(loader, str):
                        self.add_dataloader(d, loader)
                elif isinstance(loader, str) and model:
                    # kipoi's reading: the path joined to the model's *name* (a group row's name
                    # goes below the group directory), normalised as text.
                    component = _lexical_join(self.name, loader)
                    if component is None or not self.add_dataloader("", component or "."):
                        self.missing_dataloader(d, name, data, loader)
                elif isinstance(loader, str):
                    self.add_dataloader(d, loader)
            if not template:
                self.dangling_refs(d, name, data, doc)
            for path, kind, via in self._references(d, data, doc, (template, model))[0]:
                # The links passed through are kept so the copy resolves alike.
                self.paths.update(via)
                if kind == DIR and is_below(self.home, path):
                    continue  # a directory holding the model itself: that would be everything around it
                self.take(path, kind)
        return docs

    def _references(self, d, data, doc, how):
        """([(path, kind, links passed through)] of each existing path a string of `doc` (parsed
        from `data` as `how` says, in directory `d`) names, in the document's order; [the `../`
        strings that name nothing]). Both are worked out once per run for each document."""
        key = ("refs", d, data, how[0])
        found = self.memo.get(key)
        if found is None:
            found = [], []
            for value in dict.fromkeys(_strings(doc)):
                hit = self._reference(d, value)
                if hit is not None:
                    found[0].append(hit)
                elif value.startswith("../") and value.strip("./") and self._is_path_like(value):
                    found[1].append(value)
            self.memo[key] = found
        return found

    def missing_dataloader(self, d, name, data, loader):
        line = key_line(data, "default_dataloader")
        text = data.decode("utf-8", "replace").splitlines()[line - 1] if line else ""
        if "{{" in text or "{%" in text or ":" in loader:
            return  # a rendered value, or another source's dataloader: not ours to check
        self.warn("%s%s%s: default_dataloader %r names no dataloader (no %s there); resolved "
                  "without it" % (self.said, join(d, name), " line %d" % line if line else "",
                                  loader, DATALOADER_FILES[0]))

    def dangling_refs(self, d, name, data, doc):
        """A warning for each `../` string of the yaml `name` in `d` that names nothing: a file the
        model reaches outside its directory and that its source lacks (kipoi fails only on use).
        The default dataloader has its own warning."""
        loader = doc.get("default_dataloader") if isinstance(doc, dict) else None
        for value in self._references(d, data, doc, (False, None))[1]:
            if value != loader:
                line = text_line(data, value)
                self.warn("%s%s%s: %r names nothing in the source; resolved without it"
                          % (self.said, join(d, name), " line %d" % line if line else "", value))

    def add_dataloader(self, d, reference):
        """`default_dataloader: ..` (or a path): that whole directory, as a model directory comes
        (without nested models and `downloaded/`), and what its dataloader.yaml references.

        kipoi imports the dataloader's code relative to that directory whatever form `defined_as`
        takes (`dataloader.py::Dl`, `dataloader.Dl`, `pkg.module.Dl`), and that code may read any
        file beside it: only the whole directory is sure to be complete."""
        if "::" in reference or len(reference) > MAX_REFERENCE_LENGTH or "\n" in reference:
            return True  # `module.py::Class` or a python path: not a dataloader directory
        found = self.resolve(d, reference)
        if found is not None and found[0] in self.dataloaders_done:
            return True
        if found is None or found[1] != DIR or not any(
                self.tree.kind(join(found[0], n)) in PRESENT for n in DATALOADER_FILES):
            return self.add_dataloader_group(d, reference)
        directory = found[0]
        self.dataloaders_done.add(directory)
        self.add_dir(directory)
        for name in DATALOADER_FILES:
            if self.tree.kind(join(directory, name)) in PRESENT:
                self.take(*self.resolve(directory, name) or (None, None))
        for doc in self.add_yaml_refs(directory, DATALOADER_FILES):
            if isinstance(doc, dict) and isinstance(doc.get("defined_as"), str):
                self.add_module(directory, doc["defined_as"])
        return True

    def add_dataloader_group(self, d, reference):
        """A dataloader that is a row of a dataloader group (dataloader-template.yaml + models.tsv
        in a directory above what `reference` names): that group's directory. False if none."""
        parts = [p for p in reference.split("/") if p not in ("", ".")]
        here = d.split("/") if d else []
        for part in parts:
            if part == "..":
                if not here:
                    return False
                here.pop()
            else:
                here.append(part)
        for i in range(len(here) - 1, -1, -1):
            group = "/".join(here[:i])
            if self.tree.kind(join(group, GROUP_TABLE)) in PRESENT and any(
                    self.tree.kind(join(group, n)) in PRESENT for n in DATALOADER_TEMPLATES):
                if group not in self.dataloaders_done:
                    self.dataloaders_done.add(group)
                    self.add_dir(group)
                    self.add_yaml_refs(group, DATALOADER_TEMPLATES, template=True)
                return True
        return False

    def add_module(self, d, defined_as):
        """The python files `pkg.module.Class` names relative to `d`, even where the directory walk
        left them out (a package that is also a nested model's directory)."""
        if "::" in defined_as or "/" in defined_as or len(defined_as) > MAX_REFERENCE_LENGTH:
            return  # the file form is a path reference, taken as one
        parts = defined_as.strip().split(".")[:-1]
        if not parts or not all(p.isidentifier() for p in parts):
            return
        for i in range(1, len(parts) + 1):
            package = "/".join(parts[:i])
            for candidate in (package + "/__init__.py",) + ((package + ".py",) if i == len(parts) else ()):
                found = self.resolve(d, candidate)
                if found is not None and found[1] == FILE:
                    self.take(*found)

    @staticmethod
    def _is_path_like(value):
        return len(value) <= MAX_REFERENCE_LENGTH and not any(c in value for c in "\n\0 ") \
            and "://" not in value

    def _reference(self, d, value):
        if len(value) > MAX_REFERENCE_LENGTH or "\n" in value or "\0" in value or "://" in value:
            return None
        value = value.split("::", 1)[0].strip()  # `dataloader.py::SeqDataset` names dataloader.py
        if not value or value.startswith(("/", "~")) or not value.strip("./"):
            return None  # absolute, or only dots: `.`/`..` are dataloader references, not files
        return follow(self.tree, d, value, None, self.where)


def _lexical_join(name, reference):
    """`reference` joined to model `name` and normalised as kipoi does (os.path.normpath on
    "/" + name + reference): a path from the source root, "" for the root, None outside it."""
    parts = []
    for part in (name + "/" + reference.strip()).split("/"):
        if part in ("", "."):
            continue
        if part == "..":
            if not parts:
                return None
            parts.pop()
        else:
            parts.append(part)
    return "/".join(parts)


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
    if not rows or rows == {own}:
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
            if candidate in rows:
                return True
        return False

    return skip


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
