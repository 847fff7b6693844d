"""``SpaceClient``: one conversation in, a stream of events out, for any catalog Space.

Flow per call: validate and map the conversation (no network) -> discover the Space's API
(``/config``, cached per client) -> upload images -> ``queue/join`` -> read
``queue/data`` until ``process_completed``. ``/call/<api_name>`` is used only where the
endpoint is not queued. Retries (jittered backoff) cover everything before the first answer
text and nothing after it, so output is never duplicated. Leaving the stream early (break,
task cancel, ``aclose``) posts ``/cancel`` and drops the connection, freeing the Space's slot.
"""

from __future__ import annotations

import asyncio
import functools
import json
import os
import random
import secrets
import ssl
import weakref
from collections.abc import AsyncGenerator, Iterator, Mapping, Sequence
from contextlib import aclosing
from dataclasses import dataclass, replace
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit

from . import loops, sync
from .auth import locate_token, mask_headers, mask_url
from .catalog import ModelChoice, SpaceSpec, resolve_model
from .chat import PreparedChat, Turn, budget_units, encode_history, flatten, prepare_chat
from .discovery import SpaceAPI, StepAPI, parse_config, pinned_api
from .errors import (
    NoSpaceAvailableError,
    QueueFullError,
    SessionLostError,
    SpaceError,
    SpaceProtocolError,
    SpaceTimeoutError,
    SpaceUnavailableError,
)
from .events import (
    Finished,
    InvalidToolCall,
    ReasoningDelta,
    SpaceSkipped,
    SpaceWaking,
    StreamEvent,
    TextDelta,
    ToolCallDelta,
)
from .failover import Cooldowns, failover_reason
from .hub import Hub, SpaceRuntime, is_space_id, stage_advice, subdomain_of
from .images import ImageData, ImageSource, RemoteImage, inspect_image
from .limits import ReplyLimiter, limit_stream
from .protocol import JobProtocol, loads
from .reasoning import shape_reply
from .sessions import SessionBook, SpaceSession
from .sse import SSEDecoder
from .tools import NamedChoice, ToolCallParser, reask_message
from .transport import Secret, Timeouts, Transport, check_status, normalize_base_url

if TYPE_CHECKING:
    import aiohttp
else:
    from ._deferred import aiohttp

__all__ = ["ChatJob", "ClientCache", "SpaceClient"]

_NO_RETRY_STAGES = {"PAUSED", "RUNTIME_ERROR", "BUILD_ERROR", "CONFIG_ERROR", "NO_APP_FILE"}


@dataclass(frozen=True)
class ChatJob:
    """A validated request: which Space, where, and the mapped conversation."""

    choice: ModelChoice
    chat: PreparedChat
    base_url: str
    #: When a tool call is required and the reply has no valid one, ask again this often.
    tool_reasks: int = 1
    #: The Hub id the caller named (``space_id=``): whose stage to ask, on any host.
    space_id: str | None = None
    #: Failover: the models to try, in order, when this one cannot answer (see
    #: :mod:`qwen_spaces.failover`); ``Unfit`` entries cannot take this request.
    fallbacks: tuple[ChatJob | Unfit, ...] = ()
    #: Models named before this one that cannot take this request (skipped).
    passed_over: tuple[Unfit, ...] = ()

    @property
    def token_host(self) -> str:
        """The origin the token and extra headers may go to: the base URL's scheme, host
        and port (the transport compares all three; the name is historical)."""
        return self.base_url


@dataclass(frozen=True)
class Unfit:
    """A model of a failover chain that cannot take this request, and why (no image input,
    no tools, no thinking switch, ...). It is skipped without a request."""

    model: str
    space_id: str
    reason: str


#: Events that are part of the answer: after one of them, a call is never moved elsewhere.
_ANSWER = (TextDelta, ReasoningDelta, ToolCallDelta, InvalidToolCall, Finished)


def _as_secret(token: object, source: str = "hf_token=") -> Secret | None:
    if token is None:
        return None
    if isinstance(token, Secret):
        return token
    getter = getattr(token, "get_secret_value", None)
    value = getter() if callable(getter) else token
    if not isinstance(value, str):
        raise ValueError("hf_token must be a string")
    value = value.strip()
    if not value:
        return None
    # The adapters pass the token they found as hf_token=; name where it really came from.
    found = locate_token()
    return Secret(value, found[1] if found and found[0] == value else source)


BASE_URLS_ENV = "QWEN_SPACES_BASE_URLS"


def env_base_urls() -> dict[str, str]:
    """``$QWEN_SPACES_BASE_URLS``: ``model=url`` pairs separated by commas, e.g. the line
    ``qwen-spaces serve`` prints, so every client in a process talks to the replicas."""
    raw = os.environ.get(BASE_URLS_ENV, "").strip()
    urls: dict[str, str] = {}
    for item in filter(None, (x.strip() for x in raw.split(","))):
        name, sep, url = item.partition("=")
        if not sep:
            raise ValueError(f"{BASE_URLS_ENV} entries look like model=url, got {item!r}")
        urls[resolve_model(name.strip()).spec.name] = normalize_base_url(url.strip())
    return urls


