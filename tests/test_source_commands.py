"""`kipoi source add/remove/rename/set-url/list/show` run as a user runs them.

Every config these commands write is also read by kipoi 0.8.6 (tests/kipoi_client.py), which must
build the same sources from it.
"""

import json
import subprocess
from pathlib import Path

import pytest

from .conftest import BIN
from .conftest import run_kipoi as run_program
from .kipoi_client import Recorder

EDITS = ("kipoi-source-add", "kipoi-source-remove", "kipoi-source-rename", "kipoi-source-set-url")
written = []  # the running test's Recorder


@pytest.fixture(autouse=True)
def kipoi_reads_every_config(kipoi_reader):
    written.append(Recorder(kipoi_reader))
    yield
    written.pop().check()


def config_file(env):
    return Path(env.get("KIPOI_CONFIG") or Path(env["KIPOI_HOME"]) / "config.yaml")


def run_kipoi(*args, env, **kwargs):
    """Run a command; after an edit, have kipoi 0.8.6 read the config it left."""
    out = run_program(*args, env=env, **kwargs)
    if args[0] in EDITS and out.returncode == 0:
        written[-1].record(config_file(env))
    return out


def kipoi_path(env, name):
    return "%s/.kipoi/sources/%s" % (env["HOME"], name)


def names(env):
    out = run_kipoi("kipoi-source-list", env=env)
    assert out.returncode == 0, out.stderr
    return [line.split("\t")[0] for line in out.stdout.splitlines()]


def test_list_without_a_config_shows_kipois_defaults_and_writes_nothing(kipoi_env):
    out = run_kipoi("kipoi-source-list", env=kipoi_env)
    assert (out.returncode, out.stdout, out.stderr) == (
        0, "github-permalink\tgithub-permalink\nkipoi\tgit-lfs\n", "")
    verbose = run_kipoi("kipoi-source-list", "-v", env=kipoi_env).stdout.splitlines()
    home = kipoi_env["HOME"]
    assert verbose[1] == "kipoi\tgit-lfs\thttps://github.com/kipoi/models.git\t%s/.kipoi/models" % home
    assert not config_file(kipoi_env).exists()


def test_add_a_local_folder_by_relative_path(kipoi_env, tmp_path):
    (tmp_path / "models" / "m1").mkdir(parents=True)
    out = run_kipoi("kipoi-source-add", "mine", "models", env=kipoi_env, cwd=tmp_path)
    assert (out.returncode, out.stdout) == (0, "")
    assert "added source 'mine'" in out.stderr
    show = run_kipoi("kipoi-source-show", "mine", "--json", env=kipoi_env)
    fields = json.loads(show.stdout)
    assert (fields["type"], fields["local_path"]) == ("local", str(tmp_path / "models"))
    assert fields["config"] == str(config_file(kipoi_env)) and fields["config_exists"]
    # the first edit also wrote kipoi's defaults
    assert names(kipoi_env) == ["github-permalink", "kipoi", "mine"]


