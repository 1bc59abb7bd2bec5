"""Editing ~/.kipoi/config.yaml in place: add, remove, rename a source, or point it elsewhere.

Each edit changes only the entries it touches (the text surgery is yamledit.py), serialises on
`<config>.lock`, re-reads the file under the lock, checks the new text parses to exactly the expected
data, and replaces the file atomically keeping its owner, group and mode. The first edit of a missing
config writes kipoi's defaults together with the change.

Every edit leaves a file kipoi 0.8.6 loads: a model_sources entry holds only the keys kipoi's class
for its type accepts, with local_path wherever kipoi needs one; our settings go to `source_settings:`
(settings.py says which is which). Entries an earlier version wrote with our keys inside are moved
out by whichever edit comes next.
"""

import os
from pathlib import Path

from kipoi_store import names
from kipoi_store import paths
from kipoi_store.config.load import Where, parse, read_text, structure
from kipoi_store.config.schema import (
    KIPOI_KEYS,
    OUR_KEYS,
    PERMALINK_SOURCE,
    SETTINGS_KEY,
    SETTINGS_ONLY_TYPES,
    default_local_path,
    default_sources_text,
    needs_local_path,
    split_entry,
    unknown_source_message,
)
from kipoi_store.config.tmpfiles import remove_leftovers, temp_path
from kipoi_store.errors import ConfigError, KipoiError, UnknownSourceError, UsageError

SETTINGS_COMMENT = ("kipoi_store's own settings per source (ref, refresh, lfs_url, base_url, ...); "
                    "kipoi ignores this section")


def add_source(name, entry, force=False, path=None):
    """Add source `name` with settings `entry` (a dict, ours included); replace an existing one
    only with force. A git, git-lfs or github-permalink entry without local_path gets kipoi's."""
    problem = names.source_name_problem(name)
    if problem:
        raise UsageError("bad source name: %s" % problem)
    entry = _with_local_path(name, dict(entry))

    def change(text, target, sources):
        from kipoi_store.config import yamledit

        if name in sources and not force:
            raise UsageError("source '%s' already exists in %s (--force replaces it)"
                             % (name, target))
        expected = dict(sources)
        expected[name] = entry
        kipoi, ours = split_entry(entry)
        if kipoi:
            text = yamledit.add_entry(text, name, kipoi, replace=True)
        elif _has_entry(text, name):  # replaced by a source kipoi does not know: settings only
            text = yamledit.remove_entry(text, name)
        if ours:
            text = yamledit.add_entry(_with_settings(text), name, ours, replace=True,
                                      section=SETTINGS_KEY)
        elif _has_settings(text, name):
            text = yamledit.remove_entry(text, name, section=SETTINGS_KEY)
        return text, expected

    _edit(path, change, touched=name)


def remove_source(name, path=None):
    def change(text, target, sources):
        from kipoi_store.config import yamledit

        _require(name, sources, target)
        expected = {k: v for k, v in sources.items() if k != name}
        if _has_entry(text, name):
            text = yamledit.remove_entry(text, name)
        if _has_settings(text, name):
            text = yamledit.remove_entry(text, name, section=SETTINGS_KEY)
        return text, expected

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
        if _has_entry(text, old):
            text = yamledit.rename_entry(text, old, new)
        if new != old and _has_settings(text, new):  # settings of no source: the renamed one's win
            text = yamledit.remove_entry(text, new, section=SETTINGS_KEY)
        if _has_settings(text, old):
            text = yamledit.rename_entry(text, old, new, section=SETTINGS_KEY)
        return text, expected

    _edit(path, change, touched=new)


def url_key(kind):
    """Which setting `set-url` changes for a source type."""
    return {"local": "local_path", PERMALINK_SOURCE: "base_url"}.get(kind, "remote_url")


def set_url(name, url, path=None):
    """Point source `name` elsewhere: remote_url (git types), local_path (local), base_url."""
    from kipoi_store.config.locations import check_text

    check_text(url)

    def change(text, target, sources):
        from kipoi_store.config import yamledit

        _require(name, sources, target)
        entry = sources[name]
        kind = entry.get("type") if isinstance(entry, dict) else None
        key = url_key(kind)
        expected = dict(sources)
        expected[name] = dict(entry) if isinstance(entry, dict) else {}
        expected[name][key] = url
        if kind not in SETTINGS_ONLY_TYPES and key in KIPOI_KEYS.get(kind, (key,)):
            return yamledit.set_entry_value(text, name, key, url), expected
        return _put_setting(text, name, key, url), expected

    _edit(path, change, touched=name)


