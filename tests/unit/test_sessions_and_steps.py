"""The Qwen3 and Qwen2.5-1M shapes, offline: state roles and helper listeners found in a live
``/config``, the inputs each listener is sent, the thinking settings' checks, and the
session book that lets a stateless call continue a Space-held conversation."""

from __future__ import annotations

import dataclasses
import time
from typing import Any

import pytest

from qwen_spaces import CATALOG, SpaceProtocolError, resolve_model
from qwen_spaces.chat import budget_units, flatten, prepare_chat
from qwen_spaces.client import build_inputs, step_inputs
from qwen_spaces.discovery import StepAPI, parse_config, pinned_api
from qwen_spaces.sessions import SessionBook, SpaceSession

QWEN3 = CATALOG["qwen-3"]
ONE_M = CATALOG["qwen-2.5-1m"]
BASE = "http://127.0.0.1:1"


def qwen3_config(*, switch: bool = True, extra_state: bool = False) -> dict[str, Any]:
    """Qwen3-Demo's listeners as the layouts doc records them (ids are the recorded ones)."""
    comps = [{"id": 31, "type": "text"}, {"id": 40, "type": "form"},
             {"id": 41, "type": "state"}, {"id": 42, "type": "state"},
             {"id": 50, "type": "modelscopestudio_pro_chatbot"}, {"id": 51, "type": "button"}]
    outputs = [31, 60, 61, 62, 63, 50, 42]
    deps: list[dict[str, Any]] = [{"id": i, "inputs": [], "outputs": []} for i in range(13)]
    if switch:
        deps[3] = {"id": 3, "targets": [[51, "click"]], "inputs": [41], "outputs": [41]}
    inputs = [31, 40, 41, 42] + ([43] if extra_state else [])
    comps.append({"id": 43, "type": "state"})
    deps.append({"id": 13, "api_name": "add_message", "targets": [[31, "submit"]],
                 "inputs": inputs, "outputs": outputs})
    return {"version": "5.29.0", "protocol": "sse_v3", "api_prefix": "/gradio_api",
            "dependencies": deps, "components": comps}


def test_qwen3_state_slots_take_their_roles_and_the_switch_is_found_by_its_state() -> None:
    api = parse_config(QWEN3, BASE, qwen3_config())
    assert api.input_roles == ("query", "settings", "thinking", "session")
    assert (api.fn_index, api.trigger_id, api.reply_output) == (13, 31, 5)
    assert api.thinking_switch == StepAPI(3, 51, ("thinking",))
    # A state the catalog does not name is still sent as null.
    assert parse_config(QWEN3, BASE, qwen3_config(extra_state=True)).input_roles == (
        "query", "settings", "thinking", "session", None)


def test_qwen3_without_its_thinking_switch_no_longer_matches_the_catalog() -> None:
    with pytest.raises(SpaceProtocolError, match="no listener switches the thinking state"):
        parse_config(QWEN3, BASE, qwen3_config(switch=False))


def test_a_state_role_where_the_space_has_a_real_input_is_a_mismatch() -> None:
    cfg = qwen3_config()
    cfg["components"][2]["type"] = "checkbox"  # the thinking state became a checkbox
    with pytest.raises(SpaceProtocolError, match="the number of inputs changed"):
        parse_config(QWEN3, BASE, cfg)


def one_m_config(*, prelude_name: str = "add_text") -> dict[str, Any]:
    comps = [{"id": 5, "type": "multimodalinput"}, {"id": 6, "type": "modelscopechatbot"},
             {"id": 7, "type": "state"}, {"id": 8, "type": "state"}]
    deps = [{"id": 0, "inputs": [], "outputs": []},
            {"id": 1, "api_name": prelude_name, "targets": [[5, "submit"]], "queue": False,
             "inputs": [5, 6, 7], "outputs": [5, 6]},
            {"id": 2, "api_name": "bot", "targets": [[5, "submit"]], "inputs": [6, 7, 8],
             "outputs": [6]}]
    return {"version": "4.44.1", "protocol": "sse_v3", "dependencies": deps,
            "components": comps}


def test_the_1m_prelude_is_found_by_name_with_its_inputs() -> None:
    api = parse_config(ONE_M, BASE, one_m_config())
    assert api.input_roles == ("history", "state", "state")
    assert api.prelude == StepAPI(1, 5, ("message", "history", "state"))
    assert api.history_format == "tuples"
    with pytest.raises(SpaceProtocolError, match="the /add_text step is gone"):
        parse_config(ONE_M, BASE, one_m_config(prelude_name="renamed"))


def test_pinned_apis_carry_the_catalog_steps() -> None:
    assert pinned_api(ONE_M, BASE).prelude == StepAPI(1, 5, ("message", "history", "state"))
    assert pinned_api(QWEN3, BASE).thinking_switch == StepAPI(3, None, ("thinking",))
    assert pinned_api(CATALOG["qwen-2.5"], BASE).thinking_switch is None


