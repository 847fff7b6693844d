"""The OpenAI endpoint's pure parts: every SpaceError's status row, the request mapping
(thinking precedence, images, json_schema as a tool), and the chunk encoder's rules."""

from __future__ import annotations

import json
from typing import Any

import pytest

from qwen_spaces import (
    Finished,
    QueueFullError,
    QuotaExceededError,
    ReasoningDelta,
    SpaceAppError,
    SpaceAuthError,
    SpaceError,
    SpaceProtocolError,
    SpaceTimeoutError,
    SpaceUnavailableError,
    TextDelta,
    ToolCall,
    ToolCallDelta,
)
from qwen_spaces.errors import SessionLostError
from qwen_spaces.openai_api.encoding import ChunkEncoder, completion
from qwen_spaces.openai_api.errors import ApiError, from_space_error
from qwen_spaces.openai_api.images import is_public_address
from qwen_spaces.openai_api.requests import parse_request

NO = {"x-should-retry": "false"}


@pytest.mark.parametrize(("error", "status", "code", "headers"), [
    (QuotaExceededError("q", retry_after=600.0), 429, "zerogpu_quota", {"Retry-After": "600"}),
    (QuotaExceededError("q"), 429, "zerogpu_quota", NO),
    (SpaceAuthError("no", status=401, token_sent=True), 502, "space_auth_refused", NO),
    (SpaceAppError("boom"), 502, "space_app_error", NO),
    (SpaceProtocolError("drift"), 502, "space_api_changed", NO),
    (SessionLostError("lost"), 502, "space_api_changed", NO),
    (SpaceTimeoutError("t", phase="idle"), 504, "space_timeout_idle", NO),
    (SpaceTimeoutError("t", phase="queue"), 504, "space_timeout_queue", NO),
    (QueueFullError("full"), 503, "space_queue_full", NO),
    (SpaceUnavailableError("asleep", stage="SLEEPING"), 503, "space_unavailable", NO),
    (SpaceUnavailableError("paused", stage="PAUSED"), 503, "space_unavailable", NO),
    (SpaceError("other"), 502, "space_error", NO),
])
def test_every_space_error_has_a_status_row(error: SpaceError, status: int, code: str,
                                            headers: dict[str, str]) -> None:
    answer = from_space_error(error, max_retries=2)
    assert (answer.status, answer.code, answer.headers) == (status, code, headers)
    assert set(answer.body()["error"]) == {"message", "type", "param", "code"}


def test_without_core_retries_the_sdk_may_retry_a_503() -> None:
    assert from_space_error(QueueFullError("full"), max_retries=0).headers == {}
    assert from_space_error(SpaceUnavailableError("down"), max_retries=0).headers == {}
    # a paused Space does not come back on a retry, whoever makes it
    paused = SpaceUnavailableError("paused", stage="PAUSED")
    assert from_space_error(paused, max_retries=0).headers == NO


def body(**kw: Any) -> dict[str, Any]:
    return {"model": "qwen-3", "messages": [{"role": "user", "content": "hi"}], **kw}


@pytest.mark.parametrize(("extra", "thinking"), [
    ({}, None),
    ({"reasoning_effort": "none"}, False), ({"reasoning_effort": "minimal"}, False),
    ({"reasoning_effort": "low"}, True), ({"reasoning_effort": "high"}, True),
    ({"enable_thinking": False, "reasoning_effort": "high"}, False),
    ({"chat_template_kwargs": {"enable_thinking": True}, "enable_thinking": False}, True),
])
def test_thinking_switches_in_order_of_precedence(extra: dict[str, Any],
                                                  thinking: bool | None) -> None:
    assert parse_request(body(**extra)).thinking is thinking
    ignored = parse_request({**body(**extra), "model": "qwen-2.5", "thinking_budget": 5})
    assert (ignored.thinking, ignored.thinking_budget) == (None, None)


def test_a_thinking_budget_out_of_range_is_a_400() -> None:
    with pytest.raises(ApiError) as info:
        parse_request(body(thinking_budget=10))
    assert (info.value.status, info.value.param) == (400, "thinking_budget")


