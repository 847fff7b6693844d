"""The HF token stays secret and local; bad input never reaches the network; TLS is verified."""

from __future__ import annotations

import asyncio
import base64
import io
import logging
import pickle
import ssl
from pathlib import Path
from typing import Any

import pytest
import trustme
from aiohttp import web
from PIL import Image

from qwen_spaces import SpaceClient, SpaceError, SpaceUnavailableError, Timeouts
from qwen_spaces.replica import ReplicaSet
from tests.fault_server import CHAT_TEXT, FaultServer, Plan
from tests.servers import Front, file_reply, redirect

TOKEN = "hf_security_suite_token_0123456789"
HI = [{"role": "user", "content": "hello there"}]
QUEUE_FULL = '{"detail":"Queue is full. Max size is 3 and size is 3."}'


def png(w: int = 4, h: int = 3) -> bytes:
    buf = io.BytesIO()
    Image.new("RGB", (w, h), (9, 9, 9)).save(buf, format="PNG")
    return buf.getvalue()


@pytest.mark.parametrize("plan", [
    Plan(join_status=503, join_body=QUEUE_FULL),
    Plan(join_status=401, join_body='{"detail":"Unauthorized"}'),
    Plan(join_status=500, join_body="boom", join_content_type="text/plain"),
    Plan(stream=[b"data: {broken\n\n"]),
    Plan(data_reset_first=True),
], ids=["queue-full", "401", "500", "malformed", "reset"])
async def test_the_token_is_in_no_error_and_no_log(plan: Plan,
                                                  caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG)
    async with FaultServer(script=[plan]) as server:
        client = SpaceClient(base_urls={"qwen-2-72b": server.url}, hf_token=TOKEN,
                             max_retries=0)
        with pytest.raises(SpaceError) as info:
            await client.achat("qwen-2-72b", HI)
    exc = info.value
    for text in (str(exc), repr(exc), repr(exc.__dict__), repr(client),
                 pickle.dumps(exc).decode("latin-1"), caplog.text):
        assert TOKEN not in text
    assert exc.__cause__ is None or TOKEN not in repr(exc.__cause__)


def test_the_token_cannot_be_pickled_with_a_client() -> None:
    client = SpaceClient(hf_token=TOKEN)
    with pytest.raises(TypeError, match="cannot be pickled"):
        pickle.dumps(client)
    assert TOKEN not in repr(client) and TOKEN not in str(client.transport.token)


async def test_tls_is_verified_by_default() -> None:
    ca = trustme.CA()
    server_ctx = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    ca.issue_cert("127.0.0.1").configure_cert(server_ctx)
    async with FaultServer(ssl_context=server_ctx) as server:
        assert server.url.startswith("https://")
        strict = SpaceClient(base_urls={"qwen-2-72b": server.url}, max_retries=0,
                             hf_token=TOKEN)
        with pytest.raises(SpaceUnavailableError, match="certificate verification failed"):
            await strict.achat("qwen-2-72b", HI)
        assert server.joins == 0  # nothing, and no token, went over the untrusted link
        relaxed = SpaceClient(base_urls={"qwen-2-72b": server.url}, verify_ssl=False)
        assert (await relaxed.achat("qwen-2-72b", HI)).text == CHAT_TEXT


async def test_image_urls_are_fetched_with_a_timeout(replicas: ReplicaSet) -> None:
    # (That image URLs never get the token: test_transport_edges.py.)
    async def stall(request: web.Request) -> web.StreamResponse:
        await asyncio.sleep(5)
        return web.Response(body=png(), content_type="image/png")

    async with Front(None, {"/slow.png": stall}) as host:
        client = SpaceClient(base_urls={"qvq-72b": replicas.url("qvq-72b")},
                             timeouts=Timeouts(request=0.5))
        with pytest.raises(ValueError, match="timed out"):
            await client.achat("qvq-72b", [{"role": "user", "content": "x",
                                            "images": [f"{host.url}/slow.png"]}])


