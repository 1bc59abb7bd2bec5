"""~/.kipoi/config.yaml: read it and validate it into a Config (schema.py).

Reads every form kipoi itself writes (`model_sources:` with `git-lfs`, `git`, `local` and
`github-permalink` entries, `remote_url`, `local_path`, `auto_update`, `use_lfs`, top-level
`env_db_path`) plus our own keys: `ref`, `refresh`, `lfs_url`, `base_url`, top-level `url_rewrites`.

What counts as "no sources":
- no file at all, or a file without a `model_sources` key: kipoi's defaults (`kipoi`, `github-permalink`);
- `model_sources:` present but empty (`{}` or nothing): no sources of your own.
In every case a `github-permalink` source exists, as in kipoi, which adds it when a config lacks it.

A bad config raises ConfigError with one line `FILE:LINE: KEY: what is wrong`. Unknown keys are kept
and reported in `Config.warnings`. Relative paths in the config are relative to the config's folder.
"""

from pathlib import Path

from kipoi_store import names
from kipoi_store import paths
from kipoi_store.config.schema import (
    DEFAULT_BASE_URL,
    DEFAULT_REFRESH,
    GIT_TYPES,
    PERMALINK_SOURCE,
    SOURCE_KEYS,
    TOP_KEYS,
    TYPES,
    Config,
    SourceConfig,
    default_sources_text,
    parse_duration,
)
from kipoi_store.errors import ConfigError, UsageError


def load(path=None):
    """The config at `path` (default: KIPOI_CONFIG, $KIPOI_HOME/config.yaml, ~/.kipoi/config.yaml)."""
    path = Path(path) if path is not None else paths.config_path()
    text = read_text(path)
    if text is None:
        return parse(default_sources_text(), path, exists=False)
    return parse(text, path)


def read_text(path):
    """The file's text, or None when it does not exist."""
    try:
        with open(path, encoding="utf-8", newline="") as f:
            return f.read()
    except FileNotFoundError:
        return None
    except UnicodeDecodeError as exc:
        raise ConfigError("%s: not UTF-8 text (byte %d)" % (path, exc.start)) from None
    except OSError as exc:
        raise ConfigError("%s: cannot read the config: %s" % (path, exc.strerror or exc)) from None


class Where:
    """Builds the one-line messages: `FILE:LINE: KEY: what`."""

    def __init__(self, path):
        self.path = path

    def message(self, node, key, what):
        line = node.start_mark.line + 1 if node is not None else 1
        return "%s:%d: %s: %s" % (self.path, line, key, what)

    def error(self, node, key, what):
        exc = ConfigError(self.message(node, key, what))
        exc.detail = "%s: %s" % (key, what)  # the same without file and line, for edits
        return exc


def _describe(value):
    """A value as the user wrote it, for messages: 'abc', 3, true, a list, nothing."""
    if value is None:
        return "nothing"
    if isinstance(value, dict):
        return "a mapping"
    if isinstance(value, list):
        return "a list"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, str):
        return "'%s'" % value
    return str(value)


def _document(text, where):
    from kipoi_store.config import yamledit
    import yaml

    try:
        return yamledit.parse_document(text)
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        line = mark.line + 1 if mark else 1
        what = "; ".join(str(p) for p in (exc.context, exc.problem) if p)
        raise ConfigError("%s:%d: not valid YAML: %s" % (where.path, line, what)) from None
    except yaml.YAMLError as exc:  # ReaderError (control characters) and friends carry no mark
        first = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
        raise ConfigError("%s: not valid YAML: %s" % (where.path, first)) from None


def _check_unique(mapping_node, where, keypath):
    """PyYAML keeps the last of two equal keys silently; an edit could then hit the wrong one."""
    from kipoi_store.config.yamledit import _key_value

    seen = {}
    for key, _ in mapping_node.value:
        name = _key_value(key)
        if name in seen:
            raise where.error(key, "%s%s" % (keypath, name),
                              "given twice (first on line %d)" % seen[name])
        seen[name] = key.start_mark.line + 1


