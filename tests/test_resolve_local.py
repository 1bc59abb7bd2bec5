"""`kipoi source resolve` on local sources, run as a user runs it: the real executables, a temp HOME."""

import json
import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from kipoi_store.demo import DEMO_ROOT

from .conftest import BIN, run_kipoi


@pytest.fixture
def demo(kipoi_env, tmp_path):
    """A copy of the built-in demo source, configured as `demo`; returns (env, source root)."""
    root = tmp_path / "demo"
    shutil.copytree(DEMO_ROOT, root, symlinks=True)
    r = run_kipoi("kipoi", "source", "add", "demo", str(root), env=kipoi_env)
    assert r.returncode == 0, r.stderr
    return kipoi_env, root


def resolve(env, *specs, input=None):
    return run_kipoi("kipoi", "source", "resolve", *specs, input=input, env=env)


def test_resolve_prints_a_read_only_copy_of_the_model(demo):
    env, root = demo
    r = resolve(env, "demo:rbp_eclip/UPF1")
    assert r.returncode == 0, r.stderr
    directory = Path(r.stdout.strip())
    assert directory.is_absolute() and directory.parts[-2:] == ("rbp_eclip", "UPF1")
    store = Path(env["KIPOI_HOME"]) / "store"
    assert store in directory.parents
    assert (directory / "model.yaml").read_bytes() == (root / "rbp_eclip/UPF1/model.yaml").read_bytes()
    # The symlink to the shared dataloader stays a relative link, and its target came along.
    assert os.readlink(directory / "dataloader.py") == "../template/dataloader.py"
    shared = root / "rbp_eclip/template/dataloader.py"
    assert (directory / "dataloader.py").read_bytes() == shared.read_bytes()
    # `default_dataloader: ..` brings the parent's dataloader.yaml.
    assert (directory.parent / "dataloader.yaml").is_file()
    assert not os.access(directory / "model.yaml", os.W_OK) or os.geteuid() == 0
    assert (directory / "model.yaml").stat().st_mode & 0o222 == 0


def test_group_models_resolve_to_their_group_directory(demo):
    env, _ = demo
    names = run_kipoi("kipoi", "source", "models", "demo", "DeepBind", env=env).stdout.split()
    assert names and all(n.startswith("DeepBind/") for n in names)
    r = resolve(env, "--json", "demo:" + names[0])
    assert r.returncode == 0, r.stderr
    record = json.loads(r.stdout)
    assert record["group"] == "DeepBind"
    assert Path(record["directory"]).name == "DeepBind"
    assert (Path(record["directory"]) / "models.tsv").is_file()


def test_many_specs_in_order_with_stdin_json_and_nul(demo):
    env, _ = demo
    names = run_kipoi("kipoi", "source", "models", "demo", env=env).stdout.split()
    assert len(names) >= 5
    specs = ["demo:" + n for n in names]
    lines = resolve(env, "--stdin", input="\n".join(specs) + "\n").stdout.splitlines()
    assert len(lines) == len(specs)
    records = [json.loads(x) for x in resolve(env, "--json", *specs).stdout.splitlines()]
    assert [r["model"] for r in records] == names
    assert [r["directory"] for r in records] == lines
    assert all(r["commit"] is None and r["key"].startswith("local-") for r in records)
    out = resolve(env, "--stdin", "-z", input="\0".join(specs)).stdout
    assert out.split("\0")[:-1] == lines and out.endswith("\0")


def test_bad_specs_are_reported_and_good_ones_still_printed(demo):
    env, _ = demo
    r = resolve(env, "demo:Basset", "demo:rbp_eclip/UPF11", "demo:DeepSEA/predict")
    assert r.returncode == 1
    assert len(r.stdout.splitlines()) == 2
    assert "kipoi: error: demo:rbp_eclip/UPF11: model 'rbp_eclip/UPF11' not found" in r.stderr
    assert "did you mean" in r.stderr and "rbp_eclip/UPF1" in r.stderr
    assert "Traceback" not in r.stderr

    r = resolve(env, "demo:rbp_eclip")
    assert r.returncode == 1 and "group of 2 models" in r.stderr

    r = resolve(env, "demo:Basset", "demo:/etc/passwd")
    assert r.returncode == 2 and len(r.stdout.splitlines()) == 1
    assert "kipoi: error: bad spec 'demo:/etc/passwd'" in r.stderr

    r = resolve(env, "nosuch:Basset")
    assert r.returncode == 2 and "nosuch" in r.stderr

    r = resolve(env, "demo:Basset@v1")
    assert r.returncode == 2 and "local folder" in r.stderr


