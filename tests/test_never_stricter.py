"""Resolving is never stricter than kipoi 0.8.6: what kipoi loads, we resolve.

A dangling reference (a `default_dataloader` naming a directory without dataloader.yaml, a `../`
file that is missing, a symlink out of reach) is a warning naming the file and line; the model
resolves with everything that exists, and batches and exports go on. What kipoi cannot load at all
(a model.yaml that does not parse, a template that does not render) stays an error, for that spec only.
The proof is kipoi 0.8.6 itself loading the resolved group model whose dataloader dangles.
"""

import json
import os
import subprocess
import tarfile
from pathlib import Path

from .conftest import run_kipoi
from .kipoi_client import require_kipoi

TEMPLATE = """\
defined_as: model.Tiny
args:
  factor: {{ factor }}
default_dataloader: .
info:
  authors:
    - name: t
  doc: tiny {{ model }}
schema:
  inputs:
    shape: (3,)
    doc: x
  targets:
    shape: (1,)
    doc: y
"""
MODEL_PY = """\
from kipoi.model import BaseModel


class Tiny(BaseModel):
    def __init__(self, factor):
        self.factor = factor

    def predict_on_batch(self, x):
        return [sum(x) * self.factor]
"""
ZOO = {
    # A group whose template names `.` as its dataloader, with no dataloader.yaml beside it.
    "G/model-template.yaml": TEMPLATE,
    "G/models.tsv": "model\tfactor\nr1\t2\nr2\t3\n",
    "G/model.py": MODEL_PY,
    # A model reaching for a `../` file its source lacks, and linking out of the source.
    "far/m/model.yaml": "defined_as: model.Tiny\nargs:\n  factor: 1\n  extra: ../gone.json\n",
    "far/m/model.py": MODEL_PY,
    "far/shared.txt": "not referenced",
    # What kipoi cannot load at all.
    "bad/model.yaml": "defined_as: model.Tiny\nargs: {factor: [1\n",
    "B/model-template.yaml": "defined_as: model.Tiny\nargs:\n  factor: {{ factor | no_such_filter }}\n",
    "B/models.tsv": "model\tfactor\nb1\t1\n",
}


def make_zoo(root):
    for path, text in ZOO.items():
        (root / path).parent.mkdir(parents=True, exist_ok=True)
        (root / path).write_text(text)
    os.symlink("../../../outside.txt", root / "far/m/escape.txt")


def zoo_env(tmp_path, kipoi_env):
    make_zoo(tmp_path / "zoo")
    (tmp_path / "outside.txt").write_text("outside the source\n")
    r = run_kipoi("kipoi", "source", "add", "zoo", str(tmp_path / "zoo"), "--type", "local", env=kipoi_env)
    assert r.returncode == 0, r.stderr
    return kipoi_env


# Said once per file and line, however many models (a group's rows) it concerns.
WARNINGS = [
    "kipoi: warning: source 'zoo': G/model-template.yaml line 4: default_dataloader '.' names no "
    "dataloader (no dataloader.yaml there); resolved without it",
    "kipoi: warning: source 'zoo': symlink 'far/m/escape.txt' points outside the source: "
    "'../../../outside.txt'; left out",
    "kipoi: warning: source 'zoo': far/m/model.yaml line 4: '../gone.json' names nothing in the "
    "source; resolved without it",
]


def test_a_batch_resolves_dangling_models_with_warnings_and_errs_only_for_what_kipoi_cannot_load(
        tmp_path, kipoi_env):
    env = zoo_env(tmp_path, kipoi_env)
    specs = ["zoo:G/r1", "zoo:bad", "zoo:far/m", "zoo:B/b1", "zoo:G/r2"]
    # --files renders each group template, as kipoi does on load.
    r = run_kipoi("kipoi", "source", "resolve", "--files", "--stdin", "--json",
                  input="\n".join(specs) + "\n", env=env)
    assert r.returncode == 2  # the worst of the batch: a template that does not render is bad input
    lines = [json.loads(line) for line in r.stdout.splitlines()]
    assert [line["spec"] for line in lines] == specs
    assert [line.get("exit") for line in lines] == [None, 1, None, 2, None]
    warnings = [line for line in r.stderr.splitlines() if line.startswith("kipoi: warning: ")]
    errors = [line for line in r.stderr.splitlines() if not line.startswith("kipoi: warning: ")]
    assert warnings == WARNINGS
    assert len(errors) == 2 and all(e.startswith("kipoi: error: ") for e in errors)
    assert errors[0].startswith("kipoi: error: zoo:bad: model 'bad' in source 'zoo': bad/model.yaml line 3: "
                                "not valid YAML")
    assert errors[1] == ("kipoi: error: zoo:B/b1: B/model-template.yaml:3: cannot render the template: "
                         "No filter named 'no_such_filter'.")
    # Everything that exists came along; the escaping link did not.
    far = Path(lines[2]["directory"])
    assert (far / "model.py").is_file() and not os.path.lexists(far / "escape.txt")
    group = Path(lines[0]["directory"])
    assert sorted(os.listdir(group)) == ["model-template.yaml", "model.py", "models.tsv"]
    assert run_kipoi("kipoi", "store", "verify", env=env).returncode == 0


def test_an_export_of_models_with_dangling_references_goes_on(tmp_path, kipoi_env):
    env = zoo_env(tmp_path, kipoi_env)
    bundle = tmp_path / "models.tar"
    r = run_kipoi("kipoi", "store", "export", "-o", str(bundle), "zoo:G/r1", "zoo:far/m", "zoo:G/r2",
                  env=env)
    assert r.returncode == 0, r.stderr
    assert len(r.stdout.splitlines()) == 3
    assert [line for line in r.stderr.splitlines() if line.startswith("kipoi: warning: ")] == WARNINGS
    with tarfile.open(bundle) as tar:
        assert any(name.endswith(".json") for name in tar.getnames())


LOAD = """
import json, sys
import kipoi
model = kipoi.get_model(sys.argv[1], source="dir", with_dataloader=False)
descr = kipoi.get_model_descr(sys.argv[1], source="dir")
print(json.dumps([model.predict_on_batch([1, 2, 3]), descr.default_dataloader]))
"""


def test_kipoi_itself_loads_the_resolved_group_model_whose_dataloader_dangles(tmp_path, kipoi_env):
    python = require_kipoi()
    env = zoo_env(tmp_path, kipoi_env)
    r = run_kipoi("kipoi", "source", "resolve", "--json", "zoo:G/r2", env=env)
    assert r.returncode == 0, r.stderr
    kipoi_path = json.loads(r.stdout)["kipoi_path"]
    home = tmp_path / "kipoi-home"  # `import kipoi` writes ~/.kipoi/config.yaml: a throwaway HOME
    home.mkdir()
    loaded = subprocess.run([str(python), "-c", LOAD, kipoi_path], capture_output=True, text=True,
                            env=dict(os.environ, HOME=str(home), PYTHONDONTWRITEBYTECODE="1"),
                            cwd=tmp_path, timeout=300)
    assert loaded.returncode == 0, loaded.stderr[-3000:]
    assert json.loads(loaded.stdout.splitlines()[-1]) == [[18], "."]
