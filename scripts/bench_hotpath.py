"""CPU per token of the transport's decode path alone, against the raw reader's, no sockets.

The benchmark server's exact bytes (``benchmarks.server``: the 20k-token queue stream, the
4k-token ``/call`` stream) are cut into 64 KiB chunks and fed to ``SpaceClient._read`` (the
whole read loop: SSE decoding, the protocol, the events) and to the raw reader's loop
(split on blank lines, ``orjson.loads`` of every frame). ``time.process_time()``, median of
the repeats; on a shared machine compare the two figures of one run, not runs.

    python scripts/bench_hotpath.py            # both streams
    python scripts/bench_hotpath.py queue      # or: call
    python scripts/bench_hotpath.py profile    # cProfile of the queue stream (profile-call)

``python -m benchmarks`` measures the same with the network; this isolates the part of it
that the client's code decides.
"""

from __future__ import annotations

import asyncio
import cProfile
import dataclasses
import pstats
import statistics
import sys
import time
from collections.abc import Callable, Coroutine
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import orjson

from benchmarks import server
from qwen_spaces import SpaceClient, TextDelta
from qwen_spaces.catalog import CATALOG
from qwen_spaces.discovery import SpaceAPI, parse_config
from qwen_spaces.protocol import JobProtocol
from tests import captures
from tests.util import FakeResponse

CHUNK = 1 << 16
EVENT_ID = "0123456789abcdef0123456789abcdef"
Reader = Callable[[list[bytes], bool], Coroutine[Any, Any, int]]


def api(call: bool) -> SpaceAPI:
    found = parse_config(CATALOG["qwen-2-72b"], "http://127.0.0.1:9", captures.config("6.31.0"))
    return dataclasses.replace(found, use_queue=not call)


def queue_body(tokens: int) -> bytes:
    return server.render_queue(tokens, "parts").replace(server.EID.encode(),
                                                        EVENT_ID.encode()) + server.CLOSE


def call_body(tokens: int) -> bytes:
    head, tail, pieces = server.call_frames(tokens, "parts")
    out, text = bytearray(), bytearray()
    for piece in pieces:
        text += piece
        out += b"event: generating\ndata: " + head + text + tail
    return bytes(out + b"event: complete\ndata: " + head + text + tail)


async def transport(chunks: list[bytes], call: bool) -> int:
    client = SpaceClient(base_urls={"qwen-2-72b": "http://127.0.0.1:9"}, read_env_token=False)
    endpoint = api(call)
    proto = JobProtocol(endpoint, model="qwen-2-72b")
    proto.event_id = EVENT_ID
    chars = 0
    async for event in client._read(FakeResponse(chunks), proto, endpoint):  # type: ignore[arg-type]
        if type(event) is TextDelta:
            chars += len(event.text)
    return chars


async def raw(chunks: list[bytes], call: bool) -> int:
    """``benchmarks.contenders.RawLimit``'s loop."""
    buf, frames = b"", 0
    async for chunk in FakeResponse(chunks).iter_any():
        *parts, buf = (buf + chunk).split(b"\n\n")
        for frame in parts:
            if not frame:
                continue
            if call:
                event, _, data = frame.partition(b"\ndata: ")
                orjson.loads(data)
                frames += event == b"event: generating"
            elif orjson.loads(frame[6:])["msg"] == "process_generating":
                frames += 1
    return frames


def per_token(read: Reader, chunks: list[bytes], call: bool, tokens: int, repeats: int) -> float:
    times = []
    for _ in range(repeats):
        start = time.process_time()
        asyncio.run(read(chunks, call))
        times.append(time.process_time() - start)
    return statistics.median(times) / tokens * 1e6


def main(what: str) -> None:
    for name, call, tokens, repeats in (("queue", False, 20_000, 7), ("call", True, 4_000, 3)):
        if what not in ("both", name, f"profile-{name}", "profile" if name == "queue" else ""):
            continue
        body = call_body(tokens) if call else queue_body(tokens)
        chunks = [body[i:i + CHUNK] for i in range(0, len(body), CHUNK)]
        assert asyncio.run(transport(chunks, call)) == len(server.reply_text(tokens))
        if what.startswith("profile"):
            profile = cProfile.Profile()
            profile.runcall(asyncio.run, transport(chunks, call))
            pstats.Stats(profile).sort_stats("tottime").print_stats(12)
            continue
        limit = per_token(raw, chunks, call, tokens, repeats)
        ours = per_token(transport, chunks, call, tokens, repeats)
        print(f"{name:5} {tokens:>6} tokens: raw reader {limit:6.2f} us/token, transport "
              f"{ours:6.2f} us/token, transport/raw CPU {ours / limit:.2f} "
              f"(throughput x{limit / ours:.2f})")


if __name__ == "__main__":
    main(sys.argv[1] if len(sys.argv) > 1 else "both")
