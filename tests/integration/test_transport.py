"""The transport against replica Spaces served by real Gradio (6.x and 4.44.1)."""

from __future__ import annotations

import asyncio
import base64
import contextlib
import dataclasses
import hashlib
import inspect
import io
import re
import time
from collections.abc import AsyncIterator
from contextlib import aclosing
from typing import Any

import pytest
from PIL import Image

from qwen_spaces import (
    Finished,
    ProgressUpdate,
    QueueFullError,
    QueuePosition,
    QuotaExceededError,
    SpaceAppError,
    SpaceClient,
    SpaceLog,
    SpaceProtocolError,
    SpaceTimeoutError,
    StreamEvent,
    TextDelta,
    Timeouts,
)
from qwen_spaces.replica import ReplicaSet
from qwen_spaces.transport import get_session
from tests.util import leave_early, wait_for

CHAT_MODELS = ["qwen-2-72b", "qwen-2.5", "qwen-2.5-max"]
CONVERSATION = [
    {"role": "system", "content": "You are a test oracle."},
    {"role": "user", "content": "first question"},
    {"role": "assistant", "content": "first answer"},
    {"role": "user", "content": "second question"},
    {"role": "assistant", "content": "second answer"},
    {"role": "user", "content": "what is 2+2?"},
]


def client_for(reps: ReplicaSet, **kw: Any) -> SpaceClient:
    kw.setdefault("read_env_token", False)
    return SpaceClient(base_urls={m: reps.url(m) for m in reps.models}, **kw)


async def collect(stream: AsyncIterator[StreamEvent]) -> list[StreamEvent]:
    async with aclosing(stream) as events:  # type: ignore[type-var]
        return [e async for e in events]


def text_of(events: list[StreamEvent]) -> str:
    return "".join(e.text for e in events if isinstance(e, TextDelta))


@pytest.mark.parametrize("model", CHAT_MODELS)
async def test_chat_streams_and_maps_the_conversation(any_replicas: ReplicaSet,
                                                      model: str) -> None:
    client = client_for(any_replicas)
    events = await collect(client.astream(model, CONVERSATION))
    final = events[-1]
    assert isinstance(final, Finished)
    deltas = [e for e in events if isinstance(e, TextDelta)]
    assert len(deltas) >= 2, "streamed, not one lump at the end"
    assert "".join(d.text for d in deltas) == final.text
    assert "local replica of" in final.text
    assert "system: You are a test oracle." in final.text
    assert "history_turns: 2" in final.text
    assert "query: what is 2+2?" in final.text


async def test_text_arrives_as_the_space_generates_it(any_replicas: ReplicaSet) -> None:
    """Pieces generated 0.2 s apart each arrive as their own delta, as they are made.
    (Frames that reach the client in the same network read are passed on as one delta.)"""
    client = client_for(any_replicas)
    arrivals: list[tuple[float, str]] = []
    async with aclosing(client.astream("qwen-2.5-max", [
            {"role": "user", "content": "/slow 5 0.2"}])) as events:
        async for e in events:
            if isinstance(e, TextDelta):
                arrivals.append((time.monotonic(), e.text))
    ticks = [(t, re.findall(r"tick \d", text)) for t, text in arrivals if "tick" in text]
    assert [found for _, found in ticks] == [[f"tick {i}"] for i in range(5)]  # one each
    assert ticks[-1][0] - ticks[0][0] > 0.6  # spread over the generation, not one burst


async def test_variant_reaches_the_size_radio(any_replicas: ReplicaSet) -> None:
    client = client_for(any_replicas)
    final = await client.achat("qwen-2.5-7b", [{"role": "user", "content": "hi"}])
    assert "variant: 7B" in final.text
    final = await client.achat("qwen-2.5", [{"role": "user", "content": "hi"}])
    assert "variant: 72B" in final.text
    assert "system: You are Qwen, created by Alibaba Cloud" in final.text  # catalog default


