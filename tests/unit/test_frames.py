"""The byte-level fast paths (``qwen_spaces.frames``) against the full parse.

The oracle is the full parse, as before the fast paths existed: every frame through
``json.loads`` and ``JobProtocol.handle`` (queue) or ``handle_call`` with str data
(``/call``). The streams are Gradio's own: values diffed by ``gradio.utils.diff`` and written
as Gradio 6 writes queue frames (orjson: no spaces, raw UTF-8, a new duration in every
frame), ``/call`` data as ``json.dumps`` writes it. They go through the client's read loop
(``SpaceClient._read``) in any chunking. Lookalike frames, each next to a genuine one that
does take the fast path, must not take it; and any byte changed anywhere in a steady frame
either leaves the fast path or gives what the full parse gives.
"""

from __future__ import annotations

import asyncio
import copy
import dataclasses
import json
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import pytest
from gradio.utils import diff as gradio_diff
from hypothesis import given, settings
from hypothesis import strategies as st

from qwen_spaces import frames, protocol
from qwen_spaces.client import SpaceClient
from qwen_spaces.discovery import SpaceAPI
from qwen_spaces.errors import SpaceError, SpaceProtocolError
from qwen_spaces.events import Finished, ReasoningDelta, StreamEvent, TextDelta
from qwen_spaces.protocol import JobProtocol
from qwen_spaces.sse import SSEEvent
from tests.unit.test_protocol import capture_api, render
from tests.util import FakeResponse

EID = "7d494c4244b446e3a242d0aa5bb894c6"
LEAF = [1, "content", 0, "text"]  # the answer's leaf in the capture app's "parts" chatbot
FORMATS = ["tuples", "text_dict", "messages", "parts", "text", "pro"]
#: Tokens with everything a JSON string can hold: quotes, backslashes, "]]" (the fast path's
#: end marker), control characters, non-ASCII, astral characters (surrogate pairs in \u form).
TOKENS = st.lists(st.sampled_from(
    ["ha", " ha", "\n", '"', "\\", '"]]', '\\"]]', "]]", "é", "😀", "\t", "\x00", "/", "0",
     "\u2028", "a\"b", "", "[1]", "null"]) | st.text(max_size=4), min_size=0, max_size=25)
#: Durations as Gradio writes them: full precision, exponents, integers.
DURATIONS = [0.05063891410827637, 0.000037670135498046875, 1.5e-05, 12.0, 3, 0.1]


# -- Gradio's streams --------------------------------------------------------------------------
def api_for(fmt: str) -> SpaceAPI:
    if fmt == "text":
        return capture_api("6.31.0", reply_output=0, reply_kind="text")
    if fmt == "pro":
        return capture_api("6.31.0", reply_kind="pro_chatbot")
    return capture_api("6.31.0")


def pro_value(thought: str, answer: str | None) -> dict[str, Any]:
    """Qwen3-Demo's chatbot as it sends it: ``gr.update`` of a pro chatbot, the thinking
    panel first (a "tool" entry), then the answer entry."""
    content: list[dict[str, Any]] = [{"type": "tool", "content": thought,
                                      "options": {"title": "Thinking..."}}]
    if answer is not None:
        content.append({"type": "text", "content": answer})
    return {"__type__": "update", "value": [
        {"role": "user", "content": "hi"},
        {"role": "assistant", "content": content, "loading": True}]}


def values(fmt: str, turns: int, thought: list[str], tokens: list[str]) -> list[list[Any]]:
    """The output values a Space yields, one per step: the reasoning grows token by token
    (pro only), then the answer."""
    if fmt != "pro":
        out, acc = [render(fmt, turns, "")], ""
        for tok in tokens:
            acc += tok
            out.append(render(fmt, turns, acc))
        return out
    steps, acc = [pro_value("", None)], ""
    for tok in thought:
        acc += tok
        steps.append(pro_value(acc, None))
    answer = ""
    steps.append(pro_value(acc, ""))
    for tok in tokens:
        answer += tok
        steps.append(pro_value(acc, answer))
    return [["", s, None] for s in steps]


def generating(data: list[Any], i: int, eid: str = EID) -> dict[str, Any]:
    """A process_generating message with Gradio 6.31's keys, in its order."""
    return {"msg": "process_generating", "event_id": eid, "output": {
        "data": data, "is_generating": True, "duration": DURATIONS[i % len(DURATIONS)],
        "average_duration": DURATIONS[(i + 1) % len(DURATIONS)], "render_config": None,
        "changed_state_ids": [], "used_cache": None}, "success": True, "time_limit": None}


def messages(vals: list[list[Any]], vary: str = "always") -> list[dict[str, Any]]:
    """The queue/data messages of one job: the first value whole, then Gradio's diffs,
    the final value whole, close_stream. The durations change in every frame, as a real
    Space sends them (``vary="always"``); or ``"never"``, as the benchmark server sends
    them; or ``"once"``, after the first diff."""
    out = [{"msg": "estimation", "event_id": EID, "rank": 0, "queue_size": 1, "rank_eta": None},
           {"msg": "process_starts", "event_id": EID, "eta": None},
           generating(copy.deepcopy(vals[0]), 0)]
    for i in range(1, len(vals)):
        diff = [gradio_diff(p, n) for p, n in zip(vals[i - 1], vals[i], strict=True)]
        out.append(generating(diff, {"always": i, "never": 1, "once": min(i, 2)}[vary]))
    out.append({"msg": "process_completed", "event_id": EID, "success": True,
                "output": {"data": copy.deepcopy(vals[-1]), "is_generating": False}})
    out.append({"msg": "close_stream", "event_id": None})
    return out


def compact(msg: Any) -> bytes:
    return json.dumps(msg, separators=(",", ":"), ensure_ascii=False).encode()


def wire(msgs: list[dict[str, Any]]) -> bytes:
    return b"".join(b"data: " + compact(m) + b"\n\n" for m in msgs)


def chunks(raw: bytes, cuts: list[int]) -> list[bytes]:
    points = sorted({c % (len(raw) + 1) for c in cuts} | {len(raw)})
    return [raw[a:b] for a, b in zip([0, *points], points, strict=False) if b > a]


