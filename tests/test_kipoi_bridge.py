"""kipoi's own commands through our front command: which argument is the model, which specs are
ours to resolve, and what a user without the kipoi package sees. (With kipoi 0.8.6 installed:
tests/test_kipoi_client.py.)"""

import os
import subprocess
import sys

import pytest

from conftest import BIN, run_kipoi
from kipoi_store.cli.kipoi_bridge import find_model, store_spec


@pytest.mark.parametrize("command, args, index, source", [
    ("predict", ["lab:m", "-o", "out.tsv"], 0, "kipoi"),
    ("predict", ["--batch_size", "4", "lab:m", "-o", "a.tsv", "b.h5"], 2, "kipoi"),
    ("predict", ["--dataloader_args", "{}", "x=1", "--source", "lab", "m@v1"], 5, "lab"),
    ("predict", ["-o", "a.tsv", "--", "m"], 3, "kipoi"),
    ("predict", ["--source=lab", "m"], 1, "lab"),
    ("test", ["-e", "expect.h5", "dir/x"], 2, "dir"),
    ("info", ["--dataloader", "dl.X", "lab:m"], 2, "kipoi"),
    ("get-example", ["-o", "example", "lab:m"], 2, "kipoi"),
    ("predict", ["--keep_inputs"], None, "kipoi"),
])
def test_the_model_is_found_as_kipois_argparse_would_find_it(command, args, index, source):
    found = find_model(command, args)
    assert (found.index, found.source) == (index, source)


@pytest.mark.parametrize("token, args, spec", [
    ("lab:m@v1", [], "lab:m@v1"),
    ("kipoi::rbp_eclip/UPF1", [], "kipoi::rbp_eclip/UPF1"),
    ("https://github.com/u/r/tree/abc/m", [], "https://github.com/u/r/tree/abc/m"),
    ("m@v1", ["--source", "lab"], "lab:m@v1"),
    ("m@v1", [], "kipoi:m@v1"),
    ("u/r/tree/abc/m", ["--source", "github-permalink"], "github-permalink:u/r/tree/abc/m"),
    ("Basset", [], None),                 # kipoi's own form: kipoi reads it
    ("Basset", ["--source", "lab"], None),
])
def test_only_what_kipoi_cannot_read_is_resolved_through_the_store(token, args, spec):
    found = find_model("predict", args + [token])
    assert store_spec(token, found) == spec


def test_an_existing_directory_is_kipois_even_with_odd_characters(tmp_path):
    odd = tmp_path / "my@model"
    odd.mkdir()
    assert store_spec(str(odd), find_model("test", [str(odd)])) is None


def without_kipoi(env):
    """Our venv has no kipoi package: make sure, so that these tests mean what they say."""
    probe = subprocess.run([sys.executable, "-c", "import kipoi"], capture_output=True, env=env)
    assert probe.returncode != 0


def test_without_kipoi_a_kipoi_command_says_how_to_install_it(kipoi_env):
    # Our own `kipoi` first on PATH is not kipoi's: it is never run for kipoi's commands.
    kipoi_env = dict(kipoi_env, PATH=os.pathsep.join([str(BIN), "/usr/bin", "/bin"]))
    without_kipoi(kipoi_env)
    r = run_kipoi("kipoi", "predict", "lab:m", "-o", "x.tsv", env=kipoi_env)
    assert r.returncode == 1
    assert r.stdout == ""
    assert r.stderr.count("\n") == 1
    assert "kipoi: error: 'predict' is a command of the kipoi package" in r.stderr
    assert "pip install kipoi" in r.stderr


def test_without_kipoi_an_unknown_word_still_gets_suggestions(kipoi_env):
    kipoi_env = dict(kipoi_env, PATH=os.pathsep.join([str(BIN), "/usr/bin", "/bin"]))
    r = run_kipoi("kipoi", "sorce", "list", env=kipoi_env)
    assert r.returncode == 1
    assert "'sorce' is not a kipoi command" in r.stderr and "source" in r.stderr


def test_python_m_kipoi_store_is_the_front_command(kipoi_env, tmp_path):
    """Whatever owns bin/kipoi (kipoi's package installed last takes it), this reaches ours."""
    r = subprocess.run([sys.executable, "-m", "kipoi_store", "source", "list"], env=kipoi_env, cwd=tmp_path,
                       capture_output=True, text=True, timeout=60)
    assert r.returncode == 0, r.stderr
    assert "github-permalink\tgithub-permalink" in r.stdout.splitlines()
    help_ = subprocess.run([sys.executable, "-m", "kipoi_store", "--help"], env=kipoi_env, cwd=tmp_path,
                           capture_output=True, text=True, timeout=60)
    assert "source resolve" in help_.stdout
