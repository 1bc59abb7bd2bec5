"""Properties of resolving local sources, over generated trees of models (in-process, no CLI)."""

import os
import shutil
import tempfile
from pathlib import Path

from hypothesis import HealthCheck, given, settings, strategies as st

from kipoi_store.config import load as configmod
from kipoi_store.resolver import Resolver
from kipoi_store.store.core.store import Store

segment = st.text(alphabet="abcdefghij_0123456789", min_size=1, max_size=6)
content = st.binary(max_size=64)


@st.composite
def model_trees(draw):
    """{model name: {relative file: bytes}} plus shared files the models link to."""
    names = draw(st.lists(st.lists(segment, min_size=1, max_size=3).map("/".join),
                          min_size=1, max_size=5, unique=True))
    # A model directory never sits inside another model's directory here: nested models are
    # exercised in test_models.py; this property is about the bytes that reach the store.
    names = [n for n in names if not any(n != m and n.startswith(m + "/") for m in names)]
    models = {}
    for name in names:
        files = {"model.yaml": b"defined_as: model.py::M\nargs:\n  weights: w.bin\n"}
        files.update(draw(st.dictionaries(segment.map(lambda s: s + ".bin"), content, max_size=3)))
        models[name] = files
    shared = draw(st.dictionaries(segment.map(lambda s: "shared/" + s + ".py"), content, max_size=2))
    links = {}
    for name in names:
        if shared and draw(st.booleans()):
            target = draw(st.sampled_from(sorted(shared)))
            links[name] = target
    return models, shared, links


def build(root, tree):
    models, shared, links = tree
    for rel, data in shared.items():
        path = root / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(data)
    for name, files in models.items():
        for rel, data in files.items():
            path = root / name / rel
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_bytes(data)
        if name in links:
            depth = name.count("/") + 1
            (root / name / "shared.py").symlink_to("../" * depth + links[name])


def make_resolver(base, sources):
    cfg = base / "config.yaml"
    cfg.write_text("model_sources:\n" + "".join(
        "  '%s':\n    type: local\n    local_path: %s\n" % (name, path) for name, path in sources.items()))
    return Resolver(configmod.load(cfg), Store(base / "store"))


@settings(max_examples=30, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(model_trees())
def test_resolved_files_are_byte_identical_and_stay_inside_the_snapshot(tree):
    with tempfile.TemporaryDirectory() as tmp:
        base = Path(tmp)
        build(base / "src", tree)
        resolver = make_resolver(base, {"src": base / "src"})
        try:
            for name, files in tree[0].items():
                r = resolver.resolve("src:" + name)
                root = resolver.store.snapshot_root(r.key)
                assert r.directory == root / name
                for rel, data in files.items():
                    assert (r.directory / rel).read_bytes() == data
                if name in tree[2]:
                    link = r.directory / "shared.py"
                    assert (base / "src" / name / "shared.py").read_bytes() == link.read_bytes()
                    assert os.path.realpath(link).startswith(os.path.realpath(root) + os.sep)
                for dirpath, dirnames, filenames in os.walk(root):
                    for f in filenames + dirnames:
                        real = os.path.realpath(os.path.join(dirpath, f))
                        assert real.startswith(os.path.realpath(root) + os.sep) or \
                            real.startswith(os.path.realpath(resolver.store.objects_dir))
        finally:
            resolver.close()


@settings(max_examples=15, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(model_trees(), segment, segment)
def test_keys_do_not_depend_on_the_source_name_or_its_place(tree, first, second):
    with tempfile.TemporaryDirectory() as tmp:
        base = Path(tmp)
        build(base / "a", tree)
        shutil.copytree(base / "a", base / "elsewhere" / "b", symlinks=True)
        first, second = "s" + first, "t" + second
        names = {first: base / "a", second: base / "elsewhere" / "b"}
        resolver = make_resolver(base, names)
        try:
            for name in tree[0]:
                one = resolver.resolve("%s:%s" % (first, name))
                two = resolver.resolve("%s:%s" % (second, name))
                assert one.key == two.key and one.directory == two.directory
        finally:
            resolver.close()
