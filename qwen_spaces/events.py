"""What a streaming call yields: answer text and reasoning deltas, tool calls, and status a
UI may show while it waits."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any

__all__ = [
    "Finished",
    "InvalidToolCall",
    "ProcessStarted",
    "ProgressUpdate",
    "QueuePosition",
    "ReasoningDelta",
    "SpaceLog",
    "SpaceSkipped",
    "SpaceWaking",
    "StreamEvent",
    "TextDelta",
    "ToolCall",
    "ToolCallDelta",
]


@dataclass(frozen=True, slots=True)
class StreamEvent:
    @property
    def kind(self) -> str:
        return _KINDS[type(self)]

    def as_dict(self) -> dict[str, Any]:
        """The fields as plain data (tool calls included), plus ``kind``."""
        data = asdict(self)
        data["kind"] = self.kind
        return data


@dataclass(frozen=True, slots=True)
class TextDelta(StreamEvent):
    """New answer text. ``replaced`` > 0 only when the Space rewrote text it had sent:
    drop that many trailing characters of what you have, then append ``text``."""

    text: str
    replaced: int = 0


@dataclass(frozen=True, slots=True)
class ReasoningDelta(StreamEvent):
    """New reasoning ("thinking") text, apart from the answer: Qwen3-Demo's thinking panel,
    or ``<think>…</think>`` at the start of a reply. Never part of :class:`TextDelta` text.
    ``replaced`` works as for :class:`TextDelta`, on the reasoning so far."""

    text: str
    replaced: int = 0


@dataclass(frozen=True, slots=True)
class ToolCallDelta(StreamEvent):
    """A piece of tool call ``index``: the first carries ``id`` and ``name`` (and empty
    ``arguments``), the next ones fragments of the arguments' JSON text, in order."""

    index: int
    arguments: str
    id: str | None = None
    name: str | None = None


@dataclass(frozen=True, slots=True)
class ToolCall:
    """A complete, valid tool call: ``arguments`` is the parsed JSON object."""

    id: str
    name: str
    arguments: dict[str, Any]
    index: int = 0


@dataclass(frozen=True, slots=True)
class InvalidToolCall(StreamEvent):
    """A call the model tried to make but that cannot be used: broken JSON, no or an unknown
    name. ``raw`` keeps the model's text of it; ``error`` says what was wrong."""

    index: int
    id: str
    name: str | None
    arguments: str | None
    error: str
    raw: str


@dataclass(frozen=True, slots=True)
class QueuePosition(StreamEvent):
    """Waiting in the Space's queue. ``position`` is 1-based (1 = next to run)."""

    position: int | None
    queue_size: int | None
    eta: float | None


@dataclass(frozen=True, slots=True)
class ProcessStarted(StreamEvent):
    """A worker picked the job up; ``eta`` is the Space's average run time, if known."""

    eta: float | None


@dataclass(frozen=True, slots=True)
class ProgressUpdate(StreamEvent):
    """``gr.Progress`` steps: dicts with ``index``, ``length``, ``unit``, ``progress``, ``desc``."""

    steps: tuple[dict[str, Any], ...]


@dataclass(frozen=True, slots=True)
class SpaceLog(StreamEvent):
    """``gr.Info``/``gr.Warning`` from the Space; ZeroGPU waits arrive this way."""

    level: str
    message: str
    title: str | None = None

    @property
    def zerogpu_wait(self) -> bool:
        return "waiting for a gpu" in self.message.lower()


@dataclass(frozen=True, slots=True)
class SpaceWaking(StreamEvent):
    """The Space is not serving yet and the client waits for it: ``stage`` is the Hub's
    (``SLEEPING``, ``BUILDING``, ``APP_STARTING``, ...), ``elapsed`` the seconds waited so
    far and ``timeout`` the most it will wait (``wake_timeout``)."""

    space_id: str
    stage: str
    elapsed: float
    timeout: float


@dataclass(frozen=True, slots=True)
class SpaceSkipped(StreamEvent):
    """Failover: ``model`` could not answer (``reason``) and ``next_model`` is asked
    instead. Only before any answer text; ``asked`` is False when ``model`` was skipped
    without a request (cooling down after a recent failure, or unable to take the input)."""

    model: str
    space_id: str
    reason: str
    next_model: str
    asked: bool = True


@dataclass(frozen=True, slots=True)
class Finished(StreamEvent):
    """Always last on success: the Space's final answer text, exactly.

    With tools bound, ``text`` is the answer text outside tool calls, ``tool_calls`` and
    ``invalid_tool_calls`` the calls in order, and ``finish_reason`` is ``"tool_calls"``
    when there is a valid call. ``reasoning`` is the thinking the Space showed apart from
    the answer (empty when it showed none)."""

    text: str
    finish_reason: str = "stop"
    event_id: str | None = None
    space_id: str | None = None
    model: str | None = None
    duration: float | None = None
    extra: dict[str, Any] = field(default_factory=dict)
    tool_calls: tuple[ToolCall, ...] = ()
    invalid_tool_calls: tuple[InvalidToolCall, ...] = ()
    reasoning: str = ""


_KINDS: dict[type, str] = {
    TextDelta: "text",
    ReasoningDelta: "reasoning",
    ToolCallDelta: "tool_call",
    InvalidToolCall: "invalid_tool_call",
    QueuePosition: "queue",
    ProcessStarted: "started",
    ProgressUpdate: "progress",
    SpaceLog: "log",
    SpaceWaking: "waking",
    SpaceSkipped: "failover",
    Finished: "finished",
}
