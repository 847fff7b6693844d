"""The Qwen3-Demo replica on modelscope_studio's "pro" chatbot, on Gradio 6 and 5: its ids,
the chatbot value it streams (reasoning as a ``"tool"`` entry, then the answer), and the
conversation and thinking switch it keeps in session state. Real servers, raw protocol."""

from __future__ import annotations

import asyncio
import copy
import json
import re
import uuid
from typing import Any

import pytest

from qwen_spaces.replica.generations import GENERATIONS, served_on
from qwen_spaces.replica.process import ReplicaSet
from qwen_spaces.replica.qwen3 import REASONING_PIECE
from qwen_spaces.replica.responder import MID_STREAM_ERROR, QUOTA_MESSAGE
from qwen_spaces.replica.toolmodel import tool_reply

from .conftest import Event, Wire
from .template import ADD, tools_system

SETTINGS = {"model": "qwen3-32b", "sys_prompt": "Be brief.", "thinking_budget": 2}
LISTENERS = ["lambda", "close_header", "apply_state_change", "toggle_thinking",
             "update_browser_state", "apply_browser_state", "new_chat", "select_conversation",
             "click_conversation_menu", "apply_prompt", "delete_message", "edit_message",
             "regenerate_message", "add_message", "cancel", None, "toggle_settings_header",
             "clear_conversation_history", "select_suggestion"]
QWEN3_ON = [g for g in GENERATIONS if "qwen-3" in served_on(g)]
CHATBOT = 5


def fields(reply: str) -> dict[str, str]:
    return dict(line.split(": ", 1) for line in reply.splitlines()[1:] if ": " in line)


def patch(value: Any, ops: list[list[Any]]) -> Any:
    """Apply one frame's Gradio diff (``[op, path, arg]`` lists) to a copy of ``value``."""
    value = copy.deepcopy(value)
    for op, path, arg in ops:
        if not path:
            value = arg if op == "replace" else value + arg
            continue
        parent = value
        for key in path[:-1]:
            parent = parent[key]
        last = path[-1]
        if op == "replace":
            parent[last] = arg
        elif op == "append":
            parent[last] += arg
        elif op == "add" and isinstance(parent, list):
            parent.insert(last, arg)
        elif op == "add":
            parent[last] = arg
        elif op == "delete":
            del parent[last]
        else:
            raise AssertionError(f"unknown diff op {op!r}")
    return value


def chatbot_frames(event: Event) -> list[tuple[Any, Any]]:
    """``(what the frame carried, the chatbot value after it)`` per generating frame: the
    first carries the whole value, the others diffs."""
    frames = [f["output"]["data"][CHATBOT] for f in event.frames
              if f["msg"] == "process_generating"]
    values, value = [], frames[0]
    values.append((frames[0], value))
    for ops in frames[1:]:
        value = patch(value, ops)
        values.append((ops, value))
    return values


def session() -> str:
    return uuid.uuid4().hex


def dependency(wire: Wire, fn_index: int) -> dict[str, Any]:
    return next(d for d in wire.config["dependencies"] if d["id"] == fn_index)


async def toggle_thinking(wire: Wire, session_hash: str) -> dict[str, Any]:
    """fn 3, the thinking button's click: not queued, so ``/run/predict`` reaches it."""
    button = dependency(wire, 3)["targets"][0][0]
    async with wire.http.post(f"{wire.base}{wire.prefix}/run/predict", json={
            "fn_index": 3, "data": [None], "session_hash": session_hash,
            "trigger_id": button}) as resp:
        assert resp.status == 200, await resp.text()
        body: dict[str, Any] = await resp.json()
        return body


