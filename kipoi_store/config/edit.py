"""Editing ~/.kipoi/config.yaml in place: add, remove, rename a source, or point it elsewhere.

Each edit changes only the entry it touches (the text surgery is yamledit.py), serialises on
`<config>.lock`, re-reads the file under the lock, checks the new text parses to exactly the expected
data, and replaces the file atomically keeping its mode. The first edit of a missing config writes
kipoi's defaults together with the change.
"""

import os
from pathlib import Path

from kipoi_store import names
from kipoi_store import paths
from kipoi_store.config.load import Where, parse, read_text, structure
from kipoi_store.config.schema import PERMALINK_SOURCE, default_sources_text, unknown_source_message
from kipoi_store.errors import ConfigError, UnknownSourceError, UsageError


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
        original = read_text(target)  # re-read under the lock: another process may just have written
        mode = None if original is None else os.stat(target).st_mode & 0o7777
        text = default_sources_text() if original is None else original
        new_text = _checked_edit(text, target, change, touched)
        if new_text != original:
            _write_atomic(target, new_text, mode)


def _checked_edit(text, target, change, touched):
    from kipoi_store.config import yamledit

    where = Where(target)
    doc = structure(text, where)
    if doc.sources_key is None:
        import yaml

        if isinstance(doc.root, yaml.MappingNode) and doc.root.flow_style:
            raise ConfigError("%s: the top level is written in flow style ({...}); add "
                              "model_sources by hand" % target)
        text = yamledit.add_sources_key(text, default_sources_text())
        doc = structure(text, where)
    before = doc.data if isinstance(doc.data, dict) else {}
    sources = dict(before.get("model_sources") or {})
    new_text, expected_sources = change(text, target, sources)
    errors = {}
    try:
        new_doc = structure(new_text, where)
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