async def test_discovery_reads_the_live_layout(any_replicas: ReplicaSet) -> None:
    client = client_for(any_replicas)
    legacy = any_replicas.generation != "6"
    for model, fn_index, trigger in [("qwen-2-72b", 0, 11), ("qwen-2.5", 3, 25),
                                     ("qwen-2.5-max", 0, 11)]:
        api = await client.adiscover(model)
        assert api.source == "config"
        assert (api.fn_index, api.trigger_id) == (fn_index, trigger)
        assert api.api_prefix == ("" if legacy else "/gradio_api")
        assert api.history_format == ("tuples" if legacy else "parts")
    qvq = await client.adiscover("qvq-72b")
    assert qvq.input_roles == ("image", "query") and qvq.api_name == "generate"


@pytest.mark.parametrize("text", [
    "ha ha ha\n\n\n\n[1] [1] [1] .. .. ..",
    "  leading and trailing spaces  ",
    "unicode: é ü 中文 😀 😀",
    '{"json": [1, 2, 3]} [] {} ""',
])
@pytest.mark.parametrize("model", ["qwen-2.5-max", "qvq-72b"])
async def test_exact_reconstruction_of_tricky_text(any_replicas: ReplicaSet, text: str,
                                                   model: str) -> None:
    client = client_for(any_replicas)
    events = await collect(client.astream(model, [{"role": "user", "content": f"/echo {text}"}]))
    expected = text
    if any_replicas.generation != "6" and model != "qvq-72b":
        expected = inspect.cleandoc(text)  # Gradio 4's Chatbot cleandocs every message it sends
    assert events[-1].text == expected
    assert text_of(events) == expected


def _png(width: int, height: int, color: tuple[int, int, int]) -> bytes:
    buf = io.BytesIO()
    Image.new("RGB", (width, height), color).save(buf, format="PNG")
    return buf.getvalue()


async def test_qvq_sees_the_exact_uploaded_image(any_replicas: ReplicaSet, tmp_path: Any) -> None:
    client = client_for(any_replicas)
    png = _png(7, 5, (200, 10, 10))
    digest = hashlib.sha256(png).hexdigest()[:12]
    path = tmp_path / "red.png"
    path.write_bytes(png)
    uri = "data:image/png;base64," + base64.b64encode(png).decode()
    for source in (png, path, uri):
        final = await client.achat("qvq-72b", [
            {"role": "user", "content": "What is in this picture?", "images": [source]}])
        assert f"sha256:{digest}" in final.text
        assert "7x5" in final.text
        assert "query: What is in this picture?" in final.text
    final = await client.achat("qvq-72b", [{"role": "user", "content": "no picture"}])
    assert "image: no image" in final.text


async def test_quota_error_is_typed(any_replicas: ReplicaSet) -> None:
    client = client_for(any_replicas)
    seen: list[StreamEvent] = []
    with pytest.raises(QuotaExceededError) as info:
        async with aclosing(client.astream("qwen-2.5-max", [
                {"role": "user", "content": "/quota"}])) as events:
            async for e in events:
                seen.append(e)
    assert info.value.retry_after == 600
    assert "You have exceeded your ZeroGPU quota (60s requested vs. 12s left)" in str(info.value)
    assert not str(info.value).split(": ", 1)[1].startswith("'")
    assert not [e for e in seen if isinstance(e, TextDelta)]


async def test_errors_mid_stream_and_hidden_crashes(any_replicas: ReplicaSet) -> None:
    client = client_for(any_replicas)
    seen: list[StreamEvent] = []
    with pytest.raises(SpaceAppError, match="replica: simulated failure mid-stream") as info:
        async with aclosing(client.astream("qwen-2-72b", [
                {"role": "user", "content": "/error-mid"}])) as events:
            async for e in events:
                seen.append(e)
    assert type(info.value) is SpaceAppError
    assert text_of(seen), "the partial answer streamed before the error"
    with pytest.raises(SpaceAppError, match="without saying why"):
        await client.achat("qwen-2-72b", [{"role": "user", "content": "/crash"}])


async def test_non_prefix_rewrite(any_replicas: ReplicaSet) -> None:
    client = client_for(any_replicas)
    events = await collect(client.astream("qwen-2.5-max", [
        {"role": "user", "content": "/rewrite"}]))
    text = ""
    for e in events:
        if isinstance(e, TextDelta):
            text = text[:len(text) - e.replaced] + e.text
    final = events[-1]
    assert isinstance(final, Finished)
    assert text == final.text and "Thinking..." not in final.text
    assert any(isinstance(e, TextDelta) and e.replaced for e in events)