def test_the_1m_turn_sends_the_message_box_then_the_history_with_the_open_turn() -> None:
    api = parse_config(ONE_M, BASE, one_m_config())
    chat = prepare_chat(resolve_model("qwen-2.5-1m"), [
        {"role": "user", "content": "q1"}, {"role": "assistant", "content": "a1"},
        {"role": "user", "content": "q2"}])

    def item(text: str) -> dict[str, Any]:
        return {"id": None, "elem_id": None, "elem_classes": None, "name": None,
                "text": text, "flushing": None, "avatar": "", "files": []}

    assert api.prelude is not None
    assert step_inputs(api.prelude, chat, api, ONE_M) == [
        {"files": [], "text": "q2"}, [[item("q1"), item("a1")]], None]
    assert build_inputs(api, chat, [], ONE_M) == [
        [[item("q1"), item("a1")], [item("q2"), None]], None, None]


def test_the_qwen3_settings_form_gets_model_system_and_budget_in_thousands() -> None:
    api = parse_config(QWEN3, BASE, qwen3_config())
    chat = prepare_chat(resolve_model("qwen-3-32b"), [{"role": "system", "content": "Be brief."},
                                                      {"role": "user", "content": "hi"}],
                        thinking_budget=2500)
    assert build_inputs(api, chat, [], QWEN3) == [
        "hi", {"model": "qwen3-32b", "sys_prompt": "Be brief.", "thinking_budget": 3},
        None, None]
    default = prepare_chat(resolve_model("qwen-3"), [{"role": "user", "content": "hi"}])
    assert build_inputs(api, default, [], QWEN3)[1] == {
        "model": "qwen3-235b-a22b", "sys_prompt": "You are a helpful and harmless assistant.",
        "thinking_budget": 38}
    assert [budget_units(QWEN3, t) for t in (1000, 1001, 38000, None)] == [1, 2, 38, 38]


def test_qwen3_history_is_kept_for_the_session_not_flattened_by_prepare() -> None:
    chat = prepare_chat(resolve_model("qwen-3"), [
        {"role": "user", "content": "q1"}, {"role": "assistant", "content": "a1"},
        {"role": "user", "content": "q2"}])
    assert (chat.query, chat.history) == ("q2", (("user", "q1"), ("assistant", "a1")))
    assert flatten(chat.history, chat.query) == "User: q1\n\nAssistant: a1\n\nUser: q2"


@pytest.mark.parametrize(("kwargs", "message"), [
    ({"thinking": True}, "qwen-2.5 has no thinking switch or budget; thinking is set on qwen-3"),
    ({"thinking_budget": 2000}, "qwen-2.5 has no thinking switch"),
])
def test_thinking_on_a_space_without_it_is_a_value_error(kwargs: dict[str, Any],
                                                          message: str) -> None:
    with pytest.raises(ValueError, match=message):
        prepare_chat(resolve_model("qwen-2.5"), [{"role": "user", "content": "hi"}], **kwargs)


@pytest.mark.parametrize("budget", [0, 999, 38001, 2.5, "2000", True])
def test_a_budget_outside_the_controls_range_is_a_value_error(budget: Any) -> None:
    with pytest.raises(ValueError, match="thinking_budget must be a whole number of tokens "
                                         "from 1000 to 38000 for qwen-3"):
        prepare_chat(resolve_model("qwen-3"), [{"role": "user", "content": "hi"}],
                     thinking_budget=budget)
    with pytest.raises(ValueError, match="thinking must be True, False or None"):
        prepare_chat(resolve_model("qwen-3"), [{"role": "user", "content": "hi"}],
                     thinking="yes")


def test_the_session_book_hands_a_transcript_to_one_caller_only() -> None:
    book = SessionBook(ttl=60)
    key = ("qwen-3", BASE)
    session = SpaceSession.fresh()
    session.transcript = (("user", "q"), ("assistant", "a"))
    book.give_back(key, session)
    assert book.take(key, (("user", "q"),)) is None  # not that transcript
    assert book.take(("qwen-3", "http://other"), session.transcript) is None  # not that host
    assert book.take(key, session.transcript) is session
    assert book.take(key, session.transcript) is None  # taken: a second caller starts afresh
    assert book.take(key, ()) is None


def test_the_session_book_forgets_idle_and_surplus_sessions() -> None:
    book = SessionBook(ttl=0.05, max_sessions=2)
    key = ("qwen-3", BASE)
    sessions = []
    for n in range(3):
        s = dataclasses.replace(SpaceSession.fresh(), transcript=(("user", str(n)),))
        book.give_back(key, s)
        sessions.append(s)
    assert len(book) == 2 and book.take(key, (("user", "0"),)) is None  # the oldest went
    time.sleep(0.06)
    assert book.take(key, (("user", "2"),)) is None  # idle past the ttl


def test_a_space_with_history_but_no_system_input_gets_only_the_system_flattened() -> None:
    chat = prepare_chat(resolve_model("qwen-2.5-1m"), [
        {"role": "system", "content": "Be exact."}, {"role": "user", "content": "q1"},
        {"role": "assistant", "content": "a1"}, {"role": "user", "content": "q2"}])
    assert chat.query == "System: Be exact.\n\nUser: q2"
    assert chat.history == (("user", "q1"), ("assistant", "a1")) and chat.system is None
