"""A synthetic model zoo in the shape of kipoi/models, for scripts/bench_zoo (stdlib only).

    counts = write_zoo(root)      # {"model directories": 112, "group rows": 2115, ...}

The shape (see /work/shared/NOTES.md, "kipoi/models, the default source"):
    Fam0..Fam7/m00..m11     model.yaml with `default_dataloader: ..` (the family's dataloader.yaml),
                            `../model_architecture.py` in args, model.py a symlink to
                            `../template/model.py`; Fam*/template holds a model.yaml (hidden by listings)
    Solo00..Solo11          self-contained models with `default_dataloader: .`
    Deep/a/b/m0..m3         models three segments deep, dataloader.py a symlink into Fam0/
    Group0                  a group of 900 rows named `Homo_sapiens/TF/D00000_...` (as DeepBind),
                            `default_dataloader: ../../..`
    Group1..Group9          groups of 135 rows; Group1 keeps one weights directory per row (as old
                            DeepBind), Group2 links its dataloader.py into ../Fam0/
Every yaml is valid for kipoi 0.8.6 (`kipoi ls` describes every model), templates go through Jinja2,
and models.tsv has comments, ints, floats with NA and bools, as pandas reads them.
"""

import os
import random

FAMILIES, FAMILY_SIZE, SOLOS, DEEP = 8, 12, 12, 4
BIG_GROUP_ROWS, GROUP_ROWS, GROUPS = 900, 135, 10

MODEL_YAML = """\
defined_as: model.ZooModel
args:
  weights: weights.bin
  arch: {arch}
default_dataloader: {loader}
info:
  authors:
    - name: Bench Author
      github: bench
  doc: Synthetic model {name}, made by scripts/zoomaker.py for benchmarks.
  version: 0.1
  tags:
    - bench
    - {tag}
schema:
  inputs:
    shape: (3, )
    doc: three numbers
  targets:
    shape: (1, )
    doc: one number
"""

TEMPLATE_YAML = """\
defined_as: model.ZooModel
args:
  weights: {weights}
  n_out: {{{{ n_out }}}}
default_dataloader: {loader}
info:
  authors:
    - name: Bench Author
  doc: "Row {{{{ model }}}} of {group}: {{{{ doc }}}} (score {{{{ score }}}})"
  version: 0.1
  tags:
    - {{{{ tag }}}}
{{% if flag %}}
  license: MIT
{{% endif %}}
schema:
  inputs:
    shape: (3, )
    doc: three numbers
  targets:
    shape: ({{{{ n_out }}}}, )
    doc: the outputs
"""

DATALOADER_YAML = """\
defined_as: dataloader.ZooDL
args:
  path:
    doc: a text table
    example: example.txt
info:
  authors:
    - name: Bench Author
  doc: Synthetic dataloader {name}
output_schema:
  inputs:
    shape: (3, )
    doc: three numbers
  targets:
    shape: (1, )
    doc: one number
"""

MODEL_PY = """\
from kipoi.model import BaseModel


class ZooModel(BaseModel):
    def __init__(self, weights, arch=None, n_out=1):
        self.weights = weights

    def predict_on_batch(self, x):
        return x
"""

DATALOADER_PY = """\
from kipoi.data import Dataset


class ZooDL(Dataset):
    def __init__(self, path):
        self.path = path

    def __len__(self):
        return 1

    def __getitem__(self, i):
        return {"inputs": [1.0, 2.0, 3.0], "targets": [0.0]}
"""


def _write(root, path, data):
    full = os.path.join(root, path)
    os.makedirs(os.path.dirname(full), exist_ok=True)
    with open(full, "wb") as f:
        f.write(data.encode() if isinstance(data, str) else data)


def _link(root, path, target):
    full = os.path.join(root, path)
    os.makedirs(os.path.dirname(full), exist_ok=True)
    os.symlink(target, full)


def _weights(rng, n=4096):
    return bytes(rng.getrandbits(8) for _ in range(n))


def _dataloader(root, directory, name):
    _write(root, directory + "/dataloader.yaml", DATALOADER_YAML.format(name=name))
    _write(root, directory + "/dataloader.py", DATALOADER_PY)
    _write(root, directory + "/example.txt", "1 2 3\n4 5 6\n")


