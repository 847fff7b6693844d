"""The real ``qwen-spaces api`` runner in a subprocess, pointed at the replica Spaces.

``ApiServer`` starts ``python -m qwen_spaces.cli api --port 0 …`` exactly as a user would
(aiohttp's own server through ``AppRunner``/``TCPSite``, not ``TestServer``, whose
``handler_cancellation=True`` would hide a leaked Space job), reads the address from its
first stdout line, and keeps every log line it writes. The module fixture ``api`` is one
such server per test module, with an API key (from ``$QWEN_SPACES_API_KEY``), a fake HF
token (``$HF_TOKEN``) and one CORS origin; tests that need other flags start their own.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import openai
import pytest

from qwen_spaces.replica import ReplicaSet

ROOT = Path(__file__).resolve().parents[2]
API_KEY = "sk-test-0c1d2e3f4a5b6c7d"
HF_TOKEN = "hf_fakeTokenForTheEndpointTests42"
CORS_ORIGIN = "https://ui.example"
IMAGES = ROOT / "tests" / "data" / "images"

#: SDK clients a test made; closed when it ends (their pooled sockets would leak).
_CLIENTS: list[openai.OpenAI] = []


@pytest.fixture(autouse=True)
def _close_sdk_clients() -> Iterator[None]:
    yield
    while _CLIENTS:
        _CLIENTS.pop().close()


class ApiServer:
    """``qwen-spaces api`` in a subprocess; ``stop()`` sends SIGTERM and waits."""

    def __init__(self, replicas: ReplicaSet | None, *args: str, api_key: str | None = API_KEY,
                 env: dict[str, str] | None = None) -> None:
        self.args = ["--port", "0", *args]
        self.api_key = api_key
        base = {k: v for k, v in os.environ.items()
                if k not in ("QWEN_SPACES_API_KEY", "HF_TOKEN", "QWEN_SPACES_BASE_URLS")}
        base.update({"HF_TOKEN": HF_TOKEN, "NO_PROXY": "127.0.0.1,localhost",
                     "no_proxy": "127.0.0.1,localhost",
                     "PYTHONPATH": os.pathsep.join(filter(None, (
                         str(ROOT), os.environ.get("PYTHONPATH", ""))))})
        if replicas is not None:
            base["QWEN_SPACES_BASE_URLS"] = ",".join(
                f"{m}={replicas.url(m)}" for m in replicas.models)
        if api_key is not None:
            base["QWEN_SPACES_API_KEY"] = api_key
        base.update(env or {})
        self.env = base
        self.lines: list[str] = []          # everything the server wrote, stdout and stderr
        self.base_url = ""
        self.proc: subprocess.Popen[str] | None = None
        self._readers: list[threading.Thread] = []

    def start(self) -> ApiServer:
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "qwen_spaces.cli", "api", *self.args],
            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=self.env,
            cwd=ROOT)
        ready = threading.Event()

        def read(stream: Any) -> None:
            for line in stream:
                self.lines.append(line.rstrip("\n"))
                if line.startswith("serving http://"):
                    self.base_url = line.split()[1]
                    ready.set()

        for stream in (self.proc.stdout, self.proc.stderr):
            thread = threading.Thread(target=read, args=(stream,), daemon=True)
            thread.start()
            self._readers.append(thread)
        deadline = time.monotonic() + 30
        while not ready.wait(0.05):
            if self.proc.poll() is not None or time.monotonic() > deadline:
                self.stop()
                raise RuntimeError("qwen-spaces api did not start:\n" + self.log)
        return self

    def stop(self, timeout: float = 15.0) -> int | None:
        proc, self.proc = self.proc, None
        if proc is None:
            return None
        if proc.poll() is None:
            proc.send_signal(signal.SIGTERM)
        try:
            code = proc.wait(timeout)
        except subprocess.TimeoutExpired:
            proc.kill()
            code = proc.wait()
        for thread in self._readers:
            thread.join(5)
        for stream in (proc.stdout, proc.stderr):
            if stream is not None:
                stream.close()
        return code

    def __enter__(self) -> ApiServer:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    @property
    def log(self) -> str:
        return "\n".join(self.lines)

    @property
    def root(self) -> str:
        return self.base_url.removesuffix("/v1")

    def headers(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.api_key}"} if self.api_key else {}

    def sdk(self, **kw: Any) -> openai.OpenAI:
        """The official client, validating every answer's shape strictly."""
        kw.setdefault("api_key", self.api_key or "none")
        client = openai.OpenAI(base_url=self.base_url, _strict_response_validation=True, **kw)
        _CLIENTS.append(client)
        return client

    def async_sdk(self, **kw: Any) -> openai.AsyncOpenAI:
        """The async client: use it in ``async with`` (it closes there)."""
        kw.setdefault("api_key", self.api_key or "none")
        return openai.AsyncOpenAI(base_url=self.base_url, _strict_response_validation=True,
                                  **kw)

    def wait_for_log(self, needle: str, timeout: float = 5.0) -> str:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            for line in list(self.lines):
                if needle in line:
                    return line
            time.sleep(0.02)
        raise AssertionError(f"no log line with {needle!r}:\n{self.log}")


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