def _bad_inputs(tmp: Path) -> list[tuple[dict[str, Any], str]]:
    big = tmp / "big.png"
    big.write_bytes(png() + b"\0" * (11 * 1024 * 1024))
    b64 = base64.b64encode(png()).decode()
    user = {"role": "user", "content": "x"}
    return [
        ({"model": "no-such-model", "messages": [user]}, "Unknown Qwen Space model"),
        ({"model": "qwen-2-72b", "messages": []}, "empty"),
        ({"model": "qwen-2-72b", "messages": [user, {"role": "assistant", "content": "a"}]},
         "end with a user message"),
        ({"model": "qwen-2-72b", "messages": [{**user, "images": [png()]}]}, "text-only"),
        ({"model": "qvq-72b", "messages": [{**user, "images": [b"GIF89a\x01"]}]}, "corrupt"),
        ({"model": "qvq-72b", "messages": [{**user, "images": [b"%PDF-1.4 not an image"]}]},
         "unsupported image format"),
        ({"model": "qvq-72b", "messages": [{**user, "images": [big]}]}, "limit"),
        ({"model": "qvq-72b", "messages": [{**user, "images": ["file:///etc/passwd"]}]},
         "scheme 'file'"),
        ({"model": "qvq-72b", "messages": [{**user, "images": ["ftp://h/x.png"]}]},
         "scheme 'ftp'"),
        ({"model": "qvq-72b", "messages": [{**user, "images": [f"data:image/png,{b64}"]}]},
         "base64"),
        ({"model": "qwen-2-72b", "messages": [user], "base_url": "qwen.example.org"},
         "scheme"),
        ({"model": "qwen-2-72b", "messages": [{"role": "function", "content": "1"}, user]},
         "role 'function'"),
        ({"model": "qvq-72b", "messages": [user], "tools": [{"name": "f"}]},
         "cannot take tools"),
        ({"model": "qwen-2-72b", "messages": [user], "tools": [{"name": "f"}],
          "tool_choice": "g"}, "not a bound tool"),
        ({"model": "qwen-2-72b", "messages": [user], "tools": [{"description": "no name"}]},
         "no function name"),
    ]


async def test_bad_input_is_rejected_before_any_request(tmp_path: Path) -> None:
    async with FaultServer() as server:
        client = SpaceClient(base_urls={"qwen-2-72b": server.url, "qvq-72b": server.url})
        for kwargs, match in _bad_inputs(tmp_path):
            with pytest.raises(ValueError, match=match):
                await client.achat(**kwargs)
            with pytest.raises(ValueError, match=match):
                client.astream(**kwargs)  # raised on the call, before iteration
        assert (server.joins, server.data_requests) == (0, 0)


# -- the token's scope is an origin; secrets are masked; local files stay local ----------

@pytest.fixture(scope="module")
def tls() -> tuple[ssl.SSLContext, ssl.SSLContext]:
    """(server context, client context) from one trustme CA, for 127.0.0.1 and localhost."""
    ca = trustme.CA()
    server_ctx = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    ca.issue_cert("127.0.0.1", "localhost").configure_cert(server_ctx)
    client_ctx = ssl.create_default_context()
    ca.configure_trust(client_ctx)
    return server_ctx, client_ctx


