"""Space status (waking, failover, queue position, start, progress, ``gr.Info``/ZeroGPU
logs) as LlamaIndex instrumentation events, so observability handlers see why a call is
waiting.

Status is kept out of the response stream on purpose: query and chat engines read every
streamed response as answer text.
"""

from __future__ import annotations

from typing import Any, Literal

from llama_index.core.bridge.pydantic import Field
from llama_index.core.instrumentation import get_dispatcher  # type: ignore[attr-defined]
from llama_index.core.instrumentation.event_handlers import BaseEventHandler
from llama_index.core.instrumentation.events import BaseEvent

from qwen_spaces import StreamEvent
from qwen_spaces.status import StatusLine

__all__ = ["QwenSpacesStatusEvent", "StatusDisplay", "dispatch_status"]

dispatcher = get_dispatcher(__name__)

StatusKind = Literal["queue", "started", "progress", "log", "waking", "failover"]
_STATUS: dict[str, StatusKind] = {"queue": "queue", "started": "started", "progress": "progress",
                                  "log": "log", "waking": "waking", "failover": "failover"}


class QwenSpacesStatusEvent(BaseEvent):
    """One status update from the Space running a ``QwenSpacesLLM`` call.

    ``kind`` is ``queue`` (``details``: position, queue_size, eta), ``started`` (eta),
    ``progress`` (steps), ``log`` (level, message, title; ZeroGPU waits arrive as logs),
    ``waking`` (space_id, stage, elapsed, timeout: a sleeping or starting Space) or
    ``failover`` (model, space_id, reason, next_model, asked). ``model`` and ``space_id``
    are the call's first model; a waking or failover event names its own in ``details``.
    """

    kind: StatusKind = Field(description="queue, started, progress, log, waking or failover.")
    model: str = Field(description="Catalog model name of the call.")
    space_id: str = Field(description="Hugging Face Space id, e.g. Qwen/Qwen2.5-Max-Demo.")
    details: dict[str, Any] = Field(description="The core event's fields (``as_dict()``).")

    @classmethod
    def class_name(cls) -> str:
        return "QwenSpacesStatusEvent"


def dispatch_status(event: StreamEvent, *, model: str, space_id: str,
                    span_id: str | None) -> None:
    """Send one core status event to the LlamaIndex dispatcher, in the consumer's thread.

    ``span_id`` is the LLM call's span, captured when the call was made: a stream is read
    after the decorated method (and its span) has returned, as LlamaIndex's own
    ``LLMChatInProgressEvent`` also handles it.
    """
    kind = _STATUS.get(event.kind)
    if kind is None:
        return
    dispatcher.event(QwenSpacesStatusEvent(kind=kind, model=model, space_id=space_id,
                                           details=event.as_dict(), span_id=span_id))


class StatusDisplay(BaseEventHandler):
    """Shows queue position / ETA / progress while a Space works (one updating line in
    Jupyter). ``get_dispatcher().add_event_handler(StatusDisplay())``."""

    line: StatusLine = Field(default_factory=StatusLine, exclude=True)

    @classmethod
    def class_name(cls) -> str:
        return "QwenSpacesStatusDisplay"

    def handle(self, event: BaseEvent, **kwargs: Any) -> None:
        if isinstance(event, QwenSpacesStatusEvent):
            self.line.update(event.details)
