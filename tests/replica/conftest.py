"""A raw-protocol client for the replica tests: aiohttp straight from the wire protocol,
deliberately not the package's transport, which these replicas exist to test. The servers
and ``any_replicas`` come from the root conftest and ``qwen_spaces.replica.pytest_plugin``."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field
from typing import Any

import aiohttp
import pytest

from qwen_spaces.catalog import CATALOG, SpaceSpec
from qwen_spaces.replica.process import ReplicaSet


@dataclass
class Event:
    """Every frame the server sent for one event, in order."""

    event_id: str
    frames: list[dict[str, Any]] = field(default_factory=list)

    @property
    def completed(self) -> dict[str, Any]:
        return next(f for f in self.frames if f["msg"] == "process_completed")

    @property
    def msgs(self) -> list[str]:
        return [f["msg"] for f in self.frames]


@dataclass
class Wire:
    """Raw Gradio queue client for one replica (``/config`` → join → SSE)."""

    http: aiohttp.ClientSession
    base: str
    config: dict[str, Any]
    spec: SpaceSpec

    @property
    def prefix(self) -> str:
        return str(self.config.get("api_prefix") or "")

    @property
    def major(self) -> int:
        return int(self.config["version"].split(".")[0])

    def dependency(self) -> dict[str, Any]:
        return next(d for d in self.config["dependencies"]
                    if d.get("api_name") == self.spec.api_name)

    def history(self, pairs: list[tuple[str, str]], *, text_dict: bool = False) -> list[Any]:
        """Chat history in the server's format (6.x: messages with text parts); before 6.x
        ``text_dict`` sends each item as ``{"text": …, "files": []}`` like the Qwen2.5 Space."""
        if self.major < 6:
            return [[{"text": t, "files": []} if text_dict else t for t in p] for p in pairs]
        return [{"role": role, "content": [{"type": "text", "text": text}]}
                for pair in pairs for role, text in zip(("user", "assistant"), pair, strict=True)]

    def default_settings(self) -> dict[str, Any]:
        """Qwen3-Demo's settings form value as the Space starts with it."""
        spec = self.spec
        return {"model": spec.default_variant, "sys_prompt": spec.default_system,
                "thinking_budget": (spec.default_thinking_budget or 0) // spec.thinking_budget_unit}

    def data(self, query: str, history: list[Any] | None = None, system: str | None = None,
             variant: str | None = None, image: Any = None,
             settings: dict[str, Any] | None = None) -> list[Any]:
        """The listener's data; ``gr.State`` slots (``thinking``, ``session``) are null."""
        values = {"query": query, "history": history or [],
                  "system": system if system is not None else self.spec.default_system,
                  "variant": variant or self.spec.default_variant, "image": image,
                  "settings": settings if settings is not None else self.default_settings(),
                  "thinking": None, "session": None}
        return [values[role] for role in self.spec.inputs]

    async def join(self, data: list[Any], session_hash: str,
                   headers: dict[str, str] | None = None) -> aiohttp.ClientResponse:
        return await self.http.post(
            f"{self.base}{self.prefix}/queue/join", headers=headers,
            json={"data": data, "event_data": None, "fn_index": self.spec.fn_index,
                  "trigger_id": self.spec.trigger_id, "session_hash": session_hash})

    async def frames(self, session_hash: str) -> AsyncIterator[dict[str, Any]]:
        async with self.http.get(f"{self.base}{self.prefix}/queue/data",
                                 params={"session_hash": session_hash}) as resp:
            assert resp.status == 200, await resp.text()
            buffer = b""
            async for chunk in resp.content.iter_any():  # frames may exceed a line limit
                buffer += chunk
                *blocks, buffer = buffer.split(b"\n\n")
                for block in blocks:
                    if block.startswith(b"data:"):
                        yield json.loads(block[5:])

    async def run(self, data: list[Any], *, session_hash: str = "replica-test",
                  headers: dict[str, str] | None = None,
                  stop: Callable[[dict[str, Any]], bool] | None = None) -> Event:
        """Join and read the event's frames until it completes (or ``stop(frame)`` is true:
        then the stream is dropped, which is how a client cancels)."""
        async with await self.join(data, session_hash, headers) as resp:
            assert resp.status == 200, await resp.text()
            event = Event((await resp.json())["event_id"])
        async for frame in self.frames(session_hash):
            if frame.get("event_id") == event.event_id:
                event.frames.append(frame)
                if frame["msg"] == "process_completed" or (stop and stop(frame)):
                    break
        return event

    def reply(self, event: Event) -> str:
        """The answer text in a completed event."""
        value = event.completed["output"]["data"][self.spec.reply_output]
        if self.spec.reply_kind == "text":
            return str(value)
        if self.spec.reply_kind == "pro_chatbot":  # gr.update(value=[messages]); text parts
            bot = value["value"][-1]
            return "".join(p["content"] for p in bot["content"] if p["type"] == "text")
        last = value[-1]
        if isinstance(last, list):  # tuples; Qwen2.5's items are {"text": …, "files": []}
            bot = last[1]
            return str(bot["text"] if isinstance(bot, dict) else bot)
        return "".join(p.get("text", "") for p in last["content"])


@pytest.fixture
async def wire_for() -> AsyncIterator[Callable[..., Any]]:
    """``await wire_for(replica_set, name)`` → a :class:`Wire` (one aiohttp session per test)."""
    async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(sock_read=60)) as http:

        async def make(replica_set: ReplicaSet, name: str) -> Wire:
            base = replica_set.url(name)
            async with http.get(f"{base}/config") as resp:
                config = await resp.json()
            return Wire(http, base, config, CATALOG[name])

        yield make
