"""Loading and validating config.yaml: kipoi's own forms, our keys, and one-line errors."""

import re
import textwrap
from pathlib import Path

import pytest
import yaml
from hypothesis import given, settings, strategies as st

from kipoi_store.config import load
from kipoi_store.config import schema
from kipoi_store.errors import ConfigError, UnknownSourceError, UsageError

# kipoi's documented config, comments and all (docs/model_sources.md).
KIPOI_DOCUMENTED = """\
model_sources:
  kipoi: # source name
    type: git-lfs  # git repository with large file storage (lfs)
    remote_url: git@github.com:kipoi/models.git  # git remote
    local_path: /home/avsec/.kipoi/models/ # local storage path
    auto_update: False
    use_lfs: True

  # special model source storing models accessed via github permalinks
  github-permalink:
    type: github-permalink
    local_path: /home/avsec/.kipoi/github-permalink/
  my_local_models:
    type: local
    local_path: /data/mymodels/
  my_git_models:
    type: git
    remote_url: git@github.com:asd/other_models.git
    local_path: ~/.kipoi/other_models/
env_db_path: ~/.kipoi/envs.json
"""


def write(tmp_path, text):
    path = tmp_path / "config.yaml"
    path.write_text(text)
    return path


def test_a_missing_file_means_kipois_defaults_and_writes_nothing(tmp_path, monkeypatch):
    monkeypatch.setenv("HOME", str(tmp_path))
    path = tmp_path / "nothing" / "config.yaml"
    loaded = load.load(path)
    assert not loaded.exists and loaded.path == path
    assert list(loaded.sources) == ["kipoi", "github-permalink"]
    kipoi = loaded.source("kipoi")
    assert (kipoi.type, kipoi.remote_url) == ("git-lfs", "https://github.com/kipoi/models.git")
    assert kipoi.local_path == tmp_path / ".kipoi" / "models"
    assert loaded.source("github-permalink").base_url == "https://github.com"
    assert not path.parent.exists()


def test_the_location_follows_kipoi_config_then_kipoi_home(tmp_path, monkeypatch):
    monkeypatch.setenv("KIPOI_HOME", str(tmp_path / "home"))
    monkeypatch.delenv("KIPOI_CONFIG", raising=False)
    assert load.load().path == tmp_path / "home" / "config.yaml"
    monkeypatch.setenv("KIPOI_CONFIG", str(write(tmp_path, "model_sources: {}\n")))
    assert load.load().path == tmp_path / "config.yaml"
    assert load.load().exists


def test_reads_kipois_documented_config(tmp_path, monkeypatch):
    monkeypatch.setenv("HOME", str(tmp_path))
    loaded = load.load(write(tmp_path, KIPOI_DOCUMENTED))
    assert list(loaded.sources) == ["kipoi", "github-permalink", "my_local_models",
                                    "my_git_models"]
    kipoi = loaded.source("kipoi")
    assert kipoi.remote_url == "git@github.com:kipoi/models.git"
    assert kipoi.auto_update is False and kipoi.refresh is None  # never refresh unless asked
    assert kipoi.use_lfs is True
    assert loaded.source("my_local_models").local_path == Path("/data/mymodels")
    assert loaded.source("my_git_models").local_path == tmp_path / ".kipoi" / "other_models"
    assert loaded.env_db_path == tmp_path / ".kipoi" / "envs.json"
    # kipoi's GitLFSSource takes no use_lfs: kipoi 0.8.6 itself dies on this entry.
    assert loaded.warnings == [
        "%s: kipoi 0.8.6 cannot load model_sources as written (line 7: kipoi.use_lfs); the next "
        "'kipoi source' edit moves our settings to 'source_settings:'" % loaded.path]


def test_our_own_settings(tmp_path):
    loaded = load.load(write(tmp_path, textwrap.dedent("""\
        model_sources:
          pinned:
            type: git
            remote_url: https://example.org/models.git
            ref: 0123456
            refresh: 15m
            lfs_url: https://lfs.example.org/models
          gh:
            type: github-permalink
            base_url: https://github.example.org
          rel:
            type: local
            local_path: models/here
        url_rewrites:
          https://github.com/: https://mirror.example.org/
          git@example.org:: [https://a.example.org/, https://b.example.org/]
        """)))
    pinned = loaded.source("pinned")
    assert pinned.ref == "0123456"  # read as written, not as the number 123456
    assert pinned.refresh == 900.0
    assert pinned.lfs_url == "https://lfs.example.org/models"
    assert loaded.source("gh").base_url == "https://github.example.org"
    assert loaded.source("rel").local_path == tmp_path / "models" / "here"  # beside the config
    assert loaded.url_rewrites == [
        ("https://github.com/", ["https://mirror.example.org/"]),
        ("git@example.org:", ["https://a.example.org/", "https://b.example.org/"])]


