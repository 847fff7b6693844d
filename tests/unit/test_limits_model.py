"""The limiter against a model of its input: texts built from known tokens, split anywhere.

The oracle never calls the limiter or ``TOKEN_RE``: the generator knows where every token
starts and ends, and decides the cut from the text seen after each delta, as the limiter
must (it cannot wait for text that has not arrived).

Semantics (hardening issue 16, item 13): a ``max_tokens`` cut keeps exactly the first
``max_tokens`` tokens, with no whitespace after the last one, and reports ``"length"``; a
stop cut keeps the text before the stop verbatim and reports ``"stop"``; when both fall at
the same place the limit was exceeded first (``"length"``). Nothing past the cut is ever
passed on, not even for a moment.
"""

from __future__ import annotations

from collections.abc import AsyncGenerator
from dataclasses import dataclass

import pytest
from hypothesis import given
from hypothesis import strategies as st

from qwen_spaces.events import Finished, ProcessStarted, StreamEvent, TextDelta
from qwen_spaces.limits import ReplyLimiter, limit_stream


@dataclass(frozen=True)
class Answer:
    text: str
    spans: tuple[tuple[int, int], ...]  # (start, end) of every token, in order


@st.composite
def answers(draw: st.DrawFn) -> Answer:
    """Words (``\\w+``) and single punctuation marks, with whitespace between; two words
    always have whitespace between them, else they would be one token."""
    parts: list[str] = []
    spans: list[tuple[int, int]] = []
    pos = 0
    prev_word = False
    lead = draw(st.sampled_from(["", "", " ", "\n"]))
    parts.append(lead)
    pos += len(lead)
    for _ in range(draw(st.integers(0, 9))):
        word = draw(st.booleans())
        tok = draw(st.text("abé9", min_size=1, max_size=3) if word else st.sampled_from(",.!?"))
        gap = draw(st.sampled_from([" ", "  ", "\n", "\n\n", " \n"]) if word and prev_word
                   else st.sampled_from(["", "", " ", "\n\n"]))
        parts += [gap, tok]
        pos += len(gap)
        spans.append((pos, pos + len(tok)))
        pos += len(tok)
        prev_word = word
    tail = draw(st.sampled_from(["", "", " ", "\n", "  \n"]))
    parts.append(tail)
    return Answer("".join(parts), tuple(spans))


def split(text: str, cuts: list[int]) -> list[str]:
    points = sorted({c % (len(text) + 1) for c in cuts} | {len(text)})
    out, prev = [], 0
    for p in points:
        out.append(text[prev:p])
        prev = p
    return out


def expected(answer: Answer, pieces: list[str], stops: list[str], max_tokens: int | None
             ) -> tuple[str, str | None]:
    """The cut decided from the text seen after each delta."""
    seen = 0
    for piece in pieces:
        seen += len(piece)
        text = answer.text[:seen]
        hits = [text.find(s) for s in stops if s and s in text]
        stop_at = min(hits) if hits else None
        started = sum(1 for start, _ in answer.spans if start < seen)
        length_at = (answer.spans[max_tokens - 1][1]
                     if max_tokens is not None and started > max_tokens else None)
        if length_at is not None and (stop_at is None or length_at <= stop_at):
            return answer.text[:length_at], "length"
        if stop_at is not None:
            return answer.text[:stop_at], "stop"
    return answer.text, None


def drive(pieces: list[str], stops: list[str], max_tokens: int | None) -> tuple[str, str | None]:
    """Apply what the limiter passes on; check every step stays a prefix of the result."""
    lim = ReplyLimiter(stops, max_tokens)
    out = ""
    history: list[str] = []
    for p in pieces:
        d = lim.feed(TextDelta(p))
        if d is not None:
            out = out[:len(out) - d.replaced] + d.text
            history.append(out)
        if lim.finish_reason is not None:
            break
    else:
        d = lim.flush()
        if d is not None:
            out = out[:len(out) - d.replaced] + d.text
    for h in history:
        assert out.startswith(h), f"passed on {h!r}, then settled on {out!r}"
    return out, lim.finish_reason


