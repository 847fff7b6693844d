"""Answer extraction and streaming against a model of the chatbot value.

A conversation is generated as turns (role, text pieces, and how Gradio renders them: a
string, a list of parts, a ``{"text": ...}`` or ``{"content": ...}`` dict, or tuples pairs).
The model's answer is the text of the trailing assistant turns (the last pair's bot side and
the ``[None, bot]`` pairs just before it, for tuples), non-empty pieces joined by a blank
line. The stream grows that answer piece by piece, sent as Gradio's own diffs; the deltas
must rebuild the model's answer at every step.
"""

from __future__ import annotations

import copy
from dataclasses import dataclass, replace
from typing import Any

import pytest
from gradio.utils import diff as gradio_diff
from hypothesis import given
from hypothesis import strategies as st

from qwen_spaces.diff import DiffError
from qwen_spaces.events import TextDelta
from qwen_spaces.reply import ReplyTracker, extract_reply

FORMS = ["str", "parts", "text_dict", "content_dict"]


@dataclass(frozen=True)
class Turn:
    user: bool
    pieces: tuple[str, ...]
    form: str  # how the content is rendered (tuples ignore it: one string)

    def render(self) -> Any:
        if self.form == "str":
            return "".join(self.pieces)
        if self.form == "parts":
            parts: list[Any] = [{"type": "text", "text": p} for p in self.pieces]
            return [*parts, {"type": "file", "file": {"path": "x.png"}}, "stray"]
        if self.form == "text_dict":
            return {"text": "".join(self.pieces), "files": []}
        return {"content": "".join(self.pieces), "metadata": None}

    def texts(self) -> list[str]:
        return list(self.pieces) if self.form == "parts" else ["".join(self.pieces)]


@dataclass(frozen=True)
class Chat:
    kind: str  # "messages" or "tuples"
    turns: tuple[Turn, ...]

    def render(self) -> Any:
        if self.kind == "messages":
            return [{"role": "user" if t.user else "assistant", "content": t.render()}
                    for t in self.turns]
        pairs: list[Any] = []
        for t in self.turns:  # tuples: a user turn opens a pair; a bot turn fills or adds one
            if t.user:
                pairs.append(["".join(t.pieces), None])
            elif pairs and pairs[-1][1] is None:
                pairs[-1][1] = "".join(t.pieces)
            else:
                pairs.append([None, "".join(t.pieces)])
        return pairs

    def answer(self) -> str:
        reply: list[Turn] = []
        for t in reversed(self.turns):
            if t.user:
                break
            reply.insert(0, t)
        texts = [s for t in reply for s in (t.texts() if self.kind == "messages"
                                            else ["".join(t.pieces)])]
        return "\n\n".join(s for s in texts if s)


piece = st.text("ab é.", min_size=1, max_size=4)


@st.composite
def chats(draw: st.DrawFn) -> Chat:
    kind = draw(st.sampled_from(["messages", "tuples"]))
    turns = [Turn(draw(st.booleans()), tuple(draw(st.lists(piece, max_size=3))),
                  draw(st.sampled_from(FORMS)))
             for _ in range(draw(st.integers(0, 3)))]
    turns.append(Turn(True, ("q",), "str"))
    for _ in range(draw(st.integers(1, 3))):
        turns.append(Turn(False, tuple(draw(st.lists(piece, min_size=1, max_size=3))),
                          draw(st.sampled_from(FORMS))))
    return Chat(kind, tuple(turns))


def growth(chat: Chat) -> list[Chat]:
    """Snapshots of the answer growing: each reply turn's pieces one more character at a
    time, with later reply turns not yet there."""
    first = next(i for i in range(len(chat.turns) - 1, -1, -1) if chat.turns[i].user) + 1
    out = [Chat(chat.kind, chat.turns[:first])]
    for i in range(first, len(chat.turns)):
        turn = chat.turns[i]
        for j in range(len(turn.pieces)):
            for n in range(1, len(turn.pieces[j]) + 1):
                part = replace(turn, pieces=(*turn.pieces[:j], turn.pieces[j][:n]))
                out.append(Chat(chat.kind, (*chat.turns[:i], part)))
    return out