@pytest.mark.parametrize("text", ["", "# only a comment\n", "env_db_path: /tmp/envs.json\n"])
def test_no_model_sources_key_means_the_defaults(tmp_path, text):
    assert list(load.load(write(tmp_path, text)).sources) == ["kipoi", "github-permalink"]


@pytest.mark.parametrize("text", ["model_sources:\n", "model_sources: {}\n",
                                  "model_sources: ~  # none\n"])
def test_empty_model_sources_means_only_the_built_in_permalink_source(tmp_path, text):
    # kipoi adds github-permalink to every config that lacks it; so do we.
    assert list(load.load(write(tmp_path, text)).sources) == ["github-permalink"]


def test_unknown_keys_are_kept_and_reported_with_their_line(tmp_path):
    path = write(tmp_path, "colour: blue\nmodel_sources:\n  a:\n    type: local\n"
                           "    local_path: /x\n    speed: fast\n")
    loaded = load.load(path)
    assert loaded.source("a").raw["speed"] == "fast"
    assert loaded.warnings == [
        "%s:6: model_sources.a.speed: unknown setting, kept but ignored" % path,
        "%s:1: colour: unknown top-level key, kept but ignored" % path]


BAD = [
    ("model_sources:\n  a: [\n", 3, "not valid YAML"),
    ("model_sources: [kipoi]\n", 1, "model_sources: must be a mapping"),
    ("- model_sources\n", 1, "(top level): must be a mapping"),
    ("model_sources:\n  a: 3\n", 2, "model_sources.a: must be a mapping of settings"),
    ("model_sources:\n  a:\n    type: gti\n", 3,
     "model_sources.a.type: unknown type 'gti' (valid types: git, git-lfs, github-permalink, local)"),
    ("model_sources:\n  a:\n    remote_url: x\n", 2, "model_sources.a.type: missing"),
    ("model_sources:\n  a:\n    type: git-lfs\n", 2, "model_sources.a.remote_url: missing"),
    ("model_sources:\n  a:\n    type: local\n", 2, "model_sources.a.local_path: missing"),
    ("model_sources:\n\n  dir:\n    type: local\n    local_path: /x\n", 3,
     "model_sources.dir: 'dir' is reserved"),
    ("model_sources:\n  'a:b':\n    type: local\n    local_path: /x\n", 2,
     "model_sources.a:b: 'a:b' cannot be used in a spec"),
    ("model_sources:\n  1:\n    type: local\n    local_path: /x\n", 2,
     "model_sources.1: a source name must be a string"),
    ("model_sources:\n  a:\n    type: git\n    remote_url: u\n    refresh: soon\n", 5,
     "model_sources.a.refresh: bad duration 'soon'"),
    ("model_sources:\n  a:\n    type: git\n    remote_url: u\n    auto_update: maybe\n", 5,
     "model_sources.a.auto_update: must be true or false"),
    ("model_sources:\n  a:\n    type: git\n    remote_url: u\n    ref: --upload-pack=x\n", 5,
     "model_sources.a.ref: must be a branch, tag or commit"),
    ("model_sources:\n  a:\n    type: git\n    remote_url: [u]\n", 4,
     "model_sources.a.remote_url: must be a string"),
    ("model_sources:\n  a: {type: local, local_path: /x}\n  a: {type: local, local_path: /y}\n",
     3, "model_sources.a: given twice (first on line 2)"),
    ("env_db_path: 3\n", 1, "env_db_path: must be a path"),
    ("url_rewrites: [a]\n", 1, "url_rewrites: must map a URL prefix"),
]


@pytest.mark.parametrize("text,line,message", BAD)
def test_a_bad_config_gets_one_line_naming_file_line_and_key(tmp_path, text, line, message):
    path = write(tmp_path, text)
    with pytest.raises(ConfigError) as info:
        load.load(path)
    text = str(info.value)
    assert "\n" not in text
    assert text.startswith("%s:%d: " % (path, line))
    assert message in text
    assert info.value.exit_code == 2


