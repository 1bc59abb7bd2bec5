"""A store a group shares (`kipoi store init PATH --shared=group`), written by several users at
once under umask 077: real users and a real group (tests/users.py), a git-lfs source served over
HTTP with its objects in giftless, and a local source."""

import fcntl
import hashlib
import json
import os
import subprocess

import pytest

from .test_store_other_users import DEMO, base  # noqa: F401 - a fixture
from .test_store_sites import lab  # noqa: F401 - a fixture
from kipoi_store.store.core.store import Store

from .conftest import BIN, run_kipoi
from .users import home_of, user

WEIGHTS = hashlib.sha256(b"XRCC6 weights\n").hexdigest()

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


@pytest.mark.parametrize("locks", ["on", "off"])
def test_members_resolve_verify_and_gc_one_shared_store_whatever_their_umask(base, members, lab,  # noqa: F811
                                                                             giftless_server, locks):
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
        envs[who.name] = home_of(who, base, KIPOI_STORE=store, KIPOI_LOCKS=int(locks == "on"))
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
    weights = [hashlib.sha256(w).hexdigest() for w in (b"XRCC6 weights\n", b"UPF1 weights v2\n")]
    sent = [giftless_server.sent(oid, repo.lfs_repo) for oid in weights]
    if locks == "on":
        assert sent == [1, 1]  # 8 processes wanted each: one fetched it, the others waited
    else:
        assert min(sent) >= 1
    assert (store / "locks").is_dir() == (locks == "on")  # off: not one lock taken

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


def resolving_behind_a_held_lock(tmp_path, kipoi_env, repo, timeout):
    """(the lock file, the Popen of a resolve of lab:rbp_eclip/XRCC6) while this process holds the
    download lock of XRCC6's weights, as another process stuck in its download would."""
    env = dict(kipoi_env, KIPOI_STORE=str(tmp_path / "store"), KIPOI_LOCK_TIMEOUT=str(timeout))
    r = run_kipoi("kipoi", "source", "add", "lab", repo.http_url, "--type", "git-lfs", env=env)
    assert r.returncode == 0, r.stderr
    lock = tmp_path / "store" / "locks" / WEIGHTS[:2] / WEIGHTS
    lock.parent.mkdir(parents=True)
    held = open(lock, "w")
    fcntl.flock(held, fcntl.LOCK_EX)
    proc = subprocess.Popen([str(BIN / "kipoi"), "source", "resolve", "--json", "lab:rbp_eclip/XRCC6"],
                            env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    return held, lock, proc


def test_a_held_lock_is_waited_for_with_a_message_and_a_bound(tmp_path, kipoi_env, lab,  # noqa: F811
                                                              giftless_server):
    _, repo = lab
    held, lock, proc = resolving_behind_a_held_lock(tmp_path, kipoi_env, repo, timeout=1)
    out, err = proc.communicate(timeout=120)
    held.close()
    assert proc.returncode == 0, err
    assert "kipoi: warning: waiting for another process fetching lab:rbp_eclip/XRCC6/model.weights " \
           "(lock %s; at most 1s)\n" % lock in err
    assert "gave up waiting for the lock on lab:rbp_eclip/XRCC6/model.weights after 1s" in err
    assert open(json.loads(out)["directory"] + "/model.weights", "rb").read() == b"XRCC6 weights\n"
    assert giftless_server.sent(WEIGHTS, repo.lfs_repo) == 1  # fetched itself, past the bound


def test_a_waiter_takes_what_the_lock_holder_fetched_instead_of_downloading(tmp_path, kipoi_env, lab,  # noqa: F811
                                                                          giftless_server):
    _, repo = lab
    held, lock, proc = resolving_behind_a_held_lock(tmp_path, kipoi_env, repo, timeout=600)
    line = proc.stderr.readline()
    assert line.startswith("kipoi: warning: waiting for another process fetching"), line
    Store(tmp_path / "store").add_bytes(b"XRCC6 weights\n")  # the holder's download arrives...
    held.close()  # ...and it lets go
    out, err = proc.communicate(timeout=120)
    assert proc.returncode == 0, err
    assert open(json.loads(out)["directory"] + "/model.weights", "rb").read() == b"XRCC6 weights\n"
    assert giftless_server.sent(WEIGHTS, repo.lfs_repo) == 0
