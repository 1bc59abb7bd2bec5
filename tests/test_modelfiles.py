"""models/layout.py and models/files.py: finding remote files in arg trees, kipoi's layout,
URL candidates, and fetching
through a faulty server into the store."""

import hashlib
import json
import os

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from fileserver import FileServer
from kipoi_store.net import download
from kipoi_store.net.http import Options
from kipoi_store.errors import (IntegrityError, NetworkError, NotFoundError, OfflineError,
                                 UnsafePathError)
from kipoi_store.models.files import Fetcher
from kipoi_store.models.layout import Wanted, dataloader_layout, is_remote, model_layout, walk_remote
from kipoi_store.net.rewrites import candidate_urls
from kipoi_store.store.core.store import Store

FAST = dict(tries=3, backoff=0.0, max_wait=0.0, timeout=(5.0, 5.0))


def md5(data):
    return hashlib.md5(data).hexdigest()


def sha256(data):
    return hashlib.sha256(data).hexdigest()


# -- the walker ---------------------------------------------------------------------------------

MARK = "LEAF-URL"
_names = st.text("abcxyz_", min_size=1, max_size=4)
_scalars = st.none() | st.booleans() | st.integers(-3, 3) | _names
_leaves = st.fixed_dictionaries({"url": st.just(MARK), "md5": st.just("0" * 32)},
                                optional={"name": _names, "sha256": _names})


def _trees():
    return st.recursive(_scalars | _leaves,
                        lambda inner: st.lists(inner, max_size=4)
                        | st.dictionaries(_names, inner, max_size=4),
                        max_leaves=25)


def _follow(tree, path):
    for step in path:
        tree = tree[int(step)] if isinstance(tree, list) else tree[step]
    return tree


@settings(max_examples=150, deadline=None)
@given(_trees())
def test_the_walker_finds_exactly_the_url_leaves_at_their_paths(tree):
    found = walk_remote(tree)
    # every leaf is counted once in the serialised tree; the walker must find that many ...
    assert len(found) == json.dumps(tree).count('"url": "%s"' % MARK)
    paths = [p for p, _ in found]
    assert len(set(paths)) == len(paths)
    for path, leaf in found:
        # ... each one really there, a leaf, and never inside another one
        assert _follow(tree, path) is leaf and is_remote(leaf)
        assert not any(is_remote(_follow(tree, path[:i])) for i in range(len(path)))


def test_the_walker_survives_self_containing_yaml_anchors():
    import yaml

    doc = yaml.safe_load("a: &x [1, {w: {url: u, md5: m}}, *x]\n")
    found = walk_remote(doc)
    assert ("a", "1", "w") in [p for p, _ in found]
    assert all(is_remote(leaf) for _, leaf in found)


def test_a_url_that_is_not_a_string_is_not_a_leaf():
    assert walk_remote({"a": {"url": 5, "inner": {"url": "u"}}}) == [(("a", "inner"), {"url": "u"})]


# -- kipoi's layout -----------------------------------------------------------------------------

M1, M2, M3 = "1" * 32, "2" * 32, "3" * 32


def test_top_level_args_go_to_arg_and_md5():
    doc = {"type": "keras", "args": {"weights": {"url": "https://z/w.h5", "md5": M1.upper()},
                                     "arch": "model_files/arch.json"}}
    (w,) = model_layout(doc, "rbp/UPF1/downloaded/model_files")
    # kipoi names the file by the md5 as written; we compare in lower case
    assert w == Wanted("rbp/UPF1/downloaded/model_files/weights/" + M1.upper(), "model", "weights",
                       "https://z/w.h5", M1, None)


def test_tensorflow_checkpoints_use_kipois_fixed_names():
    leaf = {"url": "u", "md5": M1}
    doc = {"type": "tensorflow", "args": {"checkpoint_path": {"meta": leaf, "index": leaf,
                                                              "data": leaf}}}
    paths = sorted(w.path for w in model_layout(doc, "D"))
    assert paths == ["D/ckp/model.data-00000-of-00001", "D/ckp/model.index", "D/ckp/model.meta"]
    doc2 = {"defined_as": "kipoi.model.TensorFlow2Model",
            "args": {"savedmodel_path": {"pb": leaf, "index": leaf, "data": leaf}}}
    assert sorted(w.path for w in model_layout(doc2, "D")) == [
        "D/sdm/saved_model.pb", "D/sdm/variables/variables.data-00000-of-00001",
        "D/sdm/variables/variables.index"]


