"""Write the tiny image fixtures under tests/data/images/: one per branch of the format
sniffer in qwen_spaces/images.py. Run it from the repository root:

    python scripts/make_test_images.py

Pillow writes most of them. Some variants it cannot write directly, so their bytes are
crafted from a Pillow-written file, as noted at each one:
  * bmp_top_down: Pillow writes bottom-up BMPs only; the height field is negated and the
    pixel rows reversed, which is how a top-down BMP is stored.
  * jpeg_dht_first: the DHT segment is moved before the frame header (SOF0), so the sniffer
    must skip a 0xC4 marker that is not a frame; the file still decodes.
  * png_zero_width: the IHDR width is set to 0 (the CRC is recomputed); decoders reject it.
  * png_trailing_short / png_trailing_long: bytes appended after IEND.
Dimensions differ per file (and width != height) so a swapped or misread field shows.
The files are tiny and committed; rerunning the script rewrites identical bytes except
where Pillow's encoders change.
"""

from __future__ import annotations

import io
import struct
import zlib
from collections.abc import Callable
from pathlib import Path

from PIL import Image

OUT = Path(__file__).resolve().parent.parent / "tests" / "data" / "images"


def picture(w: int, h: int, mode: str = "RGB") -> Image.Image:
    im = Image.new(mode, (w, h))
    for x in range(w):
        for y in range(h):
            v = (x * 37 + y * 91) % 256
            im.putpixel((x, y), (v, 255 - v, (v * 3) % 256, 200)[:len(mode)])
    return im


def saved(im: Image.Image, fmt: str, **kw: object) -> bytes:
    buf = io.BytesIO()
    im.save(buf, fmt, **kw)
    return buf.getvalue()


def png_chunk(kind: bytes, body: bytes) -> bytes:
    return struct.pack(">I", len(body)) + kind + body + struct.pack(
        ">I", zlib.crc32(kind + body) & 0xFFFFFFFF)


def png_zero_width() -> bytes:
    data = saved(picture(4, 3), "PNG")
    ihdr = bytearray(data[16:29])
    ihdr[0:4] = struct.pack(">I", 0)
    return data[:8] + png_chunk(b"IHDR", bytes(ihdr)) + data[33:]


def bmp_top_down() -> bytes:
    w, h = 5, 3
    data = bytearray(saved(picture(w, h), "BMP"))
    offset = struct.unpack("<I", data[10:14])[0]
    row = (w * 3 + 3) // 4 * 4
    rows = [data[offset + i * row: offset + (i + 1) * row] for i in range(h)]
    data[offset:] = b"".join(reversed(rows))
    data[22:26] = struct.pack("<i", -h)
    return bytes(data)


def jpeg_segments(data: bytes) -> tuple[list[bytes], bytes]:
    """(segments up to SOS, the rest from SOS on)."""
    i, segs = 2, []
    while data[i + 1] != 0xDA:
        length = struct.unpack(">H", data[i + 2:i + 4])[0]
        segs.append(data[i:i + 2 + length])
        i += 2 + length
    return segs, data[i:]


def jpeg_dht_first() -> bytes:
    segs, rest = jpeg_segments(saved(picture(7, 4), "JPEG", quality=80))
    dht = [s for s in segs if s[1] == 0xC4]
    other = [s for s in segs if s[1] != 0xC4]
    sof = next(i for i, s in enumerate(other) if s[1] == 0xC0)
    return b"\xff\xd8" + b"".join(other[:sof] + dht + other[sof:]) + rest


def gif(w: int, h: int, version: bytes) -> bytes:
    im = picture(w, h).convert("P")
    data = saved(im, "GIF", comment=b"fixture") if version == b"GIF89a" else saved(im, "GIF")
    assert data[:6] in (b"GIF87a", b"GIF89a")
    if data[:6] != version:  # the two headers differ only in this version string
        data = version + data[6:]
    return data


FIXTURES: dict[str, Callable[[], bytes]] = {
    "png_3x2.png": lambda: saved(picture(3, 2), "PNG"),
    "png_zero_width.png": png_zero_width,
    "png_trailing_short.png": lambda: saved(picture(3, 2), "PNG") + b"\0" * 16,
    "png_trailing_long.png": lambda: saved(picture(3, 2), "PNG") + b"\0" * 80,
    "gif87a_6x4.gif": lambda: gif(6, 4, b"GIF87a"),
    "gif89a_33000x1.gif": lambda: gif(33000, 1, b"GIF89a"),  # a width past 2**15
    "bmp_5x3.bmp": lambda: saved(picture(5, 3), "BMP"),
    "bmp_top_down_5x3.bmp": bmp_top_down,
    "jpeg_baseline_7x4.jpg": lambda: saved(picture(7, 4), "JPEG", quality=80),
    "jpeg_progressive_9x5.jpg": lambda: saved(picture(9, 5), "JPEG", progressive=True),
    "jpeg_exif_comment_6x10.jpg": lambda: saved(picture(6, 10), "JPEG",
                                                exif=b"Exif\0\0" + b"MM\0*\0\0\0\x08\0\0",
                                                comment=b"markers before the frame"),
    "jpeg_dht_first_7x4.jpg": jpeg_dht_first,
    "webp_vp8_11x6.webp": lambda: saved(picture(11, 6), "WEBP", lossless=False, quality=50),
    "webp_vp8l_12x7.webp": lambda: saved(picture(12, 7), "WEBP", lossless=True),
    "webp_vp8x_13x8.webp": lambda: saved(picture(13, 8, "RGBA"), "WEBP", lossless=False,
                                         exif=b"Exif\0\0MM\0*\0\0\0\x08\0\0"),
}


def main() -> None:
    OUT.mkdir(parents=True, exist_ok=True)
    for name, make in FIXTURES.items():
        data = make()
        (OUT / name).write_bytes(data)
        print(f"{name}: {len(data)} bytes")


if __name__ == "__main__":
    main()
