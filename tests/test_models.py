"""models/catalog.py and models/closure.py: what a model is, how names are found and listed,
and what a model needs (its closure)."""

import os
import posixpath
import tempfile

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from kipoi_store.models import catalog
from kipoi_store.demo import DEMO_ROOT
from kipoi_store.errors import EXIT_FAILED, EXIT_USAGE, NotFoundError, UnsafePathError
from kipoi_store.models.catalog import ModelRef, find_model, group_rows, list_models, parse_rows
from kipoi_store.models.closure import closure
from kipoi_store.tree import LocalTree, MemoryTree, is_below, sort_key

DEMO_MODELS = [
    "Basset",
    "DeepBind/Homo_sapiens/RBP/D00084.001_RNAcompete_A1CF",
    "DeepBind/Homo_sapiens/TF/D00328.018_ChIP-seq_CTCF",
    "DeepBind/Mus_musculus/TF/D00016.001_PBM_Foxa2",
    "DeepSEA/predict",
    "DeepSEA/variantEffects",
    "rbp_eclip/AARS",
    "rbp_eclip/UPF1",
]


def write_tree(root, entries):
    for path, value in entries.items():
        full = os.path.join(root, path)
        os.makedirs(os.path.dirname(full), exist_ok=True)
        if isinstance(value, tuple):
            os.symlink(value[1], full)
        else:
            with open(full, "wb") as f:
                f.write(value if isinstance(value, bytes) else value.encode())


@pytest.fixture
def demo():
    return LocalTree(DEMO_ROOT)


# -- the demo source ---------------------------------------------------------------------------

def test_demo_lists_its_models(demo):
    assert list_models(demo) == DEMO_MODELS


def test_demo_prefix_matches_whole_segments(demo):
    assert list_models(demo, "rbp_eclip") == ["rbp_eclip/AARS", "rbp_eclip/UPF1"]
    assert list_models(demo, "rbp_eclip/") == ["rbp_eclip/AARS", "rbp_eclip/UPF1"]
    assert list_models(demo, "rbp_ecl") == []
    assert list_models(demo, "rbp_eclip/UPF1") == ["rbp_eclip/UPF1"]
    # rows of a group above the prefix, below a directory that does not exist
    assert list_models(demo, "DeepBind/Homo_sapiens") == DEMO_MODELS[1:3]
    assert list_models(demo, "DeepBind") == DEMO_MODELS[1:4]


def test_demo_upf1_brings_its_symlink_targets_and_the_parent_dataloader(demo):
    ref = find_model(demo, "rbp_eclip/UPF1", source="demo")
    assert ref == ModelRef("rbp_eclip/UPF1", "rbp_eclip/UPF1")
    assert closure(demo, ref) == [
        "rbp_eclip/UPF1/custom_keras_objects.py",          # -> ../template/custom_keras_objects.py
        "rbp_eclip/UPF1/dataloader.py",                    # -> ../template/dataloader.py
        "rbp_eclip/UPF1/model.yaml",                       # default_dataloader: ..
        "rbp_eclip/UPF1/model_files/model.h5",
        "rbp_eclip/dataloader.yaml",                       # defined_as: template/dataloader.py::...
        # the dataloader's whole directory (rbp_eclip/), less the models in it (AARS)
        "rbp_eclip/template/custom_keras_objects.py",
        "rbp_eclip/template/dataloader.py",
        "rbp_eclip/template/dataloader.yaml",
        "rbp_eclip/template/example_files/intervals.bed",
    ]


def test_demo_aars_brings_a_linked_directory(demo):
    paths = closure(demo, find_model(demo, "rbp_eclip/AARS"))
    assert "rbp_eclip/AARS/example_files" in paths  # the link itself
    assert "rbp_eclip/template/example_files/intervals.bed" in paths  # and the directory's files
    assert "rbp_eclip/AARS/dataloader.yaml" in paths and "rbp_eclip/template/dataloader.yaml" in paths
    assert "rbp_eclip/dataloader.yaml" not in paths  # AARS says `default_dataloader: .`
    assert not any(p.startswith("rbp_eclip/UPF1/") for p in paths)


