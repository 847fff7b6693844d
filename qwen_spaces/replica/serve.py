"""``qwen-spaces serve``: run the replica Spaces locally until Ctrl-C.

Point any client (this package, gradio_client, curl) at the printed base URLs to try the
protocol without Hugging Face. Everything listens on 127.0.0.1 only.
"""

from __future__ import annotations

import argparse
import errno
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Sequence

from qwen_spaces.catalog import CATALOG, resolve_model

from .directives import DIRECTIVES
from .generations import GENERATIONS, served_on
from .process import ReplicaSet, ReplicaStartError

__all__ = ["build_parser", "serve"]


def build_parser(prog: str = "qwen-spaces serve") -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog=prog, description="Serve local replicas of the Qwen Spaces (real Gradio, fake "
                               "model) on 127.0.0.1.")
    parser.add_argument("--model", action="append", metavar="NAME",
                        help="catalog name or alias; repeatable (default: every Space)")
    parser.add_argument("--port", type=int, default=0, metavar="START",
                        help="first port, the next models get START+1, ... (default: free ports)")
    parser.add_argument("--gradio-python", metavar="PATH",
                        help="python with the Gradio to use, e.g. .venvs/gradio-4.44.1/bin/python"
                             " (default: this interpreter)")
    parser.add_argument("--token-delay", type=float, default=None,
                        help="seconds between streamed pieces (default 0.01)")
    parser.add_argument("--max-size", type=int, default=None, help="queue max_size")
    parser.add_argument("--concurrency", type=int, default=None,
                        help="concurrency_limit of each endpoint (default 8)")
    parser.add_argument("--quota-for", type=float, default=None, metavar="SECONDS",
                        help="every answer fails with the ZeroGPU quota error (as /quota does,"
                             " but naming the time left) until SECONDS after the replicas are "
                             "up; try a client's quota handling or failover")
    return parser


def _servable(python: str | None) -> list[str]:
    """Every Space the chosen Gradio can serve (Qwen3-Demo's component needs Gradio 5+)."""
    if python is None:
        return served_on("6")
    try:
        out = subprocess.run([python, "-c", "import gradio; print(gradio.__version__)"],
                             capture_output=True, text=True, timeout=60, check=True).stdout
    except (OSError, subprocess.SubprocessError):
        return list(CATALOG)  # the replica process will say what is wrong with it
    version = out.strip()
    generation = next((g for g in GENERATIONS if version.startswith(g)), "6")
    return served_on(generation)


def serve(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        models = [resolve_model(m).spec.name for m in args.model] if args.model \
            else _servable(args.gradio_python)
    except ValueError as exc:
        sys.stderr.write(f"error: {exc}\n")
        return 2
    if args.quota_for is not None and args.quota_for < 0:
        sys.stderr.write("error: --quota-for must be >= 0\n")
        return 2
    models = list(dict.fromkeys(models))
    ports = [args.port + i for i in range(len(models))] if args.port else None
    busy = next((p for p in ports or () if _in_use(p)), None)
    if busy is not None:
        sys.stderr.write(f"error: port {busy} on 127.0.0.1 is already in use; pass another "
                         "--port, or none for free ports\n")
        return 1
    replica_set = ReplicaSet(models, python=args.gradio_python, ports=ports,
                             max_size=args.max_size, concurrency=args.concurrency,
                             token_delay=args.token_delay, quota_for=args.quota_for)
    def leave(*_: object) -> None:
        raise SystemExit(0)  # unwinds the with block below, which stops the replicas

    for sig in (signal.SIGTERM, signal.SIGHUP):
        signal.signal(sig, leave)
    try:
        with replica_set:
            for name in models:
                sys.stdout.write(f"{name:<14} {replica_set.url(name)}\n")
            pairs = ",".join(f"{name}={replica_set.url(name)}" for name in models)
            sys.stdout.write(f"to point every client at these replicas:\n"
                             f"  export QWEN_SPACES_BASE_URLS={pairs}\n")
            sys.stdout.write("directives: " + ", ".join(DIRECTIVES) + "\n"
                             "stats: <url>/replica/stats   (Ctrl-C to stop)\n")
            sys.stdout.flush()
            while replica_set.alive():
                time.sleep(0.5)
            sys.stderr.write(f"replica process exited:\n{replica_set.output}\n")
            return 1
    except KeyboardInterrupt:
        return 0
    except ReplicaStartError as exc:
        sys.stderr.write(f"{exc}\n")
        return 1


def _in_use(port: int) -> bool:
    """Whether 127.0.0.1:``port`` is taken (checked before Gradio, whose own failure is a
    traceback; a port taken in between still ends in :class:`ReplicaStartError`)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)  # as uvicorn binds
        try:
            sock.bind(("127.0.0.1", port))
        except OSError as exc:
            return exc.errno == errno.EADDRINUSE
    return False


if __name__ == "__main__":
    sys.exit(serve())