def structure(text, where):
    """The Document of `text`, checked down to the shape of model_sources (not its entries)."""
    import yaml

    doc = _document(text, where)
    if doc.root is None:
        return doc
    if not isinstance(doc.root, yaml.MappingNode):
        raise where.error(doc.root, "(top level)",
                          "must be a mapping (model_sources: ...), found %s" % _describe(doc.data))
    _check_unique(doc.root, where, "")
    value = doc.sources_value
    if value is None or (isinstance(value, yaml.ScalarNode) and doc.data["model_sources"] is None):
        return doc
    if not isinstance(value, yaml.MappingNode):
        raise where.error(value, "model_sources", "must be a mapping of source names to settings, "
                          "found %s" % _describe(doc.data["model_sources"]))
    _check_unique(value, where, "model_sources.")
    return doc


def parse(text, path, exists=True, entry_errors=None):
    """Validate config `text` read from `path`.

    With `entry_errors` (a dict), a bad entry is recorded there by name instead of raising, so an
    edit can still remove or fix it; everything else still raises.
    """
    where = Where(path)
    doc = structure(text, where)
    data = doc.data if isinstance(doc.data, dict) else {}
    warnings = []
    sources = {}
    if doc.sources_key is None:
        defaults = parse(default_sources_text(), path)
        sources = dict(defaults.sources)
    else:
        written = data.get("model_sources") or {}
        for name, key, value in doc.entries():
            try:
                entry = written.get(name) if isinstance(name, str) else None
                sources[name] = _source(name, key, value, entry, path, where, warnings)
            except ConfigError as exc:
                if entry_errors is None:
                    raise
                entry_errors[name] = exc
    if PERMALINK_SOURCE not in sources and PERMALINK_SOURCE not in (entry_errors or {}):
        sources[PERMALINK_SOURCE] = _implicit_permalink()
    env_db_path = None
    rewrites = []
    mirrors = []
    timeouts = {}
    if doc.root is not None:
        for key, value in doc.root.value:
            name = key.value if key.tag.endswith(":str") else None
            if name == "env_db_path":
                env_db_path = _path_value(data["env_db_path"], value, "env_db_path", path, where)
            elif name == "url_rewrites":
                rewrites = _rewrites(data["url_rewrites"], value, where)
            elif name == "store_mirrors":
                mirrors = _mirrors(data["store_mirrors"], value, where)
            elif name in ("connect_timeout", "read_timeout"):
                timeouts[name] = _timeout(data[name], value, name, where)
            elif name not in TOP_KEYS:
                warnings.append(where.message(key, name if name is not None else "?",
                                              "unknown top-level key, kept but ignored"))
    return Config(path=path, exists=exists, sources=sources, env_db_path=env_db_path,
                  url_rewrites=rewrites, store_mirrors=mirrors, warnings=warnings,
                  **timeouts)


def _timeout(value, node, key, where):
    if value is None:
        return None
    try:
        seconds = parse_duration(value)
    except UsageError:
        seconds = 0
    if seconds <= 0:
        raise where.error(node, key, "must be a duration of more than 0 seconds (e.g. 10, 30s, "
                          "2m), found %s" % _describe(value))
    return seconds


def _implicit_permalink():
    raw = {"type": PERMALINK_SOURCE, "local_path": "~/.kipoi/github-permalink/"}
    return SourceConfig(name=PERMALINK_SOURCE, type=PERMALINK_SOURCE, remote_url=None,
                        local_path=paths.expand(raw["local_path"]), base_url=DEFAULT_BASE_URL,
                        raw=raw)


def _path_value(value, node, key, config_path, where):
    if not isinstance(value, str) or not value.strip():
        raise where.error(node, key, "must be a path, found %s" % _describe(value))
    expanded = paths.expand(value)
    if not expanded.is_absolute():
        expanded = Path(config_path).parent / expanded
    return expanded


def _rewrites(value, node, where):
    if value is None:
        return []
    if not isinstance(value, dict):
        raise where.error(node, "url_rewrites", "must map a URL prefix to a replacement or a "
                          "list of replacements, found %s" % _describe(value))
    _check_unique(node, where, "url_rewrites.")
    rules = []
    # Keys are unique (checked above), so the nodes and the constructed items pair up in order.
    items = list(value.items())
    for index, (key, _) in enumerate(node.value):
        prefix, target = items[index]
        targets = target if isinstance(target, list) else [target]
        if (not isinstance(prefix, str) or not prefix or not targets
                or not all(isinstance(t, str) and t for t in targets)):
            raise where.error(key, "url_rewrites.%s" % (prefix,),
                              "must map a URL prefix to a URL or a list of URLs")
        rules.append((prefix, list(targets)))
    return rules


