"""The Qwen2.5/Qwen3 chat template's tool and response-format text, written out here from
``/work/shared/docs/tool-calling.md`` (not by the client's renderer, so tests of the
replica's rules are not checked against the code they test), plus a few sample tools."""

from __future__ import annotations

import json
from typing import Any

REQUIRED = "You must call at least one of the functions above in this reply."


def tools_system(tools: list[dict[str, Any]], choice: str | None = None,
                 base: str = "You are a helpful assistant.") -> str:
    lines = "\n".join(json.dumps({"type": "function", "function": t}) for t in tools)
    text = (f"{base}\n\n# Tools\n\nYou may call one or more functions to assist with the user "
            "query.\n\nYou are provided with function signatures within <tools></tools> XML "
            f"tags:\n<tools>\n{lines}\n</tools>\n\nFor each function call, return a json object "
            "with function name and arguments within <tool_call></tool_call> XML tags:\n"
            '<tool_call>\n{"name": <function-name>, "arguments": <args-json-object>}\n'
            "</tool_call>")
    return f"{text}\n\n{choice}" if choice else text


def format_block(schema: dict[str, Any] | None = None) -> str:
    if schema is None:
        return ("\n\n# Response format\n\nReply with one JSON object and nothing else: no "
                "prose, no code fences.")
    return ("\n\n# Response format\n\nReply with one JSON object that conforms to the JSON "
            "schema within <schema></schema> XML tags, and nothing else: no prose, no code "
            f"fences.\n<schema>\n{json.dumps(schema)}\n</schema>")


def named(name: str) -> str:
    return f'You must call the function "{name}" in this reply.'


def obj(properties: dict[str, Any], required: list[str] | None = None) -> dict[str, Any]:
    schema: dict[str, Any] = {"type": "object", "properties": properties}
    if required is not None:
        schema["required"] = required
    return schema


def tool(name: str, properties: dict[str, Any] | None = None,
         required: list[str] | None = None) -> dict[str, Any]:
    params = obj(properties or {}, required if required is not None else list(properties or {}))
    return {"name": name, "description": f"the {name} tool", "parameters": params}


MAGIC = tool("magic_function", {"input": {"type": "integer"}})
WEATHER = tool("get_weather", {"location": {"type": "string"},
                               "unit": {"type": "string", "enum": ["celsius", "fahrenheit"]}},
               ["location"])
ADD = tool("add", {"a": {"type": "integer"}, "b": {"type": "integer"}})


def calls(reply: str | None) -> list[dict[str, Any]]:
    """The ``<tool_call>`` blocks of a reply, parsed (independently of the client)."""
    assert reply is not None
    out = []
    for chunk in reply.split("<tool_call>\n")[1:]:
        body, sep, _ = chunk.partition("\n</tool_call>")
        assert sep, reply
        out.append(json.loads(body))
    return out
