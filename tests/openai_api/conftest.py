"""Fixtures for the endpoint tests: ``api``, one real ``qwen-spaces api`` runner per test
module (see :class:`tests.openai_server.ApiServer`) on the session's replicas, with an API key,
a fake HF token and one CORS origin; tests that need other flags start their own. Helpers
read raw streams."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import httpx
import pytest

from qwen_spaces.replica import ReplicaSet
from tests.openai_server import API_KEY, HF_TOKEN, ROOT, ApiServer, close_clients

__all__ = ["API_KEY", "CORS_ORIGIN", "HF_TOKEN", "IMAGES", "ROOT", "ApiServer"]

CORS_ORIGIN = "https://ui.example"
IMAGES = ROOT / "tests" / "data" / "images"


@pytest.fixture(autouse=True)
def _close_sdk_clients() -> Iterator[None]:
    yield
    close_clients()


@pytest.fixture(scope="module")
def api(replicas: ReplicaSet) -> Iterator[ApiServer]:
    """One endpoint per test module, on the session's replicas."""
    with ApiServer(replicas, "--cors", CORS_ORIGIN) as server:
        yield server


def post_raw(server: ApiServer, body: dict[str, Any], *, timeout: float = 30.0,
             headers: dict[str, str] | None = None) -> httpx.Response:
    """A chat completion's raw response, read to the end."""
    return httpx.post(f"{server.base_url}/chat/completions", json=body, timeout=timeout,
                      headers={**server.headers(), **(headers or {})})


def sse_events(raw: bytes) -> list[bytes]:
    """The SSE events of a body: each block between blank lines, as it came."""
    assert raw.endswith(b"\n\n"), raw[-200:]
    return raw[:-2].split(b"\n\n")


def data_of(events: list[bytes]) -> list[Any]:
    """The JSON of each ``data:`` event (``[DONE]`` as the string)."""
    out: list[Any] = []
    for event in events:
        if event.startswith(b"data: "):
            payload = event[len(b"data: "):]
            out.append("[DONE]" if payload == b"[DONE]" else json.loads(payload))
    return out


def text_of(chunks: list[Any]) -> str:
    return "".join(c["choices"][0]["delta"].get("content") or "" for c in chunks
                   if isinstance(c, dict) and c.get("choices"))


def image_uri(name: str = "png_3x2.png") -> str:
    import base64

    data = (IMAGES / name).read_bytes()
    mime = {"png": "image/png", "jpg": "image/jpeg", "gif": "image/gif"}[name.rsplit(".")[-1]]
    return f"data:{mime};base64,{base64.b64encode(data).decode()}"


def fields(reply: str) -> dict[str, str]:
    """The fake model's ``key: value`` lines (see docs/replica.md)."""
    return dict(line.split(": ", 1) for line in reply.splitlines()[1:] if ": " in line)
