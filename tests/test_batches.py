"""A batch of specs says which spec failed, and why, and where: every error line names its spec;
with --json every input spec gets exactly one line, in input order, failures included; a remote
that failed is not asked again for the rest of the run. Real parts: the demo models as a local
source, a real `git http-backend` server on 127.0.0.1 whose request log counts what was asked."""

import json
import shutil

from kipoi_store.demo import DEMO_ROOT

from .conftest import run_kipoi
from .gitserver import build_kipoi_repo


def add(env, name, location, *more):
    r = run_kipoi("kipoi", "source", "add", name, location, *more, env=env)
    assert r.returncode == 0, r.stderr


def resolve(env, *args, specs=None):
    return run_kipoi("kipoi", "source", "resolve", *args,
                     input=None if specs is None else "".join(s + "\n" for s in specs), env=env)


def test_json_gives_one_object_per_spec_in_input_order(kipoi_env, git_server):
    add(kipoi_env, "demo", str(DEMO_ROOT))
    add(kipoi_env, "gone", git_server.repo_url("gone.git"), "--type", "git")  # the server has none
    specs = ["demo:Basset", "gone:A", "demo:/etc/passwd", "gone:B@v1", "demo:Nope", "nosuch:X",
             "demo:rbp_eclip/UPF1"]
    r = resolve(kipoi_env, "--stdin", "--json", specs=specs)
    assert r.returncode == 2  # the worst: a bad spec and an unknown source are bad input
    records = [json.loads(line) for line in r.stdout.splitlines()]
    assert [rec["spec"] for rec in records] == specs
    assert [rec.get("exit", 0) for rec in records] == [0, 1, 2, 1, 1, 2, 0]
    assert records[0]["path"] == "Basset" and records[6]["path"] == "rbp_eclip/UPF1"
    failures = [rec for rec in records if "error" in rec]
    assert all(set(rec) == {"spec", "error", "exit"} for rec in failures)
    # stderr: one line per failure, each naming its spec; git's own reason, and the source.
    lines = r.stderr.splitlines()
    assert len(lines) == 5 and [rec["spec"] for rec in failures] == [
        next(s for s in specs if s in line) for line in lines]
    assert lines == ["kipoi: error: " + rec["error"] for rec in failures]
    assert lines[0].startswith("kipoi: error: gone:A: source 'gone': cannot fetch ref 'HEAD' from "
                               "git remote %s" % git_server.repo_url("gone.git"))
    assert "fatal: repository '%s/' not found" % git_server.repo_url("gone.git") in lines[0]
    assert lines[3] == "kipoi: error: demo:Nope: model 'Nope' not found in source 'demo'"


def test_a_remote_that_failed_is_asked_once_per_run(kipoi_env, git_server):
    add(kipoi_env, "gone", git_server.repo_url("gone.git"), "--type", "git")
    one = resolve(kipoi_env, "gone:A")
    asked_once = git_server.count(repo="gone.git")
    assert one.returncode == 1 and asked_once >= 1
    git_server.clear()
    many = resolve(kipoi_env, "--stdin", specs=["gone:A", "gone:B", "gone:C@v1", "gone:D"])
    assert many.returncode == 1
    assert git_server.count(repo="gone.git") == asked_once
    reasons = [line.split(": ", 3)[3] for line in many.stderr.splitlines()]
    assert len(reasons) == 4 and len(set(reasons)) == 1
    assert reasons[0].startswith("source 'gone': cannot fetch")


def test_a_failing_remote_with_cached_answers_warns_once_and_serves_the_store(kipoi_env, git_server):
    repo = build_kipoi_repo(git_server.root / "lab.git")
    add(kipoi_env, "lab", git_server.repo_url("lab.git"), "--type", "git")
    specs = ["lab:Basset", "lab:CpGenie/A549", "lab:rbp_eclip/XRCC6"]
    first = resolve(kipoi_env, "--stdin", specs=specs)
    assert first.returncode == 0, first.stderr
    shutil.move(str(repo.bare), str(git_server.root / "moved.git"))  # the server answers 404 now
    git_server.clear()
    again = resolve(kipoi_env, "--refresh", "--stdin", specs=specs)
    assert (again.returncode, again.stdout) == (0, first.stdout)
    [warning] = again.stderr.splitlines()
    assert warning.startswith("kipoi: warning: cannot fetch ref 'HEAD' from git remote %s"
                              % git_server.repo_url("lab.git"))
    assert "using the cached commit %s" % repo.head[:12] in warning
    assert git_server.count(repo="lab.git") == 1  # one request; the next specs do not ask


def test_offline_errors_name_the_source(kipoi_env, git_server):
    add(kipoi_env, "lab", git_server.repo_url("lab.git"), "--type", "git")
    r = run_kipoi("kipoi", "source", "resolve", "--offline", "lab:Basset", "--json", env=kipoi_env)
    assert r.returncode == 1
    [record] = [json.loads(line) for line in r.stdout.splitlines()]
    assert record["error"].startswith("lab:Basset: source 'lab': offline: ")
    assert r.stderr == "kipoi: error: %s\n" % record["error"]


def test_a_bad_config_fails_every_spec_once_each_in_json(kipoi_env, tmp_path):
    config = tmp_path / "home" / ".kipoi" / "config.yaml"
    config.parent.mkdir(parents=True)
    config.write_text("model_sources:\n  x:\n    type: nonsense\n")
    r = resolve(kipoi_env, "--stdin", "--json", specs=["x:A", "kipoi:B"])
    assert r.returncode == 2
    records = [json.loads(line) for line in r.stdout.splitlines()]
    assert [(rec["spec"], rec["exit"]) for rec in records] == [("x:A", 2), ("kipoi:B", 2)]
    assert r.stderr.count("\n") == 1 and str(config) in r.stderr


def test_pin_json_pairs_each_spec_with_its_pin(kipoi_env, git_server):
    repo = build_kipoi_repo(git_server.root / "lab.git")
    add(kipoi_env, "lab", git_server.repo_url("lab.git"), "--type", "git")
    add(kipoi_env, "demo", str(DEMO_ROOT))
    r = run_kipoi("kipoi", "source", "pin", "--json", "lab:Basset", "demo:Basset", env=kipoi_env)
    assert r.returncode == 2
    good, bad = [json.loads(line) for line in r.stdout.splitlines()]
    assert good == {"spec": "lab:Basset", "pinned": "lab:Basset@" + repo.head}
    assert bad["spec"] == "demo:Basset" and bad["exit"] == 2 and "local folder" in bad["error"]
