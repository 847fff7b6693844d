"""Smoke tests of the availability doubles (``tests/fake_hub.py``): the fake Hub's answers have
the shapes huggingface_hub and the JS client read, its stages move as documented, and a
``SleepingFront`` answers for a Space that is not serving, wakes it, then forwards to a real
replica. Plain aiohttp as the client: the package's wake-up logic is tested elsewhere."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from typing import Any

import aiohttp
import pytest

from qwen_spaces.replica.process import ReplicaSet
from tests.fake_hub import FakeHub, SleepingFront, default_subdomain

MAX = "Qwen/Qwen2.5-Max-Demo"


@pytest.fixture
async def hub() -> AsyncIterator[FakeHub]:
    async with FakeHub() as fake:
        yield fake


@pytest.fixture
async def http() -> AsyncIterator[aiohttp.ClientSession]:
    async with aiohttp.ClientSession(trust_env=False) as session:
        yield session


async def get(http: aiohttp.ClientSession, url: str, token: str | None = None,
              ) -> tuple[int, dict[str, str], Any]:
    """Status, headers and body (JSON when the answer says so, else text)."""
    headers = {"Authorization": f"Bearer {token}"} if token is not None else {}
    async with http.get(url, headers=headers) as resp:
        body = await (resp.json() if resp.content_type == "application/json" else resp.text())
        return resp.status, dict(resp.headers), body


async def stage_of(http: aiohttp.ClientSession, hub: FakeHub, space_id: str = MAX) -> str:
    status, _, body = await get(http, f"{hub.url}/api/spaces/{space_id}/runtime")
    assert status == 200, body
    return str(body["stage"])


def test_default_subdomain_is_the_hubs_rule() -> None:
    assert default_subdomain(MAX) == "qwen-qwen2-5-max-demo"
    assert default_subdomain("A_b/C.d") == "a-b-c-d"


async def test_runtime_info_and_subdomain_answers_have_the_hubs_shapes(
        hub: FakeHub, http: aiohttp.ClientSession) -> None:
    hub.set_stages(MAX, ["RUNNING"])
    status, headers, runtime = await get(http, f"{hub.url}/api/spaces/{MAX}/runtime")
    assert status == 200 and headers["Content-Type"] == "application/json; charset=utf-8"
    assert runtime["stage"] == "RUNNING"
    assert runtime["hardware"] == {"current": "zero-a10g", "requested": "zero-a10g"}
    assert {"storage", "gcTimeout", "replicas", "devMode"} <= set(runtime)
    status, _, info = await get(http, f"{hub.url}/api/spaces/{MAX}")
    assert status == 200
    assert info["id"] == MAX and info["author"] == "Qwen" and info["sdk"] == "gradio"
    assert info["subdomain"] == "qwen-qwen2-5-max-demo"
    assert info["host"] == "https://qwen-qwen2-5-max-demo.hf.space"
    assert info["private"] is False and info["runtime"] == runtime
    status, _, by_sub = await get(http, f"{hub.url}/api/spaces/by-subdomain/qwen-qwen2-5-max-demo")
    assert status == 200 and by_sub == info

    hub.set_stages("o/n", ["BUILDING"], hardware="cpu-basic", subdomain="custom")
    status, _, info = await get(http, f"{hub.url}/api/spaces/by-subdomain/custom")
    assert info["id"] == "o/n" and info["host"] == "https://custom.hf.space"
    assert info["runtime"]["hardware"] == {"current": None, "requested": "cpu-basic"}


async def test_huggingface_hub_reads_the_fake_hub(hub: FakeHub) -> None:
    """huggingface_hub's own client against the fake: its field names and error mapping."""
    hf_api = pytest.importorskip("huggingface_hub.hf_api")
    errors = pytest.importorskip("huggingface_hub.errors")
    hub.set_stages(MAX, ["APP_STARTING", "RUNNING"])
    api = hf_api.HfApi(endpoint=hub.url, token=False)
    runtime = await asyncio.to_thread(api.get_space_runtime, MAX, token=False)
    assert (runtime.stage, runtime.hardware, runtime.requested_hardware) == (
        "APP_STARTING", None, "zero-a10g")
    info = await asyncio.to_thread(api.space_info, MAX, token=False)
    assert (info.id, info.host, info.runtime.stage, info.runtime.hardware) == (
        MAX, "https://qwen-qwen2-5-max-demo.hf.space", "RUNNING", "zero-a10g")
    with pytest.raises(errors.RepositoryNotFoundError):  # by X-Error-Code
        await asyncio.to_thread(api.get_space_runtime, "Qwen/Missing", token="hf_someone")
    # Anonymous: a 401, which huggingface_hub calls RepositoryNotFoundError only on https
    # URLs (its REPO_API_REGEX); over this http endpoint it stays the plain HTTP error.
    with pytest.raises(errors.HfHubHTTPError, match="Invalid username or password") as info:
        await asyncio.to_thread(api.get_space_runtime, "Qwen/Missing", token=False)
    assert info.value.response.status_code == 401


