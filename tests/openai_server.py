"""The real ``qwen-spaces api`` runner in a subprocess, pointed at the replica Spaces.

``ApiServer`` starts ``python -m qwen_spaces.cli api --port 0 …`` exactly as a user would
(aiohttp's own server through ``AppRunner``/``TCPSite``, not ``TestServer``, whose
``handler_cancellation=True`` would hide a leaked Space job), reads the address from its
first stdout line, and keeps every line it writes. It sets an API key
(``$QWEN_SPACES_API_KEY``) and a fake HF token (``$HF_TOKEN``) unless told otherwise.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Any

import openai

from qwen_spaces.replica import ReplicaSet

ROOT = Path(__file__).resolve().parents[1]
API_KEY = "sk-test-0c1d2e3f4a5b6c7d"
HF_TOKEN = "hf_fakeTokenForTheEndpointTests42"

#: SDK clients made by ``ApiServer.sdk``; ``close_clients()`` closes them (pooled sockets).
CLIENTS: list[openai.OpenAI] = []


def close_clients() -> None:
    while CLIENTS:
        CLIENTS.pop().close()


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
        CLIENTS.append(client)
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
