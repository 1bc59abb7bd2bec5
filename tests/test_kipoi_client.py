"""kipoi 0.8.6 itself runs on what we resolve: `kipoi_store.kipoi.get_model`, `kipoi predict`
through our front command, and `kipoi test` after `--examples`.

The models (tests/kipoi_models.py: a plain model, a group, a dotted `default_dataloader: ..`) name
their weights, a dataloader default, an example file and test expectations on a 127.0.0.1 file
server; they live in a local folder or in a git repository. They are resolved with their files
and examples, the server is stopped, and kipoi runs as root without the capabilities that let
root ignore file modes (capsh), so a write into the store would fail, and is looked for too.
kipoi runs from its own venv (KIPOI_TEST_KIPOI) with kipoi_store on PYTHONPATH, as a user who
installed both would; its HOME is the test's own.
"""

import json
import os
import shlex
import subprocess
from pathlib import Path

import pytest

import kipoi_models
from conftest import BIN, run_kipoi
from fileserver import FileServer
from users import bound_by_modes

REPO = Path(__file__).resolve().parent.parent


@pytest.fixture(scope="session")
def kipoi_python():
    """The python of the kipoi 0.8.6 venv (KIPOI_TEST_KIPOI), or a skip (a failure when
    KIPOI_TEST_REQUIRE_SERVERS=1)."""
    venv = os.environ.get("KIPOI_TEST_KIPOI")
    python = Path(venv) / "bin" / "python" if venv else None
    if python is None or not python.exists():
        message = "kipoi 0.8.6 venv not found (set KIPOI_TEST_KIPOI to a venv with kipoi==0.8.6 six)"
        if os.environ.get("KIPOI_TEST_REQUIRE_SERVERS") == "1":
            pytest.fail(message)
        pytest.skip(message)
    return python


@pytest.fixture(scope="session")
def model_data(kipoi_python, tmp_path_factory):
    return kipoi_models.make_data(kipoi_python, tmp_path_factory.mktemp("kipoi-data"))


@pytest.fixture(scope="session")
def pythonpath(tmp_path_factory):
    """A directory that makes kipoi_store (and diskcache, which the kipoi venv lacks) importable."""
    import diskcache

    path = tmp_path_factory.mktemp("pythonpath")
    (path / "kipoi_store").symlink_to(REPO / "kipoi_store")
    (path / "diskcache").symlink_to(Path(diskcache.__file__).parent)
    return path


class Zoo:
    """The models as a configured source `zoo`, resolved with files and examples."""

    def __init__(self, env, kipoi_env, store, tag=None):
        self.env = env              # our commands' environment
        self.kipoi_env = kipoi_env  # kipoi's (its venv, kipoi_store on PYTHONPATH, bytecode on)
        self.store = store
        self.tag = tag              # a tag of the git layout, else None


def _git(cwd, *args):
    subprocess.run(["git", "-c", "user.name=t", "-c", "user.email=t@t", *args], cwd=cwd, check=True,
                   capture_output=True, timeout=60)


@pytest.fixture(params=["folder", "git"])
def zoo(request, tmp_path, kipoi_env, kipoi_python, model_data, pythonpath):
    src = tmp_path / "zoo"
    with FileServer() as server:
        kipoi_models.write_zoo(src, kipoi_models.serve(server, model_data))
        if request.param == "git":
            _git(src, "init", "-q", "-b", "main")
            _git(src, "add", "-A")
            _git(src, "commit", "-q", "-m", "tiny models")
            _git(src, "tag", "v1")
            added = run_kipoi("kipoi", "source", "add", "zoo", "file://%s" % src, "--type", "git",
                              "--local-path", str(tmp_path / "kipoi-checkout"), env=kipoi_env)
        else:
            added = run_kipoi("kipoi", "source", "add", "zoo", str(src), env=kipoi_env)
        assert added.returncode == 0, added.stderr
        specs = ["zoo:%s" % m for m in kipoi_models.MODELS]
        got = run_kipoi("kipoi", "source", "resolve", "--examples", "--json", *specs, env=kipoi_env)
        assert got.returncode == 0, got.stderr
        if request.param == "git":
            pinned = run_kipoi("kipoi", "source", "resolve", "--examples", "zoo:tiny@v1", env=kipoi_env)
            assert pinned.returncode == 0, pinned.stderr
    # The server is gone: whatever kipoi needs must now come from the store.
    env = dict(kipoi_env)
    env.pop("PYTHONDONTWRITEBYTECODE", None)  # kipoi writes bytecode beside a model's modules
    env["PYTHONPATH"] = str(pythonpath)
    env["PATH"] = "%s:%s" % (kipoi_python.parent, env.get("PATH", "/usr/bin:/bin"))
    return Zoo(kipoi_env, env, Path(kipoi_env["KIPOI_HOME"]) / "store",
               tag="v1" if request.param == "git" else None)


