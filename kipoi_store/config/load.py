"""~/.kipoi/config.yaml: load and validate it, and edit it in place.

Reads every form kipoi itself writes (`model_sources:` with `git-lfs`, `git`, `local` and
`github-permalink` entries, `remote_url`, `local_path`, `auto_update`, `use_lfs`, top-level
`env_db_path`) plus our own keys: `ref`, `refresh`, `lfs_url`, `base_url`, top-level `url_rewrites`.

What counts as "no sources":
- no file at all, or a file without a `model_sources` key: kipoi's defaults (`kipoi`, `github-permalink`);
- `model_sources:` present but empty (`{}` or nothing): no sources of your own.
In every case a `github-permalink` source exists, as in kipoi, which adds it when a config lacks it.

A bad config raises ConfigError with one line `FILE:LINE: KEY: what is wrong`. Unknown keys are kept
and reported in `Config.warnings`. Relative paths in the config are relative to the config's folder.

Edits (add_source, remove_source, rename_source, set_url) change only the entry they touch (see
configedit.py), serialise on `<config>.lock`, re-read under the lock, check the new text parses to
exactly the expected data, and replace the file atomically keeping its mode. The first edit of a
missing config writes kipoi's defaults together with the change.
"""

import os
import re
from pathlib import Path

from kipoi_store import names
from kipoi_store import paths
from kipoi_store.errors import ConfigError, UnknownSourceError, UsageError
from kipoi_store.frozen import Frozen, fresh

TYPES = ("git", "git-lfs", "github-permalink", "local")
GIT_TYPES = ("git", "git-lfs")
SOURCE_KEYS = ("type", "remote_url", "local_path", "auto_update", "use_lfs", "ref", "refresh",
               "lfs_url", "base_url")
TOP_KEYS = ("model_sources", "env_db_path", "url_rewrites")
DEFAULT_REFRESH = 3600.0
DEFAULT_BASE_URL = "https://github.com"
PERMALINK_SOURCE = "github-permalink"


class SourceConfig(Frozen):
    """One entry of model_sources, validated (immutable, picklable: configcache.py keeps it)."""

    __slots__ = (
        "name",         # str
        "type",         # one of TYPES
        "remote_url",   # str or None
        "local_path",   # Path or None
        "auto_update",  # bool
        "use_lfs",      # bool or None
        "ref",          # str or None
        "refresh",      # seconds a cached ref stays fresh (float); None = never
        "lfs_url",      # str or None
        "base_url",     # str or None
        "raw",          # the entry as written (a dict, unknown keys included)
    )
    DEFAULTS = {"auto_update": True, "use_lfs": None, "ref": None, "refresh": DEFAULT_REFRESH,
                "lfs_url": None, "base_url": None, "raw": fresh(dict)}


class Config(Frozen):
    """The whole config, validated (immutable, picklable: configcache.py keeps it)."""

    __slots__ = (
        "path",          # Path of the file (which may not exist)
        "exists",        # bool
        "sources",       # {name: SourceConfig}, in file order
        "env_db_path",   # Path or None
        "url_rewrites",  # [(prefix, [replacement, ...]), ...]
        "warnings",      # [str]: unknown keys, kept but ignored
    )
    DEFAULTS = {"env_db_path": None, "url_rewrites": fresh(list), "warnings": fresh(list)}

    def source(self, name):
        try:
            return self.sources[name]
        except KeyError:
            raise UnknownSourceError(unknown_source_message(name, self.sources, self.path)) from None


def unknown_source_message(name, known, path):
    listed = ", ".join(known) if known else "none"
    return "unknown source '%s' (configured: %s; config %s)" % (name, listed, path)


def default_sources_text():
    """kipoi's default sources, as the first edit of a missing config writes them."""
    return ("model_sources:\n"
            "  kipoi:\n"
            "    type: git-lfs\n"
            "    remote_url: https://github.com/kipoi/models.git\n"
            "    local_path: ~/.kipoi/models/\n"
            "    auto_update: true\n"
            "  github-permalink:\n"
            "    type: github-permalink\n"
            "    local_path: ~/.kipoi/github-permalink/\n")


# -- durations --------------------------------------------------------------------------------

