"""QwenSpacesLLM as a FunctionCallingLLM: LlamaIndex's tool paths against the replicas.

The replica's fake model speaks Qwen's tool format deterministically: ``/tool NAME {json}``
query lines make exactly those calls, a tool whose name the query mentions is called with
arguments filled from the query's literals, and a query of ``<tool_response>`` blocks gets a
plain answer quoting the results (``docs/replica.md``).
"""

from __future__ import annotations

import asyncio
import json
import re
from collections.abc import Callable
from typing import Any

import pytest
from llama_index.core.agent.workflow import AgentStream, FunctionAgent, ToolCallResult
from llama_index.core.base.llms.types import (
    ChatMessage,
    ChatResponse,
    MessageRole,
    TextBlock,
    ToolCallBlock,
)
from llama_index.core.bridge.pydantic import BaseModel
from llama_index.core.llms.custom import CustomLLM
from llama_index.core.llms.function_calling import FunctionCallingLLM
from llama_index.core.prompts import PromptTemplate
from llama_index.core.tools import FunctionTool
from llama_index.core.workflow import Context

from llama_index_qwen_spaces import QwenSpacesLLM
from llama_index_qwen_spaces.messages import to_turns
from qwen_spaces import ToolCall, Turn
from qwen_spaces.catalog import resolve_model
from qwen_spaces.chat import prepare_chat
from qwen_spaces.replica import ReplicaSet

MakeLLM = Callable[..., QwenSpacesLLM]


def multiply(a: int, b: int) -> int:
    """Multiply two integers."""
    return a * b


def add(a: int, b: int) -> int:
    """Add two integers."""
    return a + b


def user(text: str) -> ChatMessage:
    return ChatMessage(role=MessageRole.USER, content=text)


def history_text(history: Any) -> str:
    """Every text the Space received in its history input, whatever the chatbot format."""
    if isinstance(history, str):
        return history + "\n"
    if isinstance(history, dict):
        return "".join(history_text(v) for k, v in history.items() if k in ("text", "content"))
    if isinstance(history, list):
        return "".join(history_text(v) for v in history)
    return ""


TOOLS = [FunctionTool.from_defaults(fn=multiply), FunctionTool.from_defaults(fn=add)]


class Album(BaseModel):
    """An album and its release year."""

    title: str
    year: int


# -- offline: class shape, metadata, message mapping ---------------------------------------
def test_is_a_function_calling_custom_llm() -> None:
    llm = QwenSpacesLLM(hf_token=None)
    assert isinstance(llm, FunctionCallingLLM) and isinstance(llm, CustomLLM)
    assert QwenSpacesLLM.__mro__[1:3] == (FunctionCallingLLM, CustomLLM)
    for model in ("qwen-2-72b", "qwen-2.5", "qwen-2.5-max"):
        assert QwenSpacesLLM(model=model, hf_token=None).metadata.is_function_calling_model
    assert not QwenSpacesLLM(model="qvq-72b", hf_token=None).metadata.is_function_calling_model
    assert llm.tool_reasks == 1 and QwenSpacesLLM(tool_reasks=0).tool_reasks == 0
    with pytest.raises(ValueError):
        QwenSpacesLLM(tool_reasks=-1)


def test_prepare_chat_with_tools() -> None:
    llm = QwenSpacesLLM(hf_token=None)
    history = [user("earlier")]
    kwargs = llm._prepare_chat_with_tools(TOOLS, user_msg="hi", chat_history=history)
    assert [m.content for m in kwargs["messages"]] == ["earlier", "hi"]
    assert history == [user("earlier")]  # the caller's list is not extended
    assert kwargs["tools"] == [t.metadata.to_openai_tool() for t in TOOLS]
    assert kwargs["tool_choice"] == "auto" and kwargs["parallel_tool_calls"] is False
    required = llm._prepare_chat_with_tools(TOOLS, user_msg=user("x"), tool_required=True,
                                            allow_parallel_tool_calls=True)
    assert required["tool_choice"] == "required" and required["parallel_tool_calls"] is True
    named = llm._prepare_chat_with_tools(TOOLS, user_msg="x", tool_required=True,
                                         tool_choice="add", temperature=0)
    assert named["tool_choice"] == "add" and named["temperature"] == 0


