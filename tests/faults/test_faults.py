"""Fault injection: each fault ends in the right typed error or in a clean retry.

The fault server (tests/fault_server.py) replays real Gradio 6.31 frames and misbehaves on cue.
Slot-freeing is proven on a real concurrency-1 replica. docs/faults.md lists each fault,
what the user sees, and the test here that proves it.
"""

from __future__ import annotations

import asyncio
import copy
import json
import subprocess
import sys
import time
import tracemalloc
from collections.abc import AsyncGenerator
from contextlib import aclosing
from pathlib import Path
from typing import Any

import pytest

from qwen_spaces import (
    Finished,
    QueueFullError,
    SpaceAppError,
    SpaceClient,
    SpaceError,
    SpaceProtocolError,
    SpaceTimeoutError,
    SpaceUnavailableError,
    StreamEvent,
    TextDelta,
    Timeouts,
)
from tests.fault_server import (
    CAPTURED_EVENT_ID,
    CHAT_FRAMES,
    CHAT_TEXT,
    CLOSE,
    HEARTBEAT,
    RESET,
    FaultServer,
    Plan,
    chat_stream,
    frame,
    generating_until_text,
)
from tests.util import leave_early, wait_for

REPO = Path(__file__).resolve().parents[2]
HI = [{"role": "user", "content": "hello there"}]
MODEL = "qwen-2-72b"  # the captured app's model_chat has this Space's layout


def client(server: FaultServer, **kw: Any) -> SpaceClient:
    kw.setdefault("retry_backoff", 0.01)
    kw.setdefault("read_env_token", False)
    return SpaceClient(base_urls={MODEL: server.url, "qwen-2.5-max": server.url}, **kw)


async def run(stream: AsyncGenerator[StreamEvent, None]) -> tuple[str, list[StreamEvent]]:
    events: list[StreamEvent] = []
    async with aclosing(stream) as it:
        async for e in it:
            events.append(e)
    return "".join(e.text for e in events if isinstance(e, TextDelta)), events


async def run_partial(c: SpaceClient, model: str = MODEL) -> tuple[str, BaseException]:
    """Consume until the stream fails; return the text seen and the error."""
    text = ""
    try:
        async with aclosing(c.astream(model, HI)) as it:
            async for e in it:
                if isinstance(e, TextDelta):
                    text += e.text
    except SpaceError as exc:
        return text, exc
    raise AssertionError(f"no error; got {text!r}")


# -- connection faults ----------------------------------------------------------------------

@pytest.mark.fast
@pytest.mark.parametrize("plan", [Plan(join_reset=True), Plan(data_reset_first=True),
                                  Plan(stream=[CHAT_FRAMES[0], RESET])],
                         ids=["reset-before-join", "reset-after-join", "reset-before-text"])
async def test_resets_before_any_text_are_retried_cleanly(plan: Plan) -> None:
    async with FaultServer(script=[plan, Plan()]) as server:
        text, events = await run(client(server).astream(MODEL, HI))
        assert text == CHAT_TEXT == events[-1].text  # nothing duplicated, nothing lost
        assert server.joins == 2
    async with FaultServer(script=[plan]) as server:
        with pytest.raises(SpaceUnavailableError):
            await client(server, max_retries=0).achat(MODEL, HI)


@pytest.mark.fast
async def test_reset_mid_answer_is_an_error_not_a_retry() -> None:
    async with FaultServer(script=[Plan(stream=[*generating_until_text(), 0.05, RESET]),
                                   Plan()]) as server:
        text, exc = await run_partial(client(server, max_retries=3))
        assert isinstance(exc, SpaceUnavailableError)
        assert text and CHAT_TEXT.startswith(text)  # the partial answer, once
        assert server.joins == 1  # text had been streamed: retrying would duplicate it


# -- join failures --------------------------------------------------------------------------