def _require(name, sources, target):
    if name not in sources:
        raise UnknownSourceError(unknown_source_message(name, list(sources), target))


def _with_local_path(name, entry):
    if isinstance(entry, dict) and needs_local_path(entry):
        entry["local_path"] = default_local_path(name)
    return entry


# -- the source_settings section --------------------------------------------------------------

def _has_entry(text, name):
    from kipoi_store.config import yamledit

    return yamledit.parse_document(text).entry(name) is not None


def _settings_only(entry):
    """A source kipoi does not know (an oci registry): it lives in source_settings alone."""
    return isinstance(entry, dict) and entry.get("type") in SETTINGS_ONLY_TYPES


def _has_settings(text, name):
    from kipoi_store.config import yamledit

    return yamledit.parse_document(text).entry(name, SETTINGS_KEY) is not None


def _with_settings(text):
    """`text` with a source_settings section (an empty one appended when it has none)."""
    from kipoi_store.config import yamledit

    if yamledit.parse_document(text).section(SETTINGS_KEY)[0] is None:
        return yamledit.add_section(text, SETTINGS_KEY, SETTINGS_COMMENT)
    return text


def _put_setting(text, name, key, value):
    from kipoi_store.config import yamledit

    text = _with_settings(text)
    doc = yamledit.parse_document(text)
    ours = doc.data.get(SETTINGS_KEY) or {}
    if isinstance(ours.get(name), dict) and ours[name]:
        return yamledit.set_entry_value(text, name, key, value, section=SETTINGS_KEY)
    return yamledit.add_entry(text, name, {key: value}, replace=True, section=SETTINGS_KEY)


def _current(doc):
    """(sources, orphans): each source's settings merged (source_settings win over the entry, the
    way load.py reads them; a moved `ref` as written), and source_settings of no source."""
    import yaml

    data = doc.data if isinstance(doc.data, dict) else {}
    written = data.get("model_sources") or {}
    ours = dict(data.get(SETTINGS_KEY) or {})
    sources = {}
    for name, _, node in doc.entries():
        entry = written[name]
        if isinstance(entry, dict):
            entry = dict(entry)
        if isinstance(entry, dict) and isinstance(node, yaml.MappingNode):
            for k, v in node.value:
                if k.value == "ref" and isinstance(v, yaml.ScalarNode) and "ref" in _moving(entry):
                    entry["ref"] = v.value  # `ref: 0123456` is a commit prefix, not a number
            if isinstance(ours.get(name), dict):
                entry.update(ours[name])
        sources[name] = _with_local_path(name, entry)
        ours.pop(name, None)
    for name, entry in list(ours.items()):
        if _settings_only(entry):
            sources[name] = dict(ours.pop(name))
    return sources, ours


def _moving(entry):
    """The keys of a model_sources entry that kipoi's class for its type refuses and we own."""
    kind = entry.get("type")
    if kind not in KIPOI_KEYS:
        return []
    return [k for k in entry if k in OUR_KEYS and k not in KIPOI_KEYS[kind]]


def _migrate(text, doc, sources):
    """Move our settings out of every model_sources entry and give each entry the local_path kipoi
    needs: afterwards kipoi 0.8.6 loads the file."""
    from kipoi_store.config import yamledit

    data = doc.data if isinstance(doc.data, dict) else {}
    written = data.get("model_sources") or {}
    for name, _, _ in doc.entries():
        entry = written[name]
        if not isinstance(entry, dict):
            continue
        ours = (data.get(SETTINGS_KEY) or {}).get(name)
        for key in _moving(entry):
            comment = yamledit.setting_comment(text, name, key)  # `ref: abc123  # the paper's`
            text = yamledit.remove_setting(text, name, key)
            if not (isinstance(ours, dict) and key in ours):  # source_settings win
                text = _put_setting(text, name, key, sources[name][key])
                text = yamledit.add_setting_comment(text, name, key, comment, SETTINGS_KEY)
        if needs_local_path(entry):
            text = yamledit.set_entry_value(text, name, "local_path", default_local_path(name))
    return text


# -- one edit ---------------------------------------------------------------------------------

