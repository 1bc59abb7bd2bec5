"""`kipoi source pull` end to end: a local source whose models name files on a 127.0.0.1 server,
a dead first host with a mirror in url_rewrites, then everything again offline from the store."""

import hashlib
import json
import os
from pathlib import Path

import pytest

from conftest import run_kipoi
from fileserver import FileServer

WEIGHTS = b"simple weights " * 1000
GENOME = b">chr1\nACGT\n" * 500
R1, R2 = b"row one weights" * 50, b"row two weights" * 70


def md5(data):
    return hashlib.md5(data).hexdigest()


def write(root, path, text):
    full = Path(root) / path
    full.parent.mkdir(parents=True, exist_ok=True)
    full.write_text(text)


@pytest.fixture
def setup(tmp_path, kipoi_env):
    """Servers, a source folder, and a config with a source `mine` and a url_rewrites rule."""
    with FileServer() as dead, FileServer() as mirror:
        mirror.add("/zenodo/record/1/w.h5", WEIGHTS)
        mirror.add("/genome.fa", GENOME)
        mirror.add("/zenodo/rows/r1.h5", R1)
        mirror.add("/zenodo/rows/r2.h5", R2)
        src = tmp_path / "src"
        write(src, "simple/model.yaml", """\
type: keras
args:
  weights:
    url: %s/record/1/w.h5?download=1
    md5: %s
  arch: model_files/arch.json
default_dataloader: .
""" % (dead.base, md5(WEIGHTS)))
        write(src, "simple/model_files/arch.json", "{}\n")
        write(src, "simple/dataloader.yaml", """\
defined_as: dataloader.Dl
args:
  fasta_file:
    doc: the genome
    default:
      url: %s/genome.fa
      md5: %s
""" % (mirror.base, md5(GENOME)))
        write(src, "grp/model-template.yaml", """\
type: keras
args:
  weights:
    url: {{ weights_url }}
    md5: {{ weights_md5 }}
default_dataloader: ..
""")
        write(src, "grp/models.tsv", "model\tweights_url\tweights_md5\n"
                                     "r1\t%s/rows/r1.h5\t%s\nsub/r2\t%s/rows/r2.h5\t%s\n"
              % (dead.base, md5(R1), dead.base, md5(R2)))
        # the default dataloader of grp/r1 (`..` from the row's name) shares the genome
        write(src, "grp/dataloader.yaml", open(src / "simple/dataloader.yaml").read())
        # ... and that of grp/sub/r2 is grp/sub (kipoi normalises `grp/sub/r2/..`): no remote files
        write(src, "grp/sub/dataloader.yaml", "defined_as: dataloader.Dl\n")
        out = run_kipoi("kipoi-source-add", "mine", str(src), env=kipoi_env)
        assert out.returncode == 0, out.stderr
        config = Path(kipoi_env["KIPOI_HOME"]) / "config.yaml"
        with open(config, "a") as f:
            f.write("url_rewrites:\n  %s/:\n    - %s/nowhere/\n    - %s/zenodo/\n"
                    % (dead.base, dead.base, mirror.base))
        yield dead, mirror, src, kipoi_env


def test_pull_fetches_lays_out_and_then_works_offline(setup):
    dead, mirror, src, env = setup
    specs = ["mine:simple", "mine:grp/r1", "mine:grp/sub/r2"]
    out = run_kipoi("kipoi-source-pull", *specs, env=env)
    assert out.returncode == 0, out.stderr
    simple, r1, r2 = [Path(line) for line in out.stdout.splitlines()]
    assert r1 == r2  # a group model's directory is the group's
    expected = {
        simple / "downloaded/model_files/weights" / md5(WEIGHTS): WEIGHTS,
        simple / "downloaded/dataloader_files" / md5(GENOME): GENOME,
        r1 / "downloaded/model_files/r1/weights" / md5(R1): R1,
        r1 / "downloaded/model_files/sub/r2/weights" / md5(R2): R2,
        r1 / "downloaded/dataloader_files" / md5(GENOME): GENOME,
    }
    for path, data in expected.items():
        assert path.read_bytes() == data, path
    # the dead host was asked once per file (the first mirror), the genome fetched once for both
    assert sorted(p for p, _, _ in dead.log) == ["/nowhere/record/1/w.h5?download=1",
                                                 "/nowhere/rows/r1.h5", "/nowhere/rows/r2.h5"]
    assert sorted(p for p, _, _ in mirror.log) == ["/genome.fa", "/zenodo/record/1/w.h5?download=1",
                                                   "/zenodo/rows/r1.h5", "/zenodo/rows/r2.h5"]

    asked = len(dead.log) + len(mirror.log)
    dead.stop(), mirror.stop()  # no network from here on
    again = run_kipoi("kipoi-source-pull", "--offline", "--json", *specs, env=env)
    assert again.returncode == 0, again.stderr
    docs = [json.loads(line) for line in again.stdout.splitlines()]
    assert [Path(d["directory"]) for d in docs] == [simple, r1, r2]
    assert set(docs[0]["files"]) == {str(p) for p in expected if str(p).startswith(str(simple) + "/")}
    assert docs[2]["files"] == [str(r1 / "downloaded/model_files/sub/r2/weights" / md5(R2))]
    assert len(dead.log) + len(mirror.log) == asked

    verify = run_kipoi("kipoi-store-verify", "--json", env=env)
    assert verify.returncode == 0, verify.stdout + verify.stderr
    report = json.loads(verify.stdout)
    assert report["problems"] == [] and report["files_checked"] >= len(expected)