QUEUE_FULL = '{"detail":"Queue is full. Max size is 3 and size is 3."}'
SLEEPING = "<!DOCTYPE html><html><body>This Space is sleeping</body></html>"


@pytest.mark.fast
@pytest.mark.parametrize(("plan", "error", "check"), [
    (Plan(join_status=500, join_body="Internal Server Error", join_content_type="text/plain"),
     SpaceUnavailableError, lambda e: e.status == 500),
    (Plan(join_status=502, join_body="Bad Gateway", join_content_type="text/plain"),
     SpaceUnavailableError, lambda e: e.status == 502),
    (Plan(join_status=503, join_body=QUEUE_FULL), QueueFullError, lambda e: e.retryable),
    (Plan(join_status=429, join_body='{"detail":"rate limited"}'),
     SpaceUnavailableError, lambda e: e.status == 429),
    (Plan(join_status=503, join_body=SLEEPING, join_content_type="text/html"),
     SpaceUnavailableError, lambda e: e.stage == "SLEEPING"),
], ids=["500", "502", "503-queue-full", "429", "html-sleeping"])
async def test_join_failures(plan: Plan, error: type[SpaceError], check: Any) -> None:
    async with FaultServer(script=[plan]) as server:
        with pytest.raises(error) as info:
            await client(server, max_retries=2).achat(MODEL, HI)
        assert check(info.value), info.value
        assert server.joins == 3  # two retries, then the typed error
    async with FaultServer(script=[plan, Plan()]) as server:
        final = await client(server).achat(MODEL, HI)
        assert final.text == CHAT_TEXT


@pytest.mark.fast
async def test_config_html_and_garbage() -> None:
    async with FaultServer(config_status=503, config_body=SLEEPING,
                           config_type="text/html") as server:
        with pytest.raises(SpaceUnavailableError) as info:
            await client(server, max_retries=0).achat(MODEL, HI)
        assert info.value.stage == "SLEEPING" and server.joins == 0
    # Not a Gradio config at all: trust the catalog's pins (qwen-2.5-max: /gradio_api, fn 0).
    async with FaultServer(config_body="}}garbage{{", config_type="text/plain") as server:
        c = client(server)
        assert (await c.adiscover("qwen-2.5-max")).source == "pinned"
        final = await c.achat("qwen-2.5-max", HI)
        assert final.text == CHAT_TEXT


# -- stream faults --------------------------------------------------------------------------

async def posted_cancels(server: FaultServer, timeout: float = 3.0) -> list[dict[str, Any]]:
    """The ``/cancel`` requests the server got. They are sent from a background task (the
    caller is released at once), so they may arrive just after the call has returned."""
    await asyncio.to_thread(wait_for, lambda: bool(server.cancels), timeout)
    return server.cancels


def started() -> list[Any]:
    return [f for f in CHAT_FRAMES if f["msg"] in ("estimation", "process_starts")]


async def test_a_silent_stream_times_out_on_the_idle_timeout() -> None:
    async with FaultServer(script=[Plan(stream=[*generating_until_text(), 30.0])]) as server:
        begin = time.monotonic()
        _, exc = await run_partial(client(server, timeouts=Timeouts(idle=0.5)))
        assert isinstance(exc, SpaceTimeoutError) and exc.phase == "idle"
        assert time.monotonic() - begin < 5
        cancels = await posted_cancels(server)
        assert cancels and cancels[0]["event_id"] == "ev0001"


async def test_heartbeats_forever_in_the_queue_hit_the_queue_timeout() -> None:
    estimation = dict(CHAT_FRAMES[0], rank=4, queue_size=5)
    beats: list[Any] = [estimation, *[HEARTBEAT, 0.1] * 200]
    async with FaultServer(script=[Plan(stream=beats)]) as server:
        begin = time.monotonic()
        with pytest.raises(SpaceTimeoutError) as info:
            await client(server, timeouts=Timeouts(idle=0.5, queue=1.0)).achat(MODEL, HI)
        assert info.value.phase == "queue"
        assert 0.9 < time.monotonic() - begin < 5


