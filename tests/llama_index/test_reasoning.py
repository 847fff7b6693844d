"""QwenSpacesLLM on Qwen3: thinking as a ThinkingBlock (and thinking_delta while streaming),
never in the answer; settings; history for Qwen2.5-1M and Coder."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
from llama_index.core.base.llms.types import ChatMessage, MessageRole, TextBlock, ThinkingBlock

from llama_index_qwen_spaces import QwenSpacesLLM

QUESTION = [ChatMessage(role=MessageRole.USER, content="Why is the sky blue?")]


def fields(reply: str) -> dict[str, str]:
    return dict(line.split(": ", 1) for line in reply.splitlines()[1:] if ": " in line)


def check_split(responses: list[Any], final: Any) -> None:
    thinking = [r for r in responses if r.additional_kwargs.get("thinking_delta")]
    assert len(thinking) > 3 and all(r.delta == "" for r in thinking)
    answer = "".join(r.delta or "" for r in responses)
    last = responses[-1].message
    assert answer == last.content == final.message.content
    thought = "".join(r.additional_kwargs["thinking_delta"] for r in thinking)
    blocks = final.message.blocks
    assert [type(b) for b in blocks] == [ThinkingBlock, TextBlock]
    assert blocks[0].content == thought and thought not in answer
    assert [type(b) for b in last.blocks] == [ThinkingBlock, TextBlock]


def test_stream_chat_splits_thinking_from_the_answer(
        make_llm: Callable[..., QwenSpacesLLM]) -> None:
    llm = make_llm("qwen-3")
    responses = list(llm.stream_chat(QUESTION))
    check_split(responses, llm.chat(QUESTION))


async def test_astream_chat_splits_thinking_from_the_answer(
        make_llm: Callable[..., QwenSpacesLLM]) -> None:
    llm = make_llm("qwen-3")
    responses = [r async for r in await llm.astream_chat(QUESTION)]
    check_split(responses, await llm.achat(QUESTION))


def test_settings_and_thinking_blocks_in_history(
        make_llm: Callable[..., QwenSpacesLLM]) -> None:
    llm = make_llm("qwen-3", thinking=False, variant="qwen3-8b", thinking_budget=1000)
    reply = llm.chat(QUESTION)
    got = fields(reply.message.content or "")
    assert (got["thinking"], got["variant"], got["thinking_budget"]) == ("off", "qwen3-8b", "1")
    assert [type(b) for b in reply.message.blocks] == [TextBlock]
    thinker = make_llm("qwen-3")
    first = thinker.chat(QUESTION)
    assert isinstance(first.message.blocks[0], ThinkingBlock)
    follow = [*QUESTION, first.message, ChatMessage(role=MessageRole.USER, content="more")]
    second = thinker.chat(follow)  # the ThinkingBlock in the history is not sent back
    assert fields(second.message.content or "")["history_turns"] == "1"
    with pytest.raises(ValueError, match="has no thinking switch"):
        make_llm("qwen-2.5", thinking=True)


@pytest.mark.parametrize("model", ["qwen-2.5-1m", "qwen-2.5-coder"])
async def test_newer_qwen25_spaces_stream_with_history(
        make_llm: Callable[..., QwenSpacesLLM], model: str) -> None:
    llm = make_llm(model)
    messages = [ChatMessage(role=MessageRole.USER, content="q1"),
                ChatMessage(role=MessageRole.ASSISTANT, content="a1"),
                ChatMessage(role=MessageRole.USER, content="q2")]
    responses = [r async for r in await llm.astream_chat(messages)]
    final = await llm.achat(messages)
    assert "".join(r.delta or "" for r in responses) == final.message.content
    assert fields(final.message.content or "")["history_turns"] == "1"
