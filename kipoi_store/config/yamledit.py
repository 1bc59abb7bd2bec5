"""Text-level edits of config.yaml that leave every byte they do not touch where it was.

PyYAML's composer gives each node a start and end mark (character offsets). An entry of the
`model_sources:` block runs from the start of its key's line to the end of the line holding its
last piece of content, so an inline comment on that line goes with it, while comments and blank
lines after it stay (they usually introduce the next entry). Edits are pure functions from text to
text; edit.py checks that the result parses to exactly the expected data before writing it.

The same edits work on any top-level section keyed by source name (`section=`): `model_sources`
(kipoi's entries) and `source_settings` (ours).

Where the layout is not a block mapping (`model_sources: {}`, `model_sources:` with nothing, a
flow-style entry), the affected value is rewritten in block style: a reasonable fallback that still
keeps everything outside that value.
"""

from __future__ import annotations

SOURCES_KEY = "model_sources"
HUGE_WIDTH = 1 << 30  # never let the emitter fold a long URL onto two lines


class Document:
    """The parts of a config text that edits need: nodes with marks, and the plain data.

    A plain class, not a dataclass: every command that reads a config builds one, and importing
    dataclasses costs ~10 ms of that command's start."""

    def __init__(self, text, root, data, sources_key=None, sources_value=None):
        self.text = text
        self.root = root  # yaml MappingNode, or None for an empty document
        self.data = data
        self.sources_key = sources_key  # key node of `model_sources`, None when the file has none
        self.sources_value = sources_value  # its value node

    def section(self, section=SOURCES_KEY):
        """(key node, value node) of a top-level key; (None, None) when the file has none."""
        import yaml

        if isinstance(self.root, yaml.MappingNode):
            for key, value in self.root.value:
                if _key_value(key) == section:
                    return key, value
        return None, None

    def entries(self, section=SOURCES_KEY):
        """(name, key node, value node) for each entry of a section, in file order."""
        import yaml

        value = self.section(section)[1]
        if not isinstance(value, yaml.MappingNode):
            return []
        return [(_key_value(k), k, v) for k, v in value.value]

    def entry(self, name, section=SOURCES_KEY):
        for entry_name, key, value in self.entries(section):
            if entry_name == name:
                return key, value
        return None


def _key_value(node):
    """The key as YAML would construct it, for plain string keys; otherwise a marker object."""
    import yaml

    if isinstance(node, yaml.ScalarNode) and node.tag == "tag:yaml.org,2002:str":
        return node.value
    return ("<non-string key>", node.start_mark.index)


def parse_document(text):
    """Compose and construct `text`; raises yaml.YAMLError for text that is not one YAML document."""
    import yaml

    loader = yaml.SafeLoader(text)
    try:
        root = loader.get_single_node()
        data = loader.construct_document(root) if root is not None else None
    finally:
        loader.dispose()
    doc = Document(text=text, root=root, data=data)
    if isinstance(root, yaml.MappingNode):
        for key, value in root.value:
            if _key_value(key) == SOURCES_KEY:
                doc.sources_key, doc.sources_value = key, value
    return doc


# -- rendering --------------------------------------------------------------------------------

def value_text(value):
    """One-line YAML for a value, quoted exactly when a plain scalar would read differently."""
    import yaml

    if isinstance(value, (dict, list)):
        return yaml.safe_dump(value, default_flow_style=True, width=HUGE_WIDTH,
                              allow_unicode=True).rstrip("\n")
    out = yaml.safe_dump({"k": value}, default_flow_style=False, width=HUGE_WIDTH,
                         allow_unicode=True)
    out = out[len("k: "):].rstrip("\n")
    if "\n" in out:  # a string the emitter wants to spread over lines: force one quoted line
        out = yaml.safe_dump({"k": value}, default_style='"', width=HUGE_WIDTH,
                             allow_unicode=True)
        out = out[out.index(": ") + 2:].rstrip("\n")
    return out


def key_text(name):
    """A mapping key as YAML text: `kipoi`, or `'true'` for a name YAML would read as a bool."""
    import yaml

    out = yaml.safe_dump({name: 0}, default_flow_style=False, width=HUGE_WIDTH,
                         allow_unicode=True)
    return out[: -len(": 0\n")]


def render_entry(name, entry, indent, step, newline="\n"):
    """`name:` and its settings as block-style lines, `indent` spaces in, children `step` more."""
    pad = " " * indent
    if not isinstance(entry, dict) or not entry:
        return "%s%s: %s%s" % (pad, key_text(name), value_text(entry), newline)
    lines = ["%s%s:" % (pad, key_text(name))]
    lines += ["%s%s: %s" % (" " * (indent + step), key_text(k), value_text(v))
              for k, v in entry.items()]
    return "".join(line + newline for line in lines)