async def test_heartbeats_keep_a_running_stream_alive() -> None:
    stream = [*generating_until_text(), *([HEARTBEAT, 0.2] * 8), *chat_stream()[3:], CLOSE]
    async with FaultServer(script=[Plan(stream=stream)]) as server:
        final = await client(server, timeouts=Timeouts(idle=0.5)).achat(MODEL, HI)
        assert final.text == CHAT_TEXT


@pytest.mark.fast
async def test_malformed_json_frame() -> None:
    async with FaultServer(script=[Plan(stream=[*started(), b"data: {not json\n\n"])]) as s:
        with pytest.raises(SpaceProtocolError, match="malformed JSON"):
            await client(s).achat(MODEL, HI)


@pytest.mark.fast
async def test_unknown_message_types_are_ignored() -> None:
    odd = [{"msg": "brand_new_feature", "event_id": CAPTURED_EVENT_ID, "x": [1]},
           {"msg": "something_else", "event_id": None}]
    stream = [*started(), *odd, *chat_stream()[2:], *odd, CLOSE]
    async with FaultServer(script=[Plan(stream=stream)]) as server:
        assert (await client(server).achat(MODEL, HI)).text == CHAT_TEXT


@pytest.mark.fast
async def test_completed_without_data_means_cancelled() -> None:
    cancelled = {"msg": "process_completed", "event_id": CAPTURED_EVENT_ID, "output": {},
                 "success": True, "title": None}
    stream = [*generating_until_text(), cancelled, CLOSE]
    async with FaultServer(script=[Plan(stream=stream)]) as server:
        _, exc = await run_partial(client(server))
        assert isinstance(exc, SpaceAppError) and "cancelled" in str(exc)


@pytest.mark.fast
async def test_other_jobs_on_the_same_stream_are_ignored() -> None:
    def other(f: dict[str, Any]) -> dict[str, Any]:
        g = copy.deepcopy(f)
        g["event_id"] = "someone-else"
        if g["msg"] in ("process_generating", "process_completed"):
            g["output"]["data"][1] = ["garbage", "x"]  # another job's answer
        return g

    mine = chat_stream()
    mixed: list[Any] = []
    for f in mine:
        mixed += [other(f), f]
    async with FaultServer(script=[Plan(stream=[*mixed, CLOSE])]) as server:
        text, events = await run(client(server).astream(MODEL, HI))
        assert text == events[-1].text == CHAT_TEXT


@pytest.mark.fast
async def test_four_megabyte_frame() -> None:
    big = "Hi!" + "x" * (4 * 1024 * 1024)  # the captured first frame streamed "Hi!"
    first = next(f for f in CHAT_FRAMES if f["msg"] == "process_generating")
    done = copy.deepcopy(CHAT_FRAMES[-2])
    done["output"]["data"][1][1]["content"][0]["text"] = big
    stream = [*started(), first, done, CLOSE]
    async with FaultServer(script=[Plan(stream=stream)]) as server:
        text, events = await run(client(server).astream(MODEL, HI))
        assert events[-1].text == big and text == big


async def test_slow_drip_bytes() -> None:
    raw = b"".join(frame(f) for f in [*chat_stream(), CLOSE]).replace(
        CAPTURED_EVENT_ID.encode(), b"ev0001")
    drip: list[Any] = []
    for i in range(0, len(raw), 7):
        drip += [raw[i:i + 7], 0.0005]
    async with FaultServer(script=[Plan(stream=drip)]) as server:
        text, events = await run(client(server).astream(MODEL, HI))
        assert text == events[-1].text == CHAT_TEXT


