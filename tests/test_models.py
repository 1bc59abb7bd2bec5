"""models/catalog.py and models/closure.py: what a model is, how names are found and listed,
and what a model needs (its closure)."""

import json
import os
import posixpath
import tempfile

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from kipoi_store import spec
from kipoi_store.models import catalog
from kipoi_store.demo import DEMO_ROOT
from kipoi_store.errors import EXIT_FAILED, EXIT_USAGE, ModelError, NotFoundError, UnsafePathError
from kipoi_store.models.catalog import ModelRef, find_model, group_rows, list_models, parse_rows
from kipoi_store.models.closure import closure
from kipoi_store.tree import LocalTree, MemoryTree, is_below, sort_key

from .conftest import run_kipoi

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
            "w4.h5\t/D//\tx\n"
            "w5.h5\tE//\tx\n"
            "w6.h5\tA\tx\n")
    problems = []
    assert parse_rows(text, problems) == ["A", "B/C", "E"]
    assert problems == [(7, "row '../escape' leaves the group directory; skipped", False),
                        (9, "row '/D//' is an absolute path; skipped", False),
                        (11, "row 'A' repeats line 3; only the first counts", False)]
    assert parse_rows("name\tx\nA\t1\n") == []  # no `model` column: not a kipoi group table


@pytest.mark.parametrize("cell", ['"B', '"', '"B""', '"a"b"'])
def test_a_quote_left_open_makes_the_whole_table_unreadable(cell):
    problems = []
    assert parse_rows("model\tw\nA\t1\n%s\t2\nC\t3\n" % cell, problems) == []
    assert problems == [(3, "a quote is not closed, so the table cannot be read", True)]


def test_broken_group_tables_are_named_with_file_and_line():
    tree = MemoryTree({
        "G/model-template.yaml": b"type: keras\n",
        "G/models.tsv": b"model\nr1\n../../etc\n/abs\nr1\nr2\n",
        "Q/model-template.yaml": b"type: keras\n",
        "Q/models.tsv": b"model\tw\nq1\t1\n\"q2\t2\n",
    })
    heard = []
    assert list_models(tree, warn=heard.append) == ["G/r1", "G/r2"]
    assert heard == [
        "G/models.tsv line 3: row '../../etc' leaves the group directory; skipped",
        "G/models.tsv line 4: row '/abs' is an absolute path; skipped",
        "G/models.tsv line 5: row 'r1' repeats line 2; only the first counts",
        "Q/models.tsv line 3: a quote is not closed, so the table cannot be read "
        "(none of its models can be loaded)"]
    # Resolving a row of G still works (kipoi 0.8.6 loads it too), with the same warnings...
    heard.clear()
    assert find_model(tree, "G/r2", warn=heard.append) == ModelRef("G/r2", "G", group="G")
    assert len(heard) == 3
    find_model(tree, "G/r2", source="lab", warn=heard.append)
    assert heard[-1] == "source 'lab': G/models.tsv line 5: row 'r1' repeats line 2; only the first counts"
    # ... but no row of a table kipoi cannot read resolves: an error naming the file and line.
    with pytest.raises(ModelError, match=r"^model 'Q/q1' in source 'lab': Q/models.tsv line 3: a quote "):
        find_model(tree, "Q/q1", source="lab")


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
def test_a_link_leaving_the_tree_is_left_out_with_a_warning_naming_it(target):
    # kipoi's checkout would hold a link to whatever that names on each machine; a snapshot never
    # points outside itself: the link is left out, the model resolves with the rest.
    tree = MemoryTree({"m/model.yaml": b"{}", "m/bad": ("link", target), "up": ("link", "..")})
    warnings = []
    assert closure(tree, find_model(tree, "m"), source="lab", warn=warnings.append) == ["m/model.yaml"]
    [warning] = warnings
    assert warning.startswith("source 'lab': symlink 'm/bad' points outside the source")
    assert warning.endswith("; left out")


def test_a_link_chain_leaving_the_tree_names_both_links():
    tree = MemoryTree({"m/model.yaml": b"{}", "m/a": ("link", "../b"), "b": ("link", "/etc/passwd")})
    warnings = []
    assert closure(tree, find_model(tree, "m"), warn=warnings.append) == ["m/model.yaml"]
    assert warnings == ["symlink 'm/a' points outside the source through symlink 'b' -> "
                        "'/etc/passwd'; left out"]


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


@pytest.mark.parametrize("text", [b"a: &x [*x]\nb: ../f\n", b"args: {weights: [../f, ../nothing]}\n"])
def test_odd_yaml_references_nothing_more_than_exists(text):
    tree = MemoryTree({"d/m/model.yaml": text, "d/f": b""})
    assert closure(tree, find_model(tree, "d/m")) == ["d/f", "d/m/model.yaml"]


