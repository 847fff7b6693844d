"""Diff application, with Gradio's own ``gradio.utils.diff`` as the oracle."""

from __future__ import annotations

import copy
from typing import Any

import pytest
from gradio.utils import diff as gradio_diff
from gradio_client.utils import apply_diff as gradio_client_apply_diff
from hypothesis import given, settings
from hypothesis import strategies as st

from qwen_spaces.diff import DiffError, apply_diff

scalars = st.one_of(st.none(), st.booleans(), st.integers(-5, 5), st.text(max_size=6))
values = st.recursive(
    scalars,
    lambda inner: st.one_of(st.lists(inner, max_size=4),
                            st.dictionaries(st.sampled_from("abcd"), inner, max_size=3)),
    max_leaves=12,
)


def official(value: Any, edits: list[Any]) -> tuple[bool, Any]:
    """What Gradio's own client makes of the edits: (applied?, result)."""
    try:
        return True, gradio_client_apply_diff(copy.deepcopy(value), copy.deepcopy(edits))
    except Exception:
        return False, None


@settings(max_examples=100, deadline=None)
@given(st.lists(values, min_size=2, max_size=6))
def test_random_diff_sequences_reproduce_each_value(seq: list[Any]) -> None:
    """Correct diffs always reproduce the new value. Gradio's buggy diffs (lists shrinking,
    protocol notes 5.3) give exactly what the official client gives, or a DiffError, after
    which the client takes process_completed's full value."""
    current = copy.deepcopy(seq[0])
    for new in seq[1:]:
        edits = gradio_diff(current, new)
        applied, theirs = official(current, edits)
        try:
            result = apply_diff(copy.deepcopy(current), edits)
        except DiffError:
            assert not applied or theirs != new, (current, new, edits)  # only on a bad diff
        else:
            assert applied and result == theirs, (current, new, edits)
        current = copy.deepcopy(new)


@settings(max_examples=200, deadline=None)
@given(st.lists(st.lists(st.text(max_size=4), max_size=5), min_size=1, max_size=8))
def test_growing_chat_histories_always_reproduce(turns: list[list[str]]) -> None:
    """Append-only growth (what chat streaming sends) never hits the server-side bug."""
    history: list[Any] = []
    state: list[Any] = []  # the client's copy: first frame full, then diffs only
    for tokens in turns:
        steps = [["q", ""]] + [None] * len(tokens)
        for i, step in enumerate(steps):
            nxt = copy.deepcopy(history)
            if step is not None:
                nxt.append(step)
            else:
                nxt[-1][1] += tokens[i - 1]
            state = apply_diff(state, gradio_diff(history, nxt))
            history = nxt
            assert state == history


@pytest.mark.parametrize("edit", [
    ["append", [0], "x"],            # index out of range
    ["delete", [5], None],
    ["add", [9], 1],
    ["append", [], 3],               # int onto a list
    ["frobnicate", [0], 1],
    ["replace", "0", 1],             # path not a list
    "garbage",
])
def test_impossible_edits_raise_diff_error(edit: Any) -> None:
    with pytest.raises(DiffError):
        apply_diff([], [edit])


def test_ops_on_nested_values() -> None:
    value = {"a": [1, {"t": "he"}]}
    value = apply_diff(value, [["append", ["a", 1, "t"], "llo"], ["add", ["a", 2], 3],
                               ["delete", ["a", 0], None], ["add", ["b"], True],
                               ["replace", ["a", 0, "t"], "X"]])
    assert value == {"a": [{"t": "X"}, 3], "b": True}
    assert apply_diff("ab", [["append", [], "c"]]) == "abc"
    assert apply_diff("ab", [["replace", [], None]]) is None