def test_an_edit_gives_a_new_snapshot_and_the_old_one_stays_intact(demo):
    env, root = demo
    first = Path(resolve(env, "demo:Basset").stdout.strip())
    before = (first / "model.yaml").read_bytes()
    with open(root / "Basset/model.yaml", "ab") as f:
        f.write(b"# edited\n")
    second = Path(resolve(env, "demo:Basset").stdout.strip())
    assert second != first
    assert (second / "model.yaml").read_bytes() == before + b"# edited\n"
    assert (first / "model.yaml").read_bytes() == before
    # A new file in the model directory is seen too, without re-reading anything else.
    (root / "Basset/extra.txt").write_text("new\n")
    third = Path(resolve(env, "demo:Basset").stdout.strip())
    assert (third / "extra.txt").read_text() == "new\n"


def test_in_place_edit_that_restores_mtime_is_still_seen(demo):
    env, root = demo
    resolve(env, "demo:Basset")
    target = root / "Basset/model.yaml"
    st = target.stat()
    data = target.read_bytes()
    target.write_bytes(data.replace(b"Basset", b"BASSET", 1))
    os.utime(target, ns=(st.st_atime_ns, st.st_mtime_ns))
    directory = Path(resolve(env, "demo:Basset").stdout.strip())
    assert b"BASSET" in (directory / "model.yaml").read_bytes()


def test_warm_resolve_hashes_nothing(demo, monkeypatch):
    env, root = demo
    cold = resolve(env, "demo:rbp_eclip/UPF1").stdout.strip()
    for key in ("HOME", "KIPOI_HOME"):
        monkeypatch.setenv(key, env[key])
    from kipoi_store.config import load
    from kipoi_store.store.core.store import Store
    from kipoi_store.resolver import Resolver

    def no_hashing(*args, **kwargs):
        raise AssertionError("a warm resolve hashed a file")

    monkeypatch.setattr(Store, "add_file", no_hashing)
    resolver = Resolver(load.load(), Store.default())
    try:
        assert str(resolver.resolve("demo:rbp_eclip/UPF1").directory) == cold
    finally:
        resolver.close()


def test_two_folders_with_identical_content_share_one_snapshot(demo, tmp_path):
    env, root = demo
    twin = tmp_path / "twin"
    shutil.copytree(root, twin, symlinks=True)
    assert run_kipoi("kipoi", "source", "add", "twin", str(twin), env=env).returncode == 0
    a = resolve(env, "demo:DeepSEA/predict").stdout
    b = resolve(env, "twin:DeepSEA/predict").stdout
    assert a == b


def test_symlink_escaping_the_source_is_left_out_with_a_warning(demo):
    env, root = demo
    (root / "Basset" / "secrets").symlink_to("/etc/passwd")
    r = resolve(env, "demo:Basset")
    assert r.returncode == 0, r.stderr
    [warning] = r.stderr.splitlines()
    assert warning.startswith("kipoi: warning: source 'demo': symlink 'Basset/secrets' points outside")
    resolved = Path(r.stdout.strip())
    assert (resolved / "model.yaml").is_file() and not os.path.lexists(resolved / "secrets")


def test_eight_processes_resolving_at_once_into_an_empty_store(demo):
    env, _ = demo
    names = run_kipoi("kipoi", "source", "models", "demo", env=env).stdout.split()
    jobs = []
    for i in range(8):
        specs = ["demo:" + names[(i + k) % len(names)] for k in range(3)]
        jobs.append((specs, subprocess.Popen([str(BIN / "kipoi-source-resolve"), *specs], env=env,
                                             stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)))
    results = {}
    for specs, proc in jobs:
        out, err = proc.communicate(timeout=120)
        assert proc.returncode == 0, err
        for spec, line in zip(specs, out.splitlines(), strict=True):
            assert results.setdefault(spec, line) == line
    assert len(results) == len(names)
    verify = run_kipoi("kipoi", "store", "verify", env=env)
    assert verify.returncode == 0, verify.stdout + verify.stderr


