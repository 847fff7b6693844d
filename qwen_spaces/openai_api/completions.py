"""``POST /v1/chat/completions``: read, map, run the job, answer (JSON or a stream).

Streamed requests hold their headers until the first output (answer text, reasoning, a tool
call) or an error, for up to ``hold`` seconds (10 by default). An error before then gets
its real status, which the SDK can act on (and retry); after it the stream opens with 200,
status while the job waits (the server's slots, the Space's queue) goes out as comment lines
(``: queue 3/7, eta 12 s``), silence as ``: keepalive`` every ``keepalive`` seconds, and a
later error as ``data: {"error": …}`` followed by ``data: [DONE]``.

A client that leaves (a closed stream, a non-streamed call given up) cancels the Space job;
so does the server's shutdown, which ends each open stream with an error event.
"""

from __future__ import annotations

import asyncio
import json
import math
from typing import TYPE_CHECKING, Any

from aiohttp import web

from ..events import Finished, SpaceLog, StreamEvent
from .encoding import ChunkEncoder, comment, completion
from .errors import ACCESS, ApiError
from .jobs import STATUS, ClientGone, Feed, ShuttingDown, new_ids, status_text
from .requests import CompletionRequest, parse_request, prepare_job

if TYPE_CHECKING:
    from .app import ServerState

__all__ = ["chat_completions", "read_json"]

_SHUTDOWN = ApiError(503, "the server is shutting down; the job on the Space was cancelled. "
                     "Try again when it is back.", type="server_error", code="server_shutdown")
_STREAM_HEADERS = {"Content-Type": "text/event-stream; charset=utf-8",
                   "Cache-Control": "no-cache", "X-Accel-Buffering": "no"}


async def read_json(request: web.Request, limit: int) -> Any:
    """The body as JSON, read here with ``limit`` (whatever ``client_max_size`` says)."""
    too_large = ApiError(413, f"the request body is larger than this server's limit of "
                         f"{limit} bytes (--max-body); send smaller images, or fewer",
                         code="request_too_large")
    if request.content_length is not None and request.content_length > limit:
        raise too_large
    data = bytearray()
    async for chunk in request.content.iter_chunked(1 << 16):
        data += chunk
        if len(data) > limit:
            raise too_large
    try:
        return json.loads(data)
    except ValueError:
        raise ApiError(400, "the request body is not valid JSON", code="invalid_json") \
            from None


async def chat_completions(request: web.Request) -> web.StreamResponse:
    from .app import STATE

    state = request.app[STATE]
    found = ACCESS.get()
    access: dict[str, Any] = found if found is not None else {}
    if state.closing:
        raise _SHUTDOWN
    body = await read_json(request, state.settings.max_body)
    if isinstance(body, dict) and isinstance(body.get("model"), str):
        access["model"] = body["model"][:100]
    call = parse_request(body)
    access.update(model=call.model, stream=call.stream)
    if state.settings.log_content:
        access["messages"] = [{"role": t.role, "text": t.text, "images": len(t.images)}
                              for t in call.turns]
    job = prepare_job(state.client, call)
    job = await state.images.resolve(job)
    if call.stream:
        return await _streamed(request, state, call, job, access)
    return await _plain(request, state, call, job, access)


async def _plain(request: web.Request, state: ServerState, call: CompletionRequest,
                 job: Any, access: dict[str, Any]) -> web.StreamResponse:
    async with Feed(state, request, job, call) as feed:
        try:
            while True:
                event = await feed.next(math.inf)
                if isinstance(event, Finished):
                    break
        except ClientGone:
            return _gone(access, feed)
        except ShuttingDown:
            raise _SHUTDOWN from None
        finally:
            access["queue_wait"] = feed.queue_wait
    id_, created = new_ids()
    body = completion(event, id=id_, created=created, model=call.model,
                      schema_tool=call.schema_tool)
    content = body["choices"][0]["message"]["content"]
    access["text_chars"] = len(content or "")
    if state.settings.log_content:
        access["reply"] = content
    return web.json_response(body, dumps=_dumps)


async def _streamed(request: web.Request, state: ServerState, call: CompletionRequest,
                    job: Any, access: dict[str, Any]) -> web.StreamResponse:
    loop = asyncio.get_running_loop()
    id_, created = new_ids()
    encoder = ChunkEncoder(id=id_, created=created, model=call.model,
                           include_usage=call.include_usage, schema_tool=call.schema_tool)
    settings = state.settings
    async with Feed(state, request, job, call) as feed:
        # Hold the headers until the first output or an error, for up to ``hold`` seconds.
        held: list[StreamEvent] = []  # status meanwhile: logs all, the rest the latest
        event: StreamEvent | None = None
        hold_until = loop.time() + settings.hold
        try:
            while event is None:
                got = await feed.next(hold_until)
                if got is None:
                    break
                if not isinstance(got, STATUS):
                    event = got
                    continue
                if held and type(held[-1]) is type(got) and not isinstance(got, SpaceLog):
                    held.pop()
                held.append(got)
        except ClientGone:
            return _gone(access, feed)
        except ShuttingDown:
            raise _SHUTDOWN from None
        response = web.StreamResponse(headers=_STREAM_HEADERS)
        try:
            await response.prepare(request)
            opening = encoder.head() + b"".join(comment(status_text(e)) for e in held)
            await response.write(opening)
            last_write = loop.time()
            while True:
                if event is None:
                    event = await feed.next(last_write + settings.keepalive)
                    if event is None:
                        await response.write(b": keepalive\n\n")
                        last_write = loop.time()
                        continue
                if isinstance(event, Finished):
                    await response.write(encoder.finish(event))
                    if settings.log_content:
                        access["reply"] = event.text
                    break
                data = (comment(status_text(event)) if isinstance(event, STATUS)
                        else encoder.event(event))
                event = None
                if data:
                    await response.write(data)
                    last_write = loop.time()
        except ApiError as err:
            access["error"] = err.code
            await _last_words(response, encoder.error(err.body()))
        except ShuttingDown:
            access["error"] = _SHUTDOWN.code
            await _last_words(response, encoder.error(_SHUTDOWN.body()))
        except (ClientGone, ConnectionResetError):
            access["gone"] = True
        finally:
            access["queue_wait"] = feed.queue_wait
            access["text_chars"] = encoder.text_chars
    return response


async def _last_words(response: web.StreamResponse, data: bytes) -> None:
    try:
        await response.write(data)
    except ConnectionResetError:
        pass


def _gone(access: dict[str, Any], feed: Feed) -> web.Response:
    """The client left before the answer: nothing can be sent; 499 goes to the access log."""
    access["gone"] = True
    access["queue_wait"] = feed.queue_wait
    return web.Response(status=499, reason="Client Closed Request")


def _dumps(value: Any) -> str:
    return json.dumps(value, ensure_ascii=False)
