"""A model complete in a site store is used in place, for a `local` source as for a git one: the
user's store gains nothing (kipoi#700: each user paying a model's size in their home quota).

Real parts: the admin and the user real accounts (tests/users.py), the site store a real read-only
bind mount while the user works, a system config naming the local source and the site store.
"""

import os

from .test_store_other_users import alice, base, bob  # noqa: F401 - fixtures
from .test_store_sites import admin_site, lab, resolved, user_of_site  # noqa: F401 - lab is a fixture
from .users import home_of, inodes

WEIGHTS = os.urandom(300 * 1024)


def objects_in(store):
    """How many objects a store holds (0 for a store not made yet)."""
    return sum(len(files) for _, _, files in os.walk(os.path.join(store, "objects")))


def test_a_local_sources_model_complete_in_a_site_store_costs_the_user_nothing(
        base, alice, bob):  # noqa: F811
    zoo = base / "zoo"
    (zoo / "alpha").mkdir(parents=True)
    (zoo / "alpha" / "model.yaml").write_text("defined_as: model.M\nargs:\n  weights: weights.h5\n")
    (zoo / "alpha" / "model.py").write_text("class M:\n    pass\n")
    (zoo / "alpha" / "weights.h5").write_bytes(WEIGHTS)
    (zoo / "beta").mkdir()
    (zoo / "beta" / "model.yaml").write_text("defined_as: model.M\n")

    # The admin fills the site store.
    site = base / "site"
    site.mkdir()
    alice.own(site)
    admin = home_of(alice, base, KIPOI_STORE=site)
    r = alice.kipoi("source", "add", "loc", str(zoo), "--type", "local", env=admin)
    assert r.returncode == 0, r.stderr
    [filled] = resolved(alice.kipoi("source", "resolve", "--json", "loc:alpha", env=admin))
    assert objects_in(site) == 3

    # The user's system config names the source and the site; the site is read-only for them.
    system = base / "system.yaml"
    system.write_text("model_sources:\n  loc:\n    type: local\n    local_path: %s\n"
                      "site_stores:\n  - %s\n" % (zoo, site))
    user = home_of(bob, base, KIPOI_SYSTEM_CONFIG=system)
    own = os.path.join(user["HOME"], ".kipoi", "store")
    before = inodes(site)
    for _ in range(2):  # cold (nothing of the user's yet), then warm
        [got] = resolved(bob.kipoi("source", "resolve", "--offline", "--json", "loc:alpha", env=user,
                                   read_only=[site]))
        assert got["directory"] == filled["directory"] and got["key"] == filled["key"]
        assert got["directory"].startswith(str(site) + "/snapshots/")
        assert objects_in(own) == 0
    assert inodes(site) == before

    # A model the site lacks is built in the user's store, as before.
    [beta] = resolved(bob.kipoi("source", "resolve", "--offline", "--json", "loc:beta", env=user,
                                read_only=[site]))
    assert beta["directory"].startswith(own + "/snapshots/")
    assert objects_in(own) == 1
    # And an edit of the site's model makes a new one, the user's: its files come along.
    with open(zoo / "alpha" / "model.py", "a") as f:
        f.write("# edited\n")
    [edited] = resolved(bob.kipoi("source", "resolve", "--offline", "--json", "loc:alpha", env=user,
                                  read_only=[site]))
    assert edited["directory"].startswith(own + "/snapshots/") and edited["key"] != filled["key"]
    with open(os.path.join(edited["directory"], "weights.h5"), "rb") as f:
        assert f.read() == WEIGHTS
    r = bob.kipoi("store", "verify", env=user)
    assert r.returncode == 0, r.stdout + r.stderr


def test_a_git_sources_model_complete_in_a_site_store_costs_the_user_nothing(
        base, alice, bob, lab):  # noqa: F811
    _, repo = lab
    site, admin = admin_site(base, alice, repo)
    [filled] = resolved(alice.kipoi("source", "resolve", "--json", "lab:rbp_eclip/XRCC6", env=admin))
    user = user_of_site(base, bob, repo, site)
    own = os.path.join(user["HOME"], ".kipoi", "store")
    before = inodes(site)
    for spec in ("lab:rbp_eclip/XRCC6", "lab:rbp_eclip/XRCC6@" + filled["commit"]):
        [got] = resolved(bob.kipoi("source", "resolve", "--offline", "--json", spec, env=user,
                                   read_only=[site]))
        assert got["directory"] == filled["directory"]
        assert objects_in(own) == 0
    assert inodes(site) == before
