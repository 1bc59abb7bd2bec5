"""Shared fixtures: an isolated kipoi environment and a runner for the real executables."""

import os
import subprocess
import sys
from pathlib import Path

import pytest

pytest_plugins = ["tests.fixtures_lfs", "tests.fixtures_git", "tests.kipoi_client", "tests.fixtures_oci"]

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
