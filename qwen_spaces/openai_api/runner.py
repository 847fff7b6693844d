"""``qwen-spaces api``: serve the endpoint on aiohttp's own server until Ctrl-C or SIGTERM.

It binds 127.0.0.1 by default and refuses any other host without an API key. The first line
on stdout says where it listens (``serving http://127.0.0.1:8000/v1``); access lines go to
stderr. On Ctrl-C or SIGTERM it stops listening, cancels every open job on the Spaces and
ends each open stream with an error event, then exits 0.
"""

from __future__ import annotations

import argparse
import asyncio
import ipaddress
import logging
import os
import signal
import sys
from collections.abc import Mapping

from aiohttp import web

from ..client import SpaceClient
from .app import MB, STATE, create_app

__all__ = ["API_KEY_ENV", "add_arguments", "is_loopback", "run", "serve"]

API_KEY_ENV = "QWEN_SPACES_API_KEY"

DESCRIPTION = """\
Serve every Qwen Space as an OpenAI-compatible API: POST /v1/chat/completions (streamed or
not, tools, images for vision models, Qwen3 reasoning), GET /v1/models, GET /health. Point
any OpenAI client at http://HOST:PORT/v1 (e.g. OPENAI_BASE_URL). The Spaces are reached with
this machine's settings: $QWEN_SPACES_BASE_URLS, the HF token ($HF_TOKEN or `hf auth login`),
HTTPS_PROXY/NO_PROXY."""

EPILOG = """\
Sampling settings (temperature, top_p, seed, penalties, logit_bias) are accepted and ignored:
the Spaces do not expose them. n > 1, logprobs and audio output are refused with a 400.
Thinking on qwen-3: chat_template_kwargs.enable_thinking, enable_thinking or reasoning_effort
("none"/"minimal" = off), and thinking_budget (tokens). Only the latest image of a
conversation is sent (a Space takes one)."""


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """The ``api`` subcommand's flags (the Space settings come from :func:`cli._common`)."""
    parser.add_argument("--host", default="127.0.0.1",
                        help="address to listen on (default 127.0.0.1, this machine only); "
                             "any other address needs an API key")
    parser.add_argument("--port", type=int, default=8000,
                        help="port to listen on (default 8000; 0 picks a free one)")
    parser.add_argument("--api-key", metavar="KEY",
                        help=f"require 'Authorization: Bearer KEY' on every request, "
                             f"/health included (default: ${API_KEY_ENV}; without one any "
                             "key or none is accepted). Prefer the variable: a flag shows in "
                             "the process list")
    parser.add_argument("--max-body", type=_size, default=20 * MB, metavar="BYTES",
                        help="largest request body, e.g. 20MB (default); larger ones get a "
                             "413")
    parser.add_argument("--max-jobs", type=int, default=64, metavar="N",
                        help="Space jobs run at once (default 64); further requests wait in "
                             "line, reported in streams as ': server queue' comments, and "
                             "the wait counts against the queue timeout")
    parser.add_argument("--cors", action="append", default=[], metavar="ORIGIN",
                        help="let browsers at ORIGIN call the API (repeatable; * for any). "
                             "Off by default, preflight included")
    parser.add_argument("--allow-private-image-hosts", action="store_true",
                        help="fetch image URLs on private, loopback and link-local "
                             "addresses too (tests, trusted networks); by default only "
                             "public https hosts")
    parser.add_argument("--log-content", action="store_true",
                        help="add each request's messages and the answer to the log "
                             "(default: one access line without content)")
    parser.add_argument("--hold", type=float, default=10.0, metavar="SECONDS",
                        help="how long a streamed request may wait for its first text "
                             "before the 200 goes out (default 10); errors before then get "
                             "their real HTTP status")
    parser.add_argument("--queue-timeout", type=float, default=300.0, metavar="SECONDS",
                        help="most seconds a job may wait for a slot and in the Space's "
                             "queue together (default 300); then a 504")


def _size(text: str) -> int:
    units = {"kb": 1024, "k": 1024, "mb": MB, "m": MB, "gb": 1024 * MB, "g": 1024 * MB, "b": 1}
    low = text.strip().lower()
    for suffix, factor in units.items():
        if low.endswith(suffix) and low[:-len(suffix)].strip():
            return int(float(low[:-len(suffix)]) * factor)
    return int(low)


def is_loopback(host: str) -> bool:
    """Whether ``host`` is only reachable from this machine."""
    if host.lower() == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


def api_key_from(args: argparse.Namespace, environ: Mapping[str, str] | None = None) -> \
        str | None:
    env = os.environ if environ is None else environ
    key = args.api_key if args.api_key is not None else env.get(API_KEY_ENV)
    key = (key or "").strip()
    return key or None


def serve(args: argparse.Namespace, client: SpaceClient) -> int:
    """Check the flags, then serve until Ctrl-C or SIGTERM. Returns the exit code."""
    key = api_key_from(args)
    if not is_loopback(args.host) and key is None:
        sys.stderr.write(f"error: refusing to listen on {args.host} without an API key: "
                         f"anyone who can reach it could use the Spaces as you; set "
                         f"${API_KEY_ENV} (or --api-key), or keep the default --host "
                         "127.0.0.1\n")
        return 2
    logging.basicConfig(level=logging.INFO, stream=sys.stderr,
                        format="%(asctime)s %(name)s %(message)s")
    logging.getLogger("aiohttp.access").disabled = True
    app = create_app(client, api_key=key, max_body=args.max_body, max_jobs=args.max_jobs,
                     cors=args.cors, allow_private_image_hosts=args.allow_private_image_hosts,
                     log_content=args.log_content, hold=args.hold)
    return asyncio.run(run(app, args.host, args.port))


async def run(app: web.Application, host: str, port: int) -> int:
    """Serve ``app`` on ``host:port`` until SIGINT or SIGTERM."""
    runner = web.AppRunner(app, access_log=None, handle_signals=False, shutdown_timeout=5.0)
    await runner.setup()
    try:
        site = web.TCPSite(runner, host, port)
        try:
            await site.start()
        except OSError as exc:
            sys.stderr.write(f"error: cannot listen on {host}:{port} ({exc.strerror or exc})\n")
            return 1
        bound = runner.addresses[0]
        shown = f"[{bound[0]}]" if ":" in str(bound[0]) else bound[0]
        sys.stdout.write(f"serving http://{shown}:{bound[1]}/v1\n")
        sys.stdout.flush()
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGINT, signal.SIGTERM):
            loop.add_signal_handler(sig, stop.set)
        await stop.wait()
        open_jobs = len(app[STATE].feeds)
        sys.stderr.write(f"stopping: cancelling {open_jobs} open job(s)\n")
    finally:
        await runner.cleanup()
    return 0
