"""Each queue message and /call event, one at a time: the events it gives, the job flags it
sets (``started`` drives the queue deadline, ``completed`` the close-stream check), and
the errors it raises, which name the Space (``.space`` too) and say what to do."""

from __future__ import annotations

import dataclasses
import json
from typing import Any

import pytest

from qwen_spaces import (
    Finished,
    ProcessStarted,
    ProgressUpdate,
    QueueFullError,
    QueuePosition,
    SpaceAppError,
    SpaceError,
    SpaceLog,
    SpaceProtocolError,
    SpaceUnavailableError,
    TextDelta,
)
from qwen_spaces.discovery import SpaceAPI
from qwen_spaces.protocol import JobProtocol, loads
from qwen_spaces.sse import SSEEvent

SPACE = "Org/Some-Space"
API = SpaceAPI(space=SPACE, root="http://h", api_prefix="", protocol="sse_v3", version="5.0",
               api_name="chat", fn_index=0, trigger_id=None, input_roles=("query",),
               history_format=None, history_item="text", reply_output=1, reply_kind="text",
               diffs=True, use_queue=True, call_allowed=True, max_file_size=None,
               source="config")


def proto(**changes: Any) -> JobProtocol:
    p = JobProtocol(dataclasses.replace(API, **changes), model="the-model")
    p.event_id = "e1"
    return p


def gen(data: list[Any], msg: str = "process_generating", eid: str = "e1") -> dict[str, Any]:
    return {"msg": msg, "event_id": eid, "output": {"data": data}, "success": True}


def done(data: list[Any], **extra: Any) -> dict[str, Any]:
    return {"msg": "process_completed", "event_id": "e1", "success": True,
            "output": {"data": data, **extra}}


def error_of(fn: Any, *args: Any) -> SpaceError:
    with pytest.raises(SpaceError) as exc:
        fn(*args)
    assert exc.value.space == SPACE and SPACE in str(exc.value)
    return exc.value


def test_status_messages_become_events_with_their_fields() -> None:
    p = proto()
    assert p.handle({"msg": "estimation", "rank": 0, "queue_size": 3, "rank_eta": 2}) == \
        [QueuePosition(1, 3, 2.0)]
    assert p.handle({"msg": "estimation", "rank": None, "queue_size": "3", "rank_eta": True}) \
        == [QueuePosition(None, None, None)]
    assert not p.started
    assert p.handle({"msg": "progress", "progress_data": [{"index": 1}, "junk"]}) == \
        [ProgressUpdate(({"index": 1},))]
    assert p.handle({"msg": "progress", "progress_data": None}) == [ProgressUpdate(())]
    assert p.handle({"msg": "log", "level": "warning", "log": "hot", "title": "T"}) == \
        [SpaceLog("warning", "hot", "T")]
    assert p.handle({"msg": "log", "title": 5}) == [SpaceLog("info", "", None)]
    assert p.handle({"msg": "heartbeat"}) == []
    assert p.started is False and p.completed is False and p.final is None
    assert p.handle({"msg": "process_starts", "eta": 1.5}) == [ProcessStarted(1.5)]
    assert p.started


@pytest.mark.parametrize("first", [gen(["", "a"]), gen(["", "a"], msg="process_streaming")])
def test_the_first_output_frame_starts_the_job(first: dict[str, Any]) -> None:
    p = proto()
    assert p.handle(first) == [TextDelta("a")]
    assert p.started and not p.completed


def test_a_fast_path_append_starts_the_job() -> None:
    p = proto()
    p.handle({"msg": "process_starts"})
    p.started = False  # as if the job had been re-queued
    assert p.handle(gen(["", "a"])) == [TextDelta("a")]
    p.started = False
    assert p.append_text(gen([[], [["append", [], "b"]]])) == "b"
    assert p.started


def test_process_streaming_frames_carry_full_values_not_diffs() -> None:
    p = proto()
    assert p.handle(gen(["", "a"], msg="process_streaming")) == [TextDelta("a")]
    assert p.handle(gen(["", "ab"], msg="process_streaming")) == [TextDelta("b")]
    assert p.append_text(gen(["", "abc"], msg="process_streaming")) is None


