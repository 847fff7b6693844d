"""The tool/JSON rules through real replica Spaces on Gradio 6 and 4.44.1: the streamed
reply, what ``/replica/stats`` recorded, and the package client's raw text."""

from __future__ import annotations

import json
from typing import Any

import pytest

from qwen_spaces import SpaceClient
from qwen_spaces.replica.process import ReplicaSet
from qwen_spaces.replica.toolmodel import tool_reply

from .template import ADD, MAGIC, WEATHER, calls, format_block, tools_system

SYSTEM_SPACES = ["qwen-2-72b", "qwen-2.5", "qwen-2.5-max"]
EARLIER_CALL = ('Let me add.\n<tool_call>\n{"name": "add", "arguments": {"a": 1, "b": 2}}\n'
                "</tool_call>")


def appended(event: Any, output: int) -> list[str]:
    """The text pieces the chatbot output streamed after its first frame (append diffs)."""
    frames = [f["output"]["data"][output] for f in event.frames
              if f["msg"] == "process_generating"]
    return [op[2] for diff in frames[1:] for op in diff
            if isinstance(op, list) and op[0] == "append" and isinstance(op[2], str)]


@pytest.mark.parametrize("name", SYSTEM_SPACES)
async def test_tool_call_round_trip(any_replicas: ReplicaSet, wire_for: Any, name: str) -> None:
    wire = await wire_for(any_replicas, name)
    system = tools_system([ADD, MAGIC, WEATHER])
    query = "Now add 40 and 2, then the weather in “Zürich”."
    history = wire.history([("add 1 and 2", EARLIER_CALL),
                            ("<tool_response>\n3\n</tool_response>", "It is 3.")],
                           text_dict=name == "qwen-2.5")
    event = await wire.run(wire.data(query, history, system))
    reply = wire.reply(event)
    assert reply == tool_reply(system, query)
    assert calls(reply) == [{"name": "add", "arguments": {"a": 40, "b": 2}},
                            {"name": "get_weather", "arguments": {"location": "Zürich"}}]
    pieces = appended(event, wire.spec.reply_output)
    assert len(pieces) > 20
    assert not any("<tool_call>" in p or "</tool_call>" in p for p in pieces)  # tags split

    last = any_replicas.stats(name)["last_request"]
    assert last["system"] == system
    assert last["query"] == query
    assert last["history_turns"] == 2
    assert EARLIER_CALL in _texts(last["history"])
    assert "<tool_response>\n3\n</tool_response>" in _texts(last["history"])


def _texts(history: Any) -> list[str]:
    """Every string in the recorded history value (tuples or messages with parts)."""
    if isinstance(history, str):
        return [history]
    if isinstance(history, dict):
        return [t for v in history.values() for t in _texts(v)]
    if isinstance(history, list):
        return [t for v in history for t in _texts(v)]
    return []


async def test_tool_results_and_plain_answers(any_replicas: ReplicaSet, wire_for: Any) -> None:
    wire = await wire_for(any_replicas, "qwen-2.5")
    system = tools_system([ADD, MAGIC], "You must call at least one of the functions above "
                                        "in this reply.")
    results = "<tool_response>\n42\n</tool_response>\n<tool_response>\nsunny\n</tool_response>"
    reply = wire.reply(await wire.run(wire.data(results, None, system)))
    assert reply == "[replica] tool results received: 42; sunny"

    auto = tools_system([ADD, MAGIC])
    plain = wire.reply(await wire.run(wire.data("Hello!", None, auto)))
    assert plain.startswith("[local replica of Qwen/Qwen2.5 (qwen-2.5)")
    assert f"system: {len(auto)} chars, tools: add, magic_function\n" in plain
    assert "<tool" not in plain and plain.endswith("query: Hello!")

    plain_system = "You are terse."  # rule 1: the header, system verbatim
    assert f"system: {plain_system}\n" in wire.reply(
        await wire.run(wire.data("/tool add {}", None, plain_system)))


async def test_json_and_scenarios_in_tool_mode(any_replicas: ReplicaSet, wire_for: Any) -> None:
    wire = await wire_for(any_replicas, "qwen-2-72b")
    schema = {"type": "object", "properties": {"city": {"type": "string"},
                                               "days": {"type": "integer"}},
              "required": ["city", "days"]}
    system = "Be exact." + format_block(schema)
    reply = wire.reply(await wire.run(wire.data("forecast for 'Oslo', 3 days", None, system)))
    assert json.loads(reply) == {"city": "Oslo", "days": 3}
    prose = wire.reply(await wire.run(wire.data("/json-prose\nfor 'Oslo' 3", None, system)))
    assert "```json\n" + reply + "\n```" in prose

    tools = tools_system([ADD])
    mid = await wire.run(wire.data("/error-mid add 1 2", None, tools))
    assert mid.completed["output"]["error"].strip("'") == "replica: simulated failure mid-stream"
    assert (await wire.run(wire.data("/quota", None, tools))).completed["success"] is False


@pytest.mark.parametrize("name", ["qwen-2.5", "qwen-2.5-max"])
async def test_package_client_gets_the_raw_calls(any_replicas: ReplicaSet, name: str) -> None:
    """The client puts ``system_prompt`` into the system input and returns the text as is
    (no tools bound here, so it does not parse the blocks)."""
    system = tools_system([ADD, MAGIC], 'You must call the function "add" in this reply.')
    client = SpaceClient(base_urls={name: any_replicas.url(name)})
    messages = [{"role": "user", "content": "add 2 and 3"},
                {"role": "assistant", "content": EARLIER_CALL},
                {"role": "user", "content": "/say Sure.\n/tool add {\"a\": 5, \"b\": \"五\"}"}]
    done = await client.achat(name, messages, system_prompt=system)
    assert done.text == ('Sure.\n<tool_call>\n{"name": "add", "arguments": {"a": 5, "b": "五"}}'
                         "\n</tool_call>")
    last = any_replicas.stats(name)["last_request"]
    assert last["system"] == system
    assert EARLIER_CALL in _texts(last["history"])
