"""ChatQwenSpaces on the Qwen3 generation and the newer Qwen2.5 Spaces, against replicas:
thinking streams as reasoning and never as answer text; settings; history for 1M and Coder."""

from __future__ import annotations

from typing import Any

import pytest
from langchain_core.messages import AIMessage, AIMessageChunk, HumanMessage, SystemMessage

from langchain_qwen_spaces import ChatQwenSpaces
from qwen_spaces.replica import ReplicaSet

pytestmark = pytest.mark.replicas

QUESTION = "Why is the sky blue?"


def llm(replicas: ReplicaSet, model: str = "qwen-3", **kw: Any) -> ChatQwenSpaces:
    return ChatQwenSpaces(model=model, hf_token=None,
                          base_urls={m: replicas.url(m) for m in replicas.models}, **kw)


def fields(reply: str) -> dict[str, str]:
    return dict(line.split(": ", 1) for line in reply.splitlines()[1:] if ": " in line)


def reasoning_of(chunk: AIMessageChunk | AIMessage) -> str:
    return str(chunk.additional_kwargs.get("reasoning_content", ""))


def test_stream_carries_thinking_only_as_reasoning_and_matches_invoke(
        replicas: ReplicaSet) -> None:
    model = llm(replicas)
    chunks = list(model.stream(QUESTION))
    thinking = [c for c in chunks if reasoning_of(c)]
    assert len(thinking) > 3
    assert all(c.text == "" and c.content == "" for c in thinking)
    answer_chunks = [c for c in chunks if c.text]
    assert all(not reasoning_of(c) for c in answer_chunks)
    assert chunks.index(answer_chunks[0]) > chunks.index(thinking[-1])
    streamed_answer = "".join(c.text for c in chunks)
    streamed_reasoning = "".join(reasoning_of(c) for c in chunks)
    reply = model.invoke(QUESTION)  # a fresh conversation: the fake model is deterministic
    assert isinstance(reply.content, str)
    assert streamed_answer == reply.content
    assert streamed_reasoning == reasoning_of(reply)
    assert QUESTION in streamed_reasoning and streamed_reasoning not in reply.content
    merged = sum(chunks[1:], chunks[0])
    assert merged.text == reply.content and reasoning_of(merged) == reasoning_of(reply)
    # Standard content blocks: the reasoning first, then the text.
    blocks = reply.content_blocks
    assert [b["type"] for b in blocks] == ["reasoning", "text"]
    assert blocks[0]["reasoning"] == reasoning_of(reply)  # type: ignore[typeddict-item]


async def test_astream_with_output_version_v1_gives_reasoning_blocks(
        replicas: ReplicaSet) -> None:
    model = llm(replicas, output_version="v1")
    chunks = [c async for c in model.astream(QUESTION)]
    kinds = {b["type"] for c in chunks if isinstance(c.content, list) for b in c.content
             if isinstance(b, dict)}
    assert {"reasoning", "text"} <= kinds
    merged = sum(chunks[1:], chunks[0])
    reply = await model.ainvoke(QUESTION)
    text = "".join(b["text"] for b in merged.content_blocks if b["type"] == "text")
    thought = "".join(b["reasoning"] for b in merged.content_blocks  # type: ignore[typeddict-item]
                      if b["type"] == "reasoning")
    assert text == reply.text and thought == reasoning_of(reply)


def test_settings_reach_the_space(replicas: ReplicaSet) -> None:
    reply = llm(replicas, thinking=False, variant="qwen3-32b",
                system_prompt="Reply tersely.").invoke("hi")
    got = fields(str(reply.content))
    assert (got["thinking"], got["variant"], got["system"]) == (
        "off", "qwen3-32b", "Reply tersely.")
    assert "reasoning_content" not in reply.additional_kwargs
    reply = llm(replicas, model="qwen-3-14b", thinking_budget=8000).invoke("hi")
    got = fields(str(reply.content))
    assert (got["thinking"], got["thinking_budget"], got["variant"]) == ("on", "8", "qwen3-14b")
    # Per call, as with any bound keyword.
    reply = llm(replicas).bind(thinking=False).invoke("hi")
    assert fields(str(reply.content))["thinking"] == "off"


def test_thinking_on_a_space_without_it_is_rejected_at_construction(
        replicas: ReplicaSet) -> None:
    with pytest.raises(ValueError, match="has no thinking switch"):
        llm(replicas, model="qwen-2.5-max", thinking=True)
    with pytest.raises(ValueError, match="thinking_budget must be"):
        llm(replicas, thinking_budget=100)


def test_earlier_reasoning_is_not_sent_back(replicas: ReplicaSet) -> None:
    model = llm(replicas)
    first = model.invoke([HumanMessage("first")])
    assert reasoning_of(first)
    second = model.invoke([HumanMessage("first"), first, HumanMessage("second")])
    assert second.response_metadata["space_session"] == "continued"
    assert fields(str(second.content))["history_turns"] == "1"
    stats = replicas.stats("qwen-3")
    assert reasoning_of(first) not in str(stats["last_request"])


@pytest.mark.parametrize("model", ["qwen-2.5-1m", "qwen-2.5-coder"])
async def test_newer_qwen25_spaces_stream_exact_deltas_with_history(
        replicas: ReplicaSet, model: str) -> None:
    chat = llm(replicas, model=model)
    messages = [SystemMessage("Be exact."), HumanMessage("q1"), AIMessage("a1"),
                HumanMessage("q2")]
    chunks = [c async for c in chat.astream(messages)]
    reply = await chat.ainvoke(messages)
    assert "".join(c.text for c in chunks) == reply.content
    got = fields(str(reply.content))
    assert got["history_turns"] == "1"
    assert "<summary>" not in str(reply.content)