def _edit(path, change, touched=None):
    """Apply `change(text, target, sources) -> (new_text, expected_sources)` under the lock.

    `sources` maps each model_sources name to its merged settings (entry and source_settings);
    `change` edits a text whose entries already hold only kipoi's keys."""
    path = Path(path) if path is not None else paths.config_path()
    target = Path(os.path.realpath(path))  # through a symlink: edit the file it points to
    target.parent.mkdir(parents=True, exist_ok=True)
    with _locked(target):
        remove_leftovers(target)
        original = read_text(target)  # re-read under the lock: another process may just have written
        st = None if original is None else os.stat(target)
        if st is not None and not os.access(target, os.W_OK):
            raise KipoiError("%s: not writable for you (mode %04o), not edited"
                             % (target, st.st_mode & 0o7777))
        text = default_sources_text() if original is None else original
        new_text = _checked_edit(text, target, change, touched)
        if new_text != original:
            _write_atomic(target, new_text, st)


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
    sources, orphans = _current(doc)
    new_text, expected_sources = change(_migrate(text, doc, sources), target, sources)
    if not any(not _settings_only(e) for e in expected_sources.values()):
        # kipoi reads an empty model_sources as its defaults: say "only the built-in one" instead.
        builtin = _with_local_path(PERMALINK_SOURCE, {"type": PERMALINK_SOURCE})
        new_text = yamledit.add_entry(new_text, PERMALINK_SOURCE, builtin)
        expected_sources = dict(expected_sources, **{PERMALINK_SOURCE: builtin})
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
    if not _as_expected(before, new_doc, expected_sources, orphans):
        raise ConfigError("%s: could not edit the config in place safely, file left unchanged "
                          "(edit it by hand)" % target)
    return new_text


def _as_expected(before, new_doc, expected_sources, orphans):
    """Does the edited file hold exactly the expected sources, split as kipoi needs, and
    everything else as it was?"""
    after = new_doc.data if isinstance(new_doc.data, dict) else {}
    got = dict(after.get("model_sources") or {})
    entries, ours = {}, {}
    for name, entry in expected_sources.items():
        entries[name] = entry
        if isinstance(entry, dict):
            entries[name], settings = split_entry(entry)
            if settings:
                ours[name] = settings
            if _settings_only(entry):
                del entries[name]
    ours.update((k, v) for k, v in orphans.items() if k not in expected_sources)
    rest = {k: v for k, v in after.items() if k not in ("model_sources", SETTINGS_KEY)}
    return (got == entries and list(got) == list(entries)
            and (after.get(SETTINGS_KEY) or {}) == ours
            and rest == {k: v for k, v in before.items() if k not in ("model_sources", SETTINGS_KEY)})


class _locked:
    """An exclusive flock on `<config>.lock`: serialises edits from several processes.

    Opened read-only (flock needs no more), so a lock file root created in a user's folder does
    not stop that user's next edit; root gives a new one the config's owner all the same."""

    def __init__(self, target):
        self.target = target
        self.lock_path = target.with_name(target.name + ".lock")

    def __enter__(self):
        import fcntl

        self.fd = os.open(self.lock_path, os.O_RDONLY | os.O_CREAT, 0o666)
        try:
            config = os.stat(self.target)
        except OSError:
            config = None
        if config is not None:
            _give_owner(self.fd, config)
        fcntl.flock(self.fd, fcntl.LOCK_EX)
        return self

    def __exit__(self, *exc):
        os.close(self.fd)  # closing releases the lock; the file stays (unlinking it would race)


def _give_owner(fd, st):
    """Give the file open as `fd` the owner and group of `st` as far as we may (root: both; a
    member of the group: the group); anything else keeps ours."""
    mine = os.fstat(fd)
    if (mine.st_uid, mine.st_gid) == (st.st_uid, st.st_gid):
        return
    for uid in (st.st_uid, -1):
        try:
            os.fchown(fd, uid, st.st_gid)
            return
        except OSError:
            continue


def _write_atomic(target, text, st):
    """Temp file in the same folder, fsync, rename over: readers see the old or the new file.

    The new file gets the old one's owner, group and mode (`st`) before a byte is written: a
    user's 0600 file edited by root stays the user's and 0600, a 0444 one stays 0444."""
    tmp = temp_path(target)
    # A new config gets the umask's mode; an edited one starts private until it has the old mode.
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o666 if st is None else 0o600)
    try:
        with os.fdopen(fd, "w", encoding="utf-8", newline="") as f:
            if st is not None:
                _give_owner(f.fileno(), st)  # before fchmod: chown clears setuid and setgid bits
                os.fchmod(f.fileno(), st.st_mode & 0o7777)
            f.write(text)
            f.flush()
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