def test_memory_stays_bounded_on_a_10_mb_reply() -> None:
    size = 10 * 1024 * 1024

    async def consume(url: str) -> tuple[int, int, int]:
        c = SpaceClient(base_urls={MODEL: url}, read_env_token=False)
        total = frames = 0
        tracemalloc.start()
        try:
            async with aclosing(c.astream(MODEL, HI)) as it:
                async for e in it:
                    if isinstance(e, TextDelta):
                        total += len(e.text)  # a consumer that does not keep the text
                        frames += 1
                    elif isinstance(e, Finished):
                        assert len(e.text) == size
            return total, frames, tracemalloc.get_traced_memory()[1]
        finally:
            tracemalloc.stop()

    with subprocess.Popen([sys.executable, "-m", "tests.fault_server", "big", str(size)],
                          stdout=subprocess.PIPE, text=True, cwd=REPO) as server:
        try:
            assert server.stdout is not None
            total, frames, peak = asyncio.run(consume(server.stdout.readline().strip()))
        finally:
            server.kill()
    assert total == size and frames > 1  # streamed, not one lump (reads coalesce frames)
    # The client holds the answer, plus the final frame while it parses it: a small multiple
    # of the reply however many frames it took (measured 3.1x; orjson on it was 15x).
    assert peak < 4 * size, f"peak {peak / 1e6:.1f} MB for a {size / 1e6:.1f} MB reply"


# -- cancellation frees the Space's slot (real replica, concurrency 1) ----------------------

@pytest.mark.parametrize("how", ["break", "task_cancel", "stop", "max_tokens"])
async def test_leaving_early_frees_the_slot_for_the_next_job(replica_factory: Any,
                                                              how: str) -> None:
    reps = replica_factory(models=["qwen-2.5-max"], concurrency=1, token_delay=0.01)
    c = SpaceClient(base_urls={"qwen-2.5-max": reps.url("qwen-2.5-max")})
    slow = [{"role": "user", "content": "/slow 60 0.25"}]  # 15 s if nobody stops it
    begin = time.monotonic()
    if how in ("break", "task_cancel"):
        await leave_early(c, "qwen-2.5-max", slow, how)
    else:
        limit = {"stop": ["tick 1"]} if how == "stop" else {"max_tokens": 5}
        final = await c.achat("qwen-2.5-max", slow, **limit)
        assert final.finish_reason == ("stop" if how == "stop" else "length")
    nxt = await c.achat("qwen-2.5-max", [{"role": "user", "content": "next in line"}])
    assert "query: next in line" in nxt.text
    assert time.monotonic() - begin < 8  # well before the abandoned job would have ended
    assert reps.stats("qwen-2.5-max")["stopped_early"] == 1


@pytest.mark.fast
async def test_cancel_is_posted_for_an_abandoned_job() -> None:
    stream = [*generating_until_text(), 10.0]
    async with FaultServer(script=[Plan(stream=stream)]) as server:
        async with aclosing(client(server).astream(MODEL, HI)) as it:
            async for e in it:
                if isinstance(e, TextDelta):
                    break
        cancels = await posted_cancels(server)
        assert cancels == [{"session_hash": cancels[0]["session_hash"],
                            "fn_index": 0, "event_id": "ev0001"}]


# -- errors are never empty answers ---------------------------------------------------------

@pytest.mark.fast
async def test_no_failure_ends_as_an_empty_answer() -> None:
    """Every broken stream raises: none returns Finished with an empty text."""
    broken: list[list[Any]] = [
        [*started()],                                    # ends without completion
        [*started(), CLOSE],                             # close before completion
        [*started(), {"msg": "process_completed", "event_id": CAPTURED_EVENT_ID,
                      "output": {"error": None}, "success": False}],
        [b"data: " + json.dumps({"msg": "unexpected_error", "event_id": None,
                                 "message": "404: Not Found"}).encode() + b"\n\n"],
    ]
    for stream in broken:
        async with FaultServer(script=[Plan(stream=stream)]) as server:
            with pytest.raises(SpaceError):
                await client(server, max_retries=0).achat(MODEL, HI)
