"""The tool-call parser's edges: what an invalid call keeps, Qwen2's function lines, the end
of a reply, rewrites by the Space, and why a reply fails a required ``tool_choice``.

An invalid call's ``error`` is part of the wire format: it goes back to the model in the
re-ask turn, so the texts are compared exactly.
"""

from __future__ import annotations

from typing import Any

from hypothesis import assume, given, settings
from hypothesis import strategies as st

from qwen_spaces.errors import SpaceProtocolError
from qwen_spaces.events import InvalidToolCall, TextDelta, ToolCallDelta
from qwen_spaces.tools import NamedChoice, ToolCallParser

CALL = '<tool_call>{"name": "f", "arguments": {}}</tool_call>'


def feed_all(parser: ToolCallParser, *pieces: str) -> list[Any]:
    events: list[Any] = []
    for piece in pieces:
        events += parser.feed(TextDelta(piece))
    return events


def shown(events: list[Any], start: str = "") -> str:
    """The answer text a client shows after applying the text deltas (rewrites included)."""
    text = start
    for e in events:
        if isinstance(e, TextDelta):
            text = text[:len(text) - e.replaced] + e.text
    return text


def parse(text: str, names: list[str] | None = None) -> tuple[ToolCallParser, list[Any]]:
    parser = ToolCallParser(names)
    events = feed_all(parser, text) + parser.finish()
    return parser, events


def invalid_fields(parser: ToolCallParser) -> list[tuple[Any, ...]]:
    return [(b.index, b.name, b.arguments, b.error, b.raw) for b in parser.invalid]


# -- invalid calls -----------------------------------------------------------------------------
def test_each_kind_of_invalid_call_keeps_its_name_arguments_raw_text_and_says_what_is_wrong(
        ) -> None:
    blocks = ['<tool_call>["add"]</tool_call>',
              '<tool_call>{"arguments": {"a": 1}}</tool_call>',
              '<tool_call>{"name": "add", "arguments": [1, 2]}</tool_call>',
              '<tool_call>{"name": "add", "arguments": "not json"}</tool_call>',
              '<tool_call>{"name": "mul", "arguments": {"a": 1}}</tool_call>']
    parser, _ = parse("\n".join(blocks), ["add", "get_weather"])
    assert parser.calls == []
    assert invalid_fields(parser) == [
        (0, None, '["add"]', "the call is not a JSON object", blocks[0]),
        (1, None, '{"a": 1}', "the call has no function name", blocks[1]),
        (2, "add", "[1, 2]", "the arguments are not a JSON object", blocks[2]),
        (3, "add", "not json", "the arguments are not a JSON object", blocks[3]),
        (4, "mul", '{"a": 1}', "'mul' is not one of the offered functions (add, get_weather)",
         blocks[4]),
    ]


def test_an_invalid_call_after_a_valid_one_takes_the_next_index() -> None:
    parser, events = parse(CALL + '\n<tool_call>{"name": ""}</tool_call>')
    assert [c.index for c in parser.calls] == [0]
    assert [e.index for e in events if isinstance(e, InvalidToolCall)] == [1]


def test_an_unclosed_final_block_keeps_no_closing_tag_in_its_raw_text() -> None:
    parser, _ = parse('Hi <tool_call>\n{"name": "f", "arguments": {"a": 1')
    [bad] = parser.invalid
    assert bad.raw == '<tool_call>\n{"name": "f", "arguments": {"a": 1'
    assert bad.error.startswith("the call is not valid JSON (")
    parser, _ = parse('<tool_call>{"name": "g"}', ["f"])
    assert parser.invalid[0].raw == '<tool_call>{"name": "g"}'


def test_an_empty_call_block_is_invalid_and_the_text_after_it_is_kept() -> None:
    parser, events = parse("<tool_call></tool_call>ok")
    assert shown(events) == "ok"
    assert [b.raw for b in parser.invalid] == ["<tool_call></tool_call>"]


def test_parameters_is_accepted_for_arguments_and_empty_string_arguments_are_empty() -> None:
    parser, _ = parse('<tool_call>{"name": "f", "parameters": {"a": 1}}</tool_call>'
                      '<tool_call>{"name": "g", "arguments": " "}</tool_call>')
    assert [(c.name, c.arguments) for c in parser.calls] == [("f", {"a": 1}), ("g", {})]


# -- Qwen2's function lines --------------------------------------------------------------------
def test_consecutive_function_blocks_are_separate_calls_in_order() -> None:
    reply = ("✿FUNCTION✿: a\n✿ARGS✿: {\"x\": 1}\n✿FUNCTION✿: b\n✿ARGS✿: {}\n"
             "✿FUNCTION✿: c\n✿ARGS✿: {\"x\": 3}")
    parser, events = parse(reply)
    assert [(c.name, c.arguments) for c in parser.calls] == [("a", {"x": 1}), ("b", {}),
                                                              ("c", {"x": 3})]
    assert shown(events) == ""


