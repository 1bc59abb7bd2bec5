"""What counts as a model in a source tree, and how models are found and listed by name.

kipoi's rules, made explicit:
- a directory holding `model.yaml` (or `model.yml`) is a model, named by its path;
- a directory holding `model-template.yaml` (or `.yml`) and `models.tsv` is a model group: each value
  of the tsv's `model` column names one model `<group dir>/<value>` (values may hold `/`), and that
  model's directory is the group directory;
- an explicit model directory wins over a group row of the same name;
- a listing hides models whose last segment is `template` below some directory (kipoi lists none
  of `*/template`: they are the files other models link to), and names no spec can express.

Everything here works on a tree.Tree, so the same rules hold for a folder and a git commit. What a
found model needs beyond its own files is closure.py's business.
"""

import difflib
import functools
import re
from dataclasses import dataclass
from typing import Optional

from kipoi_store.errors import ModelError, NotFoundError, SpecError, UnsafePathError
from kipoi_store.models.kipoi_names import GROUP_TABLE, MODEL_FILES, TEMPLATE_FILES
from kipoi_store.models.links import read_following
from kipoi_store.tree import DIR, FILE, LINK, basename, is_below, join, parent, sort_key, split

SUGGESTIONS = 5
GROUP_EXAMPLES = 3

PRESENT = (FILE, LINK)  # a model.yaml that is a symlink (kipoi's templates use them) still counts


@dataclass(frozen=True)
class ModelRef:
    name: str                     # the model name, e.g. "rbp_eclip/UPF1" or "DeepBind/D00328.018"
    directory: str                # the model directory; for a group model, the group directory
    group: Optional[str] = None   # the group directory, for group models


# -- what a directory is -------------------------------------------------------------------------

def _has(tree, directory, names):
    return any(tree.kind(join(directory, n)) in PRESENT for n in names)


def is_model_dir(tree, d) -> bool:
    return _has(tree, d, MODEL_FILES)


def is_group_dir(tree, d) -> bool:
    return _has(tree, d, TEMPLATE_FILES) and tree.kind(join(d, GROUP_TABLE)) in PRESENT


def is_model_or_group(names):
    """The same two tests on a set of names already listed from one directory."""
    return bool(names.intersection(MODEL_FILES)) or (
        bool(names.intersection(TEMPLATE_FILES)) and GROUP_TABLE in names)


def clean_name(name):
    """A model name or prefix with redundant slashes dropped; UnsafePathError for `.`/`..` segments."""
    parts = [p for p in name.split("/") if p]
    return "/".join(split("/".join(parts))) if parts else ""


# -- model groups --------------------------------------------------------------------------------

def parse_rows(text, problems=None):
    """The `model` column of a models.tsv: tab separated, a header row, `#` comment lines allowed.

    Rows whose name is not a clean relative path below the group are skipped, and a repeated row
    counts once. `problems`, a list, receives (line number, message, fatal) for each row kipoi 0.8.6
    would read otherwise; fatal: a quote left open, which stops kipoi (pandas) reading the table at
    all, and then no row is returned.
    """
    rows, found = _parse_rows(text)
    if problems is not None:
        problems.extend(found)
    return list(rows)


@functools.lru_cache(maxsize=64)
def _parse_rows(text):
    """parse_rows, once per distinct table text: resolving every row of a group of 900 reads its
    table 900 times (and more), and parsing it is what would cost, not reading it."""
    problems = []
    rows = _rows_of(text, problems)
    return tuple(rows), tuple(problems)


def _rows_of(text, problems):
    rows, column, first_line = [], None, {}
    for number, line in enumerate(text.splitlines(), 1):
        if not line.strip() or line.lstrip().startswith("#"):
            continue
        raw = [c.strip() for c in line.split("\t")]
        if any(_unterminated(c) for c in raw):
            problems.append((number, "a quote is not closed, so the table cannot be read", True))
            return []
        cells = [_unquote(c) for c in raw]
        if column is None:
            if "model" not in cells:
                return []  # not a kipoi group table: it names no models
            column = cells.index("model")
            continue
        if column >= len(cells):
            continue
        name = cells[column]
        try:
            row = clean_name(name)
        except UnsafePathError:
            problems.append((number, "row %r leaves the group directory; skipped" % name, False))
            continue
        if name.startswith("/"):
            problems.append((number, "row %r is an absolute path; skipped" % name, False))
            continue
        if not row:
            continue
        if row in first_line:
            problems.append((number, "row %r repeats line %d; only the first counts"
                             % (name, first_line[row]), False))
            continue
        first_line[row] = number
        rows.append(row)
    return rows


def _unterminated(cell):
    """A cell that opens a quote (pandas' quoting: `"..."`, `""` inside) without closing it."""
    if not cell.startswith('"'):
        return False
    return len(cell) < 2 or not cell.endswith('"') or '"' in cell[1:-1].replace('""', '')


def _unquote(cell):
    if len(cell) >= 2 and cell[0] == cell[-1] == '"':
        return cell[1:-1].replace('""', '"')
    return cell