_DURATION_RE = re.compile(r"\s*(\d+(?:\.\d*)?|\.\d+)\s*([smhd]?)\s*\Z")
_UNITS = {"": 1, "s": 1, "m": 60, "h": 3600, "d": 86400}


def parse_duration(text):
    """Seconds in `text`: a number of seconds, or `30s`, `15m`, `1h`, `2d` (UsageError if not)."""
    if isinstance(text, bool):
        raise UsageError("bad duration %r: expected seconds or e.g. 30s, 15m, 1h, 2d" % (text,))
    if isinstance(text, (int, float)):
        seconds = float(text)
    else:
        match = _DURATION_RE.match(str(text))
        if not match:
            raise UsageError("bad duration '%s': expected seconds or e.g. 30s, 15m, 1h, 2d" % text)
        seconds = float(match.group(1)) * _UNITS[match.group(2)]
    if not (0 <= seconds < float("inf")):  # also refuses NaN
        raise UsageError("bad duration %r: must be a finite number of seconds >= 0" % (text,))
    return seconds


def format_duration(seconds):
    """The shortest exact `2d`/`1h`/`15m`/`30s` form of a duration; `never` for None."""
    if seconds is None:
        return "never"
    for unit in ("d", "h", "m"):
        if seconds and seconds % _UNITS[unit] == 0:
            return "%d%s" % (seconds // _UNITS[unit], unit)
    return ("%d" % seconds if seconds == int(seconds) else "%g" % seconds) + "s"


# -- loading ----------------------------------------------------------------------------------

def load(path=None):
    """The config at `path` (default: KIPOI_CONFIG, $KIPOI_HOME/config.yaml, ~/.kipoi/config.yaml)."""
    path = Path(path) if path is not None else paths.config_path()
    text = _read(path)
    if text is None:
        return parse(default_sources_text(), path, exists=False)
    return parse(text, path)


def _read(path):
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


class _Where:
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


def _structure(text, where):
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
    where = _Where(path)
    doc = _structure(text, where)
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
    if doc.root is not None:
        for key, value in doc.root.value:
            name = key.value if key.tag.endswith(":str") else None
            if name == "env_db_path":
                env_db_path = _path_value(data["env_db_path"], value, "env_db_path", path, where)
            elif name == "url_rewrites":
                rewrites = _rewrites(data["url_rewrites"], value, where)
            elif name not in TOP_KEYS:
                warnings.append(where.message(key, name if name is not None else "?",
                                              "unknown top-level key, kept but ignored"))
    return Config(path=path, exists=exists, sources=sources, env_db_path=env_db_path,
                  url_rewrites=rewrites, warnings=warnings)


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


# -- editing ----------------------------------------------------------------------------------

def add_source(name, entry, force=False, path=None):
    """Add source `name` with settings `entry` (a dict); replace an existing one only with force."""
    problem = names.source_name_problem(name)
    if problem:
        raise UsageError("bad source name: %s" % problem)
    entry = dict(entry)

    def change(text, target, sources):
        from kipoi_store.config import yamledit

        if name in sources and not force:
            raise UsageError("source '%s' already exists in %s (--force replaces it)"
                             % (name, target))
        expected = dict(sources)
        expected[name] = entry
        return yamledit.add_entry(text, name, entry, replace=True), expected

    _edit(path, change, touched=name)


def remove_source(name, path=None):
    def change(text, target, sources):
        from kipoi_store.config import yamledit

        _require(name, sources, target)
        expected = {k: v for k, v in sources.items() if k != name}
        return yamledit.remove_entry(text, name), expected

    _edit(path, change)


def rename_source(old, new, path=None):
    problem = names.source_name_problem(new)
    if problem:
        raise UsageError("bad source name: %s" % problem)

    def change(text, target, sources):
        from kipoi_store.config import yamledit

        _require(old, sources, target)
        if new in sources and new != old:
            raise UsageError("source '%s' already exists in %s" % (new, target))
        expected = {(new if k == old else k): v for k, v in sources.items()}
        return yamledit.rename_entry(text, old, new), expected

    _edit(path, change, touched=new)


def url_key(kind):
    """Which setting `set-url` changes for a source type."""
    return {"local": "local_path", PERMALINK_SOURCE: "base_url"}.get(kind, "remote_url")


def set_url(name, url, path=None):
    """Point source `name` elsewhere: remote_url (git types), local_path (local), base_url."""
    if not isinstance(url, str) or not url or any(c < " " or c == "\x7f" for c in url):
        raise UsageError("bad URL %r: must be non-empty, without control characters" % (url,))

    def change(text, target, sources):
        from kipoi_store.config import yamledit

        _require(name, sources, target)
        entry = sources[name]
        key = url_key(entry.get("type") if isinstance(entry, dict) else None)
        expected = dict(sources)
        expected[name] = dict(entry) if isinstance(entry, dict) else {}
        expected[name][key] = url
        return yamledit.set_entry_value(text, name, key, url), expected

    _edit(path, change, touched=name)


def _require(name, sources, target):
    if name not in sources:
        raise UnknownSourceError(unknown_source_message(name, list(sources), target))


def _edit(path, change, touched=None):
    """Apply `change(text, target, sources) -> (new_text, expected_sources)` under the lock."""
    path = Path(path) if path is not None else paths.config_path()
    target = Path(os.path.realpath(path))  # through a symlink: edit the file it points to
    target.parent.mkdir(parents=True, exist_ok=True)
    with _locked(target):
        original = _read(target)  # re-read under the lock: another process may just have written
        mode = None if original is None else os.stat(target).st_mode & 0o7777
        text = default_sources_text() if original is None else original
        new_text = _checked_edit(text, target, change, touched)
        if new_text != original:
            _write_atomic(target, new_text, mode)


def _checked_edit(text, target, change, touched):
    from kipoi_store.config import yamledit

    where = _Where(target)
    doc = _structure(text, where)
    if doc.sources_key is None:
        import yaml

        if isinstance(doc.root, yaml.MappingNode) and doc.root.flow_style:
            raise ConfigError("%s: the top level is written in flow style ({...}); add "
                              "model_sources by hand" % target)
        text = yamledit.add_sources_key(text, default_sources_text())
        doc = _structure(text, where)
    before = doc.data if isinstance(doc.data, dict) else {}
    sources = dict(before.get("model_sources") or {})
    new_text, expected_sources = change(text, target, sources)
    errors = {}
    try:
        new_doc = _structure(new_text, where)
        parse(new_text, target, entry_errors=errors)
    except ConfigError as exc:
        raise ConfigError("%s: the edit would not give a valid config, file left unchanged (%s)"
                          % (target, exc)) from None
    if touched in errors:
        raise UsageError("bad settings for source '%s': %s"
                         % (touched, getattr(errors[touched], "detail", errors[touched])))
    after = new_doc.data if isinstance(new_doc.data, dict) else {}
    got = dict(after.get("model_sources") or {})
    expected = dict(before, model_sources=expected_sources)
    actual = dict(after, model_sources=got)
    if actual != expected or list(got) != list(expected_sources):
        raise ConfigError("%s: could not edit the config in place safely, file left unchanged "
                          "(edit it by hand)" % target)
    return new_text


class _locked:
    """An exclusive flock on `<config>.lock`: serialises edits from several processes."""

    def __init__(self, target):
        self.lock_path = target.with_name(target.name + ".lock")

    def __enter__(self):
        import fcntl

        self.fd = os.open(self.lock_path, os.O_RDWR | os.O_CREAT, 0o666)
        fcntl.flock(self.fd, fcntl.LOCK_EX)
        return self

    def __exit__(self, *exc):
        os.close(self.fd)  # closing releases the lock; the file stays (unlinking it would race)


def _write_atomic(target, text, mode):
    """Temp file in the same folder, fsync, rename over: readers see the old or the new file."""
    import secrets

    tmp = target.with_name(".%s.%s.tmp" % (target.name, secrets.token_hex(6)))
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o666)  # umask applies
    try:
        with os.fdopen(fd, "w", encoding="utf-8", newline="") as f:
            f.write(text)
            f.flush()
            if mode is not None:
                os.fchmod(f.fileno(), mode)
            os.fsync(f.fileno())
        os.replace(tmp, target)
    except BaseException:
        try:
            os.unlink(tmp)
        except OSError:
            pass
        raise
    try:
        dir_fd = os.open(target.parent, os.O_RDONLY)
        try:
            os.fsync(dir_fd)
        finally:
            os.close(dir_fd)
    except OSError:
        pass  # some filesystems refuse fsync on a directory; the rename already happened
