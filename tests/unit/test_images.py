"""Image inputs: every branch of the format sniffer on a real file made by
scripts/make_test_images.py, and the accepted forms (bytes, paths, data: URIs, URLs).

Expected sizes come from the fixtures' names (written by the script), not from the sniffer.
The message for a missing local file is deliberately not pinned (the hardening issue
removes that disclosure); only that it is a ValueError.
"""

from __future__ import annotations

import base64
import re
import struct
from pathlib import Path

import pytest

from qwen_spaces.images import ImageData, RemoteImage, image_from, inspect_image

IMAGES = Path(__file__).resolve().parents[1] / "data" / "images"
MIME = {"png": "image/png", "gif": "image/gif", "bmp": "image/bmp", "jpg": "image/jpeg",
        "webp": "image/webp"}
VALID = sorted(p.name for p in IMAGES.iterdir() if re.search(r"_\d+x\d+\.", p.name))
MB = 10 * 1024 * 1024


def size_of(name: str) -> tuple[int, int]:
    w, h = re.findall(r"_(\d+)x(\d+)\.", name)[0]
    return int(w), int(h)


def data(name: str) -> bytes:
    return (IMAGES / name).read_bytes()


def test_there_is_a_fixture_for_every_format_branch() -> None:
    assert {"png_3x2.png", "gif87a_6x4.gif", "gif89a_33000x1.gif", "bmp_5x3.bmp",
            "bmp_top_down_5x3.bmp", "jpeg_baseline_7x4.jpg", "jpeg_progressive_9x5.jpg",
            "jpeg_exif_comment_6x10.jpg", "jpeg_dht_first_7x4.jpg", "webp_vp8_11x6.webp",
            "webp_vp8l_12x7.webp", "webp_vp8x_13x8.webp"} <= set(VALID)


@pytest.mark.parametrize("name", VALID)
def test_each_format_gives_its_mime_type_and_size(name: str) -> None:
    mime = MIME[name.rsplit(".", 1)[1]]
    assert inspect_image(data(name)) == (mime, *size_of(name))


@pytest.mark.parametrize("name", VALID)
def test_bytes_become_image_data_named_after_the_format(name: str) -> None:
    img = image_from(data(name), max_bytes=MB)
    ext = name.rsplit(".", 1)[1]
    assert img == ImageData(data(name), MIME[ext], *size_of(name), f"image.{ext}")
    w, h = size_of(name)
    assert repr(img) == (f"ImageData({MIME[ext]}, {w}x{h}, {len(data(name))} bytes, "
                         f"name='image.{ext}')")


def test_a_png_with_bytes_after_its_end_is_still_a_png() -> None:
    """Some tools append bytes after IEND; decoders read such files, so do we."""
    assert inspect_image(data("png_trailing_short.png")) == ("image/png", 3, 2)
    assert inspect_image(data("png_trailing_long.png")) == ("image/png", 3, 2)


@pytest.mark.parametrize("raw", [
    pytest.param(data("png_zero_width.png"), id="png-zero-width"),
    pytest.param(data("gif87a_6x4.gif")[:6] + b"\0\0\4\0" + data("gif87a_6x4.gif")[10:],
                 id="gif-zero-width"),
    pytest.param(data("bmp_5x3.bmp")[:22] + b"\0\0\0\0" + data("bmp_5x3.bmp")[26:],
                 id="bmp-zero-height"),
    pytest.param(data("png_3x2.png")[:-12], id="png-truncated"),
    pytest.param(data("png_3x2.png")[:12] + b"IHDX" + data("png_3x2.png")[16:],
                 id="png-no-ihdr"),
    pytest.param(b"\xff\xd8\xff\xe0\x00\x10JFIF\0" + b"\0" * 9, id="jpeg-no-frame"),
    pytest.param(b"\xff\xd8\x00\x00\x00\x00", id="jpeg-not-a-marker"),
    pytest.param(data("jpeg_baseline_7x4.jpg")[:25], id="jpeg-truncated"),
    pytest.param(b"RIFF\0\0\0\0WEBPVP8Z" + b"\0" * 20, id="webp-unknown-chunk"),
    pytest.param(b"GIF89a\x01", id="gif-truncated"),
    pytest.param(b"BM" + b"\0" * 10, id="bmp-truncated"),
    pytest.param(b"\0" * 30, id="unknown"),
    pytest.param(b"", id="empty"),
])
def test_corrupt_or_unknown_images_are_value_errors(raw: bytes) -> None:
    with pytest.raises(ValueError):
        inspect_image(raw)


