"""Editing config.yaml in place: only the touched entry changes, byte for byte.

The property tests keep a model of the file as chunks (raw text, and entries rendered from a
few fields), apply the same operations to the model and to the real file through the public API,
and compare the whole text after every step.

Every config these tests write is also read by kipoi 0.8.6 (tests/kipoi_client.py), which must
build the same sources from it.
"""

import os
import stat
from dataclasses import dataclass, field
from typing import List

import pytest
import yaml
from hypothesis import HealthCheck, given, settings, strategies as st

from kipoi_store.config import edit
from kipoi_store.config import load
from kipoi_store.config import schema
from kipoi_store.config import yamledit
from kipoi_store.errors import ConfigError, UnknownSourceError, UsageError

from .kipoi_client import Recorder, require_kipoi


@pytest.fixture(autouse=True)
def home(tmp_path_factory, monkeypatch):
    """A HOME of its own: entries get local_path under it (kipoi's ~/.kipoi)."""
    home = tmp_path_factory.mktemp("home")
    monkeypatch.setenv("HOME", str(home))
    return home


@pytest.fixture(autouse=True)
def kipoi_reads_every_config(monkeypatch, kipoi_reader):
    """Each config an edit writes must load in kipoi 0.8.6 with the same sources."""
    recorder = Recorder(kipoi_reader)
    write = edit._write_atomic

    def write_and_record(target, text, st):
        write(target, text, st)
        recorder.record(target, text)

    monkeypatch.setattr(edit, "_write_atomic", write_and_record)
    yield recorder
    recorder.check()


def kipoi_path(name):
    """The local_path an entry without one gets: where kipoi would check the source out."""
    return os.path.join(os.environ["HOME"], ".kipoi", "sources", name, "")


def plain_key_ok(name):
    return yaml.safe_load("%s: 0" % name) == {name: 0}


NAMES = st.from_regex(r"[a-z][a-z0-9_-]{0,6}", fullmatch=True).filter(
    lambda n: n != "dir" and plain_key_ok(n))
URLS = st.from_regex(r"https://[a-z]{1,8}\.org/[a-z0-9]{1,8}\.git", fullmatch=True)
COMMENT_TEXT = st.text(st.sampled_from("abc XYZ:#-'\"{}[],*&!|>%@`"), max_size=12)
COMMENT = COMMENT_TEXT.map(lambda t: "# " + t)
INLINE = st.one_of(st.just(""), st.tuples(st.integers(1, 3), COMMENT).map(
    lambda t: " " * t[0] + t[1]))


@dataclass
class Entry:
    name: str
    key: str  # as written: plain, 'single' or "double" quoted
    url: str
    key_comment: str = ""
    url_comment: str = ""
    inner: List[str] = field(default_factory=list)  # comment / blank lines between settings
    local_path: str = None

    def render(self, indent, step):
        pad, cpad = " " * indent, " " * (indent + step)
        lines = [pad + self.key + ":" + self.key_comment, cpad + "type: git"]
        lines += self.inner
        lines.append(cpad + "remote_url: " + self.url + self.url_comment)
        if self.local_path:
            lines.append(cpad + "local_path: " + self.local_path)
        return "".join(line + "\n" for line in lines)


@dataclass
class Model:
    indent: int
    step: int
    chunks: list  # str (raw text) or Entry
    trailer: str  # after every entry; may end without a newline

    def text(self):
        body = "".join(c if isinstance(c, str) else c.render(self.indent, self.step)
                       for c in self.chunks)
        return body + self.trailer

    def entries(self):
        return [c for c in self.chunks if isinstance(c, Entry)]

    def find(self, name):
        return next(c for c in self.entries() if c.name == name)


@st.composite
def gap(draw):
    """Blank lines and comments (at any column) between entries."""
    lines = draw(st.lists(st.one_of(st.just(""), st.tuples(st.integers(0, 6), COMMENT).map(
        lambda t: " " * t[0] + t[1])), max_size=3))
    return "".join(line + "\n" for line in lines)


