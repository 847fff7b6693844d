"""Client-side stop sequences and max_tokens."""

from __future__ import annotations

from collections.abc import AsyncGenerator

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from qwen_spaces.events import Finished, ProcessStarted, StreamEvent, TextDelta
from qwen_spaces.limits import ReplyLimiter, count_tokens, limit_stream


def run(pieces: list[str], stop: list[str] | None = None, max_tokens: int | None = None
        ) -> tuple[str, str | None]:
    lim = ReplyLimiter(stop, max_tokens)
    out = ""
    for p in pieces:
        d = lim.feed(TextDelta(p))
        if d:
            out = out[:len(out) - d.replaced] + d.text
        if lim.finish_reason:
            return out, lim.finish_reason
    d = lim.flush()
    return out + (d.text if d else ""), None


@settings(max_examples=300, deadline=None)
@given(st.lists(st.sampled_from(["a", "b", "ab", "ba", " ", "you", "yo", "u", "\n", "!"]),
                max_size=30),
       st.lists(st.sampled_from(["ab", "you", "\n\n", "b a", "x"]), max_size=3))
def test_stop_cuts_exactly_where_the_full_text_would(pieces: list[str], stop: list[str]) -> None:
    full = "".join(pieces)
    positions = [full.find(s) for s in stop if s in full]
    expected = full[:min(positions)] if positions else full
    out, reason = run(pieces, stop)
    assert out == expected
    assert reason == ("stop" if positions else None)


@settings(max_examples=300, deadline=None)
@given(st.lists(st.sampled_from(["he", "llo", " ", "wor", "ld", ",", "!", " 42", "é"]),
                max_size=30), st.integers(1, 8))
def test_max_tokens_keeps_exactly_that_many_tokens(pieces: list[str], n: int) -> None:
    full = "".join(pieces)
    out, reason = run(pieces, max_tokens=n)
    if count_tokens(full) > n:
        assert reason == "length"
        assert count_tokens(out) == n and full.startswith(out)
    else:
        assert (out, reason) == (full, None)


def test_bad_limits() -> None:
    with pytest.raises(ValueError):
        ReplyLimiter(max_tokens=0)
    with pytest.raises(ValueError):
        ReplyLimiter(stop="you")  # type: ignore[arg-type]


async def test_limit_stream_closes_the_source_on_a_cut() -> None:
    closed = []

    async def source() -> AsyncGenerator[StreamEvent, None]:
        try:
            yield ProcessStarted(None)
            for word in ["one ", "two ", "STOP", " three"]:
                yield TextDelta(word)
            yield Finished("one two STOP three")
        finally:
            closed.append(True)

    events = [e async for e in limit_stream(source(), stop=["STOP"])]
    assert isinstance(events[0], ProcessStarted)
    assert "".join(e.text for e in events if isinstance(e, TextDelta)) == "one two "
    assert events[-1] == Finished("one two ", finish_reason="stop")
    assert closed == [True]
    plain = [e async for e in limit_stream(source())]
    assert plain[-1] == Finished("one two STOP three")