def test_add_guesses_git_for_urls_and_repositories(kipoi_env, tmp_path):
    repo, work_tree = tmp_path / "repo.git", tmp_path / "checkout"
    subprocess.run(["git", "init", "-q", "--bare", str(repo)], check=True)
    subprocess.run(["git", "init", "-q", str(work_tree)], check=True)
    cases = [("r", str(repo), [], "git", str(repo)),
             ("wt", str(work_tree), ["--type", "git"], "git", str(work_tree)),
             ("https", "https://example.org/m.git", [], "git", "https://example.org/m.git"),
             ("scp", "git@github.com:kipoi/models.git", ["--type", "git-lfs", "--ref", "v1"],
              "git-lfs", "git@github.com:kipoi/models.git"),
             ("file", "file:///srv/m.git", ["--lfs-url", "http://127.0.0.1:1/lfs"], "git",
              "file:///srv/m.git")]
    for name, where, extra, kind, url in cases:
        out = run_kipoi("kipoi-source-add", name, where, *extra, env=kipoi_env)
        assert out.returncode == 0, out.stderr
        fields = json.loads(run_kipoi("kipoi-source-show", name, "--json", env=kipoi_env).stdout)
        # local_path: where kipoi itself would clone it (it needs one to load the config)
        assert (fields["type"], fields["remote_url"], fields["local_path"]) == (
            kind, url, kipoi_path(kipoi_env, name))
    out = run_kipoi("kipoi-source-add", "card", "git-lfs", "https://e.org/m.git", env=kipoi_env)
    assert out.returncode == 0, out.stderr  # NAME TYPE URL, the design card's form
    fields = json.loads(run_kipoi("kipoi-source-show", "card", "--json", env=kipoi_env).stdout)
    assert (fields["type"], fields["remote_url"]) == ("git-lfs", "https://e.org/m.git")
    scp = json.loads(run_kipoi("kipoi-source-show", "scp", "--json", env=kipoi_env).stdout)
    assert scp["ref"] == "v1"


@pytest.mark.parametrize("args,message", [
    (["x", "no/such/place"], "neither an existing folder nor a git URL"),
    (["dir", "https://e.org/m.git"], "'dir' is reserved"),
    (["a:b", "https://e.org/m.git"], "cannot be used in a spec"),
    (["x", "https://e.org/m.git", "--type", "local"], "a local source needs a folder"),
    (["x", "https://e.org/m.git", "--ref=--upload-pack=evil"], "bad --ref"),
    (["x", "https://e.org/m.git", "--type", "svn"], "invalid choice"),
    (["x"], "the following arguments are required"),
    (["x", "svn", "https://e.org/m.git"], "expected NAME [TYPE] URL_OR_PATH"),
])
def test_add_refuses_bad_input_with_exit_2(kipoi_env, args, message):
    out = run_kipoi("kipoi-source-add", *args, env=kipoi_env)
    assert out.returncode == 2 and out.stdout == ""
    assert message in out.stderr and "Traceback" not in out.stderr
    assert not config_file(kipoi_env).exists()


def test_add_refuses_an_existing_name_unless_forced(kipoi_env, tmp_path):
    out = run_kipoi("kipoi-source-add", "kipoi", str(tmp_path), env=kipoi_env)
    assert out.returncode == 2 and "already exists" in out.stderr
    out = run_kipoi("kipoi-source-add", "kipoi", str(tmp_path), "--force", env=kipoi_env)
    assert out.returncode == 0, out.stderr
    assert run_kipoi("kipoi-source-list", env=kipoi_env).stdout.endswith("kipoi\tlocal\n")


def test_remove_rename_set_url(kipoi_env, tmp_path):
    assert run_kipoi("kipoi-source-rename", "kipoi", "zoo", env=kipoi_env).returncode == 0
    assert run_kipoi("kipoi-source-set-url", "zoo", "https://mirror.org/models.git",
                     env=kipoi_env).returncode == 0
    assert run_kipoi("kipoi-source-remove", "github-permalink", env=kipoi_env).returncode == 0
    assert run_kipoi("kipoi-source-list", "-v", env=kipoi_env).stdout.splitlines() == [
        "github-permalink\tgithub-permalink\thttps://github.com\t%s/.kipoi/github-permalink"
        % kipoi_env["HOME"],  # built in, as in kipoi, even when the file lacks it
        "zoo\tgit-lfs\thttps://mirror.org/models.git\t%s/.kipoi/models" % kipoi_env["HOME"]]
    text = config_file(kipoi_env).read_text()
    assert "  zoo:\n    type: git-lfs\n    remote_url: https://mirror.org/models.git\n" in text