class SpaceClient:
    """Async-first client for the catalog's Spaces, with sync twins on a background loop.

    ``hf_token`` defaults to the token Hugging Face's tools use (:func:`qwen_spaces.auth.
    find_token`: ``$HF_TOKEN``, else the file ``hf auth login`` saved); it is sent as
    ``X-HF-Authorization`` and only to the Space's own origin (scheme, host and port), as are
    the extra ``headers=``. ``base_urls`` maps model names to other hosts (a replica, a
    duplicated Space) over ``$QWEN_SPACES_BASE_URLS``; ``base_url=`` does it for one call.

    ``proxy=`` (an http(s) URL, credentials allowed) wins; else ``HTTPS_PROXY`` /
    ``HTTP_PROXY`` / ``NO_PROXY`` are honoured as requests does, unless ``trust_env=False``.
    ``verify_ssl`` is ``True``, ``False`` (only for a host you trust) or an
    ``ssl.SSLContext`` (a corporate CA). Reprs and errors mask the token, proxy credentials,
    URL userinfo and every header value.
    """

    def __init__(
        self,
        *,
        hf_token: object = None,
        read_env_token: bool = True,
        timeouts: Timeouts | None = None,
        max_retries: int = 2,
        retry_backoff: float = 0.5,
        proxy: str | None = None,
        headers: Mapping[str, str] | None = None,
        verify_ssl: bool | ssl.SSLContext = True,
        base_urls: Mapping[str, str] | None = None,
        trust_env: bool = True,
        session_ttl: float = 900.0,
        wake_timeout: float = 300.0,
        failover_cooldown: float = 60.0,
    ) -> None:
        token = _as_secret(hf_token)
        if token is None and hf_token is None and read_env_token:
            found = locate_token()
            token = Secret(*found) if found else None
        if max_retries < 0:
            raise ValueError("max_retries must be >= 0")
        if not wake_timeout > 0:
            raise ValueError("wake_timeout must be > 0 seconds")
        if proxy is not None:
            proxy = normalize_base_url(proxy, what="proxy")
        self.transport = Transport(token=token, timeouts=timeouts or Timeouts(),
                                   proxy=proxy, headers=headers, verify_ssl=verify_ssl,
                                   trust_env=trust_env)
        self.max_retries = max_retries
        self.retry_backoff = retry_backoff
        from_env = env_base_urls()
        urls = {**from_env, **(base_urls or {})}
        self.base_urls = {resolve_model(k).spec.name: normalize_base_url(v)
                          for k, v in urls.items()}
        #: Hosts that came from $QWEN_SPACES_BASE_URLS, so a failure there can say so.
        self._env_hosts = {v for k, v in self.base_urls.items() if from_env.get(k) == v}
        self._apis: dict[tuple[str, str], SpaceAPI] = {}
        #: Conversations held in Space sessions (Qwen3-Demo; see qwen_spaces.sessions).
        self.sessions = SessionBook(ttl=session_ttl)
        #: The Hub's runtime API ($HF_ENDPOINT), asked when a Space answers an error page.
        self.hub = Hub(self.transport)
        #: Seconds a call waits for a sleeping or starting Space to come up.
        self.wake_timeout = wake_timeout
        #: Spaces that failed recently, skipped by failover calls (see qwen_spaces.failover).
        self.cooldowns = Cooldowns(failover_cooldown)
        self._subdomains: dict[str, str] = {}  # *.hf.space subdomain -> Space id
        self._locks: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop,
                                               dict[tuple[str, str], asyncio.Lock]]
        self._locks = weakref.WeakKeyDictionary()

    def __repr__(self) -> str:
        t = self.transport
        token = "set" if t.token is not None else "none"
        urls = {name: mask_url(url) for name, url in self.base_urls.items()}
        proxy = mask_url(t.proxy) if t.proxy else None
        return (f"SpaceClient(hf_token={token}, timeouts={t.timeouts}, "
                f"max_retries={self.max_retries}, base_urls={urls}, proxy={proxy!r}, "
                f"headers={mask_headers(t.extra_headers)})")

    @property
    def timeouts(self) -> Timeouts:
        return self.transport.timeouts

    # -- public API ---------------------------------------------------------------------
    def prepare(
        self,
        model: str,
        messages: Sequence[Turn | Mapping[str, Any]],
        *,
        base_url: str | None = None,
        system_prompt: str | None = None,
        variant: str | None = None,
        tools: Sequence[Any] | None = None,
        tool_choice: object = None,
        response_format: object = None,
        tool_reasks: int = 1,
        parallel_tool_calls: bool = True,
        thinking: bool | None = None,
        thinking_budget: int | None = None,
        space_id: str | None = None,
        fallback_models: Sequence[str] | None = None,
    ) -> ChatJob:
        """Validate everything that can be checked offline. Raises ``ValueError``.

        ``tools`` / ``tool_choice`` / ``response_format`` are rendered in Qwen's own format
        (:mod:`qwen_spaces.tools`); ``tool_reasks`` is how often a reply that lacks a
        required call is answered with a correction and asked again (0: never);
        ``parallel_tool_calls=False`` keeps only the reply's first valid call.
        ``thinking`` switches a Space's thinking on or off (None: its default) and
        ``thinking_budget`` caps it, in tokens; a Space without them raises ``ValueError``.

        ``space_id`` names the Hub Space behind ``base_url`` (``owner/name``): its stage is
        asked when it answers an error page, and messages name it. Without it, the stage
        is asked for a catalog URL and for ``*.hf.space`` hosts, never for other hosts.

        ``fallback_models`` are asked in order when ``model`` cannot answer before its
        first token (:mod:`qwen_spaces.failover`). They take the same request; ``variant``,
        ``base_url`` and ``space_id`` apply to ``model`` only. A model that cannot take it
        (images, tools, thinking) is skipped; when none can, ``ValueError`` lists why.
        """
        if not isinstance(tool_reasks, int) or tool_reasks < 0:
            raise ValueError("tool_reasks must be an integer >= 0")
        if space_id is not None and (not isinstance(space_id, str)
                                     or not is_space_id(space_id.strip())):
            raise ValueError(f"space_id must look like owner/name (a Hugging Face Space id), "
                             f"got {space_id!r}")
        names = _chain(model, fallback_models)

        def job_for(name: str, first: bool) -> ChatJob:
            choice = resolve_model(name, variant if first else None)
            chat = prepare_chat(choice, messages, system_prompt=system_prompt, tools=tools,
                                tool_choice=tool_choice, response_format=response_format,
                                parallel_tool_calls=parallel_tool_calls, thinking=thinking,
                                thinking_budget=thinking_budget)
            url = base_url if first else None
            base = normalize_base_url(url or self.base_urls.get(choice.spec.name)
                                      or choice.spec.url)
            named = space_id.strip() if first and space_id else None
            if named:
                choice = replace(choice, spec=replace(choice.spec, space_id=named))
            return ChatJob(choice, chat, base, tool_reasks, space_id=named)

        if len(names) == 1:
            return job_for(names[0], True)
        chain: list[ChatJob | Unfit] = []
        for i, name in enumerate(names):
            try:
                chain.append(job_for(name, i == 0))
            except ValueError as exc:
                spec = resolve_model(name).spec  # an unknown name is the caller's error
                chain.append(Unfit(name, spec.space_id, str(exc)))
        fit = [i for i, c in enumerate(chain) if isinstance(c, ChatJob)]
        if not fit:
            raise ValueError("no model in the chain can take this request: " + "; ".join(
                f"{c.model}: {c.reason}" for c in chain if isinstance(c, Unfit)))
        first = chain[fit[0]]
        assert isinstance(first, ChatJob)
        passed = tuple(c for c in chain[:fit[0]] if isinstance(c, Unfit))
        return replace(first, fallbacks=tuple(chain[fit[0] + 1:]), passed_over=passed)

    def astream(self, model: str, messages: Sequence[Turn | Mapping[str, Any]], *,
                stop: Sequence[str] | None = None, max_tokens: int | None = None,
                **kwargs: Any) -> AsyncGenerator[StreamEvent, None]:
        """Stream events for one answer; ends with :class:`Finished`. Validates eagerly.

        ``stop`` / ``max_tokens`` are applied client-side (see :mod:`qwen_spaces.limits`);
        a cut cancels the job on the Space. Other keywords go to :meth:`prepare`.
        """
        return self.astream_job(self.prepare(model, messages, **kwargs), stop=stop,
                                max_tokens=max_tokens)

    async def achat(self, model: str, messages: Sequence[Turn | Mapping[str, Any]],
                    **kwargs: Any) -> Finished:
        return await _final(self.astream(model, messages, **kwargs))

    def stream(self, model: str, messages: Sequence[Turn | Mapping[str, Any]],
               **kwargs: Any) -> Iterator[StreamEvent]:
        return sync.iterate(self.astream(model, messages, **kwargs))

    def chat(self, model: str, messages: Sequence[Turn | Mapping[str, Any]],
             **kwargs: Any) -> Finished:
        return sync.run(_final(self.astream(model, messages, **kwargs)))

    async def aruntime(self, model: str, *, base_url: str | None = None,
                       space_id: str | None = None) -> SpaceRuntime | None:
        """What the Hub says about the Space behind ``model`` (at ``base_url``): its stage
        and hardware. None when no Hub Space is known for that host (a replica or another
        host, without ``space_id``). Raises :class:`HubUnavailableError` when the Hub cannot
        be asked."""
        job = self.prepare(model, [{"role": "user", "content": "?"}], base_url=base_url,
                           space_id=space_id)
        return await self._runtime(job) if _has_runtime(job) else None

    def runtime(self, model: str, *, base_url: str | None = None,
                space_id: str | None = None) -> SpaceRuntime | None:
        return sync.run(self.aruntime(model, base_url=base_url, space_id=space_id))

    async def adiscover(self, model: str, *, base_url: str | None = None) -> SpaceAPI:
        spec = resolve_model(model).spec
        base = normalize_base_url(base_url or self.base_urls.get(spec.name) or spec.url)
        return await self._discover(spec, base, base)

    def discover(self, model: str, *, base_url: str | None = None) -> SpaceAPI:
        return sync.run(self.adiscover(model, base_url=base_url))

    def astream_job(self, job: ChatJob, *, stop: Sequence[str] | None = None,
                    max_tokens: int | None = None) -> AsyncGenerator[StreamEvent, None]:
        """Stream a prepared job (the adapters' entry point)."""
        if job.fallbacks or job.passed_over:
            return self._failover(job, stop, max_tokens)
        return self._single(job, stop, max_tokens)

    def _single(self, job: ChatJob, stop: Sequence[str] | None,
                max_tokens: int | None) -> AsyncGenerator[StreamEvent, None]:
        if job.chat.parse_tools:
            return self._tool_stream(job, stop, max_tokens)
        return self._limited(job, stop, max_tokens)

    async def _failover(self, job: ChatJob, stop: Sequence[str] | None,
                        max_tokens: int | None) -> AsyncGenerator[StreamEvent, None]:
        """Ask the chain's models in order until one answers (see
        :mod:`qwen_spaces.failover`). A Space that failed recently is asked last, after
        the others; one out of ZeroGPU quota not before its quota is back."""
        head = replace(job, fallbacks=(), passed_over=())
        # The chain in order; a candidate that failed recently is passed over and put back
        # at the end as a last resort (with the reason it was passed over), where it is
        # asked without looking at its cool-down again.
        steps: list[tuple[ChatJob | Unfit, str | None]] = [
            (cand, None) for cand in (*job.passed_over, head, *job.fallbacks)]
        skipped: list[tuple[str, str, str, SpaceError | None]] = []
        for i, (cand, passed_over) in enumerate(steps):  # (it grows while walked)
            if isinstance(cand, Unfit):
                skipped.append((cand.model, cand.space_id, cand.reason, None))
                nxt = _next_model(steps, i + 1)
                if nxt:
                    yield SpaceSkipped(cand.model, cand.space_id, cand.reason, nxt, asked=False)
                continue
            if passed_over is not None:  # the last resort: this replaces "passed over"
                skipped.remove((_model(cand), cand.choice.spec.space_id, passed_over, None))
            why = None if passed_over is not None else \
                self.cooldowns.skip_reason(_space_key(cand))
            if why is not None:
                reason, hard = why
                skipped.append((_model(cand), cand.choice.spec.space_id, reason, None))
                if not hard:
                    steps.append((cand, reason))
                nxt = _next_model(steps, i + 1)
                if nxt and nxt != _model(cand):
                    yield SpaceSkipped(_model(cand), cand.choice.spec.space_id, reason, nxt,
                                       asked=False)
                continue
            outcome: list[tuple[str, str, str, SpaceError | None]] = []
            async for event in self._try_candidate(cand, stop, max_tokens, skipped, outcome):
                yield event
            if not outcome:
                return
            skipped += outcome
            nxt = _next_model(steps, i + 1)
            if nxt:
                yield SpaceSkipped(outcome[0][0], outcome[0][1], outcome[0][2], nxt)
        last = next((e for *_, e in reversed(skipped) if e is not None), None)
        raise NoSpaceAvailableError(skipped) from last

    async def _try_candidate(self, cand: ChatJob, stop: Sequence[str] | None,
                             max_tokens: int | None,
                             skipped: list[tuple[str, str, str, SpaceError | None]],
                             outcome: list[tuple[str, str, str, SpaceError | None]],
                             ) -> AsyncGenerator[StreamEvent, None]:
        """Stream one model of a chain. On a failover failure before its first answer
        event, record it in ``outcome`` (and the client's cool-downs) and end quietly."""
        key = _space_key(cand)
        started = False
        try:
            async with aclosing(self._single(cand, stop, max_tokens)) as events:
                async for event in events:
                    if isinstance(event, _ANSWER):
                        started = True
                        if isinstance(event, Finished):
                            event = _with_failover(event, cand, skipped)
                    yield event
        except SpaceError as exc:
            reason = None if started else failover_reason(exc)
            if reason is None:
                raise
            self.cooldowns.failed(key, exc, reason)
            outcome.append((_model(cand), cand.choice.spec.space_id, reason, exc))
            return
        self.cooldowns.succeeded(key)

    def _limited(self, job: ChatJob, stop: Sequence[str] | None,
                 max_tokens: int | None) -> AsyncGenerator[StreamEvent, None]:
        limiter = ReplyLimiter(stop, max_tokens)
        events = self._stream_job(job)
        if not limiter.active:
            return events
        return limit_stream(events, limiter=limiter, model=job.choice.model_name,
                            space_id=job.choice.spec.space_id)

    async def _tool_stream(self, job: ChatJob, stop: Sequence[str] | None,
                           max_tokens: int | None) -> AsyncGenerator[StreamEvent, None]:
        """The reply split into answer text and tool calls (see :class:`_ToolReply`).

        When a call is required (``tool_choice`` required or named) and re-asks remain, the
        reply is held back until it has a valid call; if it ends without one, the model is
        shown its reply and what was wrong, and asked again. Status events pass at once.
        """
        chat, reasks = job.chat, 0
        required = chat.tool_choice != "auto"
        while True:
            reply = _ToolReply(chat, stop, max_tokens)
            guard = required and reasks < job.tool_reasks
            held: list[StreamEvent] = []
            final: Finished | None = None
            async with aclosing(self._stream_job(job)) as events:
                async for event in events:
                    if isinstance(event, TextDelta):
                        out = reply.take(reply.parser.feed(event))
                    elif isinstance(event, Finished):
                        out, final = reply.finish(), event
                    else:
                        yield event
                        continue
                    if guard and reply.problem() is not None and not reply.cut:
                        held += out
                        continue
                    for item in (*held, *out):
                        yield item
                    held = []
                    if reply.cut:
                        break  # leaving ``aclosing`` cancels the job on the Space
            problem = reply.problem() if required else None
            if guard and problem is not None and not reply.cut:
                assert final is not None
                reasks += 1
                chat = replace(chat, history=(*chat.history, ("user", chat.query),
                                              ("assistant", reply.parser.raw)),
                               query=reask_message(chat.tool_choice, problem))
                job = replace(job, chat=chat)
                continue
            for item in held:
                yield item
            yield reply.finished(final, job, reasks)
            return

    # -- the job, with retries ----------------------------------------------------------
    async def _stream_job(self, job: ChatJob) -> AsyncGenerator[StreamEvent, None]:
        spec = job.choice.spec
        # Remote images are the caller's input: fetched once, before (not inside) retries.
        images = [await self._fetch_image(img, spec) for img in job.chat.images]
        attempt = 0
        rediscovered = False
        lost = False  # the Space dropped a session we continued: start afresh
        waking = _Waking() if _has_runtime(job) else None
        while True:
            answered = False
            api = None
            session: SpaceSession | None = None
            try:
                api = await self._discover(spec, job.base_url, job.token_host)
                chat, expect = job.chat, None
                if spec.turn == "session":
                    session, chat, expect = self._open_session(job, reuse=not lost)
                    await self._set_thinking(api, job, session)
                files = await self._upload_all(api, job, images) if images else []
                data = build_inputs(api, chat, files, spec)
                session_hash = session.session_hash if session else secrets.token_hex(6)
                if api.prelude is not None:
                    await self._call_step(api, api.prelude, job, session_hash,
                                          step_inputs(api.prelude, chat, api, spec))
                run = self._run_once(api, data, job, session_hash=session_hash,
                                     expect_users=expect)
                if spec.think_tags or spec.answer_end:  # what the caller sees, all along
                    run = shape_reply(run, think_tags=spec.think_tags,
                                      answer_end=spec.answer_end)
                async with aclosing(run) as events:
                    async for event in events:
                        kind = type(event)
                        if kind is TextDelta or kind is ReasoningDelta:
                            answered = True
                        elif session is not None and kind is Finished:
                            event = self._keep_session(job, session, event)  # type: ignore[arg-type]
                        yield event
                return
            except SessionLostError:
                if answered or lost:
                    raise
                lost = True  # re-send the conversation flattened, on a fresh session
                continue
            except SpaceError as exc:
                if waking is not None and waking.hub_stage and \
                        isinstance(exc, SpaceUnavailableError) and exc.status is not None:
                    exc.stage = waking.hub_stage  # the Hub's word this call, not a guess
                if not answered and waking is not None and waking.applies(exc, api):
                    async for event in self._await_space(job, exc, waking):
                        yield event
                    if waking.retry:
                        continue
                if (not answered and not rediscovered and api is not None
                        and api.source == "config" and _stale_api(exc)):
                    # The Space restarted or changed since we read its /config (a pinned
                    # root gone, new ids): read it again, once, and retry right away.
                    self._apis.pop((spec.name, job.base_url), None)
                    rediscovered = True
                    continue
                if answered or attempt >= self.max_retries or not _should_retry(exc):
                    raise
                attempt += 1
                delay = min(8.0, self.retry_backoff * 2 ** (attempt - 1))
                await asyncio.sleep(delay * (0.5 + random.random()))

    # -- a Space that is not serving: ask the Hub, wait for it to wake --------------------
    async def _await_space(self, job: ChatJob, exc: SpaceError,
                           waking: _Waking) -> AsyncGenerator[StreamEvent, None]:
        """The Space answered an error page (or nothing) instead of its app: ask the Hub
        for its stage, which ``exc.stage`` then holds. A stage that does not end by waiting
        raises at once; a sleeping or starting Space is waited for (``SpaceWaking`` events,
        polls backing off from 1 s to 5 s) until it runs (``waking.retry``: call it again)
        or ``wake_timeout`` has passed. A running Space, or a Hub that cannot be asked,
        leaves ``exc`` to the usual retry rules."""
        loop = asyncio.get_running_loop()
        waking.retry = False
        if waking.started is None:
            waking.started = loop.time()
        space = job.choice.spec.space_id
        while True:
            try:
                runtime = await self._runtime(job)
            except SpaceError as hub_exc:
                if not waking.waited:
                    waking.done = True  # asked once per call; the Space's error stands
                    if exc.args:
                        exc.args = (f"{exc.args[0]} (the Hub could not say why: "
                                    f"{str(hub_exc).split(': ', 1)[-1]})", *exc.args[1:])
                    return
                runtime = None  # mid-wait: a Hub blip is waited out like a slow start
            stage = runtime.stage if runtime is not None else waking.stage or "UNKNOWN"
            kind = runtime.kind if runtime is not None else "starting"
            waking.hub_stage = stage
            if isinstance(exc, SpaceUnavailableError):
                exc.stage = stage
            if kind == "failed":
                err = SpaceUnavailableError(
                    f"{space} {stage_advice(stage)}", space=space, stage=stage,
                    status=getattr(exc, "status", None))
                err.retryable = False
                raise err from None
            if kind == "running" and not waking.waited:
                waking.done = True  # it runs: the error is not about its stage
                return
            elapsed = loop.time() - waking.started
            if elapsed >= self.wake_timeout:
                err = SpaceUnavailableError(
                    f"{space} is still {stage} after waiting {elapsed:.0f} s for it to start "
                    f"(wake_timeout={self.wake_timeout:g}); try again later, raise "
                    "wake_timeout, or use another model (fallback_models=)", space=space,
                    stage=stage, status=getattr(exc, "status", None))
                err.retryable = False
                raise err from None
            if kind == "running" and not waking.running_seen:
                waking.running_seen = True  # up: ask the Space again at once
                waking.retry = True
                return
            waking.waited, waking.stage = True, stage
            yield SpaceWaking(runtime.space_id if runtime else space, stage, elapsed,
                              self.wake_timeout)
            await asyncio.sleep(min(waking.next_pause(), self.wake_timeout - elapsed))
            if kind == "running":
                waking.retry = True  # running, yet it answered a page: ask again, slowly
                return

    async def _runtime(self, job: ChatJob) -> SpaceRuntime:
        """The Hub's word on the job's Space: the one named ``space_id=``, the catalog's for
        its own URL, or the one serving a ``*.hf.space`` host (looked up once)."""
        spec = job.choice.spec
        if job.space_id or job.base_url == spec.url:
            return await self.hub.runtime(spec.space_id)
        sub = subdomain_of(job.base_url)
        assert sub is not None, "only called when _has_runtime(job)"
        known = self._subdomains.get(sub)
        if known is not None:
            return await self.hub.runtime(known)
        runtime = await self.hub.by_subdomain(sub)
        self._subdomains[sub] = runtime.space_id
        return runtime

    # -- Space sessions (conversation kept in gr.State) ---------------------------------
    def _open_session(self, job: ChatJob, *, reuse: bool,
                      ) -> tuple[SpaceSession, PreparedChat, int | None]:
        """The session for this call, the chat to send on it, and the user turns the
        Space must show once it has the new message (None for a fresh session)."""
        chat = job.chat
        session = self.sessions.take(_space_key(job), chat.history) if reuse else None
        if session is not None:
            return session, replace(chat, history=()), session.turns + 1
        flat = replace(chat, query=flatten(chat.history, chat.query), history=())
        return SpaceSession.fresh(), flat, None

    def _keep_session(self, job: ChatJob, session: SpaceSession, final: Finished) -> Finished:
        """Remember the session under the transcript the caller now has (given back before
        ``Finished`` is yielded: a consumer may stop reading right there)."""
        chat = job.chat
        continued = bool(session.turns)
        session.transcript = (*chat.history, ("user", chat.query), ("assistant", final.text))
        session.turns += 1
        self.sessions.give_back(_space_key(job), session)
        return replace(final, extra={**final.extra,
                                     "space_session": "continued" if continued else "new"})

    async def _set_thinking(self, api: SpaceAPI, job: ChatJob, session: SpaceSession) -> None:
        """Flip the session's thinking switch until it is what the call asks for (None:
        the Space's default, on). The switch answers with its new state; trust that."""
        wanted = job.chat.thinking if job.chat.thinking is not None else True
        for _ in range(2):
            if session.thinking == wanted:
                return
            switch = api.thinking_switch
            if switch is None:
                raise SpaceProtocolError(f"{api.space} has no thinking switch any more; "
                                         "update qwen-spaces or report it", space=api.space)
            out = await self._call_step(api, switch, job, session.session_hash, [None])
            state = out[0] if isinstance(out, list) and out else None
            if isinstance(state, dict) and isinstance(state.get("enable_thinking"), bool):
                session.thinking = state["enable_thinking"]
            else:
                session.thinking = not session.thinking
        if session.thinking != wanted:
            raise SpaceProtocolError(f"{api.space}: the thinking switch did not turn "
                                     f"thinking {'on' if wanted else 'off'}", space=api.space)

    async def _call_step(self, api: SpaceAPI, step: StepAPI, job: ChatJob, session_hash: str,
                         data: list[Any]) -> Any:
        """One helper listener, not queued, on the session (``/run/predict``, as the
        Space's page calls it); returns its output data."""
        body = await self.transport.request_json(
            "POST", api.url("run/predict"), space=api.space, token_host=job.token_host,
            what=f"listener {step.fn_index}",
            json_body={"data": data, "event_data": None, "fn_index": step.fn_index,
                       "trigger_id": step.trigger_id, "session_hash": session_hash})
        if not isinstance(body, dict) or not isinstance(body.get("data"), list):
            error = body.get("error") if isinstance(body, dict) else None
            raise SpaceProtocolError(
                f"{api.space}: listener {step.fn_index} answered "
                f"{str(error or body)[:120]!r} instead of its outputs", space=api.space)
        return body["data"]

    async def _run_once(self, api: SpaceAPI, data: list[Any], job: ChatJob, *,
                        session_hash: str, expect_users: int | None = None,
                        ) -> AsyncGenerator[StreamEvent, None]:
        space, host = api.space, job.token_host
        proto = JobProtocol(api, model=job.choice.model_name,
                            placeholders=job.choice.spec.placeholders, expect_users=expect_users)
        if api.use_queue:
            path, stream_url = "queue/join", api.url("queue/data")
            payload: dict[str, Any] = {"data": data, "event_data": None,
                                       "fn_index": api.fn_index, "trigger_id": api.trigger_id,
                                       "session_hash": session_hash}
            params: dict[str, str] | None = {"session_hash": session_hash}
        else:
            path, stream_url, payload = f"call/{api.api_name}", None, {"data": data}
            params = None
        try:
            joined = await self.transport.request_json(
                "POST", api.url(path), space=space, token_host=host, what=f"/{path}",
                json_body=payload)
        except SpaceError as exc:
            # Sent, and still unanswered when the timeout expired: the job may be queued on
            # the Space without an event id to cancel it by, so joining again could run it
            # twice. Never retry that.
            if exc.unanswered:
                exc.retry_safe = False
            raise
        event_id = joined.get("event_id") if isinstance(joined, dict) else None
        if not isinstance(event_id, str):
            raise SpaceProtocolError(f"{space}: the join answer has no event_id", space=space)
        proto.event_id = event_id
        if stream_url is None:
            stream_url = api.url(f"call/{api.api_name}/{event_id}")
            session_hash = event_id  # a /call job's session is its event id

        resp = None
        # From here on, leaving early for any reason cancels the joined job: from a detached
        # task (the caller's own cancellation returns at once), or at loop shutdown if this
        # generator is never closed (see qwen_spaces.loops).
        open_job = loops.open_job(
            functools.partial(self._cancel, api, session_hash, event_id, host))
        try:
            resp = await self.transport.open(
                "GET", stream_url, space=space, token_host=host, params=params,
                timeout=self.transport.timeout(
                    read=_stream_read_limit(self.transport.timeouts.idle)),
                extra_headers={"Accept": "text/event-stream"})
            open_job.response = resp
            ctype = resp.headers.get("Content-Type", "")
            if resp.status != 200 or "text/event-stream" not in ctype:
                body = await resp.read()
                check_status(resp.status, ctype, body, space=space, what="the event stream")
                raise SpaceProtocolError(f"{space}: the event stream is not text/event-stream "
                                         f"({ctype or 'no content type'})", space=space)
            async for event in self._read(resp, proto, api):
                yield event
        finally:
            if proto.completed:
                loops.job_done(open_job)
            else:
                loops.cancel_job(open_job)
            if resp is not None:
                resp.release()

    async def _read(self, resp: aiohttp.ClientResponse, proto: JobProtocol,
                    api: SpaceAPI) -> AsyncGenerator[StreamEvent, None]:
        loop = asyncio.get_running_loop()
        deadline = loop.time() + self.transport.timeouts.queue
        decoder = SSEDecoder()
        chunks = resp.content.iter_any().__aiter__()
        queue_mode = api.use_queue
        space = api.space
        idle = self.transport.timeouts.idle
        silence = idle  # the limit the last wait ran under, for the message
        first = True  # no words passed on yet
        while True:
            try:
                if proto.started:
                    # The socket's own read limit is never below the heartbeat gap (so a
                    # queued job is not cut); a shorter ``idle`` is applied here.
                    silence = idle
                    if idle < _stream_read_limit(idle):
                        chunk = await asyncio.wait_for(chunks.__anext__(), idle)
                    else:
                        chunk = await chunks.__anext__()
                else:
                    silence = _stream_read_limit(idle)
                    remaining = deadline - loop.time()
                    if remaining <= 0:
                        raise asyncio.TimeoutError
                    chunk = await asyncio.wait_for(chunks.__anext__(), remaining)
            except StopAsyncIteration:
                chunk = b""
            except asyncio.TimeoutError:
                if not proto.started and loop.time() >= deadline - 0.01:
                    raise SpaceTimeoutError(
                        f"{space}: still queued after {self.transport.timeouts.queue:g}s; the "
                        "Space is busy. Try again later or raise the queue timeout.",
                        space=space, phase="queue") from None
                raise SpaceTimeoutError(
                    f"{space}: the stream went silent for {silence:g}s "
                    "(no data, no heartbeat); the Space may have stalled. Try again.",
                    space=space, phase="idle") from None
            except aiohttp.ClientError as exc:
                raise SpaceUnavailableError(
                    f"{space}: the connection dropped mid-stream ({type(exc).__name__}); "
                    "try again", space=space) from None
            events: list[StreamEvent] = []
            if queue_mode:
                payloads = decoder.feed_data(chunk) if chunk else decoder.flush_data()
                # The run of answer (or reasoning) text being gathered, one delta per run.
                pieces: list[str] = []
                kind: type[TextDelta] | type[ReasoningDelta] = TextDelta
                at = 0
                while at < len(payloads):
                    # The common frames: one token each, recognised by their bytes (no parse,
                    # no event object), the answer's or the reasoning's; then the frame
                    # neither takes, parsed.
                    piece, at = proto.append_frames(payloads, at)
                    if piece is not None:
                        if proto.channel is not kind:
                            if pieces:
                                events.append(kind("".join(pieces)))
                                pieces = []
                            kind = proto.channel
                        pieces.append(piece)
                        continue  # the other channel's shape may take the next frame
                    payload, payloads[at] = payloads[at], b""  # drop it once parsed (MBs)
                    at += 1
                    try:
                        msg = loads(payload)
                    except ValueError:
                        raise SpaceProtocolError(
                            f"{space}: malformed JSON in the event stream", space=space) from None
                    piece = proto.append_text(msg, payload)
                    if piece is not None and proto.channel is kind:
                        pieces.append(piece)
                    else:
                        if pieces:
                            events.append(kind("".join(pieces)))
                            pieces = []
                        if piece is None:
                            events += proto.handle(msg)
                            if proto.completed:
                                break
                        else:
                            kind = proto.channel
                            pieces.append(piece)
                    if first and (any(pieces) or _answers(events)):
                        # The first words go out at once, not after the rest of the read;
                        # then the other jobs on this loop get theirs out before this one
                        # parses on (one loop turn, once per job).
                        first = False
                        if pieces:
                            events.append(kind("".join(pieces)))
                            pieces = []
                        for event in _coalesce(events) if len(events) > 1 else events:
                            yield event
                        events = []
                        await asyncio.sleep(0)
                if pieces:
                    events.append(kind("".join(pieces)))
            else:
                for name, data in decoder.feed_events(chunk) if chunk \
                        else decoder.flush_events():
                    events += proto.call_frame(name, data)
                    if proto.completed:
                        break
                    if first and _answers(events):
                        first = False
                        for event in _coalesce(events) if len(events) > 1 else events:
                            yield event
                        events = []
                        await asyncio.sleep(0)
            if len(events) > 1:
                events = _coalesce(events)
            if proto.completed:
                await self._drain(chunks, proto)
                for event in events:
                    yield event
                return
            for event in events:
                yield event
            if not chunk:
                raise SpaceUnavailableError(
                    f"{space}: the stream ended before the answer was complete; try again",
                    space=space)

    async def _drain(self, chunks: Any, proto: JobProtocol) -> None:
        """Read to the end of the response (close_stream follows at once on sse_v3 and
        /call) so the connection goes back to the pool instead of being dropped."""
        if proto.api.use_queue and proto.api.protocol != "sse_v3":
            return  # sse_v1/v2 servers never end the stream themselves
        loop = asyncio.get_running_loop()
        deadline = loop.time() + 2.0  # for the whole drain: never hold the answer longer
        try:
            while True:
                await asyncio.wait_for(chunks.__anext__(), max(0.0, deadline - loop.time()))
        except (StopAsyncIteration, asyncio.TimeoutError, aiohttp.ClientError):
            return

    async def _cancel(self, api: SpaceAPI, session_hash: str, event_id: str,
                      host: str | None) -> None:
        """Tell the Space to stop (dropping the stream also frees the slot). Run by
        :func:`qwen_spaces.loops.cancel_job`, which bounds it and swallows its errors."""
        await self.transport.request_json(
            "POST", api.url("cancel"), space=api.space, token_host=host, what="cancel",
            json_body={"session_hash": session_hash, "fn_index": api.fn_index,
                       "event_id": event_id}, timeout=loops.CANCEL_TIMEOUT)

    # -- discovery ----------------------------------------------------------------------
    async def _discover(self, spec: SpaceSpec, base_url: str, host: str | None) -> SpaceAPI:
        key = (spec.name, base_url)
        api = self._apis.get(key)
        if api is not None:
            return api
        locks = self._locks.setdefault(asyncio.get_running_loop(), {})
        async with locks.setdefault(key, asyncio.Lock()):
            api = self._apis.get(key)
            if api is None:
                api = await self._fetch_api(spec, base_url, host)
                if api.source == "config":
                    self._apis[key] = api
        return api

    async def _fetch_api(self, spec: SpaceSpec, base_url: str, host: str | None) -> SpaceAPI:
        space = spec.space_id
        try:
            resp = await self.transport.open(
                "GET", f"{base_url}/config", space=space, token_host=host,
                timeout=self.transport.timeout(total=self.transport.timeouts.request))
        except (SpaceUnavailableError, SpaceTimeoutError) as exc:
            # The first contact with a host: a stale env setting is the usual cause.
            if base_url in self._env_hosts and exc.args:
                exc.args = (f"{exc.args[0]}; that address came from ${BASE_URLS_ENV}",
                            *exc.args[1:])
            raise
        try:
            body = await resp.read()
            status, ctype = resp.status, resp.headers.get("Content-Type", "")
        except asyncio.TimeoutError:
            raise SpaceTimeoutError(f"{space}: /config timed out", space=space,
                                    phase="request") from None
        except aiohttp.ClientError as exc:
            raise SpaceUnavailableError(f"{space}: connection dropped reading /config "
                                        f"({type(exc).__name__}); try again", space=space) from None
        finally:
            resp.release()
        if status != 404:
            check_status(status, ctype, body, space=space, what="/config")
        try:
            config = json.loads(body)
        except ValueError:
            config = None
        if not isinstance(config, dict) or "dependencies" not in config:
            return pinned_api(spec, base_url)  # not a usable Gradio config: trust the catalog
        return parse_config(spec, base_url, config)

    # -- images -------------------------------------------------------------------------
    async def _upload_all(self, api: SpaceAPI, job: ChatJob,
                          images: list[ImageData]) -> list[dict[str, Any]]:
        limit = api.max_file_size
        form = aiohttp.FormData()
        for img in images:
            if limit is not None and len(img.data) > limit:
                raise ValueError(f"image {img.name} is {len(img.data)} bytes; {api.space} "
                                 f"accepts at most {limit}")
            form.add_field("files", img.data, filename=img.name, content_type=img.mime_type)
        paths = await self.transport.request_json(
            "POST", api.url("upload"), space=api.space, token_host=job.token_host,
            what="the image upload", data=form, params={"upload_id": secrets.token_hex(6)})
        if not isinstance(paths, list) or len(paths) != len(images):
            raise SpaceProtocolError(f"{api.space}: the upload answer lists {paths!r:.80}",
                                     space=api.space)
        return [{"path": p, "orig_name": img.name, "mime_type": img.mime_type,
                 "size": len(img.data), "meta": {"_type": "gradio.FileData"}}
                for p, img in zip(paths, images, strict=True)]

    async def _fetch_image(self, img: ImageSource, spec: SpaceSpec) -> ImageData:
        """Download an image URL; ValueError if unusable.

        Never with the token or the extra headers (they belong to the Space's origin).
        Redirects to other hosts are followed (Hub ``resolve`` links go to a CDN), never
        from https to http; the size cap holds for the final body and the request timeout
        for the whole fetch, redirects included.
        """
        if isinstance(img, ImageData):
            return img
        assert isinstance(img, RemoteImage)
        shown = mask_url(img.url)[:100]
        try:
            data = await asyncio.wait_for(self._download_image(img.url, shown, spec),
                                          self.transport.timeouts.request)
        except asyncio.TimeoutError:
            raise ValueError(f"fetching the image at {shown} timed out after "
                             f"{self.transport.timeouts.request:g}s") from None
        mime, w, h = inspect_image(data)
        name = urlsplit(img.url).path.rsplit("/", 1)[-1] or "image"
        return ImageData(data, mime, w, h, name)

    async def _download_image(self, url: str, shown: str, spec: SpaceSpec) -> bytes:
        limit = spec.max_image_bytes
        try:
            resp = await self.transport.open(
                "GET", url, space=spec.space_id, token_host=None, redirects="any-host",
                timeout=self.transport.timeout(total=self.transport.timeouts.request))
        except SpaceTimeoutError:
            raise asyncio.TimeoutError from None
        except SpaceError as exc:
            raise ValueError(f"fetching the image at {shown} failed: "
                             f"{str(exc).split(': ', 1)[-1]}") from None
        try:
            if resp.status != 200:
                raise ValueError(f"image URL {shown} answered HTTP {resp.status}")
            if (resp.content_length or 0) > limit:
                raise ValueError(f"image at {shown} is {resp.content_length} bytes; "
                                 f"the limit is {limit}")
            data = bytearray()
            async for chunk in resp.content.iter_chunked(65536):
                data += chunk
                if len(data) > limit:
                    raise ValueError(f"image at {shown} exceeds the limit of {limit} bytes")
        except asyncio.TimeoutError:
            raise  # the caller says "timed out"
        except aiohttp.ClientError as exc:
            raise ValueError(f"fetching the image at {shown} failed: "
                             f"{type(exc).__name__}") from None
        finally:
            resp.release()
        return bytes(data)


