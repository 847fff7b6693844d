"""Job protocol: capture replays and exact deltas (Gradio's own diff as the server)."""

from __future__ import annotations

import copy
import dataclasses
from typing import Any

import pytest
from gradio.utils import diff as gradio_diff
from hypothesis import given, settings
from hypothesis import strategies as st

from qwen_spaces import (
    Finished,
    ProcessStarted,
    ProgressUpdate,
    QueueFullError,
    QueuePosition,
    QuotaExceededError,
    SpaceAppError,
    SpaceLog,
    SpaceProtocolError,
    SpaceUnavailableError,
    TextDelta,
)
from qwen_spaces.catalog import CATALOG
from qwen_spaces.discovery import SpaceAPI, parse_config, pinned_api
from qwen_spaces.protocol import JobProtocol
from qwen_spaces.sse import SSEDecoder
from tests import captures


def capture_api(version: str, **changes: Any) -> SpaceAPI:
    """The capture app's model_chat has qwen-2-72b's layout (query, chatbot, system)."""
    api = parse_config(CATALOG["qwen-2-72b"], "http://127.0.0.1:7861", captures.config(version))
    return dataclasses.replace(api, **changes)


def run(proto: JobProtocol, msgs: list[dict[str, Any]]) -> list[Any]:
    out: list[Any] = []
    for m in msgs:
        out += proto.handle(m)
    return out


def event_id(msgs: list[dict[str, Any]]) -> str:
    return next(m["event_id"] for m in msgs if m.get("event_id"))


def apply_deltas(deltas: list[TextDelta]) -> str:
    text = ""
    for d in deltas:
        text = text[:len(text) - d.replaced] + d.text
    return text


@pytest.mark.parametrize("version", ["6.31.0", "5.49.1", "4.44.1"])
def test_replay_chat_stream_gives_exact_deltas(version: str) -> None:
    msgs = captures.queue_messages(version, "data_stream.txt")
    proto = JobProtocol(capture_api("6.31.0" if version == "5.49.1" else version), model="m")
    proto.event_id = event_id(msgs)
    events = run(proto, msgs)
    deltas = [e for e in events if isinstance(e, TextDelta)]
    final = events[-1]
    assert isinstance(final, Finished)
    assert final.text == "Hi! (You are Qwen.) you said: hello there"
    assert "".join(d.text for d in deltas) == final.text
    assert len(deltas) >= 8  # token by token, not one lump at the end
    assert all(d.replaced == 0 for d in deltas)
    assert isinstance(events[0], QueuePosition) and events[0].position == 1
    assert isinstance(events[1], ProcessStarted)


def test_replay_queue_positions_count_down() -> None:
    msgs = captures.queue_messages("6.31.0", "qf_data_4.txt")
    api = capture_api("6.31.0", reply_output=0, reply_kind="text")
    proto = JobProtocol(api, model="m")
    proto.event_id = event_id(msgs)
    events = run(proto, msgs)
    positions = [e.position for e in events if isinstance(e, QueuePosition)]
    assert positions == [3, 2, 1]
    assert events[-1].text == "tick 1"


def test_replay_progress_and_logs() -> None:
    msgs = captures.queue_messages("6.31.0", "progress_stream.txt")
    proto = JobProtocol(capture_api("6.31.0", reply_output=0, reply_kind="text"), model="m")
    events = run(proto, msgs)
    logs = [e for e in events if isinstance(e, SpaceLog)]
    assert [(e.level, e.message) for e in logs] == [("info", "Starting (info toast)"),
                                                   ("warning", "Careful (warning toast)")]
    steps = [e.steps[0]["index"] for e in events if isinstance(e, ProgressUpdate)]
    assert steps == sorted(steps) and len(steps) == 3
    assert events[-1].text == "done"


@pytest.mark.parametrize(("version", "name"), [("6.31.0", "err_stream.txt"),
                                               ("4.44.1", "q_failing_chat.txt")])
def test_replay_quota_error_is_typed_with_retry_after(version: str, name: str) -> None:
    msgs = captures.queue_messages(version, name)
    proto = JobProtocol(capture_api(version), model="m")
    with pytest.raises(QuotaExceededError) as info:
        run(proto, msgs)
    assert info.value.retry_after == 600.0
    assert "exceeded your GPU quota" in str(info.value)
    assert "'" not in str(info.value).split(":", 1)[1][:3]  # 4.44.1's quote wrapping stripped


@pytest.mark.parametrize(("version", "name"), [("6.31.0", "crash_stream.txt"),
                                               ("4.44.1", "q_crash.txt")])