def test_demo_parent_file_reference(demo):
    assert closure(demo, find_model(demo, "DeepSEA/predict")) == [
        "DeepSEA/model_architecture.py",  # module_file: ../model_architecture.py
        "DeepSEA/predict/model.yaml",
        "DeepSEA/predict/model_files/deepsea_predict.pth",
    ]


def test_demo_plain_model(demo):
    assert closure(demo, find_model(demo, "Basset")) == [
        "Basset/basset_net.py", "Basset/model.yaml", "Basset/model_files/weights.pth"]


def test_demo_group_model_resolves_to_its_group_directory(demo):
    ref = find_model(demo, "DeepBind/Homo_sapiens/TF/D00328.018_ChIP-seq_CTCF")
    assert ref == ModelRef("DeepBind/Homo_sapiens/TF/D00328.018_ChIP-seq_CTCF", "DeepBind", "DeepBind")
    assert closure(demo, ref) == ["DeepBind/model-template.yaml", "DeepBind/models.tsv"]


def test_demo_mistyped_name_suggests_the_closest(demo):
    with pytest.raises(NotFoundError) as e:
        find_model(demo, "rbp_eclip/UPF11", source="demo")
    assert str(e.value).startswith(
        "model 'rbp_eclip/UPF11' not found in source 'demo'; did you mean: rbp_eclip/UPF1")
    assert e.value.exit_code == EXIT_FAILED


def test_demo_forgotten_group_prefix_is_suggested(demo):
    with pytest.raises(NotFoundError, match=r"did you mean: rbp_eclip/UPF1$"):
        find_model(demo, "UPF1", source="demo")


def test_demo_a_prefix_is_a_group_of_models(demo):
    with pytest.raises(NotFoundError) as e:
        find_model(demo, "rbp_eclip", source="demo")
    assert str(e.value) == ("'rbp_eclip' in source 'demo' is a group of 2 models, "
                            "e.g. rbp_eclip/AARS, rbp_eclip/UPF1")
    with pytest.raises(NotFoundError, match=r"'DeepBind' is a group of 3 models, e\.g\. DeepBind/Homo"):
        find_model(demo, "DeepBind")


def test_demo_name_with_nothing_close(demo):
    with pytest.raises(NotFoundError) as e:
        find_model(demo, "zzzzzz", source="demo")
    assert str(e.value) == "model 'zzzzzz' not found in source 'demo'"


def test_find_model_never_walks_the_tree_when_the_model_exists():
    class NoWalk(LocalTree):
        def walk(self, path=""):
            raise AssertionError("walked %r" % path)

        def listdir(self, path):
            raise AssertionError("listed %r" % path)

    tree = NoWalk(DEMO_ROOT)
    for name in DEMO_MODELS:
        assert find_model(tree, name).name == name


def test_find_model_normalises_slashes_and_refuses_dot_dot(demo):
    assert find_model(demo, "/rbp_eclip//UPF1/").name == "rbp_eclip/UPF1"
    with pytest.raises(UnsafePathError) as e:
        find_model(demo, "rbp_eclip/../Basset")
    assert e.value.exit_code == EXIT_USAGE


# -- groups ----------------------------------------------------------------------------------

def test_parse_rows_reads_the_model_column_and_skips_comments():
    text = ("# a comment before the header\n"
            "args_weights\tmodel\tmd5\r\n"
            "w1.h5\tA\tx\r\n"
            "  # an indented comment\n"
            "\n"
            "w2.h5\t\"B/C\"\tx\n"
            "w3.h5\t../escape\tx\n"
            "short\n"
            "w4.h5\t/D//\tx\n")
    assert parse_rows(text) == ["A", "B/C", "D"]
    assert parse_rows("name\tx\nA\t1\n") == []  # no `model` column: not a kipoi group table


