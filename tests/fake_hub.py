"""Test doubles for a Space's availability: the Hugging Face Hub's Space API, and a Space's
``*.hf.space`` front door while the Space is not serving. Both on 127.0.0.1, real HTTP.

Fakes, because neither can be produced here for real: there is no Hub, and a real Gradio
replica is either up or not; it has no "sleeping" or "building" answer. Once the Space runs,
:class:`SleepingFront` forwards to a real replica (``tests/servers.py``'s :class:`Front`).

**FakeHub** (``huggingface.co``). What it is based on:

* Routes and runtime fields: ``/work/shared/docs/gradio-protocol.md`` 9.4, and huggingface_hub's
  ``SpaceRuntime`` (``_space_api.py``: ``stage``, ``hardware.current`` / ``.requested``,
  ``gcTimeout``, ``storage``, ``devMode``, ``hotReloading``, ``volumes``; the rest is ``raw``)
  and ``SpaceInfo`` (``id``, ``author``, ``sha``, ``private``, ``host``, ``subdomain``,
  ``sdk``, ``runtime``, ...). The official JS client reads ``id`` and ``runtime.stage`` from
  ``/api/spaces/{id}`` and ``/api/spaces/by-subdomain/{sub}``.
* Stages: huggingface_hub's ``SpaceStage`` enum plus ``SLEEPING`` (which the JS client handles).
* Errors: huggingface_hub's ``hf_raise_for_status`` and its comment that the Hub answers 401
  for a missing repo *and* for a private one when the caller is not authenticated, so the two
  cannot be told apart; a third-party record of live Hub answers (2026) gives the shapes used
  here. Anonymous request for a missing or private Space: 401, ``{"error": "Invalid username
  or password."}``, ``X-Error-Message`` the same, ``WWW-Authenticate: Bearer realm=
  "Authentication required", charset="UTF-8"``, no ``X-Error-Code``. Authenticated request for
  a missing Space, or one the token cannot see: 404, ``{"error": "Repository not found"}``,
  ``X-Error-Code: RepoNotFound``, ``X-Error-Message: Repository not found``. A token the Hub
  does not know: 401 ``{"error": "Invalid credentials in Authorization header"}`` on any route,
  public Spaces included (only when :attr:`FakeHub.tokens` lists the valid ones). Only
  ``Authorization: Bearer`` counts; ``X-HF-Authorization`` is a ``*.hf.space`` convention
  (doc 9.5), the Hub API does not read it.

Unverified (no internet here): the exact bodies above; the runtime's ``gcTimeout`` (48 h, the
documented default of free hardware), ``replicas``, ``domains``, ``sha`` and ``errorMessage``
values; the answer for an unknown subdomain (taken to be the missing-repo one); exact matching
of Space ids (the Hub may match case-insensitively); and the bodies sent while :attr:`down`
(5xx: a load balancer's HTML page; 4xx: a JSON ``error``).

**SleepingFront** (``https://{subdomain}.hf.space``). Based on doc 9.3: a Space that is asleep,
building, starting, paused or in error is not served by Gradio; its host answers with an HTML
page (``text/html``, ``<!DOCTYPE html>``), commonly 503; a request to a sleeping Space wakes it,
and it answers after a cold start. The status (503 for every stage) and the page wording are
**unverified**: they are this file's own, one sentence per stage, not the real bytes.
"""

from __future__ import annotations

import hashlib
import html
import json
import re
import ssl
from collections.abc import Sequence
from dataclasses import dataclass
from http import HTTPStatus
from typing import Any

from aiohttp import web

from tests.servers import Front, catch_all, serve

__all__ = ["ASLEEP", "SERVING", "STAGES", "FakeHub", "SleepingFront", "default_subdomain",
           "not_serving_page"]