def store_state(store):
    """Every path in the store's snapshots and objects, with its kind, size and mtime."""
    state = {}
    for part in ("snapshots", "objects"):
        for dirpath, dirnames, filenames in os.walk(store / part):
            for name in dirnames + filenames:
                st = os.lstat(os.path.join(dirpath, name))
                state[os.path.relpath(os.path.join(dirpath, name), store)] = (
                    st.st_mode, st.st_size, st.st_mtime_ns)
    return state


def as_kipoi_user(zoo, command, cwd):
    """Run shell `command` as a process file modes bind (root without CAP_DAC_OVERRIDE and friends)."""
    return subprocess.run(bound_by_modes(command), env=zoo.kipoi_env, cwd=cwd,
                          capture_output=True, text=True, timeout=300)


def kipoi_python_of(zoo):
    return shlex.quote(str(Path(zoo.kipoi_env["PATH"].split(":")[0]) / "python"))


GET_MODEL = """
import json, sys
import numpy as np
import kipoi_store.kipoi
out = {}
for spec in sys.argv[1:]:
    model = kipoi_store.kipoi.get_model(spec, offline=True)
    out[spec] = model.predict_on_batch(np.ones((1, 3), dtype="float32")).tolist()
sys.stderr.write("RESULT " + json.dumps(out) + "\\n")
"""


def test_get_model_loads_each_model_from_the_store_in_one_process(zoo, tmp_path):
    before = store_state(zoo.store)
    specs = ["zoo:%s" % m for m in kipoi_models.MODELS]
    # `python -c` puts '' on sys.path: the four models' modules are all called `model`.
    r = as_kipoi_user(zoo, "%s -c %s %s" % (kipoi_python_of(zoo), shlex.quote(GET_MODEL), shlex.join(specs)),
                      cwd=tmp_path)
    assert r.returncode == 0, r.stderr[-3000:]
    result = json.loads(r.stderr.split("RESULT ", 1)[1])
    assert result == {"zoo:%s" % m: [[v]] for m, v in kipoi_models.ONES_PREDICTION.items()}
    assert store_state(zoo.store) == before
    verify = run_kipoi("kipoi", "store", "verify", env=zoo.env)
    assert verify.returncode == 0, verify.stdout + verify.stderr


def read_tsv(path):
    lines = Path(path).read_text().splitlines()
    header = lines[0].split("\t")
    return [dict(zip(header, line.split("\t"), strict=True)) for line in lines[1:]]


@pytest.mark.parametrize("model", ["tiny", "grp/r2", "dotted/m1"])
def test_kipoi_predict_through_our_front_command_takes_a_spec(zoo, tmp_path, model_data, model):
    table = tmp_path / "mine.txt"
    table.write_bytes(model_data["example.txt"])
    spec = "zoo:%s" % model
    if zoo.tag and model == "tiny":
        spec += "@" + zoo.tag
    before = store_state(zoo.store)
    command = "%s -m kipoi_store predict %s --dataloader_args %s -o %s" % (
        kipoi_python_of(zoo), shlex.quote(spec), shlex.quote(json.dumps({"table": str(table)})),
        shlex.quote(str(tmp_path / "out.tsv")))
    r = as_kipoi_user(zoo, command, cwd=tmp_path)
    assert r.returncode == 0, r.stderr[-3000:]
    rows = read_tsv(tmp_path / "out.tsv")
    assert [[float(row["preds/0"])] for row in rows] == kipoi_models.EXAMPLE_PREDICTIONS[model]
    assert store_state(zoo.store) == before


def test_kipoi_test_runs_offline_on_the_read_only_store(zoo, tmp_path):
    before = store_state(zoo.store)
    resolved = run_kipoi("kipoi", "source", "resolve", "--offline", "--json", "zoo:grp/r1", env=zoo.env)
    assert resolved.returncode == 0, resolved.stderr
    kipoi_path = json.loads(resolved.stdout)["kipoi_path"]
    # kipoi's own command on the directory, and ours with a spec (resolved, then handed over).
    for command in ("%s -m kipoi test --source dir %s" % (kipoi_python_of(zoo), shlex.quote(kipoi_path)),
                    "%s -m kipoi_store test zoo:dotted/m1" % kipoi_python_of(zoo)):
        r = as_kipoi_user(zoo, command, cwd=tmp_path)
        assert r.returncode == 0, r.stderr[-3000:]
        assert "All predictions match" in r.stdout + r.stderr
    assert store_state(zoo.store) == before
    verify = run_kipoi("kipoi", "store", "verify", env=zoo.env)
    assert verify.returncode == 0, verify.stdout + verify.stderr


