"""Qwen's tool-calling text format: rendering, and the streaming parser over every chunking.

The property tests build a reply from a model of its parts (text, calls, broken calls) and
compute the expected answer text and calls from that model, never from the parser.
"""

from __future__ import annotations

import json
from typing import Any

import pytest
from hypothesis import assume, given, settings
from hypothesis import strategies as st

from qwen_spaces.catalog import resolve_model
from qwen_spaces.chat import prepare_chat
from qwen_spaces.events import Finished, InvalidToolCall, TextDelta, ToolCall, ToolCallDelta
from qwen_spaces.tools import (
    ToolCallParser,
    ToolSpec,
    extract_json,
    normalize_tool_choice,
    reask_message,
    render_tools,
    tool_call_from,
    tool_specs,
)

ADD = {"type": "function", "function": {
    "name": "add", "description": "Add two integers.",
    "parameters": {"type": "object", "properties": {"a": {"type": "integer"},
                                                    "b": {"type": "integer"}}}}}
WEATHER = {"type": "function", "function": {
    "name": "get_weather", "description": "Weather at a place.",
    "parameters": {"type": "object", "properties": {"location": {"type": "string"}}}}}


def run(pieces: list[str], names: list[str] | None = None) -> tuple[str, list[Any], list[Any]]:
    """Feed pieces; return (content from the deltas, calls from the deltas, invalid)."""
    parser = ToolCallParser(names)
    events: list[Any] = []
    for piece in pieces:
        events += parser.feed(TextDelta(piece))
    events += parser.finish()
    content = "".join(e.text for e in events if isinstance(e, TextDelta))
    calls: dict[int, dict[str, Any]] = {}
    for e in events:
        if isinstance(e, ToolCallDelta):
            entry = calls.setdefault(e.index, {"id": e.id, "name": e.name, "args": ""})
            entry["args"] += e.arguments
    assert content == parser.content
    decoded = [(c["name"], json.loads(c["args"])) for _, c in sorted(calls.items())]
    assert decoded == [(c.name, c.arguments) for c in parser.calls]
    ids = [c["id"] for c in calls.values()] + [b.id for b in parser.invalid]
    assert all(ids) and len(set(ids)) == len(ids)
    return content, decoded, [e for e in events if isinstance(e, InvalidToolCall)]


def chunkings(text: str) -> st.SearchStrategy[list[str]]:
    return st.lists(st.integers(0, len(text)), max_size=12).map(
        lambda cuts: [text[a:b] for a, b in zip([0, *sorted(cuts)], [*sorted(cuts), len(text)],
                                               strict=True)])


# -- the reply model ------------------------------------------------------------------------
TEXT = st.text(alphabet="ab <>/_tolc✿\n", max_size=12)
NAMES = st.sampled_from(["add", "get_weather", "f"])
ARGS = st.dictionaries(st.sampled_from(["a", "b", "city"]),
                       st.one_of(st.integers(-5, 5), st.text(alphabet="xyé\"<", max_size=4)),
                       max_size=3)


@st.composite
def replies(draw: st.DrawFn) -> tuple[str, str, list[tuple[str, dict[str, Any]]], int]:
    """(reply text, expected content, expected calls, expected invalid count)."""
    parts: list[Any] = draw(st.lists(st.one_of(
        TEXT.map(lambda t: ("text", t)),
        st.tuples(st.just("call"), NAMES, ARGS, st.sampled_from(["\n", "", " \n"])),
        st.tuples(st.just("bad"), st.sampled_from(['{"name": "add", "arguments": {"a": 1',
                                                   "not json", '["add"]']))),
        max_size=6))
    fn_tail = draw(st.one_of(st.none(), st.tuples(NAMES, ARGS)))
    text, calls, bad = "", [], 0
    pieces: list[str] = [""]  # text between blocks, in order
    for part in parts:
        if part[0] == "text":
            assume("<tool_call>" not in part[1] and "✿FUNCTION✿:" not in part[1])
            text += part[1]
            pieces[-1] += part[1]
            continue
        if part[0] == "call":
            _, name, args, pad = part
            body = json.dumps({"name": name, "arguments": args}, ensure_ascii=False)
            text += f"<tool_call>{pad}{body}{pad}</tool_call>"
            calls.append((name, args))
        else:
            text += f"<tool_call>\n{part[1]}\n</tool_call>"
            bad += 1
        pieces.append("")
    assume("<tool_call>" not in text.replace("<tool_call>", "", len(calls) + bad))
    if fn_tail is not None:
        name, args = fn_tail
        text += f"✿FUNCTION✿: {name}\n✿ARGS✿: {json.dumps(args, ensure_ascii=False)}"
        calls.append(fn_tail)
        pieces.append("")
    if len(pieces) == 1:
        content = pieces[0]
    else:
        content = pieces[0].rstrip() + "".join(p.rstrip() for p in pieces[1:] if p.strip())
    return text, content, calls, bad