@st.composite
def entry(draw, name):
    style = draw(st.sampled_from(["plain", "single", "double"]))
    key = {"plain": name, "single": "'%s'" % name, "double": '"%s"' % name}[style]
    inner = draw(st.lists(st.one_of(st.just(""), st.tuples(st.integers(0, 8), COMMENT).map(
        lambda t: " " * t[0] + t[1])), max_size=2))
    return Entry(name=name, key=key, url=draw(URLS), key_comment=draw(INLINE),
                 url_comment=draw(INLINE), inner=inner,
                 local_path=draw(st.sampled_from([None, "~/.kipoi/x/", "/data/m"])))


@st.composite
def models(draw):
    names = draw(st.lists(NAMES, min_size=1, max_size=6, unique=True))
    header = draw(gap())
    if draw(st.booleans()):
        header += "env_db_path: /tmp/envs.json" + draw(INLINE) + "\n" + draw(gap())
    chunks = [header + "model_sources:" + draw(INLINE) + "\n"]
    for name in names:
        chunks += [draw(gap()), draw(entry(name))]
    trailer = draw(gap())
    if draw(st.booleans()):
        trailer += "other_key: 1" + draw(INLINE) + "\n" + draw(gap())
    if trailer and draw(st.booleans()):
        trailer = trailer[:-1]  # no newline at the end of the file
    return Model(indent=draw(st.integers(1, 4)), step=draw(st.integers(1, 4)), chunks=chunks,
                 trailer=trailer)


@settings(max_examples=80, deadline=None,
          suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture])
@given(models(), st.data())
def test_edits_change_only_the_entry_they_touch(tmp_path_factory, model, data):
    path = tmp_path_factory.mktemp("edit") / "config.yaml"
    path.write_text(model.text())
    assert [n for n in load.load(path).sources][: len(model.entries())] == \
        [e.name for e in model.entries()]
    for _ in range(data.draw(st.integers(1, 4))):
        names = [e.name for e in model.entries()]
        fresh = NAMES.filter(lambda n, taken=tuple(names): n not in taken)
        ops = ["add", "rename", "set_url"] + (["remove"] if len(names) > 1 else [])
        op = data.draw(st.sampled_from(ops))
        for e in model.entries():  # every edit gives each entry the local_path kipoi needs
            e.local_path = e.local_path or kipoi_path(e.name)
        if op == "add":
            name, url = data.draw(fresh), data.draw(URLS)
            edit.add_source(name, {"type": "git", "remote_url": url}, path=path)
            last = max(i for i, c in enumerate(model.chunks) if isinstance(c, Entry))
            model.chunks.insert(last + 1, Entry(name=name, key=name, url=url,
                                                local_path=kipoi_path(name)))
        elif op == "remove":
            name = data.draw(st.sampled_from(names))
            edit.remove_source(name, path=path)
            model.chunks.remove(model.find(name))
        elif op == "rename":
            old, new = data.draw(st.sampled_from(names)), data.draw(fresh)
            edit.rename_source(old, new, path=path)
            e = model.find(old)
            e.name, e.key = new, new
        else:
            name, url = data.draw(st.sampled_from(names)), data.draw(URLS)
            edit.set_url(name, url, path=path)
            model.find(name).url = url
        assert path.read_text() == model.text()
        loaded = load.load(path)
        assert [n for n in loaded.sources][: len(model.entries())] == \
            [e.name for e in model.entries()]


# -- layouts the property does not generate ---------------------------------------------------

KIPOI_DOCUMENTED = """\
model_sources:
  kipoi: # source name
    type: git-lfs  # git repository with large file storage (lfs)
    remote_url: git@github.com:kipoi/models.git  # git remote
    local_path: /home/avsec/.kipoi/models/ # local storage path

  # special model source storing models accessed via github permalinks
  github-permalink:
    type: github-permalink
    local_path: /home/avsec/.kipoi/github-permalink/
"""


def write(tmp_path, text, name="config.yaml"):
    path = tmp_path / name
    path.write_text(text)
    return path


def test_adding_to_kipois_documented_config_keeps_its_comments(tmp_path):
    path = write(tmp_path, KIPOI_DOCUMENTED)
    edit.add_source("mine", {"type": "local", "local_path": "/data/mine"}, path=path)
    assert path.read_text() == KIPOI_DOCUMENTED + (
        "  mine:\n    type: local\n    local_path: /data/mine\n")