@pytest.mark.parametrize("where", ["another-port", "plain-http"])
async def test_the_token_and_headers_never_follow_a_redirect_off_the_origin(
        where: str, replicas: ReplicaSet, tls: tuple[ssl.SSLContext, ssl.SSLContext]) -> None:
    server_ctx, client_ctx = tls
    # The catcher is on the same host (127.0.0.1): only the port, or the scheme, differs.
    catcher_ctx = server_ctx if where == "another-port" else None
    async with Front(replicas.url("qwen-2.5-max"), ssl_context=catcher_ctx) as catcher, \
            Front(None, {"/config": redirect(f"{catcher.url}/config")},
                  ssl_context=server_ctx) as space:
        assert space.url.startswith("https://127.0.0.1:")
        client = SpaceClient(base_urls={"qwen-2.5-max": space.url}, hf_token=TOKEN,
                             headers={"Cookie": "session=secret-cookie"},
                             verify_ssl=client_ctx, max_retries=2, retry_backoff=0.01)
        with pytest.raises(SpaceUnavailableError) as info:
            await client.achat("qwen-2.5-max", HI)
        assert catcher.seen == []  # never followed: neither the token nor the cookie went
        sent = space.headers_for("/config")
        assert len(sent) == 1  # a refused redirect is not retried
        assert sent[0]["x-hf-authorization"] == f"Bearer {TOKEN}"
        assert sent[0]["cookie"] == "session=secret-cookie"
    message = str(info.value)
    if where == "plain-http":
        assert "from https to plain http" in message and "unencrypted" in message
    else:
        assert "another origin" in message and catcher.url in message
    assert TOKEN not in message and "secret-cookie" not in message


async def test_the_token_follows_a_redirect_within_the_origin(
        replicas: ReplicaSet, tls: tuple[ssl.SSLContext, ssl.SSLContext]) -> None:
    server_ctx, client_ctx = tls
    async with Front(replicas.url("qwen-2.5-max"), ssl_context=server_ctx) as space:
        space.overrides["/config"] = redirect(f"{space.url}/gradio_api/../config-moved")
        space.overrides["/config-moved"] = redirect("/gradio_api/info-not-config", 308)
        client = SpaceClient(base_urls={"qwen-2.5-max": space.url}, hf_token=TOKEN,
                             verify_ssl=client_ctx)
        final = await client.achat("qwen-2.5-max", HI)  # /config unusable: pinned API
    assert "query: hello there" in final.text
    assert space.headers_for("/config-moved")[0]["x-hf-authorization"] == f"Bearer {TOKEN}"


async def test_extra_headers_never_reach_image_hosts(replicas: ReplicaSet) -> None:
    async with Front(None, {"/cat.png": file_reply(png(5, 5), "image/png")}) as host:
        client = SpaceClient(base_urls={"qvq-72b": replicas.url("qvq-72b")}, hf_token=TOKEN,
                             headers={"X-Gradio-User": "space-only", "Cookie": "c=1"})
        final = await client.achat("qvq-72b", [{"role": "user", "content": "describe",
                                                "images": [f"{host.url}/cat.png"]}])
        assert "5x5" in final.text
        sent = host.headers_for("/cat.png")[0]
        assert not {"x-gradio-user", "cookie", "x-hf-authorization"} & set(sent)
    arrived = replicas.stats("qvq-72b")["last_headers"]
    assert arrived["x-gradio-user"] == "space-only" and arrived["cookie"] is True


def test_headers_proxy_credentials_and_url_userinfo_are_masked_everywhere() -> None:
    from langchain_core.load import dumpd, dumps

    from langchain_qwen_spaces import ChatQwenSpaces
    from llama_index_qwen_spaces import QwenSpacesLLM

    secrets = ("proxy-password", "url-password", "cookie-value", TOKEN)
    config: dict[str, Any] = {"base_url": "https://me:url-password@example.org",
                              "proxy": "http://me:proxy-password@127.0.0.1:3128",
                              "headers": {"Cookie": "cookie-value"}, "hf_token": TOKEN}
    client = SpaceClient(base_urls={"qwen-2.5": config["base_url"]}, proxy=config["proxy"],
                         headers=config["headers"], hf_token=TOKEN)
    lc = ChatQwenSpaces(model="qwen-2.5", **config)
    li = QwenSpacesLLM(model="qwen-2.5", **config)
    texts = [repr(client), str(client), repr(client.transport), repr(lc), str(lc), dumps(lc),
             repr(dumpd(lc)), repr(lc.model_dump()), lc.model_dump_json(),
             repr(lc._identifying_params), repr(li), li.to_json(), repr(li.to_dict()),
             repr(li.model_dump())]
    for bad, what in [("ftp://me:url-password@x", "base_url"),
                      ("https://me:url-password@x:99999", "base_url")]:
        with pytest.raises(ValueError) as info:
            SpaceClient(base_urls={"qwen-2.5": bad})
        texts.append(str(info.value))
        assert what in str(info.value)
    with pytest.raises(ValueError) as info:
        SpaceClient(proxy="socks9://me:proxy-password@h")
    texts.append(str(info.value))
    for text in texts:
        for secret in secrets:
            assert secret not in text, (secret, text)
    assert "https://***@example.org" in repr(client) and "'Cookie': '***'" in repr(lc)
    assert "http://***@127.0.0.1:3128" in repr(li)


