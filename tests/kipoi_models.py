"""A small numpy-only kipoi model zoo in three shapes, for running kipoi 0.8.6 on what we resolve.

    data = make_data(kipoi_python, tmp)      # weights, scales, example inputs, expected predictions
    urls = serve(server, data)               # {name: (url, md5)} on a 127.0.0.1 FileServer
    write_zoo(root, urls)                    # the model sources below, in a folder

    tiny/                 a plain model: model.yaml (`defined_as: model.TinyModel`, weights {url, md5},
                          `test: expect: {url, md5}`), model.py, and its dataloader (`default_dataloader: .`,
                          dataloader.yaml with a remote `default` and an `example`, dataloader.py)
    grp/                  a group: model-template.yaml + models.tsv with rows r1 and r2 (own weights
                          and expectations), model.py, and the dataloader the rows reach with `..`
    dotted/m1/            a model whose `default_dataloader: ..` names dotted/dataloader.yaml with the
                          dotted `defined_as: dataloader.TinyDL` (dataloader.py lives in dotted/)

The model predicts `x @ weights + OFFSET` (OFFSET is 100 in dotted/, else 0); the dataloader reads
a text table and multiplies it by the scale.
The binary files are made with the kipoi venv's numpy and h5py (our venv has neither).
"""

import hashlib
import subprocess
from pathlib import Path

MAKE_DATA = r"""
import sys
import h5py
import numpy as np
out = sys.argv[1]
scale = np.array([1.0, 0.5, 2.0], dtype="float32")
table = np.array([[1, 2, 3], [4, 5, 6], [7, 8, 9]], dtype="float32")
np.save(out + "/scale.npy", scale)
np.savetxt(out + "/example.txt", table)
weights = {"w1": [1.0, 2.0, 3.0], "w2": [-1.0, 0.0, 10.0]}
for name, column in weights.items():
    np.save(out + "/%s.npy" % name, np.array(column, dtype="float32").reshape(3, 1))
for name, offset in (("w1", 0), ("w2", 0), ("w2", 100)):
    w = np.array(weights[name], dtype="float32").reshape(3, 1)
    with h5py.File(out + "/expect_%s_%d.h5" % (name, offset), "w") as f:
        f.create_dataset("inputs", data=table * scale)
        f.create_dataset("preds", data=(table * scale) @ w + offset)
"""
FILES = ("scale.npy", "example.txt", "w1.npy", "w2.npy", "expect_w1_0.h5", "expect_w2_0.h5",
         "expect_w2_100.h5")

# Each shape's model.py adds its own OFFSET: a model that ran another's module (kipoi imports
# `model` by name) would be seen.
MODEL_PY = """\
import numpy as np
from kipoi.model import BaseModel

OFFSET = {offset}


class TinyModel(BaseModel):
    def __init__(self, weights):
        self.weights = np.load(weights)

    def predict_on_batch(self, x):
        return x @ self.weights + OFFSET
"""

DATALOADER_PY = """\
import numpy as np
from kipoi.data import Dataset


class TinyDL(Dataset):
    def __init__(self, table, scale=None):  # kipoi overrides only args that have a default
        self.x = (np.loadtxt(table, ndmin=2) * np.load(scale)).astype("float32")

    def __len__(self):
        return len(self.x)

    def __getitem__(self, i):
        return {"inputs": self.x[i]}
"""

INFO = """\
info:
  authors:
    - name: kipoi_store tests
  doc: a weighted sum of three numbers
"""

MODEL_YAML = """\
defined_as: model.TinyModel
args:
  weights:
    url: {weights_url}
    md5: {weights_md5}
default_dataloader: {dataloader}
""" + INFO + """\
dependencies:
  pip:
    - numpy
schema:
  inputs:
    shape: (3,)
    doc: three numbers
  targets:
    shape: (1,)
    doc: their weighted sum
test:
  expect:
    url: {expect_url}
    md5: {expect_md5}
"""