class _ToolReply:
    """One reply on its way through the tool-call parser, then ``stop`` / ``max_tokens``
    (which apply to the answer text, never to the markup of a call), then the one-call rule
    (``parallel_tool_calls=False`` keeps the first valid call, or the first call to a named
    ``tool_choice``; an invalid call is reported only when no call is kept)."""

    def __init__(self, chat: PreparedChat, stop: Sequence[str] | None,
                 max_tokens: int | None) -> None:
        self.parser = ToolCallParser([t.name for t in chat.tools])
        self.limiter = ReplyLimiter(stop, max_tokens)
        self.choice = chat.tool_choice
        self.one = not chat.parallel_tool_calls
        self.shown: set[int] = set()   # indexes of the calls passed on
        self.cut = False

    def take(self, events: Sequence[StreamEvent]) -> list[StreamEvent]:
        out: list[StreamEvent] = []
        for event in events:
            if self.cut:
                break
            if isinstance(event, TextDelta) and self.limiter.active:
                piece = self.limiter.feed(event)
                if piece is not None:
                    out.append(piece)
                self.cut = self.limiter.finish_reason is not None
                continue
            if isinstance(event, ToolCallDelta):
                if event.name is not None:
                    if self.one and (self.shown or not self._wanted(event.name)):
                        continue
                    self.shown.add(event.index)
                elif event.index not in self.shown:
                    continue
            elif isinstance(event, InvalidToolCall):
                if self.one:
                    continue  # reported by :meth:`finish` if no call is kept
                self.shown.add(event.index)
            out.append(event)
        return out

    def finish(self) -> list[StreamEvent]:
        out = self.take(self.parser.finish())
        if self.limiter.active and not self.cut:
            piece = self.limiter.flush()
            if piece is not None:
                out.append(piece)
        if self.one and not self.shown and self.parser.invalid and not self.cut:
            first = self.parser.invalid[0]
            self.shown.add(first.index)
            out.append(first)
        return out

    def _wanted(self, name: str) -> bool:
        return not isinstance(self.choice, NamedChoice) or name == self.choice.name

    def problem(self) -> str | None:
        return self.parser.problem(self.choice)

    def finished(self, final: Finished | None, job: ChatJob, reasks: int) -> Finished:
        """The reply's ``Finished``: answer text, the calls passed on, and why it ended."""
        if final is None:  # cut by stop / max_tokens
            final = Finished(text="", finish_reason=self.limiter.finish_reason or "stop",
                             model=job.choice.model_name, space_id=job.choice.spec.space_id)
        calls = tuple(c for c in self.parser.calls if c.index in self.shown)
        invalid = tuple(c for c in self.parser.invalid if c.index in self.shown)
        text = self.limiter.text[:self.limiter.sent] if self.limiter.active \
            else self.parser.content
        reason = self.limiter.finish_reason or ("tool_calls" if calls else final.finish_reason)
        extra = {**final.extra, "raw_text": self.parser.raw}
        if reasks:
            extra["tool_reasks"] = reasks
        return replace(final, text=text, finish_reason=reason, extra=extra, tool_calls=calls,
                       invalid_tool_calls=invalid)