async def test_url_userinfo_stays_out_of_connection_errors() -> None:
    client = SpaceClient(base_urls={"qwen-2.5": "http://me:url-password@127.0.0.1:9"},
                         max_retries=0)
    with pytest.raises(SpaceUnavailableError) as info:
        await client.achat("qwen-2.5", HI)
    assert "cannot connect to http://127.0.0.1:9 " in str(info.value)
    assert "url-password" not in str(info.value)


def test_image_block_urls_never_read_local_files(tmp_path: Path) -> None:
    from langchain_core.messages import HumanMessage
    from llama_index.core.base.llms.types import ChatMessage, ImageBlock, MessageRole

    from langchain_qwen_spaces import ChatQwenSpaces
    from llama_index_qwen_spaces import QwenSpacesLLM

    real = tmp_path / "secret.png"
    real.write_bytes(png())
    lc = ChatQwenSpaces(model="qvq-72b", base_url="http://127.0.0.1:9", max_retries=0)
    li = QwenSpacesLLM(model="qvq-72b", base_url="http://127.0.0.1:9", max_retries=0)
    messages: dict[str, str] = {}
    for label, url in [("exists", str(real)), ("missing", str(tmp_path / "none.png")),
                       ("file-url", real.as_uri())]:
        with pytest.raises(ValueError, match="must be an http") as info:
            lc.invoke([HumanMessage(content=[{"type": "text", "text": "x"},
                                             {"type": "image", "url": url}])])
        messages[label] = str(info.value).replace(url, "<url>")
        # ImageBlock validates url as a URL, so a bare path arrives only in a block built
        # without validation (model_construct, deserialised data): still refused.
        block = ImageBlock(url=url) if label == "file-url" else \
            ImageBlock.model_construct(url=url)
        with pytest.raises(ValueError, match="must be an http") as info:
            li.chat([ChatMessage(role=MessageRole.USER, blocks=[block])])
        messages[f"li-{label}"] = str(info.value).replace(url, "<url>")
    # The error reads the same whether or not the file exists: nothing was looked up.
    assert messages["exists"] == messages["missing"]
    assert messages["li-exists"] == messages["li-missing"]
    # Explicit local files still work where asked for: ImageBlock(path=) (checked offline).
    job = li._job([ChatMessage(role=MessageRole.USER, blocks=[ImageBlock(path=real)])], {})[0]
    job_image = job.chat.images[0]
    assert getattr(job_image, "width", None) == 4


