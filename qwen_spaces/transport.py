"""HTTP to a Space: the pooled session, headers and token scoping, status -> typed errors.

One ``aiohttp.ClientSession`` per event loop, shared by every client in the process; it lives
and dies with its loop (see :mod:`qwen_spaces.loops`), or is closed earlier by
:func:`close_sessions`.

The HF token and the extra ``headers=`` are attached only to URLs on the Space's own
*origin* (scheme, host and port). Redirects are followed by hand: a request to the Space
follows them only within that origin, so the token never travels elsewhere; a token-free
image fetch may follow them to other hosts. No redirect is ever followed from https to
plain http.

Proxies: ``proxy=`` if given, else the environment (``HTTPS_PROXY`` / ``HTTP_PROXY`` /
``ALL_PROXY`` and ``NO_PROXY``, upper or lower case), resolved per URL as requests and httpx
do it (``urllib.request.getproxies`` / ``proxy_bypass``); ``trust_env=False`` ignores the
environment. Only http(s) proxies are supported. Through a proxy, https requests go through
a ``CONNECT`` tunnel, so the proxy sees the host and port but not the token.
"""

from __future__ import annotations

import asyncio
import functools
import json
import os
import platform
import re
import ssl
import urllib.request
from collections.abc import Mapping
from dataclasses import dataclass
from importlib.metadata import PackageNotFoundError
from importlib.metadata import version as _metadata_version
from typing import TYPE_CHECKING, Any, Literal
from urllib.parse import SplitResult, urljoin, urlsplit

from .auth import TOKEN_HELP, mask_headers, mask_url, origin_of
from .errors import (
    QueueFullError,
    SpaceAuthError,
    SpaceProtocolError,
    SpaceTimeoutError,
    SpaceUnavailableError,
)
from .loops import close_sessions, get_session

if TYPE_CHECKING:
    import aiohttp
else:
    from ._deferred import aiohttp

__all__ = ["Secret", "Timeouts", "Transport", "close_sessions", "env_proxy", "get_session",
           "normalize_base_url"]



@functools.cache
def version() -> str:
    """The installed package's version (read once, when first asked: reading the package
    metadata scans the installed distributions)."""
    try:
        return _metadata_version("qwen-spaces")
    except PackageNotFoundError:  # pragma: no cover - running from a bare source tree
        return "0.0.0"


@functools.cache
def user_agent() -> str:
    return (f"qwen-spaces/{version()} (+langchain/llama-index adapter) aiohttp/"
            f"{aiohttp.__version__} python/{platform.python_version()}")


def __getattr__(name: str) -> str:
    """``VERSION`` and ``USER_AGENT``, computed on first use (see :func:`version`)."""
    if name == "VERSION":
        return version()
    if name == "USER_AGENT":
        return user_agent()
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


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
    """Holds the HF token; its repr/str never show it. ``source`` says where it came from
    (``"$HF_TOKEN"``, a token file's path, ``"hf_token="``), for error messages."""

    __slots__ = ("_value", "source")

    def __init__(self, value: str, source: str | None = None) -> None:
        self._value = value
        self.source = source

    def get_secret_value(self) -> str:
        return self._value

    def __repr__(self) -> str:
        return "Secret('**********')"

    __str__ = __repr__

    def __reduce__(self) -> Any:
        raise TypeError("the HF token cannot be pickled")


def normalize_base_url(url: str, *, what: str = "base_url") -> str:
    """Strip and check an http(s) URL; the error never shows its ``user:password@``."""
    example = ("http://user:password@proxy.example:3128" if what == "proxy" else
               "https://qwen-qwen2-5.hf.space or http://127.0.0.1:7860")
    if not isinstance(url, str) or not url.strip():
        raise ValueError(f"{what} must be a non-empty URL such as {example}")
    url = url.strip().rstrip("/")
    if origin_of(url) is None:
        raise ValueError(
            f"{what} {mask_url(url)!r} needs an http:// or https:// scheme, a host and a "
            f"valid port, e.g. {example}")
    return url


#: The variables :func:`env_proxy` watches: a change of one of these is seen by the next
#: request (``REQUEST_METHOD``: under CGI, ``HTTP_PROXY`` may be a request header and is
#: ignored). urllib also reads mixed-case spellings (``Https_Proxy``) and, with no proxy in
#: the environment, the system's settings (Windows, macOS): those are read when a host is
#: first asked for under these values, not again.
_PROXY_VARS = tuple(f"{name}_proxy" for name in ("http", "https", "all", "no")) + tuple(
    f"{name.upper()}_PROXY" for name in ("http", "https", "all", "no")) + ("REQUEST_METHOD",)