def test_set_url_of_a_local_source_stores_an_absolute_folder(kipoi_env, tmp_path):
    (tmp_path / "a").mkdir()
    (tmp_path / "b").mkdir()
    run_kipoi("kipoi-source-add", "m", "a", env=kipoi_env, cwd=tmp_path)
    out = run_kipoi("kipoi-source-set-url", "m", "b", env=kipoi_env, cwd=tmp_path)
    assert out.returncode == 0, out.stderr
    fields = json.loads(run_kipoi("kipoi-source-show", "m", "--json", env=kipoi_env).stdout)
    assert fields["local_path"] == str(tmp_path / "b")


@pytest.mark.parametrize("args", [["kipoi-source-remove", "nope"],
                                  ["kipoi-source-rename", "nope", "other"],
                                  ["kipoi-source-set-url", "nope", "https://e.org/x.git"],
                                  ["kipoi-source-show", "nope"]])
def test_an_unknown_name_exits_2_listing_the_configured_ones(kipoi_env, args):
    out = run_kipoi(*args, env=kipoi_env)
    assert out.returncode == 2 and out.stdout == ""
    assert "unknown source 'nope'" in out.stderr
    assert "kipoi" in out.stderr and "github-permalink" in out.stderr
    assert len(out.stderr.splitlines()) == 1


def test_show_prints_every_setting(kipoi_env):
    out = run_kipoi("kipoi-source-show", "kipoi", env=kipoi_env)
    home = kipoi_env["HOME"]
    assert out.stdout.splitlines() == [
        "name: kipoi", "type: git-lfs", "remote_url: https://github.com/kipoi/models.git",
        "local_path: %s/.kipoi/models" % home, "ref: -", "refresh: 1h", "auto_update: true",
        "use_lfs: -", "lfs_url: -", "base_url: -",
        "config: %s/.kipoi/config.yaml (not written yet: kipoi's defaults)" % home]


def test_a_bad_config_is_one_line_and_exit_2(kipoi_env):
    path = config_file(kipoi_env)
    path.parent.mkdir()
    path.write_text("model_sources:\n  mine:\n    type: svn\n")
    for args in (["kipoi-source-list"], ["kipoi-source-show", "mine"]):
        out = run_kipoi(*args, env=kipoi_env)
        assert out.returncode == 2 and out.stdout == ""
        assert out.stderr == ("kipoi: error: %s:3: model_sources.mine.type: unknown type 'svn' "
                              "(valid types: git, git-lfs, github-permalink, local)\n" % path)


def test_unknown_keys_are_warned_about_on_stderr_only(kipoi_env):
    path = config_file(kipoi_env)
    path.parent.mkdir()
    path.write_text("model_sources:\n  m:\n    type: local\n    local_path: /m\n    colour: red\n")
    out = run_kipoi("kipoi-source-list", "--json", env=kipoi_env)
    assert out.returncode == 0
    assert [json.loads(line)["name"] for line in out.stdout.splitlines()] == ["github-permalink", "m"]
    assert out.stderr == ("kipoi: warning: %s:5: model_sources.m.colour: unknown setting, kept "
                          "but ignored\n" % path)


def test_kipoi_config_points_elsewhere(kipoi_env, tmp_path):
    env = dict(kipoi_env, KIPOI_CONFIG=str(tmp_path / "elsewhere.yaml"))
    assert run_kipoi("kipoi-source-add", "m", str(tmp_path), env=env).returncode == 0
    assert (tmp_path / "elsewhere.yaml").exists() and not config_file(kipoi_env).exists()


def test_concurrent_adds_all_land(kipoi_env, tmp_path):
    count = 8
    procs = [subprocess.Popen([str(BIN / "kipoi-source-add"), "s%d" % i,
                               "https://example.org/s%d.git" % i, "--ref", "v%d" % i],
                              env=kipoi_env, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                              text=True)
             for i in range(count)]
    results = [p.communicate(timeout=120) + (p.returncode,) for p in procs]
    assert all(code == 0 for _, _, code in results), results
    written[-1].record(config_file(kipoi_env))
    assert sorted(names(kipoi_env)) == sorted(
        ["kipoi", "github-permalink"] + ["s%d" % i for i in range(count)])