def test_replay_hidden_crash_is_an_app_error_not_an_empty_answer(version: str, name: str) -> None:
    proto = JobProtocol(capture_api(version), model="m")
    with pytest.raises(SpaceAppError, match="failed without saying why"):
        run(proto, captures.queue_messages(version, name))


def test_replay_server_side_cancel_is_an_error() -> None:
    msgs = captures.queue_messages("6.31.0", "cancel_stream.txt")
    proto = JobProtocol(capture_api("6.31.0", reply_output=0, reply_kind="text"), model="m")
    with pytest.raises(SpaceAppError, match="cancelled"):
        run(proto, msgs)


def test_replay_session_not_found_and_queue_full() -> None:
    proto = JobProtocol(capture_api("6.31.0"), model="m")
    with pytest.raises(SpaceUnavailableError, match="404: Not Found"):
        run(proto, captures.queue_messages("6.31.0", "qf_data_5.txt"))
    with pytest.raises(QueueFullError):
        proto.handle({"msg": "queue_full", "event_id": None})


def test_other_jobs_on_the_same_stream_are_ignored() -> None:
    a = captures.queue_messages("6.31.0", "data_stream.txt")
    b = captures.queue_messages("6.31.0", "qf_data_1.txt")
    mine = JobProtocol(capture_api("6.31.0"), model="m")
    mine.event_id = event_id(a)
    stream = captures.interleave(a, b)
    events = []
    for m in stream:
        events += mine.handle(m)
        if mine.completed:
            break
    assert events[-1].text == "Hi! (You are Qwen.) you said: hello there"
    assert sum(isinstance(e, QueuePosition) for e in events) == 1


@pytest.mark.parametrize(("version", "name", "expect"), [
    ("6.31.0", "call_stream.txt", None), ("4.44.1", "call_stream.txt", None),
    ("6.31.0", "call_err_failing_chat.txt", QuotaExceededError),
    ("4.44.1", "call_err_failing_chat.txt", SpaceAppError),
])
def test_replay_call_protocol(version: str, name: str, expect: type | None) -> None:
    proto = JobProtocol(capture_api(version), model="m")
    events = SSEDecoder().feed(captures.sse_bytes(version, name))
    if expect is not None:
        with pytest.raises(expect):
            for ev in events:
                proto.handle_call(ev)
        return
    out = []
    for ev in events:
        out += proto.handle_call(ev)
    assert isinstance(out[-1], Finished)
    assert "".join(d.text for d in out if isinstance(d, TextDelta)) == out[-1].text
    assert out[-1].text.startswith("Hi! (Be brief.)")


def test_malformed_frames_and_unknown_messages() -> None:
    proto = JobProtocol(capture_api("6.31.0"), model="m")
    assert proto.handle({"msg": "some_future_message", "event_id": None}) == []
    with pytest.raises(SpaceProtocolError):
        proto.handle(["not", "a", "dict"])
    with pytest.raises(SpaceProtocolError):
        proto.handle({"msg": "process_generating", "output": {"data": "nope"}})


# -- exact deltas against Gradio's own diff, for every chatbot format ----------------------

TOKENS = st.lists(st.sampled_from(["ha", " ha", "\n\n", "[1]", " ", "Hi", "!", "..", "é",
                                   "ha ha", "\n", "[", "]", "0"]), min_size=0, max_size=30)


def render(fmt: str, history_turns: int, reply: str) -> list[Any]:
    """The chatbot value a Space would yield, in each wire format."""
    if fmt == "text":
        return [reply]
    past = [("earlier q", "earlier a")] * history_turns
    if fmt == "tuples":
        return ["", [[q, a] for q, a in past] + [["question", reply]], None]
    if fmt == "text_dict":
        return ["", [[{"text": q}, {"text": a}] for q, a in past]
                + [[{"text": "question"}, {"text": reply}]], None]
    msgs: list[Any] = []
    for q, a in [*past, ("question", reply)]:
        for role, text in (("user", q), ("assistant", a)):
            content: Any = [{"type": "text", "text": text}] if fmt == "parts" else text
            msgs.append({"role": role, "metadata": None, "content": content})
    return ["", msgs, None]


def server_frames(values: list[list[Any]]) -> list[dict[str, Any]]:
    """process_generating frames exactly as Gradio builds them: first full, then diffs."""
    frames, prev = [], None
    for v in values:
        if prev is None:
            data = copy.deepcopy(v)
        else:
            data = [gradio_diff(p, n) for p, n in zip(prev, v, strict=True)]
        frames.append({"msg": "process_generating", "event_id": "e",
                       "output": {"data": data}, "success": True})
        prev = copy.deepcopy(v)
    frames.append({"msg": "process_completed", "event_id": "e",
                   "output": {"data": copy.deepcopy(values[-1])}, "success": True})
    return frames