#: (scheme, netloc, the variables' values) -> the answer. ``getproxies`` reads the whole
#: environment (about 0.5 ms); every request asks, and the answer changes only with these.
_proxy_cache: dict[tuple[str, str, tuple[str | None, ...]], str | None] = {}


def env_proxy(url: str) -> str | None:
    """The proxy the environment names for ``url`` (``None``: connect directly).

    As requests/httpx: ``https_proxy`` / ``http_proxy`` by the URL's scheme, else
    ``all_proxy``; lower case wins over upper case; ``no_proxy`` hosts (suffixes, ``*``,
    ``host:port``) bypass it. A proxy given without a scheme is taken as ``http://``.
    Proxies other than http(s) (``socks5://``) are not supported by aiohttp and are skipped.
    The answer is remembered per scheme and host while the variables of ``_PROXY_VARS``
    keep their values (see there for what is not watched).
    """
    parts = urlsplit(url)
    environ = os.environ
    key = (parts.scheme, parts.netloc, tuple(environ.get(name) for name in _PROXY_VARS))
    try:
        return _proxy_cache[key]
    except KeyError:
        pass
    if len(_proxy_cache) >= 256:  # settings that keep changing: start over
        _proxy_cache.clear()
    proxy = _proxy_cache[key] = _env_proxy(parts)
    return proxy


def _env_proxy(parts: SplitResult) -> str | None:
    proxies = urllib.request.getproxies()
    proxy = proxies.get(parts.scheme.lower()) or proxies.get("all")
    if not proxy:
        return None
    if "://" not in proxy:
        proxy = f"http://{proxy}"
    if urlsplit(proxy).scheme.lower() not in ("http", "https"):
        return None
    if parts.hostname and urllib.request.proxy_bypass(parts.netloc.rpartition("@")[2]):
        return None
    return proxy


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
        verify_ssl: bool | ssl.SSLContext = True,
        trust_env: bool = True,
    ) -> None:
        self.token = token
        self.timeouts = timeouts
        self.proxy = proxy
        self.trust_env = trust_env
        self.extra_headers = dict(headers or {})
        self.ssl: bool | ssl.SSLContext | None = (
            verify_ssl if isinstance(verify_ssl, ssl.SSLContext)
            else None if verify_ssl else False)

    def __repr__(self) -> str:
        return (f"Transport(token={'set' if self.token is not None else 'none'}, "
                f"proxy={mask_url(self.proxy) if self.proxy else None!r}, "
                f"trust_env={self.trust_env}, headers={mask_headers(self.extra_headers)}, "
                f"timeouts={self.timeouts})")

    def proxy_for(self, url: str) -> str | None:
        """``proxy=`` wins; else the environment's proxy for this URL (unless trust_env is
        off); ``None`` connects directly."""
        if self.proxy is not None:
            return self.proxy
        return env_proxy(url) if self.trust_env else None

    def headers(self, url: str, token_host: str | None) -> dict[str, str]:
        """Headers for ``url``. ``token_host`` is the Space's origin (its base URL, or any URL
        on it; the name is historical): the token and the extra headers go to that exact
        scheme, host and port only."""
        headers = {"User-Agent": user_agent()}
        scope = origin_of(token_host) if token_host else None
        if scope is not None and origin_of(url) == scope:
            headers.update(self.extra_headers)
            if self.token is not None:
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
        redirects: Literal["same-origin", "any-host"] = "same-origin",
    ) -> aiohttp.ClientResponse:
        """Send a request and follow redirects by hand. Caller releases.

        ``"same-origin"`` (requests to the Space) follows them only within the URL's origin;
        ``"any-host"`` (token-free fetches such as image URLs) follows them anywhere except
        from https to http. A 401/403 from the Space's origin raises :class:`SpaceAuthError`.
        """
        session = await get_session()
        for _ in range(6 if redirects == "any-host" else 4):
            headers = self.headers(url, token_host)
            if extra_headers:
                headers.update(extra_headers)
            proxy = self.proxy_for(url)
            try:
                resp = await session.request(
                    method, url, json=json_body, data=data, params=params, headers=headers,
                    timeout=timeout, proxy=proxy, ssl=self.ssl, allow_redirects=False)
            except aiohttp.ConnectionTimeoutError:
                raise SpaceTimeoutError(
                    f"{space}: could not connect to {_origin(url)} within "
                    f"{self.timeouts.connect:g}s; check the URL and your network, or try "
                    "again", space=space, phase="connect") from None
            except asyncio.TimeoutError:
                waited = timeout.total or timeout.sock_read
                raise SpaceTimeoutError(
                    f"{space}: {_origin(url)} accepted the connection but sent nothing in "
                    f"{waited:g}s; the Space may be overloaded or starting up. Try again "
                    "later.", space=space, phase="request", unanswered=True) from None
            except aiohttp.ClientHttpProxyError as exc:
                assert proxy is not None
                err = SpaceUnavailableError(
                    f"{space}: the proxy {mask_url(proxy)} answered HTTP {exc.status} "
                    f"{exc.message} when asked to connect to {_origin(url)}; check the proxy "
                    "URL and its credentials (proxy=, or HTTPS_PROXY/HTTP_PROXY), or list the "
                    "host in NO_PROXY", space=space)
                err.retryable = exc.status >= 500
                raise err from None
            except aiohttp.ClientProxyConnectionError as exc:
                assert proxy is not None
                raise SpaceUnavailableError(
                    f"{space}: cannot connect to the proxy {mask_url(proxy)} "
                    f"({exc.os_error or exc}) on the way to {_origin(url)}; check the proxy "
                    "(proxy=, or HTTPS_PROXY/HTTP_PROXY) or list the host in NO_PROXY",
                    space=space) from None
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
                via = f" through the proxy {mask_url(proxy)}" if proxy else ""
                raise SpaceUnavailableError(
                    f"{space}: connection to {_origin(url)}{via} failed "
                    f"({type(exc).__name__}); try again", space=space) from None
            if resp.status in (401, 403) and token_host and \
                    origin_of(url) == origin_of(token_host):
                await _raise_auth_error(resp, self.token, space=space, url=url)
            if resp.status not in (301, 302, 303, 307, 308):
                return resp
            location = resp.headers.get("Location", "")
            resp.release()
            target = urljoin(url, location)
            _check_redirect(url, target, redirects, space=space, status=resp.status)
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
                raise SpaceTimeoutError(
                    f"{space}: {what} got no complete answer within "
                    f"{to.total or self.timeouts.request:g}s; try again later", space=space,
                    phase="request", unanswered=True) from None
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