def test_removing_the_first_entry_keeps_the_comment_above_the_next(tmp_path):
    path = write(tmp_path, KIPOI_DOCUMENTED)
    edit.remove_source("kipoi", path=path)
    assert path.read_text() == "model_sources:\n" + KIPOI_DOCUMENTED.split("\n", 5)[5]


def test_set_url_keeps_the_inline_comment(tmp_path):
    path = write(tmp_path, KIPOI_DOCUMENTED)
    edit.set_url("kipoi", "https://github.com/kipoi/models.git", path=path)
    assert path.read_text() == KIPOI_DOCUMENTED.replace(
        "git@github.com:kipoi/models.git  #", "https://github.com/kipoi/models.git  #")


def test_set_url_adds_a_missing_setting_at_the_end_of_the_entry(tmp_path):
    path = write(tmp_path, "model_sources:\n  a:\n    type: local  # here\n")
    edit.set_url("a", "/b", path=path)
    assert path.read_text() == "model_sources:\n  a:\n    type: local  # here\n    local_path: /b\n"


def test_the_permalink_base_url_goes_to_source_settings(tmp_path):
    path = write(tmp_path, KIPOI_DOCUMENTED)
    edit.set_url("github-permalink", "https://github.example.org", path=path)
    assert path.read_text() == KIPOI_DOCUMENTED + (
        "# kipoi_store's own settings per source (ref, refresh, lfs_url, base_url, ...); kipoi "
        "ignores this section\n"
        "source_settings:\n  github-permalink:\n    base_url: https://github.example.org\n")
    assert load.load(path).source("github-permalink").base_url == "https://github.example.org"
    edit.set_url("github-permalink", "https://ghe.example.org", path=path)
    assert path.read_text().endswith("    base_url: https://ghe.example.org\n")


def test_set_url_on_a_local_source_sets_its_folder(tmp_path):
    path = write(tmp_path, "model_sources:\n  m:\n    type: local\n    local_path: /a  # here\n")
    edit.set_url("m", "/b", path=path)
    assert path.read_text() == "model_sources:\n  m:\n    type: local\n    local_path: /b  # here\n"


def test_the_first_edit_of_a_missing_config_writes_the_defaults_too(tmp_path):
    path = tmp_path / "sub" / "config.yaml"
    edit.add_source("mine", {"type": "local", "local_path": "/data/mine"}, path=path)
    assert path.read_text() == schema.default_sources_text() + (
        "  mine:\n    type: local\n    local_path: /data/mine\n")
    assert list(load.load(path).sources) == ["kipoi", "github-permalink", "mine"]


def test_a_file_without_model_sources_gets_the_defaults_and_the_change(tmp_path):
    path = write(tmp_path, "# mine\nenv_db_path: /x/envs.json")  # no final newline either
    edit.remove_source("github-permalink", path=path)
    assert path.read_text() == (
        "# mine\nenv_db_path: /x/envs.json\n" + schema.default_sources_text().split(
            "  github-permalink:")[0])


@pytest.mark.parametrize("text", ["model_sources: {}\n", "model_sources:\n",
                                  "model_sources:  # none yet\nother: 1\n",
                                  "model_sources: {a: {type: local, local_path: /a}}\n"])
def test_flow_style_and_empty_model_sources_become_a_block(tmp_path, text):
    path = write(tmp_path, text)
    before = load.load(path).sources
    edit.add_source("b", {"type": "local", "local_path": "/b"}, path=path)
    after = load.load(path)
    assert list(after.sources) == [n for n in before if n != "github-permalink"] + [
        "b", "github-permalink"]
    assert "  b:\n    type: local\n    local_path: /b\n" in path.read_text()
    if "other" in text:
        assert path.read_text().startswith("model_sources:  # none yet\n")
        assert path.read_text().endswith("other: 1\n")


def test_removing_the_last_source_leaves_the_built_in_one(tmp_path, home):
    # kipoi reads `model_sources: {}` as its defaults, its own zoo included: name the one we keep.
    path = write(tmp_path, "# c\nmodel_sources:\n  a:\n    type: local\n    local_path: /a\n# end\n")
    edit.remove_source("a", path=path)
    assert path.read_text() == (
        "# c\nmodel_sources:\n  github-permalink:\n    type: github-permalink\n"
        "    local_path: %s/.kipoi/github-permalink/\n# end\n" % home)
    assert list(load.load(path).sources) == ["github-permalink"]


