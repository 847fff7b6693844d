"""The text the model reads (tools block, tool_choice lines, re-ask, response format) pinned
exactly, and the normalisation of tools, tool_choice and input calls.

The tools block, the choice lines, the re-ask turn and the response-format block are the
product's wire format: the model was trained on (or is steered by) these exact words, so any
change to them is a behaviour change and these tests compare whole strings.
"""

from __future__ import annotations

import re
from typing import Any

import pytest

from qwen_spaces.events import ToolCall
from qwen_spaces.tools import (
    NamedChoice,
    ToolSpec,
    extract_json,
    new_call_id,
    normalize_tool_choice,
    reask_message,
    render_response_format,
    render_tool_calls,
    render_tool_results,
    render_tools,
    tool_call_from,
    tool_specs,
)

HEAD = ("# Tools\n\nYou may call one or more functions to assist with the user query.\n\n"
        "You are provided with function signatures within <tools></tools> XML tags:\n<tools>")
TAIL = ("\n</tools>\n\nFor each function call, return a json object with function name and "
        "arguments within <tool_call></tool_call> XML tags:\n<tool_call>\n"
        '{"name": <function-name>, "arguments": <args-json-object>}\n</tool_call>')
ADD = {"type": "function", "function": {
    "name": "add", "description": "Additionne deux entiers, é → ü.",
    "parameters": {"type": "object", "properties": {"a": {"type": "integer"}}}}}
NOW = {"name": "now"}  # a bare function dict: no description, default parameters
BLOCK = (HEAD
         + '\n{"type": "function", "function": {"name": "add", "description": "Additionne deux '
           'entiers, é → ü.", "parameters": {"type": "object", "properties": {"a": {"type": '
           '"integer"}}}}}'
         + '\n{"type": "function", "function": {"name": "now", "parameters": {"type": '
           '"object", "properties": {}}}}'
         + TAIL)


# -- the tools block and the tool_choice lines ------------------------------------------------
def test_the_tools_block_lists_each_tool_on_its_own_line_with_unicode_unescaped() -> None:
    """One JSON line per tool, as the template's ``tojson``: non-ASCII kept as is, an empty
    description left out, default parameters spelled out."""
    assert render_tools(tool_specs([ADD, NOW])) == BLOCK


@pytest.mark.parametrize(("choice", "line"), [
    ("auto", ""),
    ("required", "\n\nYou must call at least one of the functions above in this reply."),
    (NamedChoice("now"), '\n\nYou must call the function "now" in this reply.'),
])
def test_the_tool_choice_line_follows_the_block_after_a_blank_line(choice: Any,
                                                                   line: str) -> None:
    assert render_tools(tool_specs([ADD, NOW]), choice) == BLOCK + line


@pytest.mark.parametrize("choice", ["auto", "required", "none"])
def test_no_tools_or_choice_none_renders_no_block(choice: Any) -> None:
    assert render_tools((), choice) == ""
    assert render_tools(tool_specs([ADD]), "none") == ""


def test_earlier_calls_render_as_tool_call_blocks_after_the_text() -> None:
    calls = [("add", {"a": 1}), ("now", {"city": "Zürich"})]
    blocks = ('<tool_call>\n{"name": "add", "arguments": {"a": 1}}\n</tool_call>\n'
              '<tool_call>\n{"name": "now", "arguments": {"city": "Zürich"}}\n</tool_call>')
    assert render_tool_calls("Let me see.", calls) == "Let me see.\n" + blocks
    assert render_tool_calls("", calls) == blocks  # no empty first line without text


def test_results_render_as_tool_response_blocks_in_order() -> None:
    assert render_tool_results(["5", "{\"t\": 1}"]) == (
        "<tool_response>\n5\n</tool_response>\n<tool_response>\n{\"t\": 1}\n</tool_response>")


def test_the_response_format_block_without_and_with_a_schema() -> None:
    assert render_response_format(None) == (
        "# Response format\n\nReply with one JSON object and nothing else: no prose, no code "
        "fences.")
    assert render_response_format({"type": "object", "title": "Café"}) == (
        "# Response format\n\nReply with one JSON object that conforms to the JSON schema "
        "within <schema></schema> XML tags, and nothing else: no prose, no code fences.\n"
        '<schema>\n{"type": "object", "title": "Café"}\n</schema>')


def test_the_reask_turn_names_what_was_needed_and_what_went_wrong() -> None:
    tail = (". Reply again with only the function call(s), each as a json object within "
            "<tool_call></tool_call> XML tags as described in the system prompt.")
    assert reask_message(NamedChoice("add"), "it said hello") == (
        'Your last reply needed a call to the function "add", but it said hello' + tail)
    assert reask_message("required", "it contained no <tool_call> block") == (
        "Your last reply needed at least one function call, but it contained no "
        "<tool_call> block" + tail)


# -- tool_choice -----------------------------------------------------------------------------
@pytest.mark.parametrize(("choice", "expected"), [
    (None, "auto"), ("auto", "auto"), ("none", "none"),
    ("any", "required"), ("required", "required"), (True, "required"),
    ("add", NamedChoice("add")),
    ({"type": "function", "function": {"name": "add"}}, NamedChoice("add")),
    ({"name": "add"}, NamedChoice("add")),
])
def test_every_spelling_of_tool_choice_normalises(choice: object, expected: object) -> None:
    assert normalize_tool_choice(choice, tool_specs([ADD, NOW])) == expected


