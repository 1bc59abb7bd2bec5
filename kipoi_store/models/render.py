"""Render one row of a model group, as kipoi does: `model-template.yaml` through Jinja2 with the
row of `models.tsv` whose `model` column names the model.

    table = read_table(tsv_text)                     # [{"model": "D001", "n": 3, ...}, ...]
    text = render_row(template_text, tsv_text, "D001", where="DeepBind")

kipoi reads the table with `pandas.read_csv(sep="\\t", comment="#")` and renders with
`jinja2.Template(text).render(**row)`. pandas is not a dependency here, so read_table reproduces
what shows in rendered text: a column whose values are all integers holds ints, all numbers
floats (an empty cell, or `NA` and its kin, is NaN and renders `nan`, turning an int column into
floats: `3` renders `3.0` there), `True`/`False` columns bools, anything else strings. Text after an
unquoted `#` is a comment; blank lines are skipped; fields may be quoted with `"`.
"""

import csv
import functools
import math
import re

from kipoi_store.errors import NotFoundError, UsageError

# pandas' default NA strings (read_csv's `na_values`).
NA_STRINGS = frozenset({"", "#N/A", "#N/A N/A", "#NA", "-1.#IND", "-1.#QNAN", "-NaN", "-nan",
                        "1.#IND", "1.#QNAN", "<NA>", "N/A", "NA", "NULL", "NaN", "None", "n/a",
                        "nan", "null"})
_INT = re.compile(r"[+-]?[0-9]+")
_FLOAT = re.compile(r"[+-]?([0-9]+\.?[0-9]*|\.[0-9]+)([eE][+-]?[0-9]+)?|[+-]?(inf|Inf|INF|infinity|Infinity)")
_TRUE, _FALSE = frozenset({"True", "TRUE", "true"}), frozenset({"False", "FALSE", "false"})
NAN = float("nan")


def strip_comments(text):
    """Each line of `text` cut at its first `#` outside double quotes; blank results dropped."""
    out = []
    for line in text.splitlines():
        quoted = False
        for i, ch in enumerate(line):
            if ch == '"':
                quoted = not quoted
            elif ch == "#" and not quoted:
                line = line[:i]
                break
        if line.strip():
            out.append(line)
    return out


def _column_type(values):
    """A converter for one column, chosen from all its non-NA values (pandas' inference)."""
    present = [v for v in values if v not in NA_STRINGS]
    has_na = len(present) < len(values)
    if present and all(_INT.fullmatch(v) for v in present):
        return float if has_na else int
    if present and all(_INT.fullmatch(v) or _FLOAT.fullmatch(v) for v in present):
        return float
    if present and all(v in _TRUE or v in _FALSE for v in present) and not has_na:
        return lambda v: v in _TRUE
    return str


def read_table(text):
    """The rows of a models.tsv as dicts (column name -> typed value), in file order."""
    return [dict(row) for row in _table(text)]


@functools.lru_cache(maxsize=16)
def _table(text):
    """read_table once per distinct table (its rows are shared: never changed by a caller)."""
    return tuple(_read_table(text))


@functools.lru_cache(maxsize=16)
def _row_index(text):
    """{clean model name: row} of a table, the first row of each name winning, as find_row's scan."""
    index = {}
    for row in _table(text):
        value = row.get("model")
        if not (isinstance(value, float) and math.isnan(value)):
            index.setdefault(_clean(value), row)
    return index


def _read_table(text):
    lines = strip_comments(text)
    if not lines:
        return []
    records = list(csv.reader(lines, delimiter="\t", quotechar='"'))
    header, body = records[0], records[1:]
    columns = []
    for i, name in enumerate(header):
        cells = [row[i] if i < len(row) else "" for row in body]
        convert = str if name == "model" else _column_type(cells)
        columns.append([NAN if (c in NA_STRINGS and name != "model") else convert(c)
                        for c in cells])
    return [{name: columns[i][r] for i, name in enumerate(header)} for r in range(len(body))]


def _clean(name):
    return "/".join(p for p in str(name).strip().split("/") if p)


def find_row(rows, model, where=""):
    """The row whose `model` names `model` (compared as catalog.py lists names: stripped, no empty
    segments); NotFoundError if none does."""
    wanted = _clean(model)
    for row in rows:
        value = row.get("model")
        if not (isinstance(value, float) and math.isnan(value)) and _clean(value) == wanted:
            return row
    raise NotFoundError("model '%s' is not a row of %s/models.tsv" % (model, where or "."))


def render(template_text, row, where="model-template.yaml"):
    """`template_text` rendered with the variables of `row`, as kipoi's `Template(...).render`."""
    import jinja2  # only for group models, and only when their files are wanted

    try:
        return _compiled(template_text).render(**{str(k): v for k, v in row.items()})
    except jinja2.TemplateSyntaxError as exc:
        raise UsageError("%s:%s: cannot render the template: %s" % (where, exc.lineno, exc.message)) from None
    except jinja2.TemplateError as exc:
        raise UsageError("%s: cannot render the template: %s" % (where, exc)) from None


@functools.lru_cache(maxsize=16)
def _compiled(template_text):
    """A group's template compiled once: every row of the group renders it."""
    import jinja2

    return jinja2.Template(template_text)


def render_row(template_text, table_text, model, where=""):
    """The yaml text of group row `model`: find its row in the table, render the template with it.
    `where` (the group directory) only names things in messages."""
    row = _row_index(table_text).get(_clean(model))
    if row is None:
        row = find_row((), model, where)  # its NotFoundError
    return render(template_text, row, where=(where + "/" if where else "") + "model-template.yaml")