def test_a_zero_sized_image_says_its_size() -> None:
    with pytest.raises(ValueError, match=r"corrupt image/png image: size 0x3"):
        inspect_image(data("png_zero_width.png"))


def test_an_unknown_format_lists_the_supported_ones() -> None:
    with pytest.raises(ValueError, match="send PNG, JPEG, GIF, WEBP or BMP"):
        inspect_image(b"\0" * 30)
    with pytest.raises(ValueError, match=r"empty \(0 bytes\)"):
        image_from(b"", max_bytes=MB)


def test_a_one_pixel_image_is_fine() -> None:
    one = data("bmp_5x3.bmp")[:18] + b"\1\0\0\0\1\0\0\0" + data("bmp_5x3.bmp")[26:]
    assert inspect_image(one) == ("image/bmp", 1, 1)


def test_webp_size_fields_keep_only_their_14_bits() -> None:
    vp8 = bytearray(data("webp_vp8_11x6.webp"))
    vp8[27] |= 0xC0  # the top two bits of each field are the upscale hint, not size
    vp8[29] |= 0x40
    assert inspect_image(bytes(vp8)) == ("image/webp", 11, 6)


def test_the_name_keeps_the_given_stem_and_takes_the_real_extension() -> None:
    png = data("png_3x2.png")
    assert image_from(png, max_bytes=MB, name="dir/cat.jpeg").name == "cat.png"
    assert image_from(bytearray(png), max_bytes=MB, name=".png").name == ".png.png"
    assert image_from(memoryview(png), max_bytes=MB, name="").name == "image.png"
    uri = "data:image/png;base64," + base64.b64encode(png).decode()
    assert image_from(uri, max_bytes=MB, name="shot.gif").name == "shot.png"
    assert image_from(uri, max_bytes=MB).name == "image.png"


def test_a_local_path_is_read_and_named_after_the_file(tmp_path: Path) -> None:
    p = tmp_path / "photo.jpg"
    p.write_bytes(data("gif87a_6x4.gif"))
    for src in (p, str(p), f"  {p}  "):
        img = image_from(src, max_bytes=MB)
        assert (img.mime_type, img.width, img.height, img.name) == \
            ("image/gif", 6, 4, "photo.gif")  # type: ignore[union-attr]


def test_a_missing_local_file_is_a_value_error(tmp_path: Path) -> None:
    with pytest.raises(ValueError):
        image_from(tmp_path / "nope.png", max_bytes=MB)
    with pytest.raises(ValueError):
        image_from(str(tmp_path), max_bytes=MB)  # a directory is not an image
    with pytest.raises(ValueError):
        image_from("C:\\images\\cat.png", max_bytes=MB)  # a drive letter, not a URL scheme


@pytest.mark.parametrize("how", ["bytes", "path", "data-uri"])
def test_an_image_of_exactly_max_bytes_is_accepted_and_one_more_is_not(
        how: str, tmp_path: Path) -> None:
    raw = data("png_trailing_short.png")
    n = len(raw)

    def load(limit: int) -> object:
        if how == "bytes":
            return image_from(raw, max_bytes=limit)
        if how == "path":
            (tmp_path / "a.png").write_bytes(raw)
            return image_from(tmp_path / "a.png", max_bytes=limit)
        return image_from("data:image/png;base64," + base64.b64encode(raw).decode(),
                          max_bytes=limit)

    assert isinstance(load(n), ImageData)
    with pytest.raises(ValueError, match=f"{n} bytes; the limit is {n - 1}|limit of {n - 1}"):
        load(n - 1)


