"""Fold the core's event stream into cumulative steps, once, for chat and completion alike.

A step carries the cumulative answer text and the exact new piece. ``TextDelta.replaced``
(a Space rewrote text it had sent) is applied to the cumulative text and reported in
``extra["replaced"]``, since a LlamaIndex ``delta`` can only append. The last step has an
empty delta and the :class:`~qwen_spaces.Finished` fields as ``raw``.
"""

from __future__ import annotations

from collections.abc import AsyncGenerator, Callable, Generator
from contextlib import aclosing, closing
from dataclasses import dataclass, field, replace
from typing import Any, TypeVar

from llama_index.core.instrumentation.span import active_span_id

from qwen_spaces import ChatJob, Finished, SpaceProtocolError, StreamEvent, TextDelta, sync

from .events import dispatch_status

__all__ = ["Step", "afinal", "amap", "asteps", "final", "smap", "steps"]

T = TypeVar("T")


@dataclass(frozen=True)
class Step:
    text: str
    delta: str | None
    raw: dict[str, Any] | None = None
    extra: dict[str, Any] = field(default_factory=dict)


class _Fold:
    """Turns core events into steps; status events go to instrumentation instead."""

    def __init__(self, job: ChatJob) -> None:
        self.model = job.choice.model_name
        self.space_id = job.choice.spec.space_id
        self.span_id = active_span_id.get()  # created inside the LLM method's span
        self.text = ""

    def feed(self, event: StreamEvent) -> Step | None:
        if isinstance(event, TextDelta):
            self.text = self.text[:len(self.text) - event.replaced] + event.text
            extra = {"replaced": event.replaced} if event.replaced else {}
            return Step(self.text, event.text, extra=extra)
        if isinstance(event, Finished):
            return Step(self.text, "", raw=event.as_dict())
        dispatch_status(event, model=self.model, space_id=self.space_id, span_id=self.span_id)
        return None


def asteps(job: ChatJob, events: AsyncGenerator[StreamEvent, None],
           ) -> AsyncGenerator[Step, None]:
    """Steps of an async core stream; closing them closes (and cancels) the stream.
    Call this inside the LLM method, so the fold captures the call's span."""
    return _asteps(_Fold(job), events)


def steps(job: ChatJob, events: AsyncGenerator[StreamEvent, None]) -> Generator[Step, None, None]:
    """The same from sync code: the stream runs on the core's background loop, while the
    folding (and status dispatch) stays in the caller's thread."""
    return _steps(_Fold(job), events)


async def _asteps(fold: _Fold, events: AsyncGenerator[StreamEvent, None],
                  ) -> AsyncGenerator[Step, None]:
    async with aclosing(events):
        async for event in events:
            step = fold.feed(event)
            if step is not None:
                yield step


def _steps(fold: _Fold, events: AsyncGenerator[StreamEvent, None],
           ) -> Generator[Step, None, None]:
    iterator = sync.iterate(events)
    with closing(iterator):
        for event in iterator:
            step = fold.feed(event)
            if step is not None:
                yield step


def final(source: Generator[Step, None, None]) -> Step:
    """The finished step of a sync stream, as a non-streaming response (no delta)."""
    last: Step | None = None
    with closing(source):
        for last in source:  # noqa: B007 - the last value is the point
            pass
    return _finished(last)


async def afinal(source: AsyncGenerator[Step, None]) -> Step:
    last: Step | None = None
    async with aclosing(source):
        async for last in source:  # noqa: B007
            pass
    return _finished(last)


def smap(fn: Callable[[Step], T], source: Generator[Step, None, None]) -> Generator[T, None, None]:
    with closing(source):
        for step in source:
            yield fn(step)


async def amap(fn: Callable[[Step], T], source: AsyncGenerator[Step, None],
               ) -> AsyncGenerator[T, None]:
    async with aclosing(source):
        async for step in source:
            yield fn(step)


def _finished(last: Step | None) -> Step:
    if last is None or last.raw is None:
        raise SpaceProtocolError("the stream ended without an answer")
    return replace(last, delta=None)
