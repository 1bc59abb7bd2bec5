"""GitTree: a commit read as a Tree, checked against the same files on disk; CatFile streaming."""

import hashlib
import os
import subprocess

import pytest

from gitserver import build_kipoi_repo, git
from kipoi_store.git import cli as gitcli
from kipoi_store.errors import OfflineError, UnsafePathError
from kipoi_store.git.catfile import CatFile
from kipoi_store.git.cli import GitError
from kipoi_store.git.remote import GitRemote
from kipoi_store.git.tree import GitTree, parse_ls_tree
from kipoi_store.tree import LocalTree

HOUR = 3600.0


@pytest.fixture
def head_tree(tmp_path, git_home, kipoi_repo):
    remote = GitRemote(tmp_path / "store", kipoi_repo.http_url)
    return GitTree(remote, remote.resolve_ref(None, HOUR))


def test_parse_ls_tree():
    data = (b"040000 tree " + b"1" * 40 + b"\tdir\0"
            b"100644 blob " + b"2" * 40 + b"\tdir/a file\0"
            b"100755 blob " + b"3" * 40 + b"\tdir/run.sh\0"
            b"120000 blob " + b"4" * 40 + b"\tlink\0"
            b"160000 commit " + b"5" * 40 + b"\tsubmodule\0"
            b"100664 blob " + b"6" * 40 + b"\told\0"
            b"100644 blob " + b"7" * 40 + b"\tcaf\xe9\0")
    assert parse_ls_tree(data) == {
        "dir": ("040000", "1" * 40),
        "dir/a file": ("100644", "2" * 40),
        "dir/run.sh": ("100755", "3" * 40),
        "link": ("120000", "4" * 40),
        "old": ("100644", "6" * 40),
        "caf\udce9": ("100644", "7" * 40),
    }


def test_a_commit_reads_exactly_like_its_checkout(head_tree, kipoi_repo):
    # The fixture's work tree is checked out at the head commit: both views must agree entirely.
    local = LocalTree(kipoi_repo.work)
    assert list(head_tree.walk()) == list(local.walk())
    head_tree.prefetch([path for path, kind in head_tree.walk()])
    for path, kind in local.walk():
        assert head_tree.kind(path) == kind
        if kind == "dir":
            assert head_tree.listdir(path) == local.listdir(path)
        elif kind == "file":
            assert head_tree.read(path) == local.read(path)
        else:
            assert head_tree.readlink(path) == local.readlink(path)
    assert head_tree.listdir("") == local.listdir("")
    assert list(head_tree.walk("rbp_eclip")) == list(local.walk("rbp_eclip"))


def test_tree_interface_errors(head_tree):
    assert head_tree.kind("") == "dir"
    assert head_tree.kind("nope") is None
    assert head_tree.kind("rbp_eclip/dataloader.py/x") is None  # through a link: not in the tree
    with pytest.raises(FileNotFoundError):
        head_tree.listdir("nope")
    with pytest.raises(NotADirectoryError):
        head_tree.listdir("README.md")
    with pytest.raises(FileNotFoundError):
        head_tree.read("rbp_eclip/dataloader.py")  # a link is not followed
    with pytest.raises(FileNotFoundError):
        head_tree.read("rbp_eclip")
    with pytest.raises(FileNotFoundError):
        head_tree.readlink("README.md")
    with pytest.raises(NotADirectoryError):
        list(head_tree.walk("README.md"))
    for bad in ("../x", "/etc", "a//b", "a/./b"):
        with pytest.raises(UnsafePathError):
            head_tree.kind(bad)


def test_modes_and_object_ids(head_tree, kipoi_repo):
    assert head_tree.mode("Basset/run.sh") == "100755"
    assert head_tree.mode("Basset/model.py") == "100644"
    assert head_tree.mode("rbp_eclip/dataloader.py") == "120000"
    assert head_tree.mode("rbp_eclip") == head_tree.mode("") == "040000"
    assert head_tree.mode("nope") is None and head_tree.oid("nope") is None
    assert head_tree.oid("CpGenie/models.tsv") == git(kipoi_repo.bare, "rev-parse",
                                                      "%s:CpGenie/models.tsv" % kipoi_repo.head)


def test_each_commit_is_its_own_tree(tmp_path, git_home, kipoi_repo):
    remote = GitRemote(tmp_path / "store", kipoi_repo.file_url)
    old = GitTree(remote, remote.resolve_ref("v0.1", HOUR))
    new = GitTree(remote, remote.resolve_ref("main", HOUR))
    assert old.kind("rbp_eclip/UPF1") == "dir" and new.kind("rbp_eclip/UPF1") is None
    assert old.kind("rbp_eclip/XRCC6") is None and new.kind("rbp_eclip/XRCC6") == "dir"
    assert old.read("rbp_eclip/UPF1/model.weights") == b"UPF1 weights v1\n"
    assert old.mode("Basset/run.sh") is None


def test_the_listing_is_cached_on_disk_per_commit(tmp_path, git_home, kipoi_repo, monkeypatch):
    remote = GitRemote(tmp_path / "store", kipoi_repo.file_url)
    commit = remote.resolve_ref("v0.2", HOUR)
    first = list(GitTree(remote, commit).walk())
    assert (remote.git_dir / "kipoi-trees" / commit).is_file()

    def no_git(*args, **kwargs):
        raise AssertionError("git was run for a listing that is cached")

    monkeypatch.setattr(gitcli, "run", no_git)
    assert list(GitTree(remote, commit).walk()) == first


