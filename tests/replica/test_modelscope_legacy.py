"""The Qwen2.5-family replicas on modelscope_studio's legacy components (Gradio 4.44.1) and
their stock stand-ins (Gradio 6): the ids and types ``/config`` shows, the item dicts on the
wire, and Qwen2.5-1M's two-step turn. Real servers, raw protocol requests."""

from __future__ import annotations

from typing import Any

import pytest

from qwen_spaces.replica.process import ReplicaSet

Wire = Any  # tests/replica/conftest.py's raw-protocol client
Event = Any  # its record of one event's frames

QUOTA = "You have exceeded your ZeroGPU quota (60s requested vs. 12s left). Try again in 0:10:00."
PLACEHOLDER = "Qwen is thinking..."


def legacy(wire: Wire) -> bool:
    return wire.major < 6


def item(text: str, files: list[Any] | None = None, **fields: Any) -> dict[str, Any]:
    """One ``mgr.Chatbot`` item as the component sends it: every ``MultimodalMessage`` field."""
    return {"id": None, "elem_id": None, "elem_classes": None, "name": None, "text": text,
            "flushing": None, "avatar": "", "files": files, **fields}


def generating(event: Event, output: int = 0) -> list[Any]:
    """The given output of each ``process_generating`` frame (a full value, then diffs)."""
    return [f["output"]["data"][output] for f in event.frames if f["msg"] == "process_generating"]


def deps_by_id(config: dict[str, Any]) -> dict[int, dict[str, Any]]:
    return {d["id"]: d for d in config["dependencies"]}


def targets(dep: dict[str, Any]) -> list[tuple[int | None, str]]:
    return [(t[0], t[1]) for t in dep["targets"]]


# -- /config ---------------------------------------------------------------------------------

@pytest.mark.parametrize("name", ["qwen-2.5", "qwen-2.5-coder"])
async def test_qwen25_config_is_the_real_layout(any_replicas: ReplicaSet, wire_for: Any,
                                                name: str) -> None:
    wire = await wire_for(any_replicas, name)
    types = {c["id"]: c["type"] for c in wire.config["components"]}
    chatbot = "modelscopechatbot" if legacy(wire) else "chatbot"
    assert {i: types[i] for i in (4, 7, 10, 12, 18, 21, 22, 24, 25, 27, 28)} == {
        4: "radio", 7: "radio", 10: "radio", 12: "radio", 18: "textbox", 21: "button",
        22: "textbox", 24: chatbot, 25: "textbox", 27: "button", 28: "button"}
    assert [types[i] for i in (2, 3, 5, 13, 14, 16, 17, 20, 26)] == [
        "row", "row", "form", "row", "accordion", "row", "column", "column", "row"]
    deps = deps_by_id(wire.config)
    assert sorted(deps) == list(range(8))
    assert [targets(deps[i]) for i in range(8)] == [
        [(4, "change")], [(7, "change")], [(10, "change")], [(25, "submit")],
        [(28, "click")], [(27, "click")], [(21, "click")], [(12, "change")]]
    for fn, api_name in ((3, "model_chat"), (4, "model_chat_1")):
        dep = deps[fn]
        assert dep["api_name"] == api_name
        assert dep["inputs"] == [25, 24, 22, 12]  # textbox, chatbot, system_state, radio
        assert dep["outputs"] == [25, 24, 18]  # textbox, chatbot, system_input
        assert dep["queue"] is not False and dep["types"]["generator"] is True
    assert wire.dependency()["id"] == wire.spec.fn_index == 3
    assert all(deps[i]["queue"] is False for i in (0, 1, 2, 5, 6, 7))