@pytest.mark.parametrize("text, problem", [
    (b"type: keras\nargs: [unclosed\n", "d/m/model.yaml line 3: not valid YAML"),
    (b"type: keras\nargs:\n  - ../f\n  - {bad: [}\n", "d/m/model.yaml line 4: not valid YAML"),
    (b"", "d/m/model.yaml is empty"),
    (b"# only a comment\n", "d/m/model.yaml is empty"),
    (b"- ../f\n", "d/m/model.yaml line 1: a list, where kipoi needs a mapping"),
    (b"\xff\xfe: \x00", "d/m/model.yaml"),
])
def test_a_model_yaml_kipoi_cannot_load_is_an_error_naming_file_and_line(text, problem):
    tree = MemoryTree({"d/m/model.yaml": text, "d/f": b""})
    with pytest.raises(ModelError) as info:
        closure(tree, find_model(tree, "d/m"), source="lab")
    assert str(info.value).startswith("model 'd/m' in source 'lab': " + problem)
    assert info.value.exit_code == EXIT_FAILED


@pytest.mark.parametrize("loader", ["../nonexistent", "..", "sub"])
def test_a_default_dataloader_that_names_no_dataloader_is_a_warning_naming_file_and_line(loader):
    # kipoi 0.8.6 loads such a model (get_model(..., with_dataloader=False)); only using that
    # dataloader fails. So the model resolves, with everything that is there.
    tree = MemoryTree({
        "fam/m/model.yaml": ("type: keras\n# the loader:\ndefault_dataloader: %s\n" % loader).encode(),
        "fam/m/sub/readme.txt": b"a directory, but no dataloader.yaml in it",
    })
    warnings = []
    assert closure(tree, find_model(tree, "fam/m"), source="lab", warn=warnings.append) == [
        "fam/m/model.yaml", "fam/m/sub/readme.txt"]
    assert warnings == ["source 'lab': fam/m/model.yaml line 3: default_dataloader %r names no "
                        "dataloader (no dataloader.yaml there); resolved without it" % loader]


def test_a_dot_dot_reference_that_names_nothing_is_a_warning_naming_file_and_line():
    tree = MemoryTree({
        "fam/m/model.yaml": b"type: keras\nargs:\n  arch: ../model_architecture.py\n"
                            b"  weights: ../gone/weights.h5\n  up: ../\n",  # only dots: no file
        "fam/model_architecture.py": b"",
    })
    warnings = []
    assert closure(tree, find_model(tree, "fam/m"), source="lab", warn=warnings.append) == [
        "fam/m/model.yaml", "fam/model_architecture.py"]
    assert warnings == ["source 'lab': fam/m/model.yaml line 4: '../gone/weights.h5' names nothing in "
                        "the source; resolved without it"]


def test_a_group_rows_dataloader_is_found_from_the_rows_name_as_kipoi_does():
    tree = MemoryTree({
        "G/model-template.yaml": b"type: keras\ndefault_dataloader: ..\n",
        "G/models.tsv": b"model\nr1\nsub/r2\ndeep/r3\n",
        "G/dataloader.yaml": b"defined_as: dataloader.Dl\n",     # for G/r1: `G/r1/..`
        "G/sub/dataloader.yaml": b"defined_as: dataloader.Dl\n",  # for G/sub/r2: `G/sub/r2/..`
    })
    assert "G/sub/dataloader.yaml" in closure(tree, find_model(tree, "G/sub/r2"))
    assert "G/dataloader.yaml" in closure(tree, find_model(tree, "G/r1"))
    warnings = []
    closure(tree, find_model(tree, "G/deep/r3"), warn=warnings.append)  # `G/deep` holds no dataloader
    assert warnings == ["G/model-template.yaml line 2: default_dataloader '..' names no dataloader "
                        "(no dataloader.yaml there); resolved without it"]


def test_dataloaders_kipoi_finds_elsewhere_are_not_errors():
    tree = MemoryTree({
        # a dataloader group row: dataloader-template.yaml + models.tsv above the named path
        "a/model.yaml": b"default_dataloader: ../dls/seq\n",
        "dls/dataloader-template.yaml": b"defined_as: dataloader.{{ model }}\n",
        "dls/models.tsv": b"model\nseq\n",
        "dls/dataloader.py": b"",
        # another source's dataloader, a python import path, a rendered value
        "b/model.yaml": b"default_dataloader: kipoi:dataloaders/seq\n",
        "c/model.yaml": b"default_dataloader:\n  defined_as: kipoiseq.dataloaders.SeqIntervalDl\n",
        "G/model-template.yaml": b"default_dataloader: ../{{ model }}_dl\n",
        "G/models.tsv": b"model\nr\n",
    })
    assert closure(tree, find_model(tree, "a")) == [
        "a/model.yaml", "dls/dataloader-template.yaml", "dls/dataloader.py", "dls/models.tsv"]
    assert closure(tree, find_model(tree, "b")) == ["b/model.yaml"]
    assert closure(tree, find_model(tree, "c")) == ["c/model.yaml"]
    assert closure(tree, find_model(tree, "G/r")) == ["G/model-template.yaml", "G/models.tsv"]


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
                                     b"args: {m: ../w.bin}\n"]))
        entries[posixpath.join(d, name)] = body
        if body.startswith(b"default_dataloader"):
            entries[posixpath.join(posixpath.dirname(d), "dataloader.yaml")] = b"defined_as: dl.Dl\n"
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