# -- one check of locations for add and set-url ------------------------------------------------

def test_a_work_tree_is_added_as_local_so_uncommitted_models_are_seen(kipoi_env, tmp_path):
    checkout = tmp_path / "checkout"
    subprocess.run(["git", "init", "-q", str(checkout)], check=True)
    (checkout / "NewModel").mkdir()
    (checkout / "NewModel" / "model.yaml").write_text("type: keras\n")  # not committed
    out = run_kipoi("kipoi-source-add", "wt", str(checkout), env=kipoi_env)
    assert out.returncode == 0, out.stderr
    assert out.stderr.splitlines()[1] == (
        "kipoi: '%s' is a git work tree: added as a local source, so uncommitted edits and new "
        "models are visible; to follow its commits instead: kipoi source add wt %s --type git "
        "--force" % (checkout, checkout))
    models = run_kipoi("kipoi-source-models", "wt", env=kipoi_env)
    assert (models.returncode, models.stdout) == (0, "NewModel\n")
    fields = json.loads(run_kipoi("kipoi-source-show", "wt", "--json", env=kipoi_env).stdout)
    assert (fields["type"], fields["local_path"]) == ("local", str(checkout))


@pytest.mark.parametrize("kind,url,message", [
    ("git", "https://e.org/a\nb.git", "must not hold control characters"),
    ("local", "file:///x.git", "'file:///x.git' is a URL; a local source needs a folder"),
    ("git", "no/such/place", "neither an existing folder nor a git URL"),
    ("github-permalink", "/srv/gh", "a github-permalink source takes a base URL"),
    ("git", "htps://e.org/x.git", "git cannot fetch htps:// URLs (no remote helper git-remote-htps); "
                                  "did you mean https://?"),
    ("git", "https:///x.git", "bad git URL 'https:///x.git': no host after https://"),
    ("git", "https://e.org/my models.git", "a URL cannot hold spaces"),
    ("git", "file://", "bad git URL 'file://': no path after file://"),
])
def test_add_and_set_url_refuse_the_same_locations(kipoi_env, kind, url, message):
    existing = {"git": "https://e.org/ok.git", "local": "/", "github-permalink": "https://x.org"}
    assert run_kipoi("kipoi-source-add", "s", existing[kind], "--type", kind,
                     env=kipoi_env).returncode == 0
    before = config_file(kipoi_env).read_text()
    for args in (["kipoi-source-add", "t", url, "--type", kind], ["kipoi-source-set-url", "s", url]):
        out = run_kipoi(*args, env=kipoi_env, cwd="/tmp")
        assert (out.returncode, out.stdout) == (2, ""), args
        assert message in out.stderr and len(out.stderr.splitlines()) == 1, out.stderr
    assert config_file(kipoi_env).read_text() == before


def test_add_and_set_url_warn_alike_about_a_missing_folder(kipoi_env, tmp_path):
    missing = tmp_path / "not-yet"
    add = run_kipoi("kipoi-source-add", "m", str(missing), "--type", "local", env=kipoi_env)
    set_url = run_kipoi("kipoi-source-set-url", "m", "not-yet", env=kipoi_env, cwd=tmp_path)
    for out in (add, set_url):
        assert out.returncode == 0
        assert out.stderr.splitlines()[0] == \
            "kipoi: warning: folder '%s' does not exist (yet)" % missing
    assert "    local_path: %s\n" % missing in config_file(kipoi_env).read_text()


def test_add_and_set_url_warn_alike_about_a_missing_file_url_repository(kipoi_env, tmp_path):
    missing = tmp_path / "later.git"
    add = run_kipoi("kipoi-source-add", "g", missing.as_uri(), env=kipoi_env)
    set_url = run_kipoi("kipoi-source-set-url", "g", missing.as_uri(), env=kipoi_env)
    for out in (add, set_url):
        assert out.returncode == 0, out.stderr
        assert out.stderr.splitlines()[0] == "kipoi: warning: repository '%s' does not exist (yet)" % missing
    subprocess.run(["git", "init", "-q", "--bare", str(missing)], check=True)
    again = run_kipoi("kipoi-source-set-url", "g", missing.as_uri(), env=kipoi_env)
    assert again.returncode == 0 and "warning" not in again.stderr


