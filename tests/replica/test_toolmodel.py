"""The replica model's tool/JSON rules (``qwen_spaces.replica.toolmodel``), rule by rule.

Pure functions, no server. System texts are built here from the format in
``/work/shared/docs/tool-calling.md`` (the Qwen2.5/Qwen3 chat template), not by the client's
renderer, so the round trip through the client is not checked against itself.
"""

from __future__ import annotations

import json

import pytest

from qwen_spaces.replica.directives import DIRECTIVES
from qwen_spaces.replica.toolmodel import (
    GENERIC_WORDS,
    fill_schema,
    mentioned,
    name_words,
    parse_system,
    system_summary,
    tool_reply,
)

from .template import (
    ADD,
    MAGIC,
    REQUIRED,
    WEATHER,
    calls,
    format_block,
    named,
    obj,
    tool,
    tools_system,
)

# -- rule 1: no blocks, no change ---------------------------------------------------------

@pytest.mark.parametrize("system", [None, "", "You are a helpful assistant.",
                                    "Talk about <tools> and # Tools freely."])
def test_without_blocks_it_is_not_tool_mode(system: str | None) -> None:
    assert tool_reply(system, "/tool add {}\nadd 2 and 3") is None
    assert system_summary(system) is None


# -- rule 2a: directives ------------------------------------------------------------------

def test_tool_directives_call_exactly_what_they_say_in_order() -> None:
    system = tools_system([ADD, MAGIC])
    query = ('please\n/tool add {"a": 1, "b": 2}\nsome text\n  /tool magic_function '
             '{"input": "中文"}\n/tool no_args')
    reply = tool_reply(system, query)
    assert reply == (
        "[replica] calling add, magic_function, no_args\n"
        '<tool_call>\n{"name": "add", "arguments": {"a": 1, "b": 2}}\n</tool_call>\n'
        '<tool_call>\n{"name": "magic_function", "arguments": {"input": "中文"}}\n</tool_call>\n'
        '<tool_call>\n{"name": "no_args", "arguments": {}}\n</tool_call>')


def test_raw_unclosed_fncall_and_say_directives() -> None:
    system = tools_system([ADD])
    query = ("/say Let me check.\n/tool-raw {\"name\": \"add\", \"arguments\": {bad\n"
             '/fncall add {"a": 1, "b": 2}\n/tool-unclosed add {"a": 3}')
    assert tool_reply(system, query) == (
        "Let me check.\n"
        '<tool_call>\n{"name": "add", "arguments": {bad\n</tool_call>\n'
        '✿FUNCTION✿: add\n✿ARGS✿: {"a": 1, "b": 2}\n'
        '<tool_call>\n{"name": "add", "arguments": {"a": 3}}')


def test_directive_with_text_that_is_not_json_goes_in_as_is() -> None:
    reply = tool_reply(tools_system([ADD]), "/tool add {a: 1")
    assert reply is not None and '{"name": "add", "arguments": {a: 1}' in reply


def test_directives_inside_tool_responses_do_not_count() -> None:
    query = '<tool_response>\n/tool add {"a": 1}\n</tool_response>'
    assert tool_reply(tools_system([ADD]), query) == (
        '[replica] tool results received: /tool add {"a": 1}')


def test_directives_are_listed_for_cli_help() -> None:
    for key in ("/tool NAME {json}", "/tool-raw TEXT", "/tool-unclosed NAME {json}",
                "/fncall NAME {json}", "/say TEXT", "/json-prose", "/quota"):
        assert key in DIRECTIVES


# -- rule 2b: tool results ----------------------------------------------------------------

@pytest.mark.parametrize("choice", [None, REQUIRED, named("add")])
def test_tool_results_get_a_plain_answer_even_when_a_call_is_forced(choice: str | None) -> None:
    query = ("<tool_response>\n5\n</tool_response>\n"
             '<tool_response>\n{"temp": 21, "sky": "晴"}\n</tool_response>')
    assert tool_reply(tools_system([ADD, WEATHER], choice), query) == (
        '[replica] tool results received: 5; {"temp": 21, "sky": "晴"}')


