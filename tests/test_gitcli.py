"""CatFile: one `git cat-file --batch-command` process answering info and contents for any number
of objects, big ones streamed, missing ones reported, never a lazy fetch."""

import subprocess

import pytest

from gitserver import git, missing_objects
from kipoi_store.git.catfile import CatFile
from kipoi_store.git.cli import GitError

BIG = bytes(range(256)) * (3 * 4096 + 7)  # ~3 MiB: more than CatFile's default chunk
CHUNK = 1 << 16


def store_blobs(git_dir, contents, pack=True):
    """Write each of `contents` (bytes) as a blob into `git_dir`; return their ids, in order.

    Packed by default, as a fetch leaves them."""
    folder = git_dir.parent / (git_dir.name + ".files")
    folder.mkdir()
    paths = []
    for i, data in enumerate(contents):
        (folder / str(i)).write_bytes(data)
        paths.append(str(folder / str(i)))
    oids = git(git_dir, "--git-dir=%s" % git_dir, "hash-object", "-w", "--stdin-paths",
               input="\n".join(paths).encode() + b"\n").split()
    if pack:
        unique = "\n".join(dict.fromkeys(oids)).encode() + b"\n"
        git(git_dir, "--git-dir=%s" % git_dir, "pack-objects", "-q",
            str(git_dir / "objects" / "pack" / "pack"), input=unique)
        git(git_dir, "--git-dir=%s" % git_dir, "prune-packed")
    return oids


@pytest.fixture
def repo(tmp_path):
    git_dir = tmp_path / "objects.git"
    git(tmp_path, "init", "-q", "--bare", str(git_dir))
    return git_dir


@pytest.fixture
def cat_file_processes(monkeypatch):
    """The argv of every `git cat-file` process started while the test runs."""
    started = []

    class Counting(subprocess.Popen):
        def __init__(self, args, *rest, **kwargs):
            if "cat-file" in args:
                started.append(args)
            super().__init__(args, *rest, **kwargs)

    monkeypatch.setattr(subprocess, "Popen", Counting)  # gitcli imports subprocess where it runs git
    return started


def test_one_process_answers_info_and_contents(repo, cat_file_processes):
    small, big, empty = store_blobs(repo, [b"small\n", BIG, b""])
    with CatFile(repo) as cat:
        assert cat.info(small) == ("blob", 6)
        assert cat.size(big) == len(BIG)
        assert cat.exists(big)
        assert cat.read(small) == b"small\n"
        assert cat.read(empty) == b"" and list(cat.iter_chunks(empty)) == []
        assert b"".join(cat.iter_chunks(small, chunk=4)) == b"small\n"
        assert cat.stream(big, lambda data: None) == len(BIG)
        assert cat.info_many([small, big, empty]) == {small: ("blob", 6), big: ("blob", len(BIG)),
                                                      empty: ("blob", 0)}
        assert cat.read(small) == b"small\n"
    assert len(cat_file_processes) == 1
    assert "--batch-command" in cat_file_processes[0]


def test_a_missing_object_is_reported_and_the_process_goes_on(repo, cat_file_processes):
    [present] = store_blobs(repo, [b"here\n"])
    absent = "0123456789" * 4
    with CatFile(repo) as cat:
        assert not cat.exists(absent)
        assert cat.info_many([absent, present]) == {absent: None, present: ("blob", 5)}
        for ask in (cat.info, cat.read, cat.size, lambda oid: list(cat.iter_chunks(oid))):
            with pytest.raises(GitError, match="is not in") as raised:
                ask(absent)
            assert raised.value.missing
        with pytest.raises(GitError, match="is not in"):
            list(cat.open_many([present, absent]))
        assert cat.read(present) == b"here\n"
    assert len(cat_file_processes) <= 2  # open_many stopped mid-window may cost one restart


def test_only_full_object_ids_go_down_the_pipe(repo):
    with CatFile(repo) as cat:
        for bad in ("HEAD", "--batch", "abc123", "0" * 39, "0" * 40 + "\ninfo HEAD", None):
            with pytest.raises(GitError, match="not an object id"):
                cat.info(bad)
            with pytest.raises(GitError, match="not an object id"):
                cat.read(bad)
        with pytest.raises(GitError, match="not an object id"):
            cat.info_many(["0" * 40, "HEAD"])


