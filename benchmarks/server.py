"""A fast, protocol-exact Gradio 6.31 server for the benchmarks (run it as its own process).

It serves the captured 6.31 ``/config`` and ``/info`` of the test app (whose ``model_chat``
has the ``qwen-2-72b`` catalog layout) and answers every job with a synthetic reply of
``tokens`` tokens, as fast as the socket takes it:

* queue protocol: ``POST /gradio_api/queue/join`` -> event id; ``GET /gradio_api/queue/data``
  -> estimation, process_starts, one ``process_generating`` with the full value (first
  token), ``tokens - 1`` append diffs shaped exactly like the captured frames,
  ``process_completed`` with the full value, ``close_stream``. Jobs joined on one session
  share one stream, as in Gradio (``gradio_client`` relies on it).
* ``/call`` protocol, under the ``/call-mode`` prefix (whose config marks ``model_chat`` as
  not queued, so ``qwen_spaces`` takes the ``/call`` route): ``event: generating`` with the
  whole output value (``json.dumps`` style) per token, then ``event: complete``.

* a reasoning stream, under the ``/qwen3`` prefix: the ``qwen-3`` replica's ``/config``
  and frames (Qwen3-Demo's layout on the real modelscope_studio pro chatbot, recorded by
  :mod:`benchmarks.capture_qwen3` into ``benchmarks/data/qwen3/``), replayed with the
  thinking panel (a ``"tool"`` entry) grown by ``tokens // 2`` append diffs, then the answer
  (a ``"text"`` entry) by the rest; every other frame as recorded.

Frames are rendered once per (tokens, layout) with an event-id placeholder and written in
256 KiB slices. ``/_bench/*`` sets the workload and reports what the server saw (hits per
route, distinct client ports, its CPU time) and is itself left out of those counts.

Run: ``python -m benchmarks.server [--port N]``; it prints its URL on the first line.
"""

from __future__ import annotations

import argparse
import asyncio
import copy
import json
import time
import uuid
from collections import Counter, deque
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from aiohttp import web

from tests import captures

from .workloads import raise_fd_limit

VERSION = "6.31.0"
CALL_PREFIX = "/call-mode"
QWEN3_PREFIX = "/qwen3"
QWEN3_DATA = Path(__file__).resolve().parent / "data" / "qwen3"
EID = "%%EVENT_ID%%"
WRITE_SLICE = 256 * 1024
#: The synthetic reply cycles through these (mean 5.1 characters a token).
WORDS = (" The", " queue", " streams", " every", " token", " as", " a", " small", " diff,",
         " and", " the", " client", " keeps", " up", " with", " it.")

CONFIG: dict[str, Any] = json.loads(captures.body(VERSION, "config.json"))
INFO = captures.body(VERSION, "info.json")
FRAMES = [json.loads(line[6:]) for line in
          captures.sse_bytes(VERSION, "data_stream.txt").decode().splitlines()
          if line.startswith("data: ")]
CLOSE = b'data: {"msg":"close_stream","event_id":null}\n\n'
QWEN3_CONFIG: dict[str, Any] = json.loads((QWEN3_DATA / "config.json").read_text())
QWEN3_FRAMES = [json.loads(f[6:]) for f in
                (QWEN3_DATA / "data_stream.txt").read_text().split("\n\n") if f]


def token(i: int) -> str:
    return WORDS[i % len(WORDS)]


def reply_text(tokens: int) -> str:
    return "".join(token(i) for i in range(tokens))


def _frame(msg: dict[str, Any]) -> bytes:
    return b"data: " + json.dumps(msg, separators=(",", ":"), ensure_ascii=False).encode() \
        + b"\n\n"


def _chatbot(text: str, layout: str) -> Any:
    """The chatbot output value holding ``text`` as the answer (user turn "bench")."""
    if layout == "tuples":  # Gradio 4/5 tuples chatbot (what the g4f provider parses)
        return [["bench", text]]
    user, bot = copy.deepcopy(FRAMES[2]["output"]["data"][1])
    user["content"][0]["text"] = "bench"
    bot["content"][0]["text"] = text
    return [user, bot]


