"""A warm resolve (the model already in the store) imports only what it uses.

Its whole cost is the interpreter's start plus imports, so a module that only the cold path, an
edit or the network needs must not load: each of these costs milliseconds (requests ~120 ms).
A driver runs the resolve command exactly as bin/kipoi-source-resolve does and reports which
modules were loaded when it ended.
"""

import json
import subprocess
import sys
from pathlib import Path

import pytest

from .conftest import run_kipoi

DEMO_MODELS = Path(__file__).resolve().parent.parent / "kipoi_store" / "demo" / "models"

# Not for a warm resolve: cold-path, edit-path or network modules, and stdlib modules that cost
# milliseconds for nothing here.
NOT_WARM = {"dataclasses", "typing", "subprocess", "requests", "yaml", "diskcache",
            "shutil", "secrets", "tempfile", "inspect", "kipoi_store.models.catalog",
            "kipoi_store.models.closure", "kipoi_store.git.tree",
            # the parsed config is cached as marshal data: no pickle, no parser or validation
            "pickle", "struct", "kipoi_store.config.load", "kipoi_store.config.values",
            "kipoi_store.config.cluster", "math",
            # no file is hashed: hashlib (OpenSSL) waits for the first digest of content
            "hashlib", "_hashlib"}

DRIVER = """
import json, sys
from kipoi_store.cli.boundary import run
from kipoi_store.cli.commands.source_resolve import main
try:
    run(main, sys.argv[1:])
finally:
    sys.stderr.write("MODULES " + json.dumps(sorted(sys.modules)) + "\\n")
"""


# The front command as bin/kipoi runs it, under the interpreter the launchers name: our command
# runs in its process, so the report at exit covers the command too (an exec would skip it).
FRONT_DRIVER = """
import json, sys
from kipoi_store.cli.dispatch import main
try:
    main(sys.argv[1:])
finally:
    sys.stderr.write("MODULES " + json.dumps(sorted(sys.modules)) + "\\n")
"""
BIN = Path(sys.executable).parent
LAUNCHER_PYTHON = (BIN / "kipoi-source-resolve").read_text().splitlines()[0][2:]


def warm_resolve(env, *args, front=False):
    """(stdout, loaded modules) of `kipoi source resolve ARGS` run through the driver (`front`:
    through the front command `kipoi`)."""
    if front:
        argv = [LAUNCHER_PYTHON, "-c", FRONT_DRIVER, str(BIN / "kipoi"), "source", "resolve", *args]
    else:
        argv = [sys.executable, "-c", DRIVER, *args]
    p = subprocess.run(argv, env=env, cwd=env["HOME"], capture_output=True, text=True, timeout=60)
    assert p.returncode == 0, p.stderr
    report = [line for line in p.stderr.splitlines() if line.startswith("MODULES ")]
    assert len(report) == 1 and p.stderr == report[0] + "\n", p.stderr  # nothing else said
    return p.stdout, set(json.loads(report[0][len("MODULES "):]))


def test_the_driver_sees_what_a_cold_resolve_imports(kipoi_env):
    r = run_kipoi("kipoi", "source", "add", "demo", str(DEMO_MODELS), env=kipoi_env)
    assert r.returncode == 0, r.stderr
    # First resolve: the config is parsed (yaml) and the model found and hashed (models).
    _, modules = warm_resolve(kipoi_env, "demo:Basset")
    assert {"yaml", "kipoi_store.models.catalog"} <= modules


def test_warm_local_resolve_imports_little(kipoi_env):
    r = run_kipoi("kipoi", "source", "add", "demo", str(DEMO_MODELS), env=kipoi_env)
    assert r.returncode == 0, r.stderr
    cold = run_kipoi("kipoi", "source", "resolve", "demo:Basset", env=kipoi_env)
    assert cold.returncode == 0, cold.stderr
    out, modules = warm_resolve(kipoi_env, "demo:Basset")
    assert out == cold.stdout
    assert sorted(NOT_WARM & modules) == []


def test_the_front_command_runs_our_command_in_its_own_process(kipoi_env):
    r = run_kipoi("kipoi", "source", "add", "demo", str(DEMO_MODELS), env=kipoi_env)
    assert r.returncode == 0, r.stderr
    cold = run_kipoi("kipoi", "source", "resolve", "demo:Basset", env=kipoi_env)
    assert cold.returncode == 0, cold.stderr
    out, modules = warm_resolve(kipoi_env, "demo:Basset", front=True)
    assert out == cold.stdout
    assert "kipoi_store.cli.commands.source_resolve" in modules  # here, not in an exec'd process
    assert sorted(NOT_WARM & modules) == []


@pytest.fixture
def warm_git(kipoi_repo, kipoi_env):
    """Source `lab` (the session's kipoi-shaped repository over HTTP) with Basset resolved once."""
    r = run_kipoi("kipoi", "source", "add", "lab", kipoi_repo.http_url, env=kipoi_env)
    assert r.returncode == 0, r.stderr
    cold = run_kipoi("kipoi", "source", "resolve", "--json", "lab:Basset", env=kipoi_env)
    assert cold.returncode == 0, cold.stderr
    return kipoi_env, json.loads(cold.stdout)


def test_warm_git_resolve_imports_little(warm_git):
    env, cold = warm_git
    out, modules = warm_resolve(env, "--json", "lab:Basset")  # the cached answer for HEAD
    assert json.loads(out) == cold
    assert sorted(NOT_WARM & modules) == []


def test_warm_git_resolve_of_a_pinned_commit_imports_little(warm_git):
    env, cold = warm_git
    out, modules = warm_resolve(env, cold["pinned"])
    assert out.strip() == cold["directory"]
    assert sorted(NOT_WARM & modules) == []