# -- reading them ------------------------------------------------------------------------------
def read(api: SpaceAPI, parts: list[bytes]) -> tuple[JobProtocol, list[StreamEvent]]:
    """The client's read loop over ``parts`` (the fast paths on)."""
    proto = JobProtocol(api, model="m")
    proto.event_id = EID
    client = SpaceClient(base_urls={"qwen-2-72b": "http://127.0.0.1:9"}, read_env_token=False)

    async def go() -> list[StreamEvent]:
        return [e async for e in client._read(FakeResponse(parts), proto, api)]  # type: ignore[arg-type]

    return proto, asyncio.run(go())


def oracle(api: SpaceAPI, body: bytes) -> list[StreamEvent]:
    """The full parse of every frame, as before the fast paths."""
    proto = JobProtocol(api, model="m")
    proto.event_id = EID
    out: list[StreamEvent] = []
    for block in body.split(b"\n\n")[:-1]:
        if api.use_queue:
            out += proto.handle(json.loads(block[6:]))
        else:
            name, _, data = block.partition(b"\ndata: ")
            out += proto.handle_call(SSEEvent(name[7:].decode(), data.decode("utf-8", "replace")))
    return out


def rebuilt(events: list[StreamEvent], kind: type) -> str:
    text = ""
    for e in events:
        if type(e) is kind:
            assert isinstance(e, (TextDelta, ReasoningDelta))
            text = text[:len(text) - e.replaced] + e.text
    return text


@contextmanager
def parser(name: str) -> Iterator[None]:
    """Both parsers the package may run with: orjson, or json when orjson is missing."""
    saved = protocol._fast_loads, frames.string
    if name == "json":
        protocol._fast_loads, frames.string = json.loads, frames.json_string
    try:
        yield
    finally:
        protocol._fast_loads, frames.string = saved


@contextmanager
def counted(owner: type, name: str) -> Iterator[list[int]]:
    """Counts the calls of the classmethod ``owner.name`` in the block (in a one-item list)."""
    saved = owner.__dict__[name]
    real = getattr(owner, name)
    calls = [0]

    def counting(*args: Any, **kw: Any) -> Any:
        calls[0] += 1
        return real(*args, **kw)

    setattr(owner, name, counting)
    try:
        yield calls
    finally:
        setattr(owner, name, saved)


class Counting:
    """Counts the frames that took a fast path (patched over the shapes' ``take``)."""

    def __init__(self, monkeypatch: pytest.MonkeyPatch) -> None:
        self.queue = self.call = 0
        append_take, call_take = frames.AppendShape.take, frames.CallShape.take

        def take(shape: frames.AppendShape, fs: Any, start: int) -> tuple[list[str], int]:
            tokens, end = append_take(shape, fs, start)
            self.queue += end - start
            return tokens, end

        def ctake(shape: frames.CallShape, frame: bytes) -> str | None:
            text = call_take(shape, frame)
            self.call += text is not None
            return text

        monkeypatch.setattr(frames.AppendShape, "take", take)
        monkeypatch.setattr(frames.CallShape, "take", ctake)


# -- whole streams -----------------------------------------------------------------------------
@settings(max_examples=150, deadline=None)
@given(st.sampled_from(FORMATS), st.integers(0, 2), TOKENS, TOKENS,
       st.lists(st.integers(0, 10_000), max_size=12), st.sampled_from(["orjson", "json"]))
def test_every_chatbot_format_streams_exactly_as_the_full_parse_in_any_chunking(
        fmt: str, turns: int, thought: list[str], tokens: list[str], cuts: list[int],
        mode: str) -> None:
    api = api_for(fmt)
    body = wire(messages(values(fmt, turns, thought if fmt == "pro" else [], tokens)))
    with parser(mode):
        want = oracle(api, body)
        proto, got = read(api, chunks(body, cuts))
    final = want[-1]
    assert isinstance(final, Finished)
    assert got[-1] == final
    for kind in (TextDelta, ReasoningDelta):
        assert rebuilt(got, kind) == rebuilt(want, kind)
    assert rebuilt(got, TextDelta) == final.text == proto.tracker.text
    assert rebuilt(got, ReasoningDelta) == final.reasoning