def group_rows(tree, d, problems=None) -> list:
    """The rows of the group in directory `d`; its table's problems as messages naming file and
    line go into `problems` (a list) as (message, fatal)."""
    data = read_following(tree, join(d, GROUP_TABLE))
    if data is None:
        return []
    found = []
    rows = parse_rows(data.decode("utf-8", "surrogateescape"), found)
    if problems is not None:
        problems.extend(("%s line %d: %s" % (join(d, GROUP_TABLE), n, m), fatal) for n, m, fatal in found)
    return rows


def _report(problems, warn, source, model=None):
    """Warn about each problem; resolving `model`, a fatal one is a ModelError."""
    where = " in source '%s'" % source if source else ""
    for message, fatal in problems:
        if fatal and model is not None:
            raise ModelError("model '%s'%s: %s" % (model, where, message))
        if warn is not None:
            warn("%s%s" % ("source '%s': " % source if source else "", message)
                 + (" (none of its models can be loaded)" if fatal else ""))


# -- finding and listing -------------------------------------------------------------------------

def find_model(tree, name, source=None, warn=None) -> ModelRef:
    """The model called `name`. Cheap when it exists: a few lookups, no walk over the tree.
    `warn` hears of the problems of its group's models.tsv; one kipoi could not read is an error."""
    name = clean_name(name)
    if name and is_model_dir(tree, name):
        return ModelRef(name, name)
    parts = name.split("/") if name else []
    # The nearest group above wins: its rows are the most specific claim on the name.
    for i in range(len(parts) - 1, -1, -1):
        group = "/".join(parts[:i])
        if tree.kind(group) == DIR and is_group_dir(tree, group):
            problems = []
            rows = group_rows(tree, group, problems)
            if "/".join(parts[i:]) in rows or any(fatal for _, fatal in problems):
                _report(problems, warn, source, name)
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


def list_models(tree, prefix=None, warn=None, source=None, unusable=None) -> list:
    """Every model name a spec can name, bytewise sorted; `prefix` keeps those equal to it or below
    it (whole segments). `warn` hears of each problem of the group tables read. Names no spec can
    express are left out; `unusable`, a dict, receives for each offending directory (or row)
    {path: (why, how many models it hides)}."""
    prefix = clean_name(prefix) if prefix else ""
    names, problems = set(), []
    if prefix:
        # Groups above the prefix can hold rows below it (DeepBind's rows are `Homo_sapiens/TF/...`).
        parts = prefix.split("/")
        for i in range(len(parts) - 1, -1, -1):
            group = "/".join(parts[:i])
            if tree.kind(group) == DIR and is_group_dir(tree, group):
                names.update(join(group, row) for row in group_rows(tree, group, problems))
        entries = tree.walk(prefix) if tree.kind(prefix) == DIR else ()
    else:
        entries = tree.walk("")
    present = {}
    for path, kind in entries:
        if kind in PRESENT:
            present.setdefault(parent(path), set()).add(basename(path))
    for directory, files in present.items():
        if files.intersection(MODEL_FILES) and directory:
            names.add(directory)
        if files.intersection(TEMPLATE_FILES) and GROUP_TABLE in files:
            names.update(join(directory, row) for row in group_rows(tree, directory, problems))
    if prefix:
        names = {n for n in names if is_below(n, prefix)}
    _report(problems, warn, source)
    listed = []
    for name in names:
        if name.endswith("/template"):
            continue
        problem = name_problem(name)
        if problem is None:
            listed.append(name)
        elif unusable is not None:
            where, why = problem
            unusable[where] = (why, unusable.get(where, ("", 0))[1] + 1)
    return sorted(listed, key=sort_key)


def name_problem(name):
    """None when `SOURCE:name` is a spec naming exactly `name`; else (the shortest path of it no
    spec can name, why not)."""
    if _names_itself(name):
        return None
    parts = name.split("/")
    for i in range(1, len(parts) + 1):
        head = "/".join(parts[:i])
        if not _names_itself(head):
            return head, _why_unnamable(head)
    return name, _why_unnamable(name)


# Names of this shape are specs as they are (tests/test_models.py holds the parser to it): no parse.
_PLAIN_NAME = re.compile(r"[A-Za-z0-9_+,=-][A-Za-z0-9_.+,=-]*(?:/[A-Za-z0-9_+,=-][A-Za-z0-9_.+,=-]*)*")


def _names_itself(path):
    if _PLAIN_NAME.fullmatch(path):
        return True
    from kipoi_store import spec

    try:
        return spec.parse("x:" + path).path == path
    except SpecError:
        return False


def _why_unnamable(path):
    if any("\udc80" <= c <= "\udcff" for c in path):
        return "its bytes are not UTF-8"
    if not path.replace(" ", "").isprintable():
        return "it holds a control or invisible character"
    if "@" in path:
        return "'@' would start a ref"
    if "\\" in path:
        return "it holds a backslash"
    if any(seg != seg.strip(" ") for seg in path.split("/")):
        return "a space starts or ends a segment"
    if path.startswith(":"):
        return "a leading ':' would read as kipoi's SOURCE::PATH form"
    return "the spec parser reads it as another path"
