"""LangChain's ``ChatOpenAI`` and LlamaIndex's ``OpenAILike`` pointed at the endpoint, end to
end with tools: the frameworks' own OpenAI clients, not this package's adapters. Skipped only
where those packages are not installed (the test extra installs them)."""

from __future__ import annotations

from typing import Any

import pytest
from pydantic import BaseModel

from .conftest import ApiServer


def add(a: int, b: int) -> int:
    """Add two integers."""
    return a + b


class Person(BaseModel):
    name: str
    age: int


def test_langchain_chat_openai_with_tools_and_an_agent(api: ApiServer) -> None:
    pytest.importorskip("langchain_openai")
    from langchain.agents import create_agent
    from langchain_core.tools import tool
    from langchain_openai import ChatOpenAI

    llm = ChatOpenAI(base_url=api.base_url, api_key=api.api_key, model="qwen-2.5-max",
                     max_retries=0)
    assert llm.invoke("hi").content.endswith("query: hi")  # type: ignore[union-attr]
    streamed = "".join(str(c.content) for c in llm.stream("hello"))
    assert streamed.endswith("query: hello")

    adder = tool(add)
    bound = llm.bind_tools([adder])
    reply = bound.invoke("What is 20 add 22?")
    assert [(c["name"], c["args"]) for c in reply.tool_calls] == [("add", {"a": 20, "b": 22})]
    chunks = list(bound.stream("What is 20 add 22?"))
    merged: Any = chunks[0]
    for chunk in chunks[1:]:
        merged += chunk
    assert [(c["name"], c["args"]) for c in merged.tool_calls] == [("add", {"a": 20, "b": 22})]

    agent = create_agent(llm, tools=[adder])
    result = agent.invoke({"messages": [("user", "What is 20 add 22?")]})
    assert result["messages"][-1].content == "[replica] tool results received: 42"

    structured = llm.with_structured_output(Person)  # json_schema through the SDK's parse
    assert structured.invoke('"Ada" is 36.') == Person(name="Ada", age=36)


async def test_llama_index_openai_like_with_tools(api: ApiServer) -> None:
    pytest.importorskip("llama_index.llms.openai_like")
    from llama_index.llms.openai_like import OpenAILike

    llm = OpenAILike(model="qwen-2.5-max", api_base=api.base_url, api_key=api.api_key,
                     is_chat_model=True, is_function_calling_model=True,
                     context_window=32768, max_retries=0)
    try:
        await _drive(llm)
    finally:  # the SDK client it made (and keeps) holds pooled sockets
        if llm._aclient is not None:
            await llm._aclient.close()


async def _drive(llm: Any) -> None:
    from llama_index.core.llms import ChatMessage
    from llama_index.core.tools import FunctionTool

    assert (await llm.acomplete("hi")).text.endswith("query: hi")
    pieces = [r.delta or "" async for r in await llm.astream_chat(
        [ChatMessage(role="user", content="hello")])]
    assert len(pieces) > 3 and "".join(pieces).endswith("query: hello")

    adder = FunctionTool.from_defaults(fn=add)
    response = await llm.achat_with_tools([adder], user_msg="What is 20 add 22?")
    (selection,) = llm.get_tool_calls_from_response(response)
    assert (selection.tool_name, selection.tool_kwargs) == ("add", {"a": 20, "b": 22})
    called = await llm.apredict_and_call([adder], "What is 20 add 22?")
    assert called.response == "42"