STOPS = st.lists(st.sampled_from(["a", "b ", "é9", ", ", "\n\n", "!", "a b", " ,", "zz"]),
                 max_size=3)


@given(answers(), st.lists(st.integers(0, 60), max_size=12), STOPS,
       st.one_of(st.none(), st.integers(1, 6)))
def test_cut_is_where_the_seen_text_first_shows_a_stop_or_one_token_too_many(
        answer: Answer, cuts: list[int], stops: list[str], max_tokens: int | None) -> None:
    pieces = split(answer.text, cuts)
    want = expected(answer, pieces, stops, max_tokens)
    assert drive(pieces, stops, max_tokens) == want


@given(answers(), st.lists(st.integers(0, 60), max_size=12), st.integers(1, 6))
def test_a_max_tokens_cut_keeps_no_whitespace_and_says_length(
        answer: Answer, cuts: list[int], max_tokens: int) -> None:
    pieces = split(answer.text, cuts)
    out, reason = drive(pieces, [], max_tokens)
    if len(answer.spans) > max_tokens:
        assert reason == "length"
        assert out == answer.text[:answer.spans[max_tokens - 1][1]]
        assert out == out.rstrip()
    else:
        assert (out, reason) == (answer.text, None)


@given(answers(), st.lists(st.integers(0, 60), max_size=12), STOPS,
       st.one_of(st.none(), st.integers(1, 6)), st.text("xy", max_size=3))
async def test_limit_stream_ends_with_the_cut_text_its_reason_and_the_job_metadata(
        answer: Answer, cuts: list[int], stops: list[str], max_tokens: int | None,
        model: str) -> None:
    pieces = split(answer.text, cuts)
    want_text, want_reason = expected(answer, pieces, stops, max_tokens)
    closed: list[bool] = []

    async def source() -> AsyncGenerator[StreamEvent, None]:
        try:
            yield ProcessStarted(None)
            for p in pieces:
                yield TextDelta(p)
            yield Finished(answer.text, model="upstream")
        finally:
            closed.append(True)

    events = [e async for e in limit_stream(source(), stop=stops, max_tokens=max_tokens,
                                            model=model, space_id="o/s")]
    text = ""
    for e in events:
        if isinstance(e, TextDelta):
            text = text[:len(text) - e.replaced] + e.text
    assert events[0] == ProcessStarted(None)
    assert text == want_text
    final = events[-1]
    if want_reason is None:
        assert final == Finished(answer.text, model="upstream")  # passed through as is
    else:
        assert final == Finished(want_text, finish_reason=want_reason, model=model,
                                 space_id="o/s")
    assert closed == [True]


def test_a_stop_that_appears_twice_in_one_delta_cuts_at_the_first() -> None:
    assert drive(["say STOP and STOP again"], ["STOP"], None) == ("say ", "stop")


def test_a_one_character_stop_at_position_zero_cuts_everything() -> None:
    assert drive(["x", "yz"], ["x"], None) == ("", "stop")
    assert drive(["xyz"], ["x"], None) == ("", "stop")


def test_text_that_cannot_start_a_stop_is_passed_on_at_once() -> None:
    """The hold-back is one less than the longest stop: "ab" holds back only one char."""
    lim = ReplyLimiter(["ab"])
    assert lim.feed(TextDelta("xyz")) == TextDelta("xy")
    assert lim.feed(TextDelta("q")) == TextDelta("z")
    assert lim.flush() == TextDelta("q")


def test_an_empty_delta_passes_nothing_on() -> None:
    lim = ReplyLimiter(["ab"], 5)
    assert lim.feed(TextDelta("")) is None
    assert lim.feed(TextDelta("x y")) == TextDelta("x ")
    assert lim.feed(TextDelta("")) is None
    assert lim.flush() == TextDelta("y")
    assert lim.flush() is None


def test_a_plain_stream_never_says_it_replaced_anything() -> None:
    lim = ReplyLimiter(["STOP"], 100)
    for word in ["one ", "two ", "three"]:
        d = lim.feed(TextDelta(word))
        assert d is None or d.replaced == 0
    d = lim.flush()
    assert d is not None and d.replaced == 0


