"""``ChatQwenSpaces``: the Qwen chat Spaces as a LangChain chat model.

A thin map from LangChain messages onto ``qwen_spaces`` turns; streaming, errors, retries,
cancellation, images and the sync bridge are the core's.
"""

from __future__ import annotations

import base64
import binascii
from collections.abc import AsyncIterator, Callable, Iterator, Sequence
from contextlib import aclosing
from operator import itemgetter
from typing import Any, Literal

from langchain_core.callbacks import (
    AsyncCallbackManagerForLLMRun,
    BaseCallbackManager,
    CallbackManagerForLLMRun,
    adispatch_custom_event,
    dispatch_custom_event,
)
from langchain_core.callbacks.manager import ahandle_event, handle_event
from langchain_core.language_models import BaseChatModel, LangSmithParams, LanguageModelInput
from langchain_core.messages import (
    AIMessage,
    AIMessageChunk,
    BaseMessage,
    ChatMessage,
    HumanMessage,
    SystemMessage,
    ToolMessage,
)
from langchain_core.messages.tool import invalid_tool_call, tool_call, tool_call_chunk
from langchain_core.outputs import ChatGeneration, ChatGenerationChunk, ChatResult
from langchain_core.runnables import (
    Runnable,
    RunnableConfig,
    RunnableLambda,
    RunnableMap,
    RunnablePassthrough,
    ensure_config,
)
from langchain_core.tools import BaseTool
from langchain_core.utils.function_calling import convert_to_json_schema, convert_to_openai_tool
from langchain_core.utils.pydantic import is_basemodel_subclass
from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    PrivateAttr,
    SecretStr,
    field_serializer,
    model_validator,
)

from qwen_spaces import (
    Finished,
    InvalidToolCall,
    ProcessStarted,
    ProgressUpdate,
    QueuePosition,
    ReasoningDelta,
    SpaceClient,
    SpaceLog,
    SpaceSkipped,
    SpaceWaking,
    StreamEvent,
    TextDelta,
    Timeouts,
    ToolCall,
    ToolCallDelta,
    Turn,
    extract_json,
    resolve_model,
)
from qwen_spaces import sync as _sync
from qwen_spaces.auth import find_token, image_url_only, mask_url, masked_settings
from qwen_spaces.chat import check_thinking
from qwen_spaces.client import ChatJob, ClientCache
from qwen_spaces.hub import is_space_id
from qwen_spaces.transport import normalize_base_url

__all__ = ["STATUS_EVENT", "ChatQwenSpaces"]

#: Name of the LangChain custom event carrying queue position / start / progress / logs.
STATUS_EVENT = "qwen_spaces_status"
PROVIDER = "qwen_spaces"


def _default_token() -> SecretStr | None:
    """``$HF_TOKEN``, else the token ``hf auth login`` saved (``qwen_spaces.find_token``)."""
    token = find_token()
    return SecretStr(token) if token else None