def test_messages_with_calls_and_results_map_to_turns() -> None:
    blocks = ChatMessage(role=MessageRole.ASSISTANT, blocks=[
        TextBlock(text="let me see"),
        ToolCallBlock(tool_call_id="call_1", tool_name="add", tool_kwargs={"a": 1, "b": 2}),
        ToolCallBlock(tool_call_id="call_2", tool_name="multiply", tool_kwargs='{"a": 3}')])
    openai_dicts = ChatMessage(role=MessageRole.ASSISTANT, content="", additional_kwargs={
        "tool_calls": [{"id": "call_3", "type": "function",
                        "function": {"name": "add", "arguments": '{"a": 5, "b": 6}'}}]})

    class Fn:  # the OpenAI SDK's objects
        name, arguments = "multiply", '{"a": 7, "b": 8}'

    class Call:
        id, type, function = "call_4", "function", Fn()

    objects = ChatMessage(role=MessageRole.ASSISTANT, content="",
                          additional_kwargs={"tool_calls": [Call()]})
    result = ChatMessage(role=MessageRole.TOOL, content="3",
                         additional_kwargs={"tool_call_id": "call_1"})
    legacy = ChatMessage(role=MessageRole.FUNCTION, content="9")
    turns = to_turns([user("q"), blocks, result, legacy, openai_dicts, objects, user("z")])
    assert turns[1] == Turn("assistant", "let me see", (), (
        ToolCall("call_1", "add", {"a": 1, "b": 2}, 0),
        ToolCall("call_2", "multiply", {"a": 3}, 1)))
    assert turns[2] == Turn("tool", "3", tool_call_id="call_1") and turns[3] == Turn("tool", "9")
    assert turns[4].tool_calls == (ToolCall("call_3", "add", {"a": 5, "b": 6}, 0),)
    assert turns[5].tool_calls == (ToolCall("call_4", "multiply", {"a": 7, "b": 8}, 0),)
    bad = ChatMessage(role=MessageRole.ASSISTANT, blocks=[
        ToolCallBlock(tool_name="add", tool_kwargs="{not json")])
    with pytest.raises(ValueError, match="not valid JSON"):
        to_turns([user("q"), bad, user("z")])


def test_results_go_back_in_call_order() -> None:
    calls = ChatMessage(role=MessageRole.ASSISTANT, blocks=[
        ToolCallBlock(tool_call_id="c1", tool_name="add", tool_kwargs={}),
        ToolCallBlock(tool_call_id="c2", tool_name="multiply", tool_kwargs={})])

    def result(text: str, call_id: str | None) -> ChatMessage:
        kwargs = {"tool_call_id": call_id} if call_id else {}
        return ChatMessage(role=MessageRole.TOOL, content=text, additional_kwargs=kwargs)

    def texts(*results: ChatMessage) -> list[str]:
        """The results as the Space gets them (the core orders them by ``tool_call_id``)."""
        chat = prepare_chat(resolve_model("qwen-2.5"), to_turns([user("q"), calls, *results]),
                            tools=[{"name": "add"}, {"name": "multiply"}])
        return re.findall(r"<tool_response>\n(.*?)\n</tool_response>", chat.query)

    assert texts(result("two", "c2"), result("one", "c1")) == ["one", "two"]
    # unless every result names a distinct call: then the given order stands
    assert texts(result("two", "c2"), result("one", None)) == ["two", "one"]
    assert texts(result("two", "c2"), result("one", "c9")) == ["two", "one"]


