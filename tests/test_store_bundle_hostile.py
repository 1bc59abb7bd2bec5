"""`kipoi store import` refuses hostile bundles: nothing of them reaches the store, and the error
names the entry (and, for a damaged object, the models that use it).

The good bundle is a real export of a local source's model (an executable, a symlink, plain files);
each hostile one is that bundle with one thing changed, written with tarfile as an attacker would.
"""

import io
import os
import tarfile
from pathlib import Path

import pytest

from conftest import run_kipoi, store_files


def ok(*args, env):
    r = run_kipoi(*args, env=env)
    assert r.returncode == 0, "%s: %s" % (" ".join(args), r.stderr)
    return r


@pytest.fixture
def good(tmp_path, kipoi_env):
    """(path of a good bundle, an environment whose store is empty, the model's pinned spec)."""
    src = tmp_path / "models"
    (src / "Lab" / "CNN").mkdir(parents=True)
    (src / "Lab" / "CNN" / "model.yaml").write_text("defined_as: model.Model\nargs:\n  w: w.bin\n")
    (src / "Lab" / "CNN" / "model.py").write_text("class Model:\n    pass\n")
    (src / "Lab" / "CNN" / "w.bin").write_bytes(os.urandom(5000))
    (src / "Lab" / "CNN" / "run.sh").write_text("#!/bin/sh\necho run\n")
    (src / "Lab" / "CNN" / "run.sh").chmod(0o755)
    os.symlink("model.py", src / "Lab" / "CNN" / "alias.py")
    ok("kipoi", "source", "add", "mine", str(src), env=kipoi_env)
    bundle = tmp_path / "good.tar"
    pinned = ok("kipoi", "store", "export", "-o", str(bundle), "mine:Lab/CNN", env=kipoi_env).stdout.strip()
    empty = dict(kipoi_env, KIPOI_STORE=str(tmp_path / "other-store"))
    return bundle, empty, pinned


def members(bundle):
    with tarfile.open(bundle) as tar:
        return [(m, tar.extractfile(m).read()) for m in tar.getmembers()]


def write_tar(path, entries):
    with tarfile.open(path, "w", format=tarfile.PAX_FORMAT) as tar:
        for info, data in entries:
            tar.addfile(info, io.BytesIO(data) if data is not None and info.isreg() else None)
    return path


def entry(name, kind=tarfile.REGTYPE, data=b"", linkname=""):
    info = tarfile.TarInfo(name)
    info.type = kind
    info.size = len(data) if kind == tarfile.REGTYPE else 0
    info.linkname = linkname
    if kind == tarfile.CHRTYPE:
        info.devmajor, info.devminor = 1, 3
    return info, data


def with_inserted(bundle, new):
    """The bundle with `new` (an (info, data) pair) right after its header."""
    items = members(bundle)
    return items[:1] + [new] + items[1:]


def first_object(items):
    return next(i for i, (m, _) in enumerate(items) if m.name.startswith("objects/"))


def flipped(bundle):
    items = members(bundle)
    i = first_object(items)
    info, data = items[i]
    items[i] = (info, bytes([data[0] ^ 1]) + data[1:])
    return items, info.name


def oversized(bundle):
    items = members(bundle)
    i = first_object(items)
    info, data = items[i]
    bigger = tarfile.TarInfo(info.name)
    bigger.size = len(data) + 1
    items[i] = (bigger, data + b"x")
    return items, info.name


HOSTILE = {
    "dotdot": lambda b: (with_inserted(b, entry("../evil", data=b"x")), "../evil"),
    "absolute": lambda b: (with_inserted(b, entry("/tmp/evil", data=b"x")), "/tmp/evil"),
    "symlink": lambda b: (with_inserted(b, entry("objects/sha256/aa/" + "a" * 64, tarfile.SYMTYPE,
                                                 linkname="/etc/passwd")), "a symlink"),
    "hardlink": lambda b: (with_inserted(b, entry("objects/sha256/aa/" + "a" * 64, tarfile.LNKTYPE,
                                                  linkname="kipoi-mirror.json")), "a hardlink"),
    "device": lambda b: (with_inserted(b, entry("objects/sha256/aa/" + "a" * 64, tarfile.CHRTYPE)),
                         "a device"),
    "flipped byte": flipped,
    "oversized": oversized,
}


@pytest.mark.parametrize("case", sorted(HOSTILE))
def test_a_hostile_bundle_is_refused_and_the_store_is_unchanged(good, tmp_path, case):
    bundle, env, pinned = good
    items, named = HOSTILE[case](bundle)
    hostile = write_tar(tmp_path / "hostile.tar", items)
    r = run_kipoi("kipoi", "store", "import", str(hostile), env=env)
    assert r.returncode == 1, r.stderr
    assert r.stderr.startswith("kipoi: error: bundle %s: entry " % hostile), r.stderr
    assert named in r.stderr and "nothing was imported" in r.stderr
    if case == "flipped byte":
        assert "used by model Lab/CNN at local-" in r.stderr
    assert "Traceback" not in r.stderr
    store = Path(env["KIPOI_STORE"])
    assert store_files(store) == []
    assert not any((store / "tmp").iterdir()) if (store / "tmp").exists() else True
    assert not Path("/tmp/evil").exists() and not (tmp_path / "evil").exists()


@pytest.mark.parametrize("where", ["inside an entry", "at a block boundary"])
def test_a_truncated_bundle_is_refused_and_the_store_is_unchanged(good, tmp_path, where):
    bundle, env, _ = good
    data = bundle.read_bytes()
    with tarfile.open(bundle) as tar:
        obj = next(m for m in tar.getmembers() if m.name.startswith("objects/"))
    # Cut inside the first object's data, or just after it (a tar may end at any 512-byte block).
    end = obj.offset_data + (obj.size // 2 if where == "inside an entry" else -(-obj.size // 512) * 512)
    cut = tmp_path / "cut.tar"
    cut.write_bytes(data[:end])
    r = run_kipoi("kipoi", "store", "import", str(cut), env=env)
    assert r.returncode == 1 and "truncated" in r.stderr and "nothing was imported" in r.stderr
    assert store_files(env["KIPOI_STORE"]) == []


def test_the_good_bundle_imports_and_a_second_import_changes_nothing(good):
    bundle, env, pinned = good
    first = ok("kipoi", "store", "import", str(bundle), env=env)
    assert first.stdout.startswith("model Lab/CNN at local-")
    state = store_files(env["KIPOI_STORE"])
    second = ok("kipoi", "store", "import", str(bundle), env=env)
    assert second.stdout == "" and "0 model(s)" in second.stderr
    assert store_files(env["KIPOI_STORE"]) == state
    ok("kipoi", "store", "verify", env=env)


def test_import_of_what_is_not_there_is_bad_input(good, tmp_path):
    _, env, _ = good
    r = run_kipoi("kipoi", "store", "import", str(tmp_path / "nope.tar"), env=env)
    assert r.returncode == 2 and r.stderr == "kipoi: error: bundle %s: no such file or directory\n" % (
        tmp_path / "nope.tar")
