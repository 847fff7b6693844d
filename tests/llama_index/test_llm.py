"""QwenSpacesLLM's entry points, mapping, limits and errors against replica Spaces."""

from __future__ import annotations

import asyncio
import itertools
import time
from collections.abc import Callable
from typing import Any

import pytest
from llama_index.core.base.llms.types import (
    ChatMessage,
    ChatResponse,
    CompletionResponse,
    MessageRole,
    TextBlock,
    ThinkingBlock,
    ToolCallBlock,
)

from llama_index_qwen_spaces import QwenSpacesLLM
from qwen_spaces import QuotaExceededError
from tests.servers import Front

MakeLLM = Callable[..., QwenSpacesLLM]


def user(text: str) -> list[ChatMessage]:
    return [ChatMessage(role=MessageRole.USER, content=text)]


def check_stream(responses: list[Any], text_of: Callable[[Any], str]) -> str:
    """Cumulative text == concatenation of deltas == the final answer, streamed."""
    joined = ""
    for r in responses:
        joined += r.delta
        assert text_of(r) == joined
    final = responses[-1]
    assert final.delta == "" and final.raw["finish_reason"] == "stop"
    assert joined == final.raw["text"]
    assert len([r for r in responses if r.delta]) >= 2
    return joined


# -- chat ---------------------------------------------------------------------------------
def test_chat_maps_roles_and_blocks(make_llm: MakeLLM) -> None:
    llm = make_llm(system_prompt="unused: the messages carry a system message")
    messages = [
        ChatMessage(role=MessageRole.SYSTEM, content="Be terse."),
        ChatMessage(role=MessageRole.DEVELOPER, content="Use metric units."),
        ChatMessage(role=MessageRole.USER, content="q1"),
        ChatMessage(role=MessageRole.CHATBOT, content="a1"),  # Cohere's assistant
        ChatMessage(role=MessageRole.USER, content="q2"),
        ChatMessage(role=MessageRole.MODEL, content="a2"),  # Gemini's assistant
        ChatMessage(role=MessageRole.USER,
                    blocks=[TextBlock(text="last"), TextBlock(text="question")]),
    ]
    response = llm.chat(messages)
    text = response.message.content or ""
    assert response.message.role == MessageRole.ASSISTANT
    assert "system: Be terse.\n\nUse metric units.\nhistory_turns: 2" in text
    assert text.endswith("query: last\nquestion")
    assert response.delta is None
    assert response.raw is not None and response.raw["space_id"] == "Qwen/Qwen2.5-Max-Demo"
    assert response.raw["model"] == "qwen-2.5-max" and response.raw["event_id"]


async def test_system_prompt_applies_without_system_messages(make_llm: MakeLLM) -> None:
    response = await make_llm(system_prompt="You are terse.").achat(user("hi"))
    assert "system: You are terse." in (response.message.content or "")


def test_stream_chat(make_llm: MakeLLM) -> None:
    responses = list(make_llm().stream_chat(user("/slow 3 0.01")))
    assert all(isinstance(r, ChatResponse) for r in responses)
    text = check_stream(responses, lambda r: r.message.content)
    assert text.endswith("query: /slow 3 0.01\ntick 0\ntick 1\ntick 2")


async def test_astream_chat(make_llm: MakeLLM) -> None:
    stream = await make_llm().astream_chat(user("/slow 3 0.01"))
    responses = [r async for r in stream]
    text = check_stream(responses, lambda r: r.message.content)
    assert text.endswith("tick 2")


async def test_rewrites_are_applied_to_the_cumulative_text(make_llm: MakeLLM) -> None:
    stream = await make_llm().astream_chat(user("/rewrite"))
    responses = [r async for r in stream]
    assert any(r.additional_kwargs.get("replaced") for r in responses)
    final = responses[-1]
    assert final.message.content == final.raw["text"]
    assert "Thinking..." not in final.message.content
    assert "query: /rewrite" in final.message.content


# -- completion ---------------------------------------------------------------------------
def test_complete_and_stream_complete(make_llm: MakeLLM) -> None:
    llm = make_llm(system_prompt="Complete the text.")
    response = llm.complete("Once upon a time")
    assert isinstance(response, CompletionResponse)
    assert "system: Complete the text.\nhistory_turns: 0\nquery: Once upon a time" in response.text
    assert response.raw is not None and response.raw["finish_reason"] == "stop"
    responses = list(llm.stream_complete("/slow 2 0.01"))
    check_stream(responses, lambda r: r.text)


async def test_acomplete_and_astream_complete(make_llm: MakeLLM) -> None:
    llm = make_llm(system_prompt="Complete the text.")
    response = await llm.acomplete("Once upon a time")
    assert "system: Complete the text." in response.text
    assert "query: Once upon a time" in response.text
    stream = await llm.astream_complete("/slow 2 0.01")
    check_stream([r async for r in stream], lambda r: r.text)


# -- limits, variants, errors -------------------------------------------------------------
async def test_client_side_stop_and_max_tokens(make_llm: MakeLLM) -> None:
    llm = make_llm(stop=["tick 2"])
    response = await llm.achat(user("/slow 5 0.02"))
    assert response.raw is not None and response.raw["finish_reason"] == "stop"
    assert (response.message.content or "").endswith("tick 1\n")
    cut = llm.complete("/slow 5 0.02", max_tokens=5)  # a call keyword overrides the field
    assert cut.raw is not None and cut.raw["finish_reason"] == "length"
    assert cut.text == "[local replica of Qwen"


