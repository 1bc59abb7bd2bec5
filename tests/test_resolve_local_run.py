"""A local source within one run: what was seen of the folder serves every later model of a batch, and
an edit made meanwhile (between two resolves of one Session) is still seen."""

from pathlib import Path

import pytest

from conftest import run_kipoi

from kipoi_store.api import Session

TEMPLATE = b"defined_as: model.M\nargs:\n  weights: ../shared/weights.txt\ndefault_dataloader: ..\n"


@pytest.fixture
def grp(tmp_path, kipoi_env, monkeypatch):
    """Source `src` with group `grp` (rows a, b) whose template names a file outside the group."""
    src = tmp_path / "src"
    (src / "grp").mkdir(parents=True)
    (src / "shared").mkdir()
    (src / "shared" / "weights.txt").write_bytes(b"first weights\n")
    (src / "grp" / "model-template.yaml").write_bytes(TEMPLATE)
    (src / "grp" / "dataloader.yaml").write_bytes(b"defined_as: dataloader.D\n")
    (src / "grp" / "dataloader.py").write_bytes(b"class D: pass\n")
    (src / "grp" / "models.tsv").write_bytes(b"model\na\nb\n")
    added = run_kipoi("kipoi", "source", "add", "src", str(src), env=kipoi_env)
    assert added.returncode == 0, added.stderr
    for key in ("HOME", "KIPOI_HOME"):
        monkeypatch.setenv(key, kipoi_env[key])
    monkeypatch.delenv("KIPOI_OFFLINE", raising=False)
    return src


def weights(resolution):
    return (Path(resolution.location).parent / "shared" / "weights.txt").read_bytes()


def test_rows_of_a_group_share_one_look_at_the_folder(grp):
    session = Session()
    try:
        a, _ = session.resolve("src:grp/a")
        b, _ = session.resolve("src:grp/b")
    finally:
        session.close()
    assert a.key == b.key and weights(a) == weights(b) == b"first weights\n"


def test_an_edit_between_two_resolves_of_a_session_is_seen(grp):
    session = Session()
    try:
        a, _ = session.resolve("src:grp/a")
        (grp / "shared" / "weights.txt").write_bytes(b"second weights, longer\n")
        b, _ = session.resolve("src:grp/b")
        assert weights(b) == b"second weights, longer\n" and b.key != a.key
        assert weights(a) == b"first weights\n"  # a snapshot never changes
        # A row added since the group's table was first read.
        (grp / "grp" / "models.tsv").write_bytes(b"model\na\nb\nc\n")
        c, _ = session.resolve("src:grp/c")
        assert (Path(c.location) / "models.tsv").read_bytes().endswith(b"\nc\n")
        # A file added beside the group's own: the directory's stat tells.
        (grp / "grp" / "README.md").write_bytes(b"new\n")
        again, _ = session.resolve("src:grp/a")
        assert Path(again.location).name == "grp"
        assert (Path(again.location) / "README.md").read_bytes() == b"new\n"
    finally:
        session.close()


def test_a_batch_after_an_edit_serves_the_new_bytes_to_every_row(grp, kipoi_env):
    specs = "src:grp/a\nsrc:grp/b\n"
    first = run_kipoi("kipoi", "source", "resolve", "--stdin", input=specs, env=kipoi_env)
    assert first.returncode == 0, first.stderr
    (grp / "shared" / "weights.txt").write_bytes(b"edited\n")
    second = run_kipoi("kipoi", "source", "resolve", "--stdin", input=specs, env=kipoi_env)
    assert second.returncode == 0, second.stderr
    for line in second.stdout.splitlines():
        assert (Path(line).parent / "shared" / "weights.txt").read_bytes() == b"edited\n"


def test_records_are_written_again_after_their_directory_went_away(tmp_path):
    import shutil

    from kipoi_store.store.user.records import Records

    records = Records(tmp_path / "records")
    records.put(("local", "/src", "a"), {"key": "k1"})
    shutil.rmtree(tmp_path / "records")  # a user clearing their cache in the middle of a batch
    records.put(("local", "/src", "a"), {"key": "k2"})
    records.put(("local", "/src", "b"), {"key": "k3"})
    assert records.get(("local", "/src", "a")) == {"key": "k2"}
    assert sorted(v["key"] for _, v in records.items()) == ["k2", "k3"]
