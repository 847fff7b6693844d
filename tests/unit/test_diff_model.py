"""Diff edits on random trees along random paths, against a model of the documented rules.

Every edit either gives the value the model computes, or raises :class:`DiffError`, the
documented error the protocol falls back on; never ``IndexError``, ``KeyError`` or
``TypeError``. The model is written out here from the rules (Python-style indices on lists,
string keys on dicts, ``append`` concatenates two strings or two lists); it never calls the
code under test.
"""

from __future__ import annotations

import copy
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from qwen_spaces.diff import DiffError, apply_diff, apply_edit

scalars = st.one_of(st.none(), st.booleans(), st.integers(-3, 3), st.text("xy", max_size=3))
values = st.recursive(
    scalars,
    lambda inner: st.one_of(st.lists(inner, max_size=4),
                            st.dictionaries(st.sampled_from("abc"), inner, max_size=3)),
    max_leaves=10,
)
keys = st.one_of(st.integers(-5, 5), st.sampled_from(["a", "b", "c", "z"]), st.booleans(),
                 st.just([0]), st.none(), st.just(1.0))
OPS = ["replace", "append", "add", "delete", "frob"]


class Impossible(Exception):
    pass


def index(container: list[Any], key: Any) -> int:
    if type(key) is not int or not -len(container) <= key < len(container):
        raise Impossible
    return key


def child(container: Any, key: Any) -> Any:
    if isinstance(container, list):
        return container[index(container, key)]
    if isinstance(container, dict) and isinstance(key, str) and key in container:
        return container[key]
    raise Impossible


def concat(old: Any, new: Any) -> Any:
    if isinstance(old, str) and isinstance(new, str):
        return old + new
    if isinstance(old, list) and isinstance(new, list):
        return old + new
    raise Impossible


def model(value: Any, op: Any, path: list[Any], new: Any) -> Any:
    """The edited value, or Impossible."""
    if not path:
        if op == "replace":
            return new
        if op == "append":
            return concat(value, new)
        raise Impossible
    value = copy.deepcopy(value)
    parent = value
    for key in path[:-1]:
        parent = child(parent, key)
    key = path[-1]
    if op not in ("replace", "append", "add", "delete"):
        raise Impossible
    if isinstance(parent, list):
        if op == "add":
            if type(key) is not int or not 0 <= key <= len(parent):
                raise Impossible
            parent.insert(key, new)
        else:
            i = index(parent, key)
            if op == "replace":
                parent[i] = new
            elif op == "append":
                parent[i] = concat(parent[i], new)
            else:
                del parent[i]
    elif isinstance(parent, dict) and isinstance(key, str):
        if op in ("replace", "add"):
            parent[key] = new
        elif key not in parent:
            raise Impossible
        elif op == "append":
            parent[key] = concat(parent[key], new)
        else:
            del parent[key]
    else:
        raise Impossible
    return value


@st.composite
def edits_on(draw: st.DrawFn, value: Any) -> list[Any]:
    """A path that mostly follows the tree (so deep edits happen), sometimes strays."""
    path: list[Any] = []
    node = value
    for _ in range(draw(st.integers(0, 4))):
        real = (list(range(-len(node), len(node))) if isinstance(node, list)
                else sorted(node) if isinstance(node, dict) else [])
        key = draw(st.sampled_from(real)) if real and draw(st.integers(0, 2)) else draw(keys)
        path.append(key)
        try:
            node = child(node, key)
        except Impossible:
            node = None
    return [draw(st.sampled_from(OPS)), path, draw(values)]


trees = st.one_of(st.lists(values, max_size=4),
                  st.dictionaries(st.sampled_from("abc"), values, max_size=3))


@given(st.data(), trees)
def test_an_edit_gives_the_modelled_value_or_a_diff_error(data: st.DataObject,
                                                         value: Any) -> None:
    edit = data.draw(edits_on(value))
    try:
        want = model(value, *edit)
    except Impossible:
        with pytest.raises(DiffError):
            apply_edit(copy.deepcopy(value), copy.deepcopy(edit))
    else:
        assert apply_edit(copy.deepcopy(value), copy.deepcopy(edit)) == want


@pytest.mark.parametrize(("value", "edit"), [
    ({"a": 1}, ["replace", [["a"]], 2]),        # an unhashable key on a dict
    ({"a": {}}, ["append", [["a"], "b"], "x"]),
    ({"a": 1}, ["delete", [["a"]], None]),
    ({"a": 1}, ["add", [["a"]], 1]),
    ([1, 2], ["add", [True], 0]),               # a bool is not a list index
    ({"a": 1}, ["delete", [1], None]),          # dict keys are strings
    ({"0": 1}, ["replace", [0], 2]),
])
def test_type_mismatched_keys_raise_diff_error(value: Any, edit: list[Any]) -> None:
    with pytest.raises(DiffError):
        apply_edit(value, edit)


def test_negative_indexes_reach_the_first_item_and_no_further() -> None:
    assert apply_diff([1, 2], [["replace", [-2], 0]]) == [0, 2]
    assert apply_diff([[1], 2], [["append", [-2], [3]]]) == [[1, 3], 2]
    for op in ("replace", "delete", "append"):
        with pytest.raises(DiffError):
            apply_edit([1, 2], [op, [-3], [0]])
        with pytest.raises(DiffError):
            apply_edit([1, 2], [op, [2], [0]])


@pytest.mark.parametrize(("edit", "names"), [
    ("garbage", "malformed edit 'garbage'"),
    (["replace", "p", 1], "malformed path in edit ['replace', 'p', 1]"),
    (["delete", [], 1], "'delete' needs a non-empty path"),
    (["add", [7], 1], "add index 7 outside a list of 3"),
    (["add", [0, 0], 1], "add into a int"),
    (["delete", [7], 1], "delete index 7 outside a list of 3"),
    (["delete", [1, "zz"], 1], "delete of missing key 'zz'"),
    (["delete", [0, 0], 1], "delete from a int"),
    (["frob", [0], 1], "unknown diff op 'frob'"),
    (["replace", [9, 0], 1], "bad list index 9"),
    (["replace", [2, 5], 1], "bad list index 5"),
    (["replace", [1, "zz", 0], 1], "missing key 'zz'"),
    (["replace", [0, "x", 0], 1], "cannot index a int"),
    (["replace", [0, 0], 1], "cannot set into a int"),
    (["replace", [1, 0], 1], "key 0 of a dict is not a string"),
    (["append", [1], 5], "append of int to dict"),
    (["append", [2], "s"], "append of str to list"),
])
def test_a_diff_error_names_what_did_not_fit_and_the_edit(edit: Any, names: str) -> None:
    """The message is logged when the protocol falls back to the full value: it names the
    op, key or type that did not fit, and the edit."""
    with pytest.raises(DiffError) as exc:
        apply_edit([1, {"k2": 0}, [3]], edit)
    text = str(exc.value)
    assert text.startswith(names)
    assert text.count(repr(edit)) == 1


def test_lists_append_onto_lists_and_strings_onto_strings_only() -> None:
    assert apply_diff({"a": [1]}, [["append", ["a"], [2, 3]]]) == {"a": [1, 2, 3]}
    assert apply_diff("ab", [["append", [], "c"]]) == "abc"
    for old, new in [("ab", ["c"]), (["a"], "b"), (1, 2)]:
        with pytest.raises(DiffError):
            apply_edit(old, ["append", [], new])