def test_results_plus_a_question_is_a_question() -> None:
    query = "<tool_response>\n5\n</tool_response>\nnow add 5 and 6"
    assert calls(tool_reply(tools_system([ADD]), query)) == [
        {"name": "add", "arguments": {"a": 5, "b": 6}}]


# -- rule 2c: which tools -----------------------------------------------------------------

def test_name_words() -> None:
    assert name_words("get_current-weatherReport") == ["current", "weather", "report"]
    assert name_words("HTTPServerStatus2") == ["http", "server", "status"]
    assert name_words("make_tool_function") == []
    assert {"get", "set", "make", "create", "call", "run", "use", "tool",
            "function"} <= GENERIC_WORDS


def test_mentions() -> None:
    assert mentioned("add", "please ADD 2 and 3") == 7
    assert mentioned("add", "my address") is None  # a full name counts as a word only
    assert mentioned("get_weather", "Weather in Paris?") == 0
    assert mentioned("get_weather", "what do you get?") is None  # generic word
    assert mentioned("multiply", "try multiplying") == 4  # a word may begin a longer one
    assert mentioned("magic_function", "value of magic_function(3)") == 9


def test_auto_calls_every_mentioned_tool_in_order_of_first_mention() -> None:
    system = tools_system([MAGIC, WEATHER, ADD])
    reply = tool_reply(system, "What's the weather in 'Paris' and magic_function(4)?")
    assert reply is not None and reply.startswith(
        "[replica] calling get_weather, magic_function\n<tool_call>\n")
    assert calls(reply) == [
        {"name": "get_weather", "arguments": {"location": "Paris"}},
        {"name": "magic_function", "arguments": {"input": 4}}]


def test_auto_without_a_mention_answers_in_plain_text() -> None:
    system = tools_system([MAGIC, WEATHER])
    assert tool_reply(system, "Hello!") is None  # the responder's header, system summarised
    assert system_summary(system) == f"{len(system)} chars, tools: magic_function, get_weather"


def test_required_calls_the_mentioned_tools_else_the_first() -> None:
    system = tools_system([MAGIC, WEATHER, ADD], REQUIRED)
    assert [c["name"] for c in calls(tool_reply(system, "Hello!"))] == ["magic_function"]
    assert [c["name"] for c in calls(tool_reply(system, "add then weather"))] == [
        "add", "get_weather"]


def test_named_choice_calls_that_tool_whatever_is_mentioned() -> None:
    system = tools_system([MAGIC, WEATHER], named("get_weather"))
    assert calls(tool_reply(system, "magic_function(3)")) == [
        {"name": "get_weather", "arguments": {"location": "magic_function(3)"}}]


def test_no_tools_in_the_block_means_no_call() -> None:
    system = tools_system([])
    assert parse_system(system).tools == ()
    assert tool_reply(system, "add 1 and 2") is None


# -- rule 2d: arguments -------------------------------------------------------------------

def test_literals_by_type_each_used_once() -> None:
    schema = obj({"n": {"type": "integer"}, "x": {"type": "number"},
                  "m": {"type": "integer"}, "s": {"type": "string"},
                  "t": {"type": "string"}, "flag": {"type": "boolean"}})
    text = "v2 costs 2.5 or 7, “straße” and \"it's no\" -3 x1 no"
    assert fill_schema(schema, text) == {
        "n": 7, "x": 2.5, "m": -3, "s": "straße", "t": "it's no", "flag": False}


def test_string_without_quotes_is_the_query_text() -> None:
    schema = obj({"city": {"type": "string"}}, ["city"])
    assert fill_schema(schema, "  weather in Paris?  ") == {"city": "weather in Paris?"}


def test_boolean_and_enum_and_defaults() -> None:
    schema = obj({"unit": {"enum": ["celsius", "fahrenheit"]},
                  "style": {"type": "string", "enum": ["short", "long"]},
                  "mode": {"type": "string", "enum": ["a", "b"], "default": "b"},
                  "loud": {"type": "boolean", "default": True},
                  "quiet": {"type": "boolean"}, "n": {"type": "integer", "default": 10}},
                 ["unit", "style", "loud", "quiet", "n"])
    assert fill_schema(schema, "in FAHRENHEIT, Celsius is worse") == {
        "unit": "fahrenheit", "style": "short", "mode": "b", "loud": True, "quiet": False,
        "n": 10}
    assert fill_schema(schema, "yes, 3") == {
        "unit": "celsius", "style": "short", "mode": "b", "loud": True, "quiet": False, "n": 3}


