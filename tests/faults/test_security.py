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
from tests.servers import Front

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
