"""Random argv and stdin at every command: whatever comes in, a command ends with a documented exit
code (0, 1, 2), and when it fails its last stderr line is one clean `kipoi: error: ...`; never a
traceback, never `internal error:`. Commands run in-process through the one exception boundary
(bin/kipoi-* do exactly `run(main)`), against a private config and store; nothing can reach the
network (offline, git limited to file://, HTTP through a proxy that is not there)."""

import contextlib
import io
import os
import re
import sys
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from kipoi_store.cli.boundary import run
from kipoi_store.demo import DEMO_ROOT

from .conftest import BIN, run_kipoi

BIN_DIR = Path(__file__).resolve().parent.parent / "bin"


def commands():
    """name -> main of every command a launcher in bin/ runs."""
    found = {}
    for launcher in sorted(BIN_DIR.glob("kipoi-*")):
        namespace = {}
        text = launcher.read_text()
        lines = [line for line in text.splitlines() if line.startswith("from ")]
        exec("\n".join(lines), namespace)  # the launcher's own imports: its module and main
        entry = re.search(r"^run\((\w+)\)$", text, re.M).group(1)
        found[launcher.name] = namespace[entry]
    return found


COMMANDS = commands()

WORDS = ["demo", "demo:Basset", "demo:rbp_eclip/UPF1", "demo:DeepBind", "kipoi", "github-permalink",
         "github-permalink:u/r/tree/abcd/x", "https://github.com/u/r/tree/abcd/x", "x@", "@", ":",
         "::", "demo::Basset@v1", "../x", "/abs", "-", "--", "-z", "--json", "--stdin", "--offline",
         "--refresh", "--files", "--specs", "--help", "--version", "-v", "--force", "--type",
         "local", "git", "git-lfs", "--ref", "--repair", "--dry-run", "--keep-days", "-1", "0",
         "nan", "--bytes", "--local-path", "file:///nonexistent.git", "new", "a b", "\\", "é",
         "\udcff", "\x00", "\n", "\t", "~", "$HOME", "%s" % DEMO_ROOT]


def argv_strategy():
    token = st.one_of(st.sampled_from(WORDS), st.text(max_size=12))
    return st.lists(token, max_size=6)


@pytest.fixture(scope="module")
def sandbox(tmp_path_factory):
    """Environment for every example: its own KIPOI_HOME and store, the demo source configured."""
    root = tmp_path_factory.mktemp("fuzz")
    env = {
        "HOME": str(root), "KIPOI_HOME": str(root / ".kipoi"), "KIPOI_OFFLINE": "1",
        "GIT_ALLOW_PROTOCOL": "file", "HTTP_PROXY": "http://127.0.0.1:9",
        "HTTPS_PROXY": "http://127.0.0.1:9", "NO_PROXY": "", "COLUMNS": "100",
    }
    base = {k: v for k, v in os.environ.items() if not k.startswith("KIPOI_")}
    base.update(env)
    r = run_kipoi("kipoi", "source", "add", "demo", str(DEMO_ROOT), env=base)
    assert r.returncode == 0, r.stderr
    return env


@contextlib.contextmanager
def isolated(env, stdin_text):
    """The process as a launcher sees it: our environment, stdin, and captured stdout/stderr."""
    saved_env = dict(os.environ)
    saved = sys.stdin, sys.stdout, sys.stderr
    os.environ.clear()
    os.environ.update({k: v for k, v in saved_env.items() if not k.startswith("KIPOI_")})
    os.environ.update(env)
    out, err = io.BytesIO(), io.BytesIO()
    sys.stdin = io.TextIOWrapper(io.BytesIO(stdin_text.encode("utf-8", "surrogateescape")),
                                 encoding="utf-8", errors="surrogateescape")
    sys.stdout = io.TextIOWrapper(out, encoding="utf-8", write_through=True)
    sys.stderr = io.TextIOWrapper(err, encoding="utf-8", errors="backslashreplace",
                                  write_through=True)
    try:
        yield out, err
    finally:
        sys.stdout.flush()
        sys.stderr.flush()
        sys.stdin, sys.stdout, sys.stderr = saved
        os.environ.clear()
        os.environ.update(saved_env)


def run_in_process(main, argv, stdin_text, env):
    with isolated(env, stdin_text) as (out, err):
        try:
            run(main, argv)
            code = 0
        except SystemExit as done:
            code = done.code
        sys.stdout.flush()
        sys.stderr.flush()
        return code, out.getvalue().decode("utf-8", "replace"), err.getvalue().decode("utf-8", "replace")


def assert_clean(code, stderr):
    assert code in (0, 1, 2), (code, stderr)
    assert "Traceback" not in stderr and "internal error" not in stderr, stderr
    if code:
        last = stderr.splitlines()[-1] if stderr else ""
        assert last.startswith("kipoi: error: "), stderr
    for line in stderr.splitlines():
        # Our lines only: a usage mistake too is one line (no usage block above it).
        assert line.startswith("kipoi: "), stderr


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(name=st.sampled_from(sorted(COMMANDS)), argv=argv_strategy(),
       stdin=st.one_of(st.just(""), st.text(max_size=40),
                       st.lists(st.sampled_from(WORDS), max_size=4).map("\n".join)))
def test_any_argv_and_stdin_end_cleanly(sandbox, name, argv, stdin):
    code, _, stderr = run_in_process(COMMANDS[name], argv, stdin, sandbox)
    assert_clean(code, stderr)


def test_every_command_is_driven():
    assert len(COMMANDS) >= 15 and "kipoi-source-resolve" in COMMANDS and "kipoi-store-verify" in COMMANDS


@pytest.mark.parametrize("argv, stdin", [
    (["kipoi-source-resolve", "--stdin", "--json"], "demo:Basset\n\udcff\nx@\n"),
    (["kipoi-source-models", "demo", "\udcff"], ""),
    (["kipoi-source-add", "n\nx", "/tmp"], ""),
    (["kipoi-source-show", "\x1b[31mred"], ""),
    (["kipoi-store-gc", "--keep-days", "nan"], ""),
    (["kipoi", "source", "pin", "--stdin", "-z"], "demo:Basset\0\0demo:\0"),
])
def test_real_processes_end_cleanly_too(sandbox, argv, stdin):
    env = {k: v for k, v in os.environ.items() if not k.startswith("KIPOI_")}
    env.update(sandbox)
    args = [os.fsencode(a) for a in argv[1:]]
    import subprocess

    r = subprocess.run([str(BIN / argv[0])] + args, input=stdin.encode("utf-8", "surrogateescape"),
                       env=env, capture_output=True, timeout=60)
    assert_clean(r.returncode, r.stderr.decode("utf-8", "replace"))
