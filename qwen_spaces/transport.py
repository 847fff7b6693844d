"""HTTP to a Space: the pooled session, headers and token scoping, status -> typed errors.

One ``aiohttp.ClientSession`` per event loop, shared by every client in the process; it lives
and dies with its loop (see :mod:`qwen_spaces.loops`), or is closed earlier by
:func:`close_sessions`.

The HF token is attached only to URLs on the Space's own host; redirects are followed by
hand, and only within that host, so the token never travels elsewhere.
"""

from __future__ import annotations

import asyncio
import json
import platform
import re
from collections.abc import Mapping
from dataclasses import dataclass
from importlib.metadata import PackageNotFoundError
from importlib.metadata import version as _metadata_version
from typing import Any
from urllib.parse import urljoin, urlsplit

import aiohttp

from .errors import (
    QueueFullError,
    SpaceError,
    SpaceProtocolError,
    SpaceTimeoutError,
    SpaceUnavailableError,
)
from .loops import close_sessions, get_session

__all__ = ["Secret", "Timeouts", "Transport", "close_sessions", "get_session", "normalize_base_url"]

try:
    VERSION = _metadata_version("qwen-spaces")
except PackageNotFoundError:  # pragma: no cover - running from a bare source tree
    VERSION = "0.0.0"
USER_AGENT = (f"qwen-spaces/{VERSION} (+langchain/llama-index adapter) aiohttp/"
              f"{aiohttp.__version__} python/{platform.python_version()}")


@dataclass(frozen=True)
class Timeouts:
    """Seconds. ``queue`` bounds the wait before the Space starts the job (heartbeats do not
    reset it); ``idle`` bounds silence on an open stream (heartbeats every 15 s do)."""

    connect: float = 10.0
    request: float = 30.0
    queue: float = 300.0
    idle: float = 60.0

    @classmethod
    def from_timeout(cls, timeout: float | None, *, queue: float | None = None) -> Timeouts:
        """The adapters' single ``timeout`` setting: it bounds connecting, each plain request
        and each silence on the stream; the queue wait has its own (longer) bound."""
        base = cls()
        if timeout is None:
            return cls(queue=queue if queue is not None else base.queue)
        if timeout <= 0:
            raise ValueError("timeout must be > 0 seconds")
        return cls(connect=min(timeout, base.connect), request=timeout,
                   idle=timeout, queue=queue if queue is not None else base.queue)


class Secret:
    """Holds the HF token; its repr/str never show it."""

    __slots__ = ("_value",)

    def __init__(self, value: str) -> None:
        self._value = value

    def get_secret_value(self) -> str:
        return self._value

    def __repr__(self) -> str:
        return "Secret('**********')"

    __str__ = __repr__

    def __reduce__(self) -> Any:
        raise TypeError("the HF token cannot be pickled")


def normalize_base_url(url: str) -> str:
    if not isinstance(url, str) or not url.strip():
        raise ValueError("base_url must be a non-empty URL such as https://owner-space.hf.space")
    url = url.strip().rstrip("/")
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.netloc:
        raise ValueError(
            f"base_url {url!r} needs an http:// or https:// scheme and a host, "
            "e.g. https://qwen-qwen2-5.hf.space or http://127.0.0.1:7860")
    return url


_STAGES = (("sleep", "SLEEPING"), ("building", "BUILDING"), ("paused", "PAUSED"),
           ("runtime error", "RUNTIME_ERROR"), ("build error", "BUILD_ERROR"),
           ("starting", "APP_STARTING"), ("restarting", "APP_STARTING"))


def _stage_from_html(text: str) -> str | None:
    low = text[:20000].lower()
    for needle, stage in _STAGES:
        if needle in low:
            return stage
    return None