def test_other_nesting_is_laid_out_by_arg_path():
    doc = {"defined_as": "x.Y", "args": {"ckpt": {"meta": {"url": "u", "md5": M1}},
                                         "files": [{"url": "v", "sha256": "a" * 64}]}}
    assert [(w.arg, w.path) for w in model_layout(doc, "D")] == [
        ("ckpt.meta", "D/ckpt/meta/" + M1), ("files.0", "D/files/0/file")]


def test_dataloaders_download_their_defaults_by_md5_only():
    doc = {"args": {"fasta_file": {"doc": "genome", "default": {"url": "f", "md5": M1},
                                   "example": {"url": "e", "md5": M2}},
                    "intervals": {"example": {"url": "i", "md5": M3}},
                    "track": {"default": {"bw": {"url": "b", "md5": M2}}}}}
    assert [(w.arg, w.path) for w in dataloader_layout(doc, "D/downloaded/dataloader_files")] == [
        ("fasta_file", "D/downloaded/dataloader_files/" + M1),
        ("track.bw", "D/downloaded/dataloader_files/track/bw/" + M2)]


def test_bad_digests_and_unsafe_arg_names_are_refused():
    with pytest.raises(IntegrityError, match="md5 '../x' is not a hex digest"):
        model_layout({"args": {"w": {"url": "u", "md5": "../x"}}}, "D")
    with pytest.raises(UnsafePathError, match="arg .. gives the unsafe download path"):
        model_layout({"args": {"..": {"url": "u", "md5": M1}}}, "D")


def test_candidates_try_every_mirror_of_every_rule_then_the_original():
    rules = [("https://sandbox.zenodo.org/", ["https://m1.org/z/", "https://m2.org/z/"]),
             ("https://sandbox.", ["https://m3.org/"]), ("https://other/", ["https://no/"])]
    assert candidate_urls("https://sandbox.zenodo.org/record/1/f?download=1", rules) == [
        "https://m1.org/z/record/1/f?download=1", "https://m2.org/z/record/1/f?download=1",
        "https://m3.org/zenodo.org/record/1/f?download=1",
        "https://sandbox.zenodo.org/record/1/f?download=1"]
    assert candidate_urls("https://a/b", rules) == ["https://a/b"]


# -- fetching through faults ----------------------------------------------------------------------

@pytest.fixture
def server():
    with FileServer() as s:
        yield s


@pytest.fixture
def mirror():
    with FileServer() as s:
        yield s


@pytest.fixture
def store(tmp_path):
    return Store(tmp_path / "store")


def wanted(url, data, arg="weights", with_sha=False):
    return Wanted("M/downloaded/model_files/%s/%s" % (arg, md5(data)), "model", arg, url, md5(data),
                  sha256(data) if with_sha else None)


def fetch(store, w, rewrites=(), offline=False, **options):
    fetcher = Fetcher(store, rewrites, offline=offline, **dict(FAST, **options))
    try:
        return fetcher.fetch(w, "model src:M")
    finally:
        fetcher.close()


def test_a_dead_first_host_falls_through_to_the_mirror(store, server, mirror):
    data = os.urandom(5000)
    url = server.add("/record/1/w.h5", data, fault="404")
    mirror.add("/zenodo/record/1/w.h5", data)
    digest = fetch(store, wanted(url, data, with_sha=True),
                   rewrites=[(server.base + "/", [server.base + "/nothing/", mirror.base + "/zenodo/"])])
    assert digest == sha256(data) and store.object_path(digest).read_bytes() == data
    assert server.log == [("/nothing/record/1/w.h5", None, 404)]
    assert mirror.log == [("/zenodo/record/1/w.h5", None, 200)]


def test_a_file_already_in_the_store_is_never_downloaded_again(store, server):
    data = b"weights" * 100
    url = server.add("/w.h5", data)
    fetch(store, wanted(url, data))
    # another model, another URL, the same md5: found by md5, no request at all
    assert fetch(store, wanted(server.url("/elsewhere.h5"), data, arg="other"), offline=True) \
        == sha256(data)
    assert len(server.log) == 1


def test_wrong_bytes_everywhere_name_model_arg_and_url(store, server, mirror):
    data = b"the real weights"
    url = server.add("/w.h5", data, fault="wrong")
    mirror.add("/w.h5", data, fault="wrong")
    with pytest.raises(IntegrityError) as info:
        fetch(store, wanted(url, data), rewrites=[(server.base, [mirror.base])])
    message = str(info.value)
    assert "model src:M: arg weights: wrong content from" in message
    assert url in message and mirror.url("/w.h5") in message and "md5" in message
    assert list(store.iter_objects()) == [] and os.listdir(store.tmp_dir) == []


