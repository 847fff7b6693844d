"""Image URLs sent to the endpoint: fetched by the server, ``https:`` only, public hosts only.

A request's ``image_url`` makes *this server* open a connection, so an open endpoint must not
become a way into the network it runs on. The server fetches each ``https:`` image itself
(the core then uploads the bytes to the Space) and refuses every address that is not
globally routable: private, loopback, link-local, shared, reserved and multicast ranges,
IPv4-mapped IPv6 included. The check is made on the addresses the connection will use (a
resolver that drops the others), so a name that resolves to an internal address is refused
as an IP literal is, and so is every redirect hop (each must be ``https:`` too).
``allow_private=True`` (``--allow-private-image-hosts``) lifts the address check for tests
and trusted networks; the ``https:`` rule stays.

Fetches go directly, not through the client's proxy, never with the HF token or the extra
headers, with the Space's image size cap and the client's request timeout. ``data:`` URIs
never reach this module: the core decodes and checks them.
"""

from __future__ import annotations

import asyncio
import ipaddress
import socket
from dataclasses import replace
from urllib.parse import urljoin, urlsplit

import aiohttp
from aiohttp.abc import AbstractResolver, ResolveResult
from aiohttp.resolver import DefaultResolver

from ..auth import mask_url
from ..client import ChatJob
from ..images import ImageData, ImageSource, RemoteImage, inspect_image
from ..transport import USER_AGENT
from .errors import ApiError

__all__ = ["ImageFetcher", "is_public_address"]

_MAX_REDIRECTS = 5


def is_public_address(host: str) -> bool:
    """Whether an IP address is globally routable (IPv4-mapped IPv6 judged as IPv4)."""
    try:
        ip = ipaddress.ip_address(host.split("%", 1)[0])
    except ValueError:
        return False
    if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped is not None:
        ip = ip.ipv4_mapped
    return ip.is_global and not ip.is_multicast


class PrivateAddressError(OSError):
    """The host resolves to no public address (raised inside aiohttp's connector)."""


class _PublicResolver(AbstractResolver):
    """Resolves as aiohttp does, then keeps only public addresses."""

    def __init__(self) -> None:
        self._inner = DefaultResolver()

    async def resolve(self, host: str, port: int = 0,
                      family: socket.AddressFamily = socket.AF_INET) -> list[ResolveResult]:
        found = await self._inner.resolve(host, port, family)
        public = [r for r in found if is_public_address(r["host"])]
        if not public:
            raise PrivateAddressError(f"{host} resolves to no public address")
        return public

    async def close(self) -> None:
        await self._inner.close()


class ImageFetcher:
    """Fetches request images for one server; :meth:`close` on shutdown."""

    def __init__(self, *, allow_private: bool = False, timeout: float = 30.0) -> None:
        self.allow_private = allow_private
        self.timeout = timeout
        self._session: aiohttp.ClientSession | None = None

    async def close(self) -> None:
        if self._session is not None:
            await self._session.close()
            self._session = None

    def _get_session(self) -> aiohttp.ClientSession:
        if self._session is None or self._session.closed:
            connector = aiohttp.TCPConnector(
                resolver=None if self.allow_private else _PublicResolver())
            self._session = aiohttp.ClientSession(
                connector=connector, trust_env=False, headers={"User-Agent": USER_AGENT})
        return self._session

    async def resolve(self, job: ChatJob) -> ChatJob:
        """The job with every remote image replaced by its bytes (checked and sized)."""
        if not any(isinstance(img, RemoteImage) for img in job.chat.images):
            return job
        limit = job.choice.spec.max_image_bytes
        images: list[ImageSource] = []
        for img in job.chat.images:
            if isinstance(img, RemoteImage):
                img = await self.fetch(img.url, limit)
            images.append(img)
        return replace(job, chat=replace(job.chat, images=tuple(images)))

    async def fetch(self, url: str, max_bytes: int) -> ImageData:
        shown = mask_url(url)[:100]
        try:
            data = await asyncio.wait_for(self._download(url, shown, max_bytes), self.timeout)
        except asyncio.TimeoutError:
            raise _bad(f"fetching the image at {shown} timed out after {self.timeout:g} s",
                       "image_fetch_failed") from None
        try:
            mime, width, height = inspect_image(data)
        except ValueError as exc:
            raise _bad(f"the image at {shown}: {exc}", "invalid_image") from None
        name = urlsplit(url).path.rsplit("/", 1)[-1] or "image"
        return ImageData(data, mime, width, height, name)

    async def _download(self, url: str, shown: str, max_bytes: int) -> bytes:
        session = self._get_session()
        for _ in range(_MAX_REDIRECTS + 1):
            self._check_url(url, shown)
            try:
                resp = await session.get(url, allow_redirects=False)
            except aiohttp.ClientConnectorError as exc:
                if isinstance(exc.os_error, PrivateAddressError):
                    raise self._private(shown) from None
                raise _bad(f"cannot connect to the image host of {shown} "
                           f"({exc.os_error or exc})", "image_fetch_failed") from None
            except aiohttp.ClientError as exc:
                raise _bad(f"fetching the image at {shown} failed ({type(exc).__name__})",
                           "image_fetch_failed") from None
            try:
                if resp.status in (301, 302, 303, 307, 308):
                    url = urljoin(url, resp.headers.get("Location", ""))
                    shown = mask_url(url)[:100]
                    continue
                if resp.status != 200:
                    raise _bad(f"the image URL {shown} answered HTTP {resp.status}",
                               "image_fetch_failed")
                return await _read_capped(resp, shown, max_bytes)
            finally:
                resp.release()
        raise _bad(f"the image URL {shown} redirected more than {_MAX_REDIRECTS} times",
                   "image_fetch_failed")

    def _check_url(self, url: str, shown: str) -> None:
        parts = urlsplit(url)
        if parts.scheme.lower() != "https" or not parts.hostname:
            raise _bad(f"image URLs must be https: (a redirect included), not {shown}",
                       "invalid_image_url")
        host = parts.hostname
        if not self.allow_private and _is_ip(host) and not is_public_address(host):
            raise self._private(shown)

    @staticmethod
    def _private(shown: str) -> ApiError:
        return _bad(f"the image URL {shown} points to a private, loopback or link-local "
                    "address; this server fetches images from public hosts only (its "
                    "operator can allow others with --allow-private-image-hosts)",
                    "image_url_refused")


async def _read_capped(resp: aiohttp.ClientResponse, shown: str, limit: int) -> bytes:
    if (resp.content_length or 0) > limit:
        raise _bad(f"the image at {shown} is {resp.content_length} bytes; the limit is "
                   f"{limit}", "image_too_large")
    data = bytearray()
    try:
        async for chunk in resp.content.iter_chunked(65536):
            data += chunk
            if len(data) > limit:
                raise _bad(f"the image at {shown} exceeds the limit of {limit} bytes",
                           "image_too_large")
    except aiohttp.ClientError as exc:
        raise _bad(f"fetching the image at {shown} failed ({type(exc).__name__})",
                   "image_fetch_failed") from None
    return bytes(data)


def _is_ip(host: str) -> bool:
    try:
        ipaddress.ip_address(host.split("%", 1)[0])
    except ValueError:
        return False
    return True


def _bad(message: str, code: str) -> ApiError:
    return ApiError(400, message, param="messages", code=code)
