"""The aiohttp application: routes, the key, CORS, the access log, models and health.

:func:`create_app` returns a plain ``aiohttp.web.Application``, so it can be served alone
(``qwen-spaces api``) or mounted in another app (``parent.add_subapp("/openai", app)``).
Nothing depends on the host's runner settings: the body limit is enforced in the handler,
and a client that leaves is noticed by watching its transport, not through aiohttp's
``handler_cancellation``.

Middlewares, outermost first: the access log (one line per request: method, path, status,
model, latency, queue wait, text length; message content only with ``log_content``), the
JSON errors, CORS preflight (only with ``cors`` origins), then the API key (compared in
constant time, never logged or echoed; every route, ``/health`` included).
"""

from __future__ import annotations

import asyncio
import hmac
import logging
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from aiohttp import web

from ..auth import mask_url
from ..catalog import CATALOG, ModelChoice
from ..client import ChatJob, SpaceClient
from ..errors import SpaceError
from ..health import hub_failure
from ..transport import VERSION
from .completions import chat_completions
from .errors import ACCESS, ApiError, Handler, error_middleware, from_space_error
from .images import ImageFetcher
from .jobs import Feed, JobSlots
from .requests import resolve

__all__ = ["STATE", "ApiSettings", "ServerState", "create_app", "model_ids"]

logger = logging.getLogger("qwen_spaces.api")

MB = 1024 * 1024


@dataclass(frozen=True)
class ApiSettings:
    """The endpoint's own settings (the Spaces' are the :class:`SpaceClient`'s)."""

    api_key: str | None = field(default=None, repr=False)
    max_body: int = 20 * MB
    max_jobs: int = 64
    cors: tuple[str, ...] = ()
    allow_private_image_hosts: bool = False
    log_content: bool = False
    #: Seconds a streamed request holds its headers waiting for the first output.
    hold: float = 10.0
    #: Seconds of silence on an open stream before a ``: keepalive`` comment.
    keepalive: float = 15.0

    def __post_init__(self) -> None:
        if self.max_body < 1 or self.max_jobs < 1 or self.hold < 0 or self.keepalive <= 0:
            raise ValueError("max_body and max_jobs must be >= 1, hold >= 0, keepalive > 0")


@dataclass
class ModelHealth:
    """What the server saw of one Space, from jobs it ran (no call is made to find out)."""

    last_ok: float | None = None
    last_error: dict[str, Any] | None = None


class ServerState:
    """Per application: the client, the slots, the open jobs, what each Space last did."""

    def __init__(self, client: SpaceClient, settings: ApiSettings) -> None:
        self.client = client
        self.settings = settings
        self.slots = JobSlots(settings.max_jobs)
        self.images = ImageFetcher(allow_private=settings.allow_private_image_hosts,
                                   timeout=client.timeouts.request)
        self.feeds: set[Feed] = set()
        self.closing = False
        self.started = time.time()
        self.health: dict[str, ModelHealth] = {name: ModelHealth() for name in CATALOG}
        self.hub = HubStages(client)

    def __repr__(self) -> str:
        return f"ServerState({self.client!r}, {self.settings!r})"

    def record(self, job: ChatJob, error: SpaceError | None) -> None:
        entry = self.health[job.choice.spec.name]
        if error is None:
            entry.last_ok = time.time()
            return
        answer = from_space_error(error, max_retries=self.client.max_retries)
        entry.last_error = {"at": time.time(), "type": type(error).__name__,
                            "status": answer.status, "message": answer.message}


class HubStages:
    """The Hub's word on each model's Space (stage, hardware), for ``/health``: asked of
    every Space at once, at most every ``ttl`` seconds, and for at most ``wait`` seconds,
    so that frequent health checks neither hammer the Hub nor hang on it."""

    def __init__(self, client: SpaceClient, *, ttl: float = 30.0, wait: float = 5.0) -> None:
        self.client = client
        self.ttl = ttl
        self.wait = wait
        self._seen: dict[str, dict[str, Any] | None] = {}
        self._at: float | None = None
        self._lock = asyncio.Lock()

    async def stages(self) -> dict[str, dict[str, Any] | None]:
        """By model: the Hub's answer, or None for a host that is no Hub Space (a
        replica); asked again once ``ttl`` has passed."""
        async with self._lock:
            now = time.monotonic()
            if self._at is None or now - self._at >= self.ttl:
                found = await asyncio.gather(*(self._ask(name) for name in CATALOG))
                self._seen, self._at = dict(zip(CATALOG, found, strict=True)), now
            return self._seen

    async def _ask(self, name: str) -> dict[str, Any] | None:
        try:
            runtime = await asyncio.wait_for(self.client.aruntime(name), self.wait)
        except asyncio.TimeoutError:
            return {"stage": None, "hub_failure": "cannot reach the Hub",
                    "hub_error": f"the Hub did not answer within {self.wait:g} s"}
        except SpaceError as exc:
            failure, error = hub_failure(self.client, exc)
            return {"stage": None, "hub_failure": failure, "hub_error": error}
        if runtime is None:
            return None
        return {"space_id": runtime.space_id, "stage": runtime.stage,
                "hardware": runtime.hardware}