async def test_image_redirects_to_another_host_are_followed_but_never_to_http(
        replicas: ReplicaSet, tls: tuple[ssl.SSLContext, ssl.SSLContext]) -> None:
    server_ctx, client_ctx = tls
    picture = png(7, 2)
    async with Front(None, {"/x/cat.png": file_reply(picture, "image/png")},
                     ssl_context=server_ctx) as cdn, \
            Front(None, {"/x/cat.png": file_reply(picture, "image/png")}) as plain, \
            Front(None, ssl_context=server_ctx) as hub:
        cdn_port = cdn.url.rsplit(":", 1)[1]
        # Like a Hub resolve link: another host name (localhost), then the file.
        hub.overrides["/resolve/cat.png"] = redirect(f"https://localhost:{cdn_port}/x/cat.png",
                                                     302)
        hub.overrides["/resolve/down.png"] = redirect(f"{plain.url}/x/cat.png", 302)
        client = SpaceClient(base_urls={"qvq-72b": replicas.url("qvq-72b")}, hf_token=TOKEN,
                             verify_ssl=client_ctx)
        final = await client.achat("qvq-72b", [{"role": "user", "content": "describe",
                                                "images": [f"{hub.url}/resolve/cat.png"]}])
        assert "7x2" in final.text
        assert "x-hf-authorization" not in cdn.headers_for("/x/cat.png")[0]
        with pytest.raises(ValueError, match="from https to plain http"):
            await client.achat("qvq-72b", [{"role": "user", "content": "describe",
                                            "images": [f"{hub.url}/resolve/down.png"]}])
        assert plain.seen == []


@pytest.mark.parametrize("status", [401, 403])
@pytest.mark.parametrize("token", [None, TOKEN], ids=["no-token", "token"])
async def test_refused_access_is_a_space_auth_error(status: int, token: str | None,
                                                    monkeypatch: pytest.MonkeyPatch,
                                                    tmp_path: Path) -> None:
    from langchain_qwen_spaces import SpaceAuthError as LangChainAuthError
    from llama_index_qwen_spaces import SpaceAuthError as LlamaIndexAuthError
    from qwen_spaces import SpaceAuthError

    assert LangChainAuthError is SpaceAuthError is LlamaIndexAuthError
    monkeypatch.delenv("HF_TOKEN", raising=False)
    monkeypatch.delenv("HUGGING_FACE_HUB_TOKEN", raising=False)
    monkeypatch.setenv("HF_HOME", str(tmp_path))
    if token is not None:
        monkeypatch.setenv("HF_TOKEN", token)
    plan = Plan(join_status=status, join_body='{"detail":"Invalid credentials"}')
    async with FaultServer(script=[plan]) as server:
        client = SpaceClient(base_urls={"qwen-2-72b": server.url}, max_retries=2,
                             retry_backoff=0.01)
        with pytest.raises(SpaceAuthError) as info:
            await client.achat("qwen-2-72b", HI)
        assert server.joins == 1  # not retried: the same request gets the same answer
    err = info.value
    assert err.status == status and err.token_sent is (token is not None)
    assert not err.retryable and isinstance(err, SpaceError)
    message = str(err)
    assert f"HTTP {status}" in message and "Invalid credentials" in message
    assert "HF_TOKEN" in message and "hf auth login" in message
    if token is None:
        assert "No HF token was sent" in message
    else:
        assert "The HF token (from $HF_TOKEN) was refused" in message
        assert token not in message


# -- where the token comes from --------------------------------------------------------