class ChatQwenSpaces(BaseChatModel):
    """Chat with a Qwen Space (Qwen3, Qwen2.5, Qwen2.5-Max, -Coder, -1M, Qwen2-72B, QVQ-72B).

    Example:
        .. code-block:: python

            from langchain_qwen_spaces import ChatQwenSpaces

            llm = ChatQwenSpaces(model="qwen-2.5-max")
            for chunk in llm.stream("Write a haiku about queues"):
                print(chunk.content, end="")

    The Spaces take no sampling parameters: ``temperature`` is accepted (and traced) but
    not sent. ``stop`` and ``max_tokens`` are enforced client-side; when they cut the reply
    the Space's job is cancelled. Token counts are not reported (the Spaces do not give
    them), so ``usage_metadata`` stays empty rather than invented.

    Reasoning (Qwen3's thinking) never mixes into the answer: a streamed chunk carries it
    as ``additional_kwargs["reasoning_content"]`` with empty text, and ``invoke()``
    returns it there too; both show as ``reasoning`` blocks in ``content_blocks`` (and in
    ``content`` with ``output_version="v1"``). Earlier reasoning in the history is not
    sent back, as Qwen3's chat template drops it.

    Queue position, start, progress, Space logs (including ZeroGPU waits), a sleeping
    Space's wake-up (``kind="waking"``) and failover (``kind="failover"``) are
    dispatched as the custom event ``"qwen_spaces_status"``, wherever LangChain gives the
    model a callback manager (``invoke``, ``batch``, ``stream_events``) or a parent run.
    """

    model_config = ConfigDict(populate_by_name=True, arbitrary_types_allowed=True)

    model_name: str = Field(default="qwen-2.5-max", alias="model")
    """Catalog name or alias (``qwen-3[-32b]``, ``qwen-2.5[-7b]``, ``qwen-2.5-max``,
    ``qwen-2.5-coder``, ``qwen-2.5-1m``, ``qwen-2-72b``, ``qvq-72b``)."""
    base_url: str | None = None
    """Talk to this host instead of the catalog's Space (a replica, a duplicated Space)."""
    base_urls: dict[str, str] | None = None
    """Per-model hosts, used for ``fallback_models`` and when ``model=`` is overridden on a
    call."""
    fallback_models: list[str] | None = None
    """Failover: models asked in order when ``model`` cannot answer before its first token
    (asleep past ``wake_timeout``, paused, out of ZeroGPU quota, queue full, unreachable).
    Models that cannot take the request (images, tools, thinking) are skipped. The answer's
    ``response_metadata["failover"]`` says which model answered and why the others did not;
    a Space that failed is skipped by later calls for a cool-down (or until its quota is
    back). Nothing is retried after the first token."""
    space_id: str | None = None
    """The Hub Space behind ``base_url`` (``owner/name``), for a host the Hub cannot be
    asked about by its URL (a self-hosted copy): its stage is then read when it answers an
    error page, and errors name it."""
    wake_timeout: float = 300.0
    """Seconds to wait for a sleeping or starting Space to come up (progress is dispatched
    as ``"qwen_spaces_status"`` events of kind ``waking``)."""
    hf_token: SecretStr | None = Field(alias="api_key", default_factory=_default_token)
    """Hugging Face token, sent only to the Space's own origin. Default: ``$HF_TOKEN``, else
    the token saved by ``hf auth login`` (``$HF_TOKEN_PATH``, ``$HF_HOME/token``)."""
    timeout: float | None = 60.0
    """Seconds for connecting, each request, and each silence on the stream."""
    queue_timeout: float = 300.0
    """Seconds to wait in the Space's queue before the job starts."""
    max_retries: int = 2
    """Retries before the first token (full queue, connection errors, 5xx)."""
    proxy: str | None = Field(default=None, exclude=True, repr=False)
    """HTTP(S) proxy URL, credentials allowed (default: ``HTTPS_PROXY`` / ``HTTP_PROXY`` /
    ``NO_PROXY``). Shown masked in ``repr``; not serialised (``dumps``, ``model_dump``):
    pass it again when loading."""
    headers: dict[str, str] | None = Field(default=None, exclude=True, repr=False)
    """Extra HTTP headers for requests to the Space's own origin (never to image hosts).
    Their values are masked in ``repr`` and they are not serialised, like ``proxy``."""
    system_prompt: str | None = None
    """System prompt used when the messages carry none (else the Space's default)."""
    variant: str | None = None
    """Model size for Spaces that offer several (Qwen2.5: 72B … 0.5B; Qwen3: qwen3-32b …)."""
    thinking: bool | None = None
    """Qwen3's thinking switch: ``False`` answers at once, ``True`` thinks first (None: the
    Space's default, on). ``ValueError`` on a Space without one."""
    thinking_budget: int | None = None
    """Most tokens Qwen3 may think for (1000 to 38000; the Space counts thousands, so it is
    rounded up). None: the Space's default, the most."""
    streaming: bool = False
    """Stream internally even on ``invoke`` (fires ``on_llm_new_token`` per delta)."""
    temperature: float | None = None
    """Accepted for compatibility; the Spaces do not expose sampling settings."""
    max_tokens: int | None = None
    """Client-side cap on approximate tokens (words and punctuation marks)."""
    stop: list[str] | None = Field(default=None, alias="stop_sequences")
    """Client-side stop sequences; the reply is cut before the first one."""
    tool_reasks: int = 1
    """When ``tool_choice`` requires a call and the reply has none that is valid, show the
    model what was wrong and ask again this many times (0: never). The result's
    ``response_metadata["tool_reasks"]`` says when it happened."""

    _clients: ClientCache = PrivateAttr(default_factory=ClientCache)

    @model_validator(mode="after")
    def _check(self) -> ChatQwenSpaces:
        resolve_model(self.model_name, self.variant)
        if self.base_url is not None:
            normalize_base_url(self.base_url)
        if self.proxy is not None:
            normalize_base_url(self.proxy, what="proxy")
        for name, url in (self.base_urls or {}).items():
            resolve_model(name)
            normalize_base_url(url)
        if self.max_tokens is not None and self.max_tokens < 1:
            raise ValueError("max_tokens must be >= 1")
        for name in self.fallback_models or ():
            resolve_model(name)
        if self.space_id is not None and not is_space_id(self.space_id):
            raise ValueError(f"space_id must look like owner/name, got {self.space_id!r}")
        if not self.wake_timeout > 0:
            raise ValueError("wake_timeout must be > 0 seconds")
        check_thinking(resolve_model(self.model_name, self.variant), self.thinking,
                       self.thinking_budget)
        Timeouts.from_timeout(self.timeout, queue=self.queue_timeout)
        return self

    def __repr_args__(self) -> Iterator[tuple[str | None, Any]]:
        """Like pydantic's, with URL credentials and header values masked."""
        for name, value in super().__repr_args__():
            if name == "base_url" and value:
                value = mask_url(value)
            elif name == "base_urls" and value:
                value = {k: mask_url(v) for k, v in value.items()}
            yield name, value
        yield from masked_settings(self.proxy, self.headers)

    @field_serializer("base_url")
    def _mask_base_url(self, value: str | None) -> str | None:
        return mask_url(value) if value else value

    @field_serializer("base_urls")
    def _mask_base_urls(self, value: dict[str, str] | None) -> dict[str, str] | None:
        return {k: mask_url(v) for k, v in value.items()} if value else value

    def to_json(self) -> Any:
        """LangChain's ``dumpd``/``dumps``: the token as a secret reference (``HF_TOKEN``);
        ``proxy`` and ``headers`` left out; ``user:password@`` in base URLs masked."""
        data = super().to_json()
        kwargs = data.get("kwargs")
        if isinstance(kwargs, dict):
            if kwargs.get("base_url"):
                kwargs["base_url"] = mask_url(kwargs["base_url"])
            if kwargs.get("base_urls"):
                kwargs["base_urls"] = {k: mask_url(v) for k, v in kwargs["base_urls"].items()}
        return data

    # -- LangChain metadata -------------------------------------------------------------
    @property
    def _llm_type(self) -> str:
        return "qwen-spaces-chat"

    @property
    def _identifying_params(self) -> dict[str, Any]:
        return {"model_name": self.model_name, "variant": self.variant,
                "thinking": self.thinking, "thinking_budget": self.thinking_budget,
                "base_url": mask_url(self.base_url) if self.base_url else None,
                "system_prompt": self.system_prompt,
                "max_tokens": self.max_tokens, "stop": self.stop,
                "temperature": self.temperature}

    @classmethod
    def is_lc_serializable(cls) -> bool:
        return True

    @classmethod
    def get_lc_namespace(cls) -> list[str]:
        return ["langchain_qwen_spaces", "chat_models"]

    @property
    def lc_secrets(self) -> dict[str, str]:
        return {"hf_token": "HF_TOKEN"}

    def _get_ls_params(self, stop: list[str] | None = None, **kwargs: Any) -> LangSmithParams:
        params = LangSmithParams(
            ls_provider=PROVIDER, ls_model_name=kwargs.get("model", self.model_name),
            ls_model_type="chat")
        if self.temperature is not None:
            params["ls_temperature"] = self.temperature
        if (max_tokens := kwargs.get("max_tokens", self.max_tokens)) is not None:
            params["ls_max_tokens"] = max_tokens
        if stop := (stop or self.stop):
            params["ls_stop"] = stop
        return params

    # -- tools and structured output ----------------------------------------------------
    def bind_tools(
        self,
        tools: Sequence[dict[str, Any] | type | Callable[..., Any] | BaseTool],
        *,
        tool_choice: dict[str, Any] | str | bool | None = None,
        **kwargs: Any,
    ) -> Runnable[LanguageModelInput, AIMessage]:
        """Offer tools in Qwen's own format (the ``<tools>`` block in the system text).

        ``tool_choice``: ``"auto"`` (default), ``"none"``, ``"any"``/``"required"``, a tool
        name, or ``{"type": "function", "function": {"name": …}}``. The Spaces cannot
        constrain decoding, so a required call is asked for in the prompt, and a reply
        without one is answered with a correction and asked again (``tool_reasks``).
        ``parallel_tool_calls=False`` keeps only the reply's first call.
        """
        formatted = [convert_to_openai_tool(t) for t in tools]
        if tool_choice is not None:
            kwargs["tool_choice"] = tool_choice
        return super().bind(tools=formatted, **kwargs)

    def with_structured_output(  # type: ignore[override]
        self,
        schema: dict[str, Any] | type,
        *,
        method: Literal["function_calling", "json_schema", "json_mode"] = "function_calling",
        include_raw: bool = False,
        strict: bool | None = None,
        **kwargs: Any,
    ) -> Runnable[LanguageModelInput, dict[str, Any] | BaseModel]:
        """Structured output by tool call (default) or by prompt.

        ``function_calling`` offers the schema as the one tool and requires a call to it.
        ``json_schema`` asks for one JSON object conforming to the schema in the system
        text; ``json_mode`` asks for any JSON object (say in your prompt what it should
        hold). Both JSON methods read the first JSON value in the reply, inside code
        fences or prose if need be. ``include_raw=True`` returns ``{"raw", "parsed",
        "parsing_error"}``. ``strict`` is accepted for compatibility: the Spaces cannot
        constrain decoding, so a pydantic schema is validated after parsing instead.
        """
        if kwargs:
            raise ValueError(f"unsupported arguments: {', '.join(kwargs)}")
        if method == "function_calling":
            return super().with_structured_output(schema, include_raw=include_raw)
        pydantic_cls = schema if isinstance(schema, type) and is_basemodel_subclass(schema) \
            else None
        if method == "json_schema":
            json_schema = convert_to_json_schema(schema)
            llm = self.bind(
                response_format={"type": "json_schema", "json_schema": {
                    "name": json_schema.get("title", "output"), "schema": json_schema}},
                ls_structured_output_format={"kwargs": {"method": method},
                                             "schema": json_schema})
        elif method == "json_mode":
            llm = self.bind(
                response_format={"type": "json_object"},
                ls_structured_output_format={"kwargs": {"method": method}, "schema": schema})
        else:
            raise ValueError(f"method must be 'function_calling', 'json_schema' or "
                             f"'json_mode', not {method!r}")

        def parse(message: BaseMessage) -> Any:
            value = extract_json(message.text)
            if pydantic_cls is None:
                return value
            if hasattr(pydantic_cls, "model_validate"):
                return pydantic_cls.model_validate(value)
            return pydantic_cls.parse_obj(value)  # type: ignore[attr-defined]  # pydantic.v1

        parser = RunnableLambda(parse, name="extract_json")
        if not include_raw:
            return llm | parser
        parsed = RunnablePassthrough.assign(parsed=itemgetter("raw") | parser,
                                            parsing_error=lambda _: None)
        fallback = RunnablePassthrough.assign(parsed=lambda _: None)
        return RunnableMap(raw=llm) | parsed.with_fallbacks(  # type: ignore[return-value]
            [fallback], exception_key="parsing_error")

    # -- the four entry points ----------------------------------------------------------
    def batch(self, inputs: list[LanguageModelInput],
              config: RunnableConfig | list[RunnableConfig] | None = None, *,
              return_exceptions: bool = False, **kwargs: Any) -> list[AIMessage]:
        """``abatch`` as one task on the background loop, instead of LangChain's default of
        one thread per input: a Ctrl-C then cancels every job on the Space and raises
        ``KeyboardInterrupt`` at once, where the threads would finish each job first."""
        if not inputs:
            return []
        return _sync.run(self.abatch(inputs, config, return_exceptions=return_exceptions,
                                     **kwargs))  # type: ignore[arg-type]

    def _stream(self, messages: list[BaseMessage], stop: list[str] | None = None,
                run_manager: CallbackManagerForLLMRun | None = None,
                **kwargs: Any) -> Iterator[ChatGenerationChunk]:
        job, limits = self._prepare(messages, stop, kwargs)
        to_chunk = _Chunker(self._metadata, job)
        for event in _sync.iterate(self._client_for().astream_job(job, **limits)):
            chunk = to_chunk(event)
            if chunk is None:
                self._status(event, job, run_manager)
                continue
            if run_manager and isinstance(chunk.message.content, str):
                run_manager.on_llm_new_token(chunk.message.content, chunk=chunk)
            yield chunk

    async def _astream(self, messages: list[BaseMessage], stop: list[str] | None = None,
                       run_manager: AsyncCallbackManagerForLLMRun | None = None,
                       **kwargs: Any) -> AsyncIterator[ChatGenerationChunk]:
        job, limits = self._prepare(messages, stop, kwargs)
        to_chunk = _Chunker(self._metadata, job)
        async with aclosing(self._client_for().astream_job(job, **limits)) as events:
            async for event in events:
                chunk = to_chunk(event)
                if chunk is None:
                    await self._astatus(event, job, run_manager)
                    continue
                if run_manager and isinstance(chunk.message.content, str):
                    await run_manager.on_llm_new_token(chunk.message.content, chunk=chunk)
                yield chunk

    def _generate(self, messages: list[BaseMessage], stop: list[str] | None = None,
                  run_manager: CallbackManagerForLLMRun | None = None,
                  **kwargs: Any) -> ChatResult:
        job, limits = self._prepare(messages, stop, kwargs)
        for event in _sync.iterate(self._client_for().astream_job(job, **limits)):
            if isinstance(event, Finished):
                return self._result(event, job)
            if isinstance(event, _STATUS):
                self._status(event, job, run_manager)
        raise RuntimeError("the Space's stream ended without an answer")  # pragma: no cover

    async def _agenerate(self, messages: list[BaseMessage], stop: list[str] | None = None,
                         run_manager: AsyncCallbackManagerForLLMRun | None = None,
                         **kwargs: Any) -> ChatResult:
        job, limits = self._prepare(messages, stop, kwargs)
        async with aclosing(self._client_for().astream_job(job, **limits)) as events:
            async for event in events:
                if isinstance(event, Finished):
                    return self._result(event, job)
                if isinstance(event, _STATUS):
                    await self._astatus(event, job, run_manager)
        raise RuntimeError("the Space's stream ended without an answer")  # pragma: no cover

    # -- mapping ------------------------------------------------------------------------
    def _client_for(self) -> SpaceClient:
        """The core client for the current configuration (made again when it changes)."""
        urls = dict(self.base_urls or {})
        if self.base_url:
            urls[resolve_model(self.model_name).spec.name] = self.base_url
        return self._clients.get(
            hf_token=self.hf_token, read_env_token=False,
            timeouts=Timeouts.from_timeout(self.timeout, queue=self.queue_timeout),
            max_retries=self.max_retries, proxy=self.proxy, headers=self.headers,
            base_urls=urls, wake_timeout=self.wake_timeout)

    def _prepare(self, messages: Sequence[BaseMessage], stop: list[str] | None,
                 kwargs: dict[str, Any]) -> tuple[ChatJob, dict[str, Any]]:
        """Everything checked before the network: raises ``ValueError`` on bad input."""
        model = kwargs.get("model") or self.model_name
        job = self._client_for().prepare(
            model, [_to_turn(m, i) for i, m in enumerate(messages)],
            system_prompt=kwargs.get("system_prompt", self.system_prompt),
            variant=kwargs.get("variant", self.variant if model == self.model_name else None),
            tools=kwargs.get("tools"), tool_choice=kwargs.get("tool_choice"),
            response_format=kwargs.get("response_format"),
            tool_reasks=kwargs.get("tool_reasks", self.tool_reasks),
            parallel_tool_calls=kwargs.get("parallel_tool_calls", True),
            thinking=kwargs.get("thinking", self.thinking),
            thinking_budget=kwargs.get("thinking_budget", self.thinking_budget),
            space_id=kwargs.get("space_id", self.space_id if model == self.model_name else None),
            fallback_models=kwargs.get("fallback_models", self.fallback_models))
        limits = {"stop": stop if stop is not None else self.stop,
                  "max_tokens": kwargs.get("max_tokens", self.max_tokens)}
        return job, limits

    @staticmethod
    def _metadata(final: Finished, job: ChatJob) -> dict[str, Any]:
        # After a failover the answer is another model's: name the one that answered.
        meta = {"model_name": final.model or job.choice.model_name, "model_provider": PROVIDER,
                "finish_reason": final.finish_reason,
                "space_id": final.space_id or job.choice.spec.space_id,
                "event_id": final.event_id}
        for key in ("tool_reasks", "space_session", "failover"):
            if key in final.extra:
                meta[key] = final.extra[key]
        return meta

    def _result(self, final: Finished, job: ChatJob) -> ChatResult:
        meta = self._metadata(final, job)
        message = AIMessage(
            content=final.text, response_metadata=meta,
            additional_kwargs={"reasoning_content": final.reasoning} if final.reasoning else {},
            tool_calls=[tool_call(name=c.name, args=c.arguments, id=c.id)
                        for c in final.tool_calls],
            invalid_tool_calls=[invalid_tool_call(name=c.name, args=c.arguments, id=c.id,
                                                  error=c.error)
                                for c in final.invalid_tool_calls])
        return ChatResult(generations=[ChatGeneration(message=message)],
                          llm_output={"model_name": meta["model_name"]})

    @staticmethod
    def _status_data(event: StreamEvent, job: ChatJob) -> dict[str, Any]:
        # Waking and failover events name their own Space and model.
        return {"model": job.choice.model_name, "space_id": job.choice.spec.space_id,
                **event.as_dict()}

    def _status(self, event: StreamEvent, job: ChatJob,
                run_manager: CallbackManagerForLLMRun | None) -> None:
        if run_manager is not None:  # the event belongs to this model's run
            handle_event(run_manager.handlers, "on_custom_event", "ignore_custom_event",
                         STATUS_EVENT, self._status_data(event, job),
                         run_id=run_manager.run_id, tags=run_manager.tags,
                         metadata=run_manager.metadata)
            return
        config = _parent_run_config()
        if config is None:
            return  # no run to report to (a bare .stream() outside any chain)
        try:
            dispatch_custom_event(STATUS_EVENT, self._status_data(event, job), config=config)
        except RuntimeError:
            pass

    async def _astatus(self, event: StreamEvent, job: ChatJob,
                       run_manager: AsyncCallbackManagerForLLMRun | None) -> None:
        if run_manager is not None:
            await ahandle_event(run_manager.handlers, "on_custom_event", "ignore_custom_event",
                                STATUS_EVENT, self._status_data(event, job),
                                run_id=run_manager.run_id, tags=run_manager.tags,
                                metadata=run_manager.metadata)
            return
        config = _parent_run_config()
        if config is None:
            return
        try:
            await adispatch_custom_event(STATUS_EVENT, self._status_data(event, job),
                                         config=config)
        except RuntimeError:
            pass