def _with(template: dict[str, Any], data: Any) -> dict[str, Any]:
    msg = copy.deepcopy(template)
    msg["event_id"] = EID
    msg["output"]["data"] = data
    return msg


def render_queue(tokens: int, layout: str) -> bytes:
    """The whole ``queue/data`` body of one job (no close_stream), event id as ``EID``."""
    estimation, starts, first, diff = (copy.deepcopy(f) for f in FRAMES[:4])
    estimation["event_id"] = starts["event_id"] = EID
    path = [0, 1] if layout == "tuples" else [1, "content", 0, "text"]
    out = [_frame(estimation), _frame(starts),
           _frame(_with(first, ["", _chatbot(token(0), layout), None]))]
    diffs = [_frame(_with(diff, [[], [["append", path, w]], []])) for w in WORDS]
    out += [diffs[i % len(WORDS)] for i in range(1, tokens)]
    out.append(_frame(_with(FRAMES[-2], ["", _chatbot(reply_text(tokens), layout), None])))
    return b"".join(out)


def render_qwen3(tokens: int) -> bytes:
    """The recorded ``qwen-3`` job with ``tokens // 2`` tokens of thinking, then the rest as
    the answer: the panel entry is added with the first thinking token and grown by append
    diffs, the answer entry likewise; the completed frame holds both texts in full."""
    frames = QWEN3_FRAMES[:-1]  # close_stream is written per session
    appends = [i for i, f in enumerate(frames) if [e[0] for e in _qwen3_ops(f)] == ["append"]]
    thought, answer = tokens // 2, tokens - tokens // 2
    adds = [i for i, f in enumerate(frames) if any(
        e[0] == "add" and isinstance(e[2], dict) and e[2].get("type") in ("tool", "text")
        for e in _qwen3_ops(f))]
    tool_at, text_at = adds  # the frames that open the panel and the answer
    think_diff, answer_diff = frames[tool_at + 1], frames[text_at + 1]
    last_append = max(appends)

    def opened(frame: dict[str, Any], text: str) -> dict[str, Any]:
        frame = copy.deepcopy(frame)
        for edit in _qwen3_ops(frame):
            if edit[0] == "add" and isinstance(edit[2], dict) and "type" in edit[2]:
                edit[2]["content"] = text
        return frame

    def grown(frame: dict[str, Any], count: int) -> list[bytes]:
        """Tokens 1 .. count-1 appended by copies of ``frame``."""
        rendered = []
        for w in WORDS:
            f = copy.deepcopy(frame)
            _qwen3_ops(f)[0][2] = w
            rendered.append(_frame(f))
        return [rendered[i % len(WORDS)] for i in range(1, count)]

    done = copy.deepcopy(frames[-1])
    entries = done["output"]["data"][5]["value"][-1]["content"]
    entries[0]["content"], entries[1]["content"] = reply_text(thought), reply_text(answer)
    out = [_frame(f) for f in frames[:tool_at]]
    out.append(_frame(opened(frames[tool_at], token(0))))
    out += grown(think_diff, thought)
    out.append(_frame(opened(frames[text_at], token(0))))
    out += grown(answer_diff, answer)
    out += [_frame(f) for f in frames[last_append + 1:-1]]
    out.append(_frame(done))
    return b"".join(out)


def _qwen3_ops(frame: dict[str, Any]) -> list[Any]:
    """The chatbot output's edits in a diff frame ([] for any other frame)."""
    data = frame.get("output", {}).get("data")
    if frame.get("msg") != "process_generating" or not isinstance(data, list) \
            or not isinstance(data[5], list):
        return []
    return data[5]


def qwen3_target() -> dict[str, Any]:
    """The raw reader's target for the reasoning stream: the model, the endpoint, and the
    join data the core sends (recorded with the frames)."""
    join = json.loads((QWEN3_DATA / "join.json").read_text())
    api_name = next(d["api_name"] for d in QWEN3_CONFIG["dependencies"]
                    if d["id"] == join["fn_index"])
    return {"model": "qwen-3", "api_name": api_name, "data": join["data"]}