def test_a_function_line_without_args_is_a_call_with_empty_arguments() -> None:
    parser, _ = parse("✿FUNCTION✿: now\n")
    assert [(c.name, c.arguments) for c in parser.calls] == [("now", {})]


def test_only_the_first_args_marker_starts_the_arguments() -> None:
    parser, _ = parse('✿FUNCTION✿: echo\n✿ARGS✿: {"text": "✿ARGS✿: x"}')
    assert [(c.name, c.arguments) for c in parser.calls] == [("echo", {"text": "✿ARGS✿: x"})]


def test_broken_function_arguments_are_an_invalid_call_naming_the_function() -> None:
    parser, _ = parse("Hm ✿FUNCTION✿: add\n✿ARGS✿: {oops\n✿RESULT✿: 1\nok")
    [bad] = parser.invalid
    assert (bad.name, bad.arguments) == ("add", "{oops")
    assert bad.raw == "✿FUNCTION✿: add\n✿ARGS✿: {oops\n"
    assert bad.error.startswith("the arguments are not valid JSON (")


def test_an_unknown_function_in_a_function_line_keeps_its_raw_text() -> None:
    parser, _ = parse("✿FUNCTION✿: mul\n✿ARGS✿: {}", ["add"])
    assert invalid_fields(parser) == [
        (0, "mul", "{}", "'mul' is not one of the offered functions (add)",
         "✿FUNCTION✿: mul\n✿ARGS✿: {}")]


def test_an_empty_function_line_is_invalid_and_the_next_block_still_parses() -> None:
    parser, _ = parse("✿FUNCTION✿:✿FUNCTION✿: f\n✿ARGS✿: {}")
    assert [(c.name, c.index) for c in parser.calls] == [("f", 1)]
    assert invalid_fields(parser) == [(0, None, "{}", "the call has no function name",
                                       "✿FUNCTION✿:")]


def test_the_models_result_line_is_dropped_and_all_text_after_it_kept() -> None:
    reply = '✿FUNCTION✿: f\n✿ARGS✿: {}\n✿RESULT✿: sunny\nNice.\nBye.'
    for pieces in ([reply], [reply[:-12], reply[-12:]], list(reply)):
        parser = ToolCallParser()
        assert shown(feed_all(parser, *pieces) + parser.finish()) == "Nice.\nBye."


# -- the end of a reply ------------------------------------------------------------------------
def test_whitespace_after_the_last_call_is_not_answer_text() -> None:
    for tail in ["\n", " \n\n"]:
        assert shown(parse(CALL + tail)[1]) == ""
        assert shown(parse("<tool_call>[]</tool_call>" + tail)[1]) == ""


def test_whitespace_sent_in_separate_deltas_is_all_kept_inside_text() -> None:
    parser = ToolCallParser()
    events = feed_all(parser, "a", " ", "\n", " ", "b", " ", " ") + parser.finish()
    assert shown(events) == parser.content == "a \n b  "


def test_finish_twice_emits_nothing_the_second_time() -> None:
    for reply in ["Hi <tool", "Hi <tool_call>{\"name\": \"f\"}", "✿FUNCTION✿: f", "Hi  "]:
        parser = ToolCallParser()
        parser.feed(TextDelta(reply))
        assert parser.finish()
        assert parser.finish() == []


# -- rewrites by the Space ---------------------------------------------------------------------
def test_the_raw_text_accumulates_every_delta_and_a_rewrite_cuts_its_tail() -> None:
    parser = ToolCallParser()
    events = feed_all(parser, "Hel", "lo") + parser.feed(TextDelta("p!", replaced=2))
    assert parser.raw == "Help!"
    assert shown(events) == parser.content == "Help!"


def test_a_rewrite_sends_only_what_changed_after_the_common_prefix() -> None:
    parser = ToolCallParser()
    parser.feed(TextDelta("abc1"))
    assert parser.feed(TextDelta("2", replaced=1)) == [TextDelta("2", replaced=1)]
    assert parser.feed(TextDelta("2 and more", replaced=1)) == [TextDelta(" and more")]
    assert parser.feed(TextDelta("more", replaced=4)) == []  # same text: nothing to send
    assert parser.content == parser.raw == "abc2 and more"


def test_a_rewrite_that_completes_a_held_tag_yields_only_the_call() -> None:
    parser = ToolCallParser(["f"])
    assert shown(parser.feed(TextDelta("Hi <tool"))) == "Hi"
    events = parser.feed(TextDelta(CALL, replaced=len("<tool")))
    head, args = events
    assert isinstance(head, ToolCallDelta) and isinstance(args, ToolCallDelta)
    assert (head.name, args.arguments) == ("f", "{}")


