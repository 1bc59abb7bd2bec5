"""Names that appear in specs and program names: the one place their shape is defined."""

import re

# A source name must survive `SOURCE:PATH` parsing and be a YAML key a person can type.
SOURCE_NAME_RE = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.+-]*\Z")

# Names kipoi gives a special meaning and that can never name a configured source.
RESERVED_SOURCE_NAMES = frozenset({"dir"})


def source_name_problem(name):
    """Why `name` cannot be a source name, or None when it can."""
    if not isinstance(name, str) or not name:
        return "a source name must be a non-empty string"
    if name in RESERVED_SOURCE_NAMES:
        return "'%s' is reserved by kipoi (it means a model directory)" % name
    if not SOURCE_NAME_RE.match(name):
        return ("'%s' cannot be used in a spec: a source name is letters, digits and . _ + -, "
                "starting with a letter or digit" % name)
    return None
