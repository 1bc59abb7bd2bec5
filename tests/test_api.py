"""The Python API (`kipoi_store.resolve`, `resolve_many`), `--json`'s kipoi_path, and `--examples`:
run in-process on a local source whose models name files on a 127.0.0.1 server."""

import json
import subprocess
import sys
from pathlib import Path

import pytest

from conftest import run_kipoi
from fileserver import FileServer

import kipoi_store
from kipoi_store import errors

SIMPLE = """\
defined_as: model.M
args:
  weights: {url: %(base)s/w.bin, md5: %(w_md5)s}
default_dataloader: .
test:
  expect: {url: %(base)s/expect.h5, md5: %(e_md5)s}
"""
DATALOADER = """\
defined_as: dataloader.D
args:
  table:
    doc: input
    example: {url: %(base)s/table.txt, md5: %(t_md5)s, name: inputs.txt}
  bed:
    doc: regions
    example: {url: %(base)s/regions.bed, md5: %(b_md5)s}
  fasta:
    doc: a nested example kipoi does not download
    example: {genome: {url: %(base)s/nowhere.fa, md5: %(t_md5)s}}
"""
# kipoi reads a row's default_dataloader from the row's own name (grp/a/b/.. is grp/a): the
# group's dataloader, in grp/, is two levels up from row a/b.
TEMPLATE = """\
defined_as: model.M
args:
  weights: {url: {{ url }}, md5: {{ md5 }}}
default_dataloader: ../..
"""
FILES = {"/w.bin": b"weights", "/expect.h5": b"expected", "/table.txt": b"1 2 3\n",
         "/regions.bed": b"chr1\t1\t2\n", "/g1.bin": b"group row one"}


def md5(data):
    import hashlib

    return hashlib.md5(data).hexdigest()


@pytest.fixture
def lab(tmp_path, kipoi_env, monkeypatch):
    """Source `lab` (a folder) with a plain model `simple` and a group `grp` (row `a/b`); the
    environment is also this process's, for the in-process API."""
    with FileServer() as server:
        for path, data in FILES.items():
            server.add(path, data)
        src = tmp_path / "lab"
        (src / "simple").mkdir(parents=True)
        (src / "grp").mkdir()
        values = {"base": server.base, "w_md5": md5(FILES["/w.bin"]), "e_md5": md5(FILES["/expect.h5"]),
                  "t_md5": md5(FILES["/table.txt"]), "b_md5": md5(FILES["/regions.bed"])}
        (src / "simple" / "model.yaml").write_text(SIMPLE % values)
        (src / "simple" / "dataloader.yaml").write_text(DATALOADER % values)
        (src / "grp" / "model-template.yaml").write_text(TEMPLATE)
        (src / "grp" / "models.tsv").write_text("model\turl\tmd5\na/b\t%s/g1.bin\t%s\n"
                                                % (server.base, md5(FILES["/g1.bin"])))
        (src / "grp" / "dataloader.yaml").write_text(DATALOADER % values)
        added = run_kipoi("kipoi", "source", "add", "lab", str(src), env=kipoi_env)
        assert added.returncode == 0, added.stderr
        for key in ("HOME", "KIPOI_HOME"):
            monkeypatch.setenv(key, kipoi_env[key])
        monkeypatch.delenv("KIPOI_OFFLINE", raising=False)
        yield server


def test_resolve_returns_the_directory_and_the_path_for_kipoi(lab, capfd):
    r = kipoi_store.resolve("lab:simple")
    assert Path(r.directory).is_dir() and (Path(r.directory) / "model.yaml").is_file()
    assert r.kipoi_path == r.directory
    assert (r.source, r.model, r.commit, r.pinned, r.files) == ("lab", "simple", None, None, ())
    g = kipoi_store.resolve("lab:grp/a/b")
    assert g.group == "grp"
    assert g.kipoi_path == g.directory + "/a/b"
    assert (Path(g.directory) / "model-template.yaml").is_file()
    assert capfd.readouterr() == ("", "")  # the library prints nothing