def test_text_that_is_not_utf8_is_a_config_error(tmp_path):
    path = tmp_path / "config.yaml"
    path.write_bytes(b"model_sources: \xff\n")
    with pytest.raises(ConfigError, match="not UTF-8"):
        load.load(path)


def test_an_unknown_source_names_the_configured_ones(tmp_path):
    loaded = load.load(write(tmp_path, "model_sources:\n  a: {type: local, local_path: /x}\n"))
    with pytest.raises(UnknownSourceError, match=r"unknown source 'b' \(configured: a, "
                                                 r"github-permalink; config .*config.yaml\)"):
        loaded.source("b")


@pytest.mark.parametrize("text,seconds", [(90, 90.0), ("90", 90.0), ("30s", 30.0), ("15m", 900.0),
                                          ("1h", 3600.0), ("2d", 172800.0), ("1.5h", 5400.0),
                                          (0, 0.0)])
def test_parse_duration(text, seconds):
    assert schema.parse_duration(text) == seconds


@pytest.mark.parametrize("text", ["", "h", "1w", "-5", "1 h h", True, float("nan"), -1, "1e3"])
def test_parse_duration_rejects(text):
    with pytest.raises(UsageError):
        schema.parse_duration(text)


@given(st.integers(min_value=0, max_value=10 ** 8))
def test_format_duration_round_trips(seconds):
    assert schema.parse_duration(schema.format_duration(seconds)) == seconds


# -- round trip: what we write, we read back as written -----------------------------------------

NAMES = st.from_regex(r"[A-Za-z0-9][A-Za-z0-9_.+-]{0,10}", fullmatch=True).filter(
    lambda n: n != "dir")
URLS = st.from_regex(r"(https://[a-z]{1,8}\.org/[a-z0-9_/]{1,12}\.git|git@[a-z]{1,6}:[a-z/]{1,9})",
                     fullmatch=True)
TEXT = st.text(st.characters(blacklist_categories=("Cs", "Cc")), min_size=1, max_size=20).filter(
    lambda s: s.strip() and s == s.strip())
ENTRIES = st.one_of(
    st.fixed_dictionaries({"type": st.sampled_from(["git", "git-lfs"]), "remote_url": URLS},
                          optional={"ref": TEXT.filter(lambda r: not r.startswith("-")),
                                    "local_path": st.just("/data/x"),
                                    "auto_update": st.booleans(), "use_lfs": st.booleans(),
                                    "lfs_url": URLS, "refresh": st.sampled_from(["1h", 30, "2d"])}),
    st.fixed_dictionaries({"type": st.just("local"), "local_path": TEXT.map(lambda t: "/" + t)}),
    st.fixed_dictionaries({"type": st.just("github-permalink")}, optional={"base_url": URLS}),
)


@settings(max_examples=60, deadline=None)
@given(st.dictionaries(NAMES, ENTRIES, min_size=1, max_size=5))
def test_dump_then_load_round_trips(tmp_path_factory, sources):
    path = tmp_path_factory.mktemp("rt") / "config.yaml"
    path.write_text(yaml.safe_dump({"model_sources": sources}, sort_keys=False))
    loaded = load.load(path)
    assert [n for n in loaded.sources if n in sources] == list(sources)
    for name, entry in sources.items():
        source = loaded.source(name)
        assert source.raw == entry
        assert (source.type, source.remote_url, source.ref, source.lfs_url) == (
            entry["type"], entry.get("remote_url"), entry.get("ref"), entry.get("lfs_url"))
        if "local_path" in entry:
            assert source.local_path == Path(entry["local_path"])


def test_error_lines_match_the_reported_line(tmp_path):
    # The reported line holds the key the message names.
    text = KIPOI_DOCUMENTED.replace("type: local", "type: lokal")
    path = write(tmp_path, text)
    with pytest.raises(ConfigError) as info:
        load.load(path)
    line = int(re.match(r".*?:(\d+):", str(info.value)).group(1))
    assert "type: lokal" in text.splitlines()[line - 1]


def test_url_rewrites_must_map_strings_to_urls(tmp_path):
    path = write(tmp_path, "url_rewrites:\n  https://a/: https://b/\n  1: [x]\n")
    with pytest.raises(ConfigError, match=r"config.yaml:3: url_rewrites.1: must map a URL prefix"):
        load.load(path)
