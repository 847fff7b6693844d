"""Reasoning apart from the answer where a Space streams it inline, and a Space's footer cut
off the answer. Small pure classes fed text deltas, like :class:`~qwen_spaces.tools.
ToolCallParser`, so any chunking gives the same result.

* :class:`ThinkSplitter`: ``<think>…</think>`` at the very start of a reply (after
  whitespace) is reasoning, as Qwen3 and QwQ write it when a Space passes the raw output on;
  the newlines after ``</think>`` are not answer text. A ``<think>`` anywhere else is text.
* :class:`EndCut`: the answer ends where a marker appears (Qwen2.5-1M's ``\\n<summary>``
  footer); the marker and what follows are dropped.

Both hold back a suffix that could still become their tag, and give it back as text when the
reply ends without it. QVQ's reasoning has no markers at all: it stays answer text.
"""

from __future__ import annotations

from collections.abc import AsyncGenerator
from dataclasses import replace

from .events import Finished, ReasoningDelta, StreamEvent, TextDelta

__all__ = ["EndCut", "ThinkSplitter", "shape_reply"]

OPEN = "<think>"
CLOSE = "</think>"


def _held(text: str, tag: str) -> int:
    """Length of the longest suffix of ``text`` that is a proper prefix of ``tag``."""
    for n in range(min(len(tag) - 1, len(text)), 0, -1):
        if text.endswith(tag[:n]):
            return n
    return 0


class ThinkSplitter:
    """Splits answer text into :class:`ReasoningDelta` and :class:`TextDelta` pieces."""

    __slots__ = ("_buf", "_state", "answer", "reasoning")

    def __init__(self) -> None:
        self._state = "start"  # start -> thinking -> after (newlines) -> answer
        self._buf = ""
        self.answer = ""
        self.reasoning = ""

    def feed(self, delta: TextDelta) -> list[StreamEvent]:
        if delta.replaced:
            return self._rewrite(delta)
        out: list[StreamEvent] = []
        text = delta.text
        if self._state == "answer":
            self.answer += text
            return [delta]
        self._buf += text
        if self._state == "start":
            lead = self._buf.lstrip()
            if lead.startswith(OPEN):
                self._state, self._buf = "thinking", lead[len(OPEN):]
            elif OPEN.startswith(lead):
                return out  # still could be the tag (or only whitespace so far)
            else:
                return self._to_answer(out, self._buf)
        if self._state == "thinking":
            end = self._buf.find(CLOSE)
            if end < 0:
                keep = _held(self._buf, CLOSE)
                self._think(out, self._buf[:len(self._buf) - keep])
                self._buf = self._buf[len(self._buf) - keep:]
                return out
            self._think(out, self._buf[:end])
            self._state, self._buf = "after", self._buf[end + len(CLOSE):]
        rest = self._buf.lstrip("\n")
        self._buf = ""
        if rest:
            return self._to_answer(out, rest)
        return out

    def finish(self) -> list[StreamEvent]:
        """What is still held back: a tag that never completed is what it looked like."""
        out: list[StreamEvent] = []
        buf, self._buf = self._buf, ""
        if self._state == "thinking":
            self._think(out, buf)
        elif buf and self._state == "start":
            self._to_answer(out, buf)
        return out

    def _think(self, out: list[StreamEvent], text: str) -> None:
        if text:
            self.reasoning += text
            out.append(ReasoningDelta(text))

    def _to_answer(self, out: list[StreamEvent], text: str) -> list[StreamEvent]:
        self._state = "answer"
        self.answer += text
        out.append(TextDelta(text))
        return out

    def _rewrite(self, delta: TextDelta) -> list[StreamEvent]:
        """A Space rewrote text it had sent. Within the answer it is passed on; anything
        that reaches back into the reasoning is re-read as a fresh reply would be."""
        if self._state == "answer" and delta.replaced <= len(self.answer):
            self.answer = self.answer[:len(self.answer) - delta.replaced] + delta.text
            return [delta]
        # Rare (no Qwen Space rewrites reasoning): keep what was sent, continue as answer.
        self._state = "answer"
        self.answer += delta.text
        return [TextDelta(delta.text)]


class EndCut:
    """Passes text on until ``marker`` appears; drops the marker and everything after it."""

    __slots__ = ("_buf", "_done", "marker", "text")

    def __init__(self, marker: str) -> None:
        self.marker = marker
        self._buf = ""
        self._done = False
        self.text = ""

    def feed(self, delta: TextDelta) -> TextDelta | None:
        if self._done:
            return None
        if delta.replaced:  # a rewrite of sent text: re-cut the whole answer
            full = self.text + self._buf  # all the Space sent, the held-back tail included
            full = full[:len(full) - delta.replaced] + delta.text
            end = full.find(self.marker)
            if end >= 0:
                self._done, full, self._buf = True, full[:end], ""
            else:
                keep = _held(full, self.marker)
                full, self._buf = full[:len(full) - keep], full[len(full) - keep:]
            common = 0
            while common < min(len(full), len(self.text)) and full[common] == self.text[common]:
                common += 1
            replaced, self.text = len(self.text) - common, full
            return TextDelta(full[common:], replaced=replaced) \
                if replaced or common < len(full) else None
        buf = self._buf + delta.text
        end = buf.find(self.marker)
        if end >= 0:
            self._done, piece, self._buf = True, buf[:end], ""
        else:
            keep = _held(buf, self.marker)
            piece, self._buf = buf[:len(buf) - keep], buf[len(buf) - keep:]
        self.text += piece
        return TextDelta(piece) if piece else None

    def finish(self) -> TextDelta | None:
        piece, self._buf = self._buf, ""
        if self._done or not piece:
            return None
        self.text += piece
        return TextDelta(piece)


async def shape_reply(events: AsyncGenerator[StreamEvent, None], *, think_tags: bool,
                      answer_end: str | None) -> AsyncGenerator[StreamEvent, None]:
    """``events`` with the footer cut and inline thinking split off; ``Finished`` carries the
    answer and reasoning as the consumer received them."""
    cut = EndCut(answer_end) if answer_end else None
    split = ThinkSplitter() if think_tags else None
    try:
        async for event in events:
            if type(event) is TextDelta:
                for out in _shape(event, cut, split):
                    yield out
            elif isinstance(event, Finished):
                tail: list[StreamEvent] = []
                if cut is not None:
                    last = cut.finish()
                    if last is not None:
                        tail += _split(last, split)
                if split is not None:
                    tail += split.finish()
                for out in tail:
                    yield out
                text = split.answer if split is not None else (
                    cut.text if cut is not None else event.text)
                # The Space's own reasoning channel (Qwen3-Demo's panel) streams before the
                # answer text that can hold think tags: the consumer got them in this order.
                thought = split.reasoning if split is not None else ""
                yield replace(event, text=text, reasoning=event.reasoning + thought)
            else:
                yield event
    finally:
        await events.aclose()


def _shape(event: TextDelta, cut: EndCut | None, split: ThinkSplitter | None,
           ) -> list[StreamEvent]:
    if cut is not None:
        piece = cut.feed(event)
        if piece is None:
            return []
        event = piece
    return _split(event, split)


def _split(event: TextDelta, split: ThinkSplitter | None) -> list[StreamEvent]:
    return split.feed(event) if split is not None else [event]
