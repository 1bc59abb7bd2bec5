"""Against real parts: objects pushed by the real `git lfs` client to a real LFS server (giftless),
then fetched by our client."""

import hashlib
import random
import subprocess
import uuid

import pytest

from kipoi_store.lfs import pointer
from kipoi_store.lfs.endpoint import discover_endpoint
from kipoi_store.lfs.fetch import fetch_objects
from kipoi_store.errors import NotFoundError


def weights(n, seed):
    return random.Random(seed).randbytes(n)


def stored_bytes(store, oid):
    return store.object_path(oid).read_bytes()


@pytest.fixture
def repo_name():
    return "lab/models-%s" % uuid.uuid4().hex[:8]


def test_objects_pushed_by_git_lfs_are_fetched_and_match(giftless_server, make_lfs_repo,
                                                          lfs_store, tmp_path, repo_name):
    files = {"rbp_eclip/UPF1/model.bin": weights(3 << 20, 1),
             "rbp_eclip/XRN2/model.bin": weights(70_000, 2)}
    url = giftless_server.lfs_url(repo_name)
    pointers = make_lfs_repo(tmp_path / "models", files, lfs_url=url,
                             extra={"rbp_eclip/UPF1/model.yaml": b"type: keras\n"})
    what = {p.oid: "lab:" + path for path, p in pointers.items()}
    endpoint = discover_endpoint("https://git.example.org/" + repo_name, lfs_url=url)
    fetch_objects(endpoint, list(pointers.values()), lfs_store, what=what, workers=3)
    for path, p in pointers.items():
        assert lfs_store.has_object(p.oid)
        assert hashlib.sha256(files[path]).hexdigest() == p.oid
        assert stored_bytes(lfs_store, p.oid) == files[path]


def test_git_lfs_leaves_empty_files_alone_and_so_do_we(make_lfs_repo, tmp_path):
    repo = tmp_path / "models"
    make_lfs_repo(repo, {"w.bin": b"x"}, extra={"empty.bin": b""})
    blob = subprocess.run(["git", "-C", str(repo), "cat-file", "blob", "HEAD:empty.bin"],
                          capture_output=True, check=True).stdout
    assert blob == b"" and pointer.parse_pointer(blob) is None


def test_the_endpoint_derived_from_an_http_remote_is_giftless_own(giftless_server, make_lfs_repo,
                                                                   lfs_store, tmp_path, repo_name):
    # giftless serves <org>/<repo>.git/info/lfs, which is what git-lfs derives from the remote.
    url = giftless_server.lfs_url(repo_name)
    pointers = make_lfs_repo(tmp_path / "models", {"w.bin": weights(1000, 3)}, lfs_url=url)
    endpoint = discover_endpoint("%s/%s" % (giftless_server.base, repo_name))
    assert endpoint.url == url
    fetch_objects(endpoint, list(pointers.values()), lfs_store)
    assert lfs_store.has_object(pointers["w.bin"].oid)


def test_lfsconfig_in_the_commit_names_the_server(giftless_server, make_lfs_repo, lfs_store,
                                                   tmp_path, repo_name):
    url = giftless_server.lfs_url(repo_name)
    repo = tmp_path / "models"
    pointers = make_lfs_repo(repo, {"m/w.bin": weights(2000, 4)}, lfs_url=url,
                             extra={".lfsconfig": b'[lfs]\n\turl = "%s"\n' % url.encode()})
    lfsconfig = subprocess.run(["git", "-C", str(repo), "show", "HEAD:.lfsconfig"],
                               capture_output=True, check=True).stdout
    endpoint = discover_endpoint("https://elsewhere.example.org/x.git", lfsconfig=lfsconfig)
    fetch_objects(endpoint, list(pointers.values()), lfs_store)
    assert lfs_store.has_object(pointers["m/w.bin"].oid)


def test_an_object_the_server_lacks_is_not_found(giftless_server, make_lfs_repo, lfs_store,
                                                 tmp_path, repo_name):
    url = giftless_server.lfs_url(repo_name)
    pointers = make_lfs_repo(tmp_path / "models", {"w.bin": weights(100, 5)}, lfs_url=url)
    never_pushed = pointer.Pointer(hashlib.sha256(b"never pushed").hexdigest(), 12)
    endpoint = discover_endpoint("x", lfs_url=url)
    for asked in ([never_pushed], [pointers["w.bin"], never_pushed]):
        with pytest.raises(NotFoundError, match=r"lab:models/lost\.bin"):
            fetch_objects(endpoint, asked, lfs_store,
                              what={never_pushed.oid: "lab:models/lost.bin"})
    assert not lfs_store.has_object(never_pushed.oid)
