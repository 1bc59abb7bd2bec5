"""Where LFS objects come from: endpoint discovery as git-lfs does it, and `.lfsconfig` parsing."""

import subprocess

import pytest
from hypothesis import given, settings, strategies as st

from kipoi_store.errors import ConfigError
from kipoi_store.lfs.endpoint import Endpoint, SshTarget, discover_endpoint, parse_git_config
from kipoi_store.net.urls import redact


@pytest.mark.parametrize("remote, lfs", [
    ("https://git.example.org/lab/models", "https://git.example.org/lab/models.git/info/lfs"),
    ("https://git.example.org/lab/models.git", "https://git.example.org/lab/models.git/info/lfs"),
    ("https://git.example.org/lab/models.git/", "https://git.example.org/lab/models.git/info/lfs"),
    ("https://git.example.org/lab/models/", "https://git.example.org/lab/models.git/info/lfs"),
    ("http://127.0.0.1:8080/models", "http://127.0.0.1:8080/models.git/info/lfs"),
    ("https://user@host/x.git", "https://user@host/x.git/info/lfs"),
    ("git://host/org/repo.git", "https://host/org/repo.git/info/lfs"),
])
def test_http_remotes_get_info_lfs(remote, lfs):
    assert discover_endpoint(remote) == Endpoint("http", url=lfs)


@pytest.mark.parametrize("remote, target, fallback", [
    ("git@github.com:kipoi/models.git", SshTarget("github.com", "kipoi/models.git", "git"),
     "https://github.com/kipoi/models.git/info/lfs"),
    ("github.com:kipoi/models", SshTarget("github.com", "kipoi/models"),
     "https://github.com/kipoi/models.git/info/lfs"),
    ("ssh://git@host:2222/org/repo.git", SshTarget("host", "/org/repo.git", "git", 2222),
     "https://host/org/repo.git/info/lfs"),
    ("ssh://host/srv/repo", SshTarget("host", "/srv/repo"), "https://host/srv/repo.git/info/lfs"),
    ("git@host:/abs/repo.git", SshTarget("host", "/abs/repo.git", "git"),
     "https://host/abs/repo.git/info/lfs"),
])
def test_ssh_remotes_authenticate_with_an_https_fallback(remote, target, fallback):
    assert discover_endpoint(remote) == Endpoint("ssh", url=fallback, ssh=target)


def test_local_remotes_read_lfs_objects_directly(tmp_path):
    bare = tmp_path / "bare.git"
    bare.mkdir()
    work = tmp_path / "work"
    (work / ".git").mkdir(parents=True)
    assert discover_endpoint(str(bare)) == Endpoint("local", objects_dir=bare / "lfs" / "objects")
    assert discover_endpoint("file://%s" % bare).objects_dir == bare / "lfs" / "objects"
    assert discover_endpoint(str(work)).objects_dir == work / ".git" / "lfs" / "objects"
    assert discover_endpoint("./rel/path:with/colon").kind == "local"


def test_configured_urls_win_in_order():
    lfsconfig = b'[lfs]\n\turl = "https://lfs.example.org/from-lfsconfig"\n'
    remote = "https://git.example.org/lab/models.git"
    assert discover_endpoint(remote, lfs_url="https://mirror/lfs/", lfsconfig=lfsconfig) == \
        Endpoint("http", url="https://mirror/lfs")
    assert discover_endpoint(remote, lfsconfig=lfsconfig).url == \
        "https://lfs.example.org/from-lfsconfig"
    assert discover_endpoint(remote, lfsconfig=b"[core]\n\tbare = true\n").url == \
        remote + "/info/lfs"
    origin_only = b'[remote "origin"]\n\tlfsurl = https://per-remote/lfs\n'
    assert discover_endpoint(remote, lfsconfig=origin_only).url == "https://per-remote/lfs"


def test_a_configured_url_is_used_as_is():
    # git-lfs appends nothing to lfs.url.
    assert discover_endpoint("x", lfs_url="https://h/lfs/repo").url == "https://h/lfs/repo"


def test_unusable_urls_are_config_errors():
    with pytest.raises(ConfigError, match="ftp"):
        discover_endpoint("https://h/r.git", lfs_url="ftp://h/lfs")
    with pytest.raises(ConfigError, match=r"\*\*\*") as e:
        discover_endpoint("https://h/r.git", lfs_url="gopher://u:secret@h/lfs")
    assert "secret" not in str(e.value)


def test_redact_hides_passwords_only():
    assert redact("https://u:pw@h/x") == "https://u:***@h/x"
    assert redact("https://u@h/x") == "https://u@h/x"


def test_git_config_syntax():
    text = b"""# a comment
; another
[core]
    bare = false
[lfs]
    url = https://a/b ; trailing comment
    concurrenttransfers = 3
    flag
[lfs "https://scoped/"]
    access = basic
[LFS]
    URL = "https://quoted/ \\"x\\" # not a comment"
[remote "Origin"]
    lfsurl = continued\\
line
[lfs.old]
    key=v
"""
    values = parse_git_config(text)
    assert values["lfs.url"] == 'https://quoted/ "x" # not a comment'
    assert values["lfs.concurrenttransfers"] == "3"
    assert values["lfs.flag"] == "true"
    assert values["lfs.https://scoped/.access"] == "basic"
    assert values["remote.Origin.lfsurl"] == "continuedline"
    assert values["lfs.old.key"] == "v"
    assert values["core.bare"] == "false"


def _git_config_get(path, key):
    out = subprocess.run(["git", "config", "--file", str(path), "--get", key],
                         capture_output=True, text=True)
    return out.stdout[:-1] if out.returncode == 0 else None


value_chars = st.lists(st.sampled_from(list('abc /:."#;\\') + ["\\\\", '\\"', "\\n", "\\t"]),
                       max_size=12).map("".join)


@settings(max_examples=40, deadline=None)
@given(value_chars, st.sampled_from(["", " ", "\t"]), st.sampled_from(["", "  # c", " ;c"]))
def test_values_read_as_git_reads_them(tmp_path_factory, raw, indent, comment):
    path = tmp_path_factory.mktemp("cfg") / "lfsconfig"
    data = "[lfs]\n%surl = %s%s\n" % (indent, raw, comment)
    path.write_text(data)
    assert parse_git_config(data.encode()).get("lfs.url") == _git_config_get(path, "lfs.url")