def test_set_url_of_a_git_source_takes_a_repository_folder_made_absolute(kipoi_env, tmp_path):
    subprocess.run(["git", "init", "-q", "--bare", str(tmp_path / "r.git")], check=True)
    run_kipoi("kipoi-source-add", "g", "https://e.org/g.git", env=kipoi_env)
    out = run_kipoi("kipoi-source-set-url", "g", "r.git", env=kipoi_env, cwd=tmp_path)
    assert out.returncode == 0, out.stderr
    fields = json.loads(run_kipoi("kipoi-source-show", "g", "--json", env=kipoi_env).stdout)
    assert fields["remote_url"] == str(tmp_path / "r.git")
    out = run_kipoi("kipoi-source-set-url", "g", str(tmp_path), env=kipoi_env)
    assert out.returncode == 2 and "is not a git repository" in out.stderr


# -- our settings live outside model_sources --------------------------------------------------

def test_our_settings_go_to_source_settings_and_show_merges_them(kipoi_env):
    out = run_kipoi("kipoi-source-add", "lab", "https://e.org/lab.git", "--ref", "v1",
                    "--lfs-url", "https://lfs.e.org/lab", env=kipoi_env)
    assert out.returncode == 0, out.stderr
    run_kipoi("kipoi-source-set-url", "github-permalink", "https://ghe.e.org", env=kipoi_env)
    text = config_file(kipoi_env).read_text()
    assert "  lab:\n    type: git\n    remote_url: https://e.org/lab.git\n    local_path: %s/\n" \
        % kipoi_path(kipoi_env, "lab") in text
    assert text.endswith("source_settings:\n  lab:\n    ref: v1\n    lfs_url: https://lfs.e.org/lab"
                         "\n  github-permalink:\n    base_url: https://ghe.e.org\n")
    show = run_kipoi("kipoi-source-show", "lab", env=kipoi_env).stdout.splitlines()
    assert show[:7] == ["name: lab", "type: git", "remote_url: https://e.org/lab.git",
                        "local_path: %s" % kipoi_path(kipoi_env, "lab"), "ref: v1",
                        "refresh: 1h", "auto_update: true"]
    assert "lfs_url: https://lfs.e.org/lab" in show
    listing = run_kipoi("kipoi-source-list", "-v", env=kipoi_env).stdout.splitlines()
    assert listing[0] == "github-permalink\tgithub-permalink\thttps://ghe.e.org\t%s/.kipoi/" \
        "github-permalink" % kipoi_env["HOME"]


def test_settings_an_earlier_version_wrote_into_entries_warn_once_then_move(kipoi_env):
    path = config_file(kipoi_env)
    path.parent.mkdir()
    path.write_text("model_sources:\n  lab:\n    type: git\n    remote_url: https://e.org/l.git\n"
                    "    ref: v1\n    refresh: 15m\n")
    out = run_kipoi("kipoi-source-show", "lab", env=kipoi_env)
    assert out.stderr == (
        "kipoi: warning: %s: kipoi 0.8.6 cannot load model_sources as written (line 2: lab has "
        "no local_path, line 5: lab.ref, line 6: lab.refresh); the next 'kipoi source' edit moves "
        "our settings to 'source_settings:' and writes local_path\n" % path)
    assert "ref: v1" in out.stdout.splitlines() and "refresh: 15m" in out.stdout.splitlines()
    out = run_kipoi("kipoi-source-rename", "lab", "zoo", env=kipoi_env)
    assert out.returncode == 0
    out = run_kipoi("kipoi-source-show", "zoo", env=kipoi_env)
    assert out.stderr == "" and "ref: v1" in out.stdout.splitlines()
