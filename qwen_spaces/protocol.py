"""One job's Gradio messages -> stream events. Pure: no I/O, so captures replay through it.

``JobProtocol.handle`` takes queue messages (``queue/data`` frames, already JSON-decoded);
``handle_call`` takes ``/call`` SSE events. ``process_completed`` is always taken as the
truth: diffs that do not apply (Gradio's known shrinking-list bugs) are skipped until then.

The hot paths come first: ``append_frames`` takes the steady token frames of the queue by
their bytes, and ``call_frame`` the steady ``/call`` frames (:mod:`qwen_spaces.frames`);
whatever they do not take is parsed and goes through the methods above.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import Any

from .diff import DiffError
from .discovery import SpaceAPI
from .errors import (
    QueueFullError,
    SessionLostError,
    SpaceAppError,
    SpaceProtocolError,
    SpaceUnavailableError,
    app_error,
)
from .events import (
    Finished,
    ProcessStarted,
    ProgressUpdate,
    QueuePosition,
    ReasoningDelta,
    SpaceLog,
    StreamEvent,
    TextDelta,
)
from .frames import AppendShape, CallShape
from .frames import fast_loads as _fast_loads
from .reply import ReplyTracker, unwrap_update
from .sse import SSEEvent

__all__ = ["JobProtocol", "loads"]

#: How many times one job learns a frame shape (:mod:`qwen_spaces.frames`), per channel
#: (answer, reasoning). Once per stream is the rule; a Space whose frames never fit one
#: stops paying for the attempts.
_LEARNS = 8


def loads(data: str | bytes) -> Any:
    """JSON of one frame. orjson peaks at ~14x a huge string's size (measured: 147 MB for a
    10 MB answer) where json stays near 3x, so multi-MB frames go to json."""
    return _fast_loads(data) if len(data) < 1_000_000 else json.loads(data)


class JobProtocol:
    __slots__ = ("_broken", "_call_shape", "_first", "_learns", "_rlearns", "_rshape", "_shape",
                 "_verbatim", "api", "channel", "completed", "event_id", "expect_users", "final",
                 "model", "started", "tracker")

    def __init__(self, api: SpaceAPI, *, model: str, placeholders: tuple[str, ...] = (),
                 expect_users: int | None = None) -> None:
        self.api = api
        #: A continued session: the user turns the chatbot must show (else the Space lost it).
        self.expect_users = expect_users
        self.model = model
        self.event_id: str | None = None
        self.tracker = ReplyTracker(api.reply_kind, placeholders)
        self.started = False
        self.completed = False
        self.final: Finished | None = None
        self._first = True
        self._broken = False
        # Byte shapes of the steady frames (qwen_spaces.frames), learned from a parsed one:
        # the answer's appends, the reasoning's (a pro chatbot's thinking panel), /call's.
        self._shape: AppendShape | None = None
        self._rshape: AppendShape | None = None
        #: Which text the last one :meth:`append_frames` or :meth:`append_text` returned is:
        #: the answer's (``TextDelta``) or the reasoning's (``ReasoningDelta``).
        self.channel: type[TextDelta] | type[ReasoningDelta] = TextDelta
        self._call_shape: CallShape | None = None
        self._learns = 0   # shapes learned: the answer's (or /call's), and the reasoning's
        self._rlearns = 0
        # A placeholder can turn a grown answer back into "" on /call: no shape there.
        self._verbatim = not placeholders

    # -- queue protocol ---------------------------------------------------------------
    def append_frames(self, frames: Sequence[bytes | str], start: int) -> tuple[str | None, int]:
        """The hot path, by bytes: the steady append frames from ``start`` on (see
        :class:`~qwen_spaces.frames.AppendShape`) give their text, joined, and the index of
        the first frame that is not one; the caller parses that one and uses
        :meth:`append_text` or :meth:`handle`. None when no frame was taken. The frames
        taken are all the answer's or all the reasoning's: :attr:`channel` says which."""
        if self._broken:
            return None, start
        tracker = self.tracker
        for shape, leaf, channel in ((self._shape, tracker.leaf, TextDelta),
                                     (self._rshape, tracker.rleaf, ReasoningDelta)):
            if shape is None or shape.leaf is not leaf or shape.event_id is not self.event_id:
                continue
            tokens, end = shape.take(frames, start)
            if end != start:
                text = "".join(tokens)
                if channel is TextDelta:
                    tracker.grow(text)
                else:
                    tracker.grow_reasoning(text)
                self.channel = channel
                return text, end
        return None, start

    def append_text(self, msg: Any, frame: bytes | str | None = None) -> str | None:
        """The hot path for a parsed frame: a steady-state diff frame of this job whose only
        edit of the answer output is an append at the answer's leaf, or at the reasoning's,
        returns that text (state updated; :attr:`channel` says which). Anything else
        returns None, and the caller uses :meth:`handle`. ``frame``, the bytes ``msg`` was
        parsed from, teaches :meth:`append_frames` the shape of the frames to come."""
        if (type(msg) is not dict or msg.get("msg") != "process_generating" or self._first
                or self._broken or not self.api.diffs or msg.get("event_id") != self.event_id):
            return None
        try:
            edits = msg["output"]["data"][self.api.reply_output]
        except (TypeError, KeyError, IndexError):
            return None
        tracker = self.tracker
        text = tracker.append_only(edits)
        if text is not None:
            self.channel, leaf = TextDelta, tracker.leaf
        else:
            text = tracker.reasoning_only(edits)
            if text is None:
                return None
            self.channel, leaf = ReasoningDelta, tracker.rleaf
        self.started = True
        if type(frame) is not bytes or type(self.event_id) is not str:
            return text
        assert leaf is not None  # the append was taken at it
        if self.channel is TextDelta and self._learns < _LEARNS:
            self._learns += 1
            self._shape = AppendShape.learn(
                frame, event_id=self.event_id, output=self.api.reply_output, leaf=leaf,
                text=text) or self._shape
        elif self.channel is ReasoningDelta and self._rlearns < _LEARNS:
            self._rlearns += 1
            self._rshape = AppendShape.learn(
                frame, event_id=self.event_id, output=self.api.reply_output, leaf=leaf,
                text=text) or self._rshape
        return text

    def handle(self, msg: Any) -> list[StreamEvent]:
        if not isinstance(msg, dict):
            raise SpaceProtocolError(f"{self.api.space}: stream frame is not a JSON object",
                                     space=self.api.space)
        kind = msg.get("msg")
        eid = msg.get("event_id")
        if eid is not None and self.event_id is not None and eid != self.event_id:
            return []  # another job on the same session stream
        if kind == "process_generating" or kind == "process_streaming":
            self.started = True
            return self._generating(msg, diff=kind == "process_generating")
        if kind == "process_completed":
            return self._completed(msg)
        if kind == "estimation":
            rank, size = msg.get("rank"), msg.get("queue_size")
            return [QueuePosition(rank + 1 if isinstance(rank, int) else None,
                                  size if isinstance(size, int) else None,
                                  _num(msg.get("rank_eta")))]
        if kind == "process_starts":
            self.started = True
            return [ProcessStarted(_num(msg.get("eta")))]
        if kind == "progress":
            steps = msg.get("progress_data") or []
            return [ProgressUpdate(tuple(s for s in steps if isinstance(s, dict)))]
        if kind == "log":
            title = msg.get("title")
            return [SpaceLog(str(msg.get("level") or "info"), str(msg.get("log") or ""),
                             title if isinstance(title, str) else None)]
        if kind == "close_stream":
            if not self.completed:
                raise SpaceUnavailableError(
                    f"{self.api.space} closed the stream before the answer was complete; "
                    "try again", space=self.api.space)
            return []
        if kind == "queue_full":
            raise QueueFullError(f"{self.api.space}: the queue is full; try again later",
                                 space=self.api.space)
        if kind == "unexpected_error":
            raise SpaceUnavailableError(
                f"{self.api.space} lost the job ({msg.get('message') or 'unexpected error'}); "
                "try again", space=self.api.space)
        return []  # heartbeats; unknown message types are for newer clients: ignore them

    def _generating(self, msg: dict[str, Any], *, diff: bool) -> list[StreamEvent]:
        value = self._reply_value(msg)
        if self._first or not diff or not self.api.diffs:
            if self._first and self.expect_users is not None:
                self._check_session(value)
            self._first = False
            self._broken = False
            return list(self.tracker.full(value))
        if self._broken:
            return []
        try:
            return list(self.tracker.edits(value))
        except DiffError:
            self._broken = True  # wait for process_completed, which carries the full value
            return []

    def _completed(self, msg: dict[str, Any]) -> list[StreamEvent]:
        self.completed = True
        output = msg.get("output")
        if not isinstance(output, dict):
            output = {}
        if not msg.get("success", False) or "error" in output:
            raise app_error(output.get("error"), space=self.api.space, title=output.get("title"))
        if "data" not in output:
            raise SpaceAppError(
                f"{self.api.space} cancelled the job before it finished (someone cancelled it, "
                "or the Space restarted); try again", space=self.api.space, title="cancelled")
        return self._finish(self._reply_value(msg), output.get("duration"))

    def _check_session(self, value: Any) -> None:
        value = unwrap_update(value)[0]
        users = sum(1 for m in value if isinstance(m, dict) and m.get("role") == "user") \
            if isinstance(value, list) else 0
        if users != self.expect_users:
            raise SessionLostError(
                f"{self.api.space} no longer holds this conversation's session (it shows "
                f"{users} user turn(s), {self.expect_users} expected)", space=self.api.space)

    def _finish(self, value: Any, duration: Any = None) -> list[StreamEvent]:
        if self._first and self.expect_users is not None:
            self._check_session(value)
        if value is None and not self.tracker.has_value:
            raise SpaceProtocolError(
                f"{self.api.space} finished without an answer in output {self.api.reply_output}",
                space=self.api.space)
        events: list[StreamEvent] = list(self.tracker.full(value))
        self.completed = True
        self.final = Finished(text=self.tracker.text, event_id=self.event_id,
                              space_id=self.api.space, model=self.model,
                              duration=_num(duration), reasoning=self.tracker.reasoning)
        events.append(self.final)
        return events

    def _reply_value(self, msg: dict[str, Any]) -> Any:
        output = msg.get("output")
        data = output.get("data") if isinstance(output, dict) else None
        return self._pick(data)

    def _pick(self, data: Any) -> Any:
        idx = self.api.reply_output
        if not isinstance(data, list) or len(data) <= idx:
            raise SpaceProtocolError(
                f"{self.api.space}: expected at least {idx + 1} outputs, got "
                f"{type(data).__name__}", space=self.api.space)
        return data[idx]

    # -- /call protocol -----------------------------------------------------------------
    def handle_call(self, event: SSEEvent) -> list[StreamEvent]:
        return self.call_frame(event.event, event.data)

    def call_frame(self, name: str, raw: bytes | str) -> list[StreamEvent]:
        """One ``/call`` event. ``raw`` is its data; bytes (from
        :meth:`SSEDecoder.feed_events`) read as UTF-8 with errors replaced, as a str would
        have been. A steady ``generating`` frame (see :class:`~qwen_spaces.frames.CallShape`)
        is not parsed at all."""
        if name == "heartbeat":
            return []
        shape = self._call_shape
        if name == "generating" and shape is not None and type(raw) is bytes \
                and shape.leaf is self.tracker.leaf:
            text = shape.take(raw)
            if text is not None:
                if not text:
                    return []
                self.tracker.grow(text)
                return [TextDelta(text)]
        try:
            data = loads(str(raw, "utf-8", "replace") if isinstance(raw, bytes) else raw) \
                if raw else None
        except ValueError:
            raise SpaceProtocolError(f"{self.api.space}: malformed /call frame",
                                     space=self.api.space) from None
        if name == "generating":
            self.started = True
            value = self._pick(data)
            events = list(self.tracker.full(value))
            if type(raw) is bytes:
                self._learn_call(raw, value)
            return events
        if name == "complete":
            return self._finish(self._pick(data))
        if name == "error":
            self.completed = True
            if isinstance(data, dict):
                raise app_error(data.get("error"), space=self.api.space, title=data.get("title"))
            raise app_error(data if isinstance(data, str) else None, space=self.api.space)
        return []

    def _learn_call(self, frame: bytes, value: Any) -> None:
        """After a parsed ``generating`` frame (``value`` its answer output): the shape of the
        ones to come, if the answer has a leaf to grow at."""
        self._call_shape = None
        leaf = self.tracker.leaf
        if leaf is None or not self._verbatim or self._learns >= _LEARNS:
            return
        self._learns += 1

        def reread(probe: bytes) -> Any:
            try:
                return _at(self._pick(loads(probe)), leaf)
            except (ValueError, SpaceProtocolError):
                return None

        self._call_shape = CallShape.learn(frame, _at(value, leaf), leaf, reread)


def _at(value: Any, path: list[Any]) -> Any:
    """The item at ``path`` in ``value`` (a leaf of the answer: a str), or None if the
    path leads nowhere."""
    try:
        for key in path:
            value = value[key]
    except (TypeError, KeyError, IndexError):
        return None
    return value


def _num(x: Any) -> float | None:
    return float(x) if isinstance(x, (int, float)) and not isinstance(x, bool) else None