def test_get_tool_calls_from_response_reads_blocks_and_openai_dicts() -> None:
    llm = QwenSpacesLLM(hf_token=None)
    blocks = ChatResponse(message=ChatMessage(role=MessageRole.ASSISTANT, blocks=[
        ToolCallBlock(tool_call_id="c1", tool_name="add", tool_kwargs='{"a": 1, "b": 2')]))
    [sel] = llm.get_tool_calls_from_response(blocks)
    assert (sel.tool_id, sel.tool_name, sel.tool_kwargs) == ("c1", "add", {"a": 1, "b": 2})
    dicts = ChatResponse(message=ChatMessage(role=MessageRole.ASSISTANT, additional_kwargs={
        "tool_calls": [{"id": "c2", "function": {"name": "add", "arguments": {"a": 3}}}]}))
    assert llm.get_tool_calls_from_response(dicts)[0].tool_kwargs == {"a": 3}
    empty = ChatResponse(message=ChatMessage(role=MessageRole.ASSISTANT, content="hi",
                                             additional_kwargs={"invalid_tool_calls": [
                                                 {"error": "the call is not valid JSON"}]}))
    assert llm.get_tool_calls_from_response(empty, error_on_no_tool_call=False) == []
    with pytest.raises(ValueError, match="invalid calls: the call is not valid JSON"):
        llm.get_tool_calls_from_response(empty)


# -- against the replicas -------------------------------------------------------------------
# llama-index-workflows reads the agent's members with ``inspect.getmembers`` at construction,
# touching pydantic's deprecated attributes: their warning, not ours.
@pytest.mark.filterwarnings("ignore::DeprecationWarning:inspect")
async def test_function_agent_two_step_tool_loop(make_llm: MakeLLM,
                                                 replicas: ReplicaSet) -> None:
    agent = FunctionAgent(tools=TOOLS, llm=make_llm(), system_prompt="Use the tools.")
    ctx = Context(agent)
    handler = agent.run(user_msg='/tool multiply {"a": 6, "b": 7}\n/tool add {"a": 2, "b": 3}',
                        ctx=ctx)
    streamed: list[AgentStream] = []
    results: list[ToolCallResult] = []
    async for event in handler.stream_events():
        if isinstance(event, AgentStream):
            streamed.append(event)
        elif isinstance(event, ToolCallResult):
            results.append(event)
    output = await handler
    # step 1: both tools called (streamed as they were parsed); step 2: the answer
    assert sorted((r.tool_name, r.tool_output.raw_output) for r in results) == [
        ("add", 5), ("multiply", 42)]
    calls_seen = [[c.tool_name for c in e.tool_calls] for e in streamed]
    assert ["multiply", "add"] in calls_seen and calls_seen[-1] == []
    assert "[replica] tool results received: 42; 5" in str(output.response.content)
    last = replicas.stats("qwen-2.5-max")["last_request"]
    assert '<tool_call>\n{"name": "multiply", "arguments": {"a": 6, "b": 7}}\n</tool_call>' \
        in history_text(last["history"])
    assert last["query"] == "<tool_response>\n42\n</tool_response>\n<tool_response>\n5\n" \
                            "</tool_response>"

    # a second run in the same context: the memory's calls and results go back as history
    output = await agent.run(user_msg="now multiply 3 and 4", ctx=ctx)
    assert [(c.tool_name, c.tool_kwargs, c.tool_output.raw_output)
            for c in output.tool_calls] == [("multiply", {"a": 3, "b": 4}, 12)]
    assert "tool results received: 12" in str(output.response.content)
    history = history_text(replicas.stats("qwen-2.5-max")["last_request"]["history"])
    assert history.count("<tool_call>") == 3 and history.count("<tool_response>") == 2


@pytest.mark.filterwarnings("ignore::DeprecationWarning:inspect")
async def test_function_agent_results_follow_the_calls(make_llm: MakeLLM,
                                                       replicas: ReplicaSet) -> None:
    """FunctionAgent appends results as tools finish; Qwen pairs them by position."""

    async def slow(a: int) -> int:
        """Slow echo."""
        await asyncio.sleep(0.3)
        return a

    async def fast(a: int) -> int:
        """Fast echo."""
        return a

    tools = [FunctionTool.from_defaults(async_fn=slow), FunctionTool.from_defaults(async_fn=fast)]
    output = await FunctionAgent(tools=tools, llm=make_llm()).run(
        user_msg='/tool slow {"a": 1}\n/tool fast {"a": 2}')
    assert [c.tool_name for c in output.tool_calls] == ["fast", "slow"]  # finishing order
    assert replicas.stats("qwen-2.5-max")["last_request"]["query"] == \
        "<tool_response>\n1\n</tool_response>\n<tool_response>\n2\n</tool_response>"