def test_a_rewrite_of_text_already_passed_on_is_passed_on_as_a_rewrite() -> None:
    lim = ReplyLimiter(["STOP"])
    assert lim.feed(TextDelta("hello world")) == TextDelta("hello wo")
    # The Space rewrote "world" (5 chars) as "there": 2 of them were passed on.
    assert lim.feed(TextDelta("there", replaced=5)) == TextDelta("th", replaced=2)
    assert lim.text == "hello there"
    assert lim.flush() == TextDelta("ere")


def test_a_rewrite_is_searched_again_for_stops_from_the_start() -> None:
    lim = ReplyLimiter(["ab"])
    assert lim.feed(TextDelta("xxxx")) == TextDelta("xxx")
    d = lim.feed(TextDelta("ab", replaced=4))
    assert lim.finish_reason == "stop"
    assert d == TextDelta("", replaced=3)
    assert lim.text[:lim.sent] == ""


def test_a_rewrite_recounts_tokens_from_the_start() -> None:
    lim = ReplyLimiter(max_tokens=2)
    assert lim.feed(TextDelta("one two")) == TextDelta("one two")
    d = lim.feed(TextDelta("1 2 3", replaced=7))
    assert lim.finish_reason == "length"
    assert d == TextDelta("1 2", replaced=7)


def test_a_rewrite_within_held_text_changes_nothing_passed_on() -> None:
    lim = ReplyLimiter(["STOP"])
    assert lim.feed(TextDelta("abcdef")) == TextDelta("abc")
    assert lim.feed(TextDelta("X", replaced=1)) is None
    assert lim.flush() == TextDelta("deX")


async def test_limit_stream_passes_held_text_on_before_finished() -> None:
    async def source() -> AsyncGenerator[StreamEvent, None]:
        yield TextDelta("no stop here")
        yield Finished("no stop here")

    events = [e async for e in limit_stream(source(), stop=["STOP"])]
    assert events == [TextDelta("no stop h"), TextDelta("ere"), Finished("no stop here")]


async def test_limit_stream_applies_max_tokens() -> None:
    async def source() -> AsyncGenerator[StreamEvent, None]:
        yield TextDelta("one two three")
        yield Finished("one two three")

    events = [e async for e in limit_stream(source(), max_tokens=2)]
    assert events == [TextDelta("one two"), Finished("one two", finish_reason="length")]


def test_bad_limits_say_what_is_expected() -> None:
    with pytest.raises(ValueError) as exc:
        ReplyLimiter(max_tokens=0)
    assert str(exc.value) == "max_tokens must be >= 1"
    with pytest.raises(ValueError) as exc:
        ReplyLimiter(stop=["ok", 3])  # type: ignore[list-item]
    assert str(exc.value) == "stop must be a list of strings"


def test_a_stop_right_after_the_last_allowed_token_reports_length() -> None:
    """"a b" is the kept text either way; the third token shows the limit was exceeded."""
    assert drive(["a b\n\nc"], ["\n\n"], 2) == ("a b", "length")
    assert drive(["a b\n\n"], ["\n\n"], 2) == ("a b", "stop")  # no third token seen


def test_whitespace_before_a_token_too_many_is_never_passed_on() -> None:
    lim = ReplyLimiter(max_tokens=1)
    assert lim.feed(TextDelta("one")) == TextDelta("one")
    assert lim.feed(TextDelta(" \n")) is None
    assert lim.feed(TextDelta("two")) is None
    assert lim.finish_reason == "length"
    assert lim.text[:lim.sent] == "one"


def test_a_rewrite_is_searched_for_a_one_character_stop_from_its_first_character() -> None:
    lim = ReplyLimiter(["x"])
    assert lim.feed(TextDelta("ab")) == TextDelta("ab")
    assert lim.feed(TextDelta("xa", replaced=2)) == TextDelta("", replaced=2)
    assert lim.finish_reason == "stop"


def test_a_rewrite_counts_its_first_token_whole() -> None:
    lim = ReplyLimiter(max_tokens=2)
    assert lim.feed(TextDelta("ab")) == TextDelta("ab")
    assert lim.feed(TextDelta("12 3 4", replaced=2)) == TextDelta("12 3", replaced=2)
    assert lim.finish_reason == "length"
