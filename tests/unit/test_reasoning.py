"""Reasoning apart from the answer: ``<think>`` splitting, the footer cut, the pro chatbot's
thinking panel, and the whole shaping of a stream. Any chunking must give the same split."""

from __future__ import annotations

import asyncio
import itertools
from collections.abc import AsyncGenerator
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from qwen_spaces import SpaceClient
from qwen_spaces.client import _coalesce
from qwen_spaces.events import Finished, QueuePosition, ReasoningDelta, StreamEvent, TextDelta
from qwen_spaces.reasoning import EndCut, ThinkSplitter, shape_reply
from qwen_spaces.reply import ReplyTracker, extract_pro


def chunked(text: str, cuts: list[int]) -> list[str]:
    points = sorted({c % (len(text) + 1) for c in cuts} | {0, len(text)})
    return [text[a:b] for a, b in itertools.pairwise(points) if b > a]


def split_all(pieces: list[str]) -> tuple[str, str, list[Any]]:
    splitter = ThinkSplitter()
    events: list[Any] = []
    for piece in pieces:
        events += splitter.feed(TextDelta(piece))
    events += splitter.finish()
    answer = "".join(e.text for e in events if isinstance(e, TextDelta))
    thought = "".join(e.text for e in events if isinstance(e, ReasoningDelta))
    assert (answer, thought) == (splitter.answer, splitter.reasoning)
    return answer, thought, events


# Reference split, written independently of the streaming class: a reply that starts (after
# whitespace) with <think> has reasoning up to </think>, then the answer minus its leading
# newlines; an unclosed <think> makes it all reasoning; anything else is all answer.
def reference(text: str) -> tuple[str, str]:
    lead = text.lstrip()
    if not lead.startswith("<think>"):
        return text, ""
    body = lead[len("<think>"):]
    if "</think>" not in body:
        return "", body
    thought, _, answer = body.partition("</think>")
    return answer.lstrip("\n"), thought


REPLIES = st.one_of(
    st.text(alphabet="ab<>/thinkc \n", max_size=40),
    st.builds(lambda pre, t, a: f"{pre}<think>{t}</think>{a}", st.sampled_from(["", " ", "\n"]),
              st.text(alphabet="ab<>/thinkc \n", max_size=30),
              st.text(alphabet="ab<>/thinkc \n", max_size=30)),
    st.builds(lambda t: f"<think>{t}", st.text(alphabet="ab</thinkc>\n", max_size=30)),
)


@given(REPLIES, st.lists(st.integers(0, 200), max_size=12))
def test_any_chunking_splits_reasoning_and_answer_as_the_reference(text: str,
                                                                   cuts: list[int]) -> None:
    answer, thought, events = split_all(chunked(text, cuts))
    assert (answer, thought) == reference(text)
    assert all(e.text for e in events)  # no empty deltas


def test_qwen3_inline_thinking() -> None:
    text = "<think>\nThe user greets me.\n</think>\n\nHello! How can I help?"
    for size in (1, 2, 3, 7, len(text)):
        answer, thought, events = split_all([text[i:i + size] for i in range(0, len(text), size)])
        assert thought == "\nThe user greets me.\n"
        assert answer == "Hello! How can I help?"
        kinds = [type(e) for e in events]
        assert kinds.index(TextDelta) > max(i for i, k in enumerate(kinds) if k is ReasoningDelta)


def test_think_tag_later_in_the_reply_is_answer_text() -> None:
    assert split_all(["Use <think> tags like <think>x</think>."])[:2] == (
        "Use <think> tags like <think>x</think>.", "")
    assert split_all(["<thi", "nking>"])[:2] == ("<thinking>", "")
    assert split_all(["  <thi"])[:2] == ("  <thi", "")  # ended while it could still be a tag


def test_a_rewrite_inside_the_answer_passes_on() -> None:
    splitter = ThinkSplitter()
    splitter.feed(TextDelta("<think>r</think>abc"))
    assert splitter.feed(TextDelta("XY", replaced=2)) == [TextDelta("XY", replaced=2)]
    assert (splitter.answer, splitter.reasoning) == ("aXY", "r")


@given(st.text(alphabet="ab\n<summary>", max_size=40), st.lists(st.integers(0, 100), max_size=10))
def test_end_cut_drops_the_footer_whatever_the_chunking(text: str, cuts: list[int]) -> None:
    cut = EndCut("\n<summary>")
    out = []
    for piece in chunked(text, cuts):
        delta = cut.feed(TextDelta(piece))
        if delta is not None:
            out.append(delta.text)
    last = cut.finish()
    if last is not None:
        out.append(last.text)
    assert "".join(out) == text.split("\n<summary>")[0] == cut.text