async def test_long_reply(any_replicas: ReplicaSet) -> None:
    client = client_for(any_replicas)
    n = 1_200_000
    events = await collect(client.astream("qwen-2-72b", [
        {"role": "user", "content": f"/long {n}"}]))
    assert len(events[-1].text) == n
    assert text_of(events) == events[-1].text


async def test_status_events(any_replicas: ReplicaSet) -> None:
    client = client_for(any_replicas)
    events = await collect(client.astream("qwen-2.5-max", [{"role": "user", "content": "/log"}]))
    logs = [(e.level, e.message) for e in events if isinstance(e, SpaceLog)]
    assert ("info", "replica: info message") in logs
    assert ("warning", "replica: warning message") in logs
    assert [e for e in events if isinstance(e, ProgressUpdate)]
    assert isinstance(events[0], QueuePosition)


def _stopped(reps: ReplicaSet, model: str, before: int) -> bool:
    stats = reps.stats(model)
    return stats["stopped_early"] > before and stats["active"] == 0


@pytest.mark.parametrize("how", ["break", "task_cancel", "sync_break"])
async def test_leaving_a_stream_stops_the_server_side_generator(
        any_replicas: ReplicaSet, how: str) -> None:
    client = client_for(any_replicas)
    model = "qwen-2.5-max"
    before = any_replicas.stats(model)["stopped_early"]
    await leave_early(client, model, [{"role": "user", "content": "/slow 40 0.25"}], how)
    assert await asyncio.to_thread(wait_for, lambda: _stopped(any_replicas, model, before))


@pytest.mark.parametrize("generation", ["6", "4.44.1"], ids=lambda g: f"gradio{g}")
async def test_queue_position_queue_full_and_retry(replica_factory: Any, generation: str) -> None:
    reps = replica_factory(models=["qwen-2.5-max"], max_size=1, concurrency=1, token_delay=0.01,
                           generation=generation)
    model = "qwen-2.5-max"
    client = client_for(reps, max_retries=0)
    running = client.astream(model, [{"role": "user", "content": "/slow 6 0.5"}])
    first = asyncio.create_task(collect(running))
    await asyncio.to_thread(wait_for, lambda: reps.stats(model)["active"] == 1)
    queued = asyncio.create_task(collect(client.astream(model, [{"role": "user", "content": "q"}])))
    await asyncio.sleep(0.5)
    with pytest.raises(QueueFullError):
        await client.achat(model, [{"role": "user", "content": "third"}])
    # With retries, the same request waits out the full queue instead of failing.
    patient = client_for(reps, max_retries=8, retry_backoff=0.5)
    final = await patient.achat(model, [{"role": "user", "content": "patient"}])
    assert "query: patient" in final.text
    queued_events = await queued
    assert next(e.position for e in queued_events if isinstance(e, QueuePosition)) == 1
    assert "query: q" in queued_events[-1].text
    assert "tick 5" in (await first)[-1].text


async def test_queue_wait_timeout(replica_factory: Any) -> None:
    reps = replica_factory(models=["qwen-2.5-max"], concurrency=1, token_delay=0.01)
    model = "qwen-2.5-max"
    busy = asyncio.create_task(collect(client_for(reps).astream(
        model, [{"role": "user", "content": "/slow 8 0.5"}])))
    await asyncio.to_thread(wait_for, lambda: reps.stats(model)["active"] == 1)
    impatient = client_for(reps, timeouts=Timeouts(queue=1.0))
    start = time.monotonic()
    with pytest.raises(SpaceTimeoutError) as info:
        await impatient.achat(model, [{"role": "user", "content": "waiting"}])
    assert info.value.phase == "queue"
    assert time.monotonic() - start < 4
    busy.cancel()
    with contextlib.suppress(asyncio.CancelledError):
        await busy


