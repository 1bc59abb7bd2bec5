"""Site stores: read-only stores an admin filled, searched after the user's own.

Real parts: a git-lfs repository served by `git http-backend`, its LFS objects in giftless, the
admin and the user real accounts (tests/users.py), the site store a real read-only bind mount
while the user works, and a system config naming the source and the site store, so the user
configures nothing.
"""

import hashlib
import json

import pytest

from .fileserver import FileServer
from .gitserver import HISTORY, GitHTTPServer, build_kipoi_repo
from .test_store_other_users import alice, base, bob  # noqa: F401 - fixtures
from .users import home_of, inodes

DEAD_LFS = "http://127.0.0.1:9/nowhere.git/info/lfs"  # nothing listens: any download would fail
ZENODO = {"/zenodo/1/remote.h5": b"remote weights\n" * 100, "/zenodo/2/pulled.h5": b"pulled weights\n"}


def with_remote_files(model, path, url):
    return {"%s/model.yaml" % model: "defined_as: model.Model\nargs:\n  weights:\n    url: %s\n"
                                     "    md5: %s\n" % (url, hashlib.md5(ZENODO[path]).hexdigest()),
            "%s/model.py" % model: "class Model:\n    pass\n"}


@pytest.fixture
def lab(base, giftless_server):  # noqa: F811 - base is a fixture
    """A git-lfs repository on a private server a test may stop; `.http_url` names it. Its last
    commit adds two models naming remote files, `Remote` and `Pulled`, served by `.files`."""
    with FileServer() as files:
        for path, data in ZENODO.items():
            files.add(path, data)
        remote = dict(with_remote_files("Remote", "/zenodo/1/remote.h5", files.url("/zenodo/1/remote.h5")),
                      **with_remote_files("Pulled", "/zenodo/2/pulled.h5", files.url("/zenodo/2/pulled.h5")))
        server = GitHTTPServer(base / "served").start()
        try:
            lfs_url = giftless_server.lfs_url("site/models-%s" % base.name)
            repo = build_kipoi_repo(server.root / "lab.git", lfs=True, lfs_url=lfs_url, push_lfs=True,
                                    history=HISTORY + [("models with remote weights", remote)])
            repo.http_url = server.repo_url("lab.git")
            repo.lfs_repo = "site/models-%s" % base.name  # what giftless_server.sent() counts under
            repo.files = files
            yield server, repo
        finally:
            server.stop()


def admin_site(base, alice, repo):  # noqa: F811 - fixtures passed on
    """An empty site store owned by the admin (alice), and her environment filling it, with the
    source `lab` added."""
    site = base / "site"
    site.mkdir()
    alice.own(site)
    admin = home_of(alice, base, KIPOI_STORE=site)
    r = alice.kipoi("source", "add", "lab", repo.http_url, "--type", "git-lfs", env=admin)
    assert r.returncode == 0, r.stderr
    return site, admin


def user_of_site(base, bob, repo, site):  # noqa: F811 - fixtures passed on
    """The user's (bob's) environment under a system config naming the source and the site; the
    LFS endpoint it gives users is dead, so whatever they get they did not download."""
    system = base / "system.yaml"
    system.write_text("model_sources:\n  lab:\n    type: git-lfs\n    remote_url: %s\n"
                      "    local_path: /nonexistent/kipoi/lab\nsource_settings:\n  lab:\n"
                      "    lfs_url: %s\nsite_stores:\n  - %s\n" % (repo.http_url, DEAD_LFS, site))
    return home_of(bob, base, KIPOI_SYSTEM_CONFIG=system)


def resolved(r):
    assert r.returncode == 0, r.stderr
    return [json.loads(line) for line in r.stdout.splitlines()]


def test_a_site_store_serves_users_read_only_and_feeds_what_they_build(base, alice, bob, lab):  # noqa: F811
    server, repo = lab
    # The admin fills the site store with the source's models...
    site, admin = admin_site(base, alice, repo)
    filled = resolved(alice.kipoi("source", "resolve", "--json", "lab:rbp_eclip/XRCC6",
                                  "lab:rbp_eclip/UPF1@v0.2", env=admin))
    # ...and writes the system config; the LFS endpoint it gives users is dead, so whatever they
    # get they did not download.
    user = user_of_site(base, bob, repo, site)
    before = inodes(site)

    # A model the site lacks (XRCC6 at v0.2) is built in bob's store, its weights from the site.
    [built] = resolved(bob.kipoi("source", "resolve", "--json", "lab:rbp_eclip/XRCC6@v0.2",
                                 env=user, read_only=[site]))
    own = "%s/.kipoi/store/snapshots/" % user["HOME"]
    assert built["directory"].startswith(own) and built["commit"] == repo.tags["v0.2"]
    with open(built["directory"] + "/model.weights", "rb") as f:
        assert f.read() == b"XRCC6 weights\n"

    # The network off: what the site holds still resolves, from the site, as it is there.
    server.stop()
    warm = resolved(bob.kipoi("source", "resolve", "--json", "lab:rbp_eclip/XRCC6",
                              "lab:rbp_eclip/UPF1@" + repo.tags["v0.2"], env=user, read_only=[site]))
    assert [w["directory"] for w in warm] == [f["directory"] for f in filled]
    assert all(w["directory"].startswith(str(site) + "/snapshots/") for w in warm)
    assert inodes(site) == before

    # Every tier is shown; gc and verify of bob's store never touch the site's.
    info, site_info = map(json.loads, bob.kipoi("store", "info", "--json", env=user).stdout.splitlines())
    assert (info["tier"], info["location"]) == ("user", user["HOME"] + "/.kipoi/store")
    assert (site_info["tier"], site_info["location"], site_info["models"]) == ("site", str(site), 2)
    for args in (["store", "verify"], ["store", "gc", "--keep-days", "0"]):
        r = bob.kipoi(*args, env=user)
        assert r.returncode == 0, r.stderr
    assert inodes(site) == before
    r = bob.kipoi("source", "resolve", "lab:rbp_eclip/XRCC6", env=user)
    assert r.stdout.strip() == filled[0]["directory"]


