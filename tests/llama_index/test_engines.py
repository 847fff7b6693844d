"""Query engines over a VectorStoreIndex and a SimpleChatEngine, through replica Spaces."""

from __future__ import annotations

from collections.abc import Callable

import pytest
from llama_index.core import Document, VectorStoreIndex
from llama_index.core.base.base_query_engine import BaseQueryEngine
from llama_index.core.base.response.schema import AsyncStreamingResponse, StreamingResponse
from llama_index.core.chat_engine import SimpleChatEngine
from llama_index.core.embeddings import MockEmbedding
from llama_index.core.memory import ChatMemoryBuffer

from llama_index_qwen_spaces import QwenSpacesLLM

QUESTION = "What colour is the sky over Lisbon?"
DOCS = [
    Document(text="The sky over Lisbon is cerulean on summer mornings."),
    Document(text="Gradio Spaces host machine learning demos on Hugging Face."),
    Document(text="QVQ-72B is a visual reasoning model from the Qwen team."),
]


@pytest.fixture(scope="module")
def index() -> VectorStoreIndex:
    return VectorStoreIndex.from_documents(DOCS, embed_model=MockEmbedding(embed_dim=8))


def line(text: str, key: str) -> str:
    """The value of the replica's ``key: value`` line."""
    return next(x for x in text.splitlines() if x.startswith(f"{key}: "))[len(key) + 2:]


def check_answer(text: str) -> None:
    assert "local replica of Qwen/Qwen2.5-Max-Demo" in text
    # The QA template's system message reached the Space's system box, the retrieved
    # context and the question reached its query input.
    assert "expert Q&A system" in line(text, "system")
    assert "cerulean" in text.split("query: ", 1)[1]
    assert f"Query: {QUESTION}" in text


def engine(index: VectorStoreIndex, llm: QwenSpacesLLM, streaming: bool = False,
           ) -> BaseQueryEngine:
    return index.as_query_engine(llm=llm, similarity_top_k=len(DOCS), streaming=streaming)


@pytest.mark.usefixtures("main_loop")
def test_query(index: VectorStoreIndex, make_llm: Callable[..., QwenSpacesLLM]) -> None:
    response = engine(index, make_llm()).query(QUESTION)
    check_answer(str(response))


@pytest.mark.usefixtures("main_loop")
def test_streaming_query(index: VectorStoreIndex,
                         make_llm: Callable[..., QwenSpacesLLM]) -> None:
    response = engine(index, make_llm(), streaming=True).query(QUESTION)
    assert isinstance(response, StreamingResponse)
    tokens = list(response.response_gen)
    assert len([t for t in tokens if t]) >= 2, "streamed, not one lump at the end"
    check_answer("".join(tokens))


async def test_aquery(index: VectorStoreIndex, make_llm: Callable[..., QwenSpacesLLM]) -> None:
    response = await engine(index, make_llm()).aquery(QUESTION)
    check_answer(str(response))


async def test_streaming_aquery(index: VectorStoreIndex,
                                make_llm: Callable[..., QwenSpacesLLM]) -> None:
    response = await engine(index, make_llm(), streaming=True).aquery(QUESTION)
    assert isinstance(response, AsyncStreamingResponse)
    tokens = [t async for t in response.async_response_gen()]
    assert len([t for t in tokens if t]) >= 2
    check_answer("".join(tokens))


async def test_chat_engine_sends_earlier_turns_as_history(
        make_llm: Callable[..., QwenSpacesLLM]) -> None:
    # ChatMemoryBuffer: the default ``Memory`` leaves an aiosqlite connection and event
    # loops unclosed (a llama-index-core issue, and ResourceWarnings are errors here).
    engine = SimpleChatEngine.from_defaults(llm=make_llm(), memory_cls=ChatMemoryBuffer,
                                            system_prompt="You are a patient tutor.")
    first = engine.chat("first question")  # sync, inside a running loop (as in Jupyter)
    assert "history_turns: 0" in first.response
    assert "system: You are a patient tutor." in first.response
    second = await engine.achat("second question")
    assert "history_turns: 1" in second.response
    assert "query: second question" in second.response
    third = await engine.astream_chat("third question")
    text = "".join([t async for t in third.async_response_gen()])
    assert "history_turns: 2" in text
    assert "query: third question" in text