GROUP = {
    "G/model-template.yaml": b"type: keras\nargs:\n  weights: {{ weights }}\n",
    "G/models.tsv": b"model\tweights\n# first rows\nr1\tw1\nsub/r2\tw2\nr3\tw3\n",
    "G/dataloader.py": b"",
    "G/r1/model_files/w.h5": b"r1 weights",
    "G/r3/model_files/w.h5": b"r3 weights",
    "G/r3/model.yaml": b"type: keras\n",  # an explicit model of the same name as a row
    "G/sub/H/model-template.yml": b"{}",   # a nested group, .yml template
    "G/sub/H/models.tsv": b"model\nx\n",
}


def test_groups_list_one_model_per_row():
    tree = MemoryTree(GROUP)
    assert group_rows(tree, "G") == ["r1", "sub/r2", "r3"]
    assert list_models(tree) == ["G/r1", "G/r3", "G/sub/H/x", "G/sub/r2"]
    assert list_models(tree, "G/sub") == ["G/sub/H/x", "G/sub/r2"]


def test_group_rows_resolve_to_the_group_and_explicit_models_win():
    tree = MemoryTree(GROUP)
    assert find_model(tree, "G/sub/r2") == ModelRef("G/sub/r2", "G", "G")
    assert find_model(tree, "G/r3") == ModelRef("G/r3", "G/r3")
    assert find_model(tree, "G/sub/H/x") == ModelRef("G/sub/H/x", "G/sub/H", "G/sub/H")
    with pytest.raises(NotFoundError):
        find_model(tree, "G/r2")


def test_group_closure_leaves_out_other_rows_and_nested_models():
    tree = MemoryTree(GROUP)
    assert closure(tree, find_model(tree, "G/r1")) == [
        "G/dataloader.py", "G/model-template.yaml", "G/models.tsv", "G/r1/model_files/w.h5"]
    assert closure(tree, find_model(tree, "G/sub/r2")) == [
        "G/dataloader.py", "G/model-template.yaml", "G/models.tsv"]


def test_a_group_table_may_be_a_symlink():
    tree = MemoryTree({"G/model-template.yaml": b"{}", "G/models.tsv": ("link", "../t/models.tsv"),
                       "t/models.tsv": b"model\nA\n"})
    assert list_models(tree) == ["G/A"]
    assert closure(tree, find_model(tree, "G/A")) == ["G/model-template.yaml", "G/models.tsv",
                                                      "t/models.tsv"]


def test_a_group_at_the_root_of_the_source():
    tree = MemoryTree({"model-template.yaml": b"{}", "models.tsv": b"model\nA\nB/c\n"})
    assert list_models(tree) == ["A", "B/c"]
    assert find_model(tree, "B/c") == ModelRef("B/c", "", "")


# -- plain models ----------------------------------------------------------------------------

def test_model_yml_counts_too_and_a_model_yaml_symlink():
    tree = MemoryTree({"a/model.yml": b"{}", "b/model.yaml": ("link", "../t/model.yaml"),
                       "t/model.yaml.template": b"", "t/model.yaml": b"type: keras\n",
                       "c/notes.yaml": b"{}"})
    assert list_models(tree) == ["a", "b", "t"]
    assert find_model(tree, "a") == ModelRef("a", "a")
    assert closure(tree, find_model(tree, "b")) == ["b/model.yaml", "t/model.yaml"]


def test_nested_models_are_separate():
    tree = MemoryTree({"A/model.yaml": b"{}", "A/w": b"", "A/B/model.yaml": b"{}", "A/B/w": b"",
                       "A/C/helper.py": b"", "A/D/model.yml": b"{}"})
    assert list_models(tree) == ["A", "A/B", "A/D"]
    assert closure(tree, find_model(tree, "A")) == ["A/C/helper.py", "A/model.yaml", "A/w"]
    assert closure(tree, find_model(tree, "A/B")) == ["A/B/model.yaml", "A/B/w"]