def _parent_run_config() -> RunnableConfig | None:
    """The context's run config if it has a run to report custom events to, else None.

    ``(a)dispatch_custom_event`` reports to the parent run of the context's callbacks (a
    chain's or ``astream_events``' run), and raises without one: a bare ``astream()`` never
    has one, since LangChain does not hand ``_astream`` its run manager there. Looking first
    spares building a callback manager (and raising) for every status event of such a call;
    the condition is LangChain's own, so where there is a run the event goes exactly as
    before.
    """
    config = ensure_config()
    callbacks = config.get("callbacks")
    if isinstance(callbacks, BaseCallbackManager) and callbacks.parent_run_id is not None:
        return config
    return None


#: Events shown as the ``qwen_spaces_status`` custom event (not part of the message).
_STATUS = (QueuePosition, ProcessStarted, ProgressUpdate, SpaceLog, SpaceWaking, SpaceSkipped)


class _Chunker:
    """Core events of one reply -> LangChain chunks (None for status events).

    A call's ``tool_call_chunks`` index is its position among the reply's content blocks
    (as Anthropic's are): the text before the calls is block 0. With ``output_version="v1"``
    LangChain merges streamed content blocks by index, so a call sharing the text's index
    would be merged into the text block.
    """

    def __init__(self, metadata: Callable[[Finished, ChatJob], dict[str, Any]],
                 job: ChatJob) -> None:
        self.metadata, self.job = metadata, job
        self.offset = 0          # 1 once answer text came before the first call
        self.calls_started = False

    def __call__(self, event: StreamEvent) -> ChatGenerationChunk | None:
        if isinstance(event, TextDelta):
            if not self.calls_started and event.text:
                self.offset = 1
            return ChatGenerationChunk(message=AIMessageChunk(content=event.text))
        if isinstance(event, ReasoningDelta):
            return ChatGenerationChunk(message=AIMessageChunk(
                content="", additional_kwargs={"reasoning_content": event.text}))
        if isinstance(event, ToolCallDelta | InvalidToolCall):
            # LangChain re-parses merged chunks into tool_calls itself, so an invalid call
            # streams its raw text (never JSON): it lands in invalid_tool_calls, as in invoke.
            self.calls_started = True
            args = event.raw if isinstance(event, InvalidToolCall) else event.arguments
            piece = tool_call_chunk(name=event.name, args=args, id=event.id,
                                    index=event.index + self.offset)
            return ChatGenerationChunk(message=AIMessageChunk(content="",
                                                              tool_call_chunks=[piece]))
        if isinstance(event, Finished):
            return ChatGenerationChunk(message=AIMessageChunk(
                content="", response_metadata=self.metadata(event, self.job),
                chunk_position="last"))
        return None


