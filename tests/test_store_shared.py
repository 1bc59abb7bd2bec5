"""A store a group shares (`kipoi store init PATH --shared=group`), written by several users at
once under umask 077: real users and a real group (tests/users.py), a git-lfs source served over
HTTP with its objects in giftless, and a local source."""

import os

import pytest

from .test_store_readonly import DEMO, base  # noqa: F401 - a fixture
from .test_store_sites import lab  # noqa: F401 - a fixture
from .users import home_of, user

SPECS = ["lab:rbp_eclip/XRCC6", "lab:rbp_eclip/UPF1@v0.2", "lab:CpGenie/A549", "lab:Basset",
         "demo:Basset", "demo:rbp_eclip/UPF1", "demo:DeepSEA/predict"]
PROCESSES = 4  # per user

# Run as a user: every directory listed, every file read, under ROOT; prints what cannot be.
READ_ALL = r"""
import os, sys
for folder, dirs, files in os.walk(sys.argv[1], onerror=lambda e: print("unreadable", e.filename)):
    for name in files:
        p = os.path.join(folder, name)
        if not os.path.islink(p):
            try:
                open(p, "rb").close()
            except OSError as e:
                print("unreadable", p, e.strerror)
"""


@pytest.fixture
def members():
    return user("kst-alice", groups=["kst-lab"]), user("kst-bob", groups=["kst-lab"])


def configure(who, env, repo):
    for args in (["lab", repo.http_url, "--type", "git-lfs"], ["demo", str(DEMO)]):
        r = who.kipoi("source", "add", *args, env=env)
        assert r.returncode == 0, r.stderr


def test_members_resolve_verify_and_gc_one_shared_store_whatever_their_umask(base, members, lab):  # noqa: F811
    _, repo = lab
    alice, bob = members
    store = base / "shared"
    store.mkdir()
    os.chown(store, alice.uid, alice.groups[0])
    r = alice.kipoi("store", "init", str(store), "--shared=group", env=home_of(alice, base, "init"),
                    umask=0o077)
    assert r.returncode == 0, r.stderr
    assert "shared with group kst-lab" in r.stderr
    envs = {}
    for who in members:
        envs[who.name] = home_of(who, base, KIPOI_STORE=store)
        configure(who, envs[who.name], repo)

    procs = []
    for i in range(PROCESSES):
        for who in members:
            order = SPECS[i % len(SPECS):] + SPECS[:i % len(SPECS)]  # overlapping, in other orders
            procs.append((order, who.start_kipoi("source", "resolve", *order, env=envs[who.name],
                                                 umask=0o077)))
    outputs = {}
    for order, p in procs:
        out, err = p.communicate(timeout=300)
        assert p.returncode == 0, err
        outputs.update(zip(order, out.splitlines(), strict=True))
    assert len(set(outputs.values())) == len(SPECS)
    assert all(d.startswith(str(store) + "/snapshots/") for d in outputs.values())

    for who in members:
        r = who.kipoi("store", "verify", env=envs[who.name], umask=0o077)
        assert (r.returncode, r.stdout) == (0, ""), r.stdout + r.stderr
        r = who.python(READ_ALL, str(store), env=envs[who.name])
        assert (r.returncode, r.stdout, r.stderr) == (0, "", "")
    for folder, dirs, _ in os.walk(store):
        for name in dirs:
            mode = os.lstat(os.path.join(folder, name)).st_mode
            assert mode & 0o2070 == 0o2070, (os.path.join(folder, name), oct(mode))
    # Any member may collect what another published.
    r = bob.kipoi("store", "gc", "--keep-days", "0", env=envs[bob.name], umask=0o077)
    assert r.returncode == 0, r.stderr
    assert "snapshot\t%s\t" % repo.tags["v0.2"] in r.stdout  # published by whoever came first
    r = alice.kipoi("store", "verify", env=envs[alice.name])
    assert r.returncode == 0, r.stdout + r.stderr