def test_a_flow_style_entry_is_rewritten_in_block_style_by_set_url(tmp_path):
    path = write(tmp_path, "model_sources:\n  a: {type: git, remote_url: u}  # x\n  b: {type: "
                           "local, local_path: /b}\n")
    edit.set_url("a", "https://new.org/a.git", path=path)
    assert path.read_text() == ("model_sources:\n  a:\n    type: git\n    remote_url: "
                                "https://new.org/a.git\n    local_path: %s\n"
                                "  b: {type: local, local_path: /b}\n" % kipoi_path("a"))


def test_rename_a_quoted_key_and_keep_crlf_line_ends(tmp_path):
    path = tmp_path / "config.yaml"
    path.write_bytes(b"model_sources:\r\n  'a':\r\n    type: local\r\n    local_path: /a\r\n")
    edit.rename_source("a", "b", path=path)
    edit.add_source("c", {"type": "local", "local_path": "/c"}, path=path)
    assert path.read_bytes() == (b"model_sources:\r\n  b:\r\n    type: local\r\n    local_path: "
                                 b"/a\r\n  c:\r\n    type: local\r\n    local_path: /c\r\n")


def test_names_yaml_would_misread_are_quoted(tmp_path):
    path = write(tmp_path, "model_sources: {}\n")
    for name in ["true", "1", "1.5", "null", "no"]:
        edit.add_source(name, {"type": "local", "local_path": "/" + name}, path=path)
    assert list(load.load(path).sources)[:5] == ["true", "1", "1.5", "null", "no"]


@pytest.mark.parametrize("value", ["true", "123", "a: b", "#x", " lead", "it's", "ü", "-x", "[a]"])
def test_value_text_reads_back_as_the_same_string(value):
    assert yaml.safe_load("k: " + yamledit.value_text(value)) == {"k": value}


def test_force_replaces_an_entry_in_place(tmp_path):
    path = write(tmp_path, KIPOI_DOCUMENTED)
    with pytest.raises(UsageError, match="already exists"):
        edit.add_source("kipoi", {"type": "git", "remote_url": "u"}, path=path)
    edit.add_source("kipoi", {"type": "git", "remote_url": "u"}, force=True, path=path)
    assert path.read_text() == (
        "model_sources:\n  kipoi:\n    type: git\n    remote_url: u\n    local_path: %s/.kipoi/"
        "models/\n" % os.environ["HOME"]) + KIPOI_DOCUMENTED.split("\n", 5)[5]


def test_unknown_names_and_name_clashes(tmp_path):
    path = write(tmp_path, KIPOI_DOCUMENTED)
    with pytest.raises(UnknownSourceError, match="configured: kipoi, github-permalink"):
        edit.remove_source("nope", path=path)
    with pytest.raises(UsageError, match="already exists"):
        edit.rename_source("kipoi", "github-permalink", path=path)
    with pytest.raises(UsageError, match="reserved"):
        edit.rename_source("kipoi", "dir", path=path)
    with pytest.raises(UsageError, match="bad URL"):
        edit.set_url("kipoi", "a\nb", path=path)
    assert path.read_text() == KIPOI_DOCUMENTED


def test_bad_settings_are_refused_and_the_file_stays(tmp_path):
    path = write(tmp_path, KIPOI_DOCUMENTED)
    with pytest.raises(UsageError, match=r"bad settings for source 'x': model_sources\.x\.type: "
                                         r"unknown type 'svn'"):
        edit.add_source("x", {"type": "svn"}, path=path)
    assert path.read_text() == KIPOI_DOCUMENTED


def test_a_bad_entry_can_still_be_removed_or_renamed(tmp_path):
    text = KIPOI_DOCUMENTED + "  dir:\n    type: local\n    local_path: /d\n  odd: 3\n"
    path = write(tmp_path, text)
    edit.rename_source("dir", "mydir", path=path)
    edit.remove_source("odd", path=path)
    assert path.read_text() == KIPOI_DOCUMENTED + "  mydir:\n    type: local\n    local_path: /d\n"


