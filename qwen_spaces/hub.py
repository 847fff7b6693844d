"""The Hugging Face Hub's view of a Space: its runtime stage, for waking it and for status.

A Space that is not serving (asleep, building, paused, crashed) answers its own URL with an
HTML page, which says little. The Hub says exactly: ``GET {endpoint}/api/spaces/{id}/runtime``
gives ``stage`` (``RUNNING``, ``SLEEPING``, ``BUILDING``, ``PAUSED``, ...) and ``hardware``;
``GET {endpoint}/api/spaces/by-subdomain/{sub}`` gives the same under ``runtime``, plus the
``id`` of the Space that serves ``{sub}.hf.space`` (a duplicated Space). Both are what
``huggingface_hub`` and Gradio's JS client read (``../shared/docs/gradio-protocol.md`` 9.4).

``endpoint`` is ``$HF_ENDPOINT`` when set, as ``huggingface_hub`` reads it, so mirrors and
tests can point it elsewhere; else ``https://huggingface.co``. The HF token goes there only
when the endpoint *is* the Hub's own host, and as ``Authorization: Bearer`` (the Hub API's
convention); the caller's extra ``headers=`` never go there.

What each stage means for a caller (:func:`stage_kind`), after the JS client and
gradio_client: ``RUNNING`` / ``RUNNING_BUILDING`` serve; ``SLEEPING`` / ``STOPPED`` wake on a
request; ``BUILDING`` / ``APP_STARTING`` / ``RUNNING_APP_STARTING`` come up by waiting;
``PAUSED`` and the error stages do not end by waiting.
"""

from __future__ import annotations

import asyncio
import json
import os
import re
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Literal
from urllib.parse import quote, urlsplit

from .auth import mask_url, origin_of
from .errors import HubUnavailableError, SpaceAuthError, SpaceError, SpaceUnavailableError
from .transport import Transport, normalize_base_url

if TYPE_CHECKING:
    import aiohttp
else:
    from ._deferred import aiohttp

__all__ = ["DEFAULT_ENDPOINT", "ENDPOINT_ENV", "Hub", "SpaceRuntime", "hub_endpoint",
           "is_space_id", "stage_advice", "stage_kind", "subdomain_of"]

ENDPOINT_ENV = "HF_ENDPOINT"
DEFAULT_ENDPOINT = "https://huggingface.co"
_HUB_ORIGIN = ("https", "huggingface.co", 443)

StageKind = Literal["running", "asleep", "starting", "failed", "unknown"]

#: Stages by what a caller can do about them. Anything else is ``unknown``: waited on, like
#: a start, since the Hub adds stages (``SLEEPING`` is not in huggingface_hub's enum).
_KINDS: dict[str, StageKind] = {
    "RUNNING": "running", "RUNNING_BUILDING": "running",
    "SLEEPING": "asleep", "STOPPED": "asleep",
    "BUILDING": "starting", "APP_STARTING": "starting", "RUNNING_APP_STARTING": "starting",
    "PAUSED": "failed", "NO_APP_FILE": "failed", "CONFIG_ERROR": "failed",
    "BUILD_ERROR": "failed", "RUNTIME_ERROR": "failed", "DELETING": "failed",
}

#: What a stage that does not end by waiting means, and what to do.
_ADVICE = {
    "PAUSED": "paused by its owner; it will not come back by waiting. Use another model "
              "(fallback_models=) or duplicate the Space",
    "RUNTIME_ERROR": "crashed (RUNTIME_ERROR) and needs a restart by its owner; use another "
                     "model (fallback_models=) or try again later",
    "BUILD_ERROR": "failed to build (BUILD_ERROR); its owner has to fix it. Use another "
                   "model (fallback_models=)",
    "CONFIG_ERROR": "has a broken configuration (CONFIG_ERROR); its owner has to fix it",
    "NO_APP_FILE": "has no app file (NO_APP_FILE); it serves nothing",
    "DELETING": "is being deleted",
}

_SPACE_ID = re.compile(r"^[A-Za-z0-9][\w.-]*/[A-Za-z0-9][\w.-]*$")


def stage_kind(stage: str | None) -> StageKind:
    if stage is None:
        return "unknown"
    return _KINDS.get(stage.upper(), "unknown")


def stage_advice(stage: str) -> str:
    """Why a Space in ``stage`` cannot answer, for messages."""
    return _ADVICE.get(stage.upper(), f"is in stage {stage}")


def is_space_id(value: str) -> bool:
    """``owner/name``, as the Hub spells Space ids."""
    return bool(_SPACE_ID.match(value))


def hub_endpoint(environ: dict[str, str] | None = None) -> str:
    """``$HF_ENDPOINT`` (trailing slash dropped), else ``https://huggingface.co``."""
    env = os.environ if environ is None else environ
    raw = (env.get(ENDPOINT_ENV) or "").strip()
    return normalize_base_url(raw, what=ENDPOINT_ENV) if raw else DEFAULT_ENDPOINT


def subdomain_of(base_url: str) -> str | None:
    """``owner-name`` for ``https://owner-name.hf.space``; None for any other host."""
    host = (urlsplit(base_url).hostname or "").lower()
    sub, dot, rest = host.partition(".")
    return sub if dot and rest == "hf.space" and sub else None


