"""Availability against a fake Hub and a sleeping front before real replicas: waking a
Space, failing fast on one that will not come back, whose stage is asked, where the token
and headers go, and failover across replicas (one of them out of ZeroGPU quota).

The doubles and what their bytes are based on: ``tests/fake_hub.py``.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Iterator
from typing import Any

import pytest
from langchain_core.callbacks import AsyncCallbackHandler
from llama_index.core.base.llms.types import ChatMessage, MessageRole
from llama_index.core.instrumentation import get_dispatcher  # type: ignore[attr-defined]

from langchain_qwen_spaces import STATUS_EVENT, ChatQwenSpaces
from llama_index_qwen_spaces import QwenSpacesLLM, QwenSpacesStatusEvent
from qwen_spaces import (
    NoSpaceAvailableError,
    SpaceClient,
    SpaceSkipped,
    SpaceUnavailableError,
    SpaceWaking,
    TextDelta,
)
from qwen_spaces.replica import ReplicaSet
from tests.fake_hub import FakeHub, SleepingFront
from tests.llama_index.conftest import Collector
from tests.servers import Front, html_page
from tests.util import closed_port

SPACE = "Qwen/Qwen2.5"
TEXT = "awake now, and every byte of this arrives exactly"
WAKING = ["SLEEPING", "BUILDING", "APP_STARTING", "RUNNING"]


@pytest.fixture
async def hub(monkeypatch: pytest.MonkeyPatch) -> AsyncIterator[FakeHub]:
    """The fake Hub, as ``$HF_ENDPOINT`` (read when a client is made)."""
    async with FakeHub() as fake:
        monkeypatch.setenv("HF_ENDPOINT", fake.url)
        yield fake


class Recorder(AsyncCallbackHandler):
    def __init__(self) -> None:
        self.events: list[dict[str, Any]] = []

    async def on_custom_event(self, name: str, data: Any, **kwargs: Any) -> None:
        assert name == STATUS_EVENT
        self.events.append(data)


def runtime_polls(hub: FakeHub, space_id: str = SPACE) -> int:
    return sum(1 for _, path, _ in hub.requests if path == f"/api/spaces/{space_id}/runtime")


def check_waking(events: list[dict[str, Any]]) -> None:
    """At least two stage updates, in the order the Hub went through them."""
    assert [e["stage"] for e in events] == ["BUILDING", "APP_STARTING"]
    assert all(e["space_id"] == SPACE and e["timeout"] == 30 for e in events)
    assert events[0]["elapsed"] < events[1]["elapsed"]


# -- waking ------------------------------------------------------------------------------
async def test_langchain_waits_for_a_sleeping_space_shows_its_stages_and_answers_exactly(
        replicas: ReplicaSet, hub: FakeHub) -> None:
    hub.set_stages(SPACE, WAKING)
    async with SleepingFront(hub, SPACE, replicas.url("qwen-2.5")) as front:
        llm = ChatQwenSpaces(model="qwen-2.5", base_url=front.url, space_id=SPACE,
                             hf_token=None, wake_timeout=30)
        recorder = Recorder()
        reply = await llm.ainvoke(f"/echo {TEXT}", config={"callbacks": [recorder]})
    assert reply.content == TEXT
    check_waking([e for e in recorder.events if e["kind"] == "waking"])
    assert runtime_polls(hub) == 3  # BUILDING, APP_STARTING, RUNNING
    assert front.seen[0][0] == "/config"  # the first request is what woke it


async def test_llama_index_waits_for_a_sleeping_space_shows_its_stages_and_answers_exactly(
        replicas: ReplicaSet, hub: FakeHub) -> None:
    hub.set_stages(SPACE, WAKING)
    collector = Collector()
    root = get_dispatcher()
    root.add_event_handler(collector)
    try:
        async with SleepingFront(hub, SPACE, replicas.url("qwen-2.5")) as front:
            llm = QwenSpacesLLM(model="qwen-2.5", base_url=front.url, space_id=SPACE,
                                hf_token=None, wake_timeout=30)
            stream = await llm.astream_chat(
                [ChatMessage(role=MessageRole.USER, content=f"/echo {TEXT}")])
            text = "".join([r.delta or "" async for r in stream])
    finally:
        root.event_handlers = [h for h in root.event_handlers if h is not collector]
    assert text == TEXT
    waking = [e for e in collector.of(QwenSpacesStatusEvent) if e.kind == "waking"]
    check_waking([e.details for e in waking])


async def test_a_space_stuck_building_fails_with_its_stage_within_wake_timeout(
        replicas: ReplicaSet, hub: FakeHub) -> None:
    hub.set_stages(SPACE, ["BUILDING"])
    async with SleepingFront(hub, SPACE, replicas.url("qwen-2.5")) as front:
        client = SpaceClient(base_urls={"qwen-2.5": front.url}, read_env_token=False,
                             wake_timeout=2.5)
        seen: list[Any] = []
        started = time.monotonic()
        with pytest.raises(SpaceUnavailableError) as info:
            async for event in client.astream("qwen-2.5", [{"role": "user", "content": "hi"}],
                                              space_id=SPACE):
                seen.append(event)
        took = time.monotonic() - started
    assert info.value.stage == "BUILDING"
    assert "still BUILDING after waiting" in str(info.value)
    assert "wake_timeout=2.5" in str(info.value)
    assert 2.5 <= took < 5.0  # the bound, plus one request and one poll (a loaded CI)
    assert seen and all(isinstance(e, SpaceWaking) and e.stage == "BUILDING" for e in seen)
    assert len(front.seen) == 1  # waiting is asking the Hub, not the Space


async def test_a_paused_space_fails_at_once_with_what_to_do(replicas: ReplicaSet,
                                                             hub: FakeHub) -> None:
    hub.set_stages(SPACE, ["PAUSED"])
    async with SleepingFront(hub, SPACE, replicas.url("qwen-2.5")) as front:
        client = SpaceClient(base_urls={"qwen-2.5": front.url}, read_env_token=False)
        started = time.monotonic()
        with pytest.raises(SpaceUnavailableError) as info:
            await client.achat("qwen-2.5", [{"role": "user", "content": "hi"}],
                               space_id=SPACE)
        took = time.monotonic() - started
    assert info.value.stage == "PAUSED" and info.value.status == 503
    assert "Qwen/Qwen2.5 paused by its owner; it will not come back by waiting" in \
        str(info.value)
    assert took < 1.0
    assert len(front.seen) == 1 and runtime_polls(hub) == 1  # no retry, no wait


async def test_the_hubs_stage_replaces_a_guess_from_the_page_and_is_asked_once_per_call(
        replicas: ReplicaSet, hub: FakeHub) -> None:
    # The page says "sleeping"; the Hub says the Space runs: the error is not its stage,
    # so the usual retries run, and the Hub is not asked again for each of them.
    hub.set_stages(SPACE, ["RUNNING"])
    page = html_page(503, "This Space is sleeping")
    async with Front(replicas.url("qwen-2.5"), {"/config": page}) as front:
        client = SpaceClient(base_urls={"qwen-2.5": front.url}, read_env_token=False,
                             max_retries=2, retry_backoff=0.01)
        with pytest.raises(SpaceUnavailableError) as info:
            await client.achat("qwen-2.5", [{"role": "user", "content": "hi"}],
                               space_id=SPACE)
    assert info.value.stage == "RUNNING"
    assert len(front.headers_for("/config")) == 3 and runtime_polls(hub) == 1


async def test_when_the_hub_cannot_be_asked_the_spaces_own_error_stands(
        replicas: ReplicaSet, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("HF_ENDPOINT", f"http://127.0.0.1:{closed_port()}")
    page = html_page(503, "This Space is building")
    async with Front(replicas.url("qwen-2.5"), {"/config": page}) as front:
        client = SpaceClient(base_urls={"qwen-2.5": front.url}, read_env_token=False,
                             max_retries=0)
        with pytest.raises(SpaceUnavailableError) as info:
            await client.achat("qwen-2.5", [{"role": "user", "content": "hi"}],
                               space_id=SPACE)
    assert info.value.stage == "BUILDING"  # read from the page, as before
    assert "the Hub could not say why: cannot reach the Hub at http://127.0.0.1:" in \
        str(info.value)


async def test_no_hub_is_asked_for_a_host_it_cannot_know(replicas: ReplicaSet,
                                                         hub: FakeHub) -> None:
    page = html_page(503, "down")
    async with Front(replicas.url("qwen-2.5"), {"/config": page}) as front:
        client = SpaceClient(base_urls={"qwen-2.5": front.url}, read_env_token=False,
                             max_retries=0)
        with pytest.raises(SpaceUnavailableError):
            await client.achat("qwen-2.5", [{"role": "user", "content": "hi"}])
    assert hub.requests == []


async def test_a_duplicated_space_is_found_by_its_subdomain_and_woken(
        replicas: ReplicaSet, hub: FakeHub, monkeypatch: pytest.MonkeyPatch) -> None:
    dup = "someone/Qwen2.5-Dup"
    hub.set_stages(dup, WAKING, subdomain="someone-qwen2-5-dup")
    # The front stands at http://someone-qwen2-5-dup.hf.space, reached as the environment's
    # proxy; the Hub (on 127.0.0.1) is reached directly, as NO_PROXY says.
    async with SleepingFront(hub, dup, replicas.url("qwen-2.5"), as_host=True) as front:
        monkeypatch.setenv("HTTP_PROXY", front.url)
        monkeypatch.setenv("NO_PROXY", "127.0.0.1")
        client = SpaceClient(base_urls={"qwen-2.5": "http://someone-qwen2-5-dup.hf.space"},
                             read_env_token=False, wake_timeout=30)
        events = [e async for e in client.astream(
            "qwen-2.5", [{"role": "user", "content": f"/echo {TEXT}"}])]
    assert "".join(e.text for e in events if isinstance(e, TextDelta)) == TEXT
    stages = [(e.space_id, e.stage) for e in events if isinstance(e, SpaceWaking)]
    assert stages == [(dup, "BUILDING"), (dup, "APP_STARTING")]
    paths = [path for _, path, _ in hub.requests]
    assert paths[0] == "/api/spaces/by-subdomain/someone-qwen2-5-dup"
    assert paths[1:] == [f"/api/spaces/{dup}/runtime"] * 2  # looked up once, then polled


async def test_the_token_and_headers_go_to_the_space_and_never_to_a_hub_mirror(
        replicas: ReplicaSet, hub: FakeHub) -> None:
    # Inside a user's own Gradio app, the visitor's X-IP-Token is forwarded with headers=.
    hub.set_stages(SPACE, WAKING)
    token = "hf_secret_token_for_the_availability_tests"
    async with SleepingFront(hub, SPACE, replicas.url("qwen-2.5")) as front:
        client = SpaceClient(base_urls={"qwen-2.5": front.url}, hf_token=token,
                             headers={"X-IP-Token": "visitor-jwt"}, wake_timeout=30)
        final = await client.achat("qwen-2.5", [{"role": "user", "content": "/echo ok"}],
                                   space_id=SPACE)
    assert final.text == "ok"
    assert len(front.seen) >= 4  # /config twice, join, data
    for _, headers in front.seen:
        assert headers["x-ip-token"] == "visitor-jwt"
        assert headers["x-hf-authorization"] == f"Bearer {token}"
    assert hub.requests
    for _, _, headers in hub.requests:  # a mirror ($HF_ENDPOINT elsewhere) gets neither
        assert "x-ip-token" not in headers and "authorization" not in headers
        assert token not in repr(headers)


def test_the_token_goes_to_the_hubs_own_host_only(monkeypatch: pytest.MonkeyPatch) -> None:
    for endpoint, sends in (("https://huggingface.co", True), ("https://huggingface.co/", True),
                            ("http://huggingface.co", False), ("https://hf-mirror.example",
                                                               False),
                            ("https://huggingface.co:8443", False)):
        monkeypatch.setenv("HF_ENDPOINT", endpoint)
        assert SpaceClient(hf_token="hf_x").hub.sends_token is sends, endpoint
        assert SpaceClient(read_env_token=False).hub.sends_token is False


# -- failover ----------------------------------------------------------------------------
@pytest.fixture
def out_of_quota() -> Iterator[ReplicaSet]:
    """A qwen-2.5-max replica whose ZeroGPU quota is spent for 5 s after it is up."""
    with ReplicaSet(["qwen-2.5-max"], quota_for=5.0) as spent:
        yield spent


async def test_failover_answers_from_the_next_model_and_skips_the_spent_one_until_its_quota_is_back(
        replicas: ReplicaSet, out_of_quota: ReplicaSet) -> None:
    async with Front(out_of_quota.url("qwen-2.5-max")) as spent:
        llm = ChatQwenSpaces(model="qwen-2.5-max", fallback_models=["qwen-2.5"],
                             base_urls={"qwen-2.5-max": spent.url,
                                        "qwen-2.5": replicas.url("qwen-2.5")},
                             hf_token=None)
        recorder = Recorder()
        first = await llm.ainvoke(f"/echo {TEXT}", config={"callbacks": [recorder]})
        asked = len(spent.seen)
        assert first.content == TEXT
        meta = first.response_metadata
        assert (meta["model_name"], meta["space_id"]) == ("qwen-2.5", "Qwen/Qwen2.5")
        (skip,) = meta["failover"]["skipped"]
        assert skip["model"] == "qwen-2.5-max" and skip["asked"] is True
        assert skip["reason"].startswith("ZeroGPU quota exhausted, retry in ")
        (event,) = [e for e in recorder.events if e["kind"] == "failover"]
        assert (event["model"], event["next_model"]) == ("qwen-2.5-max", "qwen-2.5")

        second = await llm.ainvoke(f"/echo {TEXT}")
        assert second.content == TEXT and len(spent.seen) == asked  # not contacted
        (skip,) = second.response_metadata["failover"]["skipped"]
        assert skip["asked"] is False and "skipped for another" in skip["reason"]

        # Once the quota wait it named is over, it is asked again, and now answers.
        client = llm._client_for()
        reason = client.cooldowns.skip_reason(("qwen-2.5-max", spent.url))
        assert reason is not None and reason[1] is True  # a quota wait
        await asyncio.sleep(6.0)
        third = await llm.ainvoke(f"/echo {TEXT}")
        assert len(spent.seen) > asked
        assert third.response_metadata["model_name"] == "qwen-2.5-max"
        assert third.response_metadata["failover"]["skipped"] == []


async def test_when_every_space_is_down_one_error_lists_each_with_its_reason(
        replicas: ReplicaSet, hub: FakeHub) -> None:
    hub.set_stages("Qwen/Qwen2.5-Max-Demo", ["PAUSED"])
    closed = f"http://127.0.0.1:{closed_port()}"
    async with SleepingFront(hub, "Qwen/Qwen2.5-Max-Demo",
                             replicas.url("qwen-2.5-max")) as paused, \
            Front(replicas.url("qwen-2-72b"), {"/config": html_page(502, "Bad gateway")}) \
            as broken:
        llm = QwenSpacesLLM(model="qwen-2.5-max", space_id="Qwen/Qwen2.5-Max-Demo",
                            base_url=paused.url, fallback_models=["qwen-2.5", "qwen-2-72b"],
                            base_urls={"qwen-2.5": closed, "qwen-2-72b": broken.url},
                            hf_token=None, max_retries=0)
        with pytest.raises(NoSpaceAvailableError) as info:
            await llm.achat([ChatMessage(role=MessageRole.USER, content="hi")])
    failures = [(m, reason) for m, _, reason, _ in info.value.failures]
    assert failures[1][1].startswith(f"unreachable: cannot connect to {closed}")
    failures[1] = ("qwen-2.5", "unreachable")
    assert failures == [("qwen-2.5-max", "not serving (stage PAUSED)"),
                        ("qwen-2.5", "unreachable"),
                        ("qwen-2-72b", "not serving (HTTP 502)")]
    message = str(info.value)
    for model, reason in failures:
        assert f"{model} (" in message and reason in message
    assert isinstance(info.value.__cause__, SpaceUnavailableError)


async def test_failover_skips_models_that_cannot_take_the_request(replicas: ReplicaSet) -> None:
    png = (__import__("pathlib").Path(__file__).parent.parent / "data" / "images" /
           "png_3x2.png").read_bytes()
    client = SpaceClient(base_urls={m: replicas.url(m) for m in ("qwen-2.5", "qvq-72b")},
                         read_env_token=False)
    events = [e async for e in client.astream(
        "qwen-2.5", [{"role": "user", "content": "what is this?", "images": [png]}],
        fallback_models=["qvq-72b"])]
    skipped = [e for e in events if isinstance(e, SpaceSkipped)]
    assert [(e.model, e.next_model, e.asked) for e in skipped] == \
        [("qwen-2.5", "qvq-72b", False)]
    final = events[-1]
    assert final.space_id == "Qwen/QVQ-72B-preview"  # type: ignore[union-attr]
    assert "PNG 3x2" in final.text  # type: ignore[union-attr]
    (skip,) = final.extra["failover"]["skipped"]  # type: ignore[union-attr]
    assert "cannot see images" in skip["reason"] and skip["asked"] is False


class Switch(Front):
    """A front that answers every request with a 502 page while ``down``, as a Space whose
    app has crashed does; else it forwards to its replica."""

    down = False

    async def intercept(self, request: Any) -> Any:
        return await html_page(502, "Bad gateway")(request) if self.down else None


async def test_a_space_that_failed_recently_is_asked_last_and_answers_when_the_others_cannot(
        replicas: ReplicaSet) -> None:
    async with Switch(replicas.url("qwen-2.5-max")) as first, \
            Switch(replicas.url("qwen-2.5")) as second:
        client = SpaceClient(base_urls={"qwen-2.5-max": first.url, "qwen-2.5": second.url},
                             read_env_token=False, max_retries=0)

        async def ask() -> tuple[list[tuple[str, str, bool]], Any]:
            events = [e async for e in client.astream(
                "qwen-2.5-max", [{"role": "user", "content": f"/echo {TEXT}"}],
                fallback_models=["qwen-2.5"])]
            skips = [(e.model, e.next_model, e.asked) for e in events
                     if isinstance(e, SpaceSkipped)]
            final = events[-1]
            assert final.text == TEXT
            return skips, final

        first.down = True
        skips, final = await ask()  # asked, failed: qwen-2.5 answers
        assert skips == [("qwen-2.5-max", "qwen-2.5", True)]
        assert final.model == "qwen-2.5"

        first.down = False  # back, but it failed a moment ago: asked after the others
        asked = len(first.seen)
        skips, final = await ask()
        assert len(first.seen) == asked  # not contacted: qwen-2.5 answered first
        assert skips == [("qwen-2.5-max", "qwen-2.5", False)]
        assert final.model == "qwen-2.5"
        (skip,) = final.extra["failover"]["skipped"]
        assert (skip["model"], skip["asked"]) == ("qwen-2.5-max", False)
        assert skip["reason"].startswith("not serving (HTTP 502); skipped for another ")

        second.down = True  # now the other one is down: the last resort answers
        skips, final = await ask()
        assert skips == [("qwen-2.5-max", "qwen-2.5", False), ("qwen-2.5", "qwen-2.5-max", True)]
        assert final.model == "qwen-2.5-max" and len(first.seen) > asked
        assert [(s["model"], s["reason"], s["asked"])
                for s in final.extra["failover"]["skipped"]] == \
            [("qwen-2.5", "not serving (HTTP 502)", True)]
