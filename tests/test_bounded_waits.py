"""Bounded waits: a server that accepts and never answers (git over http, an LFS batch endpoint,
a model file) fails the resolve within the configured read timeout, naming the URL and the spec;
a batch of specs on one dead host asks it once; SIGTERM and SIGHUP clean up as Ctrl-C does.

The timeouts are set small here (KIPOI_READ_TIMEOUT, or read_timeout in the config); nothing is
timed beyond run_kipoi's own generous timeout, which a hanging resolve would exceed.
"""

import hashlib
import os
import signal
import subprocess
import time
from pathlib import Path

import pytest

from conftest import BIN, run_kipoi
from gitserver import build_kipoi_repo
from lfsserver import FaultServer
from silentserver import SilentServer


def write(root, files):
    for rel, text in files.items():
        path = Path(root) / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(text if isinstance(text, bytes) else text.encode())


def configure(env, text):
    config = Path(env["KIPOI_HOME"]) / "config.yaml"
    config.parent.mkdir(parents=True, exist_ok=True)
    config.write_text(text)


def model_with_file(url, md5="d41d8cd98f00b204e9800998ecf8427e"):
    return "type: keras\nargs:\n  weights:\n    url: %s\n    md5: %s\n" % (url, md5)


@pytest.fixture
def env(lfs_git_env):
    """HOME, git config and KIPOI_HOME in tmp; a read timeout of 2 s."""
    env = {k: v for k, v in lfs_git_env.items() if not k.startswith("KIPOI_") or k == "KIPOI_HOME"}
    env["KIPOI_READ_TIMEOUT"] = "2"
    return env


def test_a_silent_git_server_fails_the_resolve_naming_url_and_spec(env):
    with SilentServer() as server:
        url = server.base + "/models.git"
        configure(env, "model_sources:\n  dead:\n    type: git\n    remote_url: %s\n"
                       "    local_path: unused-clone\n" % url)
        r = run_kipoi("kipoi", "source", "resolve", "dead:Basset", env=env)
    assert r.returncode == 1, r.stderr
    assert r.stdout == ""
    assert "dead:Basset" in r.stderr and url in r.stderr, r.stderr
    assert "Operation too slow" in r.stderr, r.stderr
    assert "Traceback" not in r.stderr


def test_read_timeout_in_the_config_bounds_a_silent_lfs_batch_endpoint(env, tmp_path):
    del env["KIPOI_READ_TIMEOUT"]
    with SilentServer() as server:
        lfs_url = server.base + "/models.git/info/lfs"
        repo = build_kipoi_repo(tmp_path / "served" / "models.git", lfs=True, lfs_url=lfs_url)
        configure(env, "read_timeout: 2s\nmodel_sources:\n  lab:\n    type: git-lfs\n"
                       "    remote_url: %s\n    local_path: unused-clone\n" % repo.file_url)
        r = run_kipoi("kipoi", "source", "resolve", "lab:rbp_eclip/XRCC6", env=env)
        assert server.requests == 1, r.stderr
    assert r.returncode == 1, r.stderr
    assert "lab:rbp_eclip/XRCC6" in r.stderr and lfs_url in r.stderr, r.stderr
    assert "no answer within 2 s" in r.stderr, r.stderr


def test_a_silent_model_file_server_fails_naming_the_url(env, tmp_path):
    with SilentServer() as server:
        url = server.base + "/record/1/w.h5"
        write(tmp_path / "src", {"m/model.yaml": model_with_file(url)})
        configure(env, "model_sources:\n  mine:\n    type: local\n    local_path: %s\n"
                  % (tmp_path / "src"))
        r = run_kipoi("kipoi", "source", "resolve", "--files", "mine:m", env=env)
    assert r.returncode == 1, r.stderr
    assert "mine:m" in r.stderr and url in r.stderr and "no answer within 2 s" in r.stderr, r.stderr


def test_a_bad_timeout_setting_is_bad_input(env, tmp_path):
    configure(env, "read_timeout: soon\nmodel_sources: {}\n")
    r = run_kipoi("kipoi", "source", "resolve", "x:y", env=env)
    assert r.returncode == 2
    assert "config.yaml:1: read_timeout: must be a duration" in r.stderr, r.stderr


def test_twenty_specs_on_a_dead_model_file_host_ask_it_once(env, tmp_path):
    with SilentServer() as server:
        write(tmp_path / "src", {"m%02d/model.yaml" % i: model_with_file(
            "%s/record/%d/w.h5" % (server.base, i)) for i in range(20)})
        configure(env, "model_sources:\n  mine:\n    type: local\n    local_path: %s\n"
                  % (tmp_path / "src"))
        specs = ["mine:m%02d" % i for i in range(20)]
        r = run_kipoi("kipoi", "source", "resolve", "--files", *specs, env=env)
        assert server.connections == 1
    assert r.returncode == 1
    lines = r.stderr.splitlines()
    assert len(lines) == 20, r.stderr
    for spec, line in zip(specs, lines, strict=True):
        assert spec in line and server.base in line, line
    assert sum("not tried again" in line for line in lines) == 19


def test_twenty_specs_of_a_dead_git_server_ask_it_once(env):
    with SilentServer() as server:
        url = server.base + "/models.git"
        configure(env, "model_sources:\n  dead:\n    type: git\n    remote_url: %s\n"
                       "    local_path: unused-clone\n" % url)
        specs = ["dead:model%d" % i for i in range(20)]
        r = run_kipoi("kipoi", "source", "resolve", *specs, env=env)
        # One git request; the connect probe before it sends nothing.
        assert server.requests == 1
    assert r.returncode == 1
    lines = r.stderr.splitlines()
    assert len(lines) == 20 and all(url in line or server.base in line for line in lines), r.stderr
    assert all(spec in line for spec, line in zip(specs, lines, strict=True)), r.stderr