def test_prefixes_never_match_part_of_a_segment():
    tree = MemoryTree({"rbp_eclip/A/model.yaml": b"{}", "rbp_eclipse/x/model.yaml": b"{}",
                       "rbp_eclip.old/y/model.yaml": b"{}"})
    assert list_models(tree, "rbp_eclip") == ["rbp_eclip/A"]
    assert list_models(tree) == ["rbp_eclip.old/y", "rbp_eclip/A", "rbp_eclipse/x"]  # bytewise


def test_a_model_directory_reached_through_a_symlink_is_not_a_model():
    tree = MemoryTree({"real/model.yaml": b"{}", "alias": ("link", "real")})
    assert list_models(tree) == ["real"]
    with pytest.raises(NotFoundError, match="^model 'alias' not found$"):
        find_model(tree, "alias")


# -- symlinks in the closure -------------------------------------------------------------------

def test_links_to_links_are_followed_to_the_end():
    tree = MemoryTree({"m/model.yaml": b"{}", "m/a": ("link", "../l1"), "l1": ("link", "l2"),
                       "l2": ("link", "sub/../target"), "sub/x": b"", "target": b"data"})
    assert closure(tree, find_model(tree, "m")) == ["l1", "l2", "m/a", "m/model.yaml", "target"]


def test_a_link_to_a_directory_brings_its_files_but_not_models_inside():
    tree = MemoryTree({"m/model.yaml": b"{}", "m/files": ("link", "../shared"),
                       "shared/a.txt": b"", "shared/deep/b.txt": b"", "shared/other/model.yaml": b"{}",
                       "shared/other/w": b""})
    assert closure(tree, find_model(tree, "m")) == [
        "m/files", "m/model.yaml", "shared/a.txt", "shared/deep/b.txt"]


def test_a_path_through_a_linked_directory_keeps_the_link():
    tree = MemoryTree({"m/model.yaml": b"{}", "m/dl.py": ("link", "../t/dl.py"), "t": ("link", "real"),
                       "real/dl.py": b"", "real/other.py": b""})
    assert closure(tree, find_model(tree, "m")) == ["m/dl.py", "m/model.yaml", "real/dl.py", "t"]


def test_dot_dot_after_a_linked_directory_is_resolved_physically():
    # t -> deep/real, so t/.. is deep (as the OS resolves it), not the root
    tree = MemoryTree({"m/model.yaml": b"{}", "m/x": ("link", "../t/../f"), "t": ("link", "deep/real"),
                       "deep/real": ("dir",), "deep/f": b"deep", "f": b"root"})
    assert closure(tree, find_model(tree, "m")) == ["deep/f", "m/model.yaml", "m/x", "t"]


@pytest.mark.parametrize("target", ["/etc/passwd", "../../outside", "../m/../../x", "../up/x",
                                    "../nothing/../../etc"])
def test_a_link_leaving_the_tree_is_refused_by_name(target):
    tree = MemoryTree({"m/model.yaml": b"{}", "m/bad": ("link", target), "up": ("link", "..")})
    with pytest.raises(UnsafePathError) as e:
        closure(tree, find_model(tree, "m"), source="lab")
    assert "symlink 'm/bad' in source 'lab' points outside the source" in str(e.value)
    assert e.value.exit_code == EXIT_USAGE


def test_a_link_chain_leaving_the_tree_names_both_links():
    tree = MemoryTree({"m/model.yaml": b"{}", "m/a": ("link", "../b"), "b": ("link", "/etc/passwd")})
    with pytest.raises(UnsafePathError, match=r"^symlink 'm/a' points outside the source through "
                                              r"symlink 'b' -> '/etc/passwd'; refusing to follow it$"):
        closure(tree, find_model(tree, "m"))


def test_dangling_links_and_link_loops_keep_only_the_links():
    tree = MemoryTree({"m/model.yaml": b"{}", "m/gone": ("link", "../nothing"),
                       "m/loop1": ("link", "loop2"), "m/loop2": ("link", "loop1"),
                       "m/self": ("link", "self/x"), "m/notdir": ("link", "model.yaml/x")})
    assert closure(tree, find_model(tree, "m")) == [
        "m/gone", "m/loop1", "m/loop2", "m/model.yaml", "m/notdir", "m/self"]