def test_known_bytes_serve_a_new_model_offline_and_unknown_ones_are_named(setup):
    dead, mirror, src, env = setup
    assert run_kipoi("kipoi-source-pull", "mine:simple", env=env).returncode == 0
    # a model added later, pointing elsewhere at the same weights, needs no download at all
    write(src, "copy/model.yaml", "type: keras\nargs:\n  w:\n    url: https://unreachable.invalid/w\n"
                                  "    md5: %s\ndefault_dataloader: {defined_as: x.Y}\n" % md5(WEIGHTS))
    out = run_kipoi("kipoi-source-pull", "--offline", "mine:copy", env=env)
    assert out.returncode == 0, out.stderr
    assert (Path(out.stdout.strip()) / "downloaded/model_files/w" / md5(WEIGHTS)).read_bytes() == WEIGHTS
    missing = run_kipoi("kipoi-source-pull", "--offline", "mine:grp/r1", env=env)
    assert missing.returncode == 1 and missing.stdout == ""
    # The line names the spec once (not "mine:grp/r1: model mine:grp/r1: ...").
    assert "kipoi: error: mine:grp/r1: 1 file not in the store (offline): weights %s/rows/r1.h5\n" \
        % dead.base in missing.stderr


def test_wrong_content_everywhere_fails_naming_model_arg_and_url(setup):
    dead, mirror, src, env = setup
    mirror.add("/zenodo/record/1/w.h5", WEIGHTS, fault="wrong")
    out = run_kipoi("kipoi-source-pull", "mine:simple", env=env)
    assert out.returncode == 1 and out.stdout == ""
    assert "kipoi: error: mine:simple: arg weights: wrong content from %s/zenodo/record/1/w.h5" \
        % mirror.base in out.stderr
    assert "Traceback" not in out.stderr
    # nothing unverified was kept: a second try with the bytes fixed downloads and succeeds
    mirror.add("/zenodo/record/1/w.h5", WEIGHTS)
    assert run_kipoi("kipoi-source-pull", "mine:simple", env=env).returncode == 0


def test_a_model_without_remote_files_pulls_like_resolve(setup, tmp_path):
    dead, mirror, src, env = setup
    write(src, "plain/model.yaml", "type: keras\nargs:\n  weights: model_files/w.h5\n")
    pulled = run_kipoi("kipoi-source-pull", "mine:plain", env=env)
    resolved = run_kipoi("kipoi-source-resolve", "mine:plain", env=env)
    assert (pulled.returncode, pulled.stdout) == (0, resolved.stdout)
    assert not os.path.exists(Path(pulled.stdout.strip()) / "downloaded")


def test_resolve_with_files_is_pull_without_the_progress_line(setup):
    dead, mirror, src, env = setup
    plain = run_kipoi("kipoi", "source", "resolve", "mine:simple", env=env)
    assert plain.returncode == 0, plain.stderr
    simple = Path(plain.stdout.strip())
    assert not (simple / "downloaded").exists()  # without --files, nothing is downloaded
    assert dead.log == [] and mirror.log == []
    with_files = run_kipoi("kipoi", "source", "resolve", "--files", "--json", "mine:simple", env=env)
    assert with_files.returncode == 0, with_files.stderr
    doc = json.loads(with_files.stdout)
    assert Path(doc["directory"]) == simple
    weights = simple / "downloaded/model_files/weights" / md5(WEIGHTS)
    assert str(weights) in doc["files"] and weights.read_bytes() == WEIGHTS
    dead.stop(), mirror.stop()
    offline = run_kipoi("kipoi", "source", "resolve", "--files", "--offline", "mine:simple", env=env)
    assert offline.returncode == 0 and offline.stdout.strip() == str(simple)
