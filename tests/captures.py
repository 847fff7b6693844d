"""Real bytes captured from Gradio 4.44.1 / 5.49.1 / 6.31.0 servers (see ../shared/protocol).

Captures were saved in a few textual forms (with HTTP headers, with a timestamp per line,
with or without the blank line between frames); ``sse_bytes`` rebuilds the exact SSE body.
"""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent / "data" / "captures"
_STAMP = re.compile(r"^\d+[.:]\d+ ?")


def path(version: str, name: str) -> Path:
    p = ROOT / f"gradio-{version}" / name
    assert p.is_file(), f"capture {p} is missing"
    return p


def body(version: str, name: str) -> str:
    text = path(version, name).read_text()
    if text.startswith("HTTP/1.1"):
        text = text.split("\n\n", 1)[1] if "\n\n" in text else text.split("\r\n\r\n", 1)[1]
    return text


def sse_bytes(version: str, name: str) -> bytes:
    """The SSE body, one ``field: value`` line per line and a blank line after each frame."""
    out: list[str] = []
    for raw in body(version, name).splitlines():
        line = _STAMP.sub("", raw) if _STAMP.match(raw) else raw
        if line.startswith("event:"):
            out.append(line)
        elif line.startswith("data:"):
            out.append(line)
            out.append("")
    return ("\n".join(out) + "\n").encode()


def queue_messages(version: str, name: str) -> list[dict[str, Any]]:
    from qwen_spaces.sse import SSEDecoder

    return [json.loads(e.data) for e in SSEDecoder().feed(sse_bytes(version, name))]


def interleave(a: list[dict[str, Any]], b: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Two jobs' frames on one session stream, alternating (as multi_stream.txt shows)."""
    a = [m for m in a if m["msg"] != "close_stream"]
    b = [m for m in b if m["msg"] != "close_stream"]
    out: list[dict[str, Any]] = []
    for i in range(max(len(a), len(b))):
        out += a[i:i + 1] + b[i:i + 1]
    return [*out, {"msg": "close_stream", "event_id": None}]  # once, after the last job


def config(version: str) -> dict[str, Any]:
    return json.loads(body(version, "config.json"))