async def test_stages_move_on_per_answer_but_sleep_waits_for_a_wake(
        hub: FakeHub, http: aiohttp.ClientSession) -> None:
    hub.set_stages(MAX, ["SLEEPING", "APP_STARTING", "RUNNING"])
    assert [await stage_of(http, hub) for _ in range(3)] == ["SLEEPING"] * 3
    _, _, info = await get(http, f"{hub.url}/api/spaces/{MAX}")
    assert info["runtime"]["stage"] == "SLEEPING" and hub.stage(MAX) == "SLEEPING"
    hub.wake(MAX)
    assert hub.stage(MAX) == hub.stage(MAX) == "APP_STARTING"  # reading does not move it
    assert [await stage_of(http, hub) for _ in range(3)] == [
        "APP_STARTING", "RUNNING", "RUNNING"]
    hub.wake(MAX)  # not asleep: nothing to do
    assert hub.stage(MAX) == "RUNNING"
    with pytest.raises(ValueError, match="RUNING"):
        hub.set_stages(MAX, ["RUNING"])


async def test_missing_and_private_spaces_get_the_hubs_errors(
        hub: FakeHub, http: aiohttp.ClientSession) -> None:
    hub.set_stages("Qwen/Private", ["RUNNING"], private_token="hf_owner")
    for url in (f"{hub.url}/api/spaces/Qwen/Missing/runtime",
                f"{hub.url}/api/spaces/by-subdomain/nobody-here",
                f"{hub.url}/api/spaces/Qwen/Private"):
        status, headers, body = await get(http, url)  # anonymous: missing = private
        assert status == 401 and body == {"error": "Invalid username or password."}, url
        assert "X-Error-Code" not in headers and "Bearer realm" in headers["WWW-Authenticate"]
        status, headers, body = await get(http, url, token="hf_someone_else")
        assert status == 404 and body == {"error": "Repository not found"}, url
        assert headers["X-Error-Code"] == "RepoNotFound"
        assert headers["X-Error-Message"] == "Repository not found"
    status, _, info = await get(http, f"{hub.url}/api/spaces/Qwen/Private", token="hf_owner")
    assert status == 200 and info["private"] is True

    hub.tokens = {"hf_valid"}  # now the Hub knows which tokens exist: others are stale
    status, _, body = await get(http, f"{hub.url}/api/spaces/Qwen/Private/runtime", "hf_stale")
    assert status == 401 and body == {"error": "Invalid credentials in Authorization header"}
    status, _, _ = await get(http, f"{hub.url}/api/spaces/Qwen/Private/runtime", "hf_owner")
    assert status == 200

    hub.down = 503
    status, headers, body = await get(http, f"{hub.url}/api/spaces/Qwen/Private/runtime")
    assert status == 503 and headers["Content-Type"].startswith("text/html")
    assert "503 Service Unavailable" in body
    hub.down = None

    methods_paths = [(m, p) for m, p, _ in hub.requests]
    assert methods_paths[0] == ("GET", "/api/spaces/Qwen/Missing/runtime")
    assert "authorization" not in hub.requests[0][2]
    assert hub.requests[1][2]["authorization"] == "Bearer hf_someone_else"
    assert len(hub.requests) == 10


async def test_a_sleeping_front_answers_wakes_the_hub_then_forwards(
        hub: FakeHub, http: aiohttp.ClientSession, replicas: ReplicaSet) -> None:
    hub.set_stages(MAX, ["SLEEPING", "APP_STARTING", "RUNNING"])
    async with SleepingFront(hub, MAX, replicas.url("qwen-2.5-max")) as front:
        status, headers, page = await get(http, f"{front.url}/config")
        assert status == 503 and headers["Content-Type"] == "text/html; charset=utf-8"
        assert page.startswith("<!DOCTYPE html>") and "sleeping" in page
        assert hub.stage(MAX) == "APP_STARTING"  # the request woke it
        status, _, page = await get(http, f"{front.url}/gradio_api/info")
        assert status == 503 and "starting" in page
        assert hub.stage(MAX) == "APP_STARTING"  # starting is not woken again
        assert await stage_of(http, hub) == "APP_STARTING"  # and the poll moves it on
        status, _, config = await get(http, f"{front.url}/config", token="hf_x")
        assert status == 200 and config["dependencies"]
        assert [p for p, _ in front.seen] == ["/config", "/gradio_api/info", "/config"]
        assert front.seen[2][1]["authorization"] == "Bearer hf_x"
    assert [p for _, p, _ in hub.requests] == [f"/api/spaces/{MAX}/runtime"]  # the front
    # asked the Hub nothing: it only reads and wakes the fake's state


@pytest.mark.parametrize(("stage", "words"), [
    ("BUILDING", "building"), ("PAUSED", "paused"), ("RUNTIME_ERROR", "runtime error"),
    ("STOPPED", "stopped")])
async def test_the_front_page_fits_the_stage(hub: FakeHub, http: aiohttp.ClientSession,
                                             stage: str, words: str) -> None:
    hub.set_stages(MAX, [stage, "RUNNING"])
    async with SleepingFront(hub, MAX, "http://127.0.0.1:9") as front:
        status, _, page = await get(http, f"{front.url}/")
    assert status == 503 and words in page.lower()
    assert hub.stage(MAX) == ("RUNNING" if stage == "STOPPED" else stage)
