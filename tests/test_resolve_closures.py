"""A model whose dataloader lives elsewhere (`default_dataloader: ..`, `defined_as: dataloader.X`,
the shape of kipoi/models' MMSplice) resolves complete: the dataloader's whole directory comes, and
its module imports from the resolved copy as kipoi imports it. In a local folder and in a git
repository served over HTTP."""

import json
import subprocess
import sys
from pathlib import Path

import pytest

from .conftest import run_kipoi
from .gitserver import git, serve_config, write

MMSPLICE = {
    "MMSplice/dataloader.yaml": "type: Dataset\ndefined_as: dataloader.SplicingVCFDataloader\n"
                                "args:\n  gtf: {doc: annotation}\n",
    "MMSplice/dataloader.py": "from splicing import exons\n\n"
                              "class SplicingVCFDataloader:\n    exons = exons\n",
    "MMSplice/splicing/__init__.py": "from .table import exons\n",
    "MMSplice/splicing/table.py": "exons = open(__file__[:-len('splicing/table.py')] + 'exons.txt').read()\n",
    "MMSplice/exons.txt": "exon1\n",
    "MMSplice/deltaLogitPSI/model.yaml": "defined_as: model.DeltaLogitPSI\ndefault_dataloader: ..\n",
    "MMSplice/deltaLogitPSI/model.py": "class DeltaLogitPSI: pass\n",
    "MMSplice/pathogenicity/model.yaml": "defined_as: model.Pathogenicity\ndefault_dataloader: ..\n",
    "MMSplice/pathogenicity/model.py": "class Pathogenicity: pass\n",
    "MMSplice/pathogenicity/weights.bin": "not deltaLogitPSI's\n",
    "Other/model.yaml": "defined_as: model.Other\n",
}

IMPORT_AS_KIPOI = """
import importlib, os, sys
os.chdir(sys.argv[1])                # kipoi: `with cd(dataloader_dir)`, the module found there
sys.path.insert(0, sys.argv[1])
dl = getattr(importlib.import_module("dataloader"), "SplicingVCFDataloader")
print(dl.exons.strip())
"""


@pytest.fixture(params=["local", "git"])
def mmsplice(request, tmp_path, kipoi_env, git_server):
    """The MMSplice-shaped zoo as source `zoo`, a folder or a git repository over HTTP."""
    work = tmp_path / "zoo"
    write(work, MMSPLICE)
    if request.param == "local":
        r = run_kipoi("kipoi", "source", "add", "zoo", str(work), "--type", "local", env=kipoi_env)
    else:
        git(work, "init", "-q", "-b", "main")
        git(work, "add", "-A")
        git(work, "commit", "-q", "-m", "zoo")
        bare = git_server.root / "zoo.git"
        git(tmp_path, "clone", "-q", "--bare", str(work), str(bare))
        serve_config(bare)
        r = run_kipoi("kipoi", "source", "add", "zoo", git_server.repo_url("zoo.git"), "--type", "git",
                      env=kipoi_env)
    assert r.returncode == 0, r.stderr
    return kipoi_env


def test_the_dataloader_directory_comes_whole_and_imports_from_the_store(mmsplice):
    r = run_kipoi("kipoi", "source", "resolve", "--json", "zoo:MMSplice/deltaLogitPSI", env=mmsplice)
    assert r.returncode == 0, r.stderr
    model = Path(json.loads(r.stdout)["directory"])
    family = model.parent
    assert sorted(str(p.relative_to(family)) for p in family.rglob("*") if not p.is_dir()) == [
        "dataloader.py", "dataloader.yaml", "deltaLogitPSI/model.py", "deltaLogitPSI/model.yaml",
        "exons.txt", "splicing/__init__.py", "splicing/table.py"]
    # The sibling model and the rest of the zoo stay out.
    assert not (family / "pathogenicity").exists() and not (family.parent / "Other").exists()
    # kipoi 0.8.6 resolves `default_dataloader: ..` to this directory and imports `dataloader`
    # from it; -B: the store is read-only, Python must not try to leave byte code there.
    out = subprocess.run([sys.executable, "-B", "-c", IMPORT_AS_KIPOI, str(family)],
                         capture_output=True, text=True)
    assert out.returncode == 0, out.stderr
    assert out.stdout == "exon1\n"