def test_a_link_back_to_the_model_directory_does_not_loop():
    tree = MemoryTree({"m/model.yaml": b"{}", "m/again": ("link", "."), "m/sub/up": ("link", "../..")})
    assert closure(tree, find_model(tree, "m")) == ["m/again", "m/model.yaml", "m/sub/up"]


# -- references in model.yaml and dataloader.yaml ------------------------------------------------

def test_default_dataloader_dot_dot_brings_the_dataloader_and_what_it_references():
    tree = MemoryTree({
        "fam/m/model.yaml": b"type: keras\ndefault_dataloader: ..\n",
        "fam/dataloader.yaml": b"defined_as: dataloader.py::Dl\nargs:\n  f:\n    example: ../shared/a.bed\n",
        "fam/dataloader.py": b"class Dl: pass\n",
        "fam/helper.txt": b"read by dataloader.py",
        "fam/downloaded/dataloader_files/0123": b"kipoi's own download cache",
        "fam/other/model.yaml": b"{}",
        "fam/other/weights": b"",
        "shared/a.bed": b"",
        "shared/unreferenced.bed": b"",
    })
    # The dataloader's directory comes whole, as a model's does: without the models in it and
    # without kipoi's download cache; outside it, only what its yaml names.
    assert closure(tree, find_model(tree, "fam/m")) == [
        "fam/dataloader.py", "fam/dataloader.yaml", "fam/helper.txt", "fam/m/model.yaml", "shared/a.bed"]


@pytest.mark.parametrize("defined_as, module", [
    ("dataloader.SpliceDl", ["dataloader.py"]),                       # MMSplice/deltaLogitPSI
    ("dl_pkg.readers.SpliceDl", ["dl_pkg/__init__.py", "dl_pkg/readers.py"]),
    ("dl_pkg.SpliceDl", ["dl_pkg/__init__.py"]),
])
def test_a_dotted_defined_as_brings_its_module_from_the_dataloader_directory(defined_as, module):
    files = {
        "MMSplice/deltaLogitPSI/model.yaml": b"defined_as: model.X\ndefault_dataloader: ..\n",
        "MMSplice/deltaLogitPSI/model.py": b"",
        "MMSplice/dataloader.yaml": ("defined_as: %s\n" % defined_as).encode(),
        "MMSplice/pathogenicity/model.yaml": b"default_dataloader: ..\n",
    }
    files.update({"MMSplice/" + m: b"" for m in module})
    tree = MemoryTree(files)
    assert closure(tree, find_model(tree, "MMSplice/deltaLogitPSI")) == sorted(
        ["MMSplice/dataloader.yaml", "MMSplice/deltaLogitPSI/model.py",
         "MMSplice/deltaLogitPSI/model.yaml"] + ["MMSplice/" + m for m in module], key=sort_key)


def test_a_dotted_module_inside_a_nested_model_directory_still_comes():
    # `pkg` is also a model's directory: the walk leaves it out, `defined_as` brings the module.
    tree = MemoryTree({
        "fam/m/model.yaml": b"default_dataloader: ..\n",
        "fam/dataloader.yaml": b"defined_as: pkg.loader.Dl\n",
        "fam/pkg/model.yaml": b"{}",
        "fam/pkg/__init__.py": b"",
        "fam/pkg/loader.py": b"",
        "fam/pkg/weights.h5": b"",
    })
    assert closure(tree, find_model(tree, "fam/m")) == [
        "fam/dataloader.yaml", "fam/m/model.yaml", "fam/pkg/__init__.py", "fam/pkg/loader.py"]


