"""Instrumentation: LlamaIndex's LLM events, the Space status events, and no token leaks."""

from __future__ import annotations

import hashlib
import json

import pytest
from llama_index.core.base.llms.types import ChatMessage, MessageRole
from llama_index.core.instrumentation.events.llm import (
    LLMChatEndEvent,
    LLMChatStartEvent,
    LLMCompletionEndEvent,
)

from llama_index_qwen_spaces import QwenSpacesLLM, QwenSpacesStatusEvent
from qwen_spaces import SpaceUnavailableError
from qwen_spaces.replica import ReplicaSet
from tests.util import closed_port

from .conftest import Collector

TOKEN = "hf_secret_token_for_the_llama_index_tests"


def user(text: str) -> list[ChatMessage]:
    return [ChatMessage(role=MessageRole.USER, content=text)]


def check_status(collector: Collector, span_id: str | None) -> None:
    status = collector.of(QwenSpacesStatusEvent)
    kinds = {e.kind for e in status}
    assert {"queue", "started", "progress", "log"} <= kinds
    logs = [(e.details["level"], e.details["message"]) for e in status if e.kind == "log"]
    assert ("info", "replica: info message") in logs
    assert ("warning", "replica: warning message") in logs
    assert all(e.model == "qwen-2.5-max" and e.space_id == "Qwen/Qwen2.5-Max-Demo"
               for e in status)
    assert {e.span_id for e in status} == {span_id}  # attributed to the LLM call's span
    assert status[0].model_dump()["class_name"] == "QwenSpacesStatusEvent"


def test_status_and_llm_events_from_sync_chat(replicas: ReplicaSet,
                                              collector: Collector) -> None:
    llm = QwenSpacesLLM(base_url=replicas.url("qwen-2.5-max"), hf_token=None)
    response = llm.chat(user("/log"))
    starts, ends = collector.of(LLMChatStartEvent), collector.of(LLMChatEndEvent)
    assert len(starts) == 1 and len(ends) == 1
    assert ends[0].response.message.content == response.message.content
    assert starts[0].model_dict["model_name"] == "qwen-2.5-max"
    check_status(collector, starts[0].span_id)


async def test_status_events_from_astream_complete(replicas: ReplicaSet,
                                                   collector: Collector) -> None:
    llm = QwenSpacesLLM(base_url=replicas.url("qwen-2.5-max"), hf_token=None)
    stream = await llm.astream_complete("/log")
    async for _ in stream:
        pass
    ends = collector.of(LLMCompletionEndEvent)
    assert len(ends) == 1 and "query: /log" in ends[0].response.text
    check_status(collector, ends[0].span_id)


async def test_hf_token_never_leaks(replicas: ReplicaSet, collector: Collector,
                                    monkeypatch: pytest.MonkeyPatch) -> None:
    llm = QwenSpacesLLM(base_url=replicas.url("qwen-2.5-max"), hf_token=TOKEN)
    for shown in (repr(llm), str(llm), llm.to_json(), json.dumps(llm.to_dict()),
                  llm.model_dump_json(), json.dumps(llm.to_payload())):
        assert TOKEN not in shown
    assert "hf_token" not in llm.to_dict()

    llm.chat(user("/log"))
    stream = await llm.astream_chat(user("hi"))
    async for _ in stream:
        pass
    headers = replicas.stats("qwen-2.5-max")["last_headers"]  # the token did reach the Space
    assert headers["x-hf-authorization_sha256"] == hashlib.sha256(TOKEN.encode()).hexdigest()[:12]

    broken = QwenSpacesLLM(base_url=f"http://127.0.0.1:{closed_port()}", hf_token=TOKEN,
                           max_retries=0)
    with pytest.raises(SpaceUnavailableError) as info:
        await broken.achat(user("hi"))
    assert TOKEN not in f"{info.value!s} {info.value!r}"

    assert len(collector.events) > 10
    for event in collector.events:
        assert TOKEN not in repr(event)
        assert TOKEN not in json.dumps(event.model_dump(), default=repr)

    monkeypatch.setenv("HF_TOKEN", TOKEN)
    from_env = QwenSpacesLLM()
    assert from_env.hf_token is not None and from_env.hf_token.get_secret_value() == TOKEN
    assert TOKEN not in repr(from_env) + from_env.to_json()