class ClientCache:
    """The :class:`SpaceClient` of an adapter object, one per configuration.

    Adapters are configuration objects that users copy and change (``model_copy(update=…)``,
    attribute assignment, ``copy.deepcopy``), so the client is keyed on the configuration it
    was made from and made again when that changes: a copy pointed at another host or
    token must not keep talking to the old one. Copies and pickles start empty, since a
    client holds per-loop locks. It holds no connection itself (sessions are per loop).
    """

    __slots__ = ("_client", "_key")

    def __init__(self) -> None:
        self._client: SpaceClient | None = None
        self._key: tuple[Any, ...] | None = None

    def get(self, **config: Any) -> SpaceClient:
        """The client for ``config`` (:class:`SpaceClient`'s keyword arguments)."""
        key = tuple(sorted((k, _hashable(v)) for k, v in config.items()))
        if self._client is None or key != self._key:
            self._client, self._key = SpaceClient(**config), key
        return self._client

    def __copy__(self) -> ClientCache:
        return ClientCache()

    def __deepcopy__(self, memo: dict[int, Any]) -> ClientCache:
        return ClientCache()

    def __reduce__(self) -> tuple[type[ClientCache], tuple[()]]:
        return ClientCache, ()

    def __repr__(self) -> str:
        return "ClientCache()"