def test_cat_file_streams_large_blobs_in_chunks(tmp_path, git_home):
    big = bytes(range(256)) * (3 * 4096 + 7)  # ~3 MiB
    repo = build_kipoi_repo(tmp_path / "big.git",
                            history=[("big", {"big.bin": big, "small.txt": "small\n"})])
    remote = GitRemote(tmp_path / "store", str(repo.bare))
    tree = GitTree(remote, remote.resolve_ref(None, HOUR))
    assert tree.prefetch(["big.bin", "small.txt"]) == 2
    cat = remote.cat()
    chunks = []
    digest = hashlib.sha256()

    def take(data):
        chunks.append(len(data))
        digest.update(data)

    assert cat.stream(tree.oid("big.bin"), take, chunk=1 << 16) == len(big)
    assert max(chunks) <= 1 << 16 and len(chunks) == -(-len(big) // (1 << 16))
    assert digest.hexdigest() == hashlib.sha256(big).hexdigest()
    # The same process goes on answering after a streamed object.
    assert cat.read(tree.oid("small.txt")) == b"small\n"
    assert cat.size(tree.oid("big.bin")) == len(big)
    assert cat.info(tree.oid("small.txt")) == ("blob", 6)
    with pytest.raises(GitError, match="not an object id"):
        cat.read("HEAD")
    with pytest.raises(GitError, match="not in"):
        cat.read("0" * 40)
    assert cat.read(tree.oid("small.txt")) == b"small\n"
    remote.close()


def test_catfile_works_on_its_own(tmp_path, kipoi_repo):
    oid = git(kipoi_repo.bare, "rev-parse", "%s:README.md" % kipoi_repo.head)
    with CatFile(kipoi_repo.bare) as cat:
        assert cat.read(oid) == b"# test models\n"
        assert b"".join(cat.iter_chunks(oid, chunk=3)) == b"# test models\n"


def test_lfs_fixture_commits_pointers_and_keeps_objects_where_git_lfs_would(tmp_path, git_home):
    repo = build_kipoi_repo(tmp_path / "lfs.git", lfs=True)
    remote = GitRemote(tmp_path / "store", repo.file_url)
    tree = GitTree(remote, remote.resolve_ref("v0.1", HOUR))
    pointer = tree.read("rbp_eclip/UPF1/model.weights")
    assert pointer.startswith(b"version https://git-lfs.github.com/spec/v1\noid sha256:")
    oid = hashlib.sha256(b"UPF1 weights v1\n").hexdigest()
    assert ("oid sha256:%s\nsize 16\n" % oid).encode() in pointer
    assert repo.lfs_objects[oid] == b"UPF1 weights v1\n"
    assert (repo.bare / "lfs" / "objects" / oid[:2] / oid[2:4] / oid).read_bytes() == b"UPF1 weights v1\n"
    assert b"placeholder" in tree.read(".lfsconfig")
    assert tree.read("README.md") == b"# test models\n"  # not everything is LFS


def test_reading_a_blob_not_yet_here_fetches_it_and_offline_says_so(tmp_path, git_home, kipoi_repo,
                                                                     git_http_server):
    remote = GitRemote(tmp_path / "store", kipoi_repo.http_url)
    commit = remote.resolve_ref("v0.1", HOUR)
    remote.fetch_commit(commit)
    with pytest.raises(OfflineError):
        GitTree(remote, commit, offline=True).read("rbp_eclip/UPF1/model.weights")
    git_http_server.clear()
    tree = GitTree(remote, commit)
    assert tree.read("rbp_eclip/UPF1/model.weights") == b"UPF1 weights v1\n"
    assert git_http_server.count(repo=kipoi_repo.name, service="git-upload-pack", method="POST") == 1
    assert GitTree(remote, commit, offline=True).read("rbp_eclip/UPF1/model.weights") == b"UPF1 weights v1\n"
    remote.close()


def test_reading_prefetched_blobs_runs_no_more_git(tmp_path, git_home, kipoi_repo, monkeypatch):
    remote = GitRemote(tmp_path / "store", kipoi_repo.file_url)
    tree = GitTree(remote, remote.resolve_ref("main", HOUR))  # what the fixture's work tree holds
    files = [path for path, kind in tree.walk() if kind != "dir"]
    tree.prefetch(files)
    tree.read("README.md")  # the cat-file process is running from here on

    def no_git(*args, **kwargs):
        raise AssertionError("a git process was started for a blob that is here")

    monkeypatch.setattr(gitcli, "run", no_git)
    monkeypatch.setattr(gitcli, "run_full", no_git)
    monkeypatch.setattr(subprocess, "Popen", no_git)  # gitcli imports subprocess where it runs git
    for path in files:
        if tree.kind(path) == "file":
            assert tree.read(path) == (kipoi_repo.work / path).read_bytes()
        else:
            assert tree.readlink(path) == os.readlink(kipoi_repo.work / path)
    remote.close()
