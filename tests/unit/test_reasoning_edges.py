"""``reasoning.py`` at its edges: rewrites, tags that appear twice, text held back when the
reply ends, and how ``shape_reply`` combines the footer cut and the think split.

Oracles: a :class:`TextDelta` means "drop ``replaced`` trailing characters of what you have,
then append ``text``", for the upstream text as for what the consumer gets; the footer cut
passes the answer up to the first marker and holds back only a suffix that could still
become the marker; ``<think>…</think>`` ends at the first ``</think>``, and the answer is
what follows minus its leading newlines; ``Finished`` carries the answer and reasoning as
the consumer received them.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncGenerator
from typing import Any

from hypothesis import given
from hypothesis import strategies as st

from qwen_spaces.events import Finished, ReasoningDelta, StreamEvent, TextDelta
from qwen_spaces.reasoning import EndCut, ThinkSplitter, shape_reply

MARK = "\n<summary>"


def apply(text: str, delta: TextDelta | ReasoningDelta) -> str:
    return text[:len(text) - delta.replaced] + delta.text


def feed_all(splitter: ThinkSplitter, *deltas: TextDelta) -> list[StreamEvent]:
    out: list[StreamEvent] = []
    for d in deltas:
        out += splitter.feed(d)
    return out


# -- ThinkSplitter ----------------------------------------------------------------------------
def test_reasoning_ends_at_the_first_close_tag() -> None:
    splitter = ThinkSplitter()
    out = feed_all(splitter, TextDelta("<think>a</think>b</think>c"))
    assert out == [ReasoningDelta("a"), TextDelta("b</think>c")]


def test_only_newlines_are_stripped_after_the_close_tag() -> None:
    splitter = ThinkSplitter()
    out = feed_all(splitter, TextDelta("<think>t</think>\n\n"), TextDelta("Xavier"))
    assert out == [ReasoningDelta("t"), TextDelta("Xavier")]
    splitter = ThinkSplitter()
    assert feed_all(splitter, TextDelta("<think>t</think>\n XX")) == [
        ReasoningDelta("t"), TextDelta(" XX")]


def test_a_close_tag_cut_short_by_the_end_of_the_reply_is_reasoning() -> None:
    """An unclosed ``<think>`` makes the rest reasoning, including the held-back start of
    what looked like ``</think>``."""
    splitter = ThinkSplitter()
    assert feed_all(splitter, TextDelta("<think>plan</thi")) == [ReasoningDelta("plan")]
    assert splitter.finish() == [ReasoningDelta("</thi")]
    assert (splitter.reasoning, splitter.answer) == ("plan</thi", "")


def test_after_finish_nothing_is_held_back_any_more() -> None:
    for text in ("<think>plan</thi", "  <thi"):
        splitter = ThinkSplitter()
        feed_all(splitter, TextDelta(text))
        assert splitter.finish() != []
        assert splitter.finish() == []


def test_a_rewrite_of_the_whole_answer_passes_on() -> None:
    splitter = ThinkSplitter()
    feed_all(splitter, TextDelta("<think>r</think>ab"))
    assert splitter.feed(TextDelta("XY", replaced=2)) == [TextDelta("XY", replaced=2)]
    assert splitter.answer == "XY"


def test_a_rewrite_reaching_into_the_reasoning_keeps_what_was_sent_and_goes_on_as_answer(
        ) -> None:
    splitter = ThinkSplitter()
    feed_all(splitter, TextDelta("<think>r</think>ab"))
    assert splitter.feed(TextDelta("XY", replaced=5)) == [TextDelta("XY")]
    assert splitter.feed(TextDelta("\nZ")) == [TextDelta("\nZ")]
    assert (splitter.answer, splitter.reasoning) == ("abXY\nZ", "r")


def test_a_rewrite_while_still_thinking_turns_the_rest_into_answer_as_sent() -> None:
    splitter = ThinkSplitter()
    feed_all(splitter, TextDelta("<think>plan"))
    assert splitter.feed(TextDelta("PLAN", replaced=4)) == [TextDelta("PLAN")]
    assert splitter.feed(TextDelta("\n\nmore")) == [TextDelta("\n\nmore")]
    assert splitter.finish() == []
    assert (splitter.answer, splitter.reasoning) == ("PLAN\n\nmore", "plan")


# -- EndCut -----------------------------------------------------------------------------------
def held(text: str) -> int:
    """The longest suffix of ``text`` that is a proper prefix of the marker."""
    return max(n for n in range(len(MARK)) if text.endswith(MARK[:n]))


OPS = st.lists(st.one_of(
    st.tuples(st.just(0), st.text(alphabet="ab\n<sumary>", max_size=12)),
    st.tuples(st.integers(1, 12), st.text(alphabet="ab\n<sumary>", max_size=12)),
), max_size=8)


@given(OPS)
def test_end_cut_with_rewrites_passes_the_answer_up_to_the_first_marker(
        ops: list[tuple[int, str]]) -> None:
    """Upstream appends and rewrites (``replaced`` > 0); at every step the consumer has the
    upstream text up to the marker, less only a suffix that could still become it; once the
    marker has been seen the answer is over."""
    cut = EndCut(MARK)
    upstream, got, ended = "", "", None
    for replaced, text in ops:
        replaced = min(replaced, len(upstream))
        if not text and not replaced:
            continue
        upstream = apply(upstream, TextDelta(text, replaced))
        delta = cut.feed(TextDelta(text, replaced=replaced))
        if delta is not None:
            assert delta.text or delta.replaced, "an empty delta"
            got = apply(got, delta)
        if ended is None and MARK in upstream:
            ended = upstream[:upstream.index(MARK)]
        expected = ended if ended is not None else upstream[:len(upstream) - held(upstream)]
        assert got == expected == cut.text
    last = cut.finish()
    if last is not None:
        assert last.text and not last.replaced
        got = apply(got, last)
    assert got == (ended if ended is not None else upstream) == cut.text


def test_end_cut_rewrite_of_text_that_is_partly_held_back() -> None:
    cut = EndCut(MARK)
    assert cut.feed(TextDelta("abc\n<su")) == TextDelta("abc")
    # Upstream now "abc\n<sX": no longer the marker's start, all of it is answer.
    assert cut.feed(TextDelta("X", replaced=1)) == TextDelta("\n<sX")
    assert cut.text == "abc\n<sX"


def test_end_cut_rewrite_that_ends_on_a_marker_start_holds_it_back() -> None:
    cut = EndCut(MARK)
    assert cut.feed(TextDelta("abc")) == TextDelta("abc")
    assert cut.feed(TextDelta("X\n<su", replaced=1)) == TextDelta("X", replaced=1)
    assert cut.feed(TextDelta("mmary>3 tokens</summary>")) is None
    assert cut.finish() is None and cut.text == "abX"


def test_end_cut_rewrite_with_the_marker_first_takes_back_everything() -> None:
    cut = EndCut(MARK)
    cut.feed(TextDelta("abc"))
    assert cut.feed(TextDelta("\n<summary>x", replaced=3)) == TextDelta("", replaced=3)
    assert cut.text == ""


def test_end_cut_rewrite_cuts_at_the_first_of_two_markers() -> None:
    cut = EndCut(MARK)
    cut.feed(TextDelta("abc"))
    assert cut.feed(TextDelta("Xd\n<summary>e\n<summary>f", replaced=2)) == TextDelta(
        "Xd", replaced=2)
    assert cut.text == "aXd"


def test_end_cut_rewrite_says_exactly_how_much_it_replaces() -> None:
    for before, replaced, new, delta in [
        ("abc", 3, "Xbc", TextDelta("Xbc", replaced=3)),  # the first character differs
        ("abc", 2, "Xc", TextDelta("Xc", replaced=2)),  # a middle one
        ("abc", 1, "cd", TextDelta("d")),  # the same last character, then more
        ("abcd", 2, "c", TextDelta("", replaced=1)),  # shorter
    ]:
        cut = EndCut(MARK)
        cut.feed(TextDelta(before))
        assert cut.feed(TextDelta(new, replaced=replaced)) == delta, (before, replaced, new)


def test_end_cut_cuts_at_the_first_of_two_markers_in_one_delta() -> None:
    cut = EndCut(MARK)
    assert cut.feed(TextDelta("a\n<summary>b\n<summary>c")) == TextDelta("a")
    assert cut.text == "a"


def test_end_cut_after_finish_holds_nothing_back_any_more() -> None:
    cut = EndCut(MARK)
    cut.feed(TextDelta("abc\n<su"))
    assert cut.finish() == TextDelta("\n<su")
    assert cut.finish() is None
    assert cut.text == "abc\n<su"


def test_end_cut_sends_no_empty_deltas() -> None:
    cut = EndCut(MARK)
    assert cut.feed(TextDelta("\n<sum")) is None  # all held back
    assert cut.feed(TextDelta("mary>")) is None  # the marker: nothing before it
    cut = EndCut(MARK)
    assert cut.feed(TextDelta("done")) == TextDelta("done")
    assert cut.finish() is None  # nothing held back


# -- shape_reply ------------------------------------------------------------------------------
async def _events(items: list[StreamEvent]) -> AsyncGenerator[StreamEvent, None]:
    for item in items:
        yield item


def shape(items: list[StreamEvent], **kw: Any) -> list[StreamEvent]:
    async def run() -> list[StreamEvent]:
        return [e async for e in shape_reply(_events(items), **kw)]
    return asyncio.run(run())


def received(out: list[StreamEvent]) -> tuple[str, str, Finished]:
    """The answer and reasoning as a consumer rebuilds them, and the final event."""
    answer = thought = ""
    for e in out:
        if isinstance(e, TextDelta):
            answer = apply(answer, e)
        elif isinstance(e, ReasoningDelta):
            thought = apply(thought, e)
    final = out[-1]
    assert isinstance(final, Finished)
    return answer, thought, final


def test_without_think_tags_a_think_tag_is_answer_text() -> None:
    raw = "<think>x</think>answer\n<summary>3</summary>"
    out = shape([TextDelta(raw), Finished(text=raw)], think_tags=False, answer_end=MARK)
    answer, thought, final = received(out)
    assert answer == final.text == "<think>x</think>answer"
    assert thought == final.reasoning == ""


def test_without_either_the_stream_passes_unchanged() -> None:
    items: list[StreamEvent] = [ReasoningDelta("r"), TextDelta("<think>a"),
                                TextDelta("b\n<summary>c"), Finished(text="x", reasoning="r")]
    assert shape(items, think_tags=False, answer_end=None) == items


def test_a_marker_start_held_back_at_the_end_is_answer_text() -> None:
    for think_tags in (False, True):
        raw = "<think>t</think>ok\n<sum"
        out = shape([TextDelta(raw), Finished(text=raw)], think_tags=think_tags,
                    answer_end=MARK)
        answer, thought, final = received(out)
        expected = "ok\n<sum" if think_tags else raw
        assert answer == final.text == expected, think_tags
        assert thought == final.reasoning == ("t" if think_tags else "")


def test_the_footer_is_cut_from_the_final_text_too() -> None:
    out = shape([TextDelta("ans"), TextDelta("wer\n<summary>1"),
                 Finished(text="answer\n<summary>1</summary>")], think_tags=False,
                answer_end=MARK)
    answer, _, final = received(out)
    assert answer == final.text == "answer"


def test_reasoning_from_the_panel_and_from_think_tags_is_what_the_consumer_got() -> None:
    """Qwen3-Demo has both: the thinking panel (ReasoningDelta from the tracker) and think
    tags in the answer text; the panel's comes first, as the Space sends it."""
    items: list[StreamEvent] = [ReasoningDelta("panel. "), TextDelta("<think>inline"),
                                TextDelta("</think>\n\nok"),
                                Finished(text="<think>inline</think>\n\nok",
                                         reasoning="panel. ")]
    answer, thought, final = received(shape(items, think_tags=True, answer_end=None))
    assert (answer, thought) == ("ok", "panel. inline")
    assert (final.text, final.reasoning) == (answer, thought)