STATE: web.AppKey[ServerState] = web.AppKey("qwen_spaces_api_state", ServerState)


def create_app(client: SpaceClient | None = None, *, api_key: str | None = None,
               max_body: int = 20 * MB, max_jobs: int = 64, cors: Sequence[str] = (),
               allow_private_image_hosts: bool = False, log_content: bool = False,
               hold: float = 10.0, keepalive: float = 15.0) -> web.Application:
    """The OpenAI-compatible endpoint as an ``aiohttp.web.Application``.

    ``client`` talks to the Spaces (default: ``SpaceClient()``, which reads
    ``$QWEN_SPACES_BASE_URLS``, the HF token, proxies). ``api_key``: required as
    ``Authorization: Bearer …`` when set. ``max_body`` bytes per request; ``max_jobs`` Space
    jobs at once (others wait); ``cors``: origins allowed (``*`` for any); image URLs on
    private addresses only with ``allow_private_image_hosts``; ``log_content`` adds message
    and answer text to the access log; ``hold``: seconds a stream waits for its first output
    before the 200 goes out.
    """
    settings = ApiSettings(api_key=api_key or None, max_body=max_body, max_jobs=max_jobs,
                           cors=tuple(cors), allow_private_image_hosts=allow_private_image_hosts,
                           log_content=log_content, hold=hold, keepalive=keepalive)
    state = ServerState(client or SpaceClient(), settings)
    app = web.Application(middlewares=[_access_log, error_middleware, _cors_preflight, _auth])
    app[STATE] = state
    app.router.add_get("/v1/models", _list_models)
    app.router.add_get("/v1/models/{model:.+}", _get_model)
    app.router.add_post("/v1/chat/completions", chat_completions)
    app.router.add_get("/health", _health)
    if settings.cors:
        app.on_response_prepare.append(_cors_headers)
    app.on_shutdown.append(_shutdown)
    app.on_cleanup.append(_cleanup)
    return app


# -- middlewares -----------------------------------------------------------------------------
@web.middleware
async def _access_log(request: web.Request, handler: Handler) -> web.StreamResponse:
    loop = asyncio.get_running_loop()
    started = loop.time()
    access: dict[str, Any] = {}
    token = ACCESS.set(access)
    status = 499  # cancelled by the host (handler_cancellation) before an answer
    try:
        response = await handler(request)
        status = response.status
        return response
    finally:
        ACCESS.reset(token)
        _log_access(request, access, status, loop.time() - started)


def _log_access(request: web.Request, access: dict[str, Any], status: int,
                latency: float) -> None:
    parts = [f"{request.method} {_printable(request.path)} {status}"]
    if "model" in access:
        parts.append(f"model={_printable(access['model'])}")
    if "stream" in access:
        parts.append(f"stream={'true' if access['stream'] else 'false'}")
    parts.append(f"latency={latency:.3f}s")
    wait = access.get("queue_wait")
    if "model" in access:
        parts.append(f"queue_wait={wait:.3f}s" if wait is not None else "queue_wait=-")
        parts.append(f"text_chars={access.get('text_chars', 0)}")
    if access.get("error"):
        parts.append(f"error={access['error']}")
    if access.get("gone"):
        parts.append("client_gone=true")
    logger.info(" ".join(parts))
    if "messages" in access or "reply" in access:
        import json

        logger.info("content %s", json.dumps({"messages": access.get("messages"),
                                              "reply": access.get("reply")},
                                             ensure_ascii=False))


def _printable(text: object) -> str:
    """A caller's string as one log field: no spaces, line breaks or control characters."""
    return "".join(c if c.isprintable() and not c.isspace() else "?" for c in str(text)[:200])


