"""A job on a continued Space session (Qwen3-Demo), message by message: the first output
frame must show the user turns the conversation has, else the Space dropped the session
(``SessionLostError``, which the client answers by re-sending the conversation flattened);
and ``Finished.reasoning`` is the thinking the job streamed.

The oracle is the session's own count: a continued conversation of ``n`` earlier turns plus
the new message shows ``n + 1`` user messages, wherever they sit in the chatbot value, and
whether the Space sends the value bare or as ``gr.update(value=...)``.
"""

from __future__ import annotations

from typing import Any

import pytest

from qwen_spaces import Finished, ReasoningDelta, TextDelta
from qwen_spaces.discovery import SpaceAPI
from qwen_spaces.errors import SessionLostError
from qwen_spaces.protocol import JobProtocol

SPACE = "Org/Thinking-Space"
API = SpaceAPI(space=SPACE, root="http://h", api_prefix="", protocol="sse_v3", version="5.29.0",
               api_name="add_message", fn_index=13, trigger_id=31,
               input_roles=("query", "settings", "thinking", "session"), history_format=None,
               history_item="str", reply_output=1, reply_kind="pro_chatbot", diffs=True,
               use_queue=True, call_allowed=True, max_file_size=None, source="config")


def proto(expect_users: int | None) -> JobProtocol:
    p = JobProtocol(API, model="qwen3-32b", expect_users=expect_users)
    p.event_id = "e1"
    return p


def chat(users: int, thought: str = "", answer: str = "") -> dict[str, Any]:
    """The chatbot as Qwen3-Demo sends it: ``gr.update(value=history)``, one finished
    assistant message per earlier user turn, then the reply being written."""
    history: list[Any] = []
    for n in range(users):
        history.append({"role": "user", "content": f"q{n}"})
        if n < users - 1:
            history.append({"role": "assistant",
                            "content": [{"type": "text", "content": f"a{n}"}]})
    history.append({"role": "assistant", "content": [{"type": "tool", "content": thought},
                                                     {"type": "text", "content": answer}]})
    return {"__type__": "update", "value": history}


def gen(value: Any) -> dict[str, Any]:
    return {"msg": "process_generating", "event_id": "e1", "success": True,
            "output": {"data": [None, value]}}


def done(value: Any) -> dict[str, Any]:
    return {"msg": "process_completed", "event_id": "e1", "success": True,
            "output": {"data": [None, value]}}


def lost(p: JobProtocol, msg: dict[str, Any]) -> str:
    with pytest.raises(SessionLostError) as exc:
        p.handle(msg)
    assert exc.value.space == SPACE
    return str(exc.value)


def test_a_continued_session_that_shows_its_turns_streams_as_usual() -> None:
    p = proto(expect_users=3)
    assert p.handle(gen(chat(3, "hm", "Hi"))) == [ReasoningDelta("hm"), TextDelta("Hi")]
    final = p.handle(done(chat(3, "hm", "Hi!")))[-1]
    assert isinstance(final, Finished) and final.text == "Hi!"


@pytest.mark.parametrize("shown", [1, 2, 4])
def test_a_first_frame_with_other_user_turns_means_the_session_was_lost(shown: int) -> None:
    text = lost(proto(expect_users=3), gen(chat(shown, "hm")))
    assert text == (f"{SPACE} no longer holds this conversation's session (it shows "
                    f"{shown} user turn(s), 3 expected)")


def test_only_user_messages_count_wherever_they_are() -> None:
    value = chat(2)
    value["value"][1:1] = [{"role": "system", "content": "s"}, "stray",
                           {"role": "assistant", "content": "extra"}]
    assert proto(expect_users=2).handle(gen(value)) == []
    assert "(it shows 2 user turn(s), 3 expected)" in lost(proto(expect_users=3), gen(value))


def test_a_bare_chatbot_value_is_counted_like_an_update() -> None:
    assert proto(expect_users=2).handle(gen(chat(2, "t")["value"])) == [ReasoningDelta("t")]
    assert "(it shows 1 user turn(s), 2 expected)" in lost(proto(expect_users=2),
                                                          gen(chat(1)["value"]))


@pytest.mark.parametrize("value", [None, 5, "not a chatbot"])
def test_a_value_that_is_not_a_chatbot_shows_no_user_turns(value: Any) -> None:
    assert "(it shows 0 user turn(s), 1 expected)" in lost(proto(expect_users=1), gen(value))


def test_a_job_completed_in_one_frame_is_checked_on_that_frame() -> None:
    events = proto(expect_users=2).handle(done(chat(2, "t", "ok")))
    final = events[-1]
    assert isinstance(final, Finished) and (final.text, final.reasoning) == ("ok", "t")
    assert "(it shows 1 user turn(s), 2 expected)" in lost(proto(expect_users=2),
                                                          done(chat(1, "t", "ok")))


def test_a_fresh_session_is_not_checked() -> None:
    assert proto(expect_users=None).handle(gen(chat(5, "", "x"))) == [TextDelta("x")]


def test_finished_carries_the_reasoning_the_job_streamed() -> None:
    p = proto(expect_users=None)
    events = p.handle(gen(chat(1, "Let me", "")))
    events += p.handle({"msg": "process_generating", "event_id": "e1", "success": True,
                        "output": {"data": [[], [["append", ["value", 1, "content", 0,
                                                             "content"], " think."]]]}})
    events += p.handle(done(chat(1, "Let me think.", "Done.")))
    streamed = "".join(e.text for e in events if isinstance(e, ReasoningDelta))
    final = events[-1]
    assert isinstance(final, Finished)
    assert final.reasoning == streamed == "Let me think."
    assert final.text == "Done."