async def new_chat(wire: Wire, session_hash: str) -> dict[str, Any]:
    """fn 6, the "New Conversation" button (queued): the session's next turn starts afresh."""
    button = dependency(wire, 6)["targets"][0][0]
    async with wire.http.post(f"{wire.base}{wire.prefix}/queue/join", json={
            "data": [None, None], "event_data": None, "fn_index": 6, "trigger_id": button,
            "session_hash": session_hash}) as resp:
        assert resp.status == 200, await resp.text()
    async for frame in wire.frames(session_hash):
        if frame["msg"] == "process_completed":
            return frame
    raise AssertionError("no process_completed")


async def test_config_ids(qwen3_replicas: ReplicaSet, wire_for: Any) -> None:
    wire = await wire_for(qwen3_replicas, "qwen-3")
    config = wire.config
    assert config["version"].startswith({"6": "6.", "5": "5.29."}[qwen3_replicas.generation])
    types = {c["id"]: c["type"] for c in config["components"]}
    deps = config["dependencies"]
    assert [d["id"] for d in deps] == list(range(19))
    assert [d.get("api_name") for d in deps[:15]] + [d.get("api_name") for d in deps[16:]] == [
        n for n in LISTENERS if n is not None]
    add = dependency(wire, 13)
    assert add["api_name"] == "add_message"
    assert add["targets"] == [[31, "submit"]]
    assert [types[i] for i in add["inputs"]] == ["antdxsender", "antdform", "state", "state"]
    assert [types[i] for i in add["outputs"]] == [
        "antdxsender", "antdbutton", "antdmenuitem", "antdbutton", "antdxconversations",
        "modelscopeprochatbot", "state"]
    assert add["types"]["generator"] is True and add["queue"] is not False
    thinking = dependency(wire, 3)
    button, event = thinking["targets"][0]
    assert (types[button], event) == ("antdbutton", "click")
    assert thinking["inputs"] == thinking["outputs"] and len(thinking["inputs"]) == 1
    assert thinking["inputs"][0] == add["inputs"][2]  # the state add_message reads
    assert thinking["queue"] is False
    cancel = dependency(wire, 15)
    assert cancel["targets"] == [[31, "cancel"]] and cancel["types"]["cancel"] is True