# -- positions --------------------------------------------------------------------------------

def _newline(text):
    return "\r\n" if "\r\n" in text else "\n"


def _line_start(text, index):
    return text.rfind("\n", 0, index) + 1


def _line_end(text, index):
    """The offset just past the line break ending the line that holds `index` (or end of text)."""
    if index > 0 and text[index - 1] == "\n":
        return index
    found = text.find("\n", index)
    return len(text) if found < 0 else found + 1


def _content_end(text, node):
    """Offset just past the last character of real content in `node` (no trailing comments)."""
    import yaml

    if isinstance(node, yaml.ScalarNode):
        if node.style in ("|", ">"):
            # A block scalar's end mark lies past the blank lines after it; they are not its own.
            return len(text[:node.end_mark.index].rstrip())
        return node.end_mark.index
    if node.flow_style or not node.value:
        return node.end_mark.index
    last = node.value[-1]
    if isinstance(node, yaml.MappingNode):
        return max(_content_end(text, last[0]), _content_end(text, last[1]))
    return _content_end(text, last)


def entry_span(text, key, value):
    """(start, end) of an entry: from its key's line start to the end of its last content line.

    Returns None when the key does not start its own line (a layout we do not edit in place).
    """
    start = _line_start(text, key.start_mark.index)
    if text[start:key.start_mark.index].strip(" "):
        return None
    return start, _line_end(text, _content_end(text, value))


def _is_block_mapping(node):
    import yaml

    return isinstance(node, yaml.MappingNode) and not node.flow_style and bool(node.value)


def _layout(doc, section=SOURCES_KEY):
    """(indent of entry keys, indent step of their settings) as this file already uses them; a
    section without entries of its own follows model_sources."""
    section_key, value = doc.section(section)
    entries = doc.entries(section)
    if entries and _is_block_mapping(value):
        indent = entries[0][1].start_mark.column
    else:
        indent = section_key.start_mark.column + 2
        if section != SOURCES_KEY and doc.sources_key is not None \
                and _is_block_mapping(doc.sources_value):
            indent = section_key.start_mark.column + (
                doc.entries()[0][1].start_mark.column - doc.sources_key.start_mark.column)
    step = 2
    for _, key, value in entries + (doc.entries() if section != SOURCES_KEY else []):
        if _is_block_mapping(value):
            step = max(1, value.value[0][0].start_mark.column - key.start_mark.column)
            break
    return indent, step


def _entries_data(doc, section=SOURCES_KEY):
    """The constructed mapping of a section (empty for null)."""
    data = doc.data.get(section) if isinstance(doc.data, dict) else None
    return dict(data) if isinstance(data, dict) else {}


def _rewrite_sources_block(doc, entries, section=SOURCES_KEY):
    """Replace a non-block section value (null, `{}`, `{a: ...}`) by block-style entries."""
    text, value = doc.text, doc.section(section)[1]
    nl = _newline(text)
    indent, step = _layout(doc, section)
    if not entries:
        body_inline, block = " {}", ""
    else:
        body_inline = ""
        block = "".join(render_entry(n, e, indent, step, nl) for n, e in entries.items())
    start, end = value.start_mark.index, value.end_mark.index
    head = text[:start].rstrip(" ")
    text = head + body_inline + text[end:]
    at = _line_end(text, len(head))
    if at == len(text) and not text.endswith("\n"):
        text += nl
    return text[:at] + block + text[at:]


# -- edits ------------------------------------------------------------------------------------

def add_sources_key(text, defaults_text):
    """Append `defaults_text` (a whole `model_sources:` block) to a file that has no such key."""
    if text and not text.endswith("\n"):
        text += _newline(text)
    nl = _newline(text) if text else "\n"
    return text + defaults_text.replace("\n", nl)


def add_section(text, section, comment):
    """Append an empty top-level `section: {}`, after a `# comment` line, to the end of `text`."""
    doc = parse_document(text)
    column = doc.sources_key.start_mark.column if doc.sources_key is not None else 0
    if text and not text.endswith("\n"):
        text += _newline(text)
    nl = _newline(text) if text else "\n"
    pad = " " * column
    return "%s%s# %s%s%s%s: {}%s" % (text, pad, comment, nl, pad, key_text(section), nl)