def test_predict_and_call(make_llm: MakeLLM) -> None:
    response = make_llm().predict_and_call(TOOLS, user_msg="multiply 6 and 7")
    assert response.response == "42"
    assert response.sources[0].tool_name == "multiply"
    assert response.sources[0].raw_input == {"args": (), "kwargs": {"a": 6, "b": 7}}


async def test_apredict_and_call_keeps_one_call_unless_parallel(make_llm: MakeLLM) -> None:
    llm = make_llm()
    both = '/tool multiply {"a": 2, "b": 3}\n/tool add {"a": 2, "b": 3}'
    single = await llm.achat_with_tools(TOOLS, user_msg=both)
    assert [s.tool_name for s in llm.get_tool_calls_from_response(single)] == ["multiply"]
    assert len(single.message.additional_kwargs["tool_calls"]) == 1
    response = await llm.apredict_and_call(TOOLS, user_msg=both,
                                           allow_parallel_tool_calls=True)
    assert response.response == "6\n\n5"


def test_structured_predict_via_function_calling(make_llm: MakeLLM) -> None:
    album = make_llm().structured_predict(
        Album, PromptTemplate("Name the album {name} and its year {year}."),
        name='"Abbey Road"', year="1969")
    assert album == Album(title="Abbey Road", year=1969)


async def test_structured_predict_async_and_streaming(make_llm: MakeLLM) -> None:
    llm, prompt = make_llm(), PromptTemplate("The album {name} came out in {year}.")
    assert await llm.astructured_predict(Album, prompt, name='"Help!"', year="1965") \
        == Album(title="Help!", year=1965)
    partials = list(llm.stream_structured_predict(Album, prompt, name='"Help!"', year="1965"))
    assert partials[-1] == Album(title="Help!", year=1965)


@pytest.mark.filterwarnings("ignore::DeprecationWarning:inspect")
async def test_function_agent_without_streaming_and_with_initial_tool_choice(
        make_llm: MakeLLM, replicas: ReplicaSet) -> None:
    agent = FunctionAgent(tools=TOOLS, llm=make_llm(), streaming=False,
                          initial_tool_choice="add")
    output = await agent.run(user_msg="say hello with 2 and 40")
    assert [(c.tool_name, c.tool_output.raw_output) for c in output.tool_calls] == [("add", 42)]
    assert "tool results received: 42" in str(output.response.content)


async def test_astream_chat_with_tools(make_llm: MakeLLM) -> None:
    llm = make_llm()
    stream = await llm.astream_chat_with_tools(
        TOOLS, user_msg='/tool add {"a": 12, "b": 30}\n/tool multiply {"a": 4, "b": 5}',
        allow_parallel_tool_calls=True)
    responses = [r async for r in stream]
    seen = [len(llm.get_tool_calls_from_response(r, error_on_no_tool_call=False))
            for r in responses]
    assert seen == sorted(seen) and seen[-1] == 2 and 1 in seen  # calls appear as parsed
    final = responses[-1]
    calls = llm.get_tool_calls_from_response(final)
    assert [(c.tool_name, c.tool_kwargs) for c in calls] == [
        ("add", {"a": 12, "b": 30}), ("multiply", {"a": 4, "b": 5})]
    assert all(c.tool_id.startswith("call_") for c in calls)
    assert final.raw["finish_reason"] == "tool_calls"
    assert [c["function"]["name"] for c in final.message.additional_kwargs["tool_calls"]] \
        == ["add", "multiply"]
    assert "<tool_call>" not in "".join(r.delta or "" for r in responses)
    assert final.message.content == "".join(r.delta or "" for r in responses)


