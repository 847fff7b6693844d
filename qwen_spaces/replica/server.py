"""Serve replica apps from this process: one Gradio import, one port per app.

This is the subprocess side of :class:`~qwen_spaces.replica.process.ReplicaSet`; it prints
``READY <name> <url>`` per app once that app answers, then runs until SIGTERM/SIGINT.

Options (``python -m qwen_spaces.replica --help``): ``--models``, ``--ports``,
``--token-delay``, ``--max-size``, ``--concurrency``, ``--state-ttl`` (session Spaces' state
lifetime) and ``--quota-for SECONDS`` (every answer fails with the ZeroGPU quota error, naming
the time left, until SECONDS after the last app is up).
"""

import argparse
import os
import signal
import socket
import sys
import threading
from collections.abc import Sequence
from typing import Any

for _key, _value in {"GRADIO_ANALYTICS_ENABLED": "False", "HF_HUB_OFFLINE": "1",
                     "NO_PROXY": "127.0.0.1,localhost", "no_proxy": "127.0.0.1,localhost"
                     }.items():
    os.environ.setdefault(_key, _value)  # no traffic beyond 127.0.0.1, set before gradio loads

import gradio as gr  # noqa: E402
from fastapi.responses import JSONResponse  # noqa: E402 - ships with gradio

from qwen_spaces.catalog import CATALOG, SpaceSpec  # noqa: E402

from .app import LaunchOptions, build_app  # noqa: E402
from .compat import api_prefix, supports_ssr  # noqa: E402
from .responder import QuotaWindow  # noqa: E402
from .stats import ReplicaStats  # noqa: E402

__all__ = ["HOST", "free_port", "launch_replica", "main"]

HOST = "127.0.0.1"
_CALL_REFUSED = ("This API endpoint does not accept direct HTTP POST requests. "
                 "Please join the queue to use this API.")


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind((HOST, 0))
        return int(sock.getsockname()[1])


def _refuse_call() -> JSONResponse:
    return JSONResponse({"detail": _CALL_REFUSED}, status_code=404)


def _add_routes(demo: gr.Blocks, spec: SpaceSpec, stats: ReplicaStats) -> None:
    """Plain FastAPI routes next to the Gradio app (no dependency ids are consumed).

    A Space with ``api_open=False`` also refuses ``/call``: Gradio itself only closes
    ``/run`` and ``/api`` for it (4.44.1 and 6.x alike), so the replica closes ``/call``.
    """
    app: Any = demo.server_app
    before = len(app.router.routes)
    app.add_api_route("/replica/stats", stats.snapshot, methods=["GET"])
    if not spec.api_open:
        app.add_api_route(f"{api_prefix()}/call/{{rest:path}}", _refuse_call, methods=["POST"])
    added = app.router.routes[before:]
    del app.router.routes[before:]
    app.router.routes[0:0] = added  # ahead of Gradio's catch-all routes


def launch_replica(spec: SpaceSpec, port: int | None, options: LaunchOptions,
                   ) -> tuple[gr.Blocks, str]:
    """Build and start one replica on 127.0.0.1; returns the app and its base URL."""
    stats = ReplicaStats()
    demo = build_app(spec, options, stats)
    kwargs: dict[str, Any] = {"server_name": HOST, "show_error": False,
                              "prevent_thread_lock": True, "quiet": True}
    if supports_ssr():
        kwargs["ssr_mode"] = False
    for attempt in range(5):
        chosen = port or free_port()
        try:
            demo.launch(server_port=chosen, **kwargs)
            break
        except OSError:
            if port or attempt == 4:
                raise
    _add_routes(demo, spec, stats)
    return demo, f"http://{HOST}:{chosen}"


def _parse(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m qwen_spaces.replica",
                                     description="Serve local replicas of the catalog Spaces.")
    parser.add_argument("--models", default=",".join(CATALOG),
                        help="comma-separated catalog names (default: all)")
    parser.add_argument("--ports", default="", help="comma-separated ports, 0 = any free")
    parser.add_argument("--token-delay", type=float, default=LaunchOptions.token_delay)
    parser.add_argument("--max-size", type=int, default=None, help="queue max_size")
    parser.add_argument("--concurrency", type=int, default=LaunchOptions.concurrency_limit,
                        help="endpoint concurrency_limit")
    parser.add_argument("--state-ttl", type=float, default=None,
                        help="seconds a session's gr.State lives after its last write "
                             "(session Spaces: Qwen3-Demo; default: no limit)")
    parser.add_argument("--quota-for", type=float, default=None, metavar="SECONDS",
                        help="every answer fails with the ZeroGPU quota error, naming the "
                             "time left, until SECONDS after the replicas are up")
    parser.add_argument("--exit-with-parent", action="store_true",
                        help="exit when standard input closes (the parent holds it open)")
    return parser.parse_args(argv)


def main(argv: Sequence[str] | None = None) -> int:
    args = _parse(argv)
    names = [n for n in args.models.split(",") if n]
    ports = [int(p) for p in args.ports.split(",") if p] or [0] * len(names)
    if len(ports) != len(names):
        raise SystemExit("--ports needs one entry per model")
    unknown = [n for n in names if n not in CATALOG]
    if unknown:
        raise SystemExit(f"unknown models {unknown}; known: {', '.join(CATALOG)}")
    if args.quota_for is not None and args.quota_for < 0:
        raise SystemExit("--quota-for must be >= 0")
    quota = QuotaWindow(args.quota_for) if args.quota_for else None
    options = LaunchOptions(args.token_delay, args.max_size, args.concurrency, args.state_ttl,
                            quota_window=quota)
    stop = threading.Event()
    for sig in (signal.SIGTERM, signal.SIGINT):
        signal.signal(sig, lambda *_: stop.set())
    if args.exit_with_parent:
        def watch_parent() -> None:
            sys.stdin.buffer.read()  # returns at EOF: the parent closed the pipe or died
            stop.set()

        threading.Thread(target=watch_parent, name="parent-watch", daemon=True).start()
    demos = []
    for name, port in zip(names, ports, strict=True):
        demo, url = launch_replica(CATALOG[name], port or None, options)
        demos.append(demo)
        sys.stdout.write(f"READY {name} {url}\n")
        sys.stdout.flush()
    if quota is not None:
        quota.start()  # "after launch": the window runs from when every replica is up
    while not stop.wait(0.5):
        pass
    # demo.close() can wait for running generators; give it a moment, then leave regardless.
    def close_all() -> None:
        for demo in demos:
            demo.close()

    closer = threading.Thread(target=close_all, daemon=True)
    closer.start()
    closer.join(2.0)
    sys.stdout.flush()
    os._exit(0)
