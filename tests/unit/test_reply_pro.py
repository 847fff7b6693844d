"""The pro chatbot's second channel and ``gr.update`` outputs, at the edges.

Oracles come from the formats themselves: Gradio sends ``gr.update(value=v)`` as
``{"__type__": "update", "value": v, ...}`` and diffs it under ``"value"`` (its own
``gradio.utils.diff`` is the server here); modelscope_studio's pro chatbot content entries
default to ``type="text"`` and have ``content`` optional; an entry of type ``"tool"`` is the
thinking panel. The answer and reasoning are rebuilt from the deltas, never read back from
the tracker.
"""

from __future__ import annotations

import copy
import itertools
from typing import Any

import pytest
from gradio.utils import diff as gradio_diff

from qwen_spaces.diff import DiffError
from qwen_spaces.events import ReasoningDelta, StreamEvent, TextDelta
from qwen_spaces.reply import ReplyTracker, extract_pro, extract_reply, unwrap_update

THINK = [1, "content", 0, "content"]
ANSWER = [1, "content", 1, "content"]


def update(value: Any, **props: Any) -> dict[str, Any]:
    """What Gradio puts on the wire for ``gr.update(value=value, **props)``."""
    return {"__type__": "update", "value": value, **props}


def pro(thought: str, answer: str | None = None) -> list[Any]:
    content: list[dict[str, Any]] = [{"type": "tool", "content": thought,
                                      "options": {"title": "Thinking..."}}]
    if answer is not None:
        content.append({"type": "text", "content": answer})
    return [{"role": "user", "content": "hi"},
            {"role": "assistant", "content": content, "loading": True}]


def rebuild(events: list[StreamEvent], kind: type) -> str:
    text = ""
    for e in events:
        if type(e) is kind:
            assert isinstance(e, (TextDelta, ReasoningDelta))
            assert e.text or e.replaced, "an empty delta was emitted"
            text = text[:len(text) - e.replaced] + e.text
    return text


# -- gr.update -------------------------------------------------------------------------------
def test_an_update_output_is_read_at_its_value_and_diffs_reach_it_under_value() -> None:
    assert unwrap_update(update([1, 2], visible=True)) == ([1, 2], ["value"])
    assert unwrap_update(update("text")) == ("text", ["value"])


@pytest.mark.parametrize("value", [
    {"__type__": "generic_update", "value": "x"},  # another marker is not gr.update
    {"type": "update", "value": "x"},
    {"value": "x"},
    [{"__type__": "update", "value": "x"}],
    "update",
    None,
])
def test_anything_but_an_update_dict_is_the_value_itself(value: Any) -> None:
    assert unwrap_update(value) == (value, [])


def test_a_pro_chatbot_sent_as_updates_streams_through_gradios_diffs() -> None:
    """Qwen3-Demo's output 5: the thinking grows, then the answer entry appears and grows,
    each frame a whole ``gr.update`` that Gradio diffs against the previous one."""
    thought, answer = "Let me think about it. ", "Hello there, friend!"
    values = [update(pro(""))]
    values += [update(pro(thought[:n])) for n in range(1, len(thought) + 1)]
    values += [update(pro(thought, answer[:n])) for n in range(len(answer) + 1)]
    tracker = ReplyTracker("pro_chatbot")
    events = tracker.full(copy.deepcopy(values[0]))
    for prev, cur in itertools.pairwise(values):
        events += tracker.edits(gradio_diff(prev, cur))
    assert rebuild(events, ReasoningDelta) == thought
    assert rebuild(events, TextDelta) == answer
    assert tracker.full(copy.deepcopy(values[-1])) == []  # the final value adds nothing