#: huggingface_hub's ``SpaceStage`` values, and ``SLEEPING``.
STAGES = frozenset({
    "NO_APP_FILE", "CONFIG_ERROR", "BUILDING", "BUILD_ERROR", "RUNNING", "RUNNING_BUILDING",
    "RUNTIME_ERROR", "DELETING", "STOPPED", "PAUSED", "APP_STARTING", "RUNNING_APP_STARTING",
    "SLEEPING"})
#: Stages in which the Space's own server answers (doc 9.4: "usable").
SERVING = frozenset({"RUNNING", "RUNNING_BUILDING"})
#: Stages that end only when a request reaches the Space, not by asking the Hub.
ASLEEP = frozenset({"SLEEPING", "STOPPED"})
_ERRORS = {"RUNTIME_ERROR": "Exit code: 1. Reason: the app crashed (fake Hub)",
           "BUILD_ERROR": "Build failed (fake Hub)",
           "CONFIG_ERROR": "Invalid Space configuration (fake Hub)",
           "NO_APP_FILE": "No application file (fake Hub)"}
_SLEEP_TIME = 172800  # gcTimeout: 48 h, huggingface_hub's documented default for free hardware
_DATE = "2025-01-28T08:00:00.000Z"


def default_subdomain(space_id: str) -> str:
    """The Hub's host name for a Space: ``Qwen/Qwen2.5-Max-Demo`` → ``qwen-qwen2-5-max-demo``."""
    return re.sub(r"[/._]", "-", space_id.lower())


def _hex(text: str, n: int) -> str:
    return hashlib.sha1(text.encode()).hexdigest()[:n]


@dataclass
class _Space:
    space_id: str
    stages: list[str]
    hardware: str
    subdomain: str
    private_token: str | None
    at: int = 0

    @property
    def stage(self) -> str:
        return self.stages[self.at]


