"""A real forward proxy on 127.0.0.1 that records everything it could read.

``CONNECT host:port`` opens a tunnel (what clients do for https); an absolute-form request
(``GET http://host/path``) is forwarded with ``Connection: close``, one request per
connection. ``lines`` holds each request line, ``headers`` their headers, and ``readable``
every byte the proxy received or relayed: for a tunnel that is the TLS records, which is all
a real proxy could read. ``require_auth`` makes it answer 407 without those credentials.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
from typing import Any
from urllib.parse import urlsplit


class RecordingProxy:
    def __init__(self, *, require_auth: tuple[str, str] | None = None,
                 tunnels: dict[str, tuple[str, int]] | None = None) -> None:
        self.require_auth = require_auth
        #: ``CONNECT host:port`` -> where the tunnel really goes: stands a local TLS server
        #: at a name a test cannot own (``huggingface.co:443``); the client still checks the
        #: certificate for the name it asked for.
        self.tunnels = tunnels or {}
        self.lines: list[str] = []
        self.headers: list[dict[str, str]] = []
        self.readable = bytearray()
        self.url = ""
        self._server: asyncio.Server | None = None
        self._tasks: set[asyncio.Task[None]] = set()
        self._writers: set[asyncio.StreamWriter] = set()

    async def __aenter__(self) -> RecordingProxy:
        self._server = await asyncio.start_server(self._handle, "127.0.0.1", 0)
        port = self._server.sockets[0].getsockname()[1]
        self.url = f"http://127.0.0.1:{port}"
        return self

    async def __aexit__(self, *exc: Any) -> None:
        assert self._server is not None
        self._server.close()
        for writer in list(self._writers):
            writer.close()
        for task in list(self._tasks):
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        await self._server.wait_closed()

    @property
    def targets(self) -> list[str]:
        """The host:port of each CONNECT and the URL of each forwarded request."""
        return [line.split(" ")[1] for line in self.lines]

    async def _handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self._writers.add(writer)
        task = asyncio.current_task()
        assert task is not None
        self._tasks.add(task)  # type: ignore[arg-type]
        try:
            await self._serve(reader, writer)
        except (ConnectionError, asyncio.IncompleteReadError, asyncio.CancelledError):
            pass
        finally:
            self._tasks.discard(task)  # type: ignore[arg-type]
            self._writers.discard(writer)
            writer.close()
            with contextlib.suppress(Exception):
                await writer.wait_closed()

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        head = await reader.readuntil(b"\r\n\r\n")
        self.readable += head
        line, *rest = head.decode("latin-1").split("\r\n")
        headers = {k.strip().lower(): v.strip()
                   for k, sep, v in (h.partition(":") for h in rest) if sep}
        self.lines.append(line)
        self.headers.append(headers)
        method, target, _ = line.split(" ", 2)
        if self.require_auth is not None:
            user, password = self.require_auth
            expected = "Basic " + base64.b64encode(f"{user}:{password}".encode()).decode()
            if headers.get("proxy-authorization") != expected:
                writer.write(b"HTTP/1.1 407 Proxy Authentication Required\r\n"
                             b"Proxy-Authenticate: Basic\r\nContent-Length: 0\r\n"
                             b"Connection: close\r\n\r\n")
                await writer.drain()
                return
        if method == "CONNECT":
            host, _, port = target.rpartition(":")
            host, port_n = self.tunnels.get(target, (host, int(port)))
            up_reader, up_writer = await asyncio.open_connection(host, port_n)
            writer.write(b"HTTP/1.1 200 Connection established\r\n\r\n")
            await writer.drain()
        else:
            url = urlsplit(target)
            up_reader, up_writer = await asyncio.open_connection(url.hostname, url.port or 80)
            keep = [h for h in rest if h and h.partition(":")[0].strip().lower() not in
                    ("connection", "proxy-connection", "proxy-authorization", "keep-alive")]
            path = url.path + (f"?{url.query}" if url.query else "")
            up_writer.write("\r\n".join([f"{method} {path or '/'} HTTP/1.1", *keep,
                                         "Connection: close", "", ""]).encode("latin-1"))
        self._writers.add(up_writer)
        try:
            await asyncio.gather(self._pipe(reader, up_writer),
                                 self._pipe(up_reader, writer))
        finally:
            self._writers.discard(up_writer)
            up_writer.close()

    async def _pipe(self, src: asyncio.StreamReader, dst: asyncio.StreamWriter) -> None:
        try:
            while chunk := await src.read(65536):
                self.readable += chunk
                dst.write(chunk)
                await dst.drain()
        except (ConnectionError, OSError):
            pass
        finally:
            with contextlib.suppress(Exception):
                dst.close()
