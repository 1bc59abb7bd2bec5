"""Group rows rendered as kipoi renders them: models.tsv read like pandas, the template by Jinja2."""

import math

import pytest
import yaml

from kipoi_store.errors import NotFoundError, UsageError
from kipoi_store.models.render import find_row, read_table, render, render_row

TEMPLATE = """\
type: keras
args:
  weights:
    url: {{ args_weights_url }}
    md5: {{ args_weights_md5 }}
  seq_len: {{ seq_len }}
{% if model == 'Homo_sapiens/TF/D2' %}
test:
  expect:
    url: https://example.org/{{ model }}/predictions.h5
{% endif %}
"""

TABLE = (
    "# DeepBind-like group table\n"
    "model\targs_weights_url\targs_weights_md5\tseq_len\tscore\n"
    "D1\thttps://example.org/D1.h5\t0cc175b9c0f1b6a831c399e269772661\t101\t0.5\n"
    "\n"
    "Homo_sapiens/TF/D2\thttps://example.org/D2.h5\t92eb5ffee6ae2fec3ad71c777531578f\t200\t\n"
)


def test_a_row_renders_into_the_yaml_kipoi_would_load():
    doc = yaml.safe_load(render_row(TEMPLATE, TABLE, "D1", where="DeepBind"))
    assert doc["args"]["weights"] == {"url": "https://example.org/D1.h5",
                                      "md5": "0cc175b9c0f1b6a831c399e269772661"}
    assert doc["args"]["seq_len"] == 101 and "test" not in doc


def test_conditionals_see_the_model_column():
    doc = yaml.safe_load(render_row(TEMPLATE, TABLE, "Homo_sapiens/TF/D2"))
    assert doc["test"]["expect"]["url"] == "https://example.org/Homo_sapiens/TF/D2/predictions.h5"


def test_a_hash_cuts_the_rest_of_the_line_as_pandas_comment_does():
    rows = read_table("model\turl\tmd5\nD3\thttps://example.org/D3.h5#frag\tabc\n")
    # kipoi sees the URL without its fragment and no md5 at all
    assert rows[0]["url"] == "https://example.org/D3.h5" and math.isnan(rows[0]["md5"])


def test_columns_get_pandas_types():
    rows = read_table(TABLE)
    assert [r["model"] for r in rows] == ["D1", "Homo_sapiens/TF/D2"]
    assert rows[0]["seq_len"] == 101 and isinstance(rows[0]["seq_len"], int)
    # an empty cell is NaN, which makes the column float: kipoi renders `nan` there
    assert rows[0]["score"] == 0.5 and math.isnan(rows[1]["score"])
    assert render("{{ score }}", rows[1]) == "nan"
    with_na = read_table("model\tn\tflag\tname\na\t3\tTrue\tNA\nb\t\tFalse\tx\n")
    assert render("{{ n }} {{ flag }} {{ name }}", with_na[0]) == "3.0 True nan"
    assert render("{{ n }} {{ flag }} {{ name }}", with_na[1]) == "nan False x"


def test_quoted_cells_keep_tabs_and_hashes():
    rows = read_table('model\tdoc\n"m1"\t"a\tb # not a comment"\n')
    assert rows == [{"model": "m1", "doc": "a\tb # not a comment"}]


def test_rows_are_found_by_clean_name_only():
    rows = read_table("model\nD1\n a/b \n")
    assert find_row(rows, "a//b")["model"] == " a/b "
    with pytest.raises(NotFoundError, match="'D9' is not a row of G/models.tsv"):
        find_row(rows, "D9", where="G")


def test_a_broken_template_is_bad_input_with_its_line():
    with pytest.raises(UsageError, match=r"G/model-template.yaml:2: cannot render"):
        render_row("a: 1\nb: {% if %}\n", "model\nm\n", "m", where="G")