def test_end_cut_on_a_rewrite_recuts_the_whole_answer() -> None:
    cut = EndCut("\n<summary>")
    assert cut.feed(TextDelta("hello wor")) == TextDelta("hello wor")
    assert cut.feed(TextDelta("WORLD\n<summary>3 tokens", replaced=3)) == \
        TextDelta("WORLD", replaced=3)
    assert cut.text == "hello WORLD"
    assert cut.feed(TextDelta("more")) is None


# -- the pro chatbot (Qwen3-Demo) ----------------------------------------------------------
def pro_value(thought: str | None, answer: str | None, title: str = "Thinking...") -> list[Any]:
    content: list[dict[str, Any]] = []
    if thought is not None:
        content.append({"type": "tool", "content": thought,
                        "options": {"title": title, "status": "pending"}})
    if answer is not None:
        content.append({"type": "text", "content": answer})
    return [{"role": "user", "content": "hi", "key": "u1"},
            {"role": "assistant", "content": content, "key": "a1", "loading": True,
             "status": "pending", "header": "qwen3-235b-a22b"}]


def test_extract_pro_separates_the_thinking_panel_from_the_answer() -> None:
    value = pro_value("step 1", "Hello")
    assert extract_pro(value) == (("Hello", [1, "content", 1, "content"]),
                                  ("step 1", [1, "content", 0, "content"]))
    assert extract_pro(pro_value(None, "Hi")) == (("Hi", [1, "content", 0, "content"]),
                                                  ("", None))
    earlier = [{"role": "assistant", "content": [{"type": "text", "content": "old"}]},
               *pro_value("t", "new")]
    assert extract_pro(earlier)[0][0] == "new"  # only the reply after the last user turn
    files = pro_value(None, "a")
    files[1]["content"].insert(0, {"type": "file", "content": "x.png"})
    assert extract_pro(files)[0][0] == "a"
    assert extract_pro([{"role": "assistant", "content": "plain"}]) == (
        ("plain", [0, "content"]), ("", None))


def test_tracker_streams_reasoning_then_answer_through_diffs() -> None:
    tracker = ReplyTracker("pro_chatbot")
    events = tracker.full(pro_value("", None))
    think = [1, "content", 0, "content"]
    events += tracker.edits([["append", think, "I should "]])
    events += tracker.edits([["append", think, "greet."]])
    # The retitle and the answer entry arrive in one frame, then the answer grows.
    events += tracker.edits([["replace", [1, "content", 0, "options", "title"], "End of Thought"],
                             ["add", [1, "content", 1], {"type": "text", "content": "He"}]])
    events += tracker.edits([["append", [1, "content", 1, "content"], "llo"]])
    assert tracker.append_only([["append", [1, "content", 1, "content"], "!"]]) == "!"
    events += tracker.full(pro_value("I should greet.", "Hello!", "End of Thought"))
    assert events == [ReasoningDelta("I should "), ReasoningDelta("greet."), TextDelta("He"),
                      TextDelta("llo")]
    assert (tracker.text, tracker.reasoning) == ("Hello!", "I should greet.")


def test_tracker_reasoning_and_answer_appends_in_one_frame() -> None:
    tracker = ReplyTracker("pro_chatbot")
    tracker.full(pro_value("a", "b"))
    events = tracker.edits([["append", [1, "content", 0, "content"], "A"],
                            ["append", [1, "content", 1, "content"], "B"]])
    assert events == [ReasoningDelta("A"), TextDelta("B")]
    # A later edit elsewhere brings the queued appends into the value first.
    events = tracker.edits([["replace", [1, "status"], "done"]])
    assert events == []
    assert tracker.full(pro_value("aA", "bB")) == []


def test_a_rewritten_reasoning_says_how_much_it_replaces() -> None:
    tracker = ReplyTracker("pro_chatbot")
    tracker.full(pro_value("draft", "x"))
    assert tracker.full(pro_value("dream", "x")) == [ReasoningDelta("eam", replaced=3)]


# -- shaping a whole stream ------------------------------------------------------------------
async def _events(items: list[StreamEvent]) -> AsyncGenerator[StreamEvent, None]:
    for item in items:
        yield item


def _shape(items: list[StreamEvent], **kw: Any) -> list[StreamEvent]:
    async def run() -> list[StreamEvent]:
        return [e async for e in shape_reply(_events(items), **kw)]
    return asyncio.run(run())


def test_shaped_finished_carries_the_answer_and_reasoning_the_consumer_got() -> None:
    raw = "<think>plan</think>\n\nanswer\n<summary>12 tokens</summary>"
    items: list[StreamEvent] = [TextDelta(raw[i:i + 5]) for i in range(0, len(raw), 5)]
    items.append(Finished(text=raw, reasoning=""))
    out = _shape(items, think_tags=True, answer_end="\n<summary>")
    final = out[-1]
    assert isinstance(final, Finished)
    assert (final.text, final.reasoning) == ("answer", "plan")
    assert "".join(e.text for e in out if isinstance(e, TextDelta)) == "answer"
    assert "".join(e.text for e in out if isinstance(e, ReasoningDelta)) == "plan"