@pytest.mark.parametrize("vary", ["always", "never", "once"])
@pytest.mark.parametrize("mode", ["orjson", "json"])
@pytest.mark.parametrize("fmt", FORMATS)
def test_every_chatbot_format_takes_the_fast_path_for_its_steady_frames(
        fmt: str, mode: str, vary: str, monkeypatch: pytest.MonkeyPatch) -> None:
    """Counted: only the frames before the first steady append, that one (which teaches
    the shape) and the final ones are parsed; every other token frame is taken by bytes,
    whichever parser there is (tokens with escapes too), whether the tail changes in each
    frame, never, or once (then the new one is the one compared)."""
    count = Counting(monkeypatch)
    tokens = [f" w{i}" if i % 3 else f'\n"w{i}"\\' for i in range(40)]
    body = wire(messages(values(fmt, 1, [], tokens), vary))
    with parser(mode):
        _, got = read(api_for(fmt), chunks(body, [len(body) // 3]))
    assert rebuilt(got, TextDelta) == "".join(tokens)
    assert count.queue == 39  # of 40 appends: the first one teaches the shape


def test_an_event_id_with_quotes_and_brackets_still_fits() -> None:
    """The token's end is searched for after the head, never in it."""
    eid = 'id"]]'
    proto = JobProtocol(api_for("parts"), model="m")
    proto.event_id = eid
    proto.handle(generating(render("parts", 0, "a"), 0, eid))
    frames_ = [compact(generating([[], [["append", LEAF, t]], []], i, eid)) for i, t in
               enumerate(["b", "c", "d"])]  # each with another duration: searched each time
    assert proto.append_text(json.loads(frames_[0]), frames_[0]) == "b"
    assert proto.append_frames(frames_[1:], 0) == ("cd", 2)


def test_the_reasoning_channel_takes_its_own_fast_path_and_stays_exact(
        monkeypatch: pytest.MonkeyPatch) -> None:
    """Reasoning appends have a shape of their own (the thinking panel's leaf): they go
    out as reasoning, never as answer, and each channel's appends but its first are taken
    by bytes."""
    count = Counting(monkeypatch)
    thought, tokens = [f" t{i}" for i in range(30)], [f" w{i}" for i in range(30)]
    body = wire(messages(values("pro", 0, thought, tokens)))
    _, got = read(api_for("pro"), [body])
    assert rebuilt(got, ReasoningDelta) == "".join(thought)
    assert rebuilt(got, TextDelta) == "".join(tokens)
    assert count.queue == 29 + 29
    kinds = [type(e) for e in _merged(got) if type(e) in (ReasoningDelta, TextDelta)]
    assert kinds == [ReasoningDelta, TextDelta]  # thinking, then the answer


def alternating(steps: int, every: int) -> tuple[str, str, list[list[Any]]]:
    """A pro reply that starts with "t" thought and "a" answer, then grows the thinking
    panel at every ``every``-th step and the answer at the others: the final thought, the
    final answer and the output values."""
    thought, answer, vals = "t", "a", [["", pro_value("t", "a"), None]]
    for i in range(steps):
        if i % every == 0:
            thought += f" t{i}"
        else:
            answer += f" a{i}"
        vals.append(["", pro_value(thought, answer), None])
    return thought, answer, vals


def test_reasoning_and_answer_appends_interleaved_keep_their_channels(
        monkeypatch: pytest.MonkeyPatch) -> None:
    """A Space that adds to the thinking panel between answer tokens: each frame's text
    goes to its own channel, both shapes are used, and the events are the full parse's."""
    count = Counting(monkeypatch)
    thought, answer, vals = alternating(40, 4)
    api = api_for("pro")
    body = wire(messages(vals))
    _, got = read(api, [body])
    want = oracle(api, body)
    assert [type(e) for e in got] == [type(e) for e in _merged(want)]
    assert rebuilt(got, ReasoningDelta) == rebuilt(want, ReasoningDelta) == thought
    assert rebuilt(got, TextDelta) == rebuilt(want, TextDelta) == answer
    assert count.queue == 40 - 2  # each channel's first append teaches its shape


def _merged(events: list[StreamEvent]) -> list[StreamEvent]:
    """``events`` with each run of answer (or reasoning) deltas as one, as one read gives."""
    out: list[StreamEvent] = []
    for e in events:
        if out and type(e) in (TextDelta, ReasoningDelta) and type(out[-1]) is type(e):
            continue
        out.append(e)
    return out


@pytest.mark.parametrize("fmt", [*FORMATS, "call"])
def test_the_first_words_go_out_before_the_rest_of_a_read_is_parsed(fmt: str) -> None:
    """A whole reply in one network read (a fast Space, a busy event loop): its first words
    are passed on while the job is still unfinished, holding only what they say; the rest
    of the read follows coalesced, one delta per channel."""
    api = api_for("parts" if fmt == "call" else fmt)
    thought = [f" t{i}" for i in range(20)] if fmt == "pro" else []
    vals = values("parts" if fmt == "call" else fmt, 1, thought, [f" w{i}" for i in range(20)])
    if fmt == "call":
        api = dataclasses.replace(api, use_queue=False)
        body = call_body(vals[1:], "json.dumps")
    else:
        body = wire(messages(vals))
    proto = JobProtocol(api, model="m")
    proto.event_id = EID
    client = SpaceClient(base_urls={"qwen-2-72b": "http://127.0.0.1:9"}, read_env_token=False)
    seen: list[tuple[StreamEvent, bool, str, str]] = []

    async def go() -> None:
        async for e in client._read(FakeResponse([body]), proto, api):  # type: ignore[arg-type]
            seen.append((e, proto.completed, proto.tracker.text, proto.tracker.reasoning))

    asyncio.run(go())
    words = [(e, done, text, thought) for e, done, text, thought in seen
             if type(e) in (TextDelta, ReasoningDelta)]
    first, done, text, so_far = words[0]
    assert not done
    assert isinstance(first, (TextDelta, ReasoningDelta))
    assert (so_far if type(first) is ReasoningDelta else text) == first.text
    assert 0 < len(first.text) < 10
    assert len(words) <= 4  # the first words, then one delta per channel
    assert words[-1][1]  # the rest came with the job's end


def test_after_its_first_words_a_job_lets_the_others_on_the_loop_give_theirs() -> None:
    """Two jobs whose whole replies are each in one read, on one event loop: the second
    job's first words come before the first job has parsed the rest of its read (the
    socket has it all, so nothing else would make the first job wait)."""
    api = api_for("parts")
    msgs = messages(values("parts", 1, [], [f" w{i}" for i in range(50)]))
    parts = [wire(msgs[:-2]), wire(msgs[-2:])]  # the reply, then its completion
    client = SpaceClient(base_urls={"qwen-2-72b": "http://127.0.0.1:9"}, read_env_token=False)
    log: list[tuple[str, str]] = []

    async def job(name: str) -> None:
        proto = JobProtocol(api, model="m")
        proto.event_id = EID
        async for e in client._read(FakeResponse(parts), proto, api):  # type: ignore[arg-type]
            log.append((name, type(e).__name__))

    async def both() -> None:
        await asyncio.gather(job("a"), job("b"))

    asyncio.run(both())
    a_words = [i for i, entry in enumerate(log) if entry == ("a", "TextDelta")]
    assert len(a_words) == 2  # the first words, then the rest of the read
    assert log.index(("b", "TextDelta")) < a_words[1]
    assert [k for n, k in log if n == "a"] == [k for n, k in log if n == "b"]


def _two_panels(old: str, new: str | None, answer: str | None) -> dict[str, Any]:
    """A pro chatbot whose reply has a thinking panel and, once ``new`` is given, a second
    assistant message with a thinking panel of its own (where the reasoning then grows)."""
    value = pro_value(old, answer)
    if new is not None:
        value["value"].append({"role": "assistant", "content": [{"type": "tool",
                                                                 "content": new}]})
    return value


def test_when_the_reasoning_moves_to_a_new_panel_its_old_shape_stops(
        monkeypatch: pytest.MonkeyPatch) -> None:
    """The thinking panel's shape holds only while the reasoning grows at the leaf it was
    learned for: after a new panel appears, appends to the old one are parsed (and go
    where the full parse puts them), not taken as reasoning by bytes."""
    count = Counting(monkeypatch)
    api = api_for("pro")
    old, vals = "", [["", _two_panels("", None, None), None]]
    for i in range(5):
        old += f" a{i}"
        vals.append(["", _two_panels(old, None, None), None])
    vals.append(["", _two_panels(old, "B", None), None])  # a new panel: the leaf moves
    for i in range(5):
        old += f" old{i}"  # the old panel still grows
        vals.append(["", _two_panels(old, "B", None), None])
    body = wire(messages(vals))
    _, got = read(api, [body])
    want = oracle(api, body)
    assert [(type(e), e.text, e.replaced) for e in _merged(got)
            if type(e) in (TextDelta, ReasoningDelta)] == \
        [(type(e), e.text, e.replaced) for e in _merged(want)
         if type(e) in (TextDelta, ReasoningDelta)]
    assert got[-1] == want[-1]
    assert count.queue == 4  # the old panel's appends before the move but the first


def test_a_job_yields_the_loop_once_however_many_parsed_frames_carry_words(
        monkeypatch: pytest.MonkeyPatch) -> None:
    """The loop turn after the first words is once per job: later parsed frames with
    words (here each channel's first append, and appends that alternate) do not add any."""
    api = api_for("pro")
    thought, answer, vals = alternating(30, 3)
    body = wire(messages(vals))
    turns: list[float] = []
    real_sleep = asyncio.sleep

    async def counting_sleep(delay: float, *args: Any) -> Any:
        turns.append(delay)
        return await real_sleep(delay, *args)

    monkeypatch.setattr(asyncio, "sleep", counting_sleep)
    _, got = read(api, [body])
    assert rebuilt(got, ReasoningDelta) == thought and rebuilt(got, TextDelta) == answer
    assert turns == [0]


def test_thinking_alone_in_the_first_frame_goes_out_at_once() -> None:
    """A reply whose first value already holds thinking and no answer: that thinking is
    the first words, passed on before the rest of the read."""
    api = api_for("pro")
    vals = [["", pro_value("first thoughts", None), None]]
    thought = "first thoughts"
    for i in range(20):
        thought += f" t{i}"
        vals.append(["", pro_value(thought, None), None])
    vals.append(["", pro_value(thought, "done"), None])
    proto = JobProtocol(api, model="m")
    proto.event_id = EID
    client = SpaceClient(base_urls={"qwen-2-72b": "http://127.0.0.1:9"}, read_env_token=False)
    seen: list[tuple[StreamEvent, str]] = []

    async def go() -> None:
        body = wire(messages(vals))
        async for e in client._read(FakeResponse([body]), proto, api):  # type: ignore[arg-type]
            seen.append((e, proto.tracker.reasoning))

    asyncio.run(go())
    first, so_far = next((e, r) for e, r in seen if type(e) in (TextDelta, ReasoningDelta))
    assert type(first) is ReasoningDelta and first.text == "first thoughts" == so_far


def test_a_frame_split_across_chunks_at_every_position_gives_the_same_events() -> None:
    api = api_for("parts")
    msgs = messages(values("parts", 0, [], ["a", 'b"]]\\', "😀", "c"]))
    body = wire(msgs)
    want = read(api, [body])[1]
    steady = wire(msgs[4:5])  # the second append: the first one the shape can take
    at = body.index(steady)
    for cut in range(at, at + len(steady) + 1):
        got = read(api, [body[:cut], body[cut:]])[1]
        assert rebuilt(got, TextDelta) == rebuilt(want, TextDelta) == 'ab"]]\\😀c'
        assert got[-1] == want[-1]


def test_frames_of_another_job_on_the_same_stream_are_skipped_either_way() -> None:
    api = api_for("parts")
    mine = messages(values("parts", 0, [], ["a", "b", "c", "d"]))
    theirs = [dict(m, event_id="f" * 32) if m.get("event_id") else m
              for m in messages(values("parts", 0, [], ["X", "Y", "Z", "W"]))]
    mixed = [m for pair in zip(mine, theirs, strict=True) for m in pair
             if m["msg"] != "close_stream"] + [mine[-1]]
    _, got = read(api, [wire(mixed)])
    assert rebuilt(got, TextDelta) == "abcd"


# -- lookalikes: the queue protocol ------------------------------------------------------------
def learned(api: SpaceAPI | None = None) -> JobProtocol:
    """A job past its first frame and its first steady append (which taught the shape)."""
    api = api or api_for("parts")
    proto = JobProtocol(api, model="m")
    proto.event_id = EID
    proto.handle(generating(render("parts", 0, "Hi"), 0))
    first = compact(generating([[], [["append", LEAF, "!"]], []], 1))
    assert proto.append_text(json.loads(first), first) == "!"
    return proto


def steady(token: str, i: int = 2) -> dict[str, Any]:
    return generating([[], [["append", LEAF, token]], []], i)


def takes(frame: bytes | str) -> str | None:
    """What the fast path makes of ``frame`` in a learned job (None: not taken), after
    checking that the genuine frame next to it is taken."""
    genuine = learned()
    assert genuine.append_frames([compact(steady("ok"))], 0) == ("ok", 1)
    proto = learned()
    text, end = proto.append_frames([frame], 0)
    assert end == (0 if text is None else 1)
    if text is None:
        assert proto.tracker.text == "Hi!"  # untouched
    return text


def with_keys(msg: dict[str, Any], **extra: Any) -> dict[str, Any]:
    return {**msg, **extra}


def output(msg: dict[str, Any], **changes: Any) -> dict[str, Any]:
    return {**msg, "output": {**msg["output"], **changes}}


def reordered(msg: dict[str, Any], order: list[str]) -> dict[str, Any]:
    return {k: msg[k] for k in order} | msg


LOOKALIKES: dict[str, Any] = {
    # whose frame, and what kind of message
    "another event id": lambda t: compact(steady(t) | {"event_id": "8" + EID[1:]}),
    "an event id that starts like it": lambda t: compact(steady(t) | {"event_id": EID + "0"}),
    "no event id": lambda t: compact({k: v for k, v in steady(t).items() if k != "event_id"}),
    "process_streaming": lambda t: compact(steady(t) | {"msg": "process_streaming"}),
    "process_completed": lambda t: compact(steady(t) | {"msg": "process_completed"}),
    "a msg that starts like it": lambda t: compact(steady(t) | {"msg": "process_generatingX"}),
    # where the edit goes, and what it is
    "another output": lambda t: compact(generating([[["append", LEAF, t]], [], []], 2)),
    "the output after": lambda t: compact(generating([[], [], [["append", LEAF, t]]], 2)),
    "another message": lambda t: compact(generating(
        [[], [["append", [0, "content", 0, "text"], t]], []], 2)),
    "another part": lambda t: compact(generating(
        [[], [["append", [1, "content", 1, "text"], t]], []], 2)),
    "a non-answer field": lambda t: compact(generating(
        [[], [["append", [1, "content", 0, "type"], t]], []], 2)),
    "a path that is equal in Python": lambda t: compact(generating(
        [[], [["append", [True, "content", 0, "text"], t]], []], 2)),
    "a parent of the leaf": lambda t: compact(generating(
        [[], [["append", [1, "content", 0], t]], []], 2)),
    "a replace": lambda t: compact(generating([[], [["replace", LEAF, t]], []], 2)),
    "a number appended": lambda t: compact(generating([[], [["append", LEAF, 5]], []], 2)),
    "a list appended": lambda t: compact(generating([[], [["append", LEAF, [t]]], []], 2)),
    "two appends": lambda t: compact(generating(
        [[], [["append", LEAF, t], ["append", LEAF, t]], []], 2)),
    "an append then a replace": lambda t: compact(generating(
        [[], [["append", LEAF, t], ["replace", [1, "role"], "user"]], []], 2)),
    "an edit with a fourth item": lambda t: compact(generating(
        [[], [["append", LEAF, t, 1]], []], 2)),
    "another output edited too": lambda t: compact(generating(
        [[], [["append", LEAF, t]], [["replace", [], "x"]]], 2)),
    "one output fewer": lambda t: compact(generating([[], [["append", LEAF, t]]], 2)),
    # extra keys, key order, whitespace
    "an extra key first": lambda t: compact({"x": 1} | steady(t)),
    "an extra key last": lambda t: compact(with_keys(steady(t), extra=True)),
    "an extra key in output": lambda t: compact(output(steady(t), extra=[])),
    "event_id first": lambda t: compact(reordered(steady(t), ["event_id", "msg"])),
    "output first": lambda t: compact(reordered(steady(t), ["output"])),
    "data last in output": lambda t: compact(steady(t) | {"output": {
        **{k: v for k, v in steady(t)["output"].items() if k != "data"},
        "data": steady(t)["output"]["data"]}}),
    "json.dumps spacing": lambda t: json.dumps(steady(t), ensure_ascii=False).encode(),
    "a space after the token": lambda t: compact(steady(t)).replace(b']],[]]', b'] ],[]]', 1),
    "a space at the end": lambda t: compact(steady(t)) + b" ",
    "a newline at the end": lambda t: compact(steady(t)) + b"\n",
    # keys repeated in the tail (the last one wins in the full parse)
    "msg repeated": lambda t: compact(steady(t))[:-1] + b',"msg":"process_completed"}',
    "event_id repeated": lambda t: compact(steady(t))[:-1] + b',"event_id":"x"}',
    "output repeated": lambda t: compact(steady(t))[:-1] + b',"output":{"data":[[],[],[]]}}',
    "data repeated": lambda t: compact(steady(t)).replace(
        b',"is_generating"', b',"data":[[],[],[]],"is_generating"', 1),
    # numbers the full parse refuses, or that are not numbers
    "an infinite duration": lambda t: compact(steady(t) | {"output": {
        **steady(t)["output"], "duration": 0}}).replace(b'"duration":0', b'"duration":1e400'),
    "a 400-digit duration": lambda t: compact(steady(t)).replace(
        b'"duration":', b'"duration":' + b"9" * 400, 1),
    "a NaN duration": lambda t: compact(steady(t) | {"output": {
        **steady(t)["output"], "duration": 0}}).replace(b'"duration":0', b'"duration":NaN'),
    "a leading zero": lambda t: compact(steady(t)).replace(b'"duration":', b'"duration":0', 1),
    "a bare minus": lambda t: compact(steady(t) | {"output": {
        **steady(t)["output"], "duration": 0}}).replace(b'"duration":0', b'"duration":-'),
    "a duration as a string": lambda t: compact(output(steady(t), duration="0.05")),
    # broken frames
    "cut short": lambda t: compact(steady(t))[:-1],
    "cut after the token": lambda t: compact(steady(t)).split(b'"]]')[0] + b'"]]',
    "invalid UTF-8 in the token": lambda t: compact(steady(t + "é")).replace(
        "é".encode(), b"\xc3", 1),
    "a lone surrogate escape": lambda t: compact(steady(t)).replace(
        b'"append",[1,"content",0,"text"],"', b'"append",[1,"content",0,"text"],"\\ud800', 1),
    "a str (a huge frame)": lambda t: compact(steady(t)).decode(),
}


@pytest.mark.parametrize("kind", sorted(LOOKALIKES))
@settings(max_examples=15, deadline=None)
@given(token=st.text(max_size=6))
def test_lookalike_queue_frames_do_not_take_the_fast_path(kind: str, token: str) -> None:
    assert takes(LOOKALIKES[kind](token)) is None


@pytest.mark.parametrize("token", ['"', "\\", '\\"', 'a"]]b', "\\u0041", "é", "😀", "\x00\x1f",
                                   "\u2028\u2029", "</script>", ""])
def test_escapes_in_the_token_are_decoded_as_the_full_parse_decodes_them(token: str) -> None:
    frame = compact(steady(token))
    want = learned().append_text(json.loads(frame))
    assert want == token
    assert takes(frame) in (None, token)  # '"]]' in a token is the full parse's to take
    ascii_frame = json.dumps(steady(token), separators=(",", ":")).encode()  # \u escapes
    assert takes(ascii_frame) in (None, token)
    assert takes(compact(steady("ab"))) == "ab"


def test_a_surrogate_pair_in_escapes_is_one_character() -> None:
    frame = compact(steady("x")).replace(b',"x"]]', b',"\\ud83d\\ude00"]]')
    assert takes(frame) == "😀"
    assert takes(frame.replace(b"\\ude00", b"\\u0041")) is None  # a lone high surrogate


@given(st.data(), st.text(max_size=5), st.sampled_from(["orjson", "json"]))
def test_any_byte_changed_in_a_steady_frame_is_refused_or_read_as_the_full_parse_reads_it(
        data: st.DataObject, token: str, mode: str) -> None:
    frame = bytearray(compact(steady(token)))
    at = data.draw(st.integers(0, len(frame)))
    byte = data.draw(st.sampled_from(b'"\\]}[{,:0123456789.e-+ xa\x00\xff'))
    op = data.draw(st.sampled_from(["insert", "replace", "delete"]))
    if op == "insert":
        frame[at:at] = bytes([byte])
    elif at < len(frame):
        frame[at:at + 1] = bytes([byte]) if op == "replace" else b""
    with parser(mode):
        fast, slow = learned(), learned()
        text, _ = fast.append_frames([bytes(frame)], 0)
        if text is None:
            return
        assert slow.append_text(protocol.loads(bytes(frame))) == text
        assert fast.tracker.text == slow.tracker.text


def test_a_moved_leaf_or_a_broken_diff_stops_the_shape() -> None:
    proto = learned()
    # a new message: the answer's leaf moves (a new list), the old shape no longer holds
    proto.handle(generating([[], [["add", [2], {"role": "assistant", "content": "x"}]], []], 3))
    assert proto.append_frames([compact(steady("y"))], 0) == (None, 0)
    proto = learned()
    proto.handle(generating([[], [["delete", [9, "content"], None]], []], 3))  # does not apply
    assert proto.append_frames([compact(steady("y"))], 0) == (None, 0)
    proto = learned()
    proto.event_id = "another job"  # its frames no longer are this job's
    assert proto.append_frames([compact(steady("y"))], 0) == (None, 0)


def test_a_shape_is_learned_again_after_the_leaf_moved() -> None:
    proto = learned()
    proto.handle(generating([[], [["add", [2], {"role": "assistant", "content": "x"}]], []], 3))
    leaf = [2, "content"]
    first = compact(generating([[], [["append", leaf, "y"]], []], 4))
    assert proto.append_text(json.loads(first), first) == "y"
    assert proto.append_frames([compact(generating([[], [["append", leaf, "z"]], []], 5))],
                               0) == ("z", 1)
    assert proto.tracker.text == "Hi!\n\nxyz"


def test_learning_stops_after_a_few_frames_that_do_not_fit() -> None:
    """A Space whose steady frames never fit a shape (spaces after colons here) stops paying
    for the attempt after a few frames; every frame is still read by the full parse."""
    proto = learned()
    proto._shape = None
    with counted(frames.AppendShape, "learn") as calls:
        for i in range(20):
            frame = json.dumps(steady(f"t{i}")).encode()
            assert proto.append_text(json.loads(frame), frame) == f"t{i}"
    assert calls == [protocol._LEARNS - 1]  # learned() used one


def test_each_channel_has_its_own_learning_budget() -> None:
    """Reasoning frames that never fit a shape use up the reasoning's attempts only: after
    exactly the budget they stop being tried, and the answer still learns its shape."""
    proto = JobProtocol(api_for("pro"), model="m")
    proto.event_id = EID
    proto.handle(generating(["", pro_value("t", "a"), None], 0))
    thought, answer = ["value", 1, "content", 0, "content"], ["value", 1, "content", 1, "content"]
    with counted(frames.AppendShape, "learn") as calls:
        for i in range(20):
            frame = json.dumps(generating([[], [["append", thought, f"t{i}"]], []], 2)).encode()
            assert proto.append_text(json.loads(frame), frame) == f"t{i}"
            assert proto.channel is ReasoningDelta
    assert calls == [protocol._LEARNS]
    first = compact(generating([[], [["append", answer, "b"]], []], 2))
    assert proto.append_text(json.loads(first), first) == "b" and proto.channel is TextDelta
    assert proto.append_frames([compact(generating([[], [["append", answer, "c"]], []], 2))],
                               0) == ("c", 1)
    assert proto.tracker.reasoning == "t" + "".join(f"t{i}" for i in range(20))


def test_a_frame_whose_head_fits_but_whose_token_cannot_be_found_teaches_nothing() -> None:
    for frame in [compact(steady('a"]]b')),  # the first '"]]' is inside the token
                  compact(steady("x")).replace(b'"x"]]', b'"x"]', 1) + b"]"]:
        proto = JobProtocol(api_for("parts"), model="m")
        proto.event_id = EID
        proto.handle(generating(render("parts", 0, "Hi"), 0))
        try:
            msg = json.loads(frame)
        except ValueError:
            continue
        proto.append_text(msg, frame)
        assert proto.append_frames([compact(steady("y"))], 0) == (None, 0)


def test_a_tail_with_a_backslash_or_a_front_key_teaches_nothing() -> None:
    # (a key's name as a string value counts too: the check is on bytes, and errs on the
    # side of the full parse)
    for extra in [{"title": "a\\b"}, {"note": "data"}, {"x": {"msg": 1}}]:
        proto = JobProtocol(api_for("parts"), model="m")
        proto.event_id = EID
        proto.handle(generating(render("parts", 0, "Hi"), 0))
        frame = compact(steady("!") | extra)
        proto.append_text(json.loads(frame), frame)
        assert proto.append_frames([compact(steady("y") | extra)], 0) == (None, 0)
    proto = learned()  # and a tail without them does teach
    assert proto.append_frames([compact(steady("y"))], 0) == ("y", 1)


def test_a_tail_may_hold_the_end_marker_itself() -> None:
    """A tail with '"]]' in it (another output's edit, say): the token's end is the first
    one after the head, and frames with new durations are still taken."""
    extra = {"x": [["a"]]}
    proto = JobProtocol(api_for("parts"), model="m")
    proto.event_id = EID
    proto.handle(generating(render("parts", 0, "Hi"), 0))
    first = compact(steady("!", 1) | extra)
    assert b'"]]' in first[first.index(b'!"]]') + 4:]
    assert proto.append_text(json.loads(first), first) == "!"
    assert proto.append_frames([compact(steady(t, i) | extra) for i, t in enumerate("abc")],
                               0) == ("abc", 3)


def test_digits_in_a_string_of_the_tail_are_not_numbers() -> None:
    proto = JobProtocol(api_for("parts"), model="m")
    proto.event_id = EID
    proto.handle(generating(render("parts", 0, "Hi"), 0))
    first = compact(steady("!") | {"v": "b12"})
    assert proto.append_text(json.loads(first), first) == "!"
    assert proto.append_frames([compact(steady("x", 3) | {"v": "b12"})], 0) == ("x", 1)
    assert proto.append_frames([compact(steady("y", 4) | {"v": "b13"})], 0) == (None, 0)


def test_the_numbers_of_the_tail_may_change_and_only_they() -> None:
    frame = compact(steady("x"))
    assert takes(frame.replace(b'"duration":', b'"duration":-1.5e+12,"x":', 1)) is None
    for number in [b"0", b"-0", b"7", b"12.5", b"1e5", b"1E-07", b"0.000037670135498046875",
                   b"99999999999999999999.5e99"]:
        changed = frame.replace(b'"duration":1.5e-05', b'"duration":' + number, 1)
        assert changed != frame
        assert takes(changed) == "x", number
    for number in [b"01", b"1.", b".5", b"1e", b"1e+", b"--1", b"1e100", b"1" * 21, b"+1"]:
        assert takes(frame.replace(b'"duration":1.5e-05', b'"duration":' + number, 1)) \
            is None, number


def test_several_steady_frames_in_one_read_are_one_piece_and_one_state() -> None:
    proto = learned()
    fs: list[bytes | str] = [compact(steady(t, i)) for i, t in enumerate(["a", "b", "c"])]
    assert proto.append_frames([b"", *fs, b"x"], 1) == ("abc", 4)
    assert proto.tracker.text == "Hi!abc"


# -- /call -------------------------------------------------------------------------------------
def call_body(vals: list[list[Any]], style: str) -> bytes:
    """A /call stream: ``event: generating`` with the whole value per step, then complete."""
    dumps: Any = json.dumps if style == "json.dumps" else compact
    out = [b"event: generating\ndata: " + _bytes(dumps(v)) + b"\n\n" for v in vals]
    out.append(b"event: complete\ndata: " + _bytes(dumps(vals[-1])) + b"\n\n")
    return b"".join(out)


def _bytes(x: bytes | str) -> bytes:
    return x if isinstance(x, bytes) else x.encode()


def call_api(fmt: str) -> SpaceAPI:
    return dataclasses.replace(api_for(fmt), use_queue=False)


@settings(max_examples=150, deadline=None)
@given(st.sampled_from(FORMATS), st.integers(0, 2), TOKENS, TOKENS,
       st.lists(st.integers(0, 20_000), max_size=12), st.sampled_from(["json.dumps", "orjson"]),
       st.sampled_from(["orjson", "json"]))
def test_call_streams_are_exact_in_every_format_and_any_chunking(
        fmt: str, turns: int, thought: list[str], tokens: list[str], cuts: list[int],
        style: str, mode: str) -> None:
    api = call_api(fmt)
    body = call_body(values(fmt, turns, thought if fmt == "pro" else [], tokens), style)
    with parser(mode):
        want = oracle(api, body)
        _, got = read(api, chunks(body, cuts))
    assert got[-1] == want[-1]
    for kind in (TextDelta, ReasoningDelta):
        assert rebuilt(got, kind) == rebuilt(want, kind)


@pytest.mark.parametrize("mode", ["orjson", "json"])
@pytest.mark.parametrize("style", ["json.dumps", "orjson"])
@pytest.mark.parametrize("fmt", FORMATS)
def test_steady_call_frames_are_not_parsed(fmt: str, style: str, mode: str,
                                           monkeypatch: pytest.MonkeyPatch) -> None:
    count = Counting(monkeypatch)
    tokens = [f" w{i}é" if i % 3 else f'\n"w{i}"\\' for i in range(40)]
    body = call_body(values(fmt, 1, [], tokens), style)
    with parser(mode):
        _, got = read(call_api(fmt), chunks(body, [len(body) // 2]))
    assert rebuilt(got, TextDelta) == "".join(tokens)
    # Of 40 token frames, the first teaches the shape; but a bare text output is taught by
    # the empty frame before it, where "" stands once (elsewhere it stands many times).
    assert count.call == (40 if fmt == "text" else 39)


@pytest.mark.parametrize("style", ["json.dumps", "orjson"])
def test_an_answer_that_is_not_ascii_is_found_in_either_style(
        style: str, monkeypatch: pytest.MonkeyPatch) -> None:
    """json.dumps writes é as \\u00e9, orjson as its UTF-8 bytes: the shape is learned from
    the first token frame either way."""
    count = Counting(monkeypatch)
    tokens = [f"é{i}" for i in range(10)]
    body = call_body(values("parts", 0, [], tokens), style)
    _, got = read(call_api("parts"), [body])
    assert rebuilt(got, TextDelta) == "".join(tokens)
    assert count.call == 9


def call_learned(fmt: str = "text") -> tuple[JobProtocol, bytes]:
    """A /call job past one parsed generating frame (which taught the shape)."""
    proto = JobProtocol(call_api(fmt), model="m")
    first = json.dumps(values(fmt, 1, [], ["Hello"])[-1]).encode()
    assert proto.call_frame("generating", first) == [TextDelta("Hello")]
    return proto, first


def call_takes(frame: bytes, fmt: str = "text") -> list[StreamEvent] | None:
    """The events of ``frame`` after a learned frame if the fast path took it, else None
    (the full parse's events must then be what the client gets: checked too)."""
    proto, first = call_learned(fmt)
    genuine = first.replace(b'Hello"', b'Hello, you"')
    assert call_learned(fmt)[0].call_frame("generating", genuine) == [TextDelta(", you")]
    ref = JobProtocol(call_api(fmt), model="m")
    ref.handle_call(SSEEvent("generating", first.decode()))
    try:
        want = ref.handle_call(SSEEvent("generating", frame.decode("utf-8", "replace")))
    except SpaceError as exc:
        with pytest.raises(type(exc)):
            proto.call_frame("generating", frame)
        return None
    calls = frames.CallShape.take
    taken: list[str | None] = []

    def take(shape: frames.CallShape, f: bytes) -> str | None:
        taken.append(calls(shape, f))
        return taken[-1]

    frames.CallShape.take = take  # type: ignore[method-assign]
    try:
        got = proto.call_frame("generating", frame)
    finally:
        frames.CallShape.take = calls  # type: ignore[method-assign]
    assert rebuilt(got, TextDelta) == rebuilt(want, TextDelta)
    assert [e.replaced for e in got] == [e.replaced for e in want]  # type: ignore[attr-defined]
    return got if taken and taken[0] is not None else None


@pytest.mark.parametrize("fmt", FORMATS)
def test_lookalike_call_frames_do_not_take_the_fast_path(fmt: str) -> None:
    _, first = call_learned(fmt)
    grown = first.replace(b'Hello"', b'Hello!"')
    assert call_takes(grown, fmt) == [TextDelta("!")]
    for frame in [
        first.replace(b'Hello"', b'Jello!"'),                  # a rewrite, not an append
        first.replace(b'Hello"', b'Hell"'),                    # shorter
        first.replace(b'Hello"', b'Hello", "Hello"'),         # one more item, or invalid
        first.replace(b'Hello"', b'Hello\\"'),                 # the quote escaped: no string
        first.replace(b'Hello"', b'Hello\\udc00"'),           # a lone low surrogate
        first.replace(b'Hello"', b'Hello\xff"'),               # invalid UTF-8 (replaced)
        first[:-1] + b", 1]",                                  # the tail changed
        first + b" ",
        b" " + first,
    ]:
        assert call_takes(frame, fmt) is None, frame


def test_a_surrogate_pair_split_across_call_frames_is_left_to_the_full_parse() -> None:
    high = json.dumps(["Hello\ud83d"]).encode()
    pair = high.replace(b'\\ud83d"', b'\\ud83d\\ude00"')
    assert json.loads(pair) == ["Hello😀"]
    with parser("json"):  # json decodes a lone surrogate; orjson refuses it
        proto, first = call_learned()
        ref = JobProtocol(call_api("text"), model="m")
        want = [e for f in (first, high, pair)
                for e in ref.handle_call(SSEEvent("generating", f.decode()))]
        got = [TextDelta("Hello"), *proto.call_frame("generating", high),
               *proto.call_frame("generating", pair)]
    assert rebuilt(got, TextDelta) == rebuilt(want, TextDelta) == "Hello😀"


def test_an_answer_that_stands_twice_in_the_frame_teaches_nothing() -> None:
    proto = JobProtocol(call_api("parts"), model="m")
    value = ["", [{"role": "user", "content": [{"type": "text", "text": "echo"}]},
                  {"role": "assistant", "content": [{"type": "text", "text": "echo"}]}], None]
    proto.call_frame("generating", json.dumps(value).encode())
    value[1][1]["content"][0]["text"] = "echo!"
    assert proto._call_shape is None
    assert proto.call_frame("generating", json.dumps(value).encode()) == [TextDelta("!")]


def test_a_lookalike_literal_inside_another_string_teaches_nothing() -> None:
    """Written by a server that escapes differently, the answer's literal is not found as
    itself, only inside another string: the probe parse shows it is not the answer."""
    proto = JobProtocol(call_api("text"), model="m")
    frame = b'["\\u00e9", "x\\"\\u00e9", null]'.replace(b'"\\u00e9", "x', b'"\\u00E9", "x', 1)
    # output 0 holds "é" (upper-case escape); output 1 holds 'x"é' whose tail looks like it
    proto.call_frame("generating", frame)
    assert proto._call_shape is None


def test_an_answer_found_only_as_a_key_teaches_nothing() -> None:
    """The answer "text", escaped in its own string, stands as itself only as a key: the
    probe renames that key, and the leaf is not there at all."""
    proto = JobProtocol(call_api("text"), model="m")
    assert proto.call_frame("generating", b'[{"text": "te\\u0078t"}]') == [TextDelta("text")]
    assert proto._call_shape is None


def test_an_answer_with_a_lone_surrogate_is_looked_for_without_an_error() -> None:
    """json decodes a lone surrogate (here written with upper-case hex, so the json.dumps
    form is not found and the orjson form is tried): no such bytes can be in a frame, so
    nothing is learned, and nothing is raised."""
    with parser("json"):
        proto = JobProtocol(call_api("text"), model="m")
        assert proto.call_frame("generating", b'["a\\uD800"]') == [TextDelta("a\ud800")]
        assert proto._call_shape is None


def test_a_frame_shorter_than_the_last_one_is_never_taken_as_no_change() -> None:
    """An answer that ends in an escaped quote: a frame that is the previous one minus its
    closing quote starts with the previous answer and ends with its tail (they overlap by
    that quote). It is not JSON, and the full parse says so."""
    proto = JobProtocol(call_api("text"), model="m")
    first = json.dumps(['say "hi"']).encode()
    assert proto.call_frame("generating", first) == [TextDelta('say "hi"')]
    assert proto._call_shape is not None
    with pytest.raises(SpaceProtocolError):
        proto.call_frame("generating", first.replace(b'\\""]', b'\\"]'))


def test_learning_a_call_shape_stops_after_a_few_frames_that_do_not_fit() -> None:
    """The answer also stands in another output, so its literal is never unique: the first
    frames try, then no more."""
    proto = JobProtocol(call_api("text"), model="m")
    with counted(frames.CallShape, "learn") as calls:
        for i in range(1, 20):
            text = "ab" * i
            assert proto.call_frame("generating", json.dumps([text, text]).encode()) \
                == [TextDelta("ab")]
    assert calls == [protocol._LEARNS]


def test_placeholders_turn_the_call_fast_path_off() -> None:
    proto = JobProtocol(call_api("text"), model="m", placeholders=("Thinking...",))
    assert proto.call_frame("generating", b'["Thinking..", null, null]') == \
        [TextDelta("Thinking..")]
    events = proto.call_frame("generating", b'["Thinking...", null, null]')
    assert rebuilt([TextDelta("Thinking.."), *events], TextDelta) == ""


def test_a_malformed_call_frame_is_a_protocol_error_either_way() -> None:
    proto, first = call_learned()
    with pytest.raises(SpaceProtocolError):
        proto.call_frame("generating", first[:-3])
    proto, _ = call_learned()
    assert proto.call_frame("generating", first) == []  # unchanged: nothing new
    assert proto.call_frame("heartbeat", b"") == []