def _mirrors(value, node, where):
    if value is None:
        return []
    items = value if isinstance(value, list) else [value]
    if not all(isinstance(v, str) and v.strip() for v in items):
        raise where.error(node, "store_mirrors", "must be a list of mirror URLs or paths, found %s"
                          % _describe(value))
    return [v.strip() for v in items]


def _source(name, key_node, node, entry, config_path, where, warnings):
    import yaml

    keypath = "model_sources.%s" % (name if isinstance(name, str) else key_node.value)
    if not isinstance(name, str):
        raise where.error(key_node, keypath, "a source name must be a string (quote it)")
    problem = names.source_name_problem(name)
    if problem:
        raise where.error(key_node, keypath, problem)
    if not isinstance(entry, dict):
        raise where.error(node, keypath, "must be a mapping of settings (type, remote_url, "
                          "local_path, ...), found %s" % _describe(entry))
    _check_unique(node, where, keypath + ".")
    nodes = {k.value: (k, v) for k, v in node.value if isinstance(k, yaml.ScalarNode)}

    def err(key, what, on_key=False):
        k, v = nodes.get(key, (key_node, key_node))
        return where.error(k if on_key else v, "%s.%s" % (keypath, key), what)

    def text_setting(key, required=False):
        value = entry.get(key)
        if value is None:
            if required:
                raise where.error(key_node, "%s.%s" % (keypath, key),
                                  "missing (a %s source needs one)" % kind)
            return None
        if not isinstance(value, str) or not value.strip():
            raise err(key, "must be a string, found %s" % _describe(value))
        return value

    def bool_setting(key, default):
        value = entry.get(key, default)
        if value is not None and not isinstance(value, bool):
            raise err(key, "must be true or false, found %s" % _describe(value))
        return value

    kind = entry.get("type")
    if kind is None:
        raise where.error(key_node, keypath + ".type",
                          "missing (one of: %s)" % ", ".join(TYPES))
    if kind not in TYPES:
        raise err("type", "unknown type %s (valid types: %s)" % (_describe(kind), ", ".join(TYPES)))
    remote_url = text_setting("remote_url", required=kind in GIT_TYPES)
    local_raw = text_setting("local_path", required=kind == "local")
    local_path = (_path_value(local_raw, nodes["local_path"][1], keypath + ".local_path",
                              config_path, where) if local_raw is not None else None)
    auto_update = bool_setting("auto_update", True)
    use_lfs = bool_setting("use_lfs", None)
    ref = None
    if entry.get("ref") is not None:
        ref_node = nodes["ref"][1]
        # Read the text as written: `ref: 0123456` is a commit prefix, not the number 123456.
        ref = ref_node.value if isinstance(ref_node, yaml.ScalarNode) else None
        if not ref or not ref.strip() or ref.startswith("-") or any(c < " " for c in ref):
            raise err("ref", "must be a branch, tag or commit, found %s" % _describe(entry["ref"]))
    refresh = DEFAULT_REFRESH
    if entry.get("refresh") is not None:
        if entry["refresh"] == "never":
            refresh = None
        else:
            try:
                refresh = parse_duration(entry["refresh"])
            except UsageError:
                raise err("refresh", "bad duration %s: seconds, or e.g. 30s, 15m, 1h, 2d, or never"
                          % _describe(entry["refresh"])) from None
    if auto_update is False:
        refresh = None  # kipoi's `auto_update: False`: never refresh unless asked
    lfs_url = text_setting("lfs_url")
    base_url = text_setting("base_url")
    if kind == PERMALINK_SOURCE and base_url is None:
        base_url = DEFAULT_BASE_URL
    for key, (k, _) in nodes.items():
        if key not in SOURCE_KEYS:
            warnings.append(where.message(k, "%s.%s" % (keypath, key),
                                          "unknown setting, kept but ignored"))
    return SourceConfig(name=name, type=kind, remote_url=remote_url, local_path=local_path,
                        auto_update=auto_update, use_lfs=use_lfs, ref=ref, refresh=refresh,
                        lfs_url=lfs_url, base_url=base_url, raw=dict(entry))

