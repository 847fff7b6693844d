"""Every failure as OpenAI's error shape, with the status and headers its SDK acts on.

The body is ``{"error": {"message", "type", "param", "code"}}`` for every error, aiohttp's own
404 / 405 / 413 included (:func:`error_middleware`). Statuses for the core's errors:

====== ==========================================================================
400    invalid request (``ValueError`` from the mapping or the core)
401    missing or wrong API key, and only then
404    unknown model (the known ones are listed) or endpoint
413    body too large
429    ZeroGPU quota (:class:`~qwen_spaces.QuotaExceededError`), ``Retry-After`` when the
       Space named the wait
502    the Space refused the server's HF token, its app failed, or its API drifted
503    the Space is asleep, paused, unreachable, or its queue is full
504    the Space timed out
====== ==========================================================================

The openai SDK retries 408, 409, 429 and 5xx twice unless ``x-should-retry: false`` says
otherwise. That header goes on 502 and 504 (the same request fails the same way), and on
every error the core has already retried (its own ``max_retries``), so a flapping Space
does not see three times the load. A ``Retry-After`` over 120 s also stops the SDK's retries.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Awaitable, Callable, Mapping
from contextvars import ContextVar
from typing import Any

from aiohttp import web

from ..client import _should_retry
from ..errors import (
    QueueFullError,
    QuotaExceededError,
    SpaceAppError,
    SpaceAuthError,
    SpaceError,
    SpaceProtocolError,
    SpaceTimeoutError,
    SpaceUnavailableError,
)

__all__ = ["ACCESS", "ENDPOINTS", "ApiError", "error_middleware", "from_exception",
           "from_space_error"]

logger = logging.getLogger("qwen_spaces.api")

#: The access log's fields for the request being handled (model, stream, queue wait, text
#: length, ...): set by the access-log middleware, filled in by the handler and the errors.
ACCESS: ContextVar[dict[str, Any] | None] = ContextVar("qwen_spaces_api_access",
                                                      default=None)

#: What this server serves, for 404 and 405 messages.
ENDPOINTS = ("POST /v1/chat/completions", "GET /v1/models", "GET /v1/models/{model}",
             "GET /health")


class ApiError(Exception):
    """An error answer: HTTP status, OpenAI's four fields, and extra response headers."""

    def __init__(self, status: int, message: str, *, type: str = "invalid_request_error",
                 param: str | None = None, code: str | None = None,
                 headers: Mapping[str, str] | None = None) -> None:
        super().__init__(message)
        self.status = status
        self.message = message
        self.type = type
        self.param = param
        self.code = code
        self.headers = dict(headers or {})

    def body(self) -> dict[str, Any]:
        return {"error": {"message": self.message, "type": self.type, "param": self.param,
                          "code": self.code}}

    def response(self) -> web.Response:
        return web.Response(status=self.status, headers=self.headers,
                            text=json.dumps(self.body(), ensure_ascii=False),
                            content_type="application/json")


def from_space_error(exc: SpaceError, *, max_retries: int) -> ApiError:
    """The answer for one of the core's errors. ``max_retries`` is the client's: an error it
    retried already gets ``x-should-retry: false``."""
    message = str(exc)
    no_retry = {"x-should-retry": "false"}
    core_retried = max_retries > 0 and _should_retry(exc)
    if isinstance(exc, QuotaExceededError):
        if exc.retry_after is not None:
            headers = {"Retry-After": str(max(1, round(exc.retry_after)))}
        else:
            headers = no_retry  # a quota does not come back within the SDK's backoff
        return ApiError(429, message, type="insufficient_quota", code="zerogpu_quota",
                        headers=headers)
    if isinstance(exc, SpaceAuthError):
        return ApiError(502, f"the Space refused this server's access: {message}",
                        type="upstream_error", code="space_auth_refused", headers=no_retry)
    if isinstance(exc, SpaceAppError):
        return ApiError(502, message, type="upstream_error", code="space_app_error",
                        headers=no_retry)
    if isinstance(exc, SpaceProtocolError):
        return ApiError(502, message, type="upstream_error", code="space_api_changed",
                        headers=no_retry)
    if isinstance(exc, SpaceTimeoutError):
        return ApiError(504, message, type="upstream_error", code=f"space_timeout_{exc.phase}",
                        headers=no_retry)
    if isinstance(exc, QueueFullError):
        return ApiError(503, message, type="upstream_error", code="space_queue_full",
                        headers=no_retry if core_retried else {})
    if isinstance(exc, SpaceUnavailableError):
        retried = core_retried or not _should_retry(exc)  # retrying cannot help
        return ApiError(503, message, type="upstream_error", code="space_unavailable",
                        headers=no_retry if retried else {})
    return ApiError(502, message, type="upstream_error", code="space_error", headers=no_retry)


def from_exception(exc: BaseException, *, max_retries: int) -> ApiError:
    """Any exception a job can end with, as an answer (unexpected ones logged, not shown)."""
    if isinstance(exc, ApiError):
        return exc
    if isinstance(exc, SpaceError):
        return from_space_error(exc, max_retries=max_retries)
    if isinstance(exc, ValueError):
        return ApiError(400, str(exc), param="messages")
    logger.error("internal error", exc_info=exc)
    return ApiError(500, f"internal server error ({type(exc).__name__}); see the server log",
                    type="server_error", code="internal_error")


_HTTP_MESSAGES = {
    404: "no such endpoint: {method} {path}. This server serves {endpoints}; the Responses "
         "and legacy Completions APIs are not served.",
    405: "{method} is not allowed on {path}. This server serves {endpoints}.",
    413: "the request body is too large",
}


def _from_http(exc: web.HTTPException, request: web.Request) -> ApiError:
    template = _HTTP_MESSAGES.get(exc.status)
    if template is None:
        return ApiError(exc.status, exc.reason, type="invalid_request_error")
    message = template.format(method=request.method, path=request.path,
                              endpoints=", ".join(ENDPOINTS))
    code = {404: "unknown_url", 405: "method_not_allowed", 413: "request_too_large"}
    headers = {"Allow": exc.headers["Allow"]} if "Allow" in exc.headers else None
    return ApiError(exc.status, message, code=code[exc.status], headers=headers)


Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


@web.middleware
async def error_middleware(request: web.Request, handler: Handler) -> web.StreamResponse:
    """Every error as JSON: ours, aiohttp's (404, 405, 413) and unexpected ones (500)."""
    try:
        return await handler(request)
    except ApiError as exc:
        err = exc
    except web.HTTPException as exc:
        if exc.status < 400:
            raise
        err = _from_http(exc, request)
    except Exception as exc:  # a bug: logged with its traceback, shown as a 500
        err = from_exception(exc, max_retries=0)
    access = ACCESS.get()
    if access is not None:
        access["error"] = err.code or err.type
    return err.response()
