"""Is a Space usable right now? What ``qwen-spaces status`` shows, as data.

A free Space fails in ways a call only meets late: asleep, paused by its owner, crashed,
its API changed under the catalog, its queue full. :func:`probe` asks, for one model,
the two sources that can say so without using the Space:

* the Hub's runtime API (:mod:`qwen_spaces.hub`): the stage and hardware of the Space the
  client would ask (:meth:`SpaceClient.aruntime`). A replica or another host that is no Hub
  Space has no stage of its own; then the catalog's Space is asked instead, and
  :attr:`SpaceHealth.stage_source` says so, so that no one reads it as the host's stage;
* the host itself: one ``GET /config`` (timed; it gives the Gradio version and, through
  :func:`qwen_spaces.discovery.parse_config`, whether the live API still fits the catalog)
  and, when that answered, ``GET {api}/queue/status`` for the queue size.

Nothing else is sent: a status check must not queue a job or wake a Space beyond the one
``/config`` request. Offline, the Hub's answer is "cannot reach the Hub", never a guess.
"""

from __future__ import annotations

import asyncio
import re
from collections.abc import Iterable
from dataclasses import asdict, dataclass
from typing import Any, Literal

from .auth import mask_url
from .catalog import CATALOG, SpaceSpec
from .client import SpaceClient
from .discovery import SpaceAPI, parse_config
from .errors import (
    HubUnavailableError,
    SpaceAuthError,
    SpaceError,
    SpaceProtocolError,
    SpaceTimeoutError,
    SpaceUnavailableError,
)
from .hub import SpaceRuntime, stage_advice, stage_kind

__all__ = ["SpaceHealth", "catalog_drift", "hub_failure", "probe", "probe_all"]

#: Whose stage :attr:`SpaceHealth.stage` is: the Space serving the host the client talks
#: to, or (for a replica or another non-Hub host) the catalog's Space, which says nothing
#: about that host.
StageSource = Literal["host", "catalog"]

#: Verdicts for a Space the Hub says is on its way up: a call waits for it (``wake_timeout``).
_COMING_UP = {"asleep": "asleep; wakes on the first call",
              "starting": "starting; the first call waits for it"}


@dataclass(frozen=True)
class SpaceHealth:
    """One model's Space, as seen now. ``usable`` is the verdict and ``reason`` its why.

    ``space_id`` is the Hub Space whose stage is shown (None: a ``*.hf.space`` host the Hub
    could not name); ``stage_source`` says whether that Space serves ``url`` (``host``) or
    is only the catalog's, while ``url`` is another host (``catalog``).

    ``stage`` / ``hardware`` are the Hub's (when there are none, ``hub_failure`` says why
    in a few words, such as "cannot reach the Hub", and ``hub_error`` in full);
    ``config_ms`` is how long ``/config`` took (None: it failed, ``config_failure`` says how
    in a word and ``config_error`` in full); ``api_matches`` is None when the API could not
    be checked; ``api_notes`` are the differences from the catalog, or why it does not fit.
    """

    model: str
    space_id: str | None
    url: str
    stage_source: StageSource
    stage: str | None
    hardware: str | None
    hub_failure: str | None
    hub_error: str | None
    config_ms: int | None
    config_failure: str | None
    config_error: str | None
    gradio: str | None
    api_matches: bool | None
    api_notes: tuple[str, ...]
    queue_size: int | None
    usable: bool
    reason: str

    def as_dict(self) -> dict[str, Any]:
        """Plain JSON data (``api_notes`` as a list)."""
        data = asdict(self)
        data["api_notes"] = list(self.api_notes)
        return data


@dataclass(frozen=True)
class _HubView:
    source: StageSource
    space_id: str | None
    runtime: SpaceRuntime | None = None
    failure: str | None = None
    error: str | None = None


@dataclass(frozen=True)
class _HostView:
    ms: int | None = None
    failure: str | None = None
    error: str | None = None
    version: str | None = None
    api: SpaceAPI | None = None
    matches: bool | None = None
    notes: tuple[str, ...] = ()


