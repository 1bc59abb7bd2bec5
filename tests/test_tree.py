"""tree.py: one read-only view over a folder (LocalTree) or a dict (MemoryTree), with one contract."""

import os
import tempfile

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from kipoi_store.errors import UnsafePathError
from kipoi_store.tree import LocalTree, MemoryTree, Tree, sort_key, split


def write_tree(root, entries):
    """Write a MemoryTree-style dict to disk under `root`."""
    for path, value in entries.items():
        full = os.path.join(root, path)
        os.makedirs(os.path.dirname(full), exist_ok=True)
        if value == ("dir",):
            os.makedirs(full, exist_ok=True)
        elif isinstance(value, tuple):
            os.symlink(value[1], full)
        else:
            with open(full, "wb") as f:
                f.write(value if isinstance(value, bytes) else value.encode())


SAMPLE = {
    "b/model.yaml": b"type: keras\n",
    "b/model_files/w.h5": b"\x00\x01",
    "B/x": b"upper case sorts first",
    "a-c": b"'-' sorts before '/'",
    "a/z": b"z",
    "b/dl.py": ("link", "../shared/dl.py"),
    "b/shared": ("link", "../shared"),
    "b/out": ("link", "../../outside"),
    "b/abs": ("link", "/etc/passwd"),
    "shared/dl.py": b"print('dl')\n",
    "empty": ("dir",),
}


@pytest.fixture(params=["local", "memory"])
def sample(request, tmp_path):
    if request.param == "memory":
        return MemoryTree(SAMPLE)
    write_tree(tmp_path, SAMPLE)
    return LocalTree(tmp_path)


def test_kind_tells_dirs_files_links_and_absence(sample):
    assert sample.kind("") == "dir"
    assert sample.kind("b") == "dir"
    assert sample.kind("empty") == "dir"
    assert sample.kind("b/model.yaml") == "file"
    assert sample.kind("b/dl.py") == "link"
    assert sample.kind("b/out") == "link"
    assert sample.kind("nope") is None
    assert sample.kind("b/model.yaml/x") is None


def test_a_path_through_a_symlink_does_not_exist(sample):
    # b/shared -> ../shared holds dl.py, but the tree follows nothing by itself
    assert sample.kind("b/shared/dl.py") is None
    with pytest.raises(OSError):
        sample.listdir("b/shared")
    with pytest.raises(OSError):
        sample.read("b/shared/dl.py")


def test_listdir_is_bytewise_sorted(sample):
    assert sample.listdir("") == ["B", "a", "a-c", "b", "empty", "shared"]
    assert sample.listdir("b") == ["abs", "dl.py", "model.yaml", "model_files", "out", "shared"]
    assert sample.listdir("empty") == []
    with pytest.raises(NotADirectoryError):
        sample.listdir("b/model.yaml")
    with pytest.raises(FileNotFoundError):
        sample.listdir("nope")


def test_read_and_readlink_follow_nothing(sample):
    assert sample.read("b/model_files/w.h5") == b"\x00\x01"
    assert sample.readlink("b/dl.py") == "../shared/dl.py"
    assert sample.readlink("b/abs") == "/etc/passwd"
    with pytest.raises(FileNotFoundError):
        sample.read("b/dl.py")  # a link is not a file
    with pytest.raises(FileNotFoundError):
        sample.readlink("b/model.yaml")


def test_walk_is_depth_first_sorted_and_never_enters_links(sample):
    assert list(sample.walk()) == [
        ("B", "dir"), ("B/x", "file"),
        ("a", "dir"), ("a/z", "file"),
        ("a-c", "file"),
        ("b", "dir"), ("b/abs", "link"), ("b/dl.py", "link"), ("b/model.yaml", "file"),
        ("b/model_files", "dir"), ("b/model_files/w.h5", "file"), ("b/out", "link"),
        ("b/shared", "link"),
        ("empty", "dir"),
        ("shared", "dir"), ("shared/dl.py", "file"),
    ]
    assert list(sample.walk("b/model_files")) == [("b/model_files/w.h5", "file")]


@pytest.mark.parametrize("bad", ["..", "../x", "a/../b", "/etc", "a//b", "a/", "./a", "a/./b", "a\0b"])
def test_paths_must_be_clean_and_relative(sample, bad):
    with pytest.raises(UnsafePathError):
        sample.kind(bad)


def test_split():
    assert split("") == []
    assert split("rbp_eclip/UPF1") == ["rbp_eclip", "UPF1"]


