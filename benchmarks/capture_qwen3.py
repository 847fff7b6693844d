"""Record what the reasoning rows replay: the ``qwen-3`` replica's ``/config``, the join the
core sends, and one job's event stream (``benchmarks/data/qwen3/``).

The replica is the Qwen3-Demo layout on the real modelscope_studio pro chatbot under the
installed Gradio, so these are Gradio's own frames: a ``gr.update`` chatbot value, the
thinking panel as a ``"tool"`` entry grown by append diffs, then a ``"text"`` entry for the
answer. ``benchmarks/server.py`` serves them under ``/qwen3`` with the texts made longer.

``python -m benchmarks.capture_qwen3`` (needs gradio and modelscope_studio; ~15 s).
"""

from __future__ import annotations

import asyncio
import json
from pathlib import Path
from typing import Any

import aiohttp
from aiohttp import web

from qwen_spaces import SpaceClient
from qwen_spaces.replica import ReplicaSet

DATA = Path(__file__).resolve().parent / "data" / "qwen3"
EID = "%%EVENT_ID%%"


async def _record(target: str) -> list[dict[str, Any]]:
    """Run one ``astream`` of the core through a logging reverse proxy to ``target``."""
    log: list[dict[str, Any]] = []
    async with aiohttp.ClientSession() as upstream:

        async def relay(request: web.Request) -> web.Response:
            body = await request.read()
            headers = {k: v for k, v in request.headers.items()
                       if k.lower() not in ("host", "content-length")}
            async with upstream.request(request.method, target + request.path_qs,
                                        data=body or None, headers=headers) as resp:
                data = await resp.read()
                ctype = resp.headers.get("Content-Type", "")
            log.append({"method": request.method, "path": request.path, "request": body,
                        "status": resp.status, "body": data})
            return web.Response(body=data, status=resp.status, headers={"Content-Type": ctype})

        app = web.Application()
        app.router.add_route("*", "/{tail:.*}", relay)
        runner = web.AppRunner(app, access_log=None)
        await runner.setup()
        site = web.TCPSite(runner, "127.0.0.1", 0)
        await site.start()
        port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
        try:
            client = SpaceClient(base_urls={"qwen-3": f"http://127.0.0.1:{port}"},
                                 read_env_token=False)
            async for _ in client.astream("qwen-3", [{"role": "user", "content": "bench"}]):
                pass
        finally:
            await runner.cleanup()
    return log


def main() -> None:
    with ReplicaSet(["qwen-3"], token_delay=0) as replicas:
        log = asyncio.run(_record(replicas.url("qwen-3").rstrip("/")))
    routes = [(x["method"], x["path"]) for x in log]
    expected = [("GET", "/config"), ("POST", "/gradio_api/queue/join"),
                ("GET", "/gradio_api/queue/data")]
    if routes != expected:
        raise SystemExit(f"unexpected requests {routes}: update benchmarks/server.py too")
    config, join, stream = log
    event_id = json.loads(join["body"])["event_id"]
    body = json.loads(join["request"])
    body["session_hash"] = None
    DATA.mkdir(parents=True, exist_ok=True)
    (DATA / "config.json").write_bytes(config["body"])
    (DATA / "join.json").write_text(json.dumps(body, indent=1) + "\n")
    (DATA / "data_stream.txt").write_bytes(stream["body"].replace(event_id.encode(),
                                                                 EID.encode()))
    frames = stream["body"].count(b"\n\n")
    print(f"wrote {DATA}: {frames} frames")


if __name__ == "__main__":
    main()