def rebuild(text: str, deltas: list[TextDelta]) -> str:
    for d in deltas:
        assert d.text or d.replaced, "an empty delta was emitted"
        text = text[:len(text) - d.replaced] + d.text
    return text


@given(chats())
def test_the_answer_is_the_trailing_assistant_turns_joined_by_a_blank_line(chat: Chat) -> None:
    text, _ = extract_reply(chat.render(), "chatbot")
    assert text == chat.answer()


@given(chats(), st.booleans())
def test_diffs_of_a_growing_answer_rebuild_it_at_every_step(chat: Chat, hot: bool) -> None:
    steps = growth(chat)
    tracker = ReplyTracker("chatbot")
    prev = steps[0].render()
    got = rebuild("", tracker.full(copy.deepcopy(prev)))
    assert got == steps[0].answer() == tracker.text
    for step in steps[1:]:
        value = step.render()
        edits = gradio_diff(prev, value)
        appended = tracker.append_only(copy.deepcopy(edits)) if hot else None
        if appended is not None:
            got += appended
        else:
            got = rebuild(got, tracker.edits(copy.deepcopy(edits)))
        assert got == step.answer() == tracker.text
        prev = value
    # process_completed carries the full value: nothing new, nothing taken back.
    assert tracker.full(copy.deepcopy(prev)) == []


@given(chats(), st.text("xyz", max_size=6))
def test_a_rewritten_answer_takes_back_exactly_what_changed(chat: Chat, new_tail: str) -> None:
    tracker = ReplyTracker("chatbot")
    before = rebuild("", tracker.full(chat.render()))
    last = chat.turns[-1]
    changed = replace(last, pieces=(*last.pieces[:-1], last.pieces[-1][:1] + new_tail))
    after = Chat(chat.kind, (*chat.turns[:-1], changed))
    assert rebuild(before, tracker.full(after.render())) == after.answer() == tracker.text


def test_a_placeholder_is_never_emitted_and_appends_to_it_are_re_read() -> None:
    tracker = ReplyTracker("chatbot", placeholders=["Thinking..."])
    value: list[Any] = [["q", "Thinking..."]]
    assert tracker.full(value) == []
    assert tracker.append_only([["append", [0, 1], "!"]]) is None
    assert tracker.edits([["replace", [0, 1], "Hi"]]) == [TextDelta("Hi")]
    assert tracker.append_only([["append", [0, 1], " you"]]) == " you"
    assert tracker.text == "Hi you"


def test_append_only_takes_exactly_one_append_at_the_growing_leaf() -> None:
    tracker = ReplyTracker("text")
    tracker.full("ab")
    assert tracker.append_only([]) is None
    assert tracker.append_only([["append", [], "c"], ["append", [], "d"]]) is None
    assert tracker.append_only((["append", [], "c"],)) is None
    assert tracker.append_only([["append", [0], "c"]]) is None
    assert tracker.append_only([["replace", [], "c"]]) is None
    assert tracker.append_only([["append", [], 5]]) is None
    assert tracker.append_only([["append", [], "c"]]) == "c"
    assert tracker.text == "abc"
    # Queued appends are written into the value before any other edit applies to it.
    assert tracker.edits([["append", [], "d"], ["replace", [], "abcdX"]]) == [TextDelta("dX")]


