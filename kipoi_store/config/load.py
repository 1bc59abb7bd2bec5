"""~/.kipoi/config.yaml: read it and validate it into a Config (schema.py).

Reads every form kipoi itself writes (`model_sources:` with `git-lfs`, `git`, `local` and
`github-permalink` entries, `remote_url`, `local_path`, `auto_update`, `use_lfs`, top-level
`env_db_path`) plus our own keys: `ref`, `refresh`, `lfs_url`, `base_url`, top-level `url_rewrites`
and the cluster settings (cluster.py: `site_stores`, `locks`, `lock_timeout`, and the system config
read beneath the user's).

Our per-source settings live in the top-level `source_settings:` section, keyed by source name,
because kipoi 0.8.6 builds each model_sources entry with `cls(**entry)` and dies on any key it does
not know. A source's settings are its entry merged with its section (the section wins). Settings that
earlier versions wrote inside entries are still read, and one warning per load says the next edit
moves them out (edit.py does).

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
from kipoi_store.config import cluster
from kipoi_store.config.schema import (
    DEFAULT_BASE_URL,
    DEFAULT_REFRESH,
    GIT_TYPES,
    KIPOI_KEYS,
    OUR_KEYS,
    PERMALINK_SOURCE,
    SETTINGS_KEY,
    SETTINGS_ONLY_TYPES,
    SOURCE_KEYS,
    TOP_KEYS,
    TYPES,
    Config,
    SourceConfig,
    default_local_path,
    default_sources_text,
    parse_duration,
)
from kipoi_store.config.values import _check_unique, _describe, _mirrors, _rewrites, _timeout
from kipoi_store.errors import ConfigError, UsageError


def load(path=None, system_path=None):
    """The config at `path` (default: KIPOI_CONFIG, $KIPOI_HOME/config.yaml, ~/.kipoi/config.yaml)
    over the system config (default: KIPOI_SYSTEM_CONFIG, /etc/kipoi/config.yaml), when there is
    one: an admin defines sources, site stores and url_rewrites once; the user's entries win by name.
    """
    path = Path(path) if path is not None else paths.config_path()
    text = read_text(path)
    user = parse(text if text is not None else default_sources_text(), path, exists=text is not None)
    system_path = Path(system_path) if system_path is not None else paths.system_config_path()
    system_text = read_text(system_path)
    if system_text is None:
        return user
    names_sources = [t is not None and structure(t, Where(p)).sources_key is not None
                     for t, p in ((text, path), (system_text, system_path))]
    return cluster.beneath(user, names_sources[0], parse(system_text, system_path), names_sources[1],
                           parse("model_sources: {}\n", path).sources.get(PERMALINK_SOURCE))


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
    key, value = doc.section(SETTINGS_KEY)
    if key is not None and not (isinstance(value, yaml.ScalarNode) and doc.data[SETTINGS_KEY] is None):
        if not isinstance(value, yaml.MappingNode):
            raise where.error(value, SETTINGS_KEY, "must be a mapping of source names to settings, "
                              "found %s" % _describe(doc.data[SETTINGS_KEY]))
        _check_unique(value, where, SETTINGS_KEY + ".")
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
    legacy = []  # where kipoi 0.8.6 cannot load an entry: (line, what)
    ours = {}
    for name, key, value in doc.entries(SETTINGS_KEY):
        ours[name] = (data[SETTINGS_KEY][name], key, value)
    # Without model_sources, kipoi's defaults are the entries (and our settings still apply).
    entry_doc = doc if doc.sources_key is not None else _document(default_sources_text(), where)
    written = entry_doc.data.get("model_sources") or {}
    entries = [(n, k, v, written.get(n) if isinstance(n, str) else None)
               for n, k, v in entry_doc.entries()]
    if PERMALINK_SOURCE not in written:  # built in, as in kipoi, which adds it when it is missing
        implicit = {"type": PERMALINK_SOURCE, "local_path": default_local_path(PERMALINK_SOURCE)}
        entries.append((PERMALINK_SOURCE, None, None, implicit))
    for name, key, value, entry in entries:
        try:
            sources[name] = _source(name, key, value, entry, ours.pop(name, None), path, where,
                                    warnings, legacy if doc is entry_doc else [])
        except ConfigError as exc:
            if entry_errors is None:
                raise
            entry_errors[name] = exc
    for name, (value, key, node) in list(ours.items()):
        if isinstance(value, dict) and value.get("type") in SETTINGS_ONLY_TYPES and name not in sources:
            del ours[name]
            try:
                sources[name] = _source(name, key, node, value, None, path, where, warnings, [],
                                        section=SETTINGS_KEY)
            except ConfigError as exc:
                if entry_errors is None:
                    raise
                entry_errors[name] = exc
    for name, (_, key, _) in ours.items():
        warnings.append(where.message(key, "%s.%s" % (SETTINGS_KEY, name), "no such source in "
                                      "model_sources, kept but ignored"))
    if legacy:
        fixes = []
        if any(what.endswith(" local_path") for _, what in legacy):
            fixes.append("writes local_path")
        if any(not what.endswith(" local_path") for _, what in legacy):
            fixes.insert(0, "moves our settings to '%s:'" % SETTINGS_KEY)
        warnings.append("%s: kipoi 0.8.6 cannot load model_sources as written (%s); the next "
                        "'kipoi source' edit %s" % (path, ", ".join("line %d: %s" % item
                                                                   for item in sorted(legacy)),
                                                   " and ".join(fixes)))
    env_db_path = None
    rewrites = []
    mirrors = []
    timeouts = {}
    cluster_settings = {}
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
            elif name in cluster.KEYS:
                cluster_settings[name] = cluster.setting(
                    name, data[name], value, where, describe=_describe,
                    path_value=lambda v, n, k: _path_value(v, n, k, path, where))
            elif name not in TOP_KEYS:
                warnings.append(where.message(key, name if name is not None else "?",
                                              "unknown top-level key, kept but ignored"))
    return Config(path=path, exists=exists, sources=sources, env_db_path=env_db_path,
                  url_rewrites=rewrites, store_mirrors=mirrors, warnings=warnings,
                  **cluster_settings, **timeouts)


def _path_value(value, node, key, config_path, where):
    if not isinstance(value, str) or not value.strip():
        raise where.error(node, key, "must be a path, found %s" % _describe(value))
    expanded = paths.expand(value)
    if not expanded.is_absolute():
        expanded = Path(config_path).parent / expanded
    return expanded


def _source(name, key_node, node, entry, ours, config_path, where, warnings, legacy,
            section="model_sources"):
    """One source from its model_sources entry (nodes None: built in) and `ours`, its
    source_settings entry as (value, key node, value node) or None. A source of a type kipoi
    does not know is read from its source_settings entry alone (`section`)."""
    import yaml

    keypath = "%s.%s" % (section, name if isinstance(name, str) else key_node.value)
    if not isinstance(name, str):
        raise where.error(key_node, keypath, "a source name must be a string (quote it)")
    problem = names.source_name_problem(name)
    if problem:
        raise where.error(key_node, keypath, problem)
    if not isinstance(entry, dict):
        raise where.error(node, keypath, "must be a mapping of settings (type, remote_url, "
                          "local_path, ...), found %s" % _describe(entry))
    nodes = {}  # key -> (key node, value node, the key path messages name)
    if node is not None:
        _check_unique(node, where, keypath + ".")
        nodes = {k.value: (k, v, "%s.%s" % (keypath, k.value))
                 for k, v in node.value if isinstance(k, yaml.ScalarNode)}
    moved = [(nodes[k][0].start_mark.line + 1, "%s.%s" % (name, k)) for k in entry
             if k in OUR_KEYS and k not in KIPOI_KEYS.get(entry.get("type"), OUR_KEYS)]
    lacks_local_path = node is not None and entry.get("type") in KIPOI_KEYS and \
        entry.get("type") != "local" and entry.get("local_path") is None
    if ours is not None:
        value, ours_key, ours_node = ours
        ours_path = "%s.%s" % (SETTINGS_KEY, name)
        if value is not None and not isinstance(value, dict):
            raise where.error(ours_node, ours_path, "must be a mapping of settings (%s), found %s"
                              % (", ".join(OUR_KEYS), _describe(value)))
        if isinstance(ours_node, yaml.MappingNode):
            _check_unique(ours_node, where, ours_path + ".")
            for k, v in ours_node.value:
                if isinstance(k, yaml.ScalarNode) and k.value not in OUR_KEYS:
                    warnings.append(where.message(k, "%s.%s" % (ours_path, k.value), "not one of "
                                                  "our settings (%s), kept but ignored"
                                                  % ", ".join(OUR_KEYS)))
                elif isinstance(k, yaml.ScalarNode):
                    nodes[k.value] = (k, v, "%s.%s" % (ours_path, k.value))
                    entry = dict(entry, **{k.value: value[k.value]})  # ours win over the entry

    def err(key, what, on_key=False):
        k, v, at = nodes.get(key, (key_node, key_node, "%s.%s" % (keypath, key)))
        return where.error(k if on_key else v, at, what)

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
        valid = [t for t in TYPES if section == SETTINGS_KEY or t not in SETTINGS_ONLY_TYPES]
        raise err("type", "unknown type %s (valid types: %s)" % (_describe(kind), ", ".join(valid)))
    if kind in SETTINGS_ONLY_TYPES and section != SETTINGS_KEY:
        raise err("type", "kipoi 0.8.6 cannot load a config with a model_sources entry of type %s: "
                  "it belongs under %s (kipoi source add writes it there)" % (kind, SETTINGS_KEY))
    remote_url = text_setting("remote_url", required=kind in GIT_TYPES or kind == "oci")
    if kind == "oci" and not remote_url.lower().startswith("oci://"):
        raise err("remote_url", "must be oci://REGISTRY/REPOSITORY, found %s" % _describe(remote_url))
    local_raw = text_setting("local_path", required=kind == "local")
    local_node = nodes.get("local_path", (None, None))[1]
    local_path = (_path_value(local_raw, local_node, keypath + ".local_path", config_path, where)
                  if local_raw is not None else None)
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
    for key, (k, _, at) in nodes.items():
        if key not in SOURCE_KEYS:
            warnings.append(where.message(k, at, "unknown setting, kept but ignored"))
    legacy.extend(moved)
    if lacks_local_path:
        legacy.append((key_node.start_mark.line + 1, "%s has no local_path" % name))
    return SourceConfig(name=name, type=kind, remote_url=remote_url, local_path=local_path,
                        auto_update=auto_update, use_lfs=use_lfs, ref=ref, refresh=refresh,
                        lfs_url=lfs_url, base_url=base_url, raw=dict(entry))