def test_a_space_without_diffs_sends_full_values_in_generating_frames() -> None:
    p = proto(diffs=False)
    assert p.handle(gen(["", "a"])) == [TextDelta("a")]
    assert p.handle(gen(["", "ab"])) == [TextDelta("b")]
    assert p.append_text(gen([[], [["append", [], "c"]]])) is None


def test_the_fast_path_takes_only_this_jobs_steady_state_appends() -> None:
    p = proto()
    steady = gen([[], [["append", [], "b"]]])
    assert p.append_text(steady) is None  # the first frame is a full value
    p.handle(gen(["", "a"]))
    assert p.append_text(gen([[], [["append", [], "b"]]], eid="other")) is None
    assert p.append_text([steady]) is None
    assert p.append_text({**steady, "output": {"data": []}}) is None
    assert p.append_text({**steady, "output": None}) is None
    assert p.append_text(dict(steady, msg="process_completed")) is None
    assert p.append_text(steady) == "b"
    assert p.tracker.text == "ab"


def test_after_a_diff_that_does_not_fit_nothing_is_streamed_until_completed() -> None:
    p = proto()
    p.handle(gen(["", "a"]))
    assert p.handle(gen([[], [["delete", [5], None]]])) == []
    # Later diffs are skipped (they may build on the lost one), on both paths.
    assert p.append_text(gen([[], [["append", [], "b"]]])) is None
    assert p.handle(gen([[], [["append", [], "b"]]])) == []
    # A full value (process_streaming) resumes streaming; so does process_completed.
    assert p.handle(done(["", "abc"])) == \
        [TextDelta("bc"), Finished("abc", event_id="e1", space_id=SPACE, model="the-model")]


def test_frames_of_another_job_are_ignored() -> None:
    p = proto()
    assert p.handle(gen(["", "x"], eid="other")) == []
    assert p.handle({"msg": "process_completed", "event_id": "other"}) == []
    assert not p.started and not p.completed
    assert p.handle(gen(["", "x"], eid=None)) == [TextDelta("x")]  # no id: ours


def test_completed_gives_the_final_text_and_the_job_metadata() -> None:
    p = proto()
    p.handle(gen(["", "a"]))
    out = p.handle(done(["", "ab"], duration=2))
    final = Finished("ab", event_id="e1", space_id=SPACE, model="the-model", duration=2.0)
    assert out == [TextDelta("b"), final]
    assert p.final == final and p.completed
    assert p.handle({"msg": "close_stream"}) == []


def test_a_duration_that_is_not_a_number_is_dropped() -> None:
    assert proto().handle(done(["", "a"], duration=True))[-1].duration is None  # type: ignore[union-attr]
    assert proto().handle(done(["", "a"], duration="2"))[-1].duration is None  # type: ignore[union-attr]


@pytest.mark.parametrize("msg", [
    {"msg": "process_completed", "success": False, "output": {"data": ["", "a"]}},
    {"msg": "process_completed", "output": {"data": ["", "a"]}},
    {"msg": "process_completed", "success": True, "output": {"error": None, "data": ["", "a"]}},
])
def test_a_failed_job_is_an_app_error_naming_the_space(msg: dict[str, Any]) -> None:
    p = proto()
    err = error_of(p.handle, msg)
    assert type(err) is SpaceAppError and "Try again" in str(err)
    assert p.completed


def test_an_app_error_keeps_the_spaces_message_and_title() -> None:
    p = proto()
    msg = {"msg": "process_completed", "success": False,
           "output": {"error": "Input too long", "title": "Oops"}}
    err = error_of(p.handle, msg)
    assert "Input too long" in str(err) and err.title == "Oops"  # type: ignore[attr-defined]


def test_a_completed_frame_without_an_output_dict_is_an_app_error() -> None:
    err = error_of(proto().handle, {"msg": "process_completed", "success": True, "output": 3})
    assert isinstance(err, SpaceAppError) and "cancelled" in str(err)


def test_a_job_cancelled_on_the_space_says_so_and_what_to_do() -> None:
    p = proto()
    err = error_of(p.handle, {"msg": "process_completed", "success": True, "output": {}})
    assert isinstance(err, SpaceAppError) and err.title == "cancelled"  # type: ignore[attr-defined]
    assert str(err) == (f"{SPACE} cancelled the job before it finished (someone cancelled "
                        "it, or the Space restarted); try again")


