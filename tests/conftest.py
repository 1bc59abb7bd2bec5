"""Shared fixtures: an isolated kipoi environment and a runner for the real executables."""

import os
import subprocess
import sys
from pathlib import Path

import pytest
from hypothesis import HealthCheck, settings

# A landing is decided by one run of scripts/test: there (KIPOI_TEST_PROFILE=fixed) the property
# tests run the same examples every time, so a new random example cannot block an unrelated change,
# and no deadline is held against a busy machine. A bare pytest explores new examples each run:
# what it finds is fixed and kept as an @example.
settings.register_profile("fixed", derandomize=True, deadline=None, database=None,
                          suppress_health_check=[HealthCheck.too_slow])
if os.environ.get("KIPOI_TEST_PROFILE"):
    settings.load_profile(os.environ["KIPOI_TEST_PROFILE"])

pytest_plugins = ["tests.fixtures_lfs", "tests.fixtures_git", "tests.fixtures_ssh", "tests.kipoi_client",
                  "tests.fixtures_oci"]

BIN = Path(sys.executable).parent  # where `pip install -e` put bin/kipoi*


@pytest.fixture(autouse=True)
def private_kipoi_home(tmp_path, monkeypatch):
    """In-process stores record last use under KIPOI_HOME: never in the real ~/.kipoi."""
    monkeypatch.setenv("KIPOI_HOME", str(tmp_path / "kipoi-home"))


@pytest.fixture
def kipoi_env(tmp_path):
    """An environment dict with a temporary HOME and KIPOI_HOME; no other KIPOI_* leaks in."""
    home = tmp_path / "home"
    home.mkdir()
    env = {k: v for k, v in os.environ.items() if not k.startswith("KIPOI_")}
    env.update(HOME=str(home), KIPOI_HOME=str(home / ".kipoi"))
    return env


def run_kipoi(*args, input=None, env, cwd=None, timeout=120):
    """Run `args[0]` (`kipoi`, `kipoi-source-add`, ...) from the venv's bin with `env`.

    Returns the CompletedProcess with text stdout and stderr; never raises on a non-zero exit.
    """
    program, *rest = args
    return subprocess.run([str(BIN / program), *rest], input=input, env=env, cwd=cwd,
                          capture_output=True, text=True, timeout=timeout)


def isolated_env(home, drop=(), **extra):
    """An environment for our commands: HOME (made if missing) and KIPOI_HOME under `home`, no
    KIPOI_* (nor a variable named in `drop`) from outside, and no proxy, since every server a test
    starts is on 127.0.0.1."""
    home = Path(home)
    home.mkdir(parents=True, exist_ok=True)
    env = {k: v for k, v in os.environ.items() if not k.startswith(("KIPOI_",) + tuple(drop))}
    env.update(HOME=str(home), KIPOI_HOME=str(home / ".kipoi"), NO_PROXY="127.0.0.1,localhost", **extra)
    for k in ("HTTP_PROXY", "HTTPS_PROXY", "http_proxy", "https_proxy"):
        env.pop(k, None)
    return env


def ok(*args, env, input=None):
    """run_kipoi that must succeed: its CompletedProcess, or a failure naming the command."""
    r = run_kipoi(*args, env=env, input=input)
    assert r.returncode == 0, "%s: %s" % (" ".join(args), r.stderr)
    return r


def store_files(store):
    """Every path under a store's objects/, snapshots/ and manifests/."""
    found = []
    for part in ("objects", "snapshots", "manifests"):
        for dirpath, dirnames, filenames in os.walk(Path(store) / part):
            found += [os.path.join(dirpath, n) for n in dirnames + filenames]
    return sorted(found)