def test_only_the_latest_user_image_is_kept() -> None:
    def image(n: int) -> dict[str, Any]:
        return {"type": "image_url", "image_url": {"url": f"https://img.example/{n}.png"}}

    request = parse_request({"model": "qvq-72b", "messages": [
        {"role": "user", "content": [{"type": "text", "text": "a"}, image(1), image(2)]},
        {"role": "assistant", "content": "ok"},
        {"role": "user", "content": [image(3), {"type": "text", "text": "b"}]}]})
    assert [t.images for t in request.turns] == [(), (), ("https://img.example/3.png",)]
    assert request.dropped_images == 2


def test_json_schema_becomes_a_tool_whose_call_is_the_answer() -> None:
    schema = {"type": "object", "properties": {"name": {"type": "string"}}}
    fmt = {"type": "json_schema", "json_schema": {"name": "Person", "schema": schema}}
    alone = parse_request({**body(response_format=fmt), "model": "qwen-2.5"})
    assert [t["function"]["name"] for t in alone.tools] == ["Person"]
    assert alone.tool_choice == {"type": "function", "function": {"name": "Person"}}
    assert (alone.schema_tool, alone.response_format, alone.parallel_tool_calls) == (
        "Person", None, False)
    tool = {"type": "function", "function": {"name": "lookup", "parameters": schema}}
    mixed = parse_request({**body(response_format=fmt, tools=[tool]), "model": "qwen-2.5"})
    assert [t["function"]["name"] for t in mixed.tools] == ["lookup", "Person"]
    assert mixed.tool_choice == "required"  # a tool call, or the answer through the schema
    clash = {"type": "function", "function": {"name": "Person", "parameters": schema}}
    with pytest.raises(ApiError) as info:
        parse_request({**body(response_format=fmt, tools=[clash]), "model": "qwen-2.5"})
    assert info.value.param == "response_format"


def chunks(raw: bytes) -> list[Any]:
    return [json.loads(e[6:]) for e in raw.decode().split("\n\n")
            if e.startswith("data: {")]


def test_the_encoder_renumbers_calls_and_turns_the_schema_call_into_content() -> None:
    enc = ChunkEncoder(id="chatcmpl-1", created=1, model="m", schema_tool="Person")
    out = enc.head()
    for event in (TextDelta("[replica] calling"), ReasoningDelta("hmm"),
                  ToolCallDelta(0, "", "call_a", "lookup"), ToolCallDelta(0, '{"q": 1}'),
                  ToolCallDelta(1, "", "call_b", "Person"), ToolCallDelta(1, '{"name": "A"}'),
                  ToolCallDelta(2, "", "call_c", "lookup"), ToolCallDelta(2, "{}")):
        out += enc.event(event)
    final = Finished("[replica] calling", tool_calls=(
        ToolCall("call_a", "lookup", {"q": 1}, 0), ToolCall("call_b", "Person", {"name": "A"}, 1),
        ToolCall("call_c", "lookup", {}, 2)), finish_reason="tool_calls")
    out += enc.finish(final)
    deltas = [c["choices"][0]["delta"] for c in chunks(out)]
    assert deltas[1] == {"reasoning_content": "hmm", "reasoning": "hmm"}
    assert [d["tool_calls"][0]["index"] for d in deltas if "tool_calls" in d] == [0, 0, 1, 1]
    assert "".join(d.get("content") or "" for d in deltas) == '{"name": "A"}'
    whole = completion(final, id="x", created=1, model="m", schema_tool="Person")
    message = whole["choices"][0]["message"]
    assert message["content"] == '{"name": "A"}'
    assert [c["function"]["name"] for c in message["tool_calls"]] == ["lookup", "lookup"]
    assert whole["choices"][0]["finish_reason"] == "tool_calls"


@pytest.mark.parametrize(("host", "public"), [
    ("93.184.216.34", True), ("2606:2800:220:1::1", True), ("127.0.0.1", False),
    ("10.0.0.1", False), ("172.16.0.1", False), ("192.168.1.1", False),
    ("169.254.169.254", False), ("100.64.0.1", False), ("0.0.0.0", False), ("::1", False),
    ("fe80::1", False), ("fd00::1", False), ("::ffff:127.0.0.1", False),
    ("::ffff:93.184.216.34", True), ("224.0.0.1", False), ("not-an-ip", False)])
def test_which_addresses_count_as_public(host: str, public: bool) -> None:
    assert is_public_address(host) is public