def test_resolve_with_files_and_examples_lays_out_what_kipoi_test_reads(lab):
    r = kipoi_store.resolve("lab:simple", examples=True)
    rel = sorted(str(Path(f).relative_to(r.directory)) for f in r.files)
    assert rel == [
        "downloaded/example_files/bed",          # no `name`: the arg's name
        "downloaded/example_files/inputs.txt",   # `name` given
        "downloaded/model_files/test.expect.h5",
        "downloaded/model_files/weights/" + md5(FILES["/w.bin"]),
    ]
    assert (Path(r.directory) / "downloaded/example_files/inputs.txt").read_bytes() == FILES["/table.txt"]
    # The group row's examples sit in the dataloader's own directory (`..` of grp/a/b is grp/a).
    assert [f for f in kipoi_store.resolve("lab:grp/a/b", files=True).files] == [
        kipoi_store.resolve("lab:grp/a/b").directory + "/downloaded/model_files/a/b/weights/"
        + md5(FILES["/g1.bin"])]


def test_examples_come_after_files_and_are_verified(lab, kipoi_env):
    files_only = run_kipoi("kipoi", "source", "resolve", "--files", "--json", "lab:simple", env=kipoi_env)
    assert files_only.returncode == 0, files_only.stderr
    assert not any("example_files" in f for f in json.loads(files_only.stdout)["files"])
    lab.add("/regions.bed", b"other bytes")  # the server now answers with the wrong content
    bad = run_kipoi("kipoi", "source", "resolve", "--examples", "lab:simple", env=kipoi_env)
    assert bad.returncode == 1
    assert "arg bed" in bad.stderr and "wrong content" in bad.stderr
    lab.add("/regions.bed", FILES["/regions.bed"])
    good = run_kipoi("kipoi", "source", "pull", "--examples", "--json", "lab:simple", env=kipoi_env)
    assert good.returncode == 0, good.stderr
    assert sum("example_files" in f for f in json.loads(good.stdout)["files"]) == 2
    verify = run_kipoi("kipoi", "store", "verify", env=kipoi_env)
    assert verify.returncode == 0, verify.stdout + verify.stderr


def test_json_carries_kipoi_path(lab, kipoi_env):
    out = run_kipoi("kipoi", "source", "resolve", "--json", "lab:simple", "lab:grp/a/b", env=kipoi_env)
    assert out.returncode == 0, out.stderr
    simple, row = [json.loads(line) for line in out.stdout.splitlines()]
    assert simple["kipoi_path"] == simple["directory"]
    assert row["kipoi_path"] == row["directory"] + "/a/b"


def test_errors_are_typed_and_carry_the_exit_code(lab):
    with pytest.raises(errors.UnknownSourceError) as bad_source:
        kipoi_store.resolve("nowhere:x")
    assert bad_source.value.exit_code == 2 and "nowhere" in str(bad_source.value)
    with pytest.raises(errors.NotFoundError) as missing:
        kipoi_store.resolve("lab:missing")
    assert missing.value.exit_code == 1
    with pytest.raises(errors.SpecError):
        kipoi_store.resolve("lab:../x")
    with pytest.raises(TypeError):
        kipoi_store.resolve_many("lab:simple")  # one spec is not a list of specs


def test_resolve_many_keeps_order_and_can_return_errors_in_place(lab):
    results = kipoi_store.resolve_many(["lab:grp/a/b", "lab:missing", "lab:simple"], errors="return")
    assert [type(r).__name__ for r in results] == ["Result", "NotFoundError", "Result"]
    assert [results[0].model, results[2].model] == ["grp/a/b", "simple"]
    with pytest.raises(errors.NotFoundError):
        kipoi_store.resolve_many(["lab:simple", "lab:missing"])


def test_offline_uses_only_the_store(lab):
    with pytest.raises(errors.OfflineError) as offline:
        kipoi_store.resolve("lab:simple", files=True, offline=True)
    assert "w.bin" in str(offline.value)
    kipoi_store.resolve("lab:simple", files=True)
    lab.stop()
    again = kipoi_store.resolve("lab:simple", files=True, offline=True)
    assert len(again.files) == 1 and Path(again.files[0]).read_bytes() == FILES["/w.bin"]


def test_import_kipoi_store_stays_light():
    code = ("import sys, kipoi_store; heavy = [m for m in ('kipoi_store.api', 'kipoi_store.kipoi', 'yaml', "
            "'requests', 'kipoi_store.resolve', 'kipoi') if m in sys.modules]; print(heavy)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert out.stdout.strip() == "[]", out.stderr
    code = "import kipoi_store; print(kipoi_store.resolve.__module__, kipoi_store.kipoi.get_model.__module__)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert out.stdout.split() == ["kipoi_store.api", "kipoi_store.kipoi"], out.stderr