def test_default_dataloader_as_a_dict_or_a_sibling_directory():
    tree = MemoryTree({
        "m/model.yml": b"default_dataloader:\n  defined_as: ../dl\n  default_args: {x: 1}\n",
        "dl/dataloader.yml": b"defined_as: dl.py::X\n",
        "dl/dl.py": b"",
        "dl/helper.py": b"",
        "k/model.yaml": b"default_dataloader:\n  defined_as: kipoiseq.dataloaders.SeqIntervalDl\n",
    })
    # `../dl` also names a directory, and a directory reference brings all its files
    assert closure(tree, find_model(tree, "m")) == [
        "dl/dataloader.yml", "dl/dl.py", "dl/helper.py", "m/model.yml"]
    assert closure(tree, find_model(tree, "k")) == ["k/model.yaml"]


def test_dataloader_references_that_form_a_cycle_end():
    tree = MemoryTree({
        "a/m/model.yaml": b"default_dataloader: ..\n",
        "a/dataloader.yaml": b"default_dataloader: ../b\n",
        "b/dataloader.yaml": b"default_dataloader: ../a\nx: ../a/dataloader.yaml\n",
    })
    assert closure(tree, find_model(tree, "a/m")) == [
        "a/dataloader.yaml", "a/m/model.yaml", "b/dataloader.yaml"]


def test_parent_references_in_yaml_strings():
    tree = MemoryTree({
        "A/m/model.yaml": (b"args:\n  module_file: ../model_architecture.py\n"
                           b"  weights: [../shared/w.h5, ../missing.h5, ../../../outside]\n"
                           b"  url: https://example.org/../x\n  doc: ../\n  up: ../..\n"),
        "A/model_architecture.py": b"",
        "A/shared/w.h5": b"",
        "A/shared/more/x.h5": b"",
        "A/not_referenced.py": b"",
    })
    assert closure(tree, find_model(tree, "A/m")) == [
        "A/m/model.yaml", "A/model_architecture.py", "A/shared/w.h5"]


def test_a_referenced_directory_brings_its_files():
    tree = MemoryTree({"A/m/model.yaml": b"args:\n  files: ../shared\n",
                       "A/shared/x": b"", "A/shared/y/z": b""})
    assert closure(tree, find_model(tree, "A/m")) == ["A/m/model.yaml", "A/shared/x", "A/shared/y/z"]


def test_references_in_a_group_template_are_followed():
    tree = MemoryTree({
        "G/model-template.yaml": (b"args:\n  arch: ../arch/{{ model }}.json\n  code: ../common.py\n"
                                  b"{% if model == 'a' %}\ntest: {x: 1}\n{% endif %}\n"),
        "G/models.tsv": b"model\na\n",
        "common.py": b"",
    })
    assert closure(tree, find_model(tree, "G/a")) == ["G/model-template.yaml", "G/models.tsv",
                                                     "common.py"]


@pytest.mark.parametrize("text", [b"args: [unclosed\n", b"\xff\xfe: \x00", b"a: &x [*x]\nb: ../f\n",
                                  b"- ../f\n- {bad: [}\n"])
def test_unparseable_or_odd_yaml_just_references_nothing_more(text):
    tree = MemoryTree({"d/m/model.yaml": text, "d/f": b""})
    paths = closure(tree, find_model(tree, "d/m"))
    assert "d/m/model.yaml" in paths
    assert set(paths) <= {"d/m/model.yaml", "d/f"}


def test_a_self_referencing_yaml_document_still_brings_its_references():
    tree = MemoryTree({"d/m/model.yaml": b"a: &x [*x, ../f]\n", "d/f": b""})
    assert closure(tree, find_model(tree, "d/m")) == ["d/f", "d/m/model.yaml"]


# -- property: any generated source ----------------------------------------------------------

segment = st.sampled_from(["a", "ab", "a.b", "B", "x-1", "rbp", "rbpe"])
dirpath = st.lists(segment, min_size=1, max_size=3).map("/".join)