def test_a_null_answer_is_an_error_only_when_nothing_came_before() -> None:
    """With nothing streamed, a null answer is a protocol error; after text, the final
    frame is the truth as always, and takes the text back."""
    err = error_of(proto().handle, done(["", None]))
    assert isinstance(err, SpaceProtocolError) and "without an answer in output 1" in str(err)
    p = proto()
    p.handle(gen(["", "a"]))
    assert p.handle(done(["", None])) == [
        TextDelta("", replaced=1),
        Finished("", event_id="e1", space_id=SPACE, model="the-model")]


def test_too_few_outputs_is_a_protocol_error_saying_how_many_were_expected() -> None:
    err = error_of(proto().handle, gen([""]))
    assert isinstance(err, SpaceProtocolError) and "at least 2 outputs" in str(err)
    assert "list" in str(err)
    err = error_of(proto().handle, {"msg": "process_generating", "output": None})
    assert "NoneType" in str(err)
    assert proto().handle(gen(["", "a"])) == [TextDelta("a")]


@pytest.mark.parametrize(("msg", "kind", "text"), [
    ({"msg": "close_stream"}, SpaceUnavailableError,
     " closed the stream before the answer was complete; try again"),
    ({"msg": "queue_full"}, QueueFullError, ": the queue is full; try again later"),
    ({"msg": "unexpected_error", "message": "boom"}, SpaceUnavailableError,
     " lost the job (boom); try again"),
    ({"msg": "unexpected_error"}, SpaceUnavailableError,
     " lost the job (unexpected error); try again"),
])
def test_stream_failures_name_the_space_and_say_to_try_again(
        msg: dict[str, Any], kind: type[SpaceError], text: str) -> None:
    err = error_of(proto().handle, msg)
    assert type(err) is kind
    assert str(err) == SPACE + text


def test_a_frame_that_is_not_an_object_is_a_protocol_error() -> None:
    err = error_of(proto().handle, ["x"])
    assert isinstance(err, SpaceProtocolError) and "not a JSON object" in str(err)


# -- /call ----------------------------------------------------------------------------------
def call(event: str, data: Any) -> SSEEvent:
    return SSEEvent(event, data if isinstance(data, str) else json.dumps(data))


def test_call_generating_streams_and_starts_the_job() -> None:
    p = proto()
    assert p.handle_call(call("heartbeat", "not json")) == []
    assert not p.started
    assert p.handle_call(call("generating", ["", "he"])) == [TextDelta("he")]
    assert p.started
    assert p.handle_call(call("generating", ["", "hey"])) == [TextDelta("y")]
    assert p.handle_call(call("complete", ["", "hey!"])) == \
        [TextDelta("!"), Finished("hey!", event_id="e1", space_id=SPACE, model="the-model")]
    assert p.handle_call(call("unknown", ["x"])) == []


def test_call_errors_keep_the_spaces_message() -> None:
    p = proto()
    err = error_of(p.handle_call, call("error", {"error": "bad input", "title": "T"}))
    assert "bad input" in str(err) and err.title == "T"  # type: ignore[attr-defined]
    assert p.completed
    p = proto()
    err = error_of(p.handle_call, call("error", '"plain words"'))
    assert type(err) is SpaceAppError and "plain words" in str(err)
    assert p.completed
    err = error_of(proto().handle_call, call("error", ""))
    assert "failed without saying why" in str(err)
    err = error_of(proto().handle_call, call("error", "null"))
    assert "failed without saying why" in str(err)
    err = error_of(proto().handle_call, call("error", [5]))  # neither a dict nor a string
    assert "failed without saying why" in str(err) and "[5]" not in str(err)


def test_a_malformed_call_frame_is_a_protocol_error() -> None:
    err = error_of(proto().handle_call, call("generating", "{not json"))
    assert isinstance(err, SpaceProtocolError) and "malformed /call frame" in str(err)


def test_an_empty_call_frame_is_no_output() -> None:
    err = error_of(proto().handle_call, call("complete", ""))
    assert isinstance(err, SpaceProtocolError) and "NoneType" in str(err)


def test_loads_parses_small_and_huge_frames_alike() -> None:
    big = json.dumps({"a": "x" * 1_000_000})
    assert loads(big) == {"a": "x" * 1_000_000}
    assert loads(b'{"a": 1}') == {"a": 1}
    assert loads(big.encode()) == {"a": "x" * 1_000_000}