# -- what a listing shows: exactly what a spec can name ------------------------------------------

ODD = {
    "ok/model.yaml": b"{}",
    "in side/model.yaml": b"{}",             # an inner space is fine
    " lead/model.yaml": b"{}",
    "trail /model.yaml": b"{}",
    "back\\slash/model.yaml": b"{}",
    "a@b/model.yaml": b"{}",
    "tab\tx/model.yaml": b"{}",
    "new\nline/model.yaml": b"{}",
    "\udcff\udcfe/model.yaml": b"{}",         # bytes that are not UTF-8, as os.listdir gives them
    ":colon/model.yaml": b"{}",
    "bad @G/model-template.yaml": b"{}",     # a group whose directory no spec can name
    "bad @G/models.tsv": b"model\nr1\nr2\nr3\n",
    "G/model-template.yaml": b"{}",
    "G/models.tsv": b"model\nr1\nr@2\ntemplate\nsub/template\n",
    "rbp_eclip/template/model.yaml": b"{}",  # kipoi hides */template: the files others link to
    "rbp_eclip/UPF1/model.yaml": b"{}",
    "template/model.yaml": b"{}",            # ... but not a top-level one (kipoi: "/template$")
}


def test_a_listing_names_only_what_resolves_and_reports_each_unnamable_path_once():
    tree = MemoryTree(ODD)
    unusable = {}
    listed = list_models(tree, unusable=unusable)
    assert listed == ["G/r1", "in side", "ok", "rbp_eclip/UPF1", "template"]
    for name in listed:
        assert spec.parse("src:" + name).path == name
        assert find_model(tree, name).name == name
    assert {path: count for path, (_, count) in unusable.items()} == {
        " lead": 1, "trail ": 1, "back\\slash": 1, "a@b": 1, "tab\tx": 1, "new\nline": 1,
        "\udcff\udcfe": 1, ":colon": 1, "bad @G": 3, "G/r@2": 1}
    why = {path: reason for path, (reason, _) in unusable.items()}
    assert why["\udcff\udcfe"] == "its bytes are not UTF-8"
    assert why["a@b"] == "'@' would start a ref" and why["trail "] == "a space starts or ends a segment"


def test_the_models_command_warns_once_per_unnamable_directory(tmp_path, kipoi_env):
    root = tmp_path / "zoo"
    for path, data in ODD.items():
        full = os.fsencode(root / path)
        os.makedirs(os.path.dirname(full), exist_ok=True)
        with open(full, "wb") as f:
            f.write(data)
    assert run_kipoi("kipoi", "source", "add", "zoo", str(root), env=kipoi_env).returncode == 0
    r = run_kipoi("kipoi", "source", "models", "zoo", "--specs", env=kipoi_env)
    assert r.returncode == 0, r.stderr
    assert r.stdout.splitlines() == ["zoo:G/r1", "zoo:in side", "zoo:ok", "zoo:rbp_eclip/UPF1",
                                     "zoo:template"]
    warnings = r.stderr.splitlines()
    assert len(warnings) == 10 and all(w.startswith("kipoi: warning: source 'zoo': '") for w in warnings)
    assert "kipoi: warning: source 'zoo': 'bad @G' (3 models) is not listed: no spec can name it " \
           "('@' would start a ref)" in warnings
    assert any("'new\\nline' is not listed" in w for w in warnings)
    assert any("'\\xff\\xfe' is not listed" in w for w in warnings)
    # What is listed is what resolve takes, every name of it.
    every = run_kipoi("kipoi", "source", "resolve", "--stdin", "--json", input=r.stdout, env=kipoi_env)
    assert every.returncode == 0, every.stderr
    assert [json.loads(line)["path"] for line in every.stdout.splitlines()] == [
        "G/r1", "in side", "ok", "rbp_eclip/UPF1", "template"]


@settings(max_examples=200, deadline=None)
@given(st.lists(st.text(st.sampled_from("ab.@ \\:\t-_/\udcff"), min_size=1, max_size=8), max_size=6))
def test_every_listed_name_is_a_spec_of_itself(names):
    entries = {}
    for name in names:
        try:
            entries[name.strip("/") + "/model.yaml"] = b"{}"
        except ValueError:
            continue
    try:
        tree = MemoryTree(entries)
    except (ValueError, UnsafePathError):
        return
    unusable = {}
    for name in list_models(tree, unusable=unusable):
        assert spec.parse("s:" + name).path == name
        assert catalog.name_problem(name) is None
    for path in unusable:
        assert catalog.name_problem(path) is not None
