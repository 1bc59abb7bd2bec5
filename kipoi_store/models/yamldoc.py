"""Parsing kipoi's yaml files: leniently where a file only hints at references (what does not parse
references nothing), strictly where a model's files depend on it (what does not parse is an error).

yaml is imported inside each function: it is not needed on the warm path. Documents come from
PyYAML's C loader when it has one (several times faster than the pure-Python one), and a text
parsed leniently is parsed once per process (a group's template and dataloader.yaml serve every
row): such documents are shared, so callers read them and never change them.
"""

import functools
import re

from kipoi_store.errors import IntegrityError, ModelError

_JINJA_BLOCK = re.compile(r"^\s*\{%.*?%\}\s*$", re.M)
_JINJA_EXPR = re.compile(r"\{\{.*?\}\}")


def safe_load(data):
    """yaml.safe_load, with the C loader when PyYAML was built with libyaml."""
    import yaml  # not needed on the warm path

    return yaml.load(data, Loader=getattr(yaml, "CSafeLoader", yaml.SafeLoader))


@functools.lru_cache(maxsize=256)
def parse_lenient(data, template=False):
    """A parsed yaml document, or None when it does not parse (then it just references nothing)."""
    text = data.decode("utf-8", "replace")
    if template:
        # kipoi renders model-template.yaml with Jinja2; without rendering, drop the block tags and
        # put a plain word where each expression was, which keeps the rest parseable.
        text = _JINJA_EXPR.sub("x", _JINJA_BLOCK.sub("", text))
    try:
        return safe_load(text)
    except Exception:  # any yaml error (or a recursion limit on a hostile file)
        return None


def load_strict(path, what):
    """The parsed yaml file at `path`; IntegrityError naming `what` when it cannot be read or parsed."""
    import yaml

    try:
        with open(path, "rb") as f:
            return safe_load(f.read())
    except (OSError, yaml.YAMLError) as exc:
        raise IntegrityError("%s: cannot read %s: %s" % (what, path, exc)) from None


def parse_rendered(text, what, template):
    """A rendered group template, parsed; IntegrityError naming `what` and `template` when it does not."""
    import yaml

    try:
        return safe_load(text)
    except yaml.YAMLError as exc:
        raise IntegrityError("%s: the rendered %s does not parse: %s" % (what, template, exc)) from None


def parse_model_file(data, path, what):
    """A model.yaml as kipoi needs it: a mapping. ModelError naming `what`, the file and the line
    otherwise (kipoi 0.8.6 fails to load such a model too)."""
    import yaml

    try:
        doc = safe_load(data)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = "%s line %d" % (path, mark.line + 1) if mark is not None else path
        reason = getattr(exc, "problem", None) or str(exc).splitlines()[0]
        raise ModelError("%s: %s: not valid YAML: %s" % (what, where, reason)) from None
    except Exception as exc:  # a recursion limit on a hostile file
        raise ModelError("%s: %s: cannot be read as YAML (%s)" % (what, path, type(exc).__name__)) from None
    if doc is None:
        raise ModelError("%s: %s is empty" % (what, path))
    if not isinstance(doc, dict):
        found = {list: "a list", str: "plain text", bool: "a boolean"}.get(type(doc), "a number")
        raise ModelError("%s: %s line 1: %s, where kipoi needs a mapping of keys (type, args, ...)"
                         % (what, path, found))
    return doc


def key_line(data, key):
    """The 1-based line where top-level `key:` is written in yaml text `data`, or None."""
    pattern = re.compile(rb"^%s\s*:" % re.escape(key.encode()), re.M)
    m = pattern.search(data)
    return data.count(b"\n", 0, m.start()) + 1 if m else None


def text_line(data, value):
    """The 1-based line of yaml text `data` where the string `value` is first written, or None."""
    at = data.find(value.encode("utf-8", "surrogateescape"))
    return data.count(b"\n", 0, at) + 1 if at >= 0 else None
