"""The stream rules, pinned on the raw bytes (each one a pitfall that breaks some client:
see ``/work/shared/docs/openai-compat.md`` section 11 and ``qwen_spaces.openai_api.encoding``)."""

from __future__ import annotations

import json
from typing import Any

import httpx

from .conftest import ApiServer, data_of, post_raw, sse_events, text_of

ADD = {"type": "function", "function": {"name": "add", "parameters": {
    "type": "object", "properties": {"a": {"type": "integer"}, "b": {"type": "integer"}}}}}
WEATHER = {"type": "function", "function": {"name": "get_weather", "parameters": {
    "type": "object", "properties": {"city": {"type": "string"}}}}}


def check_stream(raw: bytes, *, include_usage: bool = False, error: bool = False) -> list[Any]:
    """Every rule a well-formed stream keeps; returns the chunks (dicts), in order."""
    events = sse_events(raw)
    for event in events:  # a comment line, or one data line: never id:, retry:, event:
        lines = event.split(b"\n")
        assert len(lines) == 1, event
        assert event.startswith((b": ", b"data: ")), event
    data = data_of(events)
    assert data[-1] == "[DONE]" and data.count("[DONE]") == 1
    assert raw.endswith(b"data: [DONE]\n\n")
    chunks = [d for d in data[:-1] if "error" not in d]
    if error:
        assert "error" in data[-2] and set(data[-2]["error"]) == {"message", "type", "param",
                                                                  "code"}
    heads = {(c["id"], c["object"], c["created"], c["model"]) for c in chunks}
    assert len(heads) == 1 and next(iter(heads))[1] == "chat.completion.chunk"
    with_choices = [c for c in chunks if c["choices"]]
    deltas = [c["choices"][0]["delta"] for c in with_choices]
    assert deltas[0].get("role") == "assistant"
    assert all("role" not in d for d in deltas[1:])  # role only in the first delta
    finishes = [c["choices"][0]["finish_reason"] for c in with_choices]
    if error:
        assert finishes.count(None) == len(finishes)  # the error event ends it instead
    else:
        assert [f for f in finishes if f is not None] == [finishes[-1]]  # exactly one, last
        assert finishes[-1] in ("stop", "length", "tool_calls") and deltas[-1] == {}
    empty = [c for c in chunks if not c["choices"]]
    assert empty == ([chunks[-1]] if include_usage and not error else [])
    if include_usage:  # then every chunk has usage, and it is null: no invented counts
        assert all("usage" in c and c["usage"] is None for c in chunks)
    else:
        assert all("usage" not in c for c in chunks)
    seen: set[int] = set()
    for delta in deltas:  # one entry per tool index per chunk; id and name only in the first
        calls = delta.get("tool_calls") or []
        indexes = [c["index"] for c in calls]
        assert len(indexes) == len(set(indexes))
        for call in calls:
            first = call["index"] not in seen
            assert ("id" in call) == first and ("name" in call.get("function", {})) == first
            if first:
                assert call["type"] == "function" and call["index"] == len(seen)
                seen.add(call["index"])
    return chunks


def stream(api: ApiServer, content: str, **body: Any) -> httpx.Response:
    return post_raw(api, {"model": "qwen-2.5-max", "stream": True,
                          "messages": [{"role": "user", "content": content}], **body})


def test_a_text_stream_keeps_every_rule_with_and_without_usage(api: ApiServer) -> None:
    plain = stream(api, "Hello there")
    assert plain.status_code == 200
    assert plain.headers["Content-Type"].startswith("text/event-stream")
    assert plain.headers["Cache-Control"] == "no-cache"
    chunks = check_stream(plain.content)
    assert text_of(chunks).endswith("query: Hello there")
    assert chunks[0]["choices"][0]["delta"] == {"role": "assistant", "content": ""}
    usage = stream(api, "Hello there", stream_options={"include_usage": True})
    assert text_of(check_stream(usage.content, include_usage=True)) == text_of(chunks)


def test_tool_calls_stream_one_entry_per_index_with_id_and_name_once(api: ApiServer) -> None:
    got = stream(api, "Add 40 and 2, then the weather in 'Oslo'.", tools=[ADD, WEATHER])
    chunks = check_stream(got.content)
    entries = [c for ch in chunks if ch["choices"]
               for c in ch["choices"][0]["delta"].get("tool_calls") or []]
    assert [(e["index"], e.get("id", "")[:5], e.get("function", {}).get("name"))
            for e in entries if "id" in e] == [(0, "call_", "add"), (1, "call_", "get_weather")]
    args: dict[int, str] = {}
    for e in entries:
        args[e["index"]] = args.get(e["index"], "") + e["function"].get("arguments", "")
    assert {i: json.loads(a) for i, a in args.items()} == {0: {"a": 40, "b": 2},
                                                          1: {"city": "Oslo"}}
    assert chunks[-1]["choices"][0]["finish_reason"] == "tool_calls"


def test_a_cut_reply_finishes_with_length_once(api: ApiServer) -> None:
    chunks = check_stream(stream(api, "/slow 20 0.01", max_completion_tokens=5).content)
    assert chunks[-1]["choices"][0]["finish_reason"] == "length"
    stopped = check_stream(stream(api, "/slow 20 0.01", stop=["tick 3"]).content)
    assert stopped[-1]["choices"][0]["finish_reason"] == "stop"
    assert "tick 2" in text_of(stopped) and "tick 3" not in text_of(stopped)


def test_an_error_before_any_text_keeps_its_status(api: ApiServer) -> None:
    got = stream(api, "/quota")
    assert got.status_code == 429 and got.headers["Content-Type"].startswith("application/json")
    assert got.json()["error"]["code"] == "zerogpu_quota"


def test_a_later_error_is_an_error_event_then_done(api: ApiServer) -> None:
    got = stream(api, "/error-mid", stream_options={"include_usage": True})
    assert got.status_code == 200
    chunks = check_stream(got.content, include_usage=True, error=True)
    assert text_of(chunks)  # text came before the error
    error = data_of(sse_events(got.content))[-2]["error"]
    assert error["code"] == "space_app_error" and "mid-stream" in error["message"]


def test_status_is_sent_as_comments_only(api: ApiServer) -> None:
    events = sse_events(stream(api, "/log").content)
    comments = [e for e in events if e.startswith(b": ")]
    assert b": info: replica: info message" in comments
    assert b": warning: replica: warning message" in comments
    assert any(c.startswith(b": progress replica working") for c in comments)


def test_every_error_is_json_in_openais_shape(api: ApiServer) -> None:
    for method, path, status in (("POST", "/v1/responses", 404),
                                 ("POST", "/v1/completions", 404),
                                 ("GET", "/v1/embeddings", 404),
                                 ("GET", "/v1/chat/completions", 405),
                                 ("DELETE", "/v1/models", 405)):
        got = httpx.request(method, f"{api.root}{path}", headers=api.headers())
        assert got.status_code == status, (path, got.text)
        error = got.json()["error"]
        assert set(error) == {"message", "type", "param", "code"}
        assert "POST /v1/chat/completions" in error["message"]
    bad = httpx.post(f"{api.base_url}/chat/completions", content=b"{not json",
                     headers=api.headers())
    assert bad.status_code == 400 and bad.json()["error"]["code"] == "invalid_json"