async def test_idle_timeout_and_heartbeats(replica_factory: Any,
                                           monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("GRADIO_HEARTBEAT_INTERVAL", "0.5")
    beating = replica_factory(models=["qwen-2.5-max"], token_delay=0.01)
    monkeypatch.setenv("GRADIO_HEARTBEAT_INTERVAL", "300")
    silent = replica_factory(models=["qwen-2.5-max"], token_delay=0.01)
    msgs = [{"role": "user", "content": "/slow 1 3"}]  # the tick comes after 3 s of silence
    strict = Timeouts(idle=1.5)
    with pytest.raises(SpaceTimeoutError) as info:
        await client_for(silent, timeouts=strict).achat("qwen-2.5-max", msgs)
    assert info.value.phase == "idle"
    final = await client_for(beating, timeouts=strict).achat("qwen-2.5-max", msgs)
    assert "tick 0" in final.text


async def test_call_protocol_where_the_queue_is_not_used(replicas: ReplicaSet) -> None:
    client = client_for(replicas)
    api = await client.adiscover("qwen-2.5-max")
    key = next(k for k in client._apis if k[0] == "qwen-2.5-max")
    client._apis[key] = dataclasses.replace(api, use_queue=False)
    events = await collect(client.astream("qwen-2.5-max", CONVERSATION))
    assert "history_turns: 2" in events[-1].text
    assert text_of(events) == events[-1].text
    assert not [e for e in events if isinstance(e, QueuePosition)]  # /call has no queue status


async def test_live_api_mismatch_names_the_space(replicas: ReplicaSet) -> None:
    client = SpaceClient(base_urls={"qvq-72b": replicas.url("qwen-2.5-max")})
    with pytest.raises(SpaceProtocolError, match="Qwen/QVQ-72B-preview no longer has the "
                                                 "endpoint /generate"):
        await client.achat("qvq-72b", [{"role": "user", "content": "hi"}])


async def test_token_goes_to_the_space_only(replicas: ReplicaSet) -> None:
    token = "hf_test_token_for_the_replica"
    client = client_for(replicas, hf_token=token)
    await client.achat("qwen-2.5-max", [{"role": "user", "content": "hi"}])
    headers = replicas.stats("qwen-2.5-max")["last_headers"]
    assert headers["x-hf-authorization"] is True
    assert headers["x-hf-authorization_sha256"] == hashlib.sha256(token.encode()).hexdigest()[:12]
    assert headers["user-agent"].startswith("qwen-spaces/")
    anonymous = client_for(replicas)
    await anonymous.achat("qwen-2.5-max", [{"role": "user", "content": "hi"}])
    assert replicas.stats("qwen-2.5-max")["last_headers"]["x-hf-authorization"] is False


async def test_sync_calls_work_inside_a_running_loop(replicas: ReplicaSet) -> None:
    client = client_for(replicas)
    assert asyncio.get_running_loop().is_running()
    final = client.chat("qwen-2.5-max", [{"role": "user", "content": "from sync"}])
    assert "query: from sync" in final.text
    pieces = [e.text for e in client.stream("qwen-2.5-max", [
        {"role": "user", "content": "/echo streamed in sync"}]) if isinstance(e, TextDelta)]
    assert "".join(pieces) == "streamed in sync"


def test_one_pooled_session_per_loop_closed_at_loop_shutdown(replicas: ReplicaSet) -> None:
    client = client_for(replicas)
    seen: list[Any] = []

    async def main() -> None:
        for i in range(3):
            await client.achat("qwen-2.5-max", [{"role": "user", "content": f"call {i}"}])
            seen.append(await get_session())

    asyncio.run(main())  # ResourceWarnings are errors in this suite
    assert len({id(s) for s in seen}) == 1
    assert seen[0].closed


@pytest.mark.parametrize(("limits", "reason"), [({"stop": ["tick 2"]}, "stop"),
                                                ({"max_tokens": 12}, "length")])
async def test_client_side_limits_cut_the_reply_and_cancel_the_job(
        any_replicas: ReplicaSet, limits: dict[str, Any], reason: str) -> None:
    from qwen_spaces.limits import count_tokens

    client = client_for(any_replicas)
    model = "qwen-2.5-max"
    before = any_replicas.stats(model)["stopped_early"]
    events = await collect(client.astream(model, [{"role": "user", "content": "/slow 40 0.2"}],
                                          **limits))
    final = events[-1]
    assert isinstance(final, Finished) and final.finish_reason == reason
    assert text_of(events) == final.text
    if reason == "stop":
        assert "tick 1" in final.text and "tick 2" not in final.text
    else:
        assert count_tokens(final.text) == 12
    assert await asyncio.to_thread(wait_for, lambda: _stopped(any_replicas, model, before))
