"""Tool calls between LlamaIndex's shapes and the core's :class:`~qwen_spaces.ToolCall`.

LlamaIndex 0.14 carries a call in two places, and readers differ in which they look at:
``ToolCallBlock`` message blocks (core's own agents and mocks) and
``message.additional_kwargs["tool_calls"]`` (the older, OpenAI-shaped list). Responses carry
both; input messages are read from the blocks, else from the list (dicts in OpenAI's shape,
or objects with ``.id`` / ``.function.name`` / ``.function.arguments`` as the OpenAI SDK has).
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping
from dataclasses import asdict
from typing import Any

from llama_index.core.base.llms.types import ChatMessage, ToolCallBlock
from llama_index.core.llms.llm import ToolSelection
from llama_index.core.llms.utils import parse_partial_json

from qwen_spaces import InvalidToolCall, ToolCall
from qwen_spaces.tools import tool_call_from

__all__ = ["call_dict", "invalid_dict", "message_calls", "openai_tools", "selections"]


def openai_tools(tools: Iterable[Any] | None) -> list[Any] | None:
    """LlamaIndex tools (``BaseTool``: anything with ``metadata.to_openai_tool``) as OpenAI
    function dicts; dicts and core specs pass through for the core to validate."""
    if tools is None:
        return None
    out: list[Any] = []
    for tool in tools:
        to_openai = getattr(getattr(tool, "metadata", None), "to_openai_tool", None)
        out.append(to_openai(skip_length_check=True) if callable(to_openai) else tool)
    return out


def call_dict(call_id: str, name: str, arguments: dict[str, Any] | str) -> dict[str, Any]:
    """A call in OpenAI's chat shape (arguments as JSON text), JSON-serialisable for memory
    and chat stores."""
    text = arguments if isinstance(arguments, str) else json.dumps(arguments, ensure_ascii=False)
    return {"id": call_id, "type": "function", "function": {"name": name, "arguments": text}}


def invalid_dict(call: InvalidToolCall) -> dict[str, Any]:
    """An unusable call (kept for the caller to inspect, never executed)."""
    return asdict(call)


def _parts(call: object) -> tuple[str, str | None, object]:
    """(id, name, arguments) of a block, an OpenAI dict or an OpenAI SDK object."""
    if isinstance(call, ToolCallBlock):
        return call.tool_call_id or "", call.tool_name, call.tool_kwargs
    if isinstance(call, ToolCall):
        return call.id, call.name, call.arguments
    if isinstance(call, Mapping):
        inner = call.get("function")
        fn: Mapping[str, Any] = inner if isinstance(inner, Mapping) else call
        args = fn.get("arguments", fn.get("args", fn.get("tool_kwargs", {})))
        name = fn.get("name", fn.get("tool_name"))
        return str(call.get("id") or call.get("tool_call_id") or ""), name, args
    fn_obj = getattr(call, "function", None)
    if fn_obj is not None:
        return (str(getattr(call, "id", "") or ""), getattr(fn_obj, "name", None),
                getattr(fn_obj, "arguments", {}))
    return "", None, None


def _raw_calls(message: ChatMessage) -> list[object]:
    blocks = [b for b in message.blocks if isinstance(b, ToolCallBlock)]
    if blocks:
        return list(blocks)
    listed = message.additional_kwargs.get("tool_calls")
    return list(listed) if isinstance(listed, list | tuple) else []


def message_calls(message: ChatMessage, index: int) -> tuple[ToolCall, ...]:
    """The calls of an input (assistant) message, strictly: ``ValueError`` for a call without
    a name or with arguments that are not a JSON object."""
    calls: list[ToolCall] = []
    for raw in _raw_calls(message):
        call_id, name, args = _parts(raw)
        try:
            calls.append(tool_call_from({"id": call_id, "name": name, "arguments": args},
                                        len(calls)))
        except ValueError as exc:
            raise ValueError(f"message {index}: {exc}") from None
    return tuple(calls)


def selections(message: ChatMessage) -> list[ToolSelection]:
    """The calls of a response as ``ToolSelection``s, leniently (as other integrations do:
    partial JSON is completed, unreadable arguments become ``{}``)."""
    out: list[ToolSelection] = []
    for raw in _raw_calls(message):
        call_id, name, args = _parts(raw)
        if not isinstance(name, str) or not name:
            continue
        if isinstance(args, str):
            try:
                args = parse_partial_json(args) if args.strip() else {}
            except (ValueError, TypeError):
                args = {}
        out.append(ToolSelection(tool_id=call_id, tool_name=name,
                                 tool_kwargs=args if isinstance(args, dict) else {}))
    return out
