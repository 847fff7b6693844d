"""The deterministic stand-in for the model behind every replica Space.

It never pretends to be Qwen: each reply starts by naming the local replica and then lists
what the Space received, one ``key: value`` line each, in this order (a line only when the
Space has that input)::

    [local replica of Qwen/Qwen2.5 (qwen-2.5) - not a real model]
    system: <system prompt, verbatim>
    history_turns: <user/assistant pairs in the history input>
    variant: <size radio value>
    image: <PIL format> <W>x<H> sha256:<first 12 hex of the file's sha256> | no image
    thinking: on | off
    thinking_budget: <the budget control's value, in its own unit>
    query: <query, verbatim>

A query starting with a directive switches scenario (see ``DIRECTIVES``). Replies stream as
cumulative text, a small piece per step, ``token_delay`` seconds apart.

**Out of quota for a while** (``--quota-for SECONDS``, :class:`QuotaWindow`): until that many
seconds after the replicas are up, every answer fails before streaming with the ``/quota``
error, its ``Try again in H:MM:SS`` being the time really left (rounded up to whole seconds);
then the replica answers normally. A Space whose ZeroGPU quota is spent behaves like that for
every request, whatever is asked, which is what failover tests need.

**Tool calling and JSON output** (Spaces with a system input; rules in
:mod:`qwen_spaces.replica.toolmodel`, examples in ``docs/replica.md``). When the system text
holds the Qwen2.5/Qwen3 template's ``<tools>`` block or a ``# Response format`` block, the
model speaks those formats instead of the header, deterministically:

1. Neither block: the header reply above, unchanged.
2. Tools offered: (a) query lines ``/tool NAME {json}``, ``/tool-raw TEXT``,
   ``/tool-unclosed NAME {json}``, ``/fncall NAME {json}`` (Qwen2's ``✿FUNCTION✿``/``✿ARGS✿``)
   make exactly those calls, in order; ``/say TEXT`` sets the preface line. (b) A query made
   only of ``<tool_response>`` blocks gets ``[replica] tool results received: R1; R2``, even
   when a tool choice is forced. (c) Otherwise the tools the query mentions (full name, or a
   4+ letter non-generic word of it, see ``GENERIC_WORDS``) are called in order of first
   mention; ``You must call the function "NAME"`` calls NAME; ``You must call at least one``
   falls back to the first tool; auto with nothing mentioned answers in plain text. (d)
   Arguments are filled from each tool's JSON schema with the query's literals (next integer,
   number, quoted string else the query text, true/false/yes/no, enum value found, arrays of
   the rest, objects recursively; defaults when nothing fits; optional properties only when a
   literal or default is there). (e) A call reply is ``[replica] calling NAME, …``, ``\n``,
   then ``<tool_call>\n{"name": …, "arguments": …}\n</tool_call>`` blocks joined by ``\n``
   (unicode unescaped), streamed in 4-character pieces so tags split across deltas.
3. Response format and no call: exactly one JSON object, the ``<schema>`` filled as in 2d,
   or ``{"answer": <query text>}``; ``/json-prose`` wraps it in prose and a ```json fence.
4. The system text is never echoed in these modes: the header's system line becomes
   ``system: <N> chars, tools: a, b``.
"""

from __future__ import annotations

import asyncio
import math
import re
import time
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, replace

import gradio as gr

from .compat import make_error
from .directives import DIRECTIVES
from .toolmodel import system_summary, tool_reply

__all__ = [
    "DIRECTIVES",
    "QUOTA_MESSAGE",
    "QUOTA_TITLE",
    "QuotaWindow",
    "Received",
    "header",
    "quota_message",
    "reply_stream",
    "reply_text",
]


def quota_message(retry_after: int) -> str:
    """The ZeroGPU quota text (the ``spaces`` package's wording, ``/work/shared/docs/
    gradio-protocol.md`` 9.2) naming ``retry_after`` seconds as ``H:MM:SS``, which is what
    clients parse for the wait."""
    minutes, seconds = divmod(max(0, retry_after), 60)
    hours, minutes = divmod(minutes, 60)
    return ("You have exceeded your ZeroGPU quota (60s requested vs. 12s left). "
            f"Try again in {hours}:{minutes:02d}:{seconds:02d}.")


QUOTA_MESSAGE = quota_message(600)
QUOTA_TITLE = "ZeroGPU quota exceeded"
MID_STREAM_ERROR = "replica: simulated failure mid-stream"
PLACEHOLDER = "Thinking..."


_LONG_CHUNK = 16 * 1024
_ECHO_PIECE = 3
_TOOL_PIECE = 4  # smaller than "<tool_call>": every tag arrives split across deltas
_WORD = re.compile(r"\s*\S+|\s+")


