"""Discovery fallback, HTML pages, redirects, image URLs, proxy and headers.

A real replica answers; ``Front`` (tests/servers.py) sits in front of it on 127.0.0.1 to
inject what a healthy Gradio server never sends.
"""

from __future__ import annotations

import hashlib
import io

import pytest
from PIL import Image

from qwen_spaces import (
    Finished,
    SpaceClient,
    SpaceUnavailableError,
    TextDelta,
    Timeouts,
)
from qwen_spaces.replica import ReplicaSet
from tests.servers import Front, file_reply, html_page, json_reply, redirect

TOKEN = "hf_edge_case_token_123"
HI = [{"role": "user", "content": "hi"}]


async def test_unusable_config_falls_back_to_the_catalog_pins(replicas: ReplicaSet) -> None:
    # The replica's ids equal the catalog's pins, so the pinned fallback must still work.
    async with Front(replicas.url("qwen-2.5-max"),
                     {"/config": json_reply(404, '{"detail":"Not Found"}')}) as front:
        client = SpaceClient(base_urls={"qwen-2.5-max": front.url}, read_env_token=False)
        api = await client.adiscover("qwen-2.5-max")
        assert api.source == "pinned" and (api.fn_index, api.trigger_id) == (0, 11)
        final = await client.achat("qwen-2.5-max", HI)
        assert "query: hi" in final.text
        assert front.headers_for("/gradio_api/queue/join")


@pytest.mark.parametrize(("page", "stage"), [("Your Space is sleeping", "SLEEPING"),
                                             ("This Space is building", "BUILDING"),
                                             ("Runtime error", "RUNTIME_ERROR")])
async def test_html_instead_of_the_api_is_space_unavailable(page: str, stage: str) -> None:
    async with Front(None, {"/config": html_page(503, page)}) as front:
        client = SpaceClient(base_urls={"qwen-2.5": front.url}, max_retries=0)
        with pytest.raises(SpaceUnavailableError) as info:
            await client.achat("qwen-2.5", HI)
    assert info.value.stage == stage and info.value.status == 503
    assert "Qwen/Qwen2.5 is not serving its app" in str(info.value)


async def test_redirects_stay_on_the_space_host(replicas: ReplicaSet) -> None:
    async with Front(replicas.url("qwen-2.5-max")) as elsewhere:
        # The Space's host is "localhost"; the redirect goes to another host (127.0.0.1).
        async with Front(None, {"/config": redirect(f"{elsewhere.url}/config")}) as space:
            port = space.url.rsplit(":", 1)[1]
            client = SpaceClient(base_urls={"qwen-2.5-max": f"http://localhost:{port}"},
                                 hf_token=TOKEN, max_retries=0)
            with pytest.raises(SpaceUnavailableError, match="redirected to another origin"):
                await client.achat("qwen-2.5-max", HI)
        assert elsewhere.seen == []  # not followed, so the token went nowhere else
        assert space.headers_for("/config")[0]["x-hf-authorization"] == f"Bearer {TOKEN}"
    # A redirect within the same host is followed (with the token).
    async with Front(replicas.url("qwen-2.5-max")) as upstream, \
            Front(upstream.url, {"/config": redirect("/config-moved")}) as space:
        space.overrides["/config-moved"] = _forward_to(upstream.url + "/config")
        client = SpaceClient(base_urls={"qwen-2.5-max": space.url}, hf_token=TOKEN)
        final = await client.achat("qwen-2.5-max", HI)
        assert "query: hi" in final.text
        assert space.headers_for("/config-moved")[0]["x-hf-authorization"] == f"Bearer {TOKEN}"


def _forward_to(url: str):  # type: ignore[no-untyped-def]
    import aiohttp
    from aiohttp import web

    async def handler(request: web.Request) -> web.StreamResponse:
        async with aiohttp.ClientSession() as s, s.get(url) as r:
            return web.Response(body=await r.read(), content_type="application/json")
    return handler


def _png(w: int, h: int) -> bytes:
    buf = io.BytesIO()
    Image.new("RGB", (w, h), (1, 2, 3)).save(buf, format="PNG")
    return buf.getvalue()


async def test_image_urls_are_fetched_without_the_token(replicas: ReplicaSet) -> None:
    png = _png(9, 4)
    async with Front(None, {"/pics/cat.png": file_reply(png, "image/png"),
                            "/pics/big.png": file_reply(png + b"\0" * 11_000_000, "image/png"),
                            "/pics/text": file_reply(b"not an image", "text/plain")}) as host:
        client = SpaceClient(base_urls={"qvq-72b": replicas.url("qvq-72b")}, hf_token=TOKEN)
        final = await client.achat("qvq-72b", [{"role": "user", "content": "describe",
                                                "images": [f"{host.url}/pics/cat.png"]}])
        assert f"sha256:{hashlib.sha256(png).hexdigest()[:12]}" in final.text
        assert "9x4" in final.text
        assert "x-hf-authorization" not in host.headers_for("/pics/cat.png")[0]
        assert replicas.stats("qvq-72b")["last_headers"]["x-hf-authorization"] is True
        small = SpaceClient(base_urls={"qvq-72b": replicas.url("qvq-72b")})
        for path, match in [("/pics/missing.png", "HTTP 404"), ("/pics/big.png", "limit"),
                            ("/pics/text", "unsupported image format")]:
            with pytest.raises(ValueError, match=match):
                await small.achat("qvq-72b", [{"role": "user", "content": "x",
                                               "images": [f"{host.url}{path}"]}])


async def test_proxy_and_extra_headers(replicas: ReplicaSet) -> None:
    async with Front(None) as proxy:
        client = SpaceClient(base_urls={"qwen-2.5-max": replicas.url("qwen-2.5-max")},
                             proxy=proxy.url, headers={"x-gradio-user": "api"},
                             read_env_token=False)
        events = [e async for e in client.astream("qwen-2.5-max", HI)]
        assert isinstance(events[-1], Finished)
        assert "".join(e.text for e in events if isinstance(e, TextDelta)) == events[-1].text
        paths = [p for p, _ in proxy.seen]
        assert "/config" in paths and "/gradio_api/queue/join" in paths \
            and "/gradio_api/queue/data" in paths
    headers = replicas.stats("qwen-2.5-max")["last_headers"]
    assert headers["x-gradio-user"] == "api"
    assert headers["user-agent"].startswith("qwen-spaces/0.1.0")


async def test_connection_refused_is_unavailable_after_retries() -> None:
    client = SpaceClient(base_urls={"qwen-2.5": "http://127.0.0.1:9"}, max_retries=1,
                         retry_backoff=0.01, timeouts=Timeouts(connect=2))
    with pytest.raises(SpaceUnavailableError, match="cannot connect"):
        await client.achat("qwen-2.5", HI)
