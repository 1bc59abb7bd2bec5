"""Whatever goes wrong around a command, it ends with one `kipoi: error:` line and a documented exit
code, never a traceback: closed standard streams, a full disk, a read-only mount, a folder the user
may not write, file names that are not UTF-8. Each is made real here (root: mounts in a private
namespace, capabilities dropped), not simulated."""

import os
import shutil
import subprocess

import pytest

from .conftest import BIN, run_kipoi
from .users import bound_by_modes

needs_root = pytest.mark.skipif(os.geteuid() != 0 or not shutil.which("unshare"),
                                reason="needs root and unshare for a private mount namespace")


def clean_failure(r, code=1):
    """The run failed with `code` and said so in one line, nothing else on stderr."""
    assert r.returncode == code, (r.returncode, r.stderr)
    assert r.stderr.count("\n") == 1 and r.stderr.startswith("kipoi: error: "), r.stderr
    assert "Traceback" not in r.stderr and "internal error" not in r.stderr
    return r.stderr


@pytest.fixture
def local_source(kipoi_env, tmp_path):
    """Source `lab`: a folder with model `M` holding 3 MB of weights."""
    model = tmp_path / "lab" / "M"
    model.mkdir(parents=True)
    (model / "model.yaml").write_text("type: keras\n")
    (model / "weights.h5").write_bytes(os.urandom(3 << 20))
    r = run_kipoi("kipoi", "source", "add", "lab", str(tmp_path / "lab"), env=kipoi_env)
    assert r.returncode == 0, r.stderr
    return kipoi_env


def shell(script, env, namespace=False, modes_bind=False):
    """`script` in sh, with the venv's commands first on PATH; `namespace`: in a private mount
    namespace, so its mounts vanish with it; `modes_bind`: as a process file modes bind."""
    env = dict(env, PATH="%s:%s" % (BIN, env["PATH"]))
    argv = bound_by_modes(script) if modes_bind else ["sh", "-c", script]
    if namespace:
        argv = ["unshare", "-m"] + argv
    return subprocess.run(argv, env=env, capture_output=True, text=True, timeout=120)


@pytest.mark.parametrize("script, says", [
    ("kipoi source list >&-", "stdout is closed"),
    ("kipoi-source-list >&-", "stdout is closed"),
    ("kipoi >&-", "stdout is closed"),
    ("kipoi source resolve --stdin <&-", "stdin is closed"),
    ("kipoi source resolve lab:M >&-", "stdout is closed"),
])
def test_a_closed_stream_is_one_line(local_source, script, says):
    assert says in clean_failure(shell(script, local_source))


def test_a_closed_stdin_or_stderr_does_not_matter_when_unused(local_source):
    r = shell("kipoi source list <&- 2>&-", local_source)
    assert (r.returncode, r.stderr) == (0, "") and "lab\tlocal\n" in r.stdout
    # Without stderr the error has nowhere to go, but the exit code still tells.
    r = shell("kipoi source resolve lab:Nope 2>&-", local_source)
    assert (r.returncode, r.stdout, r.stderr) == (1, "", "")


@needs_root
def test_a_full_disk_names_the_file_being_written(local_source, tmp_path):
    small = tmp_path / "small"
    small.mkdir()
    r = shell("mount -t tmpfs -o size=1m none %s && KIPOI_STORE=%s/store exec kipoi source resolve "
              "lab:M" % (small, small), local_source, namespace=True)
    message = clean_failure(r)
    assert "cannot write '%s/store/tmp/" % small in message and "No space left on device" in message


@needs_root
def test_a_read_only_store_names_its_path(local_source, tmp_path):
    ro = tmp_path / "ro"
    ro.mkdir()
    r = shell("mount --bind {0} {0} && mount -o remount,bind,ro {0} && KIPOI_STORE={0}/store "
              "exec kipoi source resolve lab:M".format(ro), local_source, namespace=True)
    message = clean_failure(r)
    assert str(ro / "store") in message and "Read-only file system" in message


@needs_root
def test_a_config_folder_without_write_permission_names_the_file(local_source, tmp_path):
    locked = tmp_path / "locked"
    locked.mkdir(mode=0o555)
    r = shell("KIPOI_CONFIG=%s/config.yaml kipoi source add other %s" % (locked, tmp_path), local_source,
              modes_bind=True)
    message = clean_failure(r)
    assert "'%s/config.yaml" % locked in message and "Permission denied" in message


def test_a_file_name_that_is_not_utf8_resolves_and_is_shown_escaped(local_source, tmp_path):
    model = tmp_path / "lab" / "M"
    odd = os.fsencode(model) + b"/\xff\xfe.bin"
    with open(odd, "wb") as f:
        f.write(b"odd")
    r = run_kipoi("kipoi", "source", "resolve", "lab:M", env=local_source)
    assert r.returncode == 0, r.stderr
    names = os.listdir(os.fsencode(r.stdout.strip()))
    assert b"\xff\xfe.bin" in names


@needs_root
def test_a_file_name_that_is_not_utf8_is_shown_escaped_in_a_message(local_source, tmp_path):
    odd = os.fsencode(tmp_path / "lab" / "M") + b"/\xff\xfe.bin"
    with open(odd, "wb") as f:
        f.write(b"odd")
    os.chmod(odd, 0o000)
    r = shell("kipoi source resolve lab:M", local_source, modes_bind=True)
    assert "M/\\xff\\xfe.bin': Permission denied" in clean_failure(r)


@pytest.mark.parametrize("variable, value, says", [
    ("KIPOI_LOCKS", "maybe", "KIPOI_LOCKS=maybe: expected 1 or 0"),
    ("KIPOI_LOCK_TIMEOUT", "soon", "KIPOI_LOCK_TIMEOUT=soon: expected seconds"),
    ("KIPOI_READ_TIMEOUT", "0", "KIPOI_READ_TIMEOUT=0: must be more than 0 seconds"),
    ("KIPOI_CONNECT_TIMEOUT", "-1", "KIPOI_CONNECT_TIMEOUT=-1: expected seconds"),
])
def test_a_bad_environment_value_is_named_never_taken_for_the_default(kipoi_env, kipoi_repo, tmp_path,
                                                                        variable, value, says):
    assert run_kipoi("kipoi", "source", "add", "lab", kipoi_repo.http_url, env=kipoi_env).returncode == 0
    env = dict(kipoi_env, KIPOI_STORE_MIRRORS=str(tmp_path / "mirror"), **{variable: value})
    spec = "lab:Basset@%s" % kipoi_repo.head  # pinned: the mirror is asked first, then the remote
    said = clean_failure(run_kipoi("kipoi", "source", "resolve", spec, env=env), code=2)
    # Settings of the whole run fail before any spec; the network's as the spec needs them.
    assert said.startswith("kipoi: error: " + ("" if "LOCK" in variable else spec + ": ") + says), said
    assert not (tmp_path / "home" / ".kipoi" / "store" / "snapshots").exists()