def test_wrong_bytes_on_the_mirror_then_the_original_is_right(store, server, mirror):
    data = b"the real weights"
    url = server.add("/w.h5", data)
    mirror.add("/w.h5", data, fault="wrong")
    assert fetch(store, wanted(url, data), rewrites=[(server.base, [mirror.base])]) == sha256(data)
    assert [d for d, _, _ in store.iter_objects()] == [sha256(data)]


def test_a_truncated_body_is_resumed_with_range(store, server):
    data = os.urandom(200_000)
    url = server.add("/big.bin", data, fault="truncate")
    assert fetch(store, wanted(url, data)) == sha256(data)
    (_, first, code1), (_, again, code2) = server.requests_for("/big.bin")
    assert (first, code1, code2) == (None, 200, 206)
    # the second request asks only for what is still missing
    assert 0 < int(again[len("bytes="):-1]) <= len(data) // 2


def test_a_stalled_download_times_out_and_resumes(store, server):
    data = os.urandom(400_000)  # several reads arrive before the stall: those are kept
    url = server.add("/slow.bin", data, fault="stall", stall=3.0)
    assert fetch(store, wanted(url, data), timeout=(5.0, 0.3)) == sha256(data)
    assert [s for _, _, s in server.requests_for("/slow.bin")] == [200, 206]


def test_a_busy_server_is_retried(store, server):
    data = b"x" * 10
    url = server.add("/busy.bin", data, fault="503")
    assert fetch(store, wanted(url, data)) == sha256(data)
    assert [s for _, _, s in server.log] == [503, 200]


def test_missing_everywhere_is_not_found_and_offline_names_the_url(store, server):
    url = server.add("/gone.h5", b"", fault="404")
    with pytest.raises(NotFoundError, match="arg weights: cannot download .*gone.h5"):
        fetch(store, wanted(url, b"abc"))
    with pytest.raises(OfflineError, match="arg weights: not in the store .*gone.h5"):
        fetch(store, wanted(url, b"abc"), offline=True)


def test_a_url_requests_cannot_fetch_is_a_network_error_naming_it(store):
    with pytest.raises(NetworkError, match=r"arg weights: cannot download ftp://127\.0\.0\.1/w\.h5: "
                                           r"tried .*cannot request"):
        fetch(store, wanted("ftp://127.0.0.1/w.h5", b"abc"))


def test_progress_is_one_redrawn_stderr_line_when_asked_for(store, server):
    import io

    from kipoi_store.models.files import progress_meter

    data = os.urandom(3000)
    url = server.add("/w.h5", data)
    stream = io.StringIO()
    meter = progress_meter(1, enabled=True, stream=stream)
    fetcher = Fetcher(store, meter=meter, **FAST)
    try:
        fetcher.fetch(wanted(url, data), "model src:M")
    finally:
        fetcher.close()
        meter.close()
    lines = stream.getvalue().split("\r")
    assert lines[-1].startswith("model files: 1/1, 2.9 KiB") and stream.getvalue().endswith("\n")


# -- download_url, the downloader model files and LFS objects share --------------------------------

def test_download_url_hashes_what_is_asked_and_leaves_nothing_behind(store, server):
    data = os.urandom(200_000)
    url = server.add("/cut.bin", data, fault="truncate")  # resumed with Range on the way
    with download.download_url(url, store, algorithms=("md5",),
                               opts=Options(**FAST)) as got:
        assert (got.size, got.digests) == (len(data), {"sha256": sha256(data), "md5": md5(data)})
        assert open(got.path, "rb").read() == data
        store.commit_verified(got.path, got.sha256)
    assert store.object_path(sha256(data)).read_bytes() == data
    with download.download_url(url, store, opts=Options(**FAST)) as got:
        assert set(got.digests) == {"sha256"}  # not committed: dropped when the block ends
    assert os.listdir(store.tmp_dir) == []


def test_download_url_stops_a_body_longer_than_the_size_expected(store, server):
    url = server.add("/w.bin", b"x" * 100)
    with pytest.raises(IntegrityError, match="download of weights.bin: wrong content: more than "
                                             "the 99 bytes"):
        with download.download_url(url, store, name="weights.bin", size=99,
                                   opts=Options(**FAST)):
            pass
    assert os.listdir(store.tmp_dir) == []


def test_download_url_names_what_was_not_found(store, server):
    url = server.add("/gone.bin", b"", fault="404")
    with pytest.raises(NotFoundError, match=r"download of http://127\.0\.0\.1:\d+/gone\.bin: "
                                            r"not found \(404\)"):
        with download.download_url(url + "?token=s3cret", store, opts=Options(**FAST)):
            pass
