"""The core's events -> OpenAI's ``chat.completion`` and ``chat.completion.chunk`` bytes.

Stream rules (the pitfalls in ``openai-compat.md``, each pinned by a raw-byte test):

* one ``data: {json}`` line and a blank line per event; the same ``id``, ``created`` and
  ``model`` on every chunk; ``role`` only in the first delta;
* a tool call's first entry carries ``index``, ``id``, ``type`` and ``function.name`` (with
  empty ``arguments``), later ones only ``index`` and an ``arguments`` fragment, and one
  chunk never holds two entries for one index; indexes count the calls passed on, from 0;
* exactly one chunk has a ``finish_reason`` (``stop``, ``length`` or ``tool_calls``), with
  an empty delta;
* the ``choices: []`` chunk only when ``stream_options.include_usage`` asked for it; then
  every chunk carries ``usage``, which is null: the Spaces report no token counts and the
  adapters invent none;
* keepalives and status are comment lines (``: queue 3/7, eta 12 s``); never ``id:``,
  ``retry:`` or ``event:``;
* a late error is ``data: {"error": {…}}``; every stream ends with ``data: [DONE]``.

Reasoning (Qwen3's thinking) goes out as both ``reasoning_content`` (DeepSeek, older vLLM)
and ``reasoning`` (current vLLM), on the message and in deltas. Invalid tool calls (broken
JSON, unknown names) are never answer text: they are listed under the non-standard message
key ``invalid_tool_calls``. A rewrite of text already sent (``TextDelta.replaced``) cannot
be expressed in a stream: the new text is appended, and the non-streamed answer is exact.

Under ``json_schema`` the schema is a tool (see :mod:`~qwen_spaces.openai_api.requests`):
its call's arguments are the content, streamed as they come; answer text around calls is
dropped, and given as content only when the reply has no call at all (then it is what the
model wrote instead, which the SDK's ``parse`` reports as invalid JSON).
"""

from __future__ import annotations

import json
from typing import Any

from ..events import (
    Finished,
    InvalidToolCall,
    ReasoningDelta,
    StreamEvent,
    TextDelta,
    ToolCall,
    ToolCallDelta,
)

__all__ = ["DONE", "ChunkEncoder", "comment", "completion"]

DONE = b"data: [DONE]\n\n"


def _dumps(value: Any) -> str:
    return json.dumps(value, ensure_ascii=False, separators=(",", ":"))


def comment(text: str) -> bytes:
    """One SSE comment line (never shown to the SDK; keeps proxies and the socket alive)."""
    return f": {' '.join(text.split())}\n\n".encode()


def _arguments(call: ToolCall) -> str:
    # The text the core streamed for the call (its ToolCallDelta fragments), exactly.
    return json.dumps(call.arguments, ensure_ascii=False)


def _invalid(calls: tuple[InvalidToolCall, ...]) -> list[dict[str, Any]]:
    return [{"id": c.id, "name": c.name, "arguments": c.arguments, "error": c.error}
            for c in calls]


def finish_reason(final: Finished, calls: list[ToolCall]) -> str:
    """``tool_calls`` when calls are passed on, else the core's ``stop`` / ``length``."""
    if calls:
        return "tool_calls"
    return "length" if final.finish_reason == "length" else "stop"


def completion(final: Finished, *, id: str, created: int, model: str,
               schema_tool: str | None) -> dict[str, Any]:
    """The non-streamed ``chat.completion`` for a finished reply."""
    calls = [c for c in final.tool_calls if c.name != schema_tool]
    answer = next((c for c in final.tool_calls if c.name == schema_tool), None)
    content: str | None = final.text
    if answer is not None:
        content = _arguments(answer)
    elif calls and (not final.text or schema_tool is not None):
        content = None  # under json_schema, content is only ever the JSON
    message: dict[str, Any] = {"role": "assistant", "content": content, "refusal": None}
    if calls:
        message["tool_calls"] = [
            {"id": c.id, "type": "function",
             "function": {"name": c.name, "arguments": _arguments(c)}} for c in calls]
    if final.reasoning:
        message["reasoning_content"] = message["reasoning"] = final.reasoning
    if final.invalid_tool_calls:
        message["invalid_tool_calls"] = _invalid(final.invalid_tool_calls)
    return {"id": id, "object": "chat.completion", "created": created, "model": model,
            "choices": [{"index": 0, "message": message, "logprobs": None,
                         "finish_reason": finish_reason(final, calls)}],
            "usage": None}