def _no_env_token(monkeypatch: pytest.MonkeyPatch, home: Path) -> None:
    for name in ("HF_TOKEN", "HUGGING_FACE_HUB_TOKEN", "HF_TOKEN_PATH", "XDG_CACHE_HOME"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("HF_HOME", str(home))


async def test_a_token_saved_by_hf_auth_login_is_sent(replicas: ReplicaSet, tmp_path: Path,
                                                      monkeypatch: pytest.MonkeyPatch) -> None:
    import hashlib

    from langchain_qwen_spaces import ChatQwenSpaces
    from llama_index_qwen_spaces import QwenSpacesLLM

    _no_env_token(monkeypatch, tmp_path)
    saved = "hf_saved_by_hf_auth_login_42"
    (tmp_path / "token").write_text(saved + "\n")  # as `hf auth login` writes it
    digest = hashlib.sha256(saved.encode()).hexdigest()[:12]
    url = replicas.url("qwen-2.5-max")
    sent: list[object] = []
    await SpaceClient(base_urls={"qwen-2.5-max": url}).achat("qwen-2.5-max", HI)
    sent.append(replicas.stats("qwen-2.5-max")["last_headers"]["x-hf-authorization_sha256"])
    await ChatQwenSpaces(model="qwen-2.5-max", base_url=url).ainvoke("hi")
    sent.append(replicas.stats("qwen-2.5-max")["last_headers"]["x-hf-authorization_sha256"])
    await QwenSpacesLLM(model="qwen-2.5-max", base_url=url).acomplete("hi")
    sent.append(replicas.stats("qwen-2.5-max")["last_headers"]["x-hf-authorization_sha256"])
    assert sent == [digest] * 3
    (tmp_path / "token").unlink()  # logged out: nothing is sent
    await SpaceClient(base_urls={"qwen-2.5-max": url}).achat("qwen-2.5-max", HI)
    assert replicas.stats("qwen-2.5-max")["last_headers"]["x-hf-authorization"] is False


def test_the_token_is_found_in_hugging_face_order(tmp_path: Path) -> None:
    from qwen_spaces.auth import find_token, locate_token

    home, other = tmp_path / "home", tmp_path / "elsewhere" / "tok"
    home.mkdir()
    other.parent.mkdir()
    (home / "token").write_text("hf_from_home")
    other.write_text("  hf_from_token_path\r\n")
    env = {"HF_HOME": str(home)}
    assert locate_token(env) == ("hf_from_home", str(home / "token"))
    assert find_token({**env, "HF_TOKEN_PATH": str(other)}) == "hf_from_token_path"
    assert find_token({**env, "HUGGING_FACE_HUB_TOKEN": "hf_legacy"}) == "hf_legacy"
    assert locate_token({**env, "HF_TOKEN": " hf_env ", "HUGGING_FACE_HUB_TOKEN": "x"}) == \
        ("hf_env", "$HF_TOKEN")
    assert find_token({**env, "HF_TOKEN": "  "}) == "hf_from_home"  # blank: not set
    assert find_token({"XDG_CACHE_HOME": str(tmp_path / "none")}) is None
    xdg = tmp_path / "xdg" / "huggingface"
    xdg.mkdir(parents=True)
    (xdg / "token").write_text("hf_from_xdg")
    assert find_token({"XDG_CACHE_HOME": str(tmp_path / "xdg")}) == "hf_from_xdg"
    client = SpaceClient(hf_token=None, read_env_token=False)
    assert client.transport.token is None


async def test_a_refused_token_is_named_by_its_source_through_the_adapters(
        monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    """The adapters pass the token they found explicitly; the error must still say it came
    from $HF_TOKEN (or the login file), not from an hf_token= the user never wrote."""
    from langchain_qwen_spaces import ChatQwenSpaces
    from llama_index_qwen_spaces import QwenSpacesLLM
    from qwen_spaces import SpaceAuthError

    monkeypatch.setenv("HF_HOME", str(tmp_path))
    monkeypatch.setenv("HF_TOKEN", "hf_env_token_refused")
    plan = Plan(join_status=401, join_body='{"detail":"Invalid credentials"}')
    async with FaultServer(script=[plan]) as server:
        chat = ChatQwenSpaces(model="qwen-2-72b", base_url=server.url)
        llm = QwenSpacesLLM(model="qwen-2-72b", base_url=server.url)
        with pytest.raises(SpaceAuthError, match=r"\(from \$HF_TOKEN\)"):
            await chat.ainvoke("hi")
        with pytest.raises(SpaceAuthError, match=r"\(from \$HF_TOKEN\)"):
            await llm.acomplete("hi")
        explicit = ChatQwenSpaces(model="qwen-2-72b", base_url=server.url,
                                  api_key="hf_written_here")
        with pytest.raises(SpaceAuthError, match=r"\(from hf_token=\)"):
            await explicit.ainvoke("hi")
