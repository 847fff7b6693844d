"""Proxies as requests/httpx honour them, through a real local proxy that records what it saw.

``tests/proxy.py`` is a forward proxy on 127.0.0.1 (CONNECT tunnels and absolute-form
requests). The replicas serve plain http; a ``Front`` with a trustme certificate makes a TLS
Space of one, so the proxy can be asked to tunnel to it.
"""

from __future__ import annotations

import hashlib
import ssl
from collections.abc import Iterator

import pytest
import trustme

from qwen_spaces import SpaceClient, SpaceUnavailableError
from qwen_spaces.replica import ReplicaSet
from tests.proxy import RecordingProxy
from tests.servers import Front

TOKEN = "hf_proxy_suite_token_987654321"
HI = [{"role": "user", "content": "hi"}]
MODEL = "qwen-2.5-max"
_PROXY_VARS = ("HTTP_PROXY", "HTTPS_PROXY", "ALL_PROXY", "NO_PROXY", "REQUEST_METHOD")


@pytest.fixture
def no_env_proxy(monkeypatch: pytest.MonkeyPatch) -> Iterator[pytest.MonkeyPatch]:
    for name in _PROXY_VARS:
        monkeypatch.delenv(name, raising=False)
        monkeypatch.delenv(name.lower(), raising=False)
    yield monkeypatch


@pytest.fixture(scope="module")
def tls() -> tuple[ssl.SSLContext, ssl.SSLContext]:
    ca = trustme.CA()
    server_ctx = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    ca.issue_cert("127.0.0.1").configure_cert(server_ctx)
    client_ctx = ssl.create_default_context()
    ca.configure_trust(client_ctx)
    return server_ctx, client_ctx


def _sha(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()[:12]


@pytest.mark.parametrize("var", ["HTTP_PROXY", "http_proxy", "ALL_PROXY"])
async def test_the_environment_proxy_is_used(var: str, replicas: ReplicaSet,
                                             no_env_proxy: pytest.MonkeyPatch) -> None:
    url = replicas.url(MODEL)
    async with RecordingProxy() as proxy:
        no_env_proxy.setenv(var, proxy.url)
        client = SpaceClient(base_urls={MODEL: url}, read_env_token=False,
                             headers={"X-Gradio-User": "api"})
        final = await client.achat(MODEL, HI)
    assert "query: hi" in final.text
    assert f"{url}/config" in proxy.targets
    assert f"{url}/gradio_api/queue/join" in proxy.targets
    assert any(t.startswith(f"{url}/gradio_api/queue/data") for t in proxy.targets)
    assert replicas.stats(MODEL)["last_headers"]["x-gradio-user"] == "api"


@pytest.mark.parametrize("no_proxy", ["127.0.0.1", "localhost,127.0.0.1", "*", "PORT"])
async def test_no_proxy_bypasses_the_environment_proxy(
        no_proxy: str, replicas: ReplicaSet, no_env_proxy: pytest.MonkeyPatch) -> None:
    url = replicas.url(MODEL)
    async with RecordingProxy() as proxy:
        no_env_proxy.setenv("HTTP_PROXY", proxy.url)
        no_env_proxy.setenv("no_proxy", no_proxy.replace("PORT", url.split("//")[1]))
        final = await SpaceClient(base_urls={MODEL: url}).achat(MODEL, HI)
    assert "query: hi" in final.text
    assert proxy.lines == []


async def test_proxy_argument_wins_and_trust_env_false_ignores_the_environment(
        replicas: ReplicaSet, no_env_proxy: pytest.MonkeyPatch) -> None:
    url = replicas.url(MODEL)
    async with RecordingProxy() as from_env, RecordingProxy() as chosen:
        no_env_proxy.setenv("HTTP_PROXY", from_env.url)
        no_env_proxy.setenv("NO_PROXY", "127.0.0.1")  # proxy= wins over NO_PROXY too
        await SpaceClient(base_urls={MODEL: url}, proxy=chosen.url).achat(MODEL, HI)
        no_env_proxy.delenv("NO_PROXY")
        await SpaceClient(base_urls={MODEL: url}, trust_env=False).achat(MODEL, HI)
    assert f"{url}/gradio_api/queue/join" in chosen.targets
    assert from_env.lines == []


async def test_a_failing_proxy_is_named_with_its_answer(
        replicas: ReplicaSet, tls: tuple[ssl.SSLContext, ssl.SSLContext],
        no_env_proxy: pytest.MonkeyPatch) -> None:
    server_ctx, client_ctx = tls
    async with Front(replicas.url(MODEL), ssl_context=server_ctx) as space, \
            RecordingProxy(require_auth=("me", "right-password")) as proxy:
        port = proxy.url.rsplit(":", 1)[1]
        wrong = f"http://me:wrong-password@127.0.0.1:{port}"
        no_env_proxy.setenv("HTTPS_PROXY", wrong)
        client = SpaceClient(base_urls={MODEL: space.url}, verify_ssl=client_ctx,
                             max_retries=2, retry_backoff=0.01)
        with pytest.raises(SpaceUnavailableError) as info:
            await client.achat(MODEL, HI)
        assert len(proxy.lines) == 1  # a 407 is not retried
        right = SpaceClient(base_urls={MODEL: space.url}, verify_ssl=client_ctx,
                            proxy=f"http://me:right-password@127.0.0.1:{port}")
        assert "query: hi" in (await right.achat(MODEL, HI)).text
    message = str(info.value)
    assert f"the proxy http://***@127.0.0.1:{port} answered HTTP 407" in message
    assert "wrong-password" not in message and space.url in message
    # A proxy that is not there at all:
    client = SpaceClient(base_urls={MODEL: replicas.url(MODEL)}, proxy=wrong, max_retries=0)
    with pytest.raises(SpaceUnavailableError,
                       match=rf"cannot connect to the proxy http://\*\*\*@127.0.0.1:{port}"):
        await client.achat(MODEL, HI)


async def test_through_a_proxy_the_token_reaches_only_the_tls_space(
        replicas: ReplicaSet, tls: tuple[ssl.SSLContext, ssl.SSLContext],
        no_env_proxy: pytest.MonkeyPatch) -> None:
    server_ctx, client_ctx = tls
    async with Front(replicas.url(MODEL), ssl_context=server_ctx) as space, \
            RecordingProxy() as proxy:
        no_env_proxy.setenv("HTTPS_PROXY", proxy.url)
        no_env_proxy.setenv("HTTP_PROXY", "http://127.0.0.1:9")  # not for https URLs
        client = SpaceClient(base_urls={MODEL: space.url}, hf_token=TOKEN,
                             headers={"Cookie": "session=cookie-secret"},
                             verify_ssl=client_ctx)
        final = await client.achat(MODEL, HI)
    assert "query: hi" in final.text
    host_port = space.url.split("//")[1]
    assert proxy.lines and all(line == f"CONNECT {host_port} HTTP/1.1" for line in proxy.lines)
    readable = bytes(proxy.readable)
    assert len(readable) > 2000  # the whole exchange passed through the proxy
    for secret in (TOKEN, "cookie-secret", "X-HF-Authorization", "/gradio_api/queue/join"):
        assert secret.encode() not in readable
    assert all("x-hf-authorization" not in h and "cookie" not in h for h in proxy.headers)
    assert replicas.stats(MODEL)["last_headers"]["x-hf-authorization_sha256"] == _sha(TOKEN)
    assert space.headers_for("/gradio_api/queue/join")[0]["cookie"] == "session=cookie-secret"