class Transport:
    """Request helpers bound to one client configuration (token, proxy, headers, timeouts)."""

    def __init__(
        self,
        *,
        token: Secret | None,
        timeouts: Timeouts,
        proxy: str | None = None,
        headers: Mapping[str, str] | None = None,
        verify_ssl: bool = True,
    ) -> None:
        self.token = token
        self.timeouts = timeouts
        self.proxy = proxy
        self.extra_headers = dict(headers or {})
        self.ssl: bool | None = None if verify_ssl else False

    def headers(self, url: str, token_host: str | None) -> dict[str, str]:
        headers = {"User-Agent": USER_AGENT, **self.extra_headers}
        if self.token is not None and token_host and urlsplit(url).hostname == token_host:
            headers["X-HF-Authorization"] = f"Bearer {self.token.get_secret_value()}"
        return headers

    def timeout(self, *, total: float | None = None, read: float | None = None) -> \
            aiohttp.ClientTimeout:
        return aiohttp.ClientTimeout(total=total, sock_connect=self.timeouts.connect,
                                     sock_read=read)

    async def open(
        self,
        method: str,
        url: str,
        *,
        space: str,
        token_host: str | None,
        timeout: aiohttp.ClientTimeout,
        json_body: Any = None,
        data: Any = None,
        params: Mapping[str, str] | None = None,
        extra_headers: Mapping[str, str] | None = None,
    ) -> aiohttp.ClientResponse:
        """Send a request, following redirects only within ``token_host``. Caller releases."""
        session = await get_session()
        for _ in range(4):
            headers = self.headers(url, token_host)
            if extra_headers:
                headers.update(extra_headers)
            try:
                resp = await session.request(
                    method, url, json=json_body, data=data, params=params, headers=headers,
                    timeout=timeout, proxy=self.proxy, ssl=self.ssl, allow_redirects=False)
            except asyncio.TimeoutError:
                raise SpaceTimeoutError(
                    f"{space}: no answer from {_origin(url)} within the timeout "
                    "(the Space may be starting up); try again or raise the timeout",
                    space=space, phase="connect") from None
            except aiohttp.ClientConnectorCertificateError as exc:
                raise SpaceUnavailableError(
                    f"{space}: TLS certificate verification failed for {_origin(url)} "
                    f"({exc.certificate_error}). Fix the certificate (or the proxy); pass "
                    "verify_ssl=False only for a host you trust.", space=space) from None
            except aiohttp.ClientConnectorError as exc:
                raise SpaceUnavailableError(
                    f"{space}: cannot connect to {_origin(url)} ({exc.os_error or exc}); check "
                    "the URL and your network", space=space) from None
            except aiohttp.ClientError as exc:
                raise SpaceUnavailableError(
                    f"{space}: connection to {_origin(url)} failed ({type(exc).__name__}); "
                    "try again", space=space) from None
            if resp.status not in (301, 302, 303, 307, 308):
                return resp
            location = resp.headers.get("Location", "")
            resp.release()
            target = urljoin(url, location)
            if urlsplit(target).hostname != urlsplit(url).hostname:
                raise SpaceUnavailableError(
                    f"{space}: {_origin(url)} redirected to another host "
                    f"({_origin(target)}); the Space is probably asleep or moved. Not following "
                    "(the HF token is only sent to the Space itself).", space=space,
                    status=resp.status)
            url, params = target, None
            if resp.status == 303:
                method, json_body, data = "GET", None, None
        raise SpaceUnavailableError(f"{space}: too many redirects at {_origin(url)}", space=space)

    async def request_json(
        self,
        method: str,
        url: str,
        *,
        space: str,
        token_host: str | None,
        what: str,
        json_body: Any = None,
        data: Any = None,
        params: Mapping[str, str] | None = None,
        timeout: float | None = None,
    ) -> Any:
        to = self.timeout(total=timeout or self.timeouts.request)
        resp = await self.open(method, url, space=space, token_host=token_host, timeout=to,
                               json_body=json_body, data=data, params=params)
        try:
            try:
                body = await resp.read()
            except asyncio.TimeoutError:
                raise SpaceTimeoutError(f"{space}: {what} timed out", space=space,
                                        phase="request") from None
            except aiohttp.ClientError as exc:
                raise SpaceUnavailableError(
                    f"{space}: connection dropped during {what} ({type(exc).__name__}); "
                    "try again", space=space) from None
            check_status(resp.status, resp.headers.get("Content-Type", ""), body, space=space,
                         what=what)
            try:
                return json.loads(body)
            except ValueError:
                raise SpaceProtocolError(
                    f"{space}: {what} answered HTTP {resp.status} with a body that is not JSON",
                    space=space) from None
        finally:
            resp.release()


def check_status(status: int, content_type: str, body: bytes, *, space: str, what: str) -> None:
    """Map a non-2xx answer (or an HTML page) to the typed error a user can act on."""
    text = body[:4000].decode("utf-8", errors="replace")
    is_html = "text/html" in content_type.lower() or text.lstrip()[:15].lower().startswith(
        ("<!doctype", "<html"))
    if 200 <= status < 300 and not is_html:
        return
    detail = _detail(text)
    if is_html:
        stage = _stage_from_html(text)
        raise SpaceUnavailableError(
            f"{space} is not serving its app (HTTP {status}, an HTML page instead of the Gradio "
            f"API{'; stage ' + stage if stage else ''}). A sleeping or building Space can "
            "take a few minutes to start: retry later.", space=space, stage=stage, status=status)
    if status == 503 and "queue is full" in detail.lower():
        raise QueueFullError(f"{space}: the queue is full ({detail}); try again later",
                             space=space)
    if status == 429:
        raise SpaceUnavailableError(
            f"{space} is rate-limiting requests (HTTP 429); slow down, pass an HF token, or "
            "duplicate the Space", space=space, status=status)
    if status in (401, 403):
        raise SpaceError(
            f"{space} refused access (HTTP {status}) to {what}: the Space is private or "
            "gated; set HF_TOKEN (or hf_token=) to a token with access", space=space)
    if status == 404:
        raise SpaceUnavailableError(
            f"{space}: {what} not found (HTTP 404): no running Gradio app at this URL, or "
            "the Space is private", space=space, status=status)
    if status in (400, 422):
        raise SpaceProtocolError(
            f"{space} rejected {what} (HTTP {status}: {detail}); the Space's API may have "
            "changed", space=space)
    if status >= 500:
        raise SpaceUnavailableError(
            f"{space}: server error during {what} (HTTP {status}: {detail or 'no detail'}); "
            "it is restarting or its API changed; try again later", space=space, status=status)
    raise SpaceProtocolError(f"{space}: unexpected HTTP {status} for {what}: {detail}",
                             space=space)


def _detail(text: str) -> str:
    try:
        data = json.loads(text)
    except ValueError:
        return re.sub(r"\s+", " ", text).strip()[:200]
    if isinstance(data, dict):
        for key in ("detail", "error", "message"):
            if data.get(key):
                return str(data[key])[:200]
    return str(data)[:200]


def _origin(url: str) -> str:
    parts = urlsplit(url)
    return f"{parts.scheme}://{parts.netloc}"
