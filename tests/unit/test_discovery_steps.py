"""Helper listeners found in a live ``/config``: Qwen2.5-1M's ``add_text`` prelude (by its
api name) and Qwen3-Demo's thinking switch (by the state it flips), at the edges.

What the catalog says about them is the oracle: a listener is called by its dependency
``id`` (Gradio's ``fn_index``), or its position when a config has no ids, with its first
target as the trigger; the switch is the listener whose only input *and* only output is the
answer listener's thinking state; a step whose inputs no longer fit is a drift error that
names the Space.
"""

from __future__ import annotations

from typing import Any

import pytest

from qwen_spaces import CATALOG, SpaceProtocolError
from qwen_spaces.discovery import StepAPI, parse_config

QWEN3 = CATALOG["qwen-3"]
ONE_M = CATALOG["qwen-2.5-1m"]
BASE = "http://127.0.0.1:1"


def one_m(*, prelude: dict[str, Any] | None = None, ids: bool = True) -> dict[str, Any]:
    """Qwen2.5-1M's two listeners after two unrelated ones; the prelude's id (21) is not its
    position (2)."""
    comps = [{"id": 5, "type": "multimodalinput"}, {"id": 6, "type": "modelscopechatbot"},
             {"id": 7, "type": "state"}, {"id": 8, "type": "state"}]
    deps: list[dict[str, Any]] = [
        {"id": 0, "inputs": [], "outputs": []},
        {"id": 1, "inputs": [], "outputs": []},
        {"id": 21, "api_name": "add_text", "targets": [[5, "submit"]], "queue": False,
         "inputs": [5, 6, 7], "outputs": [5, 6], **(prelude or {})},
        {"id": 22, "api_name": "bot", "targets": [[5, "submit"]], "inputs": [6, 7, 8],
         "outputs": [6]},
    ]
    if not ids:
        for dep in deps:
            del dep["id"]
    return {"version": "4.44.1", "protocol": "sse_v3", "dependencies": deps,
            "components": comps}


def test_the_prelude_is_called_by_its_dependency_id() -> None:
    assert parse_config(ONE_M, BASE, one_m()).prelude == StepAPI(
        21, 5, ("message", "history", "state"))


def test_without_ids_the_prelude_is_called_by_its_position() -> None:
    api = parse_config(ONE_M, BASE, one_m(ids=False))
    assert api.prelude == StepAPI(2, 5, ("message", "history", "state"))
    assert api.fn_index == 3


def test_a_prelude_whose_inputs_changed_is_a_drift_error_naming_the_space() -> None:
    with pytest.raises(SpaceProtocolError) as exc:
        parse_config(ONE_M, BASE, one_m(prelude={"inputs": [5, 6]}))
    assert exc.value.space == ONE_M.space_id
    assert str(exc.value).startswith(f"{ONE_M.space_id}: the live /bot endpoint no longer "
                                     "matches the catalog (the number of inputs changed;")


def qwen3(deps_before: list[Any], *, ids: bool = True) -> dict[str, Any]:
    """Qwen3-Demo's answer listener (inputs: text, form, thinking state 41, session state
    42), after ``deps_before``."""
    comps = [{"id": 31, "type": "text"}, {"id": 40, "type": "form"},
             {"id": 41, "type": "state"}, {"id": 42, "type": "state"},
             {"id": 50, "type": "modelscopestudio_pro_chatbot"}]
    deps = [*deps_before,
            {"id": 13, "api_name": "add_message", "targets": [[31, "submit"]],
             "inputs": [31, 40, 41, 42], "outputs": [31, 60, 61, 62, 63, 50, 42]}]
    if not ids:
        deps = [{k: v for k, v in d.items() if k != "id"} if isinstance(d, dict) else d
                for d in deps]
    return {"version": "5.29.0", "protocol": "sse_v3", "api_prefix": "/gradio_api",
            "dependencies": deps, "components": comps}


SWITCH = {"id": 9, "targets": [[51, "click"]], "inputs": [41], "outputs": [41]}


def test_the_thinking_switch_is_called_by_its_dependency_id() -> None:
    cfg = qwen3([{"id": 0, "inputs": [], "outputs": []}, SWITCH])
    assert parse_config(QWEN3, BASE, cfg).thinking_switch == StepAPI(9, 51, ("thinking",))


def test_without_ids_the_thinking_switch_is_called_by_its_position() -> None:
    cfg = qwen3([{"inputs": [], "outputs": []}, SWITCH], ids=False)
    assert parse_config(QWEN3, BASE, cfg).thinking_switch == StepAPI(1, 51, ("thinking",))


@pytest.mark.parametrize("other", [
    {"id": 4, "targets": [[52, "click"]], "inputs": [], "outputs": [41]},  # sets it from nothing
    {"id": 5, "targets": [[53, "click"]], "inputs": [41], "outputs": []},  # only reads it
    {"id": 6, "targets": [[54, "click"]], "inputs": [41, 42], "outputs": [41]},
    {"id": 7, "targets": [[55, "click"]], "inputs": [41], "outputs": [41, 42]},
    {"id": 8, "targets": [[56, "click"]], "inputs": [42], "outputs": [42]},  # the session's
    "not a listener",
])
def test_only_a_listener_with_the_thinking_state_as_its_one_input_and_output_is_the_switch(
        other: Any) -> None:
    cfg = qwen3([other, SWITCH])
    assert parse_config(QWEN3, BASE, cfg).thinking_switch == StepAPI(9, 51, ("thinking",))


def test_no_switch_is_a_drift_error_saying_what_is_missing() -> None:
    cfg = qwen3([{"id": 8, "targets": [[56, "click"]], "inputs": [42], "outputs": [42]}])
    with pytest.raises(SpaceProtocolError) as exc:
        parse_config(QWEN3, BASE, cfg)
    assert exc.value.space == QWEN3.space_id
    assert (f"{QWEN3.space_id}: the live /add_message endpoint no longer matches the catalog "
            "(no listener switches the thinking state; live inputs: ") in str(exc.value)