def add_entry(text, name, entry, replace=False, section=SOURCES_KEY):
    """Add `name: entry` at the end of a section, or replace the existing entry in place."""
    doc = parse_document(text)
    nl = _newline(text)
    indent, step = _layout(doc, section)
    section_value = doc.section(section)[1]
    found = doc.entry(name, section)
    if found is not None:
        if not replace:
            raise KeyError(name)
        key, value = found
        span = entry_span(text, key, value) if _is_block_mapping(section_value) else None
        if span is None:
            entries = _entries_data(doc, section)
            entries[name] = entry
            return _rewrite_sources_block(doc, entries, section)
        start, end = span
        return text[:start] + render_entry(name, entry, indent, step, nl) + text[end:]
    if not _is_block_mapping(section_value):
        entries = _entries_data(doc, section)
        entries[name] = entry
        return _rewrite_sources_block(doc, entries, section)
    _, last_key, last_value = doc.entries(section)[-1]
    at = _line_end(text, _content_end(text, last_value))
    prefix = nl if at == len(text) and not text.endswith("\n") else ""
    return text[:at] + prefix + render_entry(name, entry, indent, step, nl) + text[at:]


def remove_entry(text, name, section=SOURCES_KEY):
    doc = parse_document(text)
    key, value = doc.entry(name, section)
    span = entry_span(text, key, value) if _is_block_mapping(doc.section(section)[1]) else None
    if span is None:
        entries = _entries_data(doc, section)
        del entries[name]
        return _rewrite_sources_block(doc, entries, section)
    start, end = span
    text = text[:start] + text[end:]
    after = parse_document(text).section(section)[1]
    if _is_null(after):
        # The last entry went: an empty mapping, `{}` (a null would read as something else).
        at = after.start_mark.index
        text = text[:at] + " {}" + text[at:]
    return text


def rename_entry(text, old, new, section=SOURCES_KEY):
    doc = parse_document(text)
    key, _ = doc.entry(old, section)
    return text[:key.start_mark.index] + key_text(new) + text[key.end_mark.index:]


def remove_setting(text, name, setting, section=SOURCES_KEY):
    """Drop one setting of one entry: its lines go (with an inline comment on them); comment lines
    between settings stay."""
    doc = parse_document(text)
    _, value = doc.entry(name, section)
    if _is_block_mapping(value) and len(value.value) > 1:
        for k, v in value.value:
            if _key_value(k) == setting:
                start = _line_start(text, k.start_mark.index)
                if text[start:k.start_mark.index].strip(" "):
                    break
                return text[:start] + text[_line_end(text, _content_end(text, v)):]
    entry = dict(_entries_data(doc, section)[name])
    del entry[setting]
    return add_entry(text, name, entry, replace=True, section=section)


def _setting_end(text, name, setting, section):
    """Offset just past a setting's value in a block-style entry, or None."""
    _, value = parse_document(text).entry(name, section)
    if _is_block_mapping(value):
        for k, v in value.value:
            if _key_value(k) == setting:
                return _content_end(text, v)
    return None


def setting_comment(text, name, setting, section=SOURCES_KEY):
    """The `# ...` after a setting's value on the same line, or ''."""
    end = _setting_end(text, name, setting, section)
    rest = "" if end is None else text[end:_line_end(text, end)].strip()
    return rest if rest.startswith("#") else ""


def add_setting_comment(text, name, setting, comment, section=SOURCES_KEY):
    """Put `comment` after a setting's value, unless that line already has one."""
    end = _setting_end(text, name, setting, section)
    if end is None or not comment or text[end:_line_end(text, end)].strip():
        return text
    return text[:end] + "  " + comment + text[end:]


def set_entry_value(text, name, setting, new_value, section=SOURCES_KEY):
    """Set one setting of one entry: replace its value, or add a line for it at the entry's end."""
    doc = parse_document(text)
    key, value = doc.entry(name, section)
    nl = _newline(text)
    if _is_block_mapping(value):
        for k, v in value.value:
            if _key_value(k) == setting:
                start, end = v.start_mark.index, _content_end(text, v)
                rendered = value_text(new_value)
                if start == end and text[start - 1:start] == ":":
                    rendered = " " + rendered  # `remote_url:` with nothing after the colon
                return text[:start] + rendered + text[end:]
        column = value.value[0][0].start_mark.column
        at = _line_end(text, _content_end(text, value))
        prefix = nl if at == len(text) and not text.endswith("\n") else ""
        line = "%s%s: %s%s" % (" " * column, key_text(setting), value_text(new_value), nl)
        return text[:at] + prefix + line + text[at:]
    # A flow-style or empty entry: render the whole entry again in block style.
    entries = _entries_data(doc, section)
    entry = dict(entries[name]) if isinstance(entries.get(name), dict) else {}
    entry[setting] = new_value
    return add_entry(text, name, entry, replace=True, section=section)


def _is_null(node):
    import yaml

    return isinstance(node, yaml.ScalarNode) and node.tag == "tag:yaml.org,2002:null"