class ChunkEncoder:
    """Encodes one streamed reply; call :meth:`head` once, then :meth:`event` per core
    event, then :meth:`finish` (or :meth:`error`)."""

    def __init__(self, *, id: str, created: int, model: str, include_usage: bool = False,
                 schema_tool: str | None = None) -> None:
        head = _dumps({"id": id, "object": "chat.completion.chunk", "created": created,
                       "model": model})[:-1]
        self._prefix = f'data: {head},"choices":[{{"index":0,"delta":'
        self._usage_key = ',"usage":null' if include_usage else ""
        self._suffix = f',"logprobs":null,"finish_reason":null}}]{self._usage_key}}}\n\n'
        self._usage = (f'data: {head},"choices":[],"usage":null}}\n\n'.encode()
                       if include_usage else b"")
        self.schema_tool = schema_tool
        self._indexes: dict[int, int] = {}   # the core's call index -> ours
        self._schema_index: int | None = None
        self._held: list[str] = []           # answer text under json_schema, held back
        self.text_chars = 0

    def _chunk(self, delta: dict[str, Any] | str) -> bytes:
        body = delta if isinstance(delta, str) else _dumps(delta)
        return f"{self._prefix}{body}{self._suffix}".encode()

    def head(self) -> bytes:
        return self._chunk('{"role":"assistant","content":""}')

    def event(self, event: StreamEvent) -> bytes:
        """The chunk for one core event (``b""`` for events that add nothing)."""
        kind = type(event)
        if kind is TextDelta:
            text = event.text  # type: ignore[attr-defined]
            if not text:
                return b""
            if self.schema_tool is not None:
                self._held.append(text)
                return b""
            self.text_chars += len(text)
            return self._chunk({"content": text})
        if kind is ReasoningDelta:
            text = event.text  # type: ignore[attr-defined]
            return self._chunk({"reasoning_content": text, "reasoning": text}) if text else b""
        if kind is ToolCallDelta:
            return self._call(event)  # type: ignore[arg-type]
        return b""  # InvalidToolCall: listed in the last chunk; status: comments elsewhere

    def _call(self, event: ToolCallDelta) -> bytes:
        if event.name is not None:
            if event.name == self.schema_tool and self._schema_index is None:
                self._schema_index = event.index
                return b""
            if event.name == self.schema_tool:
                return b""  # a second answer through the schema: the first one stands
            index = self._indexes[event.index] = len(self._indexes)
            return self._chunk({"tool_calls": [{
                "index": index, "id": event.id, "type": "function",
                "function": {"name": event.name, "arguments": event.arguments}}]})
        if event.index == self._schema_index:
            self.text_chars += len(event.arguments)
            return self._chunk({"content": event.arguments}) if event.arguments else b""
        ours = self._indexes.get(event.index)
        if ours is None or not event.arguments:
            return b""
        return self._chunk({"tool_calls": [{"index": ours,
                                            "function": {"arguments": event.arguments}}]})

    def finish(self, final: Finished) -> bytes:
        """The finish chunk, the usage chunk if asked for, and ``[DONE]``."""
        out = b""
        calls = [c for c in final.tool_calls if c.name != self.schema_tool]
        if self._held and self._schema_index is None and not calls:  # no call at all
            text = "".join(self._held)
            self.text_chars += len(text)
            out += self._chunk({"content": text})
        if final.invalid_tool_calls:
            out += self._chunk({"invalid_tool_calls": _invalid(final.invalid_tool_calls)})
        reason = finish_reason(final, calls)
        out += (f'{self._prefix}{{}},"logprobs":null,"finish_reason":"{reason}"}}]'
                f'{self._usage_key}}}\n\n').encode()
        return out + self._usage + DONE

    @staticmethod
    def error(body: dict[str, Any]) -> bytes:
        """A late error (after the 200 went out), then ``[DONE]``."""
        return f"data: {_dumps(body)}\n\n".encode() + DONE