def site_for_users(base, alice, bob, repo, specs, pulled):  # noqa: F811
    """The admin (alice) fills a site store with `specs` resolved and `pulled` pulled (their
    files too), and writes a system config naming the source and the site; returns the site and
    the user's (bob's) environment."""
    site, admin = admin_site(base, alice, repo)
    for command, names in (("resolve", specs), ("pull", pulled)):
        if names:
            r = alice.kipoi("source", command, *names, env=admin)
            assert r.returncode == 0, r.stderr
    return site, user_of_site(base, bob, repo, site)


def test_pulling_files_the_site_lacks_builds_the_model_in_the_users_store_from_the_site(
        base, alice, bob, lab):  # noqa: F811
    server, repo = lab
    files = repo.files
    site, user = site_for_users(base, alice, bob, repo, ["lab:Remote"], ["lab:Pulled"])
    [served] = resolved(bob.kipoi("source", "resolve", "--json", "lab:Remote", env=user))
    assert served["directory"] == "%s/snapshots/%s/Remote" % (site, served["commit"])
    before = inodes(site)
    server.stop()  # no git: the model comes from the site's manifest and objects
    remote, pulled = resolved(bob.kipoi("source", "pull", "--json", "lab:Remote", "lab:Pulled",
                                        env=user, read_only=[site]))
    # Remote's files are not in the site: Remote is built in bob's store, its files fetched there.
    own = "%s/.kipoi/store/snapshots/%s/" % (user["HOME"], served["commit"])
    assert remote["directory"] == own + "Remote"
    md5 = hashlib.md5(ZENODO["/zenodo/1/remote.h5"]).hexdigest()
    assert remote["files"] == [own + "Remote/downloaded/model_files/weights/" + md5]
    with open(remote["files"][0], "rb") as f:
        assert f.read() == ZENODO["/zenodo/1/remote.h5"]
    with open(own + "Remote/model.py") as f, open(served["directory"] + "/model.py") as g:
        assert f.read() == g.read()
    # Pulled's files are in the site: it is served from there, uncopied, nothing downloaded.
    assert pulled["directory"].startswith("%s/snapshots/" % site)
    assert all(f.startswith(str(site)) for f in pulled["files"]) and pulled["files"]
    assert len(files.requests_for("/zenodo/2/pulled.h5")) == 1  # the admin's pull only
    assert inodes(site) == before
    r = bob.kipoi("store", "verify", env=user)
    assert r.returncode == 0, r.stderr
    # From now on Remote resolves from bob's store, where its files are.
    [again] = resolved(bob.kipoi("source", "resolve", "--json", "lab:Remote", env=user, read_only=[site]))
    assert again["directory"] == own + "Remote"


def test_a_commit_the_sites_clone_holds_is_built_from_its_objects_with_the_git_server_stopped(
        base, alice, bob, lab):  # noqa: F811
    server, repo = lab
    site, user = site_for_users(base, alice, bob, repo,
                                ["lab:rbp_eclip/XRCC6", "lab:rbp_eclip/UPF1@v0.2"], [])
    before = inodes(site)
    server.stop()
    # XRCC6 at v0.2 is in no store, but the site's clone has that commit, its trees and XRCC6's
    # blobs (unchanged since), and the site store its LFS weights: no server is needed.
    spec = "lab:rbp_eclip/XRCC6@" + repo.tags["v0.2"]
    [built] = resolved(bob.kipoi("source", "resolve", "--json", spec, env=user, read_only=[site]))
    assert built["directory"] == "%s/.kipoi/store/snapshots/%s/rbp_eclip/XRCC6" % (user["HOME"],
                                                                                  repo.tags["v0.2"])
    with open(built["directory"] + "/model.weights", "rb") as f:
        assert f.read() == b"XRCC6 weights\n"
    [clone] = (base / bob.name / ".kipoi" / "store" / "git").glob("*.git")
    [site_clone] = (site / "git").glob("*.git")
    assert (clone / "objects" / "info" / "alternates").read_text() == "%s/objects\n" % site_clone
    assert not list((clone / "objects").glob("pack/*.pack"))  # nothing was fetched
    assert inodes(site) == before
    r = bob.kipoi("store", "verify", env=user)
    assert r.returncode == 0, r.stderr
    # A commit the site's clone lacks still needs the server, and says so.
    r = bob.kipoi("source", "resolve", "lab:rbp_eclip/XRCC6@" + "0" * 40, env=user, read_only=[site])
    assert r.returncode == 1 and "127.0.0.1" in r.stderr, r.stderr