def test_a_data_uri_far_over_the_limit_is_refused_before_decoding() -> None:
    """The pre-check compares the decoded size (3/4 of the payload) with the limit, plus
    the 3 bytes padding can hide; anything over that is refused as too big."""
    raw = data("png_trailing_short.png")
    n = len(raw)  # 102 bytes: 136 base64 characters, 2 of them padding
    uri = "data:image/png;base64," + base64.b64encode(raw).decode()
    # 136 * 3 // 4 = 102 <= n - 3 + 3: passes the pre-check, fails the exact check.
    with pytest.raises(ValueError, match=f"image is {n} bytes; the limit is {n - 3}"):
        image_from(uri, max_bytes=n - 3)
    with pytest.raises(ValueError, match=f"exceeds the limit of {n - 4} bytes"):
        image_from(uri, max_bytes=n - 4)
    junk = "data:image/png;base64," + "!" * 1000  # not base64, but too long to even look at
    with pytest.raises(ValueError, match="exceeds the limit of 10 bytes"):
        image_from(junk, max_bytes=10)
    # 999 characters: 999 * 3 // 4 = 749 > 745 + 3. 997 characters: 747, not over 744 + 3
    # (so it is decoded, and found to be bad base64).
    with pytest.raises(ValueError, match="exceeds the limit of 745 bytes"):
        image_from("data:image/png;base64," + "A" * 999, max_bytes=745)
    with pytest.raises(ValueError, match="not valid base64"):
        image_from("data:image/png;base64," + "A" * 997, max_bytes=744)


@pytest.mark.parametrize("uri", [
    "data:image/png;base64,iVBO R",        # a space: b64decode would skip it silently
    "data:image/png;base64,iVBO\nRw==",
    "data:image/png;base64,iVB",           # bad padding
])
def test_a_data_uri_must_be_strict_base64(uri: str) -> None:
    with pytest.raises(ValueError, match="not valid base64"):
        image_from(uri, max_bytes=MB)


@pytest.mark.parametrize("uri", ["data:image/png,abc", "data:image/png;base64", "data:,x"])
def test_a_data_uri_must_say_base64_and_have_a_payload(uri: str) -> None:
    with pytest.raises(ValueError, match="must be base64 encoded"):
        image_from(uri, max_bytes=MB)


@pytest.mark.parametrize("url", ["http://example.org/a.png", "https://example.org/a.png",
                                 " HTTPS://example.org/a.png "])
def test_http_and_https_urls_are_fetched_later(url: str) -> None:
    assert image_from(url, max_bytes=MB) == RemoteImage(url.strip())


def test_a_url_without_a_host_is_refused() -> None:
    with pytest.raises(ValueError, match="has no host"):
        image_from("https:///a.png", max_bytes=MB)


@pytest.mark.parametrize("url", ["ftp://example.org/a.png", "file:///etc/passwd"])
def test_other_url_schemes_are_refused_with_what_is_accepted(url: str) -> None:
    with pytest.raises(ValueError, match="use http\\(s\\) URLs, data: URIs, bytes or a local"):
        image_from(url, max_bytes=MB)


def test_images_already_normalised_pass_through_and_other_types_are_refused() -> None:
    img = image_from(data("png_3x2.png"), max_bytes=MB)
    assert image_from(img, max_bytes=1) is img
    remote = RemoteImage("https://h/x.png")
    assert image_from(remote, max_bytes=1) is remote
    with pytest.raises(ValueError, match="type int: pass bytes, a path, a data: URI"):
        image_from(3, max_bytes=MB)


# -- crafted headers: what the Pillow-written fixtures cannot show --------------------------
def sof(marker: int, w: int, h: int) -> bytes:
    """A frame header segment: marker, length 11, precision 8, height, width, 1 component."""
    return bytes([0xFF, marker]) + struct.pack(">HBHHB", 11, 8, h, w, 1) + b"\x01\x11\x00"


def test_standalone_jpeg_markers_before_the_frame_are_skipped() -> None:
    """TEM (0x01), RST0-RST7 and a repeated SOI carry no length field."""
    markers = b"".join(bytes([0xFF, m]) for m in (0x01, 0xD0, 0xD3, 0xD7, 0xD8))
    assert inspect_image(b"\xff\xd8" + markers + sof(0xC0, 21, 13)) == ("image/jpeg", 21, 13)


@pytest.mark.parametrize("marker", [0xC0, 0xC1, 0xC2, 0xC3, 0xC5, 0xC6, 0xC7, 0xC9, 0xCA,
                                    0xCB, 0xCD, 0xCE, 0xCF])
def test_every_jpeg_frame_type_gives_the_size(marker: int) -> None:
    assert inspect_image(b"\xff\xd8" + sof(marker, 21, 13)) == ("image/jpeg", 21, 13)