def generating_frames(tokens: int, layout: str) -> int:
    """How many ``process_generating`` frames a job streams (what the raw reader counts)."""
    body = render_qwen3(tokens) if layout == "qwen3" else render_queue(tokens, layout)
    return body.count(b'"msg":"process_generating"')


def call_frames(tokens: int, layout: str) -> tuple[bytes, bytes, list[bytes]]:
    """(prefix, suffix, tokens) of the ``/call`` frames: frame k is prefix + the first k
    tokens + suffix. ``json.dumps`` style, as Gradio writes ``/call`` data."""
    value = json.dumps(["", _chatbot(EID, layout), None])
    head, tail = value.split(EID)
    return head.encode(), tail.encode() + b"\n\n", [token(i).encode() for i in range(tokens)]


@dataclass
class Job:
    event_id: str
    tokens: int
    layout: str


@dataclass
class Stats:
    routes: Counter[str] = field(default_factory=Counter)
    peers: set[tuple[str, int]] = field(default_factory=set)
    cpu0: float = field(default_factory=time.process_time)

    def as_dict(self) -> dict[str, Any]:
        return {"routes": dict(self.routes), "connections": len(self.peers),
                "cpu_s": time.process_time() - self.cpu0}


class BenchServer:
    def __init__(self) -> None:
        self.tokens = 1000
        self.layout = "parts"
        self.stats = Stats()
        self._rendered: dict[tuple[int, str], bytes] = {}
        self._sessions: dict[str, deque[Job]] = {}
        self._calls: dict[str, Job] = {}

    def app(self) -> web.Application:
        app = web.Application(middlewares=[self._count], client_max_size=64 * 1024 * 1024)
        for prefix in ("", CALL_PREFIX, QWEN3_PREFIX):
            app.router.add_get(f"{prefix}/config", self.config)
            app.router.add_get(f"{prefix}/gradio_api/info", self.info)
            app.router.add_post(f"{prefix}/gradio_api/queue/join", self.join)
            app.router.add_get(f"{prefix}/gradio_api/queue/data", self.data)
            app.router.add_post(f"{prefix}/gradio_api/call/{{api}}", self.call)
            app.router.add_get(f"{prefix}/gradio_api/call/{{api}}/{{eid}}", self.call_stream)
            app.router.add_post(f"{prefix}/gradio_api/cancel", self.cancel)
            app.router.add_get(f"{prefix}/gradio_api/heartbeat/{{session}}", self.heartbeat)
        app.router.add_post("/_bench/set", self.bench_set)
        app.router.add_get("/_bench/stats", self.bench_stats)
        app.router.add_post("/_bench/reset", self.bench_reset)
        return app

    @web.middleware
    async def _count(self, request: web.Request, handler: Any) -> web.StreamResponse:
        if not request.path.startswith("/_bench/"):
            route = request.match_info.route.resource
            self.stats.routes[route.canonical if route else request.path] += 1
            peer = request.transport.get_extra_info("peername") if request.transport else None
            if peer:
                self.stats.peers.add((peer[0], peer[1]))
        return await handler(request)  # type: ignore[no-any-return]

    # -- control --------------------------------------------------------------------------
    async def bench_set(self, request: web.Request) -> web.Response:
        body = await request.json()
        self.tokens = int(body.get("tokens", self.tokens))
        self.layout = str(body.get("layout", self.layout))
        return web.json_response({"tokens": self.tokens, "layout": self.layout})

    async def bench_stats(self, request: web.Request) -> web.Response:
        return web.json_response(self.stats.as_dict())

    async def bench_reset(self, request: web.Request) -> web.Response:
        self.stats = Stats()
        return web.json_response({"ok": True})

    # -- discovery ------------------------------------------------------------------------
    async def config(self, request: web.Request) -> web.Response:
        if request.path.startswith(QWEN3_PREFIX):
            return web.json_response(dict(QWEN3_CONFIG,
                                          root=f"http://{request.host}{QWEN3_PREFIX}"))
        prefix = CALL_PREFIX if request.path.startswith(CALL_PREFIX) else ""
        config = dict(CONFIG, root=f"http://{request.host}{prefix}")
        if prefix:
            config["dependencies"] = [dict(d, queue=False) for d in CONFIG["dependencies"]]
        return web.json_response(config)

    async def info(self, request: web.Request) -> web.Response:
        return web.Response(text=INFO, content_type="application/json")

    # -- queue protocol -------------------------------------------------------------------
    async def join(self, request: web.Request) -> web.Response:
        body = await request.json()
        layout = "qwen3" if request.path.startswith(QWEN3_PREFIX) else self.layout
        job = Job(uuid.uuid4().hex, self.tokens, layout)
        self._sessions.setdefault(str(body.get("session_hash")), deque()).append(job)
        return web.json_response({"event_id": job.event_id})

    async def data(self, request: web.Request) -> web.StreamResponse:
        jobs = self._sessions.get(request.query.get("session_hash", ""))
        resp = web.StreamResponse(headers={"Content-Type": "text/event-stream; charset=utf-8"})
        await resp.prepare(request)
        if not jobs:
            await resp.write(_frame({"msg": "unexpected_error", "event_id": None,
                                     "message": "404: Not Found", "session_not_found": True,
                                     "success": False}))
            return resp
        while jobs:  # jobs joined meanwhile on this session stream here too, like Gradio
            job = jobs.popleft()
            key = (job.tokens, job.layout)
            if key not in self._rendered:
                self._rendered[key] = render_qwen3(job.tokens) if job.layout == "qwen3" \
                    else render_queue(job.tokens, job.layout)
            await _write_all(resp, self._rendered[key].replace(EID.encode(),
                                                               job.event_id.encode()))
        self._sessions.pop(request.query["session_hash"], None)
        await resp.write(CLOSE)
        await resp.write_eof()
        return resp

    async def cancel(self, request: web.Request) -> web.Response:
        return web.json_response({"success": True})

    async def heartbeat(self, request: web.Request) -> web.StreamResponse:
        resp = web.StreamResponse(headers={"Content-Type": "text/event-stream; charset=utf-8"})
        await resp.prepare(request)
        for _ in range(40):  # gradio_client holds this open for its session's lifetime
            await resp.write(b'data: {"msg":"heartbeat","event_id":null}\n\n')
            await asyncio.sleep(15)
        return resp

    # -- /call protocol -------------------------------------------------------------------
    async def call(self, request: web.Request) -> web.Response:
        await request.read()
        job = Job(uuid.uuid4().hex, self.tokens, self.layout)
        self._calls[job.event_id] = job
        return web.json_response({"event_id": job.event_id})

    async def call_stream(self, request: web.Request) -> web.StreamResponse:
        resp = web.StreamResponse(headers={"Content-Type": "text/event-stream; charset=utf-8"})
        await resp.prepare(request)
        job = self._calls.pop(request.match_info["eid"], None)
        if job is None:
            await resp.write(b'event: error\ndata: "404: Not Found"\n\n')
            return resp
        head, tail, pieces = call_frames(job.tokens, job.layout)
        text = bytearray()
        batch = bytearray()
        for piece in pieces:  # one full value per token, then the last one again
            text += piece
            batch += b"event: generating\ndata: " + head + text + tail
            if len(batch) >= WRITE_SLICE:
                await resp.write(bytes(batch))
                batch.clear()
        await resp.write(bytes(batch + b"event: complete\ndata: " + head + text + tail))
        await resp.write_eof()
        return resp


async def _write_all(resp: web.StreamResponse, body: bytes) -> None:
    view = memoryview(body)
    for start in range(0, len(view), WRITE_SLICE):
        await resp.write(view[start:start + WRITE_SLICE])


async def serve(port: int) -> None:
    raise_fd_limit()
    runner = web.AppRunner(BenchServer().app(), access_log=None, handler_cancellation=True)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", port, backlog=4096)
    await site.start()
    bound = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
    print(f"http://127.0.0.1:{bound}", flush=True)
    await asyncio.Event().wait()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--port", type=int, default=0)
    asyncio.run(serve(parser.parse_args().port))


if __name__ == "__main__":
    main()