def test_appends_queued_on_a_nested_leaf_are_applied_before_a_structural_edit() -> None:
    tracker = ReplyTracker("chatbot")
    tracker.full([{"role": "user", "content": "q"},
                  {"role": "assistant", "content": [{"type": "text", "text": "a"}]}])
    assert tracker.append_only([["append", [1, "content", 0, "text"], "b"]]) == "b"
    assert tracker.edits([["append", [1, "content", 0, "text"], "c"]]) == [TextDelta("c")]
    out = tracker.edits([["add", [1, "content", 1], {"type": "text", "text": "d"}]])
    assert out == [TextDelta("\n\nd")]
    assert tracker.text == "abc\n\nd"


def test_a_value_that_is_not_a_chatbot_is_a_diff_error() -> None:
    tracker = ReplyTracker("chatbot")
    with pytest.raises(DiffError, match="answer output has an unexpected shape"):
        tracker.full([["q", "a"], []])  # an empty pair has no user side to look at


def test_a_null_answer_counts_as_a_value_only_once_one_arrived() -> None:
    tracker = ReplyTracker("text")
    assert tracker.has_value is False
    assert tracker.full(None) == []
    assert tracker.has_value is True


def test_every_message_from_the_assistant_is_the_answer() -> None:
    value = [{"role": "assistant", "content": "a"}, {"role": "assistant", "content": "b"}]
    assert extract_reply(value, "chatbot") == ("a\n\nb", [1, "content"])


def test_an_empty_last_message_after_text_leaves_no_leaf_to_grow() -> None:
    value = [{"role": "user", "content": "q"}, {"role": "assistant", "content": "a"},
             {"role": "assistant", "content": ""}]
    assert extract_reply(value, "chatbot") == ("a", None)
    assert extract_reply([["q", ""]], "chatbot") == ("", [0, 1])


def test_a_one_element_pair_has_no_bot_side() -> None:
    assert extract_reply([["q"]], "chatbot") == ("", None)


@given(st.text("ab", max_size=12), st.text("xy", min_size=1, max_size=8),
       st.text("ab", max_size=8))
def test_a_rewrite_takes_back_exactly_the_text_after_the_common_prefix(
        common: str, old_tail: str, new_tail: str) -> None:
    """Old and new answers share ``common`` and then differ (``old_tail`` starts with x or
    y, ``new_tail`` with a or b, or is empty)."""
    tracker = ReplyTracker("text")
    assert rebuild("", tracker.full(common + old_tail)) == common + old_tail
    assert tracker.full(common + new_tail) == [TextDelta(new_tail, replaced=len(old_tail))]


def test_a_rewrite_with_nothing_in_common_takes_everything_back() -> None:
    tracker = ReplyTracker("text")
    tracker.full("abc")
    assert tracker.full("xyz") == [TextDelta("xyz", replaced=3)]


def test_several_appends_in_one_frame_are_one_delta_and_empty_ones_none() -> None:
    tracker = ReplyTracker("text")
    tracker.full("a")
    assert tracker.edits([]) == []
    assert tracker.edits([["append", [], "b"], ["append", [], "c"]]) == [TextDelta("bc")]
    assert tracker.edits([["append", [], ""], ["append", [], ""]]) == []
    assert tracker.text == "abc"


def test_bot_only_pairs_are_all_the_answer() -> None:
    value = [[None, "a"], [None, "b"], [None, "c"]]
    assert extract_reply(value, "chatbot") == ("a\n\nb\n\nc", [2, 1])


def test_a_nested_content_leaf_has_its_full_path() -> None:
    value = [{"role": "user", "content": "q"},
             {"role": "assistant", "content": {"content": {"text": "hi"}}}]
    assert extract_reply(value, "chatbot") == ("hi", [1, "content", "content", "text"])
    value[1]["content"] = {"content": "yo"}
    assert extract_reply(value, "chatbot") == ("yo", [1, "content", "content"])


def test_a_chatbot_value_that_is_not_a_list_has_no_answer() -> None:
    assert extract_reply({"role": "assistant", "content": "x"}, "chatbot") == ("", None)
    assert extract_reply("text", "chatbot") == ("", None)
    assert extract_reply([], "chatbot") == ("", None)