def test_invalid_yaml_is_not_edited(tmp_path):
    path = write(tmp_path, "model_sources:\n  a: [\n")
    with pytest.raises(ConfigError, match=r"config.yaml:3: not valid YAML"):
        edit.add_source("b", {"type": "local", "local_path": "/b"}, path=path)
    assert path.read_text() == "model_sources:\n  a: [\n"


def test_an_edit_keeps_the_file_mode_and_writes_through_a_symlink(tmp_path):
    real = write(tmp_path, KIPOI_DOCUMENTED, "real.yaml")
    os.chmod(real, 0o600)
    link = tmp_path / "config.yaml"
    link.symlink_to(real)
    edit.add_source("m", {"type": "local", "local_path": "/m"}, path=link)
    assert link.is_symlink()
    assert stat.S_IMODE(os.stat(real).st_mode) == 0o600
    assert "m" in load.load(link).sources


def test_a_failed_write_leaves_the_old_file_and_no_temporary(tmp_path, monkeypatch):
    path = write(tmp_path, KIPOI_DOCUMENTED)

    def broken_replace(src, dst):
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(os, "replace", broken_replace)
    with pytest.raises(OSError):
        edit.add_source("m", {"type": "local", "local_path": "/m"}, path=path)
    assert path.read_text() == KIPOI_DOCUMENTED
    assert sorted(p.name for p in tmp_path.iterdir()) == ["config.yaml", "config.yaml.lock"]


def test_block_scalars_keep_the_blank_lines_and_comments_after_them(tmp_path):
    head = "model_sources:\n  a:\n    type: git\n    remote_url: |\n      https://x/y.git\n"
    tail = "\n  # about b\n  b:\n    type: git\n    remote_url: >-\n      https://z\n\n# end\n"
    path = write(tmp_path, head + tail)
    edit.set_url("a", "https://n/a.git", path=path)
    head = "model_sources:\n  a:\n    type: git\n    remote_url: https://n/a.git\n"
    head += "    local_path: %s\n" % kipoi_path("a")
    tail = tail.replace("https://z\n", "https://z\n    local_path: %s\n" % kipoi_path("b"))
    assert path.read_text() == head + tail
    edit.remove_source("b", path=path)
    assert path.read_text() == head + "\n  # about b\n\n# end\n"


# -- a config kipoi 0.8.6 can read --------------------------------------------------------------

EARLIER = """\
model_sources:
  lab:
    type: git  # the lab's zoo
    remote_url: https://e.org/lab.git
    ref: 0123456   # the paper's commit
    refresh: 15m
    lfs_url: https://lfs.e.org/lab
  big:
    type: git-lfs
    remote_url: https://e.org/big.git
    local_path: /data/big/
    use_lfs: false
  gh: {type: github-permalink, base_url: https://ghe.e.org}
  mine:
    type: local
    local_path: /data/mine
    auto_update: false
other: 1
"""


def test_settings_earlier_versions_wrote_into_entries_are_read_and_warned_about_once(tmp_path):
    path = write(tmp_path, EARLIER)
    loaded = load.load(path)
    lab = loaded.source("lab")
    assert (lab.ref, lab.refresh, lab.lfs_url) == ("0123456", 900.0, "https://lfs.e.org/lab")
    assert loaded.source("big").use_lfs is False
    assert loaded.source("gh").base_url == "https://ghe.e.org"
    assert loaded.source("mine").auto_update is False
    assert loaded.warnings[0] == (
        "%s: kipoi 0.8.6 cannot load model_sources as written (line 2: lab has no local_path, "
        "line 5: lab.ref, line 6: lab.refresh, line 7: lab.lfs_url, line 12: big.use_lfs, "
        "line 13: gh has no local_path, line 13: gh.base_url, line 17: mine.auto_update); the "
        "next 'kipoi source' edit moves our settings to 'source_settings:' and writes local_path"
        % path)
    assert len([w for w in loaded.warnings if "kipoi 0.8.6" in w]) == 1


