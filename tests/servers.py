"""A small HTTP front on 127.0.0.1 for faults a real Gradio server cannot be made to produce.

``Front`` forwards every request, byte for byte and streamed, to a real replica. It also
works as a forward proxy, since it accepts absolute-form request targets. Per-path
overrides inject a fault (an HTML page, a redirect, a 404 /config) or serve a file. It
records the headers of every request it sees. With ``ssl_context`` it serves https (a
trustme certificate in the tests), so a TLS Space can sit before a plain-http replica.
A subclass that answers some requests itself, depending on more than the path (a Space that
is not serving yet: ``tests/fake_hub.py``), overrides :meth:`Front.intercept`.
"""

from __future__ import annotations

import ssl
from collections.abc import Awaitable, Callable
from typing import Any, TypeVar

import aiohttp
from aiohttp import web
from yarl import URL

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]
_HOP = {"host", "content-length", "transfer-encoding", "connection", "proxy-connection",
        "keep-alive"}
F = TypeVar("F", bound="Front")


class Front:
    def __init__(self, target: str | None = None,
                 overrides: dict[str, Handler] | None = None, *,
                 ssl_context: ssl.SSLContext | None = None, as_host: bool = False) -> None:
        self.target = target
        #: Used as a forward proxy (``proxy=front.url``), answer an absolute-form request as
        #: the host it names would: forward its path to ``target``. This is how a test
        #: stands a front at a name it cannot own, such as ``http://me-dup.hf.space``.
        self.as_host = as_host
        self.ssl_context = ssl_context
        self.overrides = overrides or {}
        self.seen: list[tuple[str, dict[str, str]]] = []
        self._runner: web.AppRunner | None = None
        self._session: aiohttp.ClientSession | None = None
        self.url = ""

    async def __aenter__(self: F) -> F:
        self._runner, self.url = await serve(catch_all(self._handle), self.ssl_context)
        self._session = aiohttp.ClientSession(auto_decompress=False)
        return self

    async def __aexit__(self, *exc: Any) -> None:
        if self._session is not None:
            await self._session.close()
        if self._runner is not None:
            await self._runner.cleanup()

    def headers_for(self, path: str) -> list[dict[str, str]]:
        return [h for p, h in self.seen if p == path]

    async def intercept(self, request: web.Request) -> web.StreamResponse | None:
        """An answer of the front's own for ``request`` (seen, not forwarded), or None to go
        on to the overrides and the target. Here: None."""
        return None

    async def _handle(self, request: web.Request) -> web.StreamResponse:
        self.seen.append((request.path, {k.lower(): v for k, v in request.headers.items()}))
        own = await self.intercept(request)
        if own is not None:
            return own
        override = self.overrides.get(request.path)
        if override is not None:
            return await override(request)
        assert self._session is not None
        raw = URL(request.raw_path)
        if self.target is None and not raw.is_absolute():
            return web.Response(status=404, text="not found")
        url = str(raw) if raw.is_absolute() and not self.as_host \
            else f"{self.target}{request.path_qs}"
        headers = {k: v for k, v in request.headers.items() if k.lower() not in _HOP}
        async with self._session.request(request.method, url, headers=headers,
                                         data=await request.read(),
                                         allow_redirects=False) as upstream:
            resp = web.StreamResponse(status=upstream.status, headers={
                k: v for k, v in upstream.headers.items() if k.lower() not in _HOP})
            await resp.prepare(request)
            async for chunk in upstream.content.iter_any():
                await resp.write(chunk)
            await resp.write_eof()
            return resp


def catch_all(handler: Handler) -> web.Application:
    """An app that gives every request, whatever its method and path, to ``handler``."""
    app = web.Application()
    app.router.add_route("*", "/{tail:.*}", handler)
    return app


async def serve(app: web.Application, ssl_context: ssl.SSLContext | None = None,
                **runner_options: Any) -> tuple[web.AppRunner, str]:
    """Serve ``app`` on 127.0.0.1 at a free port (https with ``ssl_context``): its runner,
    to ``cleanup()`` at the end, and its base URL."""
    runner = web.AppRunner(app, access_log=None, **runner_options)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0, ssl_context=ssl_context)
    await site.start()
    port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
    return runner, f"{'https' if ssl_context else 'http'}://127.0.0.1:{port}"


def html_page(status: int, text: str) -> Handler:
    async def handler(request: web.Request) -> web.StreamResponse:
        return web.Response(status=status, text=f"<!DOCTYPE html><html><body>{text}</body>"
                            "</html>", content_type="text/html")
    return handler


def redirect(location: str, status: int = 307) -> Handler:
    async def handler(request: web.Request) -> web.StreamResponse:
        return web.Response(status=status, headers={"Location": location})
    return handler


def json_reply(status: int, body: str) -> Handler:
    async def handler(request: web.Request) -> web.StreamResponse:
        return web.Response(status=status, text=body, content_type="application/json")
    return handler


def file_reply(data: bytes, content_type: str) -> Handler:
    async def handler(request: web.Request) -> web.StreamResponse:
        return web.Response(body=data, content_type=content_type)
    return handler
