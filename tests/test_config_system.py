"""The system config (/etc/kipoi/config.yaml, KIPOI_SYSTEM_CONFIG) beneath the user's, and the
site stores both may name (site_stores:, KIPOI_SITE_STORES), as the real commands read them."""

import json

from .conftest import run_kipoi

SYSTEM = """\
model_sources:
  lab:
    type: git
    remote_url: https://git.example.org/admin/lab.git
  zoo:
    type: git-lfs
    remote_url: https://git.example.org/admin/zoo.git
url_rewrites:
  https://github.com/: https://mirror.example.org/github/
  https://git.example.org/: https://mirror.example.org/lab/
site_stores:
  - /shared/kipoi/store
  - /shared/kipoi/old-store
"""


def sources(env):
    r = run_kipoi("kipoi", "source", "list", "--json", env=env)
    assert r.returncode == 0, r.stderr
    return {s["name"]: s for s in map(json.loads, r.stdout.splitlines())}


def test_without_a_config_of_their_own_users_get_the_admins_sources_and_kipois(kipoi_env, tmp_path):
    system = tmp_path / "system.yaml"
    system.write_text(SYSTEM)
    env = dict(kipoi_env, KIPOI_SYSTEM_CONFIG=str(system))
    found = sources(env)
    assert sorted(found) == ["github-permalink", "kipoi", "lab", "zoo"]
    assert found["lab"]["remote_url"] == "https://git.example.org/admin/lab.git"


def test_the_users_entries_win_by_name_and_edits_go_to_the_users_file(kipoi_env, tmp_path):
    system = tmp_path / "system.yaml"
    system.write_text(SYSTEM)
    env = dict(kipoi_env, KIPOI_SYSTEM_CONFIG=str(system))
    r = run_kipoi("kipoi", "source", "add", "lab", "https://git.example.org/me/lab.git", env=env)
    assert r.returncode == 0, r.stderr
    found = sources(env)
    assert found["lab"]["remote_url"] == "https://git.example.org/me/lab.git"
    assert found["zoo"]["remote_url"] == "https://git.example.org/admin/zoo.git"
    assert system.read_text() == SYSTEM
    mine = (tmp_path / "home" / ".kipoi" / "config.yaml").read_text()
    assert "zoo" not in mine and "me/lab.git" in mine


def test_site_stores_come_from_the_environment_then_the_user_then_the_admin(kipoi_env, tmp_path):
    system = tmp_path / "system.yaml"
    system.write_text(SYSTEM)
    home = tmp_path / "home" / ".kipoi"
    home.mkdir()
    (home / "config.yaml").write_text("site_stores: [/lab/store, /shared/kipoi/store]\n"
                                      "url_rewrites:\n  https://github.com/: https://mine.example.org/\n")
    env = dict(kipoi_env, KIPOI_SYSTEM_CONFIG=str(system), KIPOI_SITE_STORES="/scratch/store::/lab/store")
    r = run_kipoi("kipoi", "store", "info", "--json", env=env)
    assert r.returncode == 0, r.stderr
    tiers = [json.loads(line) for line in r.stdout.splitlines()]
    assert [t["tier"] for t in tiers] == ["user"] + ["site"] * 4
    sites = [t["location"] for t in tiers[1:]]
    assert sites == ["/scratch/store", "/lab/store", "/shared/kipoi/store", "/shared/kipoi/old-store"]
    text = run_kipoi("kipoi", "store", "info", env=env).stdout
    assert text.count("site store (read only") == 4


def test_a_broken_system_config_is_named(kipoi_env, tmp_path):
    system = tmp_path / "system.yaml"
    system.write_text("site_stores: /not/a/list\n")
    r = run_kipoi("kipoi", "source", "resolve", "lab:x", env=dict(kipoi_env, KIPOI_SYSTEM_CONFIG=str(system)))
    assert r.returncode == 2
    assert r.stderr == "kipoi: error: %s:1: site_stores: must be a list of store directories, " \
                       "found '/not/a/list'\n" % system


def test_lock_settings_are_checked(kipoi_env, tmp_path):
    home = tmp_path / "home" / ".kipoi"
    home.mkdir()
    for text, message in (("locks: sometimes\n", "locks: must be true or false, found 'sometimes'"),
                          ("lock_timeout: soon\n", "lock_timeout: bad duration 'soon'")):
        (home / "config.yaml").write_text(text)
        r = run_kipoi("kipoi", "source", "resolve", "kipoi:x", env=kipoi_env)
        assert r.returncode == 2
        assert r.stderr.startswith("kipoi: error: %s:1: %s" % (home / "config.yaml", message))