def test_a_host_that_refuses_connections_is_tried_once(env, tmp_path):
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]  # bound, never listening: connections are refused
        write(tmp_path / "src", {"m%d/model.yaml" % i: model_with_file(
            "http://127.0.0.1:%d/w%d.h5" % (port, i)) for i in range(3)})
        configure(env, "model_sources:\n  mine:\n    type: local\n    local_path: %s\n"
                  % (tmp_path / "src"))
        r = run_kipoi("kipoi", "source", "resolve", "--files", "mine:m0", "mine:m1", "mine:m2",
                      env=env)
    assert r.returncode == 1
    lines = r.stderr.splitlines()
    assert len(lines) == 3 and "Connection refused" in lines[0], r.stderr
    assert all("not tried again" in line for line in lines[1:]), r.stderr


# -- signals ---------------------------------------------------------------------------------

def _wait_for_partial_download(tmp_dir, proc):
    """Until a tmp/ file holds some bytes of the download (or the process ended)."""
    while proc.poll() is None:
        try:
            if any(p.is_file() and p.stat().st_size > 0 for p in tmp_dir.iterdir()):
                return True
        except FileNotFoundError:
            pass
        time.sleep(0.05)
    return False


@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGHUP])
def test_termination_during_a_model_file_download_leaves_nothing_in_tmp(env, tmp_path, sig):
    size = 64 << 20  # 64 MiB at ~80 KiB/s: far from done when the signal comes
    with SilentServer(trickle=(size, 4096, 0.05)) as server:
        write(tmp_path / "src", {"big/model.yaml": model_with_file(server.base + "/w.h5")})
        configure(env, "model_sources:\n  mine:\n    type: local\n    local_path: %s\n"
                  % (tmp_path / "src"))
        proc = subprocess.Popen([str(BIN / "kipoi"), "source", "pull", "mine:big"], env=env,
                                stdout=subprocess.PIPE, stderr=subprocess.PIPE)
        tmp_dir = Path(env["KIPOI_HOME"]) / "store" / "tmp"
        assert _wait_for_partial_download(tmp_dir, proc), proc.communicate()
        proc.send_signal(sig)
        out, err = proc.communicate(timeout=60)
    assert proc.returncode == 128 + sig, err
    assert os.listdir(tmp_dir) == []
    assert b"Traceback" not in err


def test_sigterm_during_an_lfs_download_leaves_nothing_in_tmp(env, tmp_path, make_lfs_repo):
    data = b"x" * (64 << 20)
    with SilentServer(trickle=(len(data), 4096, 0.05)) as slow, \
            FaultServer(href_base=slow.base) as lfs:
        lfs.add(data)
        make_lfs_repo(tmp_path / "repo", {"big/w.bin": data},
                      extra={"big/model.yaml": b"type: keras\nargs:\n  weights: w.bin\n"})
        configure(env, "model_sources:\n  lab:\n    type: git-lfs\n    remote_url: %s\n"
                       "    local_path: unused-clone\n"
                       "    lfs_url: %s\n" % ((tmp_path / "repo").as_uri(), lfs.url))
        proc = subprocess.Popen([str(BIN / "kipoi"), "source", "resolve", "lab:big"], env=env,
                                stdout=subprocess.PIPE, stderr=subprocess.PIPE)
        tmp_dir = Path(env["KIPOI_HOME"]) / "store" / "tmp"
        assert _wait_for_partial_download(tmp_dir, proc), proc.communicate()
        proc.send_signal(signal.SIGTERM)
        out, err = proc.communicate(timeout=60)
    assert proc.returncode == 143, err
    assert os.listdir(tmp_dir) == []
    store = Path(env["KIPOI_HOME"]) / "store"  # its download lock (an empty file) may stay
    assert hashlib.sha256(data).hexdigest() not in str([p for p in store.rglob("*")
                                                        if p.relative_to(store).parts[0] != "locks"])


@pytest.fixture
def blackhole():
    """A port whose connections never complete: its listen queue is full, so SYNs go unanswered."""
    import socket

    server = socket.socket()
    server.bind(("127.0.0.1", 0))
    server.listen(0)
    filler = socket.create_connection(server.getsockname())  # takes the one place in the queue
    yield "http://127.0.0.1:%d" % server.getsockname()[1]
    filler.close()
    server.close()


def test_connect_timeout_bounds_git_and_model_files_on_an_unreachable_host(env, tmp_path, blackhole):
    env["KIPOI_CONNECT_TIMEOUT"] = "1"
    write(tmp_path / "src", {"m/model.yaml": model_with_file(blackhole + "/w.h5")})
    configure(env, "model_sources:\n  dead:\n    type: git\n    remote_url: %s/models.git\n"
                   "    local_path: unused-clone\n"
                   "  mine:\n    type: local\n    local_path: %s\n" % (blackhole, tmp_path / "src"))
    r = run_kipoi("kipoi", "source", "resolve", "dead:Basset", env=env)
    assert r.returncode == 1
    assert r.stderr.startswith("kipoi: error: dead:Basset: source 'dead': cannot connect to "
                               "%s/models.git: no "
                               "connection within 1 s" % blackhole), r.stderr
    r = run_kipoi("kipoi", "source", "resolve", "--files", "mine:m", env=env)
    assert r.returncode == 1
    assert "mine:m" in r.stderr and blackhole + "/w.h5" in r.stderr, r.stderr
    assert "no connection within 1 s" in r.stderr, r.stderr
