"""ChatQwenSpaces tool calling and structured output against replica Spaces.

The replica's fake model answers in Qwen's tool-call format by the documented rules in
``qwen_spaces/replica/toolmodel.py``: ``/tool NAME {json}`` lines call exactly that, a tool
mentioned by name is called in auto mode, tool results get a plain-text answer that quotes
them, and arguments are filled from the query's literals by schema type.
"""

from __future__ import annotations

import json
from typing import Any

import pytest
from langchain_core.messages import AIMessage, AIMessageChunk, HumanMessage, ToolMessage
from langchain_core.tools import tool
from pydantic import BaseModel, Field

from langchain_qwen_spaces import ChatQwenSpaces
from qwen_spaces.replica import ReplicaSet
from tests.util import wait_for

pytestmark = pytest.mark.replicas

TOOL_MODELS = ["qwen-2-72b", "qwen-2.5", "qwen-2.5-max"]


@tool
def add(a: int, b: int) -> int:
    """Add two integers."""
    return a + b


@tool
def multiply(a: int, b: int) -> int:
    """Multiply two integers."""
    return a * b


def llm(replicas: ReplicaSet, model: str = "qwen-2.5-max", **kw: Any) -> ChatQwenSpaces:
    return ChatQwenSpaces(model=model, timeout=30,
                          base_urls={m: replicas.url(m) for m in replicas.models}, **kw)


def calls(message: AIMessage) -> list[tuple[str, dict[str, Any]]]:
    return [(c["name"], c["args"]) for c in message.tool_calls]


@pytest.mark.parametrize("model", TOOL_MODELS)
def test_invoke_returns_the_call_with_exact_arguments_and_the_text_before_it(
        any_replicas: ReplicaSet, model: str) -> None:
    query = '/say Let me work that out.\n/tool add {"a": 1234567, "b": -2}'
    result = llm(any_replicas, model).bind_tools([add, multiply]).invoke(query)
    assert calls(result) == [("add", {"a": 1234567, "b": -2})]
    assert result.content == "Let me work that out."
    assert result.tool_calls[0]["id"].startswith("call_")
    assert result.response_metadata["finish_reason"] == "tool_calls"
    blocks = [b for b in result.content_blocks if b["type"] == "tool_call"]
    assert [(b["name"], b["args"]) for b in blocks] == calls(result)


@pytest.mark.parametrize("model", TOOL_MODELS)
def test_stream_never_shows_a_tag_and_its_chunks_add_up_to_the_same_calls(
        any_replicas: ReplicaSet, model: str) -> None:
    query = ('/say Two sums, then a product.\n/tool add {"a": 1, "b": 2}\n'
             '/tool add {"a": 3, "b": 4}\n/tool multiply {"a": 5, "b": 6}')
    bound = llm(any_replicas, model).bind_tools([add, multiply])
    chunks = list(bound.stream(query))
    assert all("<" not in str(c.content) and "tool_call" not in str(c.content) for c in chunks)
    merged = chunks[0]
    for c in chunks[1:]:
        merged += c
    assert isinstance(merged, AIMessageChunk)
    expected = [("add", {"a": 1, "b": 2}), ("add", {"a": 3, "b": 4}),
                ("multiply", {"a": 5, "b": 6})]
    assert calls(merged) == expected
    assert merged.content == "Two sums, then a product."
    ids = [c["id"] for c in merged.tool_calls]
    assert len(set(ids)) == 3 and all(ids)
    assert calls(bound.invoke(query)) == expected


def test_a_tool_round_trip_reaches_the_space_as_qwen_text(any_replicas: ReplicaSet) -> None:
    model = llm(any_replicas, "qwen-2.5").bind_tools([add])
    history = [
        HumanMessage("What is 2 + 3? Use add."),
        AIMessage("", tool_calls=[{"name": "add", "args": {"a": 2, "b": 3}, "id": "call_1"}]),
        ToolMessage("5", tool_call_id="call_1"),
    ]
    answer = model.invoke(history)
    assert answer.tool_calls == []
    assert "5" in str(answer.content)
    seen = any_replicas.stats("qwen-2.5")["last_request"]
    assert '<tool_call>\n{"name": "add", "arguments": {"a": 2, "b": 3}}\n</tool_call>' in \
        json.dumps(seen["history"], ensure_ascii=False).replace("\\n", "\n").replace('\\"', '"')
    assert seen["query"] == "<tool_response>\n5\n</tool_response>"
    assert "<tools>" in seen["system"] and '"name": "add"' in seen["system"]


def test_malformed_tool_json_ends_in_invalid_tool_calls_with_the_raw_text(
        replicas: ReplicaSet) -> None:
    result = llm(replicas).bind_tools([add]).invoke('/tool-raw {"name": "add", "arguments": {"a"')
    assert result.tool_calls == []
    bad = result.invalid_tool_calls[0]
    assert bad["args"] == '{"name": "add", "arguments": {"a"'
    assert "not valid JSON" in (bad["error"] or "")


