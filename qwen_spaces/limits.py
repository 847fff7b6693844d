"""Client-side ``stop`` sequences and ``max_tokens``, for Spaces that take neither.

The answer is cut at the first stop sequence (which is not included) or after
``max_tokens`` approximate tokens. ``finish_reason`` says which ("stop" / "length"), and
the underlying stream is closed, which cancels the job on the Space. Text that could start
a stop sequence is held back until it is known not to, so a stop sequence split across
deltas is still caught and never leaks. Work per delta is proportional to the delta.

Token counts without the Space's tokenizer are estimates: a word, a number or a single
punctuation mark counts as one token (``TOKEN_RE``). English text comes out slightly below
what Qwen's tokenizer counts.
"""

from __future__ import annotations

import re
from collections.abc import AsyncGenerator, Sequence
from contextlib import aclosing

from .events import Finished, StreamEvent, TextDelta

__all__ = ["TOKEN_RE", "ReplyLimiter", "count_tokens", "limit_stream"]

TOKEN_RE = re.compile(r"\w+|[^\w\s]")


def count_tokens(text: str) -> int:
    return sum(1 for _ in TOKEN_RE.finditer(text))


class ReplyLimiter:
    """Feed it the answer's deltas; it says what may be passed on and where to cut."""

    def __init__(self, stop: Sequence[str] | None = None, max_tokens: int | None = None) -> None:
        if max_tokens is not None and max_tokens < 1:
            raise ValueError("max_tokens must be >= 1")
        if stop is not None and (isinstance(stop, str) or
                                 not all(isinstance(s, str) for s in stop)):
            raise ValueError("stop must be a list of strings")
        self.stops = [s for s in (stop or ()) if s]
        self.max_tokens = max_tokens
        self._hold = max((len(s) for s in self.stops), default=1) - 1
        self.text = ""
        self.sent = 0            # text[:sent] has been passed on
        self._unsend = 0         # chars of passed-on text a rewrite took back
        self._scan = 0           # stop sequences were searched up to here
        self._anchor = 0         # start of the last (maybe incomplete) token
        self._confirmed = 0      # complete tokens before _anchor
        self._token_end = 0      # end of the last token seen (max_tokens holds what follows)
        self.finish_reason: str | None = None

    @property
    def active(self) -> bool:
        return bool(self.stops) or self.max_tokens is not None

    def feed(self, delta: TextDelta) -> TextDelta | None:
        """Take one delta; return what may be passed on now (or None). After a cut,
        ``finish_reason`` is set and the caller should stop reading."""
        if delta.replaced:
            keep = len(self.text) - delta.replaced
            self.text = self.text[:keep] + delta.text
            if keep < self.sent:
                self._unsend = self.sent - keep  # 0 before: every feed ends in _emit
                self.sent = keep
            self._scan = self._anchor = self._confirmed = self._token_end = 0  # rare: recount
        else:
            self.text += delta.text
        cut = self._find_cut()
        if cut is not None:
            return self._emit(cut)
        end = len(self.text) - self._hold  # _hold is 0 without stops
        if self.max_tokens is not None:
            # Whitespace after the last token is held: if the next token is one too many,
            # the cut comes right after the last kept token, with nothing trailing it.
            end = min(end, self._token_end)
        return self._emit(end)

    def flush(self) -> TextDelta | None:
        """The stream finished: pass on whatever was held back."""
        return self._emit(len(self.text))

    def _emit(self, end: int) -> TextDelta | None:
        if end <= self.sent and not self._unsend:
            return None
        piece = TextDelta(self.text[self.sent:max(end, self.sent)], replaced=self._unsend)
        self.sent, self._unsend = max(end, self.sent), 0
        return piece

    def _find_cut(self) -> int | None:
        cut = None
        if self.stops:
            start = max(0, self._scan - self._hold)
            found = [i for i in (self.text.find(s, start) for s in self.stops) if i >= 0]
            self._scan = len(self.text)
            if found:
                cut = min(found)
                self.finish_reason = "stop"
        if self.max_tokens is not None:
            # Tokens from the last, possibly incomplete one on; the max_tokens-th token is
            # complete (so the limit is exceeded) once another token follows it.
            matches = list(TOKEN_RE.finditer(self.text, self._anchor))
            index = self.max_tokens - self._confirmed - 1
            if 0 <= index < len(matches) - 1:
                length_cut = matches[index].end()
                # A stop that starts right at the cut starts after the last allowed token:
                # the limit was exceeded first.
                if cut is None or length_cut <= cut:
                    cut, self.finish_reason = length_cut, "length"
            if matches:
                self._confirmed += len(matches) - 1
                self._anchor = matches[-1].start()
                self._token_end = matches[-1].end()
        return cut


async def limit_stream(
    events: AsyncGenerator[StreamEvent, None],
    *,
    stop: Sequence[str] | None = None,
    max_tokens: int | None = None,
    limiter: ReplyLimiter | None = None,
    model: str | None = None,
    space_id: str | None = None,
) -> AsyncGenerator[StreamEvent, None]:
    """``events`` with the answer cut by ``stop`` / ``max_tokens`` (job cancelled on a cut)."""
    limiter = limiter or ReplyLimiter(stop, max_tokens)
    async with aclosing(events):
        async for event in events:
            if not limiter.active:
                yield event
            elif isinstance(event, TextDelta):
                piece = limiter.feed(event)
                if piece is not None:
                    yield piece
                if limiter.finish_reason is not None:
                    yield Finished(text=limiter.text[:limiter.sent],
                                   finish_reason=limiter.finish_reason, model=model,
                                   space_id=space_id)
                    return  # leaving ``aclosing`` closes the stream: the job is cancelled
            elif isinstance(event, Finished):
                piece = limiter.flush()
                if piece is not None:
                    yield piece
                yield event
                return
            else:
                yield event