class FakeHub:
    """The Hub's Space API on 127.0.0.1 (``async with FakeHub() as hub``; ``hub.url``).

    ``set_stages`` registers a Space and the stages it goes through: each answer that reports
    a stage reports the current one, then moves one step on (the last one stays), except from
    ``SLEEPING`` or ``STOPPED``, which only :meth:`wake` leaves (a request reaching the Space
    wakes it, asking the Hub does not). ``requests`` holds every request's method, path and
    headers (names lower-cased); ``down`` set to a status answers everything with it.
    ``tokens``: None (default) takes any bearer token as some user's valid token; a set makes
    the others invalid (401), as a stale ``HF_TOKEN`` is for the real Hub.
    """

    def __init__(self, *, ssl_context: ssl.SSLContext | None = None) -> None:
        #: With a TLS context it serves https, so a test can stand it at the Hub's own
        #: host (``https://huggingface.co``) behind a tunnelling proxy.
        self.ssl_context = ssl_context
        self.url = ""
        self.requests: list[tuple[str, str, dict[str, str]]] = []
        self.down: int | None = None
        self.tokens: set[str] | None = None
        self._spaces: dict[str, _Space] = {}
        self._runner: web.AppRunner | None = None

    async def __aenter__(self) -> FakeHub:
        self._runner, self.url = await serve(catch_all(self._handle), self.ssl_context)
        return self

    async def __aexit__(self, *exc: Any) -> None:
        if self._runner is not None:
            await self._runner.cleanup()

    # -- what a test sets and reads ------------------------------------------------------
    def set_stages(self, space_id: str, stages: Sequence[str], *, hardware: str = "zero-a10g",
                   subdomain: str | None = None, private_token: str | None = None) -> None:
        """Register (or reset) a Space: it starts at ``stages[0]``."""
        unknown = [s for s in stages if s not in STAGES]
        if not stages or unknown:
            raise ValueError(f"stages must be a non-empty list of {sorted(STAGES)}; "
                             f"unknown: {unknown}")
        self._spaces[space_id] = _Space(space_id, list(stages), hardware,
                                        subdomain or default_subdomain(space_id), private_token)

    def wake(self, space_id: str) -> None:
        """A request reached the Space: from SLEEPING or STOPPED, on to the next stage."""
        space = self._spaces[space_id]
        if space.stage in ASLEEP and space.at < len(space.stages) - 1:
            space.at += 1

    def stage(self, space_id: str) -> str:
        """The current stage, without moving on."""
        return self._spaces[space_id].stage

    # -- the server ----------------------------------------------------------------------
    async def _handle(self, request: web.Request) -> web.StreamResponse:
        self.requests.append((request.method, request.path,
                              {k.lower(): v for k, v in request.headers.items()}))
        if self.down is not None:
            return _down(self.down)
        path = request.path
        by_sub = re.fullmatch(r"/api/spaces/by-subdomain/([^/]+)", path)
        by_id = re.fullmatch(r"/api/spaces/([^/]+/[^/]+?)(/runtime)?", path)
        if request.method not in ("GET", "HEAD") or not (by_sub or by_id):
            return _json(404, {"error": "Sorry, we can't find the page you are looking for."})
        token = _bearer(request)
        if token is not None and not self._valid(token):
            return _error(401, "Invalid credentials in Authorization header")
        if by_sub:
            space = next((s for s in self._spaces.values() if s.subdomain == by_sub[1]), None)
        else:
            space = self._spaces.get(by_id[1]) if by_id else None
        if space is None or (space.private_token is not None and token != space.private_token):
            if token is None:
                return _error(401, "Invalid username or password.", www_authenticate=True)
            return _error(404, "Repository not found", code="RepoNotFound")
        runtime = self._report(space)
        if by_id and by_id[2]:
            return _json(200, runtime)
        return _json(200, self._info(space, runtime))

    def _valid(self, token: str) -> bool:
        if self.tokens is None:
            return bool(token)
        owners = {s.private_token for s in self._spaces.values()}
        return token in self.tokens or token in owners

    def _report(self, space: _Space) -> dict[str, Any]:
        """The runtime JSON at the current stage; then the stage moves on (not when asleep)."""
        stage = space.stage
        running = stage.startswith("RUNNING")
        runtime: dict[str, Any] = {
            "stage": stage,
            "hardware": {"current": space.hardware if running else None,
                         "requested": space.hardware},
            "storage": None,
            "gcTimeout": _SLEEP_TIME,
            "replicas": {"current": 1 if running else 0, "requested": 1},
            "devMode": False,
            "domains": [{"domain": f"{space.subdomain}.hf.space", "stage": "READY"}],
            "sha": _hex(space.space_id, 40),
        }
        if stage in _ERRORS:
            runtime["errorMessage"] = _ERRORS[stage]
        if stage not in ASLEEP and space.at < len(space.stages) - 1:
            space.at += 1
        return runtime

    def _info(self, space: _Space, runtime: dict[str, Any]) -> dict[str, Any]:
        """``GET /api/spaces/{id}``: the Space's card, with the runtime under ``runtime``."""
        return {
            "_id": _hex("id:" + space.space_id, 24),
            "id": space.space_id,
            "author": space.space_id.split("/")[0],
            "sha": runtime["sha"],
            "lastModified": _DATE,
            "createdAt": _DATE,
            "private": space.private_token is not None,
            "gated": False,
            "disabled": False,
            "likes": 0,
            "sdk": "gradio",
            "tags": ["gradio", "region:us"],
            "subdomain": space.subdomain,
            "host": f"https://{space.subdomain}.hf.space",
            "siblings": [{"rfilename": "README.md"}, {"rfilename": "app.py"}],
            "runtime": runtime,
        }


def _bearer(request: web.Request) -> str | None:
    """The token of ``Authorization: Bearer …``; "" for any other Authorization (invalid)."""
    value = request.headers.get("Authorization")
    if value is None:
        return None
    scheme, _, token = value.partition(" ")
    return token.strip() if scheme.lower() == "bearer" else ""


_HUB_HEADERS = {"X-Powered-By": "huggingface-moon"}