@pytest.mark.parametrize("kw", [{"think_tags": True, "answer_end": None},
                                {"think_tags": False, "answer_end": "\n<summary>"}])
def test_shaping_keeps_a_pro_chatbot_reasoning_and_other_events(kw: dict[str, Any]) -> None:
    items: list[StreamEvent] = [ReasoningDelta("r"), TextDelta("ok"),
                                Finished(text="ok", reasoning="r")]
    out = _shape(items, **kw)
    assert out[0] == ReasoningDelta("r")
    final = out[-1]
    assert isinstance(final, Finished) and (final.text, final.reasoning) == ("ok", "r")


# -- tools never read the reasoning ------------------------------------------------------
class _ScriptedSpace(SpaceClient):
    """A client whose Space stream is a script: it injects what no replica produces (a
    thinking phase that spells out a tool call) into the real tool-call pipeline."""

    def __init__(self, events: list[StreamEvent]) -> None:
        super().__init__(read_env_token=False)
        self.script = events

    async def _stream_job(self, job: Any) -> AsyncGenerator[StreamEvent, None]:
        for event in self.script:
            yield event


def test_a_tool_call_spelled_out_in_the_thinking_is_not_a_call() -> None:
    call = '<tool_call>\n{"name": "add", "arguments": {"a": 1}}\n</tool_call>'
    thought = f"I could write {call} but no."
    client = _ScriptedSpace([ReasoningDelta(f"I could write {call} but"), ReasoningDelta(" no."),
                             TextDelta("Plain answer."),
                             Finished(text="Plain answer.", reasoning=thought)])
    tools = [{"type": "function", "function": {"name": "add", "parameters": {
        "type": "object", "properties": {"a": {"type": "integer"}}}}}]
    final = client.chat("qwen-3", [{"role": "user", "content": "hi"}], tools=tools)
    assert final.tool_calls == () and final.invalid_tool_calls == ()
    assert final.text == "Plain answer." and final.finish_reason == "stop"
    events = list(client.stream("qwen-3", [{"role": "user", "content": "hi"}], tools=tools))
    assert [e for e in events if isinstance(e, ReasoningDelta)] == [
        ReasoningDelta(f"I could write {call} but"), ReasoningDelta(" no.")]


def test_an_update_without_a_value_leaves_the_reply_as_it_was() -> None:
    """``gr.update()`` with no value means "unchanged" in Gradio: nothing is taken back."""
    tracker = ReplyTracker("pro_chatbot")
    value = pro_value("think", "Hello")
    tracker.full({"__type__": "update", "value": value})
    assert tracker.full({"__type__": "update", "visible": True}) == []
    assert (tracker.text, tracker.reasoning) == ("Hello", "think")
    # Back to a value: only what is new streams.
    assert tracker.full({"__type__": "update", "value": pro_value("think", "Hello!")}) == [
        TextDelta("!")]


def test_a_message_whose_content_is_one_entry_not_a_list() -> None:
    one = [{"role": "user", "content": "hi"},
           {"role": "assistant", "content": {"type": "tool", "content": "pondering"}}]
    assert extract_pro(one) == (("", None), ("pondering", [1, "content", "content"]))
    one[1]["content"] = {"type": "text", "content": "Hi"}
    assert extract_pro(one) == (("Hi", [1, "content", "content"]), ("", None))


_DELTAS = st.lists(st.one_of(
    st.builds(TextDelta, st.text(max_size=3), st.sampled_from([0, 0, 2])),
    st.builds(ReasoningDelta, st.text(max_size=3), st.sampled_from([0, 0, 1])),
    st.builds(QueuePosition, st.integers(0, 3), st.none(), st.none())), max_size=12)


@given(_DELTAS)
def test_one_read_coalesces_runs_of_text_and_of_reasoning_apart(events: list[Any]) -> None:
    """What one socket read decoded goes up as one delta per run of a kind: the same text on
    each channel, in the same order, status events and rewrites where they were."""
    out = _coalesce(list(events))

    def replay(seq: list[Any]) -> tuple[str, str]:
        text = thought = ""
        for e in seq:
            if isinstance(e, TextDelta):
                text = text[:len(text) - e.replaced] + e.text
            elif isinstance(e, ReasoningDelta):
                thought = thought[:len(thought) - e.replaced] + e.text
        return text, thought

    assert replay(out) == replay(events)
    kept = [e for e in events if not isinstance(e, TextDelta | ReasoningDelta) or e.replaced]
    assert [e for e in out if not isinstance(e, TextDelta | ReasoningDelta) or e.replaced] \
        == kept
    for a, b in itertools.pairwise(out):
        assert not (type(a) is type(b) and isinstance(a, TextDelta | ReasoningDelta)
                    and not a.replaced and not b.replaced)