DATALOADER_YAML = """\
defined_as: dataloader.TinyDL
args:
  table:
    doc: a text table, three numbers a row
    example:
      url: {example_url}
      md5: {example_md5}
  scale:
    doc: a scale for each column
    default:
      url: {scale_url}
      md5: {scale_md5}
""" + INFO + """\
output_schema:
  inputs:
    shape: (3,)
    doc: the scaled numbers
"""

MODELS = ("tiny", "grp/r1", "grp/r2", "dotted/m1")
# What each model predicts for the example table, row by row, and for a row of ones (MAKE_DATA).
EXAMPLE_PREDICTIONS = {"tiny": [[21.0], [45.0], [69.0]], "grp/r1": [[21.0], [45.0], [69.0]],
                       "grp/r2": [[59.0], [116.0], [173.0]], "dotted/m1": [[159.0], [216.0], [273.0]]}
ONES_PREDICTION = {"tiny": 6.0, "grp/r1": 6.0, "grp/r2": 9.0, "dotted/m1": 109.0}


def md5(data):
    return hashlib.md5(data).hexdigest()


def make_data(python, directory):
    """{file name: bytes} of FILES, made by the kipoi venv's `python` in `directory`."""
    directory = Path(directory)
    directory.mkdir(parents=True, exist_ok=True)
    subprocess.run([str(python), "-c", MAKE_DATA, str(directory)], check=True, timeout=120)
    return {name: (directory / name).read_bytes() for name in FILES}


def serve(server, data):
    """Add every file to a FileServer; {name: (url, md5)}."""
    return {name: (server.add("/files/" + name, data[name]), md5(data[name])) for name in data}


def _write(root, path, text):
    full = Path(root) / path
    full.parent.mkdir(parents=True, exist_ok=True)
    full.write_text(text)


def write_zoo(root, urls):
    """The three shapes under `root` (see the module docstring)."""
    def model_yaml(weights, offset, dataloader):
        expect = "expect_%s_%d.h5" % (weights, offset)
        (weights_url, weights_md5), (expect_url, expect_md5) = urls[weights + ".npy"], urls[expect]
        return MODEL_YAML.format(weights_url=weights_url, weights_md5=weights_md5, expect_url=expect_url,
                                 expect_md5=expect_md5, dataloader=dataloader)

    dataloader_yaml = DATALOADER_YAML.format(example_url=urls["example.txt"][0],
                                             example_md5=urls["example.txt"][1],
                                             scale_url=urls["scale.npy"][0], scale_md5=urls["scale.npy"][1])
    _write(root, "tiny/model.yaml", model_yaml("w1", 0, "."))
    _write(root, "tiny/model.py", MODEL_PY.format(offset=0))
    _write(root, "tiny/dataloader.yaml", dataloader_yaml)
    _write(root, "tiny/dataloader.py", DATALOADER_PY)

    template = MODEL_YAML.format(weights_url="{{ weights_url }}", weights_md5="{{ weights_md5 }}",
                                 expect_url="{{ expect_url }}", expect_md5="{{ expect_md5 }}",
                                 dataloader="..")
    _write(root, "grp/model-template.yaml", template)
    rows = ["model\tweights_url\tweights_md5\texpect_url\texpect_md5"]
    for row, weights in (("r1", "w1"), ("r2", "w2")):
        rows.append("\t".join([row, *urls[weights + ".npy"], *urls["expect_%s_0.h5" % weights]]))
    _write(root, "grp/models.tsv", "\n".join(rows) + "\n")
    _write(root, "grp/model.py", MODEL_PY.format(offset=0))
    _write(root, "grp/dataloader.yaml", dataloader_yaml)
    _write(root, "grp/dataloader.py", DATALOADER_PY)

    _write(root, "dotted/m1/model.yaml", model_yaml("w2", 100, ".."))
    _write(root, "dotted/m1/model.py", MODEL_PY.format(offset=100))
    _write(root, "dotted/dataloader.yaml", dataloader_yaml)
    _write(root, "dotted/dataloader.py", DATALOADER_PY)