@st.composite
def sources(draw):
    """A tree of models and groups, with files, links and references inside it.

    Returns (entries, expected model names).
    """
    entries = {}
    expected = set()
    model_dirs = draw(st.lists(dirpath, max_size=6, unique=True))
    group_dirs = draw(st.lists(st.just("") | dirpath, max_size=3, unique=True))
    for d in model_dirs:
        name = draw(st.sampled_from(["model.yaml", "model.yml"]))
        body = draw(st.sampled_from([b"type: keras\n", b"default_dataloader: ..\n",
                                     b"args: {m: ../w.bin}\n", b"[not yaml\n"]))
        entries[posixpath.join(d, name)] = body
        entries[posixpath.join(d, "w.bin")] = d.encode()
        expected.add(d)
    for g in group_dirs:
        rows = draw(st.lists(dirpath, min_size=1, max_size=3, unique=True))
        table = "model\tweights\n" + "".join(
            ("# comment\n" if draw(st.booleans()) else "") + "%s\t%s.h5\n" % (r, r) for r in rows)
        entries[posixpath.join(g, "model-template.yaml")] = b"type: keras\n"
        entries[posixpath.join(g, "models.tsv")] = table.encode()
        expected.update(posixpath.join(g, r) for r in rows)
    files = sorted(entries)
    dirs = sorted({posixpath.dirname(f) for f in files} - {""})
    for d in model_dirs:
        # links inside the tree: to a file, a directory, or an earlier link
        targets = files + dirs + sorted(p for p, v in entries.items() if isinstance(v, tuple))
        if targets and draw(st.booleans()):
            target = draw(st.sampled_from(targets))
            entries[posixpath.join(d, "lnk")] = ("link", posixpath.relpath(target, d))
    return entries, expected


@settings(max_examples=50, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(sources(), st.lists(segment, min_size=1, max_size=2).map("/".join))
def test_any_source_lists_finds_and_closes_over_its_models(source, prefix):
    entries, expected = source
    memory = MemoryTree(entries)
    names = list_models(memory)
    assert names == sorted(expected, key=sort_key)
    assert list_models(memory, prefix) == [n for n in names if n == prefix or n.startswith(prefix + "/")]
    with tempfile.TemporaryDirectory() as root:
        write_tree(root, entries)
        local = LocalTree(root)
        assert list_models(local) == names
        for name in names:
            ref = find_model(memory, name)
            assert ref.name == name and find_model(local, name) == ref
            if ref.group is None:
                assert ref.directory == name and catalog.is_model_dir(memory, name)
            else:
                assert ref.directory == ref.group and catalog.is_group_dir(memory, ref.group)
                assert posixpath.relpath(name, ref.group or ".") in group_rows(memory, ref.group)
            paths = closure(memory, ref)
            assert closure(local, ref) == paths
            assert paths == sorted(set(paths), key=sort_key)
            for p in paths:
                assert memory.kind(p) in ("file", "link")  # a real path of this tree, never a dir
                assert os.path.realpath(os.path.join(root, p)).startswith(os.path.realpath(root))
            own = [posixpath.join(ref.directory, n) for n in
                   ("model.yaml", "model.yml", "w.bin", "lnk", "model-template.yaml", "models.tsv")]
            for p in own:
                if memory.kind(p) is not None:
                    assert p in paths
            for p in paths:
                if memory.kind(p) == "link":
                    target = posixpath.normpath(posixpath.join(posixpath.dirname(p), memory.readlink(p)))
                    if memory.kind(target) == "file":
                        assert target in paths
                    assert is_below(target, "") and not target.startswith("..")


def test_kipoi_download_cache_in_a_model_folder_is_not_part_of_the_model():
    tree = MemoryTree({
        "m/model.yaml": b"args: {}\n",
        "m/model.py": b"x = 1\n",
        "m/downloaded/model_files/weights/0123": b"stale copy kipoi made",
        "m/sub/downloaded.txt": b"an ordinary file",
    })
    assert closure(tree, find_model(tree, "m")) == ["m/model.py", "m/model.yaml", "m/sub/downloaded.txt"]