@pytest.mark.parametrize("choice", ["any", "required", True])
def test_requiring_a_call_without_tools_is_refused(choice: object) -> None:
    with pytest.raises(ValueError, match="tool_choice requires a tool call, but no tools are "
                                         "bound"):
        normalize_tool_choice(choice, ())


@pytest.mark.parametrize(("tools", "bound"), [([ADD, NOW], "add, now"), ([], "none")])
def test_naming_an_unbound_tool_is_refused_with_the_bound_tools_listed(
        tools: list[Any], bound: str) -> None:
    with pytest.raises(ValueError) as info:
        normalize_tool_choice("mul", tool_specs(tools))
    assert str(info.value) == f"tool_choice names 'mul', which is not a bound tool (bound: {bound})"


@pytest.mark.parametrize("choice", [3, {"type": "function", "function": "add"}, {"type": "x"}])
def test_a_tool_choice_of_no_known_shape_is_a_value_error_showing_the_shapes(
        choice: object) -> None:
    with pytest.raises(ValueError, match="'auto', 'none', 'required'/'any', a tool name"):
        normalize_tool_choice(choice, tool_specs([ADD]))


# -- tools ------------------------------------------------------------------------------------
def test_a_spec_passes_through_and_a_function_dict_becomes_one() -> None:
    spec = ToolSpec("f", "d", {"type": "object"})
    assert ToolSpec.from_any(spec) is spec
    got = ToolSpec.from_any({"name": "f", "description": None, "parameters": None})
    assert got == ToolSpec("f", "", {"type": "object", "properties": {}})
    assert tool_specs(None) == ()


@pytest.mark.parametrize("tool", [
    {"type": "retrieval", "function": {"name": "f"}},  # not a function tool
    {"type": "function", "function": {"name": "  "}},  # blank name
    {"type": "function", "function": "f"},
])
def test_a_tool_that_is_not_a_named_function_is_refused_with_its_text_and_the_shape(
        tool: dict[str, Any]) -> None:
    with pytest.raises(ValueError) as info:
        ToolSpec.from_any(tool)
    assert str(info.value).startswith(f"tool {tool} has no function name; tools look like ")
    assert str(info.value).endswith(
        '{"type": "function", "function": {"name": …, "parameters": …}}')


def test_a_tool_that_is_not_a_mapping_is_refused_naming_its_type() -> None:
    with pytest.raises(ValueError, match=r"a ToolSpec or a JSON-schema function dict, not int$"):
        ToolSpec.from_any(3)  # type: ignore[arg-type]


def test_parameters_that_are_not_a_schema_object_are_refused_naming_the_tool() -> None:
    with pytest.raises(ValueError, match=r"^tool 'f': parameters must be a JSON schema object$"):
        ToolSpec.from_any({"name": "f", "parameters": "int"})


def test_repeated_tool_names_are_refused_listing_each_repeated_name_once() -> None:
    tools = [{"name": n} for n in ["b", "a", "c", "a", "b", "b"]]
    with pytest.raises(ValueError, match=r"^tool names must be unique; repeated: a, b$"):
        tool_specs(tools)


# -- calls in input messages ------------------------------------------------------------------
def test_call_ids_have_openais_shape_and_are_fresh() -> None:
    ids = {new_call_id() for _ in range(50)}
    assert len(ids) == 50
    assert all(re.fullmatch(r"call_[0-9a-f]{24}", i) for i in ids)


def test_a_call_without_id_or_arguments_gets_an_empty_id_empty_arguments_and_index_0() -> None:
    class Fn:
        name = "now"

    class Bare:  # an SDK-like object with a function but no id
        function = Fn()

    for call in [{"name": "now"}, {"function": {"name": "now"}}, Bare(),
                 {"name": "now", "arguments": ""}, {"name": "now", "arguments": "  "}]:
        assert tool_call_from(call) == ToolCall("", "now", {}, 0)
    assert tool_call_from(ToolCall("c", "f", {})) == ToolCall("c", "f", {})
    assert tool_call_from({"name": "f", "arguments": {"x": 1}, "args": {"y": 2}}).arguments == {
        "x": 1}


@pytest.mark.parametrize("call", [
    {"name": "", "arguments": {}}, {"name": 3, "arguments": {}}, {"arguments": {}},
    {"name": "f", "arguments": [1]}, {"name": "f", "arguments": "[1]"}, object(),
])
def test_a_call_without_a_name_or_an_arguments_object_is_refused_showing_it(
        call: object) -> None:
    with pytest.raises(ValueError) as info:
        tool_call_from(call)
    assert str(info.value) == f"a tool call needs a name and an arguments object, got {call}"


def test_a_call_whose_arguments_are_broken_json_is_refused_naming_it() -> None:
    with pytest.raises(ValueError, match=r"^tool call 'add' has arguments that are not valid"):
        tool_call_from({"name": "add", "arguments": "{oops"})


# -- JSON output ------------------------------------------------------------------------------
def test_extract_json_skips_braces_that_do_not_open_json() -> None:
    assert extract_json('Use {braces} or [brackets, like] {"a": 1} here.') == {"a": 1}
    assert extract_json("a list: [1, 2] then text") == [1, 2]