def drive(proto: JobProtocol, frame: dict[str, Any], fast: bool) -> list[Any]:
    """As the client does it (``fast``): the one-call append path first, else ``handle``."""
    if fast:
        piece = proto.append_text(frame)
        if piece is not None:
            return [proto.channel(piece)]
    return proto.handle(frame)


@settings(max_examples=150, deadline=None)
@given(TOKENS, st.sampled_from(["tuples", "text_dict", "messages", "parts", "text"]),
       st.integers(0, 3), st.booleans())
def test_deltas_concatenate_to_the_final_text(tokens: list[str], fmt: str, turns: int,
                                              fast: bool) -> None:
    api = capture_api("6.31.0", **({"reply_output": 0, "reply_kind": "text"}
                                  if fmt == "text" else {}))
    proto = JobProtocol(api, model="m")
    proto.event_id = "e"
    acc, values = "", [render(fmt, turns, "")]
    for tok in tokens:
        acc += tok
        values.append(render(fmt, turns, acc))
    streamed = ""
    for frame in server_frames(values):
        for ev in drive(proto, frame, fast):
            if isinstance(ev, TextDelta):
                assert ev.replaced == 0
                streamed += ev.text
    assert streamed == acc
    assert proto.final is not None and proto.final.text == acc


def test_non_prefix_rewrite_is_reported_not_duplicated() -> None:
    api = capture_api("6.31.0")
    values = [render("parts", 0, "Thinking..."), render("parts", 0, "The answer"),
              render("parts", 0, "The answer is 4")]
    proto = JobProtocol(api, model="m")
    deltas = [e for f in server_frames(values) for e in proto.handle(f)
              if isinstance(e, TextDelta)]
    assert apply_deltas(deltas) == "The answer is 4"
    assert [d.replaced for d in deltas if d.replaced] == [len("inking...")]  # kept "Th"

    # Declared as a placeholder in the catalog, it is never streamed at all.
    proto = JobProtocol(api, model="m", placeholders=("Thinking...",))
    deltas = [e for f in server_frames(values) for e in proto.handle(f)
              if isinstance(e, TextDelta)]
    assert "".join(d.text for d in deltas) == "The answer is 4"
    assert all(d.replaced == 0 for d in deltas)


def test_a_diff_that_does_not_apply_waits_for_the_final_value() -> None:
    proto = JobProtocol(capture_api("6.31.0"), model="m")
    frames = server_frames([render("parts", 0, "ab"), render("parts", 0, "abcd")])
    frames.insert(1, {"msg": "process_generating", "event_id": "e", "success": True,
                      "output": {"data": [[], [["delete", [9, "content"], None]], []]}})
    events = run(proto, frames)
    assert "".join(e.text for e in events if isinstance(e, TextDelta)) == "abcd"
    assert events[-1].text == "abcd"


def test_pinned_api_matches_catalog() -> None:
    api = pinned_api(CATALOG["qwen-2.5"], "https://qwen-qwen2-5.hf.space")
    assert (api.fn_index, api.trigger_id, api.api_prefix) == (3, 25, "")
    assert api.input_roles == ("query", "history", "system", "variant")
    assert not api.call_allowed


@pytest.mark.parametrize("fmt", ["tuples", "text_dict", "parts", "text"])
def test_appends_are_not_reparsed(fmt: str, monkeypatch: pytest.MonkeyPatch) -> None:
    """Work per token is the token: the answer is re-extracted only when the shape changes,
    never once per append (the linear-cost guarantee, counted rather than timed)."""
    import qwen_spaces.reply as reply

    calls = 0
    real = reply.extract_reply

    def counting(value: Any, kind: str) -> Any:
        nonlocal calls
        calls += 1
        return real(value, kind)

    monkeypatch.setattr(reply, "extract_reply", counting)
    api = capture_api("6.31.0", **({"reply_output": 0, "reply_kind": "text"}
                                  if fmt == "text" else {}))
    proto = JobProtocol(api, model="m")
    values, acc = [render(fmt, 2, "x")], "x"
    for i in range(3000):
        acc += f" t{i % 7}"
        values.append(render(fmt, 2, acc))
    streamed = "".join(e.text for f in server_frames(values) for e in proto.handle(f)
                       if isinstance(e, TextDelta))
    assert streamed == acc
    assert calls <= 3  # first frame, final frame, and nothing per token