def test_a_required_call_missing_from_the_reply_is_asked_for_again(
        replicas: ReplicaSet) -> None:
    before = replicas.stats("qwen-2.5-max")["started"]
    result = llm(replicas).bind_tools([add], tool_choice="add").invoke("/tool-raw oops")
    assert [c["name"] for c in result.tool_calls] == ["add"]
    assert result.response_metadata["tool_reasks"] == 1
    assert replicas.stats("qwen-2.5-max")["started"] == before + 2
    reask = replicas.stats("qwen-2.5-max")["last_request"]["query"]
    assert '"add"' in reask and "not valid JSON" in reask


def test_reasks_can_be_switched_off(replicas: ReplicaSet) -> None:
    result = llm(replicas, tool_reasks=0).bind_tools([add], tool_choice="any").invoke(
        "/tool-raw oops")
    assert result.tool_calls == [] and len(result.invalid_tool_calls) == 1
    assert "tool_reasks" not in result.response_metadata


def test_tools_on_qvq_are_refused_before_any_request(replicas: ReplicaSet) -> None:
    before = replicas.stats("qvq-72b")["started"]
    with pytest.raises(ValueError, match="qvq-72b cannot take tools"):
        llm(replicas, "qvq-72b").bind_tools([add]).invoke("add 1 and 2")
    assert replicas.stats("qvq-72b")["started"] == before


def test_tool_choice_none_offers_no_tools(replicas: ReplicaSet) -> None:
    result = llm(replicas).bind_tools([add], tool_choice="none").invoke("please add 1 and 2")
    assert result.tool_calls == []
    assert "<tools>" not in replicas.stats("qwen-2.5-max")["last_request"]["system"]


class Person(BaseModel):
    """A person."""

    name: str = Field(description="their name")
    age: int = Field(description="age in years")


@pytest.mark.parametrize("method", ["function_calling", "json_schema"])
def test_structured_output_into_a_pydantic_model(replicas: ReplicaSet, method: str) -> None:
    structured = llm(replicas).with_structured_output(Person, method=method)  # type: ignore[arg-type]
    person = structured.invoke("Ada is 36 years old. Her name is 'Ada Lovelace'.")
    assert person == Person(name="Ada Lovelace", age=36)


def test_json_schema_output_is_found_inside_prose_and_fences(replicas: ReplicaSet) -> None:
    structured = llm(replicas).with_structured_output(Person, method="json_schema",
                                                      include_raw=True)
    out = structured.invoke("/json-prose\n'Grace' is 85")
    assert out["parsed"] == Person(name="Grace", age=85)
    assert "```" in str(out["raw"].content) and out["parsing_error"] is None


def test_json_mode_and_include_raw_report_a_parsing_error(replicas: ReplicaSet) -> None:
    out = llm(replicas).with_structured_output(Person, method="json_mode",
                                               include_raw=True).invoke("hello there")
    assert out["parsed"] is None and out["parsing_error"] is not None
    assert json.loads(str(out["raw"].content)) == {"answer": "hello there"}


def test_create_agent_runs_a_tool_loop(replicas: ReplicaSet) -> None:
    """Model -> two parallel tool calls -> results back to the model -> a final answer."""
    from langchain.agents import create_agent

    agent = create_agent(llm(replicas), tools=[add, multiply])
    state = agent.invoke({"messages": [HumanMessage("Please add 20 and 22, and multiply "
                                                    "them too.")]})
    messages = state["messages"]
    asked = [m for m in messages if isinstance(m, AIMessage) and m.tool_calls]
    assert len(asked) == 1 and [c["name"] for c in asked[0].tool_calls] == ["add", "multiply"]
    assert [c["args"] for c in asked[0].tool_calls] == [{"a": 20, "b": 22}] * 2
    assert [m.content for m in messages if isinstance(m, ToolMessage)] == ["42", "440"]
    final = messages[-1]
    assert isinstance(final, AIMessage) and not final.tool_calls
    assert "42; 440" in str(final.content)


def test_a_langgraph_agent_runs_a_tool_loop(replicas: ReplicaSet) -> None:
    """A hand-built LangGraph graph: model node, ToolNode, ``tools_condition`` loop."""
    from langgraph.graph import START, MessagesState, StateGraph
    from langgraph.prebuilt import ToolNode, tools_condition

    model = llm(replicas, "qwen-2.5").bind_tools([multiply])
    graph = StateGraph(MessagesState)
    graph.add_node("model", lambda state: {"messages": [model.invoke(state["messages"])]})
    graph.add_node("tools", ToolNode([multiply]))
    graph.add_edge(START, "model")
    graph.add_conditional_edges("model", tools_condition)
    graph.add_edge("tools", "model")
    state = graph.compile().invoke({"messages": [("user", "multiply 12 by 12")]})
    assert [m.content for m in state["messages"] if isinstance(m, ToolMessage)] == ["144"]
    assert "144" in str(state["messages"][-1].content)