def _hashable(value: Any) -> Any:
    getter = getattr(value, "get_secret_value", None)
    if callable(getter):
        return ("secret", getter())
    if isinstance(value, Mapping):
        return tuple(sorted((str(k), _hashable(v)) for k, v in value.items()))
    if isinstance(value, list | tuple):
        return tuple(_hashable(v) for v in value)
    return value


async def _final(stream: AsyncGenerator[StreamEvent, None]) -> Finished:
    async with aclosing(stream) as events:
        async for event in events:
            if isinstance(event, Finished):
                return event
    raise SpaceProtocolError("the stream ended without an answer")


def _answers(events: list[StreamEvent]) -> bool:
    """Whether ``events`` hold words of the answer or of its reasoning."""
    return any((type(event) is TextDelta or type(event) is ReasoningDelta) and event.text
               for event in events)


def _coalesce(events: list[StreamEvent]) -> list[StreamEvent]:
    """One ``TextDelta`` per run of text, and one ``ReasoningDelta`` per run of reasoning,
    that arrived in one network read.

    At a Space's real pace a read holds one token, so nothing changes; when frames pile up
    (a fast server, a busy consumer) they pass on as one piece instead of a queue of tiny
    ones, each costing every layer above (adapters, callbacks) its per-chunk overhead. The
    first words of a job are not held back for this: they go out as soon as they are parsed.
    A delta that rewrites (``replaced``) is passed on as it is, between runs.
    """
    out: list[StreamEvent] = []
    run: list[str] = []
    kind: type[TextDelta] | type[ReasoningDelta] = TextDelta
    for event in events:
        if (type(event) is TextDelta or type(event) is ReasoningDelta) \
                and not event.replaced:
            if run and type(event) is not kind:
                out.append(kind("".join(run)))
                run = []
            kind = type(event)
            run.append(event.text)
            continue
        if run:
            out.append(kind("".join(run)))
            run = []
        out.append(event)
    if run:
        out.append(kind("".join(run)))
    return out


