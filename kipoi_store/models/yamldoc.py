"""Parsing kipoi's yaml files: leniently where a file only hints at references (what does not parse
references nothing), strictly where a model's files depend on it (what does not parse is an error).

yaml is imported inside each function: it is not needed on the warm path.
"""

import re

from kipoi_store.errors import IntegrityError

_JINJA_BLOCK = re.compile(r"^\s*\{%.*?%\}\s*$", re.M)
_JINJA_EXPR = re.compile(r"\{\{.*?\}\}")


def parse_lenient(data, template=False):
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


def load_strict(path, what):
    """The parsed yaml file at `path`; IntegrityError naming `what` when it cannot be read or parsed."""
    import yaml

    try:
        with open(path, "rb") as f:
            return yaml.safe_load(f)
    except (OSError, yaml.YAMLError) as exc:
        raise IntegrityError("%s: cannot read %s: %s" % (what, path, exc)) from None


def parse_rendered(text, what, template):
    """A rendered group template, parsed; IntegrityError naming `what` and `template` when it does not."""
    import yaml

    try:
        return yaml.safe_load(text)
    except yaml.YAMLError as exc:
        raise IntegrityError("%s: the rendered %s does not parse: %s" % (what, template, exc)) from None