async def test_qwen25_1m_config_has_both_steps_on_trigger_5(any_replicas: ReplicaSet,
                                                            wire_for: Any) -> None:
    wire = await wire_for(any_replicas, "qwen-2.5-1m")
    types = {c["id"]: c["type"] for c in wire.config["components"]}
    if legacy(wire):
        assert (types[5], types[3]) == ("modelscopemultimodalinput", "modelscopechatbot")
    else:
        assert (types[5], types[3]) == ("multimodaltextbox", "chatbot")
    assert (types[8], types[9]) == ("state", "state")
    deps = deps_by_id(wire.config)
    assert sorted(deps) == [0, 1, 2]
    assert targets(deps[0]) != [(5, "submit")]  # a helper, not part of the turn
    add_text, bot = deps[1], deps[2]
    assert (add_text["api_name"], targets(add_text)) == ("add_text", [(5, "submit")])
    assert add_text["queue"] is False
    assert (add_text["inputs"], add_text["outputs"]) == ([5, 3, 8], [5, 3])
    assert (bot["api_name"], targets(bot)) == ("bot", [(5, "submit")])
    assert bot["queue"] is not False and bot["types"]["generator"] is True
    assert (bot["inputs"], bot["outputs"]) == ([3, 8, 9], [3])
    prelude = wire.spec.prelude
    assert prelude is not None and (prelude.fn_index, prelude.trigger_id) == (1, 5)
    assert (wire.spec.fn_index, wire.spec.trigger_id) == (2, 5)


# -- Qwen2.5 items ---------------------------------------------------------------------------

@pytest.mark.parametrize("name", ["qwen-2.5", "qwen-2.5-coder"])
async def test_qwen25_full_dict_items_both_ways(legacy_replicas: ReplicaSet, wire_for: Any,
                                                name: str) -> None:
    """The page sends full item dicts (what the component sent it); fields other than
    ``text`` come back as sent, strings become dicts with ``files`` null, and the handler
    gets the component's own preprocessed items (recorded in full by ``/replica/stats``)."""
    wire = await wire_for(legacy_replicas, name)
    tagged = item("q1", [], id="m1", name="user", elem_classes=["a"], flushing=False)
    history = [[tagged, item("a1", [])], ["q2", None], [None, item("a3", [])]]
    event = await wire.run(wire.data("hi", history, "sys"), session_hash=f"{name}-items")
    chat = event.completed["output"]["data"][1]
    reply = wire.reply(event)
    assert reply.startswith(f"[local replica of {wire.spec.space_id} ({name})")
    assert "\nhistory_turns: 3\n" in reply
    assert chat == [[tagged, item("a1", [])], [item("q2"), None], [None, item("a3", [])],
                    [item("hi"), item(reply)]]
    first, *diffs = generating(event, 1)
    assert first[-1] == [item("hi"), item("[local")]
    pieces = [d for frame in diffs for d in frame]
    assert len(pieces) > 5
    assert {(d[0], tuple(d[1])) for d in pieces} == {("append", (3, 1, "text"))}
    assert first[-1][1]["text"] + "".join(d[2] for d in pieces) == reply
    last = legacy_replicas.stats(name)["last_request"]
    assert last["history"] == [[tagged, item("a1", [])], [item("q2"), None],
                               [None, item("a3", [])]]
    assert (last["history_turns"], last["history_len"]) == (3, 3)


# -- Qwen2.5-1M's two-step turn --------------------------------------------------------------

async def add_text(wire: Wire, text: str, history: list[Any], session_hash: str) -> Any:
    """Step 1: the not-queued ``add_text`` through ``/run/predict``, as the page calls it."""
    body = {"data": [{"files": [], "text": text}, history, []], "event_data": None,
            "fn_index": 1, "trigger_id": 5, "session_hash": session_hash}
    async with wire.http.post(f"{wire.base}{wire.prefix}/run/predict", json=body) as resp:
        assert resp.status == 200, await resp.text()
        return (await resp.json())["data"]


def user_turn(wire: Wire, text: str) -> list[Any]:
    """How the chatbot holds a new, unanswered user turn on this generation."""
    if legacy(wire):
        return [[item(text, []), None]]
    return [{"role": "user", "metadata": None, "content": [{"text": text, "type": "text"}],
             "options": None}]