def _json(status: int, body: Any, headers: dict[str, str] | None = None) -> web.Response:
    request_id = f"Root=1-{_hex(json.dumps(body, sort_keys=True), 8)}-{_hex(str(status), 24)}"
    return web.Response(status=status, text=json.dumps(body), content_type="application/json",
                        charset="utf-8", headers={**_HUB_HEADERS, "X-Request-Id": request_id,
                                                  **(headers or {})})


def _error(status: int, message: str, *, code: str | None = None,
           www_authenticate: bool = False) -> web.Response:
    headers = {"X-Error-Message": message}
    if code is not None:
        headers["X-Error-Code"] = code
    if www_authenticate:
        headers["WWW-Authenticate"] = 'Bearer realm="Authentication required", charset="UTF-8"'
    return _json(status, {"error": message}, headers)


def _down(status: int) -> web.Response:
    """The Hub failing: a load balancer's HTML page for 5xx, a JSON error for 4xx."""
    reason = HTTPStatus(status).phrase if status in HTTPStatus._value2member_map_ else "Error"
    if status < 500:
        return _json(status, {"error": reason})
    return web.Response(status=status, content_type="text/html", text=(
        f"<html><head><title>{status} {reason}</title></head><body><center><h1>{status} "
        f"{reason}</h1></center></body></html>\n"))


#: What the page of a Space that is not serving says, by stage (this file's own wording).
_PAGES = {
    "SLEEPING": ("Sleeping", "This Space is sleeping due to inactivity. Your request woke it "
                             "up: it is restarting, try again in a moment."),
    "STOPPED": ("Stopped", "This Space is stopped. Your request is starting it: try again in "
                           "a moment."),
    "BUILDING": ("Building", "This Space is building. It will be available when the build "
                             "is done."),
    "APP_STARTING": ("Starting", "This Space is starting. It will be available in a moment."),
    "RUNNING_APP_STARTING": ("Starting", "This Space is restarting. It will be available in "
                                         "a moment."),
    "PAUSED": ("Paused", "This Space has been paused by its owner."),
    "RUNTIME_ERROR": ("Runtime error", "This Space has a runtime error."),
    "BUILD_ERROR": ("Build error", "This Space failed to build."),
    "CONFIG_ERROR": ("Configuration error", "This Space has a configuration error."),
    "NO_APP_FILE": ("No application file", "This Space has no application file."),
    "DELETING": ("Deleting", "This Space is being deleted."),
}


def not_serving_page(space_id: str, stage: str) -> str:
    """The HTML a Space's host answers while the Space is in ``stage`` (unverified wording)."""
    title, text = _PAGES.get(stage, ("Unavailable", "This Space is not available."))
    name = html.escape(space_id)
    return (f"<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n"
            f"<title>{name} - {title}</title>\n</head>\n<body>\n<h1>{name}</h1>\n"
            f"<p>{text}</p>\n</body>\n</html>\n")


class SleepingFront(Front):
    """A Space's ``*.hf.space`` host on 127.0.0.1 (``.url``), before the real replica
    ``target``: while ``hub.stage(space_id)`` is not RUNNING / RUNNING_BUILDING it answers
    every request itself, 503 with the page for that stage, and a request that finds the
    Space SLEEPING or STOPPED wakes it (:meth:`FakeHub.wake`); once it runs, every request is
    forwarded byte for byte and streamed, as :class:`Front` does. ``seen`` records each
    request's path and headers (names lower-cased) either way."""

    def __init__(self, hub: FakeHub, space_id: str, target: str, *,
                 as_host: bool = False) -> None:
        super().__init__(target, as_host=as_host)
        self.hub = hub
        self.space_id = space_id

    async def intercept(self, request: web.Request) -> web.StreamResponse | None:
        stage = self.hub.stage(self.space_id)
        if stage in SERVING:
            return None
        if stage in ASLEEP:
            self.hub.wake(self.space_id)
        return web.Response(status=503, text=not_serving_page(self.space_id, stage),
                            content_type="text/html", charset="utf-8")
