"""Fixtures for the LlamaIndex adapter tests: an LLM factory on the session's replicas and
an instrumentation event collector on the root dispatcher."""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Iterator
from typing import Any

import pytest
from llama_index.core.bridge.pydantic import Field
from llama_index.core.instrumentation import get_dispatcher
from llama_index.core.instrumentation.event_handlers import BaseEventHandler
from llama_index.core.instrumentation.events import BaseEvent

from llama_index_qwen_spaces import QwenSpacesLLM
from qwen_spaces.replica import ReplicaSet


class Collector(BaseEventHandler):
    events: list[BaseEvent] = Field(default_factory=list)

    @classmethod
    def class_name(cls) -> str:
        return "Collector"

    def handle(self, event: BaseEvent, **kwargs: Any) -> None:
        self.events.append(event)

    def of(self, cls: type) -> list[Any]:
        return [e for e in self.events if isinstance(e, cls)]


@pytest.fixture
def collector() -> Iterator[Collector]:
    root = get_dispatcher()
    handler = Collector()
    root.add_event_handler(handler)
    try:
        yield handler
    finally:
        root.event_handlers = [h for h in root.event_handlers if h is not handler]


@pytest.fixture
def main_loop() -> Iterator[None]:
    """For sync tests that run LlamaIndex engines: its ``asyncio_run`` (token estimates)
    calls ``asyncio.get_event_loop()``, which creates a loop nobody closes. Provide one and
    close it, so the leak (llama-index-core's, not the adapter's) does not fail the suite."""
    loop = asyncio.new_event_loop()
    asyncio.set_event_loop(loop)
    try:
        yield
    finally:
        asyncio.set_event_loop(None)
        loop.close()


@pytest.fixture
def make_llm(replicas: ReplicaSet) -> Callable[..., QwenSpacesLLM]:
    """``make_llm(model="qwen-2.5-max", **fields)`` pointed at that model's replica."""

    def make(model: str = "qwen-2.5-max", **kwargs: Any) -> QwenSpacesLLM:
        kwargs.setdefault("base_url", replicas.url(model))
        kwargs.setdefault("hf_token", None)
        return QwenSpacesLLM(model=model, **kwargs)

    return make
