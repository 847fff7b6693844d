"""``qwen_spaces.hub`` against the fake Hub (``tests/fake_hub.py``, which says what its bytes
are based on): reading a stage, finding a duplicated Space, every answer the Hub can give,
and where the token goes. Fast (no replica), so mutation runs include it."""

from __future__ import annotations

import ssl
from collections.abc import AsyncIterator

import pytest
import trustme

from qwen_spaces import SpaceClient
from qwen_spaces.errors import HubUnavailableError, SpaceAuthError, SpaceUnavailableError
from qwen_spaces.hub import Hub, SpaceRuntime
from qwen_spaces.transport import Secret, Timeouts, Transport
from tests.fake_hub import FakeHub
from tests.proxy import RecordingProxy
from tests.servers import Front, json_reply
from tests.util import closed_port

TOKEN = "hf_secret_token_for_the_hub_tests"


def hub_at(url: str, *, token: str | None = None, **transport: object) -> Hub:
    secret = Secret(TOKEN if token is None else token) if token != "" else None
    return Hub(Transport(token=secret, timeouts=Timeouts(request=5.0), **transport),  # type: ignore[arg-type]
               endpoint=url)


@pytest.fixture
async def hub() -> AsyncIterator[FakeHub]:
    async with FakeHub() as fake:
        yield fake


async def test_the_stage_and_hardware_of_a_space(hub: FakeHub) -> None:
    hub.set_stages("Qwen/Qwen2.5", ["APP_STARTING", "RUNNING"], hardware="zero-a10g")
    api = hub_at(hub.url, token="")
    first = await api.runtime("Qwen/Qwen2.5")
    assert (first.space_id, first.stage, first.kind) == ("Qwen/Qwen2.5", "APP_STARTING",
                                                          "starting")
    assert first.hardware == "zero-a10g"  # requested: a starting Space has none current
    second = await api.runtime("Qwen/Qwen2.5")
    assert (second.stage, second.kind, second.hardware) == ("RUNNING", "running", "zero-a10g")
    assert second.raw["hardware"]["current"] == "zero-a10g"
    assert [(m, p) for m, p, _ in hub.requests] == [("GET", "/api/spaces/Qwen/Qwen2.5/runtime")] * 2
    assert hub.requests[0][2]["accept"] == "application/json"


async def test_a_duplicated_space_is_found_by_its_subdomain(hub: FakeHub) -> None:
    hub.set_stages("someone/Dup", ["SLEEPING"], subdomain="someone-dup")
    found = await hub_at(hub.url, token="").by_subdomain("someone-dup")
    assert found == SpaceRuntime("someone/Dup", "SLEEPING", "zero-a10g")
    assert found.kind == "asleep"


async def test_anonymous_and_missing_is_the_hubs_401_private_or_missing(hub: FakeHub) -> None:
    with pytest.raises(SpaceAuthError) as info:
        await hub_at(hub.url, token="").runtime("nobody/Nothing")
    assert info.value.status == 401 and info.value.token_sent is False
    assert "it is private or does not exist" in str(info.value)
    assert "is not the Hub's own host" in str(info.value)
    with pytest.raises(SpaceAuthError, match=r"someone-gone\.hf\.space"):
        await hub_at(hub.url, token="").by_subdomain("someone-gone")


@pytest.mark.parametrize("status", [500, 502, 503, 429])
async def test_a_failing_hub_is_hub_unavailable_not_the_spaces_fault(hub: FakeHub,
                                                                     status: int) -> None:
    hub.set_stages("Qwen/Qwen2.5", ["RUNNING"])
    hub.down = status
    with pytest.raises(HubUnavailableError, match=f"answered HTTP {status}"):
        await hub_at(hub.url, token="").runtime("Qwen/Qwen2.5")


async def test_an_unreachable_hub_is_hub_unavailable() -> None:
    url = f"http://127.0.0.1:{closed_port()}"
    with pytest.raises(HubUnavailableError) as info:
        await hub_at(url, token="").runtime("Qwen/Qwen2.5")
    assert str(info.value).startswith(f"Qwen/Qwen2.5: cannot reach the Hub at {url} to ask")
    assert info.value.retryable


def test_a_mirror_url_with_credentials_is_never_shown(monkeypatch: pytest.MonkeyPatch) -> None:
    url = f"http://user:s3cret@127.0.0.1:{closed_port()}"
    monkeypatch.setenv("HF_ENDPOINT", url)
    client = SpaceClient(read_env_token=False)
    assert "s3cret" not in repr(client.hub)
    with pytest.raises(HubUnavailableError) as info:
        client.runtime("qwen-2.5")
    assert "s3cret" not in str(info.value) and "***@127.0.0.1" in str(info.value)


@pytest.mark.parametrize(("body", "why"), [
    ("[1, 2]", "not a JSON object"), ("not json", "not a JSON object"),
    ('{"stage": ""}', "has no runtime stage"), ('{"hardware": {}}', "has no runtime stage"),
])
async def test_an_answer_that_is_not_the_hubs_is_hub_unavailable(body: str, why: str) -> None:
    path = "/api/spaces/Qwen/Qwen2.5/runtime"
    async with Front(None, {path: json_reply(200, body)}) as odd:
        with pytest.raises(HubUnavailableError, match=why):
            await hub_at(odd.url, token="").runtime("Qwen/Qwen2.5")