def test_sigkill_while_publishing_leaves_nothing_partial(demo, tmp_path):
    env, root = demo
    big = root / "Basset" / "weights.bin"
    with open(big, "wb") as f:
        for _ in range(256):
            f.write(os.urandom(1 << 20))
    store = Path(env["KIPOI_HOME"]) / "store"
    proc = subprocess.Popen([str(BIN / "kipoi-source-resolve"), "demo:Basset"], env=env,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    # Wait until it is copying the weights into the store's staging area, then kill it.
    deadline = time.time() + 60
    while time.time() < deadline and proc.poll() is None:
        tmp = store / "tmp"
        if tmp.exists() and any(True for _ in tmp.iterdir()):
            break
        time.sleep(0.005)
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    snapshots = store / "snapshots"
    if snapshots.exists():
        for path in snapshots.rglob("weights.bin"):
            assert path.stat().st_size == big.stat().st_size
    r = resolve(env, "demo:Basset")
    assert r.returncode == 0, r.stderr
    assert (Path(r.stdout.strip()) / "weights.bin").read_bytes() == big.read_bytes()
    assert run_kipoi("kipoi", "store", "verify", env=env).returncode == 0


# Brings the loopback interface of a fresh network namespace up (SIOCGIFFLAGS, SIOCSIFFLAGS |
# IFF_UP; no iproute2 needed), then runs the command: the demo's registry listens on 127.0.0.1.
_LOOPBACK_UP = """import fcntl, os, socket, struct, sys
s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
name, flags = struct.unpack("16sh22x", fcntl.ioctl(s, 0x8913, struct.pack("16sh22x", b"lo", 0)))
fcntl.ioctl(s, 0x8914, struct.pack("16sh22x", b"lo", flags | 1))
os.execvp(sys.argv[1], sys.argv[1:])
"""


def _offline(argv):
    """argv run with no network but loopback where `unshare -n` works (root), else as it is."""
    if shutil.which("unshare") and subprocess.run(["unshare", "-n", "true"],
                                                  capture_output=True).returncode == 0:
        return ["unshare", "-n", sys.executable, "-c", _LOOPBACK_UP] + argv
    return argv


def test_readme_demo_runs(tmp_path):
    """The README's first command, minus the set-up it shares with this test run: with no network
    (a namespace with only loopback up, where the machine allows one), twice in the same place."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("KIPOI_")}
    env.update(HOME=str(tmp_path), PATH="%s%s%s" % (BIN, os.pathsep, env["PATH"]))  # KIPOI_HOME: the demo's
    demo_script = Path(__file__).resolve().parent.parent / "scripts" / "demo"
    for _ in range(2):
        r = subprocess.run(_offline(["bash", str(demo_script)]),
                           env=dict(env, KIPOI_SKIP_SETUP="1", DEMO_DIR=str(tmp_path / "demo")),
                           capture_output=True, text=True, timeout=300)
        assert r.returncode == 0, r.stderr[-2000:]
        assert "Traceback" not in r.stderr and "error" not in r.stderr
    lines = r.stdout.splitlines()
    assert any(line.endswith("/rbp_eclip/UPF1") for line in lines)
    assert '"kipoi_path": ' in r.stdout
    # The git-lfs half: a pinned spec, resolved offline, then carried in a bundle to another store,
    # to real weights, not LFS pointers.
    pinned = [line for line in lines if line.startswith("demo-lfs:DeepSEA/predict@")][0]
    key = pinned.rsplit("@", 1)[1]
    gapped = tmp_path / "demo" / "air-gapped-store" / "snapshots" / key / "DeepSEA" / "predict"
    assert str(gapped) in lines
    weights = gapped / "model_files" / "deepsea_predict.pth"
    assert not weights.read_bytes().startswith(b"version https://git-lfs")
    # The registry half: pushed to the docker-registry the demo started, resolved back through it by
    # digest into an empty store, and again by digest with the registry stopped.
    pushed = [line for line in lines if line.startswith("oci://127.0.0.1:") and "@sha256:" in line]
    assert pushed and pushed[0].endswith("/DeepSEA/predict")
    registry_store = str(tmp_path / "demo" / "registry-store" / "snapshots")
    assert sum(line.startswith(registry_store) and line.endswith("/DeepSEA/predict") for line in lines) == 1
    assert lines[-3].startswith(registry_store) and lines[-3].endswith("/DeepSEA/predict")
    # The Python API: a group row's kipoi_path is its group directory plus the row.
    assert lines[-1] == lines[-2] + "/Mus_musculus/TF/D00016.001_PBM_Foxa2"
    assert not (tmp_path / ".kipoi").exists()  # the demo writes only under DEMO_DIR


def test_gc_drops_what_the_config_no_longer_reaches(demo):
    env, root = demo
    old = Path(resolve(env, "demo:Basset").stdout.strip())
    with open(root / "Basset/model.yaml", "ab") as f:
        f.write(b"# v2\n")
    new = Path(resolve(env, "demo:Basset").stdout.strip())
    assert old != new and old.exists()
    plan = run_kipoi("kipoi", "store", "gc", "--dry-run", "--keep-days", "0", env=env)
    assert plan.returncode == 0, plan.stderr
    assert old.exists()
    assert old.parent.name in plan.stdout + plan.stderr
    done = run_kipoi("kipoi", "store", "gc", "--keep-days", "0", env=env)
    assert done.returncode == 0, done.stderr
    assert not old.exists() and new.exists()
    assert resolve(env, "demo:Basset").stdout.strip() == str(new)
    assert run_kipoi("kipoi", "store", "verify", env=env).returncode == 0
    # Removing the source makes its snapshots unreachable too.
    run_kipoi("kipoi", "source", "remove", "demo", env=env)
    run_kipoi("kipoi", "store", "gc", "--keep-days", "0", env=env)
    assert not new.exists()