async def test_a_thinking_turn_streams_reasoning_then_the_answer(
        qwen3_replicas: ReplicaSet, wire_for: Any) -> None:
    wire = await wire_for(qwen3_replicas, "qwen-3")
    event = await wire.run(wire.data("hello there", settings=SETTINGS), session_hash=session())
    frames = chatbot_frames(event)

    first, value = frames[0]
    assert first["__type__"] == "update"
    assert first["bot_config"]["disabled_actions"] == ["edit", "retry", "delete"]
    [user] = value["value"]
    assert (user["role"], user["content"]) == ("user", "hello there")
    assert isinstance(user["key"], str) and user["key"]

    ops, value = frames[1]  # the assistant message, empty and loading
    assert ["delete", ["bot_config"], None] in ops
    bot = value["value"][1]
    assert (bot["role"], bot["header"], bot["loading"], bot["status"], bot["content"]) == (
        "assistant", "Qwen3-32B", True, "pending", [])
    assert uuid.UUID(bot["key"])

    reasoning = ("[replica thinking] query: hello there; model: qwen3-32b; budget: 2; "
                 "turns: 0")
    thinking = [(ops, v["value"][1]) for ops, v in frames[2:]
                if [p["type"] for p in v["value"][1]["content"]] == ["tool"]]
    assert len(thinking) == -(-len(reasoning) // REASONING_PIECE)  # small pieces, in order
    for i, (ops, bot) in enumerate(thinking):
        [tool] = bot["content"]
        assert tool["content"] == reasoning[:REASONING_PIECE * (i + 1)]
        assert tool["options"] == {"title": "Thinking...", "status": "pending"}
        assert bot["loading"] is False and bot["status"] == "pending"
        if i:
            assert ops == [["append", ["value", 1, "content", 0, "content"],
                            reasoning[REASONING_PIECE * i:REASONING_PIECE * (i + 1)]]]

    retitle_at = 2 + len(thinking)  # the next frame starts the answer
    ops, value = frames[retitle_at]
    tool, text = value["value"][1]["content"]
    assert re.fullmatch(r"End of Thought \(\d+\.\d\ds\)", tool["options"]["title"])
    assert (tool["options"]["status"], tool["content"]) == ("done", reasoning)
    assert (text["type"], text["content"]) == ("text", "[local")
    assert [op[:2] for op in ops] == [["replace", ["value", 1, "content", 0, "options", "title"]],
                                     ["replace", ["value", 1, "content", 0, "options", "status"]],
                                     ["add", ["value", 1, "content", 1]]]

    answer_ops = [ops for ops, _ in frames[retitle_at + 1:-2]]
    assert len(answer_ops) > 5
    assert all(op[:2] == ["append", ["value", 1, "content", 1, "content"]]
               for ops in answer_ops for op in ops)

    final = event.completed["output"]["data"][CHATBOT]
    assert final == frames[-1][1]
    assert final["bot_config"]["disabled_actions"] is None  # actions back on
    bot = final["value"][1]
    assert (bot["status"], bot["loading"]) == ("done", False)
    assert re.fullmatch(r"\d+\.\d\ds", bot["footer"])
    reply = wire.reply(event)
    assert reply.startswith("[local replica of Qwen/Qwen3-Demo (qwen-3)")
    assert fields(reply) == {"system": "Be brief.", "history_turns": "0", "variant": "qwen3-32b",
                             "thinking": "on", "thinking_budget": "2", "query": "hello there"}


async def test_the_session_keeps_the_conversation_and_the_switch(
        qwen3_replicas: ReplicaSet, wire_for: Any) -> None:
    wire = await wire_for(qwen3_replicas, "qwen-3")
    first_session = session()
    first = await wire.run(wire.data("one", settings=SETTINGS), session_hash=first_session)
    answer = wire.reply(first)

    toggled = await toggle_thinking(wire, first_session)
    assert toggled["data"] == [None]
    assert toggled["changed_state_ids"] == dependency(wire, 3)["outputs"]
    second = await wire.run(wire.data("two", settings={**SETTINGS, "thinking_budget": 5}),
                            session_hash=first_session)
    assert fields(wire.reply(second)) == {
        "system": "Be brief.", "history_turns": "1", "variant": "qwen3-32b", "thinking": "off",
        "thinking_budget": "5", "query": "two"}
    assert all(p["type"] == "text" for _, v in chatbot_frames(second)[1:]
               for p in v["value"][-1]["content"])  # no reasoning this turn
    messages = second.completed["output"]["data"][CHATBOT]["value"]
    assert [(m["role"], m["content"] if m["role"] == "user" else None) for m in messages] == [
        ("user", "one"), ("assistant", None), ("user", "two"), ("assistant", None)]
    assert messages[1]["content"][0]["type"] == "tool"  # turn 1 keeps its reasoning on screen
    seen = qwen3_replicas.stats("qwen-3")["last_request"]["history"]
    assert seen == [{"role": "user", "content": "one"}, {"role": "assistant", "content": answer}]

    await toggle_thinking(wire, first_session)  # and back on
    third = await wire.run(wire.data("three", settings=SETTINGS), session_hash=first_session)
    assert fields(wire.reply(third))["thinking"] == "on"
    assert fields(wire.reply(third))["history_turns"] == "2"

    await toggle_thinking(wire, first_session)
    assert (await new_chat(wire, first_session))["success"] is True
    restarted = await wire.run(wire.data("four", settings=SETTINGS), session_hash=first_session)
    assert fields(wire.reply(restarted))["history_turns"] == "0"
    assert fields(wire.reply(restarted))["thinking"] == "on"  # new_chat switches it back on

    fresh = await wire.run(wire.data("alone", settings=SETTINGS), session_hash=session())
    assert fields(wire.reply(fresh))["history_turns"] == "0"
    assert fields(wire.reply(fresh))["thinking"] == "on"
    assert len(fresh.completed["output"]["data"][CHATBOT]["value"]) == 2


async def test_budget_and_directives(qwen3_replicas: ReplicaSet, wire_for: Any) -> None:
    wire = await wire_for(qwen3_replicas, "qwen-3")
    long_query = "x" * 1500
    event = await wire.run(wire.data(long_query, settings={**SETTINGS, "thinking_budget": 1}),
                           session_hash=session())
    tool = event.completed["output"]["data"][CHATBOT]["value"][1]["content"][0]
    assert len(tool["content"]) == 1000
    assert fields(wire.reply(event))["query"] == long_query  # the answer is not cut

    bad = await wire.run(wire.data("hi", settings={**SETTINGS, "thinking_budget": "lots"}),
                         session_hash=session())
    assert bad.completed["output"]["error"] == (
        "thinking_budget must be a positive number, got 'lots'")

    quota = await wire.run(wire.data("/quota", settings=SETTINGS), session_hash=session())
    assert quota.completed["success"] is False
    assert quota.completed["output"]["error"].strip("'") == QUOTA_MESSAGE
    assert quota.completed["output"]["title"] == "ZeroGPU quota exceeded"
    shown = chatbot_frames(quota)[-1][1]["value"][1]
    assert [p["type"] for p in shown["content"]] == ["text"]  # refused before any reasoning
    assert QUOTA_MESSAGE in shown["content"][0]["content"]

    mid = await wire.run(wire.data("/error-mid", settings=SETTINGS), session_hash=session())
    assert mid.completed["output"]["error"].strip("'") == MID_STREAM_ERROR
    assert [p["type"] for p in chatbot_frames(mid)[-1][1]["value"][1]["content"]] == [
        "tool", "text", "text"]  # reasoning, the answer so far, the error

    system = tools_system([ADD])
    query = "Now add 40 and 2."
    tools = await wire.run(wire.data(query, settings={**SETTINGS, "sys_prompt": system}),
                           session_hash=session())
    assert wire.reply(tools) == tool_reply(system, query)
    assert '"arguments": {"a": 40, "b": 2}' in wire.reply(tools)

    before = qwen3_replicas.stats("qwen-3")
    dropped = await wire.run(wire.data("/slow 100 0.1", settings=SETTINGS),
                             session_hash=session(),
                             stop=lambda f: "End of Thought" in json.dumps(f.get("output")))
    assert dropped.msgs[-1] == "process_generating"
    for _ in range(100):
        now = qwen3_replicas.stats("qwen-3")
        if now["stopped_early"] == before["stopped_early"] + 1 and now["active"] == 0:
            break
        await asyncio.sleep(0.1)
    else:
        pytest.fail(f"the dropped stream's generator did not stop: {now}")


@pytest.mark.parametrize("generation", QWEN3_ON, ids=lambda g: f"gradio{g}")
async def test_state_time_to_live(replica_factory: Any, wire_for: Any, generation: str) -> None:
    """Gradio 6 deletes a session's states ``time_to_live`` seconds after their last write.
    Gradio 5.29 never does here: it drops ``gr.update(value=…)`` returned for a State (how
    the Space writes both), so the TTL clock never starts; the dicts live on because the
    handlers change them in place."""
    replica_set = replica_factory(models=["qwen-3"], generation=generation, state_ttl=1,
                                  token_delay=0.001)
    wire = await wire_for(replica_set, "qwen-3")
    kept = session()
    await toggle_thinking(wire, kept)
    await wire.run(wire.data("one", settings=SETTINGS), session_hash=kept)
    await asyncio.sleep(3)  # TTL 1 s; Gradio sweeps expired state once a second
    reply = wire.reply(await wire.run(wire.data("two", settings=SETTINGS), session_hash=kept))
    expires = {"6": True, "5": False}[generation]
    assert fields(reply)["history_turns"] == ("0" if expires else "1")
    assert fields(reply)["thinking"] == ("on" if expires else "off")