def _model(job: ChatJob) -> str:
    return job.choice.model_name


def _chain(model: str, fallback_models: Sequence[str] | None) -> list[str]:
    """``model`` then its fallbacks, each once, in order."""
    if fallback_models is None:
        return [model]
    if isinstance(fallback_models, str) or not all(
            isinstance(m, str) and m.strip() for m in fallback_models):
        raise ValueError("fallback_models must be a list of model names, e.g. "
                         "[\"qwen-2.5\", \"qwen-2-72b\"]")
    names: list[str] = []
    for name in (model, *(m.strip() for m in fallback_models)):
        if name not in names:
            names.append(name)
    return names


def _next_model(steps: Sequence[tuple[ChatJob | Unfit, str | None]],
                start: int) -> str | None:
    """The model a failover call asks next: the next fit one in the chain, else the first
    recently failed one it falls back to (those follow the chain in ``steps``)."""
    for cand, _passed_over in steps[start:]:
        if isinstance(cand, ChatJob):
            return _model(cand)
    return None


def _with_failover(final: Finished, job: ChatJob,
                   skipped: Sequence[tuple[str, str, str, SpaceError | None]]) -> Finished:
    """``extra["failover"]``: which model answered, and why each one before it did not."""
    info = {"model": _model(job), "space_id": job.choice.spec.space_id,
            "skipped": [{"model": m, "space_id": sid, "reason": reason, "asked": e is not None}
                        for m, sid, reason, e in skipped]}
    return replace(final, extra={**final.extra, "failover": info})