async def probe_all(client: SpaceClient, models: Iterable[str] | None = None,
                    ) -> list[SpaceHealth]:
    """:func:`probe` for each model (every catalog Space by default), all at once."""
    names = list(CATALOG) if models is None else list(models)
    return list(await asyncio.gather(*(probe(client, name) for name in names)))


async def probe(client: SpaceClient, model: str, *, base_url: str | None = None,
                space_id: str | None = None) -> SpaceHealth:
    """The health of ``model``'s Space at the host the client would ask (``base_url``
    overrides it, ``space_id`` names the Hub Space behind it, as for a call).

    Raises ``ValueError`` for bad input only; every failure to reach the Hub or the host
    is part of the answer."""
    # What a call would ask, and where (its checks are the call's: bad input raises here).
    job = client.prepare(model, [{"role": "user", "content": "?"}], base_url=base_url,
                         space_id=space_id)
    spec, base = job.choice.spec, job.base_url
    hub, host = await asyncio.gather(
        _hub_view(client, spec, base, base_url=base_url, space_id=space_id),
        _host_view(client, spec, base))
    runtime = hub.runtime
    usable, reason = _verdict(hub, host)
    return SpaceHealth(
        model=spec.name, space_id=hub.space_id, url=mask_url(base),
        stage_source=hub.source, stage=runtime.stage if runtime else None,
        hardware=runtime.hardware if runtime else None, hub_failure=hub.failure,
        hub_error=hub.error,
        config_ms=host.ms, config_failure=host.failure, config_error=host.error,
        gradio=host.version, api_matches=host.matches, api_notes=host.notes,
        queue_size=await _queue_size(client, host.api) if host.api else None,
        usable=usable, reason=reason)


def _verdict(hub: _HubView, host: _HostView) -> tuple[bool, str]:
    """Unusable when its stage does not end by waiting, or when it should be serving (its
    stage running, or unknown) and ``/config`` fails or the API no longer fits. The
    catalog Space's stage says nothing about another host, so it does not count there."""
    kind = stage_kind(hub.runtime.stage) if hub.runtime and hub.source == "host" else None
    if kind == "failed":
        assert hub.runtime is not None
        return False, re.split(r"[;.] ", stage_advice(hub.runtime.stage))[0]
    if kind in _COMING_UP:
        return True, _COMING_UP[kind]
    if host.failure is not None:
        return False, f"/config: {host.failure}"
    if host.matches is False:
        return False, "the live API no longer matches the catalog"
    return True, "serving"


# -- the Hub ------------------------------------------------------------------------------
async def _hub_view(client: SpaceClient, spec: SpaceSpec, base: str, *,
                    base_url: str | None, space_id: str | None) -> _HubView:
    """The stage of the Space the client would ask; else (a host that is no Hub Space)
    the catalog Space's, labelled as such. A ``*.hf.space`` host's Space is known only
    from the Hub: when it cannot say, the Space is None, not a guess."""
    source: StageSource = "host"
    try:
        runtime = await client.aruntime(spec.name, base_url=base_url, space_id=space_id)
        if runtime is None:
            source = "catalog"
            runtime = await client.hub.runtime(spec.space_id)
    except SpaceError as exc:
        failure, error = hub_failure(client, exc)
        known = source == "catalog" or bool(space_id) or base == spec.url
        return _HubView(source, spec.space_id if known else None, failure=failure,
                        error=error)
    return _HubView(source, runtime.space_id, runtime)


def hub_failure(client: SpaceClient, exc: SpaceError) -> tuple[str, str]:
    """Why the Hub gave no stage: in a few words, and in full (a mirror's credentials
    masked)."""
    endpoint = client.hub.endpoint
    detail = _reason(exc).replace(endpoint, mask_url(endpoint))
    if isinstance(exc, HubUnavailableError):
        return "cannot reach the Hub", detail
    if isinstance(exc, SpaceUnavailableError) and exc.status == 404:
        return "no such Space on the Hub", detail
    return "the Hub refused", detail