def test_kipoi_test_finds_a_wrong_expectation(zoo, tmp_path):
    """The examples are real: the same test against another model's expectations fails."""
    resolved = run_kipoi("kipoi", "source", "resolve", "--offline", "--examples", "--json", "zoo:grp/r1",
                         "zoo:grp/r2", env=zoo.env)
    assert resolved.returncode == 0, resolved.stderr
    r1, r2 = [json.loads(line) for line in resolved.stdout.splitlines()]
    other = [f for f in r2["files"] if f.endswith("test.expect.h5")]
    assert len(other) == 1
    r = as_kipoi_user(zoo, "%s -m kipoi test --source dir %s -e %s" % (
        kipoi_python_of(zoo), shlex.quote(r1["kipoi_path"]), shlex.quote(other[0])), cwd=tmp_path)
    assert r.returncode == 1
    assert "don't match" in r.stdout + r.stderr


def test_a_command_of_neither_is_answered_by_kipoi_unchanged(kipoi_python, pythonpath, kipoi_env, tmp_path):
    env = dict(kipoi_env, PYTHONPATH=str(pythonpath))
    ours = subprocess.run([str(kipoi_python), "-m", "kipoi_store", "nosuchcmd", "--x"], env=env, cwd=tmp_path,
                          capture_output=True, text=True, timeout=120)
    theirs = subprocess.run([str(kipoi_python), "-m", "kipoi", "nosuchcmd", "--x"], env=env, cwd=tmp_path,
                            capture_output=True, text=True, timeout=120)
    assert ours.returncode == theirs.returncode == 1
    assert "Command `nosuchcmd` not found" in ours.stdout + ours.stderr
    assert (ours.stdout, ours.stderr) == (theirs.stdout, theirs.stderr)


def test_a_spec_that_cannot_be_resolved_stops_before_kipoi(zoo, tmp_path):
    r = as_kipoi_user(zoo, "%s -m kipoi_store predict zoo:nosuch -o out.tsv" % kipoi_python_of(zoo),
                      cwd=tmp_path)
    assert r.returncode == 1
    assert r.stderr.startswith("kipoi: error: ") and "nosuch" in r.stderr
    assert r.stderr.count("\n") == 1


def test_a_user_with_both_tools_on_path_adds_a_source_and_runs_kipoi_on_it(kipoi_python, kipoi_env,
                                                                            model_data, git_server, tmp_path):
    """The issue's promise, step by step: kipoi 0.8.6 installed in its own venv, kipoi_store's
    launchers first on PATH. `kipoi source add lab URL`, `kipoi predict lab:tiny@v1 ...` and
    `kipoi ls` all through our front command; kipoi's own console script still reads the config."""
    from gitserver import serve_config

    with FileServer() as files:
        work = tmp_path / "lab"
        kipoi_models.write_zoo(work, kipoi_models.serve(files, model_data))
        _git(work, "init", "-q", "-b", "main")
        _git(work, "add", "-A")
        _git(work, "commit", "-q", "-m", "tiny models")
        _git(work, "tag", "v1")
        _git(tmp_path, "clone", "-q", "--bare", str(work), str(git_server.root / "lab.git"))
        serve_config(git_server.root / "lab.git")
        env = dict(kipoi_env, PATH=os.pathsep.join([str(BIN), str(kipoi_python.parent), "/usr/bin", "/bin"]))

        def user(*argv):
            return subprocess.run(list(argv), env=env, cwd=tmp_path, capture_output=True, text=True,
                                  timeout=300)

        added = user("kipoi", "source", "add", "lab", git_server.repo_url("lab.git"))
        assert added.returncode == 0, added.stderr
        config = Path(kipoi_env["HOME"], ".kipoi", "config.yaml")
        written = config.read_text()

        table = tmp_path / "mine.txt"
        table.write_bytes(model_data["example.txt"])
        predicted = user("kipoi", "predict", "lab:tiny@v1", "--dataloader_args",
                         json.dumps({"table": str(table)}), "-o", str(tmp_path / "out.tsv"))
        assert predicted.returncode == 0, predicted.stderr[-3000:]
        rows = read_tsv(tmp_path / "out.tsv")
        assert [[float(row["preds/0"])] for row in rows] == kipoi_models.EXAMPLE_PREDICTIONS["tiny"]

        ours = user("kipoi", "ls", "--source", "lab")
        theirs = user(str(kipoi_python.parent / "kipoi"), "ls", "--source", "lab")
        for listed in (ours, theirs):
            assert listed.returncode == 0, listed.stderr[-3000:]
            assert {"tiny", "dotted", "grp/ (2)"} <= set(listed.stdout.splitlines())

    assert config.read_text() == written  # kipoi read our config and left it as it was
    sources = user("kipoi", "source", "list")
    assert sources.returncode == 0, sources.stderr
    assert "lab\tgit" in sources.stdout.splitlines()
    verify = user("kipoi", "store", "verify")
    assert verify.returncode == 0, verify.stdout + verify.stderr