def _rows(rng, names, nan_every=0):
    lines = ["# synthetic rows: model, outputs, description, score, flag, tag",
             "model\tn_out\tdoc\tscore\tflag\ttag"]
    for i, name in enumerate(names):
        score = "NA" if nan_every and i % nan_every == 0 else "%.3f" % rng.random()
        lines.append("%s\t%d\t\"trained on set %d\"\t%s\t%s\ttag%d" % (
            name, 1 + i % 3, i, score, "True" if i % 2 else "False", i % 7))
        if i % 100 == 50:
            lines.append("# a comment between rows")
    return "\n".join(lines) + "\n"


def write_zoo(root, seed=13):
    """Write the zoo into the directory `root`; returns what it holds, counted."""
    rng = random.Random(seed)
    dirs = 0
    for f in range(FAMILIES):
        fam = "Fam%d" % f
        _dataloader(root, fam, fam)
        _write(root, fam + "/model_architecture.py", "LAYERS = %d\n" % (f + 2))
        _write(root, fam + "/template/model.py", MODEL_PY)
        _write(root, fam + "/template/model.yaml", MODEL_YAML.format(
            arch="../model_architecture.py", loader="..", name=fam + "/template", tag="template"))
        for i in range(FAMILY_SIZE):
            d = "%s/m%02d" % (fam, i)
            _write(root, d + "/model.yaml", MODEL_YAML.format(
                arch="../model_architecture.py", loader="..", name=d, tag=fam))
            _link(root, d + "/model.py", "../template/model.py")
            _write(root, d + "/weights.bin", _weights(rng))
            dirs += 1
    for i in range(SOLOS):
        d = "Solo%02d" % i
        _write(root, d + "/model.yaml", MODEL_YAML.format(arch="model.py", loader=".", name=d, tag="solo"))
        _write(root, d + "/model.py", MODEL_PY)
        _write(root, d + "/weights.bin", _weights(rng))
        _dataloader(root, d, d)
        dirs += 1
    for i in range(DEEP):
        d = "Deep/a/b/m%d" % i
        _write(root, d + "/model.yaml", MODEL_YAML.format(arch="model.py", loader=".", name=d, tag="deep"))
        _write(root, d + "/model.py", MODEL_PY)
        _write(root, d + "/weights.bin", _weights(rng))
        _write(root, d + "/dataloader.yaml", DATALOADER_YAML.format(name=d))
        _link(root, d + "/dataloader.py", "../../../../Fam0/dataloader.py")
        _write(root, d + "/example.txt", "1 2 3\n")
        dirs += 1
    rows = 0
    for g in range(GROUPS):
        group = "Group%d" % g
        if g == 0:
            names = ["Homo_sapiens/TF/D%05d_%s" % (i, "ABCDEFGH"[i % 8] * 3) for i in range(BIG_GROUP_ROWS)]
            loader = "../../.."
        else:
            names = ["%s_%04d" % (group, i) for i in range(GROUP_ROWS)]
            loader = ".."
        weights = "{{ model }}/weights.bin" if g == 1 else "weights.bin"
        _write(root, group + "/model-template.yaml", TEMPLATE_YAML.format(
            weights=weights, loader=loader, group=group))
        _write(root, group + "/models.tsv", _rows(rng, names, nan_every=7 if g % 3 == 0 else 0))
        _write(root, group + "/model.py", MODEL_PY)
        _write(root, group + "/dataloader.yaml", DATALOADER_YAML.format(name=group))
        _write(root, group + "/example.txt", "1 2 3\n")
        if g == 2:
            _link(root, group + "/dataloader.py", "../Fam0/dataloader.py")
        else:
            _write(root, group + "/dataloader.py", DATALOADER_PY)
        if g == 1:
            for name in names:
                _write(root, "%s/%s/weights.bin" % (group, name), _weights(rng, 512))
        else:
            _write(root, group + "/weights.bin", _weights(rng))
        rows += len(names)
    return {"model directories": dirs, "groups": GROUPS, "group rows": rows, "models": dirs + rows}