def test_a_big_blob_is_streamed_in_chunks(repo):
    [big] = store_blobs(repo, [BIG])
    with CatFile(repo) as cat:
        kind, size, chunks = cat.open(big, chunk=CHUNK)
        assert (kind, size) == ("blob", len(BIG))  # known before a byte of the body is read
        sizes, received = [], bytearray()
        for data in chunks:
            sizes.append(len(data))
            received += data
        assert max(sizes) == CHUNK and len(sizes) == -(-len(BIG) // CHUNK)
        assert bytes(received) == BIG


def test_many_small_blobs_through_one_process(repo, cat_file_processes):
    contents = [b"blob %d %s\n" % (i, b"x" * (i % 97)) for i in range(2000)]
    oids = store_blobs(repo, contents)
    with CatFile(repo) as cat:
        # Each body read in turn, as a caller storing blobs one by one does; requests pipelined.
        expected = list(zip(oids, contents, strict=True))
        got = [(oid, size, b"".join(chunks)) for oid, _, size, chunks in cat.open_many(oids)]
        assert got == [(oid, len(data), data) for oid, data in expected]
        assert [cat.read(oid) for oid in oids[:50]] == contents[:50]
        assert cat.info_many(oids) == {oid: ("blob", len(data)) for oid, data in expected}
    assert len(cat_file_processes) == 1


def test_open_many_mixes_big_and_small_and_skips_what_is_left_unread(repo, cat_file_processes):
    small, big, other = store_blobs(repo, [b"small\n", BIG, b"other\n"])
    with CatFile(repo) as cat:
        seen = {}
        for oid, _, size, chunks in cat.open_many([big, small, big, other], chunk=CHUNK):
            if size <= 1024:
                seen[oid] = b"".join(chunks)
            else:
                next(chunks)  # the rest of the big body is skipped before the next answer
        assert seen == {small: b"small\n", other: b"other\n"}
        assert cat.read(small) == b"small\n"
    assert len(cat_file_processes) == 1


def test_an_abandoned_reader_never_garbles_the_next_answer(repo, cat_file_processes):
    small, big = store_blobs(repo, [b"small\n", BIG])
    with CatFile(repo) as cat:
        chunks = cat.iter_chunks(small, chunk=2)
        assert next(chunks) == b"sm"
        assert cat.read(big) == BIG  # the small rest was skipped: same process
        with pytest.raises(GitError, match="abandoned"):
            next(chunks)
        assert len(cat_file_processes) == 1

        stream = cat.iter_chunks(big, chunk=CHUNK)
        next(stream)
        assert cat.info(small) == ("blob", 6)  # megabytes left unread: a new process instead
        with pytest.raises(GitError, match="abandoned"):
            next(stream)
        assert cat.read(small) == b"small\n"
        assert len(cat_file_processes) == 2

        next(cat.iter_chunks(big, chunk=CHUNK))
    # Closed while git still had megabytes to write: close() must not wait for it to finish.
    assert cat.read(small) == b"small\n"  # a closed reader starts again when asked
    cat.close()


def test_a_lazy_fetch_is_never_made(tmp_path, cat_file_processes):
    # A partial clone whose config names its promisor remote, as `git clone --filter` leaves it:
    # plain git would fetch a missing blob from the source on the spot.
    source = tmp_path / "source"
    source.mkdir()
    git(source, "init", "-q", "-b", "main")
    (source / "a.txt").write_text("a\n")
    (source / "b.txt").write_text("b\n")
    git(source, "add", "-A")
    git(source, "commit", "-q", "-m", "one")
    git(source, "config", "uploadpack.allowFilter", "true")
    clone = tmp_path / "clone.git"
    git(tmp_path, "clone", "-q", "--bare", "--filter=blob:none", source.as_uri(), str(clone))
    assert "promisor = true" in (clone / "config").read_text()
    blob = git(source, "rev-parse", "HEAD:b.txt")
    commit = git(source, "rev-parse", "HEAD")
    packs = sorted((clone / "objects" / "pack").iterdir())

    with CatFile(clone) as cat:
        assert not cat.exists(blob)
        with pytest.raises(GitError, match="is not in") as raised:
            cat.read(blob)
        assert raised.value.missing
        assert cat.info_many([blob, commit]) == {blob: None, commit: ("commit", cat.size(commit))}
        assert cat.read(commit).startswith(b"tree ")  # it goes on answering

    assert sorted((clone / "objects" / "pack").iterdir()) == packs  # nothing was fetched
    assert missing_objects(clone, commit) == {blob, git(source, "rev-parse", "HEAD:a.txt")}


def test_a_directory_that_is_no_repository(tmp_path):
    with CatFile(tmp_path / "nowhere") as cat:
        with pytest.raises(GitError, match="not a git repository") as raised:
            cat.read("0" * 40)
        assert not raised.value.missing