def _space_key(job: ChatJob) -> tuple[str, str]:
    """Sessions are remembered per Space and host."""
    return job.choice.spec.name, job.base_url


def build_inputs(api: SpaceAPI, chat: PreparedChat, files: list[dict[str, Any]],
                 spec: SpaceSpec) -> list[Any]:
    """One value per live input, in the live order (``None`` for ``gr.State`` slots). On a
    two-step Space the history ends with the new turn, not yet answered."""
    open_turn = spec.turn == "two_step"
    return [_input_value(role, api, chat, files, spec, open_turn) for role in api.input_roles]


def step_inputs(step: StepAPI, chat: PreparedChat, api: SpaceAPI, spec: SpaceSpec) -> list[Any]:
    """A prelude's inputs: the message box and the history before the new turn."""
    return [_input_value(role, api, chat, [], spec, False) for role in step.input_roles]


def _input_value(role: str | None, api: SpaceAPI, chat: PreparedChat,
                 files: list[dict[str, Any]], spec: SpaceSpec, open_turn: bool) -> Any:
    if role == "query":
        return chat.query
    if role == "history":
        turns = (*chat.history, ("user", chat.query)) if open_turn else chat.history
        return encode_history(turns, api.history_format, api.history_item)
    if role == "system":
        return chat.system or ""
    if role == "variant":
        return chat.variant or spec.default_variant
    if role == "image":
        return files[0] if files else None
    if role == "message":
        return {"files": [], "text": chat.query}
    if role == "settings":
        return {"model": chat.variant or spec.default_variant,
                "sys_prompt": chat.system or spec.default_system or "",
                "thinking_budget": budget_units(spec, chat.thinking_budget)}
    return None