@settings(max_examples=400, deadline=None)
@given(st.data())
def test_any_chunking_gives_the_same_content_and_calls(data: st.DataObject) -> None:
    text, content, calls, bad = data.draw(replies())
    pieces = data.draw(chunkings(text))
    got_content, got_calls, invalid = run(pieces)
    assert got_content == content
    assert got_calls == calls
    assert len(invalid) == bad


@settings(max_examples=200, deadline=None)
@given(st.text(alphabet="ab <>/_tolc✿FUNCIO:\n", max_size=40), st.data())
def test_plain_text_passes_through_exactly_whatever_the_chunking(text: str,
                                                                 data: st.DataObject) -> None:
    assume("<tool_call>" not in text and "✿FUNCTION✿:" not in text)
    content, calls, invalid = run(data.draw(chunkings(text)))
    assert (content, calls, invalid) == (text, [], [])


def test_a_tag_split_across_deltas_never_shows_as_text() -> None:
    parser = ToolCallParser()
    shown = ""
    reply = 'Let me add.\n<tool_call>\n{"name": "add", "arguments": {"a": 2, "b": 3}}\n</tool_call>'
    for ch in reply:
        shown += "".join(e.text for e in parser.feed(TextDelta(ch)) if isinstance(e, TextDelta))
        assert "<" not in shown
    parser.finish()
    assert shown == "Let me add."
    assert [(c.name, c.arguments) for c in parser.calls] == [("add", {"a": 2, "b": 3})]


def test_parallel_calls_come_in_order_with_distinct_ids_and_indexes() -> None:
    reply = "".join(f'<tool_call>\n{{"name": "add", "arguments": {{"a": {i}}}}}\n</tool_call>\n'
                    for i in range(3))
    parser = ToolCallParser(["add"])
    parser.feed(TextDelta(reply))
    parser.finish()
    assert [c.arguments["a"] for c in parser.calls] == [0, 1, 2]
    assert [c.index for c in parser.calls] == [0, 1, 2]
    assert len({c.id for c in parser.calls}) == 3
    assert all(c.id.startswith("call_") for c in parser.calls)


def test_broken_json_is_an_invalid_call_that_keeps_its_raw_text() -> None:
    body = '{"name": "add", "arguments": {"a": 2,'
    content, calls, invalid = run([f"ok <tool_call>\n{body}\n</tool_call>"], ["add"])
    assert (content, calls) == ("ok", [])
    assert invalid[0].arguments == body and "not valid JSON" in invalid[0].error
    assert body in invalid[0].raw and invalid[0].raw.startswith("<tool_call>")


def test_an_unknown_tool_name_is_invalid_and_names_the_offered_ones() -> None:
    _, calls, invalid = run(['<tool_call>{"name": "mul", "arguments": {}}</tool_call>'],
                            ["add", "get_weather"])
    assert calls == []
    assert invalid[0].name == "mul" and "add, get_weather" in invalid[0].error
    assert invalid[0].arguments == "{}"


def test_a_final_block_without_closing_tag_is_a_call_when_its_json_is_complete() -> None:
    content, calls, _ = run(['Sure <tool_call>\n{"name": "f", "arguments": {"x": 1}}\n'])
    assert (content, calls) == ("Sure", [("f", {"x": 1})])


def test_qwen2_function_lines_are_calls() -> None:
    reply = '✿FUNCTION✿: get_weather\n✿ARGS✿: {"location": "Paris"}\n✿RESULT✿: sunny\nNice.'
    content, calls, _ = run(list(reply))
    assert calls == [("get_weather", {"location": "Paris"})]
    assert content == "Nice."


def test_arguments_given_as_a_json_string_are_decoded() -> None:
    _, calls, _ = run(['<tool_call>{"name": "f", "arguments": "{\\"x\\": 2}"}</tool_call>'])
    assert calls == [("f", {"x": 2})]