def test_variant_reaches_the_size_radio(make_llm: MakeLLM) -> None:
    llm = make_llm("qwen-2.5", variant="7B")
    assert llm.metadata.model_name == "qwen-2.5-7b"
    assert "variant: 7B" in llm.complete("hi").text


async def test_core_errors_propagate_typed(make_llm: MakeLLM) -> None:
    llm = make_llm(max_retries=0)
    with pytest.raises(QuotaExceededError) as info:
        await llm.achat(user("/quota"))
    assert info.value.retry_after == 600
    with pytest.raises(QuotaExceededError):
        llm.chat(user("/quota"))
    stream = await llm.astream_complete("/quota")
    with pytest.raises(QuotaExceededError):
        async for _ in stream:
            pass


async def test_unsupported_roles_and_blocks_fail_before_any_request(
        replicas: Any) -> None:
    async with Front(target=replicas.url("qwen-2.5-max")) as front:
        llm = QwenSpacesLLM(base_url=front.url, hf_token=None)
        call = ToolCallBlock(tool_name="add", tool_kwargs="{broken")
        with pytest.raises(ValueError, match="'tool_call' block"):  # calls are the model's
            await llm.achat([ChatMessage(role=MessageRole.USER, blocks=[call])])
        assistant = ChatMessage(role=MessageRole.ASSISTANT, blocks=[call])
        with pytest.raises(ValueError, match="not valid JSON"):
            llm.chat([*user("q"), assistant, ChatMessage(role=MessageRole.TOOL, content="3")])
        with pytest.raises(ValueError, match="not a bound tool"):
            llm.chat(user("hi"), tools=[{"name": "add"}], tool_choice="sub")
        # An assistant's earlier thinking is dropped (tests/llama_index/test_reasoning.py);
        # thinking in a user's message is not something a Space can take.
        thinking = ChatMessage(role=MessageRole.USER, blocks=[ThinkingBlock(content="x")])
        with pytest.raises(ValueError, match="'thinking' block"):
            await llm.astream_chat([*user("q"), thinking])
        with pytest.raises(ValueError, match="end with a user message"):
            llm.stream_chat([*user("q"), ChatMessage(role=MessageRole.ASSISTANT, content="a")])
        assert front.seen == []  # nothing reached the Space


def test_metadata_and_construction_checks() -> None:
    llm = QwenSpacesLLM(hf_token=None)
    meta = llm.metadata
    assert (meta.context_window, meta.num_output) == (32768, 8192)
    assert meta.is_chat_model and meta.is_function_calling_model
    assert meta.model_name == "qwen-2.5-max"
    assert QwenSpacesLLM(model="qwen-qvq-72b-preview").metadata.model_name == "qvq-72b"
    assert QwenSpacesLLM(max_tokens=100).metadata.num_output == 100
    assert QwenSpacesLLM.class_name() == "QwenSpacesLLM"
    assert llm.to_dict()["class_name"] == "QwenSpacesLLM"
    for bad in ({"model": "gpt-4"}, {"model": "qwen-2.5", "variant": "13B"},
                {"base_url": "ftp://example"}, {"base_url": "localhost:7860"},
                {"timeout": 0}, {"max_retries": -1}, {"proxy": "socks"}):
        with pytest.raises(ValueError):
            QwenSpacesLLM(**bad)


# -- concurrency ---------------------------------------------------------------------------
async def test_sixteen_achat_calls_run_concurrently(replica_factory: Any) -> None:
    reps = replica_factory(models=["qwen-2.5-max"], concurrency=16)
    llm = QwenSpacesLLM(base_url=reps.url("qwen-2.5-max"), hf_token=None)
    await llm.achat(user("warm-up"))  # discovery, connection pool
    start = time.monotonic()
    await llm.achat(user("/slow 2 0.5 single"))
    one = time.monotonic() - start
    start = time.monotonic()
    replies = await asyncio.gather(*(llm.achat(user(f"/slow 2 0.5 call-{i}"))
                                     for i in range(16)))
    total = time.monotonic() - start
    print(f"\none achat: {one:.2f}s; 16 gathered: {total:.2f}s ({total / one:.2f}x one call)")
    assert one >= 1.0
    assert total < 4 * one
    for i, reply in enumerate(replies):
        assert f"query: /slow 2 0.5 call-{i}\n" in (reply.message.content or "")


async def test_async_methods_do_not_block_the_loop(make_llm: MakeLLM) -> None:
    stamps = [time.monotonic()]

    async def ticker() -> None:
        while True:
            await asyncio.sleep(0.01)
            stamps.append(time.monotonic())

    llm = make_llm()
    task = asyncio.create_task(ticker())
    try:
        stream = await llm.astream_chat(user("/slow 4 0.25"))
        async for _ in stream:
            pass
        await llm.acomplete("/slow 2 0.25")
        await asyncio.sleep(0.02)
    finally:
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task
    elapsed = stamps[-1] - stamps[0]
    max_gap = max(b - a for a, b in itertools.pairwise(stamps))
    print(f"\n{len(stamps)} ticks in {elapsed:.2f}s, max gap {max_gap * 1000:.0f} ms")
    assert elapsed >= 1.5
    assert max_gap < 0.2


def test_api_key_is_the_token_too_and_not_silently_dropped() -> None:
    llm = QwenSpacesLLM(api_key="hf_alias_token")
    assert llm.hf_token is not None and llm.hf_token.get_secret_value() == "hf_alias_token"
    assert "hf_alias_token" not in repr(llm) and "hf_alias_token" not in llm.to_json()
    with pytest.raises(ValueError, match="not both"):
        QwenSpacesLLM(api_key="a", hf_token="b")
