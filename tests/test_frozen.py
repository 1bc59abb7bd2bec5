"""Frozen value classes behave as frozen dataclasses did, without importing dataclasses."""

import pickle

import pytest

from kipoi_store.config.schema import Config, SourceConfig
from kipoi_store.frozen import Frozen, fresh
from kipoi_store.spec import ModelSpec


class Point(Frozen):
    __slots__ = ("x", "y", "tags")
    DEFAULTS = {"y": 0, "tags": fresh(list)}


def test_construction_by_position_or_keyword_with_defaults():
    assert Point(1) == Point(x=1, y=0, tags=[])
    assert Point(1, 2).y == 2
    assert Point(1).tags is not Point(1).tags  # a fresh list each
    for bad in (lambda: Point(), lambda: Point(1, z=3), lambda: Point(1, x=1), lambda: Point(1, 2, [], 4)):
        with pytest.raises(TypeError):
            bad()


def test_equal_only_to_the_same_class_and_hashable_by_value():
    class Other(Frozen):
        __slots__ = ("x", "y", "tags")

    assert Point(1, 2, ()) != Other(1, 2, ())
    assert Point(1, 2, ()) != (1, 2, ())
    assert {Point(1, 2, ()): "a"}[Point(1, 2, ())] == "a"
    with pytest.raises(TypeError):
        hash(Point(1))  # a list field, as a frozen dataclass


def test_immutable_and_replace_gives_a_changed_copy():
    p = Point(1)
    with pytest.raises(AttributeError):
        p.x = 2
    with pytest.raises(AttributeError):
        p.z = 2
    with pytest.raises(AttributeError):
        del p.x
    assert p.replace(y=5) == Point(1, 5)
    assert p == Point(1)


def test_repr_names_every_field():
    assert repr(ModelSpec("kipoi", "a")) == \
        "ModelSpec(source='kipoi', path='a', ref=None, repo=None, host=None, blob=False)"


def test_replace_makes_a_changed_copy():
    spec = ModelSpec("kipoi", "a", "v1")
    assert spec.replace(ref="v2") == ModelSpec("kipoi", "a", "v2")
    assert spec == ModelSpec("kipoi", "a", "v1")


def test_config_objects_survive_pickle():
    source = SourceConfig(name="s", type="git", remote_url="u", local_path=None, raw={"type": "git"})
    config = Config(path="/c.yaml", exists=True, sources={"s": source}, warnings=["w"])
    back = pickle.loads(pickle.dumps(config, protocol=pickle.HIGHEST_PROTOCOL))
    assert back == config and back.source("s") == source and back.url_rewrites == []