def test_a_call_without_arguments_has_empty_arguments() -> None:
    _, calls, _ = run(['<tool_call>{"name": "f"}</tool_call>'])
    assert calls == [("f", {})]


def test_unicode_arguments_are_not_escaped_in_the_streamed_json() -> None:
    parser = ToolCallParser()
    events = parser.feed(TextDelta('<tool_call>{"name": "f", "arguments": {"n": "你好"}}'
                                   "</tool_call>"))
    args = "".join(e.arguments for e in events if isinstance(e, ToolCallDelta))
    assert "你好" in args


def test_a_rewrite_before_any_call_is_replayed_as_a_rewrite_of_the_text() -> None:
    parser = ToolCallParser()
    first = parser.feed(TextDelta("Thinking..."))
    second = parser.feed(TextDelta("Answer", replaced=len("Thinking...")))
    shown = ""
    for e in [*first, *second]:
        assert isinstance(e, TextDelta)
        shown = shown[:len(shown) - e.replaced] + e.text
    parser.finish()
    assert shown == parser.content == "Answer"


# -- rendering --------------------------------------------------------------------------------
def test_the_tools_block_is_the_templates_text() -> None:
    block = render_tools(tool_specs([ADD]))
    assert block.startswith("# Tools\n\nYou may call one or more functions")
    assert "\n<tools>\n" + json.dumps(ADD) + "\n</tools>\n" in block
    assert block.endswith('<tool_call>\n{"name": <function-name>, "arguments": '
                          "<args-json-object>}\n</tool_call>")


def test_tool_choice_lines() -> None:
    specs = tool_specs([ADD, WEATHER])
    assert render_tools(specs, normalize_tool_choice("any", specs)).endswith(
        "You must call at least one of the functions above in this reply.")
    named = normalize_tool_choice({"type": "function", "function": {"name": "add"}}, specs)
    assert render_tools(specs, named).endswith('You must call the function "add" in this reply.')
    assert render_tools(specs, "none") == ""
    assert normalize_tool_choice(None, specs) == "auto"
    assert normalize_tool_choice(True, specs) == "required"


@pytest.mark.parametrize("bad", ["mul", {"function": {"name": "mul"}}, 3])
def test_a_tool_choice_that_names_no_bound_tool_is_rejected(bad: object) -> None:
    with pytest.raises(ValueError, match="tool_choice"):
        normalize_tool_choice(bad, tool_specs([ADD]))


def test_tools_need_names_and_unique_ones() -> None:
    with pytest.raises(ValueError, match="no function name"):
        tool_specs([{"type": "function", "function": {"description": "x"}}])
    with pytest.raises(ValueError, match="unique"):
        tool_specs([ADD, ADD])
    assert ToolSpec.from_any({"name": "f"}).parameters == {"type": "object", "properties": {}}


def test_the_reask_names_the_problem_and_the_tool() -> None:
    text = reask_message(normalize_tool_choice("add", tool_specs([ADD])), "it said hello")
    assert '"add"' in text and "it said hello" in text and "<tool_call>" in text


def test_a_tool_round_trip_maps_onto_system_history_and_query() -> None:
    chat = prepare_chat(resolve_model("qwen-2.5"), [
        {"role": "user", "content": "What is 2 + 3?"},
        {"role": "assistant", "content": "Adding.", "tool_calls": [
            {"id": "c1", "name": "add", "args": {"a": 2, "b": 3}},
            {"id": "c2", "function": {"name": "add", "arguments": '{"a": 1, "b": 1}'}}]},
        {"role": "tool", "content": "5"},
        {"role": "tool", "content": "2"},
    ], tools=[ADD])
    assert chat.system is not None
    assert chat.system.startswith("You are Qwen, created by Alibaba Cloud.")  # the default
    assert "\n\n# Tools\n\n" in chat.system
    assert chat.history == (
        ("user", "What is 2 + 3?"),
        ("assistant", 'Adding.\n<tool_call>\n{"name": "add", "arguments": {"a": 2, "b": 3}}\n'
                      '</tool_call>\n<tool_call>\n{"name": "add", "arguments": {"a": 1, "b": 1}}'
                      "\n</tool_call>"))
    assert chat.query == ("<tool_response>\n5\n</tool_response>\n"
                          "<tool_response>\n2\n</tool_response>")