async def test_a_subdomain_answer_without_a_space_id_is_hub_unavailable() -> None:
    path = "/api/spaces/by-subdomain/x-y"
    async with Front(None, {path: json_reply(200, '{"runtime": {"stage": "RUNNING"}}')}) as odd:
        with pytest.raises(HubUnavailableError, match="names no Space id"):
            await hub_at(odd.url, token="").by_subdomain("x-y")


async def test_the_stage_is_read_upper_case_and_hardware_falls_back_to_requested() -> None:
    path = "/api/spaces/a/b/runtime"
    body = '{"stage": "running_building", "hardware": {"current": null, "requested": "t4"}}'
    async with Front(None, {path: json_reply(200, body)}) as odd:
        found = await hub_at(odd.url, token="").runtime("a/b")
    assert (found.stage, found.kind, found.hardware) == ("RUNNING_BUILDING", "running", "t4")


# -- the token goes to the Hub's own host only --------------------------------------------
@pytest.fixture
async def real_host_hub() -> AsyncIterator[tuple[FakeHub, RecordingProxy, ssl.SSLContext]]:
    """The fake Hub at ``https://huggingface.co`` itself: TLS with a certificate for that
    name, reached through a proxy whose CONNECT tunnel leads to 127.0.0.1."""
    ca = trustme.CA()
    server_ctx = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    ca.issue_cert("huggingface.co").configure_cert(server_ctx)
    client_ctx = ssl.create_default_context()
    ca.configure_trust(client_ctx)
    async with FakeHub(ssl_context=server_ctx) as fake:
        port = int(fake.url.rsplit(":", 1)[1])
        async with RecordingProxy(tunnels={"huggingface.co:443": ("127.0.0.1", port)}) as proxy:
            yield fake, proxy, client_ctx


async def test_the_token_goes_to_the_hubs_own_host_as_a_bearer_and_nothing_else_does(
        real_host_hub: tuple[FakeHub, RecordingProxy, ssl.SSLContext],
        monkeypatch: pytest.MonkeyPatch) -> None:
    fake, proxy, client_ctx = real_host_hub
    monkeypatch.delenv("HF_ENDPOINT", raising=False)
    fake.set_stages("Qwen/Qwen2.5", ["RUNNING"], private_token=TOKEN)
    client = SpaceClient(hf_token=TOKEN, proxy=proxy.url, verify_ssl=client_ctx,
                         headers={"X-IP-Token": "visitor-jwt"})
    assert client.hub.endpoint == "https://huggingface.co" and client.hub.sends_token
    runtime = await client.aruntime("qwen-2.5")  # the catalog's Space, at its own URL
    assert runtime is not None and runtime.stage == "RUNNING"
    ((_, _, headers),) = fake.requests
    assert headers["authorization"] == f"Bearer {TOKEN}"
    assert "x-hf-authorization" not in headers and "x-ip-token" not in headers
    assert proxy.targets == ["huggingface.co:443"]
    assert TOKEN.encode() not in proxy.readable  # the proxy saw only TLS


async def test_a_token_the_hub_refuses_is_dropped_for_a_public_space(
        real_host_hub: tuple[FakeHub, RecordingProxy, ssl.SSLContext],
        monkeypatch: pytest.MonkeyPatch) -> None:
    fake, proxy, client_ctx = real_host_hub
    monkeypatch.delenv("HF_ENDPOINT", raising=False)
    fake.tokens = {"hf_someone_elses"}  # ours is stale: 401 on any route
    fake.set_stages("Qwen/Qwen2.5", ["SLEEPING"])
    client = SpaceClient(hf_token=TOKEN, proxy=proxy.url, verify_ssl=client_ctx)
    runtime = await client.aruntime("qwen-2.5")
    assert runtime is not None and runtime.stage == "SLEEPING"
    assert ["authorization" in h for _, _, h in fake.requests] == [True, False]

    fake.set_stages("me/Private", ["RUNNING"], private_token="hf_someone_elses")
    with pytest.raises(SpaceAuthError) as info:  # private: without the token it is hidden too
        await client.aruntime("qwen-2.5", space_id="me/Private")
    assert info.value.token_sent is True
    assert "the token was refused or cannot read it" in str(info.value)
    assert TOKEN not in str(info.value)


async def test_a_missing_space_with_a_valid_token_is_a_404(
        real_host_hub: tuple[FakeHub, RecordingProxy, ssl.SSLContext],
        monkeypatch: pytest.MonkeyPatch) -> None:
    fake, proxy, client_ctx = real_host_hub
    monkeypatch.delenv("HF_ENDPOINT", raising=False)
    client = SpaceClient(hf_token=TOKEN, proxy=proxy.url, verify_ssl=client_ctx)
    with pytest.raises(SpaceUnavailableError) as info:  # the fake knows no Space at all
        await client.aruntime("qwen-2.5")
    assert info.value.status == 404
    assert "the Hub has no such Space (HTTP 404)" in str(info.value)
    assert fake.requests[0][2]["authorization"] == f"Bearer {TOKEN}"


def test_no_runtime_is_asked_for_a_host_the_hub_cannot_know() -> None:
    client = SpaceClient(read_env_token=False, base_urls={"qwen-2.5": "http://127.0.0.1:9"})
    assert client.runtime("qwen-2.5") is None