def bot_text(wire: Wire, chat: list[Any]) -> str:
    last = chat[-1]
    if legacy(wire):
        return str(last[1]["text"])
    assert last["role"] == "assistant"
    return "".join(p["text"] for p in last["content"])


async def test_qwen25_1m_two_step_turn(any_replicas: ReplicaSet, wire_for: Any) -> None:
    wire = await wire_for(any_replicas, "qwen-2.5-1m")
    session = "one-m-turns"
    history: list[Any] = []
    for turn, prompt in enumerate(["first question", "second one"]):
        cleared, chat = await add_text(wire, prompt, history, session)
        assert cleared == {"text": "", "files": []}
        assert chat == [*history, *user_turn(wire, prompt)]

        event = await wire.run([chat, None, 0], session_hash=session)
        frames = generating(event)
        assert bot_text(wire, frames[0]) == PLACEHOLDER
        done = event.completed["output"]["data"][0]
        text = bot_text(wire, done)
        answer, footer = text.split("\n<summary>")
        pieces = len(frames) - 2  # placeholder first, footer last
        assert footer == f"replica: {pieces} pieces</summary>"
        assert answer == ("[local replica of Qwen/Qwen2.5-1M-Demo (qwen-2.5-1m) - not a real "
                          f"model]\nhistory_turns: {turn}\nquery: {prompt}")
        last_diff = frames[-1]
        assert [op[0] for op in last_diff] == ["append"]
        assert last_diff[0][2] == "\n<summary>" + footer
        if legacy(wire):
            assert done == [*history, [item(prompt, []), item(text)]]
            assert frames[1] == [["replace", [turn, 1, "text"], "[local"]]
            assert {tuple(op[1]) for frame in frames[2:] for op in frame} == {(turn, 1, "text")}
        else:
            assert done[:-1] == chat
            assert frames[1] == [["replace", [2 * turn + 1, "content", 0, "text"], "[local"]]
        stats = any_replicas.stats("qwen-2.5-1m")["last_request"]
        assert (stats["query"], stats["history_turns"], stats["system"]) == (prompt, turn, None)
        history = done


async def test_qwen25_1m_pairs_sent_as_data_and_errors(any_replicas: ReplicaSet,
                                                       wire_for: Any) -> None:
    """``bot`` answers whatever history it is sent (the recorded client builds it itself);
    the responder's directives work there; a history with no new user turn is refused."""
    wire = await wire_for(any_replicas, "qwen-2.5-1m")
    if legacy(wire):
        history = [[{"text": "q1", "files": []}, {"text": "a1"}], ["q2", "a2"],
                   [{"text": "now", "files": []}, None]]
    else:
        history = [{"role": r, "content": [{"type": "text", "text": t}]}
                   for r, t in (("user", "q1"), ("assistant", "a1"), ("user", "q2"),
                                ("assistant", "a2"), ("user", "now"))]
    event = await wire.run([history, None, 0], session_hash="one-m-data")
    text = bot_text(wire, event.completed["output"]["data"][0])
    assert "\nhistory_turns: 2\nquery: now\n<summary>replica: " in text

    quota = await wire.run([[*history[:-1], *user_turn(wire, "/quota")], None, 0])
    assert bot_text(wire, generating(quota)[0]) == PLACEHOLDER
    assert quota.completed["success"] is False
    assert quota.completed["output"]["error"].strip("'") == QUOTA

    mid = await wire.run([user_turn(wire, "/error-mid"), None, 0])
    assert len(generating(mid)) == 6  # the placeholder, then five pieces
    assert mid.completed["output"]["error"].strip("'") == "replica: simulated failure mid-stream"

    answered = event.completed["output"]["data"][0]
    refused = (await wire.run([answered, None, 0])).completed
    assert refused["success"] is False
    assert "no new user message" in refused["output"]["error"]