def test_the_next_edit_moves_them_out_and_kipoi_loads_the_file(tmp_path, kipoi_reader):
    path = write(tmp_path, EARLIER)
    before = load.load(path).sources
    if kipoi_reader is not None:
        with pytest.raises(AssertionError, match="unexpected keyword argument 'ref'"):
            kipoi_reader.sources(EARLIER)
    edit.add_source("new", {"type": "local", "local_path": "/n"}, path=path)
    assert path.read_text() == """\
model_sources:
  lab:
    type: git  # the lab's zoo
    remote_url: https://e.org/lab.git
    local_path: {lab}
  big:
    type: git-lfs
    remote_url: https://e.org/big.git
    local_path: /data/big/
  gh:
    type: github-permalink
    local_path: {gh}
  mine:
    type: local
    local_path: /data/mine
  new:
    type: local
    local_path: /n
other: 1
# kipoi_store's own settings per source (ref, refresh, lfs_url, base_url, ...); kipoi ignores \
this section
source_settings:
  lab:
    ref: '0123456'  # the paper's commit
    refresh: 15m
    lfs_url: https://lfs.e.org/lab
  big:
    use_lfs: false
  gh:
    base_url: https://ghe.e.org
  mine:
    auto_update: false
""".format(lab=kipoi_path("lab"), gh=kipoi_path("gh"))
    after = load.load(path)
    assert [w for w in after.warnings if "kipoi 0.8.6" in w] == []
    for name, source in before.items():  # the same settings, read from their new place
        moved = after.source(name)
        assert (moved.ref, moved.refresh, moved.lfs_url, moved.base_url, moved.use_lfs,
                moved.auto_update, moved.remote_url) == (
            source.ref, source.refresh, source.lfs_url, source.base_url, source.use_lfs,
            source.auto_update, source.remote_url)


def test_rename_and_remove_take_the_settings_along(tmp_path):
    path = write(tmp_path, EARLIER)
    edit.rename_source("lab", "zoo", path=path)
    assert load.load(path).source("zoo").ref == "0123456"
    assert "  zoo:\n    ref: '0123456'" in path.read_text()
    edit.remove_source("zoo", path=path)
    assert "zoo" not in path.read_text() and "0123456" not in path.read_text()
    edit.add_source("big", {"type": "git", "remote_url": "https://e.org/b.git"}, force=True,
                    path=path)
    assert load.load(path).source("big").use_lfs is None  # --force replaces the settings too
    assert "source_settings:\n  gh:" in path.read_text()


def test_settings_written_by_hand_win_and_settings_of_no_source_are_kept(tmp_path):
    path = write(tmp_path, "model_sources:\n  a:\n    type: git\n    remote_url: u\n    ref: old\n"
                           "source_settings:\n  a:\n    ref: new\n  gone:\n    ref: x\n")
    loaded = load.load(path)
    assert loaded.source("a").ref == "new"
    assert loaded.warnings[0] == ("%s:9: source_settings.gone: no such source in model_sources, "
                                  "kept but ignored" % path)
    edit.set_url("a", "https://e.org/a.git", path=path)
    assert path.read_text() == (
        "model_sources:\n  a:\n    type: git\n    remote_url: https://e.org/a.git\n"
        "    local_path: %s\nsource_settings:\n  a:\n    ref: new\n  gone:\n    ref: x\n"
        % kipoi_path("a"))


def test_kipoi_dies_on_our_keys_and_reads_what_an_edit_leaves(tmp_path, kipoi_reader):
    require_kipoi()
    for text, error in [("model_sources:\n  a:\n    type: git\n    remote_url: u\n",
                         "missing 1 required positional argument: 'local_path'"),
                        ("model_sources:\n  a:\n    type: git-lfs\n    remote_url: u\n",
                         "KeyError: 'local_path'"),
                        ("model_sources:\n  g:\n    type: github-permalink\n"
                         "    local_path: /g\n    base_url: https://x\n",
                         "unexpected keyword argument 'base_url'")]:
        with pytest.raises(AssertionError, match=error):
            kipoi_reader.sources(text)
        path = write(tmp_path, text)
        edit.add_source("m", {"type": "local", "local_path": "/m"}, path=path)
        assert [s[0] for s in kipoi_reader.sources(path.read_text())] == \
            list(load.load(path).sources)