def test_local_tree_hides_git_and_special_files(tmp_path):
    write_tree(tmp_path, {".git/HEAD": b"ref: refs/heads/main\n", "m/model.yaml": b"{}",
                          "m/.git/config": b"", ".gitignore": b"*.pyc\n"})
    os.mkfifo(tmp_path / "m" / "fifo")
    tree = LocalTree(tmp_path)
    assert tree.listdir("") == [".gitignore", "m"]
    assert tree.kind(".git") is None and tree.kind(".git/HEAD") is None
    assert tree.kind("m/fifo") is None  # never read a fifo or a device as if it were a file
    assert list(tree.walk()) == [(".gitignore", "file"), ("m", "dir"), ("m/model.yaml", "file")]


def test_local_tree_root_may_be_a_symlink_but_nothing_below_it_is_followed(tmp_path):
    write_tree(tmp_path / "real", {"m/model.yaml": b"{}", "m/up": ("link", "..")})
    os.symlink(tmp_path / "real", tmp_path / "alias")
    tree = LocalTree(tmp_path / "alias")
    assert tree.kind("m/model.yaml") == "file"
    assert tree.kind("m/up") == "link"
    assert tree.kind("m/up/m") is None


def test_local_tree_sorts_names_that_are_not_utf8(tmp_path):
    (tmp_path / "a").write_bytes(b"")
    with open(os.path.join(os.fsencode(tmp_path), b"\xff"), "wb"):
        pass
    tree = LocalTree(tmp_path)
    names = tree.listdir("")
    assert names == ["a", os.fsdecode(b"\xff")]
    assert tree.read(names[1]) == b""


def test_memory_tree_rejects_contradictions():
    with pytest.raises(ValueError):
        MemoryTree({"a": b"file", "a/b": b"below a file"})
    with pytest.raises(ValueError):
        MemoryTree({"a/b": b"x", "a": ("link", "c")})
    with pytest.raises(ValueError):
        MemoryTree({"a": 3})


def test_the_default_walk_uses_only_listdir_and_kind():
    class Minimal(Tree):
        def __init__(self, inner):
            self.inner = inner

        def kind(self, path):
            return self.inner.kind(path)

        def listdir(self, path):
            return self.inner.listdir(path)

    inner = MemoryTree(SAMPLE)
    assert list(Minimal(inner).walk("b")) == list(inner.walk("b"))


# -- property: the two implementations agree on any tree ------------------------------------------

segment = st.sampled_from(["a", "ab", "B", "a-b", "a.b", "é", "x_1"])
relpath = st.lists(segment, min_size=1, max_size=3).map("/".join)
link_target = st.lists(st.sampled_from(["..", ".", "a", "ab", "B", "nope"]), min_size=1, max_size=4) \
    .map("/".join) | st.just("/abs")
value = st.binary(max_size=8) | st.tuples(st.just("link"), link_target) | st.just(("dir",))


@st.composite
def trees(draw):
    entries = {}
    for path in draw(st.lists(relpath, max_size=10, unique=True)):
        parts = path.split("/")
        # skip a path that would put something below a file or link already chosen, or the reverse
        prefixes = {"/".join(parts[:i]) for i in range(1, len(parts))}
        if any(p in entries and entries[p] != ("dir",) for p in prefixes):
            continue
        if any(e.startswith(path + "/") for e in entries):
            continue
        for p in prefixes:
            entries.pop(p, None)
        entries[path] = draw(value)
    return entries


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(trees())
def test_local_and_memory_trees_agree(entries):
    memory = MemoryTree(entries)
    with tempfile.TemporaryDirectory() as root:
        write_tree(root, entries)
        local = LocalTree(root)
        walked = list(local.walk())
        assert walked == list(memory.walk())
        assert [p for p, _ in walked if "/" not in p] == sorted(
            {p.split("/")[0] for p in entries}, key=sort_key)
        for path, kind in walked:
            assert local.kind(path) == memory.kind(path) == kind
            if kind == "file":
                assert local.read(path) == memory.read(path)
            elif kind == "link":
                assert local.readlink(path) == memory.readlink(path)
                assert local.kind(path + "/a") is None


def test_local_tree_hides_git_and_python_byte_code(tmp_path):
    (tmp_path / "m" / "__pycache__").mkdir(parents=True)
    (tmp_path / "m" / "__pycache__" / "model.cpython-311.pyc").write_bytes(b"\0")
    (tmp_path / "m" / "model.py").write_text("x = 1\n")
    (tmp_path / ".git").mkdir()
    tree = LocalTree(tmp_path)
    assert tree.listdir("m") == ["model.py"]
    assert tree.kind("m/__pycache__") is None
    assert [p for p, _ in tree.walk()] == ["m", "m/model.py"]