def _check_redirect(url: str, target: str, redirects: str, *, space: str,
                    status: int) -> None:
    """Refuse an https -> http redirect always, and any other origin for Space requests."""
    here, there = origin_of(url), origin_of(target)
    if there is None:
        err = SpaceUnavailableError(
            f"{space}: {_origin(url)} redirected to a URL that is not http(s) "
            f"({mask_url(target)[:100]}); not following", space=space, status=status)
    elif here is not None and here[0] == "https" and there[0] == "http":
        err = SpaceUnavailableError(
            f"{space}: {_origin(url)} redirected from https to plain http "
            f"({_origin(target)}); refused, since that would send the request unencrypted. "
            "If the host really serves only http, use the http:// URL yourself.",
            space=space, status=status)
    elif redirects == "same-origin" and there != here:
        err = SpaceUnavailableError(
            f"{space}: {_origin(url)} redirected to another origin ({_origin(target)}); the "
            "Space is probably asleep or moved. Not following (the HF token and headers= "
            "go only to the Space's own scheme, host and port). If the Space moved, use the "
            "new URL as base_url.", space=space, status=status)
    else:
        return
    err.retryable = False  # the same request gets the same redirect
    raise err


async def _raise_auth_error(resp: aiohttp.ClientResponse, token: Secret | None, *,
                            space: str, url: str) -> None:
    status = resp.status
    try:
        body = await asyncio.wait_for(resp.content.read(4000), 5.0)
    except (asyncio.TimeoutError, aiohttp.ClientError):
        body = b""
    finally:
        resp.release()
    detail = _detail(body.decode("utf-8", errors="replace"))
    detail = f" ({detail})" if detail and not detail.lstrip().startswith("<") else ""
    path = urlsplit(url).path or "/"
    if token is None:
        advice = ("No HF token was sent. A private or gated Space needs one with access: "
                  f"{TOKEN_HELP}.")
    else:
        source = f" (from {token.source})" if token.source else ""
        advice = (f"The HF token{source} was refused: check that it is valid and can read "
                  "this Space (https://huggingface.co/settings/tokens); to use another, "
                  f"{TOKEN_HELP}.")
    raise SpaceAuthError(f"{space} refused access (HTTP {status}) to {path}{detail}. {advice}",
                         space=space, status=status, token_sent=token is not None)


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
        raise SpaceAuthError(
            f"{space} refused access (HTTP {status}) to {what}: the Space is private or "
            f"gated, or the token was refused; to send one with access, {TOKEN_HELP}",
            space=space, status=status)
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
    """``scheme://host:port`` for messages: never the ``user:password@`` part."""
    parts = urlsplit(url)
    return f"{parts.scheme}://{parts.netloc.rpartition('@')[2]}"