def _to_turn(message: BaseMessage, index: int) -> Turn:
    """One LangChain message as a core turn; anything a Space cannot take is a ValueError.

    An ``AIMessage``'s ``tool_calls`` and a ``ToolMessage`` go to the core, which renders
    them in Qwen's format (``status="error"`` results are marked ``Error:``)."""
    calls: tuple[ToolCall, ...] = ()
    if isinstance(message, ToolMessage):
        role = "tool"
    elif isinstance(message, SystemMessage):
        role = "system"
    elif isinstance(message, HumanMessage):
        role = "user"
    elif isinstance(message, AIMessage):
        calls = tuple(ToolCall(c.get("id") or "", c["name"], dict(c["args"]))
                      for c in message.tool_calls)
        role = "assistant"
    elif isinstance(message, ChatMessage) and message.role in ("system", "user", "human",
                                                                "assistant", "ai"):
        role = message.role
    else:
        raise ValueError(
            f"message {index} is a {type(message).__name__}"
            + (f" (role {message.role!r})" if isinstance(message, ChatMessage) else "")
            + "; Qwen Spaces take only system, human and AI messages")
    texts: list[str] = []
    images: list[Any] = []
    for block in message.content_blocks:
        kind = block.get("type")
        if kind == "text":
            texts.append(str(block.get("text", "")))
        elif kind == "image":
            images.append(_image_source(block, index))
        elif kind == "reasoning" and role == "assistant":
            continue  # earlier thinking is not part of the conversation a Space takes
        elif role == "assistant" and (kind in _CALL_BLOCKS or _is_call_block(block, calls)):
            continue  # the calls come from ``message.tool_calls``
        else:
            raise ValueError(f"message {index} has a {kind!r} content block; Qwen Spaces "
                             "take text and (for vision models) images")
    text = "".join(texts)
    if isinstance(message, ToolMessage) and message.status == "error" \
            and not text.lower().startswith("error"):
        text = f"Error: {text}"
    call_id = message.tool_call_id if isinstance(message, ToolMessage) else None
    return Turn(role, text, tuple(images), calls, call_id)  # type: ignore[arg-type]


_CALL_BLOCKS = frozenset({"tool_call", "tool_call_chunk", "invalid_tool_call"})


def _is_call_block(block: Any, calls: tuple[ToolCall, ...]) -> bool:
    """A provider-specific block (Anthropic's ``tool_use``) for a call in ``tool_calls``."""
    value = block.get("value") if block.get("type") == "non_standard" else None
    return isinstance(value, dict) and bool(value.get("id")) and \
        any(value["id"] == c.id for c in calls)


def _image_source(block: Any, index: int) -> Any:
    if block.get("base64"):
        try:
            return base64.b64decode(block["base64"], validate=True)
        except (binascii.Error, ValueError):
            raise ValueError(f"message {index}: image base64 data is invalid") from None
    if block.get("url"):
        return image_url_only(str(block["url"]), f"message {index}: an image block's url")
    raise ValueError(f"message {index}: image blocks need base64 data or a URL "
                     "(file ids are not supported)")