@pytest.mark.parametrize("marker", [0xC4, 0xC8, 0xCC, 0xE0, 0xFE])
def test_tables_and_other_segments_in_the_c0_range_are_not_frames(marker: int) -> None:
    """DHT (C4), JPG (C8) and DAC (CC) sit among the frame markers but are not frames."""
    data = b"\xff\xd8" + sof(marker, 1, 1) + sof(0xC2, 21, 13)
    assert inspect_image(data) == ("image/jpeg", 21, 13)


def test_a_jpeg_segment_longer_than_32_kib_is_skipped_whole() -> None:
    app1 = b"\xff\xe1" + struct.pack(">H", 0x8002) + b"\0" * 0x8000
    assert inspect_image(b"\xff\xd8" + app1 + sof(0xC0, 21, 13)) == ("image/jpeg", 21, 13)


def test_a_jpeg_over_32767_pixels_wide_is_fine() -> None:
    assert inspect_image(b"\xff\xd8" + sof(0xC0, 40000, 33000)) == ("image/jpeg", 40000, 33000)


def test_a_jpeg_cut_inside_its_frame_header_is_truncated() -> None:
    with pytest.raises(ValueError) as exc:
        inspect_image(b"\xff\xd8\xff\xc0\x00\x11")
    assert str(exc.value) == "image data is truncated or corrupt"


def test_a_png_wider_than_the_spec_allows_is_corrupt() -> None:
    raw = bytearray(data("png_3x2.png"))
    raw[16:20] = struct.pack(">I", 2**31)
    with pytest.raises(ValueError, match="corrupt image/png image"):
        inspect_image(bytes(raw))


@pytest.mark.parametrize(("raw", "message"), [
    (b"", "image is empty (0 bytes)"),
    (data("png_3x2.png")[:-12], "truncated or corrupt PNG"),
    (b"\xff\xd8\xff\xe0\x00\x04\0\0", "truncated or corrupt JPEG (no frame header)"),
    (b"RIFF\0\0\0\0WEBPVP8Z" + b"\0" * 20, "corrupt WEBP image"),
    (b"RIFF\0\0\0\0WAVEfmt " + b"\0" * 20,
     "unsupported image format: send PNG, JPEG, GIF, WEBP or BMP"),
    (b"GIF89a\x01", "image data is truncated or corrupt"),
])
def test_a_bad_image_says_what_is_wrong_with_it(raw: bytes, message: str) -> None:
    with pytest.raises(ValueError) as exc:
        inspect_image(raw)
    assert str(exc.value) == message


@pytest.mark.parametrize(("uri", "message"), [
    ("data:image/png,abc", "image data: URIs must be base64 encoded (data:image/png;base64,...)"),
    ("data:image/png;base64,iVB", "image data: URI is not valid base64"),
])
def test_a_bad_data_uri_says_how_to_write_one(uri: str, message: str) -> None:
    with pytest.raises(ValueError) as exc:
        image_from(uri, max_bytes=MB)
    assert str(exc.value) == message


def test_a_comma_inside_a_data_uri_payload_is_not_base64() -> None:
    b64 = base64.b64encode(data("png_3x2.png")).decode()
    with pytest.raises(ValueError, match="not valid base64"):
        image_from(f"data:image/png;base64,{b64},{b64}", max_bytes=MB)


def test_a_one_letter_scheme_is_a_windows_drive_so_the_text_is_a_path(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    (tmp_path / "c:cat.png").write_bytes(data("png_3x2.png"))
    monkeypatch.chdir(tmp_path)
    assert image_from("c:cat.png", max_bytes=MB).name == "c:cat.png"  # type: ignore[union-attr]
    with pytest.raises(ValueError, match="scheme 'ab' is not supported"):
        image_from("ab:cat.png", max_bytes=MB)


def test_a_name_without_a_stem_falls_back_to_image() -> None:
    assert image_from(data("png_3x2.png"), max_bytes=MB, name="dir/").name == "image.png"


def test_an_error_quotes_at_most_80_characters_of_a_url() -> None:
    url = "https://" + "/x" * 100
    with pytest.raises(ValueError) as exc:
        image_from(url, max_bytes=MB)
    assert repr(url[:80]) in str(exc.value) and repr(url[:81]) not in str(exc.value)
