"""``qwen_spaces.hub`` against the fake Hub (``tests/fake_hub.py``, which says what its bytes
are based on): reading a stage, finding a duplicated Space, every answer the Hub can give,
a Hub that is silent, stalls or fails TLS, and where the token goes. Fast (no replica), so
mutation runs include it."""

from __future__ import annotations

import asyncio
import ssl
from collections.abc import AsyncIterator, Awaitable, Callable

import pytest
import trustme

from qwen_spaces import SpaceClient
from qwen_spaces.errors import (
    HubUnavailableError,
    SpaceAuthError,
    SpaceError,
    SpaceUnavailableError,
)
from qwen_spaces.hub import Hub, SpaceRuntime
from qwen_spaces.transport import Secret, Timeouts, Transport
from tests.fake_hub import FakeHub
from tests.proxy import RecordingProxy
from tests.servers import Front, json_reply
from tests.util import closed_port

TOKEN = "hf_secret_token_for_the_hub_tests"


def hub_at(url: str, *, token: str | None = None, request: float = 5.0,
           **transport: object) -> Hub:
    secret = Secret(TOKEN if token is None else token) if token != "" else None
    return Hub(Transport(token=secret, timeouts=Timeouts(request=request), **transport),  # type: ignore[arg-type]
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
    assert info.value.space == "nobody/Nothing"
    assert "it is private or does not exist" in str(info.value)
    assert "is not the Hub's own host" in str(info.value)
    with pytest.raises(SpaceAuthError, match=r"someone-gone\.hf\.space") as info:
        await hub_at(hub.url, token="").by_subdomain("someone-gone")
    assert info.value.space == "someone-gone.hf.space"


@pytest.mark.parametrize("status", [500, 502, 503, 429])
async def test_a_failing_hub_is_hub_unavailable_not_the_spaces_fault(hub: FakeHub,
                                                                     status: int) -> None:
    hub.set_stages("Qwen/Qwen2.5", ["RUNNING"])
    hub.down = status
    with pytest.raises(HubUnavailableError, match=f"answered HTTP {status}") as info:
        await hub_at(hub.url, token="").runtime("Qwen/Qwen2.5")
    assert info.value.space == "Qwen/Qwen2.5"


async def test_an_unreachable_hub_is_hub_unavailable() -> None:
    url = f"http://127.0.0.1:{closed_port()}"
    with pytest.raises(HubUnavailableError) as info:
        await hub_at(url, token="").runtime("Qwen/Qwen2.5")
    # Why, in the transport's words, without the Space's name a second time.
    assert str(info.value).startswith(f"Qwen/Qwen2.5: cannot reach the Hub at {url} to ask "
                                      f"for the Space's stage (cannot connect to {url} (")
    assert str(info.value).count("Qwen/Qwen2.5") == 1
    assert info.value.retryable and info.value.space == "Qwen/Qwen2.5"


def test_a_mirror_url_with_credentials_is_never_shown(monkeypatch: pytest.MonkeyPatch) -> None:
    url = f"http://user:s3cret@127.0.0.1:{closed_port()}"
    monkeypatch.setenv("HF_ENDPOINT", url)
    client = SpaceClient(read_env_token=False)
    assert "s3cret" not in repr(client.hub)
    with pytest.raises(HubUnavailableError) as info:
        client.runtime("qwen-2.5")
    assert "s3cret" not in str(info.value) and "***@127.0.0.1" in str(info.value)


NOT_AN_OBJECT = "answered with something that is not a JSON object"


@pytest.mark.parametrize(("body", "why"), [
    ("[1, 2]", NOT_AN_OBJECT), ("not json", NOT_AN_OBJECT),
    ('{"stage": ""}', "has no runtime stage"), ('{"hardware": {}}', "has no runtime stage"),
])
async def test_an_answer_that_is_not_the_hubs_is_hub_unavailable(body: str, why: str) -> None:
    path = "/api/spaces/Qwen/Qwen2.5/runtime"
    async with Front(None, {path: json_reply(200, body)}) as odd:
        with pytest.raises(HubUnavailableError, match=why) as info:
            await hub_at(odd.url, token="").runtime("Qwen/Qwen2.5")
    assert info.value.space == "Qwen/Qwen2.5"


async def test_a_subdomain_answer_without_a_space_id_is_hub_unavailable() -> None:
    path = "/api/spaces/by-subdomain/x-y"
    async with Front(None, {path: json_reply(200, '{"runtime": {"stage": "RUNNING"}}')}) as odd:
        with pytest.raises(HubUnavailableError, match="names no Space id") as info:
            await hub_at(odd.url, token="").by_subdomain("x-y")
    assert info.value.space == "x-y.hf.space"


async def test_a_subdomain_is_one_path_segment_of_the_by_subdomain_route(
        hub: FakeHub) -> None:
    # Whatever it holds, it cannot steer the request (and a token) to another Hub route.
    with pytest.raises(SpaceError):
        await hub_at(hub.url, token="").by_subdomain("x/../../whoami-v2")
    assert [p for _, p, _ in hub.requests] == ["/api/spaces/by-subdomain/x/../../whoami-v2"]


def test_an_endpoint_that_is_not_a_url_is_refused_by_its_argument_name() -> None:
    with pytest.raises(ValueError, match=r"^endpoint 'hf-mirror\.example' needs an http"):
        Hub(Transport(token=None, timeouts=Timeouts()), endpoint="hf-mirror.example")


async def test_a_mirror_whose_certificate_fails_says_so() -> None:
    ca = trustme.CA()  # a CA the client does not trust
    server_ctx = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    ca.issue_cert("127.0.0.1").configure_cert(server_ctx)
    async with FakeHub(ssl_context=server_ctx) as fake:
        with pytest.raises(HubUnavailableError) as info:
            await hub_at(fake.url, token="").runtime("Qwen/Qwen2.5")
    assert f"stage (TLS certificate verification failed for {fake.url} ([SSL: " \
        "CERTIFICATE_VERIFY_FAILED] certificate verify failed: " in str(info.value)
    assert not fake.requests


# -- a Hub that does not answer in time, or not to the end --------------------------------
Handler = Callable[[asyncio.StreamReader, asyncio.StreamWriter], Awaitable[None]]
HEAD = (b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: 100\r\n\r\n"
        b'{"stage": "RUN')


async def _silent(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    await reader.read()  # until the client gives up and closes
    writer.close()


async def _stalls_mid_body(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    await reader.readuntil(b"\r\n\r\n")
    writer.write(HEAD)
    await writer.drain()
    await reader.read()
    writer.close()


async def _cuts_the_body(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    await reader.readuntil(b"\r\n\r\n")
    writer.write(HEAD)
    await writer.drain()
    writer.close()


async def _ask(handler: Handler) -> tuple[HubUnavailableError, str]:
    server = await asyncio.start_server(handler, "127.0.0.1", 0)
    url = f"http://127.0.0.1:{server.sockets[0].getsockname()[1]}"
    try:
        with pytest.raises(HubUnavailableError) as info:  # bounded by timeouts.request
            await asyncio.wait_for(hub_at(url, token="", request=0.3).runtime("Qwen/Qwen2.5"),
                                   5.0)
    finally:
        server.close()
        await server.wait_closed()
    assert info.value.space == "Qwen/Qwen2.5" and info.value.retryable
    return info.value, url


async def test_a_hub_that_sends_nothing_fails_after_the_request_timeout() -> None:
    exc, url = await _ask(_silent)
    assert str(exc).startswith(f"Qwen/Qwen2.5: cannot reach the Hub at {url} to ask")
    assert "sent nothing in 0.3s" in str(exc)


async def test_a_hub_that_stalls_mid_answer_fails_after_the_request_timeout() -> None:
    exc, url = await _ask(_stalls_mid_body)
    assert str(exc).startswith(f"Qwen/Qwen2.5: the Hub at {url} did not finish answering (")
    assert "Timeout" in str(exc)


async def test_a_hub_answer_cut_short_is_hub_unavailable() -> None:
    exc, url = await _ask(_cuts_the_body)
    assert str(exc) == (f"Qwen/Qwen2.5: the Hub at {url} did not finish answering "
                        "(ClientPayloadError)")


async def test_the_stage_is_read_upper_case_and_hardware_falls_back_to_requested() -> None:
    path = "/api/spaces/a/b/runtime"
    body = '{"stage": "running_building", "hardware": {"current": null, "requested": "t4"}}'
    async with Front(None, {path: json_reply(200, body)}) as odd:
        found = await hub_at(odd.url, token="").runtime("a/b")
    assert (found.stage, found.kind, found.hardware) == ("RUNNING_BUILDING", "running", "t4")


@pytest.mark.parametrize(("hardware", "shown"), [
    ('{"current": "t4-small", "requested": "a10g-large"}', "t4-small"),  # what it runs on
    ("null", None), ('"t4"', None), ('{"current": 1, "requested": null}', None),
])
async def test_the_hardware_is_the_current_one_and_only_a_name(hardware: str,
                                                               shown: str | None) -> None:
    path = "/api/spaces/a/b/runtime"
    body = f'{{"stage": "RUNNING", "hardware": {hardware}}}'
    async with Front(None, {path: json_reply(200, body)}) as odd:
        found = await hub_at(odd.url, token="").runtime("a/b")
    assert (found.stage, found.hardware) == ("RUNNING", shown)


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
    assert info.value.token_sent is True and info.value.space == "me/Private"
    assert str(info.value).endswith("the Hub refused to show this Space (HTTP 401): the token "
                                    "was refused or cannot read it")
    assert TOKEN not in str(info.value)


async def test_a_missing_space_is_a_404_with_a_token_and_a_401_without(
        real_host_hub: tuple[FakeHub, RecordingProxy, ssl.SSLContext],
        monkeypatch: pytest.MonkeyPatch) -> None:
    fake, proxy, client_ctx = real_host_hub
    monkeypatch.delenv("HF_ENDPOINT", raising=False)
    client = SpaceClient(hf_token=TOKEN, proxy=proxy.url, verify_ssl=client_ctx)
    with pytest.raises(SpaceUnavailableError) as info:  # the fake knows no Space at all
        await client.aruntime("qwen-2.5")
    assert info.value.status == 404 and info.value.space == "Qwen/Qwen2.5"
    assert str(info.value).endswith("the Hub has no such Space (HTTP 404); it was deleted or "
                                    "renamed, or it is private and needs a token")
    assert fake.requests[0][2]["authorization"] == f"Bearer {TOKEN}"

    anonymous = SpaceClient(read_env_token=False, proxy=proxy.url, verify_ssl=client_ctx)
    with pytest.raises(SpaceAuthError) as auth:  # the Hub's own host: a token would be sent
        await anonymous.aruntime("qwen-2.5")
    assert auth.value.status == 401 and auth.value.token_sent is False
    assert str(auth.value).endswith("(HTTP 401): it is private or does not exist; a token "
                                    "with access is needed")
    assert "authorization" not in fake.requests[1][2]


def test_no_runtime_is_asked_for_a_host_the_hub_cannot_know() -> None:
    client = SpaceClient(read_env_token=False, base_urls={"qwen-2.5": "http://127.0.0.1:9"})
    assert client.runtime("qwen-2.5") is None