@web.middleware
async def _auth(request: web.Request, handler: Handler) -> web.StreamResponse:
    key = request.app[STATE].settings.api_key
    if key is not None:
        scheme, _, given = request.headers.get("Authorization", "").partition(" ")
        if scheme.lower() != "bearer" or not given.strip():
            raise ApiError(401, "missing API key: send it as 'Authorization: Bearer <key>' "
                           "(the openai SDK: api_key=…)", type="authentication_error",
                           code="missing_api_key", headers={"WWW-Authenticate": "Bearer"})
        if not hmac.compare_digest(given.strip().encode(), key.encode()):
            raise ApiError(401, "the API key is not valid for this server",
                           type="authentication_error", code="invalid_api_key",
                           headers={"WWW-Authenticate": "Bearer"})
    return await handler(request)


def _allowed_origin(request: web.Request) -> str | None:
    origins = request.app[STATE].settings.cors
    origin = request.headers.get("Origin")
    if not origin or not origins:
        return None
    if "*" in origins:
        return "*"
    return origin if origin in origins else None


@web.middleware
async def _cors_preflight(request: web.Request, handler: Handler) -> web.StreamResponse:
    if request.method == "OPTIONS" and "Access-Control-Request-Method" in request.headers:
        origin = _allowed_origin(request)
        if origin is not None:
            asked = request.headers.get("Access-Control-Request-Headers", "")
            return web.Response(status=204, headers={
                "Access-Control-Allow-Methods": "GET, POST, OPTIONS",
                "Access-Control-Allow-Headers": asked or "Authorization, Content-Type",
                "Access-Control-Max-Age": "600"})
    return await handler(request)


async def _cors_headers(request: web.Request, response: web.StreamResponse) -> None:
    origin = _allowed_origin(request)
    if origin is None:
        return
    response.headers["Access-Control-Allow-Origin"] = origin
    response.headers["Access-Control-Expose-Headers"] = "Retry-After, x-should-retry"
    if origin != "*":
        response.headers["Vary"] = "Origin"


# -- models and health ------------------------------------------------------------------------
def model_ids() -> list[str]:
    """Each catalog model's name, then its ``name-variant`` ids as the catalog forms them."""
    ids: list[str] = []
    for spec in CATALOG.values():
        ids.append(spec.name)
        for variant in spec.variants:
            name = ModelChoice(spec, variant).model_name
            if name not in ids:
                ids.append(name)
    return ids


def _model(model_id: str, created: int, choice: ModelChoice) -> dict[str, Any]:
    return {"id": model_id, "object": "model", "created": created,
            "owned_by": choice.spec.space_id.split("/")[0]}


async def _list_models(request: web.Request) -> web.Response:
    from ..catalog import resolve_model

    created = int(request.app[STATE].started)
    data = [_model(i, created, resolve_model(i)) for i in model_ids()]
    return web.json_response({"object": "list", "data": data})


async def _get_model(request: web.Request) -> web.Response:
    model_id = request.match_info["model"]
    choice = resolve(model_id)
    return web.json_response(_model(model_id, int(request.app[STATE].started), choice))


async def _health(request: web.Request) -> web.Response:
    """What jobs showed of each Space, and the Hub's stage of it (``hub``: None for a host
    that is no Hub Space), asked at most every 30 s. No call goes to any Space."""
    state = request.app[STATE]
    client = state.client
    hub = await state.hub.stages()
    spaces = {}
    for name, spec in CATALOG.items():
        base = client.base_urls.get(name) or spec.url
        seen = state.health[name]
        spaces[name] = {"space": spec.space_id, "base_url": mask_url(base), "hub": hub[name],
                        "last_ok": seen.last_ok, "last_error": seen.last_error}
    return web.json_response({
        "status": "shutting_down" if state.closing else "ok", "version": VERSION,
        "uptime_s": round(time.time() - state.started, 1),
        "jobs": {"running": state.slots.running, "waiting": state.slots.waiting,
                 "max": state.settings.max_jobs},
        "hf_token": "set" if client.transport.token is not None else "none",
        "spaces": spaces})


# -- lifecycle ------------------------------------------------------------------------------
async def _shutdown(app: web.Application) -> None:
    """Stop every open job: streams end with an error event, other requests get a 503."""
    state = app[STATE]
    state.closing = True
    waits = [asyncio.ensure_future(feed.closed.wait()) for feed in state.feeds]
    for feed in list(state.feeds):
        feed.wake()
    if waits:
        _, pending = await asyncio.wait(waits, timeout=5.0)
        for task in pending:
            task.cancel()


async def _cleanup(app: web.Application) -> None:
    await app[STATE].images.close()