def _has_runtime(job: ChatJob) -> bool:
    """Whether the Hub can be asked about the job's Space (see :meth:`SpaceClient._runtime`)."""
    return bool(job.space_id or job.base_url == job.choice.spec.url
                or subdomain_of(job.base_url))


class _Waking:
    """One call's wait for its Space to come up."""

    __slots__ = ("done", "hub_stage", "pause", "retry", "running_seen", "stage", "started",
                 "waited")

    def __init__(self) -> None:
        self.started: float | None = None
        self.done = False           # the Hub was asked and the Space's error stands
        self.waited = False         # a stage other than running was seen
        self.running_seen = False   # ... and then running
        self.retry = False          # ask the Space again now
        self.stage: str | None = None
        self.hub_stage: str | None = None  # the last stage the Hub gave this call
        self.pause = WAKE_POLL[0]

    def applies(self, exc: SpaceError, api: SpaceAPI | None) -> bool:
        """An error page from the Space (any HTTP status), or no answer to its first
        request: what a Space that is not serving gives."""
        if self.done:
            return False
        if isinstance(exc, SpaceUnavailableError):
            return exc.status is not None or self.waited
        return isinstance(exc, SpaceTimeoutError) and api is None and \
            exc.phase in ("request", "connect")

    def next_pause(self) -> float:
        pause = self.pause
        self.pause = min(WAKE_POLL[1], self.pause * 1.5)
        return pause


#: Seconds between the Hub polls while a Space wakes: the first, and the most (the JS
#: client polls every 1 s, gradio_client every 2 s).
WAKE_POLL = (1.0, 5.0)


def _stream_read_limit(idle: float) -> float:
    """The socket read limit on an event stream: Gradio sends a heartbeat every 15 s while a
    job waits in the queue, so a shorter limit would cut a healthy queued job."""
    return max(idle, HEARTBEAT_SLACK)


#: Seconds of silence a healthy queued stream can show (Gradio's heartbeat is every 15 s).
HEARTBEAT_SLACK = 20.0


def _stale_api(exc: SpaceError) -> bool:
    """Errors that a changed Space gives a client holding its old API: a path or id that is
    gone (404), inputs it no longer accepts (HTTP 422 / 400 are protocol errors), or frames
    that do not fit."""
    if isinstance(exc, SpaceUnavailableError):
        return exc.status == 404 and exc.retry_safe
    return isinstance(exc, SpaceProtocolError) and exc.retry_safe


def _should_retry(exc: SpaceError) -> bool:
    # ``retryable`` is also set per instance (refused redirects, proxy 4xx answers);
    # ``retry_safe`` is False for a join that may have queued the job.
    if not exc.retryable or not exc.retry_safe:
        return False
    if isinstance(exc, SpaceTimeoutError):
        return exc.phase in ("connect", "request")
    if isinstance(exc, SpaceUnavailableError):
        return exc.stage not in _NO_RETRY_STAGES and exc.status != 404
    return isinstance(exc, QueueFullError)