def test_the_callers_system_text_comes_before_the_tools_block() -> None:
    chat = prepare_chat(resolve_model("qwen-2.5-max"),
                        [{"role": "system", "content": "Be brief."},
                         {"role": "user", "content": "hi"}], tools=[ADD])
    assert chat.system is not None and chat.system.startswith("Be brief.\n\n# Tools")


def test_tools_on_a_space_without_a_system_input_are_refused() -> None:
    with pytest.raises(ValueError, match="qvq-72b cannot take tools"):
        prepare_chat(resolve_model("qvq-72b"), [{"role": "user", "content": "hi"}], tools=[ADD])
    with pytest.raises(ValueError, match="cannot take tools"):
        prepare_chat(resolve_model("qvq-72b"), [{"role": "user", "content": "hi"},
                                                {"role": "assistant", "content": "",
                                                 "tool_calls": [{"name": "f", "args": {}}]},
                                                {"role": "tool", "content": "1"}])


def test_response_format_asks_for_json_in_the_system_text() -> None:
    schema = {"type": "object", "properties": {"x": {"type": "integer"}}}
    chat = prepare_chat(resolve_model("qwen-2.5-max"), [{"role": "user", "content": "hi"}],
                        response_format={"type": "json_schema",
                                         "json_schema": {"name": "s", "schema": schema}})
    assert chat.system is not None and "<schema>\n" + json.dumps(schema) in chat.system
    with pytest.raises(ValueError, match="response_format"):
        prepare_chat(resolve_model("qwen-2.5-max"), [{"role": "user", "content": "hi"}],
                     response_format={"type": "xml"})


@pytest.mark.parametrize(("text", "value"), [
    ('{"a": 1}', {"a": 1}),
    ('Here you go:\n```json\n{"a": [1, 2]}\n```\nEnjoy.', {"a": [1, 2]}),
    ('The answer is {"a": "}"} as asked.', {"a": "}"}),
    ("[1, 2]", [1, 2]),
])
def test_extract_json_finds_the_value_in_fences_and_prose(text: str, value: Any) -> None:
    assert extract_json(text) == value


def test_extract_json_without_json_says_what_it_saw() -> None:
    with pytest.raises(ValueError, match="no JSON value: 'just words'"):
        extract_json("just words")


def test_results_go_back_in_call_order_when_each_names_a_different_call() -> None:
    calls = [{"id": "c1", "name": "slow", "args": {}}, {"id": "c2", "name": "fast", "args": {}}]
    base: list[dict[str, Any]] = [{"role": "user", "content": "go"},
                                  {"role": "assistant", "content": "", "tool_calls": calls}]
    tools = [{"name": "slow"}, {"name": "fast"}]
    finished_first = [{"role": "tool", "content": "fast done", "tool_call_id": "c2"},
                      {"role": "tool", "content": "slow done", "tool_call_id": "c1"}]
    chat = prepare_chat(resolve_model("qwen-2.5"), base + finished_first, tools=tools)
    assert chat.query.index("slow done") < chat.query.index("fast done")
    unnamed = [{"role": "tool", "content": "fast done"}, {"role": "tool", "content": "slow done"}]
    chat = prepare_chat(resolve_model("qwen-2.5"), base + unnamed, tools=tools)
    assert chat.query.index("fast done") < chat.query.index("slow done")  # as given


def test_tool_call_from_reads_every_common_shape() -> None:
    class Fn:
        name, arguments = "add", '{"a": 1}'

    class SdkCall:
        id, function = "call_9", Fn()

    shapes: list[object] = [
        {"id": "call_9", "name": "add", "args": {"a": 1}},
        {"id": "call_9", "type": "function", "function": {"name": "add", "arguments": '{"a": 1}'}},
        SdkCall(),
    ]
    for shape in shapes:
        call = tool_call_from(shape, 2)
        assert (call.id, call.name, call.arguments, call.index) == ("call_9", "add", {"a": 1}, 2)
    with pytest.raises(ValueError, match="not valid JSON"):
        tool_call_from({"name": "add", "arguments": "{oops"})
    with pytest.raises(ValueError, match="needs a name"):
        tool_call_from({"arguments": {}})


def test_finished_as_dict_turns_calls_into_plain_data() -> None:
    final = Finished("", tool_calls=(ToolCall("call_1", "add", {"a": 1}),))
    assert json.loads(json.dumps(final.as_dict()))["tool_calls"] == [
        {"id": "call_1", "name": "add", "arguments": {"a": 1}, "index": 0}]