def test_v1_streamed_content_blocks_keep_text_and_calls_apart(replicas: ReplicaSet) -> None:
    bound = llm(replicas, output_version="v1").bind_tools([add])
    merged = None
    for chunk in bound.stream('/say Adding.\n/tool add {"a": 1, "b": 2}\n'
                              '/tool add {"a": 3, "b": 4}'):
        merged = chunk if merged is None else merged + chunk
    assert isinstance(merged, AIMessageChunk)
    blocks = merged.content_blocks
    assert [b["type"] for b in blocks] == ["text", "tool_call", "tool_call"]
    assert blocks[0]["text"] == "Adding."
    assert calls(merged) == [("add", {"a": 1, "b": 2}), ("add", {"a": 3, "b": 4})]


def test_parallel_tool_calls_false_keeps_only_the_first_call(replicas: ReplicaSet) -> None:
    bound = llm(replicas).bind_tools([add, multiply], parallel_tool_calls=False)
    query = '/tool add {"a": 1, "b": 2}\n/tool multiply {"a": 3, "b": 4}'
    assert calls(bound.invoke(query)) == [("add", {"a": 1, "b": 2})]
    merged = None
    for chunk in bound.stream(query):
        merged = chunk if merged is None else merged + chunk
    assert isinstance(merged, AIMessageChunk)
    assert calls(merged) == [("add", {"a": 1, "b": 2})]


def test_results_finished_out_of_order_reach_the_space_in_call_order(
        replicas: ReplicaSet) -> None:
    history = [
        HumanMessage("add and multiply 2 and 3"),
        AIMessage("", tool_calls=[{"name": "add", "args": {"a": 2, "b": 3}, "id": "c_add"},
                                  {"name": "multiply", "args": {"a": 2, "b": 3}, "id": "c_mul"}]),
        ToolMessage("6", tool_call_id="c_mul"),
        ToolMessage("5", tool_call_id="c_add"),
    ]
    answer = llm(replicas).bind_tools([add, multiply]).invoke(history)
    assert "tool results received: 5; 6" in str(answer.content)


def test_one_call_mode_keeps_the_first_valid_call_not_the_first_block(
        replicas: ReplicaSet) -> None:
    before = replicas.stats("qwen-2.5-max")["started"]
    bound = llm(replicas).bind_tools([add, multiply], tool_choice="required",
                                     parallel_tool_calls=False)
    result = bound.invoke('/tool nope {}\n/tool add {"a": 1, "b": 2}')
    assert calls(result) == [("add", {"a": 1, "b": 2})] and result.invalid_tool_calls == []
    assert replicas.stats("qwen-2.5-max")["started"] == before + 1  # no re-ask needed
    named = llm(replicas).bind_tools([add, multiply], tool_choice="add",
                                     parallel_tool_calls=False)
    query = '/tool multiply {"a": 5, "b": 6}\n/tool add {"a": 3, "b": 4}'
    assert calls(named.invoke(query)) == [("add", {"a": 3, "b": 4})]


def test_a_streamed_call_to_an_unknown_tool_stays_invalid(replicas: ReplicaSet) -> None:
    bound = llm(replicas).bind_tools([add])
    merged = None
    for chunk in bound.stream('/tool nope {"a": 1}'):
        merged = chunk if merged is None else merged + chunk
    assert isinstance(merged, AIMessageChunk)
    assert merged.tool_calls == []
    assert [c["name"] for c in merged.invalid_tool_calls] == ["nope"]
    streaming = llm(replicas, streaming=True).bind_tools([add]).invoke('/tool nope {"a": 1}')
    assert streaming.tool_calls == [] and streaming.invalid_tool_calls


def test_stop_and_max_tokens_apply_to_the_answer_text_not_to_the_call(
        replicas: ReplicaSet) -> None:
    query = '/say Sure.\n/tool add {"a": 1, "b": 2}'  # the call's own markup holds "\n"
    for kwargs in ({"stop": ["\n"]}, {"max_tokens": 3}):
        result = llm(replicas, **kwargs).bind_tools([add]).invoke(query)
        assert calls(result) == [("add", {"a": 1, "b": 2})], kwargs
        assert result.content == "Sure."
    before = replicas.stats("qwen-2.5-max")["stopped_early"]
    cut = llm(replicas, stop=["here"]).bind_tools([add]).invoke(
        '/say Sure, stop here.\n/tool add {"a": 1, "b": 2}')
    assert (cut.content, cut.tool_calls) == ("Sure, stop ", [])
    assert cut.response_metadata["finish_reason"] == "stop"
    assert wait_for(lambda: replicas.stats("qwen-2.5-max")["stopped_early"] > before)