@dataclass(frozen=True)
class SpaceRuntime:
    """What the Hub says about one Space. ``hardware`` is the current hardware, else the
    requested one (a sleeping Space has none current)."""

    space_id: str
    stage: str
    hardware: str | None = None
    raw: dict[str, Any] = field(default_factory=dict, repr=False, compare=False)

    @property
    def kind(self) -> StageKind:
        return stage_kind(self.stage)


class Hub:
    """The Hub's Space API, over a client's transport (its proxy, TLS and timeouts)."""

    def __init__(self, transport: Transport, endpoint: str | None = None) -> None:
        self.transport = transport
        self.endpoint = normalize_base_url(endpoint, what="endpoint") if endpoint \
            else hub_endpoint()

    def __repr__(self) -> str:
        return f"Hub(endpoint={mask_url(self.endpoint)!r})"

    @property
    def shown(self) -> str:
        """The endpoint for messages: a mirror's URL may carry credentials."""
        return mask_url(self.endpoint)

    @property
    def sends_token(self) -> bool:
        """The token goes to the Hub's own host only, never to a mirror."""
        return self.transport.token is not None and origin_of(self.endpoint) == _HUB_ORIGIN

    async def runtime(self, space_id: str) -> SpaceRuntime:
        """The Space's stage. Raises :class:`HubUnavailableError` when the Hub cannot be
        asked, :class:`SpaceUnavailableError` (status 404) when it has no such Space, and
        :class:`SpaceAuthError` when it refuses to show it."""
        body = await self._get(f"/api/spaces/{quote(space_id, safe='/')}/runtime", space_id)
        return _runtime(space_id, body)

    async def by_subdomain(self, subdomain: str) -> SpaceRuntime:
        """The Space serving ``{subdomain}.hf.space``, with its stage."""
        shown = f"{subdomain}.hf.space"
        body = await self._get(f"/api/spaces/by-subdomain/{quote(subdomain, safe='')}", shown)
        space_id = body.get("id")
        if not isinstance(space_id, str) or not is_space_id(space_id):
            raise HubUnavailableError(f"{shown}: the Hub's answer names no Space id",
                                      space=shown)
        return _runtime(space_id, body.get("runtime") or {})

    async def _get(self, path: str, space: str) -> dict[str, Any]:
        try:
            return await self._get_once(path, space, self.sends_token)
        except SpaceAuthError as exc:
            if not exc.token_sent:
                raise
            # The Hub refuses a token it does not know even for public Spaces (a stale
            # $HF_TOKEN): a public Space's stage can still be read without it.
            try:
                return await self._get_once(path, space, False)
            except SpaceError:
                raise exc from None

    async def _get_once(self, path: str, space: str, with_token: bool) -> dict[str, Any]:
        url = self.endpoint + path
        headers = {"Accept": "application/json"}
        if with_token:
            assert self.transport.token is not None
            headers["Authorization"] = f"Bearer {self.transport.token.get_secret_value()}"
        timeout = self.transport.timeout(total=self.transport.timeouts.request)
        try:
            resp = await self.transport.open("GET", url, space=space, token_host=None,
                                             timeout=timeout, extra_headers=headers)
        except SpaceError as exc:
            raise HubUnavailableError(
                f"{space}: cannot reach the Hub at {self.shown} to ask for the Space's "
                f"stage ({_reason(exc)})", space=space) from None
        try:
            body = await resp.read()
        except (asyncio.TimeoutError, aiohttp.ClientError) as exc:
            raise HubUnavailableError(
                f"{space}: the Hub at {self.shown} did not finish answering "
                f"({type(exc).__name__})", space=space) from None
        finally:
            resp.release()
        status = resp.status
        if status == 200:
            try:
                data = json.loads(body)
            except ValueError:
                data = None
            if isinstance(data, dict):
                return data
            raise HubUnavailableError(f"{space}: the Hub at {self.shown} answered with "
                                      "something that is not a JSON object", space=space)
        if status in (401, 403):
            # Without a token the Hub answers 401 for a private Space and a missing one alike.
            advice = ("the token was refused or cannot read it" if with_token
                      else "it is private or does not exist; a token with access is needed"
                      if origin_of(self.endpoint) == _HUB_ORIGIN
                      else f"it is private or does not exist ({self.shown} is not the "
                      "Hub's own host, so no token is sent there)")
            raise SpaceAuthError(f"{space}: the Hub refused to show this Space (HTTP "
                                 f"{status}): {advice}", space=space, status=status,
                                 token_sent=with_token)
        if status == 404:
            raise SpaceUnavailableError(
                f"{space}: the Hub has no such Space (HTTP 404); it was deleted or renamed, "
                "or it is private and needs a token", space=space, status=404)
        raise HubUnavailableError(f"{space}: the Hub at {self.shown} answered HTTP "
                                  f"{status}", space=space)


def _runtime(space_id: str, body: dict[str, Any]) -> SpaceRuntime:
    stage = body.get("stage")
    if not isinstance(stage, str) or not stage:
        raise HubUnavailableError(f"{space_id}: the Hub's answer has no runtime stage",
                                  space=space_id)
    hardware = body.get("hardware")
    hw = None
    if isinstance(hardware, dict):
        hw = hardware.get("current") or hardware.get("requested")
    return SpaceRuntime(space_id, stage.upper(), hw if isinstance(hw, str) else None, body)


def _reason(exc: SpaceError) -> str:
    """The part of a transport error after ``space: ``."""
    return str(exc).split(": ", 1)[-1]