def test_a_rewrite_keeps_the_offered_tools_and_the_raw_text() -> None:
    parser = ToolCallParser(["add"])
    parser.feed(TextDelta("x"))
    parser.feed(TextDelta('<tool_call>{"name": "mul"}</tool_call>', replaced=1))
    assert [b.name for b in parser.invalid] == ["mul"] and parser.calls == []
    parser.feed(TextDelta(" done"))
    assert parser.raw == '<tool_call>{"name": "mul"}</tool_call> done'


def test_after_a_call_a_rewrite_of_the_undecided_tail_is_parsed_in_place() -> None:
    parser = ToolCallParser()
    first = feed_all(parser, CALL, "ok  <tool")
    assert shown(first) == "ok"
    events = parser.feed(TextDelta("\nbye", replaced=len("  <tool")))
    assert events == [TextDelta("\nbye")]  # the call is not sent again
    assert parser.raw == CALL + "ok\nbye"
    events += parser.finish()
    assert shown(first + events) == parser.content == "ok\nbye"
    assert len(parser.calls) == 1


def test_after_a_call_a_rewrite_can_finish_a_held_tag_differently() -> None:
    parser = ToolCallParser()
    feed_all(parser, CALL, "ok  <tool")
    events = parser.feed(TextDelta('ol_call>{"name": "g"}</tool_call>', replaced=2))
    parser.finish()
    assert [c.name for c in parser.calls] == ["f", "g"]
    assert [e.name for e in events if isinstance(e, ToolCallDelta) and e.name] == ["g"]
    assert parser.content == "ok"


def test_after_a_call_a_rewrite_of_text_already_parsed_is_a_protocol_error() -> None:
    """Raised mid-stream, so it is a SpaceError a caller handles, not bad input."""
    for sent, replaced in [("ok  <tool", 8), ("ok", 1), ("\n✿FUNCTION✿: g\n✿RESULT✿: x", 1)]:
        parser = ToolCallParser()
        feed_all(parser, CALL, sent)
        try:
            parser.feed(TextDelta("z", replaced=replaced))
        except SpaceProtocolError as exc:
            assert "the Space rewrote a tool call it had already sent" in str(exc)
        else:
            raise AssertionError(f"a rewrite of {replaced} of {sent!r} was accepted")


PLAIN = st.text(alphabet="ab <>/_tolc✿\n", max_size=16)


@settings(max_examples=80, deadline=None)
@given(PLAIN, PLAIN, st.integers(0, 16), st.integers(1, 4), st.data())
def test_before_any_call_any_rewrite_shows_exactly_the_final_text(
        first: str, second: str, cut: int, splits: int, data: st.DataObject) -> None:
    """Plain text sent in pieces, then the Space rewrites its tail: whatever the pieces and
    the cut, the client's text after applying every delta is the final text."""
    cut = min(cut, len(first))
    assume(len(first) - cut > 0)
    final = first[:cut] + second
    assume(all(m not in s for s in (first, final) for m in ("<tool_call>", "✿FUNCTION✿:")))
    points = sorted(data.draw(st.lists(st.integers(0, len(first)), max_size=splits)))
    pieces = [first[a:b] for a, b in zip([0, *points], [*points, len(first)], strict=True)]
    parser = ToolCallParser()
    events = feed_all(parser, *pieces)
    events += parser.feed(TextDelta(second, replaced=len(first) - cut))
    events += parser.finish()
    assert shown(events) == parser.content == final
    assert parser.raw == final and not parser.calls and not parser.invalid


# -- a required tool_choice --------------------------------------------------------------------
def test_a_reply_satisfies_a_required_choice_with_any_valid_call() -> None:
    parser, _ = parse(CALL + '<tool_call>{"name": "g"}</tool_call>')
    assert parser.problem("required") is None
    assert parser.problem(NamedChoice("g")) is None
    assert parser.problem(NamedChoice("h")) == "it called f, g instead"


def test_a_reply_without_the_call_says_why_for_the_reask() -> None:
    assert parse("Hello.")[0].problem("required") == "it contained no <tool_call> block"
    assert parse("Hello.")[0].problem(NamedChoice("f")) == "it contained no <tool_call> block"
    parser, _ = parse('<tool_call>{"name": "mul"}</tool_call><tool_call>[]</tool_call>',
                      ["f"])
    expected = "'mul' is not one of the offered functions (f)"
    assert parser.problem("required") == parser.problem(NamedChoice("f")) == expected
    parser, _ = parse(CALL + "<tool_call>[]</tool_call>")
    assert parser.problem(NamedChoice("g")) == "the call is not a JSON object"
