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


# -- broken models are named: the file and the line -------------------------------------------------

BROKEN = {
    "empty/model.yaml": "",
    "invalid/model.yaml": "type: keras\nargs: {weights: [w.h5\n",
    "lost/model.yaml": "type: keras\ndefault_dataloader: ../nonexistent\n",
    "G/model-template.yaml": "type: keras\n",
    "G/models.tsv": "model\nr1\n../../etc\n/abs\nr1\n",
    "fine/model.yaml": "type: keras\n",
}


@pytest.fixture
def broken(tmp_path, kipoi_env):
    write(tmp_path / "zoo", BROKEN)
    r = run_kipoi("kipoi", "source", "add", "zoo", str(tmp_path / "zoo"), "--type", "local", env=kipoi_env)
    assert r.returncode == 0, r.stderr
    return kipoi_env


@pytest.mark.parametrize("model, message", [
    ("empty", "model 'empty' in source 'zoo': empty/model.yaml is empty"),
    ("invalid", "model 'invalid' in source 'zoo': invalid/model.yaml line 3: not valid YAML: "),
])
def test_a_model_kipoi_could_not_load_is_one_clear_error(broken, model, message):
    r = run_kipoi("kipoi", "source", "resolve", "zoo:" + model, "zoo:fine", env=broken)
    assert r.returncode == 1 and len(r.stdout.splitlines()) == 1  # the good spec still resolves
    [line] = r.stderr.splitlines()
    assert line.startswith("kipoi: error: zoo:%s: %s" % (model, message)), line


def test_a_dataloader_kipoi_lacks_is_a_warning_and_the_model_resolves(broken):
    # kipoi 0.8.6 loads `lost` (it fails only when that dataloader is used): so do we.
    r = run_kipoi("kipoi", "source", "resolve", "zoo:lost", "zoo:fine", env=broken)
    assert r.returncode == 0 and len(r.stdout.splitlines()) == 2, r.stderr
    assert r.stderr.splitlines() == [
        "kipoi: warning: source 'zoo': lost/model.yaml line 2: default_dataloader '../nonexistent' "
        "names no dataloader (no dataloader.yaml there); resolved without it"]
    assert Path(r.stdout.splitlines()[0], "model.yaml").is_file()


def test_a_broken_group_table_is_warned_about_once_naming_file_and_lines(broken):
    r = run_kipoi("kipoi", "source", "models", "zoo", env=broken)
    assert r.returncode == 0, r.stderr
    assert r.stdout.splitlines() == ["G/r1", "empty", "fine", "invalid", "lost"]
    warnings = r.stderr.splitlines()
    assert warnings == [
        "kipoi: warning: source 'zoo': G/models.tsv line 3: row '../../etc' leaves the group directory; "
        "skipped",
        "kipoi: warning: source 'zoo': G/models.tsv line 4: row '/abs' is an absolute path; skipped",
        "kipoi: warning: source 'zoo': G/models.tsv line 5: row 'r1' repeats line 2; only the first counts"]
    # A row of it still resolves (kipoi 0.8.6 loads it), and the batch hears each warning once.
    r = run_kipoi("kipoi", "source", "resolve", "zoo:G/r1", "zoo:G/r1", env=broken)
    assert r.returncode == 0 and len(r.stdout.splitlines()) == 2
    assert r.stderr.splitlines() == warnings
