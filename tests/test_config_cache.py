"""The parsed config is remembered (config/cache.py) as plain marshal data: the same Config comes back,
a changed file is read again, and a cache that is damaged, foreign or cannot be kept costs a parse,
never a wrong config."""

import json
import os
import subprocess
import sys

import pytest

from kipoi_store.config import load as configmod
from kipoi_store.config.cache import FILE_NAME, OLD_FILE_NAME, from_plain, load_cached, to_plain

CONFIG = """\
model_sources:
  lab:
    type: git
    remote_url: https://git.example.org/lab/models.git
    local_path: clones/lab
  here:
    type: local
    local_path: ~/models
    color: blue
source_settings:
  lab:
    ref: v1.2
    refresh: 15m
env_db_path: envs.json
url_rewrites:
  https://git.example.org/: [https://mirror.example.org/, file:///srv/mirror/]
store_mirrors: [http://127.0.0.1:9/mirror]
site_stores: [/srv/kipoi/store, site2]
connect_timeout: 5s
read_timeout: 1m
locks: false
lock_timeout: 2m
unknown_top: 1
"""

SYSTEM = """\
model_sources:
  site:
    type: local
    local_path: /srv/site-models
site_stores: [/srv/site/store]
"""


@pytest.fixture
def configured(tmp_path, monkeypatch):
    """A config using every kind of value (paths, durations, rewrites, a system config beneath it)."""
    home = tmp_path / "home"
    monkeypatch.setenv("HOME", str(home))
    monkeypatch.setenv("KIPOI_HOME", str(home / ".kipoi"))
    monkeypatch.setenv("KIPOI_SYSTEM_CONFIG", str(tmp_path / "system.yaml"))
    (home / ".kipoi").mkdir(parents=True)
    (home / ".kipoi" / "config.yaml").write_text(CONFIG)
    (tmp_path / "system.yaml").write_text(SYSTEM)
    return home / ".kipoi" / "cache"


def test_plain_form_round_trips_every_field(configured):
    config = configmod.load()
    assert config.site_stores and config.env_db_path and config.system_path and config.warnings
    assert from_plain(to_plain(config)) == config


def test_the_second_load_comes_from_the_cache_and_equals_a_parse(configured):
    first = load_cached()
    assert (configured / FILE_NAME).is_file()
    assert load_cached() == first == configmod.load()
    # In a fresh process the cached load needs neither the parser nor pickle.
    code = ("import json, sys; from kipoi_store.config.cache import load_cached; c = load_cached(); "
            "print(json.dumps([sorted(c.sources), 'yaml' in sys.modules, "
            "'kipoi_store.config.load' in sys.modules, 'pickle' in sys.modules]))")
    out = subprocess.run([sys.executable, "-c", code], env=os.environ, capture_output=True, text=True,
                         check=True).stdout
    assert json.loads(out) == [sorted(first.sources), False, False, False]


def test_a_changed_config_is_read_again(configured):
    before = load_cached()
    path = before.path
    path.write_text(CONFIG.replace("ref: v1.2", "ref: v2.0"))
    os.utime(path, ns=(1, 1))  # a different stat even within the file system's time granularity
    after = load_cached()
    assert after.source("lab").ref == "v2.0" and before.source("lab").ref == "v1.2"


@pytest.mark.parametrize("damage", [b"", b"\x00garbage", b"\xe9" * 7])
def test_a_damaged_cache_means_a_parse(configured, damage):
    expected = load_cached()
    (configured / FILE_NAME).write_bytes(damage)
    assert load_cached() == expected


def test_a_cache_of_another_shape_means_a_parse(configured):
    import marshal

    expected = load_cached()
    data = marshal.loads((configured / FILE_NAME).read_bytes())
    fingerprint, fields = data
    del fields["sources"]
    (configured / FILE_NAME).write_bytes(marshal.dumps((fingerprint, fields)))
    assert load_cached() == expected


def test_a_value_marshal_cannot_hold_is_not_cached(configured):
    path = configured.parent / "config.yaml"
    path.write_text(CONFIG.replace("color: blue", "added: 2018-11-06"))  # YAML gives a datetime.date
    config = load_cached()
    assert str(config.source("here").raw["added"]) == "2018-11-06"
    assert not (configured / FILE_NAME).exists()
    assert load_cached() == config


def test_the_pickle_of_earlier_versions_is_removed_and_never_read(configured):
    configured.mkdir(mode=0o700)
    (configured / OLD_FILE_NAME).write_bytes(b"not read")
    load_cached()
    assert not (configured / OLD_FILE_NAME).exists()
    assert (configured / FILE_NAME).is_file()
