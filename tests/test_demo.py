"""scripts/demo, the README's first command, runs to the end without a network.

Set-up (apt, pip) is what scripts/setup does and is skipped here (KIPOI_SKIP_SETUP): the test runs the
demo's own steps, inside a network namespace with no interface up where the machine allows one.
"""

import os
import shutil
import subprocess
from pathlib import Path

from tests.conftest import BIN

ROOT = Path(__file__).resolve().parent.parent


def _offline(argv):
    """argv run with no network at all where `unshare -n` works (root), else as it is."""
    if shutil.which("unshare") and subprocess.run(["unshare", "-n", "true"],
                                                  capture_output=True).returncode == 0:
        return ["unshare", "-n"] + argv
    return argv


def test_demo_runs_offline_and_shows_each_step(kipoi_env, tmp_path):
    env = dict(kipoi_env, KIPOI_SKIP_SETUP="1", DEMO_DIR=str(tmp_path / "demo"),
               PATH=f"{BIN}{os.pathsep}{os.environ['PATH']}")
    del env["KIPOI_HOME"]  # the demo's own default: under DEMO_DIR
    for _ in range(2):  # idempotent: a second run in the same place works too
        run = subprocess.run(_offline(["bash", "scripts/demo"]), cwd=ROOT, env=env,
                             capture_output=True, text=True, timeout=300)
        assert run.returncode == 0, run.stderr
        assert "Traceback" not in run.stderr and "error" not in run.stderr
    out = run.stdout
    assert "demo:rbp_eclip/UPF1" not in out.splitlines()  # models are names; specs go to resolve
    assert '"kipoi_path": ' in out
    pinned = [line for line in out.splitlines() if line.startswith("demo-lfs:DeepSEA/predict@")]
    assert pinned, out
    gapped = tmp_path / "demo" / "air-gapped-store" / "snapshots" / pinned[0].rsplit("@", 1)[1]
    assert (gapped / "DeepSEA" / "predict" / "model.yaml").is_file()
    assert str(gapped / "DeepSEA" / "predict") in out.splitlines()
    row = "DeepBind/Mus_musculus/TF/D00016.001_PBM_Foxa2"
    assert any(line.endswith("/DeepBind/" + row.split("/", 1)[1]) for line in out.splitlines())
    assert not (Path(kipoi_env["HOME"]) / ".kipoi").exists()  # the demo writes only under DEMO_DIR