def test_stream_chat_with_tools_sync_keeps_first_call(make_llm: MakeLLM) -> None:
    llm = make_llm()
    responses = list(llm.stream_chat_with_tools(
        TOOLS, user_msg='/tool add {"a": 1, "b": 2}\n/tool multiply {"a": 3, "b": 4}'))
    for r in responses:
        assert len(llm.get_tool_calls_from_response(r, error_on_no_tool_call=False)) <= 1
    assert llm.get_tool_calls_from_response(responses[-1])[0].tool_kwargs == {"a": 1, "b": 2}


def test_invalid_calls_are_reported_not_returned(make_llm: MakeLLM) -> None:
    llm = make_llm()
    response = llm.chat_with_tools(TOOLS, user_msg="/tool-raw {broken",
                                   allow_parallel_tool_calls=True)
    assert llm.get_tool_calls_from_response(response, error_on_no_tool_call=False) == []
    [bad] = response.message.additional_kwargs["invalid_tool_calls"]
    assert "not valid JSON" in bad["error"] and "{broken" in bad["raw"]
    assert not [b for b in response.message.blocks if isinstance(b, ToolCallBlock)]
    with pytest.raises(ValueError, match="invalid calls"):
        llm.get_tool_calls_from_response(response)


async def test_tool_round_trip_reaches_the_space_in_qwen_format(
        make_llm: MakeLLM, replicas: ReplicaSet) -> None:
    call = ToolCallBlock(tool_call_id="call_1", tool_name="add", tool_kwargs={"a": 2, "b": 3})
    messages = [
        user("add 2 and 3"),
        ChatMessage(role=MessageRole.ASSISTANT, blocks=[TextBlock(text=""), call]),
        ChatMessage(role=MessageRole.TOOL, content="5",
                    additional_kwargs={"tool_call_id": "call_1"}),
    ]
    response = await make_llm().achat(messages, tools=[t.metadata.to_openai_tool()
                                                       for t in TOOLS])
    assert "tool results received: 5" in (response.message.content or "")
    last = replicas.stats("qwen-2.5-max")["last_request"]
    assert history_text(last["history"]) == (
        'add 2 and 3\n<tool_call>\n{"name": "add", "arguments": {"a": 2, "b": 3}}\n</tool_call>\n')
    assert last["query"] == "<tool_response>\n5\n</tool_response>"


def test_tool_choice_and_response_format_keywords(make_llm: MakeLLM,
                                                  replicas: ReplicaSet) -> None:
    llm = make_llm()
    named = llm.chat([user("hello there")], tools=TOOLS, tool_choice="add")
    [sel] = llm.get_tool_calls_from_response(named)
    assert sel.tool_name == "add"
    system = replicas.stats("qwen-2.5-max")["last_request"]["system"]
    assert 'You must call the function "add" in this reply.' in system
    plain = llm.chat([user("hello there")], tools=TOOLS, tool_choice="none")
    assert llm.get_tool_calls_from_response(plain, error_on_no_tool_call=False) == []
    schema = {"type": "object", "properties": {"city": {"type": "string"}}}
    reply = llm.chat([user('"Paris"')], response_format={
        "type": "json_schema", "json_schema": {"name": "city", "schema": schema}})
    assert json.loads(reply.message.content or "") == {"city": "Paris"}


async def test_qvq_refuses_tools_before_any_request(make_llm: MakeLLM,
                                                    replicas: ReplicaSet) -> None:
    llm = make_llm("qvq-72b")
    before = replicas.stats("qvq-72b")["started"]
    with pytest.raises(ValueError, match="cannot take tools"):
        await llm.achat_with_tools(TOOLS, user_msg="add 1 and 2")
    with pytest.raises(ValueError, match="cannot take tools"):
        llm.stream_chat([user("hi")], tools=TOOLS)
    result = ChatMessage(role=MessageRole.TOOL, content="3")
    with pytest.raises(ValueError, match="cannot take tools"):
        await llm.astream_chat([user("q"), result])
    assert replicas.stats("qvq-72b")["started"] == before