class QuotaWindow:
    """A replica out of ZeroGPU quota for ``seconds`` from :meth:`start` (the replicas being
    up), so a test can have one Space refuse everything while the others answer.

    Before :meth:`start` the whole window lies ahead: a request that comes in while the other
    replicas of the process are still starting is refused too.
    """

    def __init__(self, seconds: float, clock: Callable[[], float] = time.monotonic) -> None:
        self.seconds = seconds
        self._clock = clock
        self._end: float | None = None

    def start(self) -> None:
        self._end = self._clock() + self.seconds

    def retry_after(self) -> int:
        """Whole seconds until the quota is back (rounded up), 0 once it is."""
        end = self._end if self._end is not None else self._clock() + self.seconds
        return max(0, math.ceil(end - self._clock()))


@dataclass(frozen=True)
class Received:
    """What the Space's handler got, ready to be reflected in the reply."""

    space_id: str
    name: str
    query: str
    system: str | None = None
    history_turns: int | None = None
    variant: str | None = None
    image: str | None = None  # already described, e.g. "PNG 4x3 sha256:…" or "no image"
    thinking: bool | None = None  # the thinking switch (Qwen3-Demo)
    thinking_budget: int | float | None = None  # as the Space's control holds it (thousands)


def header(received: Received) -> str:
    lines = [f"[local replica of {received.space_id} ({received.name}) - not a real model]"]
    for key in ("system", "history_turns", "variant", "image", "thinking", "thinking_budget"):
        value = getattr(received, key)
        if isinstance(value, bool):
            value = "on" if value else "off"
        if value is not None:
            lines.append(f"{key}: {value}")
    lines.append(f"query: {received.query}")
    return "\n".join(lines)


def reply_text(received: Received) -> tuple[str, int | None]:
    """The full reply for a normal (non-error) query and its piece size (None: words)."""
    summary = system_summary(received.system)
    if summary is None:
        return header(received), None
    special = tool_reply(received.system, received.query)
    if special is not None:
        return special, _TOOL_PIECE
    return header(replace(received, system=summary)), None


def _pieces(text: str, size: int | None = None) -> list[str]:
    """Split into streaming pieces: words (with their leading space) or fixed-size slices."""
    if size is None:
        return _WORD.findall(text)
    return [text[i : i + size] for i in range(0, len(text), size)]


def _long_text(n: int, label: str) -> str:
    filler = "0123456789abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ\n"
    head = f"{label} long reply of {n} bytes\n"
    body = head + filler * (n // len(filler) + 1)
    return body[:n]


async def reply_stream(
    received: Received,
    token_delay: float,
    progress: Callable[..., object] | None = None,
    quota: QuotaWindow | None = None,
) -> AsyncIterator[str]:
    """Yield the cumulative reply text after each piece; raise for the error scenarios (and
    for every query while ``quota`` says the ZeroGPU quota is spent)."""
    query = received.query
    command, _, rest = query.partition(" ")
    args = rest.split()
    text, piece = reply_text(received)

    async def stream(pieces: list[str], start: str = "", delay: float = token_delay,
                     ) -> AsyncIterator[str]:
        acc = start
        for piece in pieces:
            acc += piece
            yield acc
            await asyncio.sleep(delay)

    # /quota names ten minutes; a spent quota window names what is really left of it.
    spent = quota.retry_after() if quota is not None else 0
    retry_after = 600 if command == "/quota" else spent
    if retry_after:
        raise make_error(quota_message(retry_after), title=QUOTA_TITLE)
    if command == "/crash":
        raise RuntimeError("replica: simulated crash")
    if command == "/echo":
        async for acc in stream(_pieces(query[len("/echo "):], _ECHO_PIECE)):
            yield acc
        return
    if command == "/long":
        n = int(args[0]) if args else 1024 * 1024
        first = header(received).split("\n", 1)[0]
        async for acc in stream(_pieces(_long_text(n, first), _LONG_CHUNK)):
            yield acc
        return
    if command == "/error-mid":
        async for acc in stream(_pieces(text, piece)[:5]):
            yield acc
        raise make_error(MID_STREAM_ERROR)
    if command == "/rewrite":
        yield PLACEHOLDER
        await asyncio.sleep(max(token_delay, 0.05))
    if command == "/log":
        gr.Info("replica: info message")
        gr.Warning("replica: warning message")
        for step in range(3):
            if progress is not None:
                progress((step, 3), desc="replica working")
            await asyncio.sleep(token_delay)
    acc = ""
    async for acc in stream(_pieces(text, piece)):
        yield acc
    if command == "/slow":
        n = int(args[0]) if args else 5
        delay = float(args[1]) if len(args) > 1 else 0.5
        ticks = [f"\ntick {i}" for i in range(n)]
        async for text in stream(ticks, start=acc, delay=delay):
            yield text
