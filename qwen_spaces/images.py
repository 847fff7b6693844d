"""Image inputs: accepted forms, checked before any request.

Bytes, local paths, ``data:`` URIs and http(s) URLs are accepted. Local data is sniffed
(magic bytes plus a structural check that yields width and height) so unsupported or
corrupt images fail with a clear ``ValueError`` before we talk to a Space. Remote URLs are
fetched by the transport (size cap, timeout, never with the HF token) and checked the same way.
"""

from __future__ import annotations

import base64
import binascii
import os
import struct
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlsplit

__all__ = ["ImageData", "RemoteImage", "image_from", "inspect_image"]

_EXT = {"image/png": "png", "image/jpeg": "jpg", "image/gif": "gif", "image/webp": "webp",
        "image/bmp": "bmp"}


@dataclass(frozen=True)
class ImageData:
    data: bytes
    mime_type: str
    width: int
    height: int
    name: str

    def __repr__(self) -> str:
        return (f"ImageData({self.mime_type}, {self.width}x{self.height}, "
                f"{len(self.data)} bytes, name={self.name!r})")


@dataclass(frozen=True)
class RemoteImage:
    url: str


ImageSource = ImageData | RemoteImage


def image_from(source: object, *, max_bytes: int, name: str | None = None) -> ImageSource:
    """Normalise one user-supplied image. Raises ``ValueError`` for anything unusable."""
    if isinstance(source, (ImageData, RemoteImage)):
        return source
    if isinstance(source, (bytes, bytearray, memoryview)):
        return _checked(bytes(source), max_bytes=max_bytes, name=name)
    if isinstance(source, Path):
        return _from_path(source, max_bytes=max_bytes)
    if isinstance(source, str):
        text = source.strip()
        if text.startswith("data:"):
            return _from_data_uri(text, max_bytes=max_bytes, name=name)
        scheme = urlsplit(text).scheme.lower()
        if scheme in ("http", "https"):
            if not urlsplit(text).netloc:
                raise ValueError(f"image URL {text[:80]!r} has no host")
            return RemoteImage(text)
        if scheme and len(scheme) > 1:  # "C:\\..." on Windows has a 1-letter scheme
            raise ValueError(
                f"image URL scheme {scheme!r} is not supported: use http(s) URLs, data: URIs, "
                "bytes or a local path"
            )
        return _from_path(Path(text), max_bytes=max_bytes)
    raise ValueError(f"unsupported image input of type {type(source).__name__}: "
                     "pass bytes, a path, a data: URI or an http(s) URL")


def _from_path(path: Path, *, max_bytes: int) -> ImageData:
    path = path.expanduser()
    if not path.is_file():
        raise ValueError(f"image file {str(path)!r} does not exist")
    size = path.stat().st_size
    if size > max_bytes:
        raise ValueError(f"image {path.name!r} is {size} bytes; the limit is {max_bytes}")
    return _checked(path.read_bytes(), max_bytes=max_bytes, name=path.name)


def _from_data_uri(uri: str, *, max_bytes: int, name: str | None) -> ImageData:
    header, sep, payload = uri.partition(",")
    if not sep or ";base64" not in header:
        raise ValueError("image data: URIs must be base64 encoded (data:image/png;base64,...)")
    if len(payload) * 3 // 4 > max_bytes + 3:
        raise ValueError(f"image data URI exceeds the limit of {max_bytes} bytes")
    try:
        raw = base64.b64decode(payload, validate=True)
    except (binascii.Error, ValueError):
        raise ValueError("image data: URI is not valid base64") from None
    return _checked(raw, max_bytes=max_bytes, name=name)


def _checked(data: bytes, *, max_bytes: int, name: str | None) -> ImageData:
    if len(data) > max_bytes:
        raise ValueError(f"image is {len(data)} bytes; the limit is {max_bytes}")
    mime, width, height = inspect_image(data)
    stem = os.path.splitext(os.path.basename(name))[0] if name else "image"
    return ImageData(data, mime, width, height, f"{stem or 'image'}.{_EXT[mime]}")


def inspect_image(data: bytes) -> tuple[str, int, int]:
    """Return (mime type, width, height); ``ValueError`` if unsupported or corrupt."""
    if not data:
        raise ValueError("image is empty (0 bytes)")
    try:
        if data.startswith(b"\x89PNG\r\n\x1a\n"):
            # IEND anywhere: bytes after it (some tools append them) do not make it corrupt.
            if data[12:16] != b"IHDR" or b"IEND\xaeB`\x82" not in data:
                raise ValueError("truncated or corrupt PNG")
            w, h = struct.unpack(">ii", data[16:24])  # at most 2**31 - 1 (PNG spec)
            return _dims("image/png", w, h)
        if data.startswith(b"\xff\xd8"):
            return _jpeg(data)
        if data[:6] in (b"GIF87a", b"GIF89a"):
            w, h = struct.unpack("<HH", data[6:10])
            return _dims("image/gif", w, h)
        if data[:4] == b"RIFF" and data[8:12] == b"WEBP":
            return _webp(data)
        if data[:2] == b"BM":
            w, h = struct.unpack("<ii", data[18:26])
            return _dims("image/bmp", w, abs(h))
    except struct.error:
        raise ValueError("image data is truncated or corrupt") from None
    raise ValueError("unsupported image format: send PNG, JPEG, GIF, WEBP or BMP")


def _dims(mime: str, w: int, h: int) -> tuple[str, int, int]:
    if w <= 0 or h <= 0:
        raise ValueError(f"corrupt {mime} image: size {w}x{h}")
    return mime, w, h


def _jpeg(data: bytes) -> tuple[str, int, int]:
    i = 2
    while i + 4 <= len(data):
        if data[i] != 0xFF:
            break
        marker = data[i + 1]
        if marker in (0xD8, 0x01) or 0xD0 <= marker <= 0xD7:
            i += 2
            continue
        (length,) = struct.unpack(">H", data[i + 2:i + 4])
        if 0xC0 <= marker <= 0xCF and marker not in (0xC4, 0xC8, 0xCC):
            h, w = struct.unpack(">HH", data[i + 5:i + 9])
            return _dims("image/jpeg", w, h)
        i += 2 + length
    raise ValueError("truncated or corrupt JPEG (no frame header)")


def _webp(data: bytes) -> tuple[str, int, int]:
    chunk = data[12:16]
    if chunk == b"VP8X":
        w = int.from_bytes(data[24:27], "little") + 1
        h = int.from_bytes(data[27:30], "little") + 1
    elif chunk == b"VP8L":
        bits = int.from_bytes(data[21:25], "little")
        w, h = (bits & 0x3FFF) + 1, ((bits >> 14) & 0x3FFF) + 1
    elif chunk == b"VP8 ":
        w, h = struct.unpack("<HH", data[26:30])
        w, h = w & 0x3FFF, h & 0x3FFF
    else:
        raise ValueError("corrupt WEBP image")
    return _dims("image/webp", w, h)
