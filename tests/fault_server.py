"""A Gradio server that misbehaves on cue, for faults a real Gradio cannot be made to produce.

It speaks the protocol byte for byte as the 6.31 captures show. ``/config`` is the captured
config; ``model_chat`` has the layout the ``qwen-2-72b`` catalog entry expects. Each join
takes the next :class:`Plan` from the script (the last one repeats). A plan says how the
join answers and what the ``queue/data`` stream then sends. The default stream is the
captured chat stream, with the join's event id substituted in.
"""

from __future__ import annotations

import asyncio
import copy
import json
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from aiohttp import web

from tests import captures
from tests.servers import serve

CONFIG = captures.body("6.31.0", "config.json")
CHAT_FRAMES = [json.loads(line[6:]) for line in
               captures.sse_bytes("6.31.0", "data_stream.txt").decode().splitlines()
               if line.startswith("data: ")]
CAPTURED_EVENT_ID = CHAT_FRAMES[0]["event_id"]
CHAT_TEXT = CHAT_FRAMES[-2]["output"]["data"][1][1]["content"][0]["text"]
HEARTBEAT: dict[str, Any] = {"msg": "heartbeat", "event_id": None}
CLOSE: dict[str, Any] = {"msg": "close_stream", "event_id": None}

# A step in a stream: a frame (dict), raw bytes, a pause, or a connection reset.
Step = dict[str, Any] | bytes | float | str
RESET = "reset"


def frame(msg: dict[str, Any]) -> bytes:
    return b"data: " + json.dumps(msg, separators=(",", ":")).encode() + b"\n\n"


@dataclass
class Plan:
    join_status: int = 200
    join_body: str | None = None          # None: {"event_id": ...}
    join_content_type: str = "application/json"
    join_reset: bool = False              # drop the connection instead of answering
    join_delay: float = 0.0               # seconds before the join answers (it is queued)
    stream: list[Step] | None = None      # None: the captured chat stream
    data_reset_first: bool = False        # drop the data connection at once


@dataclass
class FaultServer:
    script: list[Plan] = field(default_factory=lambda: [Plan()])
    config_status: int = 200
    config_body: str = CONFIG
    config_type: str = "application/json"
    joins: int = 0
    cancels: list[dict[str, Any]] = field(default_factory=list)
    data_requests: int = 0
    disconnected: list[str] = field(default_factory=list)  # event ids whose stream we lost
    url: str = ""
    ssl_context: Any = None               # an ssl.SSLContext: serve https
    _runner: web.AppRunner | None = None
    _plans: dict[str, Plan] = field(default_factory=dict)

    async def __aenter__(self) -> FaultServer:
        app = web.Application()
        app.router.add_get("/config", self._config)
        app.router.add_post("/gradio_api/queue/join", self._join)
        app.router.add_get("/gradio_api/queue/data", self._data)
        app.router.add_post("/gradio_api/cancel", self._cancel)
        self._runner, self.url = await serve(app, self.ssl_context, handler_cancellation=True)
        return self

    async def __aexit__(self, *exc: Any) -> None:
        assert self._runner is not None
        await self._runner.cleanup()

    async def _config(self, request: web.Request) -> web.StreamResponse:
        return web.Response(status=self.config_status, text=self.config_body,
                            content_type=self.config_type)

    async def _join(self, request: web.Request) -> web.StreamResponse:
        plan = self.script[min(self.joins, len(self.script) - 1)]
        self.joins += 1
        body = await request.json()
        if plan.join_reset:
            _reset(request)
            return web.Response()
        event_id = f"ev{self.joins:04d}"
        self._plans[body["session_hash"]] = plan
        if plan.join_delay:
            await asyncio.sleep(plan.join_delay)
        text = plan.join_body if plan.join_body is not None else json.dumps(
            {"event_id": event_id})
        self._plans[body["session_hash"] + "/id"] = event_id  # type: ignore[assignment]
        return web.Response(status=plan.join_status, text=text,
                            content_type=plan.join_content_type)

    async def _data(self, request: web.Request) -> web.StreamResponse:
        self.data_requests += 1
        session = request.query.get("session_hash", "")
        plan = self._plans.get(session, Plan())
        event_id: str = self._plans.get(session + "/id", "none")  # type: ignore[assignment]
        if plan.data_reset_first:
            _reset(request)
            return web.Response()
        resp = web.StreamResponse(headers={"Content-Type": "text/event-stream; charset=utf-8"})
        await resp.prepare(request)
        steps = plan.stream if plan.stream is not None else [*chat_stream(), CLOSE]
        try:
            for step in steps:
                if step == RESET:
                    _reset(request)
                    return resp
                if isinstance(step, (int, float)):
                    await asyncio.sleep(step)
                elif isinstance(step, bytes):
                    await resp.write(step)
                elif callable(step):
                    await resp.write(step(event_id))
                else:
                    msg = dict(step)
                    if msg.get("event_id") == CAPTURED_EVENT_ID:
                        msg["event_id"] = event_id
                    await resp.write(frame(msg))
            await resp.write_eof()
        except (ConnectionResetError, asyncio.CancelledError):
            self.disconnected.append(event_id)
            raise
        return resp

    async def _cancel(self, request: web.Request) -> web.StreamResponse:
        self.cancels.append(await request.json())
        return web.json_response({"success": True})


def _reset(request: web.Request) -> None:
    transport = request.transport
    assert transport is not None
    transport.abort()  # RST-like: the client sees the connection die


def chat_stream() -> list[Step]:
    """The captured 6.31 chat stream without its close_stream."""
    return [f for f in CHAT_FRAMES if f["msg"] != "close_stream"]


def generating_until_text() -> list[Step]:
    """The captured stream up to and including the first frame that carries answer text."""
    out: list[Step] = []
    for f in CHAT_FRAMES:
        out.append(f)
        if f["msg"] == "process_generating":
            break
    return out


def with_id(make: Callable[[str], dict[str, Any]]) -> Callable[[str], bytes]:
    """A step whose frame needs the live event id."""
    return lambda event_id: frame(make(event_id))


def big_reply_stream(size: int, piece: int = 10240) -> list[Step]:
    """A ``size``-byte answer as ``size // piece`` append diffs, then the full final value."""
    first = next(f for f in CHAT_FRAMES if f["msg"] == "process_generating")
    head = copy.deepcopy(first)
    head["output"]["data"][1][1]["content"][0]["text"] = ""
    token = copy.deepcopy(first)
    token["output"]["data"] = [[], [["append", [1, "content", 0, "text"], "y" * piece]], []]
    done = copy.deepcopy(CHAT_FRAMES[-2])
    done["output"]["data"][1][1]["content"][0]["text"] = "y" * (size - size % piece)
    starts = [f for f in CHAT_FRAMES if f["msg"] in ("estimation", "process_starts")]
    return [*starts, head, *[token] * (size // piece), done, CLOSE]


async def _serve_forever(script: list[Plan]) -> None:
    async with FaultServer(script=script) as server:
        print(server.url, flush=True)  # the parent process reads the URL
        await asyncio.Event().wait()


if __name__ == "__main__":
    # ``python -m tests.fault_server big N``: serve an N-byte reply from another process, so
    # that a memory measurement in the test process sees only the client.
    import sys

    asyncio.run(_serve_forever([Plan(stream=big_reply_stream(int(sys.argv[2])))]))
