"""Server-sent-events decoding, independent of the network.

Feed it bytes as they arrive, in any chunking; it returns complete events. There is no
line-length limit (a 4 MB ``data:`` line is fine) and the work is linear in the bytes fed:
the scan for the frame separator resumes where it stopped.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass
from typing import TypeVar

__all__ = ["SSEDecoder", "SSEEvent"]

T = TypeVar("T")
#: Above this many bytes (buffered and new), frames are found incrementally, never re-split:
#: a frame that arrives in many chunks is copied a bounded number of times. Below it every
#: frame is under 1 MB, so split frames are bytes exactly when the incremental path gives
#: bytes (``_data_of``). A fast server fills reads of several 100 KB with small frames.
_SPLIT_LIMIT = 1_000_000

_LINES = re.compile(r"\r\n|\r|\n")  # not str.splitlines: it also splits on \f, \u2028...
# A line ending, then an empty line. A CR is a line ending of its own only when no LF
# follows it (else the two are one CRLF).
_BLANK_LINE = re.compile(rb"(?:\r\n|\r(?!\n)|\n)(?:\r\n|\r|\n)")


@dataclass(frozen=True, slots=True)
class SSEEvent:
    event: str
    data: str


class SSEDecoder:
    __slots__ = ("_buf", "_cr", "_scan")

    def __init__(self) -> None:
        self._buf = bytearray()
        self._scan = 0
        self._cr = False  # CR line endings seen: only then look for the CRLF/CR separators

    def feed(self, chunk: bytes) -> list[SSEEvent]:
        return self._feed(chunk, _parse_block)

    def feed_data(self, chunk: bytes) -> list[bytes | str]:
        """The fast path for data-only streams (Gradio's queue stream): each event's data,
        ready for a JSON parser, without building an :class:`SSEEvent` (bytes; a str when
        the frame is huge, to save a copy)."""
        pending = len(self._buf)
        if self._cr or b"\r" in chunk or pending + len(chunk) > _SPLIT_LIMIT:
            return self._feed(chunk, _data_payload)  # incremental: linear on huge frames
        # Small buffers (every token frame): C-level splits instead of a scan per frame.
        data = bytes(self._buf) + chunk if pending else chunk
        self._scan = 0
        lines = _data_lines(data)
        if lines is not None:
            self._buf = bytearray(lines[1])
            return lines[0]  # type: ignore[return-value]  # list[bytes]: a list is invariant
        parts = data.split(b"\n\n")
        self._buf = bytearray(parts.pop())
        out: list[bytes | str] = []
        for part in parts:
            if part.startswith(b"data: ") and b"\n" not in part:
                out.append(part[6:])
            elif part.strip():
                event = _parse_block(bytearray(part), 0, len(part))
                if event is not None:
                    out.append(event.data)
        return out

    def flush_data(self) -> list[bytes | str]:
        return [e.data for e in self.flush()]

    def feed_events(self, chunk: bytes) -> list[tuple[str, bytes | str]]:
        """Like :meth:`feed`, as ``(event, data)`` pairs: the data of Gradio's two-line
        ``/call`` blocks stays bytes (a str when huge), so that it is neither decoded nor
        split into lines before the JSON parser or a byte comparison sees it."""
        return self._feed(chunk, _event_payload)

    def flush_events(self) -> list[tuple[str, bytes | str]]:
        return [(e.event, e.data) for e in self.flush()]

    def _feed(self, chunk: bytes, parse: Callable[[bytearray, int, int], T | None]) -> list[T]:
        buf = self._buf
        buf += chunk
        if not self._cr and b"\r" in chunk:
            self._cr = True
        events: list[T] = []
        start = 0
        while True:
            if self._cr:
                end, sep_len = self._find_separator(buf, max(self._scan, start))
            else:
                end, sep_len = _blank_line(buf, max(self._scan, start)), 2
            if end < 0:
                break
            event = parse(buf, start, end)
            if event is not None:
                events.append(event)
            start = end + sep_len
            self._scan = start
        if start:
            del buf[:start]
        # Next time, resume a few bytes back so a separator split across chunks is found.
        self._scan = max(0, len(buf) - 3)
        return events

    def flush(self) -> list[SSEEvent]:
        """End of stream: a final block without its blank line still counts."""
        if not self._buf.strip():
            self._buf.clear()
            return []
        event = _parse_block(self._buf, 0, len(self._buf))
        self._buf.clear()
        self._scan = 0
        return [event] if event is not None else []

    @staticmethod
    def _find_separator(buf: bytearray, start: int) -> tuple[int, int]:
        # Gradio uses "\n\n"; the SSE spec also allows CRLF and CR line endings, mixed
        # from line to line: an event ends where a line ending is followed by another.
        n = buf.find(b"\n\n", start)
        if n >= 0 and b"\r" not in buf[start:n]:
            return n, 2
        m = _BLANK_LINE.search(buf, start)
        return (m.start(), m.end() - m.start()) if m is not None else (-1, 0)


def _data_lines(data: bytes) -> tuple[list[bytes], bytes] | None:
    """Gradio's queue stream is nothing but ``data: <json>`` lines, each followed by a blank
    line. If ``data`` is only that (its last frame may be cut short), the payloads of its
    whole frames and what is left to buffer; None for anything else. One split on the whole
    separator ``\\n\\ndata: `` (the longer the needle, the faster the search) and one
    count of line ends (all of them in separators: no frame spans lines) do it."""
    if not data.startswith(b"data: "):
        return None
    parts = data.split(b"\n\ndata: ")
    rest = parts.pop()
    if rest.endswith(b"\n\n"):  # the last frame is whole too
        parts.append(rest[:-2])
        rest = b""
    elif parts:
        rest = b"data: " + rest  # the next frame's start, whose "data: " the split took
    if data.count(b"\n") != 2 * len(parts):
        return None
    if parts:
        parts[0] = parts[0][6:]
    return parts, rest


def _blank_line(buf: bytearray, start: int) -> int:
    """``buf.find(b"\\n\\n", start)``, line end by line end: a one-byte search is memchr,
    many times faster than the two-byte one, and Gradio's lines are long (a ``/call`` frame
    is the whole answer on one line)."""
    end = buf.find(b"\n", start)
    while end >= 0 and not buf.startswith(b"\n", end + 1):
        end = buf.find(b"\n", end + 1)
    return end


def _data_payload(buf: bytearray, start: int, end: int) -> bytes | str | None:
    if _one_data_line(buf, start, end):
        return _data_of(buf, start, end)
    event = _parse_block(buf, start, end)
    return event.data if event is not None else None


def _event_payload(buf: bytearray, start: int, end: int) -> tuple[str, bytes | str] | None:
    # Gradio's /call blocks: "event: <name>", then one data line.
    if buf.startswith(b"event: ", start):
        line = buf.find(b"\n", start, end)
        if line >= 0 and buf.find(b"\r", start, line) < 0 and _one_data_line(buf, line + 1, end):
            return str(memoryview(buf)[start + 7:line], "utf-8", "replace"), \
                _data_of(buf, line + 1, end)
    event = _parse_block(buf, start, end)
    return (event.event, event.data) if event is not None else None


def _one_data_line(buf: bytearray, start: int, end: int) -> bool:
    """The block from ``start`` is a single ``data:`` line, Gradio's every frame: its data
    needs no line parsing."""
    return buf.startswith(b"data: ", start) and buf.find(b"\n", start, end) < 0 \
        and buf.find(b"\r", start, end) < 0


def _data_of(buf: bytearray, start: int, end: int) -> bytes | str:
    """The data of the one-line block at ``start``: bytes, which JSON parsers take without a
    decode, or a str when the frame is huge (one copy, not two)."""
    if end - start < 1_000_000:
        return bytes(memoryview(buf)[start + 6:end])
    return str(memoryview(buf)[start + 6:end], "utf-8", "replace")


def _parse_block(buf: bytearray, start: int, end: int) -> SSEEvent | None:
    # Fast path, one copy: Gradio's frames are a single "data: <json>" line, and a multi-MB
    # payload should be decoded once, not sliced, split and joined.
    if _one_data_line(buf, start, end):
        return SSEEvent("message", str(memoryview(buf)[start + 6:end], "utf-8", "replace"))
    text = str(memoryview(buf)[start:end], "utf-8", "replace")
    event = "message"
    data: list[str] = []
    for line in _LINES.split(text):
        # Empty lines and ":" comments need no case of their own: their field name is "".
        name, _, value = line.partition(":")
        if value.startswith(" "):
            value = value[1:]
        if name == "data":
            data.append(value)
        elif name == "event":
            event = value
    if not data and event == "message":
        return None
    return SSEEvent(event, "\n".join(data))
