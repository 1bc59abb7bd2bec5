"""A whole zoo in one batch: every models.tsv, template and yaml is parsed once per run (with
PyYAML's C loader when it has one), and a git source's cold batch fetches its files in a few round
trips however many models it holds. Real parts: a kipoi-shaped zoo (a group of rows and a family of
models sharing a `..` dataloader through symlinks), as a local folder and as a repository built with
git and served by `git http-backend` on 127.0.0.1, whose request log counts what was fetched."""

import yaml

import kipoi_store
from kipoi_store.models import catalog, yamldoc

from .conftest import run_kipoi
from .gitserver import build_kipoi_repo, write

ROWS, FAMILY = 30, 8

TEMPLATE = """\
defined_as: model.Model
args:
  weights: {{ model }}/weights.bin
  n_out: {{ n_out }}
default_dataloader: ..
info:
  doc: row {{ model }}
"""
MODEL = """\
defined_as: model.Model
args:
  weights: weights.bin
  arch: ../model_architecture.py
default_dataloader: ..
info:
  doc: family model
"""
DATALOADER = "defined_as: dataloader.Dl\nargs:\n  path:\n    example: example.txt\n"


def zoo_files():
    files = {
        "Group/model-template.yaml": TEMPLATE,
        "Group/models.tsv": "# rows\nmodel\tn_out\n" + "".join("r%02d\t%d\n" % (i, i % 3 + 1)
                                                          for i in range(ROWS)),
        "Group/model.py": "class Model: pass\n",
        "Group/dataloader.yaml": DATALOADER,
        "Group/dataloader.py": "class Dl: pass\n",
        "Group/example.txt": "1 2 3\n",
        "Fam/dataloader.yaml": DATALOADER + "info:\n  doc: the family's\n",
        "Fam/dataloader.py": "class Dl: pass\n",
        "Fam/example.txt": "1 2 3\n",
        "Fam/model_architecture.py": "LAYERS = 3\n",
        "Fam/template/model.py": "class Model: pass\n",
    }
    for i in range(ROWS):
        files["Group/r%02d/weights.bin" % i] = "weights of row %d\n" % i
    for i in range(FAMILY):
        files["Fam/m%d/model.yaml" % i] = MODEL
        files["Fam/m%d/model.py" % i] = ("link", "../template/model.py")
        files["Fam/m%d/weights.bin" % i] = "weights of model %d\n" % i
    return files


SPECS = ["Group/r%02d" % i for i in range(ROWS)] + ["Fam/m%d" % i for i in range(FAMILY)]


def add(env, name, location):
    r = run_kipoi("kipoi", "source", "add", name, location, env=env)
    assert r.returncode == 0, r.stderr


def test_a_batch_parses_each_table_and_yaml_once(tmp_path, monkeypatch):
    zoo = tmp_path / "zoo"
    write(zoo, zoo_files())
    env = {"HOME": str(tmp_path), "KIPOI_HOME": str(tmp_path / "kipoi-home"), "PATH": "/usr/bin:/bin"}
    add(env, "zoo", str(zoo))
    tables, loaders = [], []
    rows_of, load = catalog._rows_of, yaml.load
    monkeypatch.setattr(catalog, "_rows_of", lambda text, problems: tables.append(text) or rows_of(
        text, problems))
    monkeypatch.setattr(yaml, "load", lambda data, Loader: loaders.append(Loader) or load(data, Loader))
    catalog._parse_rows.cache_clear()  # what earlier tests of this process parsed
    yamldoc.parse_lenient.cache_clear()

    results = kipoi_store.resolve_many(["zoo:" + s for s in SPECS])

    assert [r.model for r in results] == SPECS
    assert len(tables) == 1  # the group's models.tsv, for all its rows
    # Each yaml once: the template, two dataloader.yaml and each family model's own model.yaml.
    assert len(loaders) == 1 + 2 + FAMILY
    assert set(loaders) == {getattr(yaml, "CSafeLoader", yaml.SafeLoader)}
    # What each model needs came along: its row's weights only, the family's `..` files, the link.
    row = tmp_path / results[3].directory
    assert (row / "r03" / "weights.bin").read_text() == "weights of row 3\n"
    assert not (row / "r04").exists()
    fam = results[ROWS].kipoi_path
    assert sorted(p.name for p in (tmp_path / fam).parent.iterdir()) == [
        "dataloader.py", "dataloader.yaml", "example.txt", "m0", "model_architecture.py", "template"]


def test_a_cold_git_batch_fetches_in_a_few_round_trips(kipoi_env, git_server):
    repo = build_kipoi_repo(git_server.root / "zoo.git", history=[("the zoo", zoo_files())])
    add(kipoi_env, "zoo", git_server.repo_url("zoo.git"))
    listed = run_kipoi("kipoi", "source", "models", "zoo", "--specs", env=kipoi_env)
    assert listed.stdout.split() == sorted("zoo:" + s for s in SPECS)
    git_server.clear()

    r = run_kipoi("kipoi", "source", "resolve", "--stdin", input=listed.stdout, env=kipoi_env)

    assert r.returncode == 0, r.stderr
    assert len(r.stdout.splitlines()) == len(SPECS)
    assert all("/snapshots/%s/" % repo.head in line for line in r.stdout.splitlines())
    # The batch's files came in one fetch (and one more for what the closures found beyond it),
    # not one per model: 38 models, a handful of requests.
    fetches = git_server.count(repo="zoo.git", service="git-upload-pack", method="POST")
    assert 1 <= fetches <= 3