# -- the host -----------------------------------------------------------------------------
async def _host_view(client: SpaceClient, spec: SpaceSpec, base: str) -> _HostView:
    """One timed ``GET /config``, with the token as a call sends it, read as discovery
    reads it."""
    loop = asyncio.get_running_loop()
    started = loop.time()
    try:
        config = await client.transport.request_json(
            "GET", f"{base}/config", space=spec.space_id, token_host=base, what="/config")
    except SpaceError as exc:
        return _HostView(failure=_failure(exc), error=_reason(exc))
    ms = round((loop.time() - started) * 1000)
    if not isinstance(config, dict) or "dependencies" not in config:
        return _HostView(ms, notes=("not checked: /config is not a Gradio config here, so "
                                    "calls use the catalog's pinned values",))
    version = str(config["version"]) if config.get("version") is not None else None
    try:
        api = parse_config(spec, base, config)
    except SpaceProtocolError as exc:
        return _HostView(ms, version=version, matches=False, notes=(_reason(exc),))
    return _HostView(ms, version=version, api=api, matches=True,
                     notes=tuple(catalog_drift(spec, api)))


def _failure(exc: SpaceError) -> str:
    """A failed request in a word or two, for the table."""
    if isinstance(exc, SpaceTimeoutError):
        return "no connection" if exc.phase == "connect" else "timed out"
    if isinstance(exc, SpaceAuthError):
        return f"refused (HTTP {exc.status})"
    status = getattr(exc, "status", None)
    if status:
        return f"HTTP {status}"
    return "unreachable" if isinstance(exc, SpaceUnavailableError) else "not Gradio"


async def _queue_size(client: SpaceClient, api: SpaceAPI) -> int | None:
    """``queue_size`` from ``{api}/queue/status`` (Gradio 4 to 6); None where it is not
    reported. Asked only of a host whose ``/config`` answered: it is up already."""
    try:
        body = await client.transport.request_json(
            "GET", api.url("queue/status"), space=api.space, token_host=api.root,
            what="queue/status")
    except SpaceError:
        return None
    size = body.get("queue_size") if isinstance(body, dict) else None
    return size if isinstance(size, int) and not isinstance(size, bool) else None


def catalog_drift(spec: SpaceSpec, api: SpaceAPI) -> list[str]:
    """What the live API has that the catalog pins otherwise, none of which matters.

    What a call depends on is the endpoint's name and its inputs (roles and order): when
    those differ, discovery already raised :class:`SpaceProtocolError`. Everything else
    (ids, prefix, history format) is read from the live ``/config`` and used as it is.
    """
    harmless = "harmless, calls use the live value"
    pinned_format = spec.history_format or ("tuples" if spec.supports_history else None)
    notes = [f"{what} {live or 'none'} (catalog pins {pin or 'none'}): {harmless}"
             for what, live, pin in (
                 ("api_prefix", api.api_prefix, spec.api_prefix),
                 ("fn_index", api.fn_index, spec.fn_index),
                 ("trigger_id", api.trigger_id, spec.trigger_id),
                 ("history_format", api.history_format, pinned_format if spec.history_format
                  else api.history_format))  # unpinned formats are not a difference
             if live != pin]
    states = sum(1 for r in api.input_roles if r is None)
    if states:
        notes.append(f"{states} state input(s) between the pinned ones: harmless, sent "
                     "empty as Gradio's own client does")
    return notes


def _reason(exc: SpaceError) -> str:
    """The message after its ``space: `` prefix, on one line."""
    text = str(exc)
    space = exc.space or ""
    for prefix in (f"{space}: ", f"{space} "):
        if space and text.startswith(prefix):
            text = text[len(prefix):]
            break
    return " ".join(text.split())