def test_optional_properties_only_with_a_literal_or_default() -> None:
    schema = obj({"q": {"type": "string"}, "limit": {"type": "integer"},
                  "tag": {"type": "string"}, "exact": {"type": "boolean"},
                  "lang": {"type": "string", "default": "en"},
                  "note": {"anyOf": [{"type": "string"}, {"type": "null"}], "default": None}},
                 ["q"])
    assert fill_schema(schema, "find cats") == {"q": "find cats", "lang": "en", "note": None}
    assert fill_schema(schema, "find 'cats' top 5, exact: true") == {
        "q": "cats", "limit": 5, "exact": True, "lang": "en", "note": None}


def test_arrays_take_the_remaining_literals_and_objects_recurse() -> None:
    schema = obj({"first": {"type": "integer"}, "rest": {"type": "array",
                                                         "items": {"type": "integer"}},
                  "names": {"type": "array", "items": {"type": "string"}},
                  "where": {"$ref": "#/$defs/Place"}},
                 ["first", "rest", "names", "where"])
    schema["$defs"] = {"Place": obj({"city": {"type": "string"},
                                     "zip": {"type": ["integer", "null"]}}, ["city", "zip"])}
    assert fill_schema(schema, "sum 1 2 3 of 'a' and 'b'") == {
        "first": 1, "rest": [2, 3], "names": ["a", "b"],
        "where": {"city": "sum 1 2 3 of 'a' and 'b'", "zip": 0}}


def test_tools_without_properties_get_empty_arguments() -> None:
    assert fill_schema(None, "x 1") == {}
    assert fill_schema({"type": "object", "properties": {}}, "x 1") == {}
    system = tools_system([{"name": "ping", "parameters": {"type": "object"}}])
    assert calls(tool_reply(system, "ping 3")) == [{"name": "ping", "arguments": {}}]


# -- rule 2e: the call reply --------------------------------------------------------------

def test_call_reply_keeps_unicode_unescaped() -> None:
    greet = tool("greet", {"name": {"type": "string"}})
    reply = tool_reply(tools_system([greet]), "greet “你好啊集团” 🙂")
    assert reply == ('[replica] calling greet\n<tool_call>\n{"name": "greet", "arguments": '
                     '{"name": "你好啊集团"}}\n</tool_call>')


# -- rule 3: JSON output ------------------------------------------------------------------

def test_json_without_schema_answers_the_query() -> None:
    system = "Be brief." + format_block()
    assert tool_reply(system, "  what is up?\n") == '{"answer": "what is up?"}'


def test_json_with_schema_fills_it() -> None:
    joke = obj({"setup": {"type": "string"}, "punchline": {"type": "string"},
                "rating": {"type": "integer"}}, ["setup", "punchline"])
    system = "Be funny." + format_block(joke)
    reply = tool_reply(system, "Tell me a joke about 'cats', rated 7.")
    assert reply is not None
    assert json.loads(reply) == {"setup": "cats", "punchline": "Tell me a joke about 'cats', "
                                 "rated 7.", "rating": 7}
    assert system_summary(system) == f"{len(system)} chars, response format: schema"


def test_json_prose_wraps_the_object_in_a_fence() -> None:
    reply = tool_reply(format_block(), "/json-prose\nhi")
    assert reply is not None
    head, fence, rest = reply.partition("```json\n")
    assert fence and "{" not in head
    body, end, tail = rest.partition("\n```")
    assert end and "{" not in tail
    assert json.loads(body) == {"answer": "hi"}


def test_tools_decide_first_then_json() -> None:
    system = tools_system([ADD]) + format_block()
    assert calls(tool_reply(system, "add 1 2")) == [{"name": "add",
                                                      "arguments": {"a": 1, "b": 2}}]
    assert tool_reply(system, "hello") == '{"answer": "hello"}'
    assert tool_reply(system, "<tool_response>\n3\n</tool_response>") == (
        '{"answer": "tool results received: 3"}')
