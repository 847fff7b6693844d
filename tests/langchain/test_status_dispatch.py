"""Status events without a run manager go to the context's parent run, where there is one.
Where there is none (a bare ``astream()``), nothing is built or raised for them."""

from __future__ import annotations

from typing import Any

from langchain_core.callbacks import AsyncCallbackHandler, BaseCallbackHandler
from langchain_core.messages import HumanMessage
from langchain_core.runnables import RunnableLambda

from langchain_qwen_spaces import STATUS_EVENT, ChatQwenSpaces
from langchain_qwen_spaces.chat_models import _parent_run_config
from qwen_spaces import QueuePosition
from qwen_spaces.client import ChatJob


class Seen(BaseCallbackHandler):
    def __init__(self) -> None:
        self.events: list[tuple[str, Any]] = []

    def on_custom_event(self, name: str, data: Any, **kwargs: Any) -> None:
        self.events.append((name, data))


class ASeen(AsyncCallbackHandler):
    def __init__(self) -> None:
        self.events: list[tuple[str, Any]] = []

    async def on_custom_event(self, name: str, data: Any, **kwargs: Any) -> None:
        self.events.append((name, data))


def _model_and_job() -> tuple[ChatQwenSpaces, ChatJob]:
    model = ChatQwenSpaces(model="qwen-2.5-max", api_key=None)
    job, _ = model._prepare([HumanMessage("hi")], None, {})
    return model, job


def test_outside_any_run_there_is_no_parent_and_nothing_to_send() -> None:
    assert _parent_run_config() is None
    model, job = _model_and_job()
    model._status(QueuePosition(1, 2, None), job, None)  # a no-op, never an error


def test_inside_a_run_the_parent_gets_the_event() -> None:
    seen = Seen()
    model, job = _model_and_job()

    def step(_: Any) -> int:
        assert _parent_run_config() is not None
        model._status(QueuePosition(1, 2, None), job, None)
        return 1

    RunnableLambda(step).invoke(0, config={"callbacks": [seen]})
    assert [(n, d["kind"], d["position"]) for n, d in seen.events] == [(STATUS_EVENT, "queue", 1)]


async def test_inside_an_async_run_the_parent_gets_the_event() -> None:
    seen = ASeen()
    model, job = _model_and_job()

    async def step(_: Any) -> int:
        await model._astatus(QueuePosition(3, 4, None), job, None)
        return 1

    assert await RunnableLambda(step).ainvoke(0, config={"callbacks": [seen]}) == 1
    assert [(n, d["position"]) for n, d in seen.events] == [(STATUS_EVENT, 3)]