def test_reasoning_appends_are_not_reparsed(monkeypatch: pytest.MonkeyPatch) -> None:
    """Work per token is the token on the reasoning channel too (Qwen3 thinks for up to
    38000 tokens): the value is re-read only when its shape changes, counted not timed."""
    import qwen_spaces.reply as reply

    calls = 0
    real = reply.extract_pro

    def counting(value: Any) -> Any:
        nonlocal calls
        calls += 1
        return real(value)

    monkeypatch.setattr(reply, "extract_pro", counting)
    tracker = ReplyTracker("pro_chatbot")
    events = tracker.full(update(pro("")))
    think = ["value", *THINK]
    for i in range(500):
        events += tracker.edits([["append", think, f"t{i % 7} "]])
    assert calls == 1
    assert rebuild(events, ReasoningDelta) == "".join(f"t{i % 7} " for i in range(500))
    assert rebuild(events, TextDelta) == ""


# -- the reasoning channel in the tracker ---------------------------------------------------
def test_a_reply_without_a_thinking_panel_streams_only_the_answer() -> None:
    value = [{"role": "user", "content": "hi"},
             {"role": "assistant", "content": [{"type": "text", "content": "Hel"}]}]
    tracker = ReplyTracker("pro_chatbot")
    assert tracker.full(value) == [TextDelta("Hel")]
    assert tracker.edits([["append", [1, "content", 0, "content"], "lo"]]) == [TextDelta("lo")]
    assert (tracker.text, tracker.reasoning) == ("Hello", "")


def test_two_reasoning_appends_in_one_frame_are_one_delta() -> None:
    tracker = ReplyTracker("pro_chatbot")
    tracker.full(pro("a"))
    assert tracker.edits([["append", THINK, "b"], ["append", THINK, "c"]]) == [
        ReasoningDelta("bc")]
    assert tracker.reasoning == "abc"


def test_a_replace_of_the_thinking_text_takes_back_what_changed() -> None:
    """Only an append extends the reasoning; a replace at the same path is a rewrite."""
    tracker = ReplyTracker("pro_chatbot")
    tracker.full(pro("draft"))
    assert tracker.edits([["replace", THINK, "dream"]]) == [ReasoningDelta("eam", replaced=3)]
    assert tracker.reasoning == "dream"


def test_appends_elsewhere_in_the_message_are_not_reasoning() -> None:
    tracker = ReplyTracker("pro_chatbot")
    tracker.full(pro("plan", "ok"))
    title = [1, "content", 0, "options", "title"]
    assert tracker.edits([["append", title, " (3s)"]]) == []
    assert tracker.edits([["append", [1, "content", 1, "content"], "!"]]) == [TextDelta("!")]
    assert (tracker.text, tracker.reasoning) == ("ok!", "plan")


def test_a_non_string_append_at_the_thinking_leaf_is_an_edit_that_does_not_fit() -> None:
    """An append whose value is not text is no reasoning delta: it is applied to the value
    like any other edit, and a number cannot be appended to a string."""
    tracker = ReplyTracker("pro_chatbot")
    tracker.full(pro("plan"))
    with pytest.raises(DiffError):
        tracker.edits([["append", THINK, 5]])


# -- extract_pro's entries --------------------------------------------------------------------
def test_an_entry_without_a_type_is_answer_text() -> None:
    value = [{"role": "assistant", "content": [{"content": "plain"}]}]
    assert extract_pro(value) == (("plain", [0, "content", 0, "content"]), ("", None))


def test_entries_without_text_content_are_skipped_and_later_ones_still_read() -> None:
    value = [{"role": "user", "content": "q"},
             {"role": "assistant", "content": [
                 "stray",
                 {"type": "tool", "content": None},
                 {"type": "file", "content": [{"path": "x.png"}]},
                 {"type": "tool", "content": "think"},
                 {"type": "text", "content": "answer"},
             ]}]
    assert extract_pro(value) == (("answer", [1, "content", 4, "content"]),
                                  ("think", [1, "content", 3, "content"]))


# -- the tuples chatbot -------------------------------------------------------------------------
def test_a_malformed_item_before_the_last_turn_does_not_change_the_reply() -> None:
    """The reply is the last pair's bot side and the ``[None, bot]`` pairs after it; an item
    that is not a pair earlier in the history is no part of it either way."""
    assert extract_reply(["junk", ["q", "a"], [None, "b"]], "chatbot")[0] == "a\n\nb"
    assert extract_reply(["junk", [None, "a"], [None, "b"]], "chatbot")[0] == "a\n\nb"
