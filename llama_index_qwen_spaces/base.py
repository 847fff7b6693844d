"""``QwenSpacesLLM``: the Qwen chat Spaces as a LlamaIndex LLM, on the ``qwen_spaces`` core.

Overrides all eight entry points, because ``CustomLLM``'s defaults flatten chat to a prompt
(dropping images) and run the async methods synchronously (blocking the event loop). The
async methods stream on the caller's loop; the sync ones run the same stream on the core's
background loop (so they also work inside Jupyter). Chat and completion share one stream.

Tool calling (``FunctionCallingLLM``) is the core's: tools are offered in Qwen's own text
format and the reply is parsed into calls; this class only maps LlamaIndex's shapes.
"""

from __future__ import annotations

from collections.abc import AsyncGenerator, Generator, Iterator, Sequence
from typing import TYPE_CHECKING, Any

from llama_index.core.base.llms.types import (
    ChatMessage,
    ChatResponse,
    ChatResponseAsyncGen,
    ChatResponseGen,
    CompletionResponse,
    CompletionResponseAsyncGen,
    CompletionResponseGen,
    LLMMetadata,
    MessageRole,
    TextBlock,
    ThinkingBlock,
    ToolCallBlock,
)
from llama_index.core.bridge.pydantic import (
    Field,
    PrivateAttr,
    SecretStr,
    field_serializer,
    model_validator,
)
from llama_index.core.llms.callbacks import llm_chat_callback, llm_completion_callback
from llama_index.core.llms.custom import CustomLLM
from llama_index.core.llms.function_calling import FunctionCallingLLM
from llama_index.core.llms.llm import ToolSelection

from qwen_spaces import (
    ChatJob,
    SpaceClient,
    StreamEvent,
    Timeouts,
    normalize_base_url,
    resolve_model,
)
from qwen_spaces.auth import find_token, mask_url, masked_settings
from qwen_spaces.chat import check_thinking
from qwen_spaces.client import ClientCache
from qwen_spaces.hub import is_space_id

from .calls import call_dict, invalid_dict, openai_tools, selections
from .messages import to_turns
from .stream import Step, afinal, amap, asteps, final, smap, steps

if TYPE_CHECKING:
    from llama_index.core.tools.types import BaseTool

__all__ = ["QwenSpacesLLM"]


def _env_token() -> SecretStr | None:
    """``$HF_TOKEN``, else the token ``hf auth login`` saved (``qwen_spaces.find_token``)."""
    value = find_token()
    return SecretStr(value) if value else None


class QwenSpacesLLM(FunctionCallingLLM, CustomLLM):
    """A Qwen chat Space (Qwen2-72B, Qwen2.5 sizes, Qwen2.5-Max, QVQ-72B) as a LlamaIndex LLM.

    Example:
        ```python
        from llama_index_qwen_spaces import QwenSpacesLLM

        llm = QwenSpacesLLM(model="qwen-2.5-max")
        print(llm.complete("What is a Gradio Space?").text)
        ```

    Final responses carry the Space's finish information in ``raw`` (``finish_reason``,
    ``space_id``, ``model``, ``event_id``, ``duration``, ``text``). Streams yield the
    cumulative text plus the exact ``delta``, then one last response with ``delta=""`` and
    ``raw``; a Space's rewrite of sent text shows as ``additional_kwargs["replaced"]``.
    Queue/progress/log status, a sleeping Space's wake-up and failover are dispatched as
    ``QwenSpacesStatusEvent``. Call keywords
    ``stop``, ``max_tokens`` and ``tool_reasks`` override the fields; other keywords are
    ignored.

    Tools (Qwen2-72B, Qwen2.5, Qwen2.5-Max; not QVQ, whose Space has no system input):
    ``chat_with_tools`` / ``predict_and_call`` / ``FunctionAgent`` / ``structured_predict``,
    or the chat keywords ``tools=`` (LlamaIndex tools or OpenAI function dicts),
    ``tool_choice=`` (``"auto"``, ``"none"``, ``"required"``, a tool name, or
    ``{"type": "function", "function": {"name": …}}``), ``parallel_tool_calls=False`` (keep
    the first call only) and ``response_format=`` (``{"type": "json_object"}`` or
    ``{"type": "json_schema", "json_schema": {"name": …, "schema": {…}}}``, asked for in the
    prompt). A response's calls are ``ToolCallBlock``s and, in OpenAI's shape,
    ``message.additional_kwargs["tool_calls"]``; calls the model got wrong (broken JSON, an
    unknown name) are only listed in ``additional_kwargs["invalid_tool_calls"]``. Streams
    carry the calls so far in every response.

    Reasoning (Qwen3's thinking, ``thinking=`` / ``thinking_budget=``) is a ``ThinkingBlock``
    before the answer's ``TextBlock`` and never part of ``message.content``; while streaming,
    a response made by new thinking has ``delta=""`` and the piece in
    ``additional_kwargs["thinking_delta"]``. ``ThinkingBlock``s in the history are not sent
    back, as Qwen3's chat template drops earlier thinking.
    """

    model: str = Field(default="qwen-2.5-max",
                       description="Catalog model name or alias (`qwen-spaces models`).")
    variant: str | None = Field(
        default=None, description="Model size for qwen-2.5 (72B ... 0.5B), -coder, or "
        "qwen-3 (qwen3-235b-a22b ... qwen3-0.6b).")
    thinking: bool | None = Field(
        default=None, description="Qwen3's thinking switch (None: the Space's default, on); "
        "ValueError on a Space without one.")
    thinking_budget: int | None = Field(
        default=None, description="Most tokens Qwen3 may think for, 1000 to 38000 (the Space "
        "counts thousands: rounded up). None: the Space's default, the most.")
    base_url: str | None = Field(
        default=None, description="Another host for the Space: a replica or duplicated Space.")
    base_urls: dict[str, str] | None = Field(
        default=None, description="Per-model hosts (model name -> URL), used for "
        "fallback_models.")
    fallback_models: list[str] | None = Field(
        default=None, description="Failover: models asked in order when `model` cannot answer "
        "before its first token (asleep past wake_timeout, paused, out of ZeroGPU quota, "
        "queue full, unreachable); models that cannot take the request are skipped. "
        "raw['extra']['failover'] says which answered and why the others did not.")
    space_id: str | None = Field(
        default=None, description="The Hub Space behind base_url (owner/name), for a host the "
        "Hub cannot be asked about by its URL: its stage is read when it answers an error "
        "page, and errors name it.")
    wake_timeout: float = Field(
        default=300.0, gt=0, description="Seconds to wait for a sleeping or starting Space "
        "to come up (progress: QwenSpacesStatusEvent of kind 'waking').")
    hf_token: SecretStr | None = Field(
        default_factory=_env_token, exclude=True, repr=False,
        description="Hugging Face token (default $HF_TOKEN, else the token `hf auth login` "
        "saved); sent only to the Space's own origin.")
    timeout: float | None = Field(
        default=None, gt=0, description="Seconds for connecting, each request and each "
        "silence on the stream (None: 10 s connect, 30 s request, 60 s silence).")
    queue_timeout: float | None = Field(
        default=None, gt=0, description="Seconds to wait in the Space's queue (None: 300).")
    max_retries: int = Field(default=2, ge=0,
                             description="Retries before the first answer text arrives.")
    proxy: str | None = Field(default=None, exclude=True, repr=False,
                              description="HTTP(S) proxy URL (may embed credentials: masked "
                              "in repr, not dumped). Default: HTTPS_PROXY/HTTP_PROXY/NO_PROXY.")
    headers: dict[str, str] | None = Field(
        default=None, exclude=True, repr=False,
        description="Extra request headers for the Space's own origin only (may carry "
        "credentials: values masked in repr, not dumped).")
    max_tokens: int | None = Field(
        default=None, ge=1, description="Client-side cap on approximate answer tokens: the "
        "Spaces take no such parameter, so the stream is cut and the job cancelled.")
    stop: list[str] | None = Field(
        default=None, description="Client-side stop sequences (cut, not included).")
    tool_reasks: int = Field(
        default=1, ge=0, description="When a tool call is required (tool_required, a named "
        "tool_choice) and the reply has no valid one, show the model what was wrong and ask "
        "again this often (0: never); raw['extra']['tool_reasks'] says when it happened.")

    _clients: ClientCache = PrivateAttr(default_factory=ClientCache)

    @model_validator(mode="before")
    @classmethod
    def _api_key_alias(cls, data: Any) -> Any:
        """``api_key=`` is the name other LLMs use: accept it for ``hf_token`` rather than
        let LlamaIndex keep it as an unknown extra while no token is sent."""
        if isinstance(data, dict) and "api_key" in data:
            data = dict(data)
            key = data.pop("api_key")
            if "hf_token" in data:
                raise ValueError("pass the token as hf_token= or api_key=, not both")
            data["hf_token"] = key
        return data

    @model_validator(mode="after")
    def _check_config(self) -> QwenSpacesLLM:
        """Fail at construction, not at the first call, for names and URLs that cannot work."""
        check_thinking(resolve_model(self.model, self.variant), self.thinking,
                       self.thinking_budget)
        if self.base_url is not None:
            normalize_base_url(self.base_url)
        if self.proxy is not None:
            normalize_base_url(self.proxy, what="proxy")
        for name, url in (self.base_urls or {}).items():
            resolve_model(name)
            normalize_base_url(url)
        for name in self.fallback_models or ():
            resolve_model(name)
        if self.space_id is not None and not is_space_id(self.space_id):
            raise ValueError(f"space_id must look like owner/name, got {self.space_id!r}")
        return self

    def __repr_args__(self) -> Iterator[tuple[str | None, Any]]:
        """Like pydantic's, with URL credentials and header values masked."""
        for name, value in super().__repr_args__():
            yield name, (mask_url(value) if name == "base_url" and value else value)
        yield from masked_settings(self.proxy, self.headers)

    @field_serializer("base_url")
    def _mask_base_url(self, value: str | None) -> str | None:
        return mask_url(value) if value else value

    @classmethod
    def class_name(cls) -> str:
        return "QwenSpacesLLM"

    @property
    def metadata(self) -> LLMMetadata:
        choice = resolve_model(self.model, self.variant)
        return LLMMetadata(
            context_window=choice.spec.context_window,
            num_output=self.max_tokens or choice.spec.num_output,
            is_chat_model=True,
            is_function_calling_model=choice.spec.tool_calling,
            model_name=choice.model_name,
        )

    # -- chat ------------------------------------------------------------------------------
    @llm_chat_callback()
    def chat(self, messages: Sequence[ChatMessage], **kwargs: Any) -> ChatResponse:
        return _chat(final(self._steps(messages, kwargs)))

    @llm_chat_callback()
    def stream_chat(self, messages: Sequence[ChatMessage], **kwargs: Any) -> ChatResponseGen:
        return smap(_chat, self._steps(messages, kwargs))

    @llm_chat_callback()
    async def achat(self, messages: Sequence[ChatMessage], **kwargs: Any) -> ChatResponse:
        return _chat(await afinal(self._asteps(messages, kwargs)))

    @llm_chat_callback()
    async def astream_chat(self, messages: Sequence[ChatMessage],
                           **kwargs: Any) -> ChatResponseAsyncGen:
        return amap(_chat, self._asteps(messages, kwargs))

    # -- completion: the prompt is one user turn -------------------------------------------
    @llm_completion_callback()
    def complete(self, prompt: str, formatted: bool = False,
                 **kwargs: Any) -> CompletionResponse:
        return _completion(final(self._steps(self._prompt(prompt, formatted), kwargs)))

    @llm_completion_callback()
    def stream_complete(self, prompt: str, formatted: bool = False,
                        **kwargs: Any) -> CompletionResponseGen:
        return smap(_completion, self._steps(self._prompt(prompt, formatted), kwargs))

    @llm_completion_callback()
    async def acomplete(self, prompt: str, formatted: bool = False,
                        **kwargs: Any) -> CompletionResponse:
        return _completion(await afinal(self._asteps(self._prompt(prompt, formatted), kwargs)))

    @llm_completion_callback()
    async def astream_complete(self, prompt: str, formatted: bool = False,
                               **kwargs: Any) -> CompletionResponseAsyncGen:
        return amap(_completion, self._asteps(self._prompt(prompt, formatted), kwargs))

    # -- function calling ------------------------------------------------------------------
    def _prepare_chat_with_tools(
        self,
        tools: Sequence[BaseTool],
        user_msg: str | ChatMessage | None = None,
        chat_history: list[ChatMessage] | None = None,
        verbose: bool = False,
        allow_parallel_tool_calls: bool = False,
        tool_required: bool = False,
        tool_choice: str | dict[str, Any] | None = None,
        **kwargs: Any,
    ) -> dict[str, Any]:
        """The chat keywords for ``chat_with_tools`` and friends. ``tool_choice`` (a name, or
        OpenAI's dict) wins over ``tool_required``; the history is copied, not extended."""
        messages = list(chat_history or [])
        if isinstance(user_msg, str):
            user_msg = ChatMessage(role=MessageRole.USER, content=user_msg)
        if user_msg is not None:
            messages.append(user_msg)
        specs = openai_tools(tools) or None
        if tool_choice is None and specs:
            tool_choice = "required" if tool_required else "auto"
        return {"messages": messages, "tools": specs, "tool_choice": tool_choice,
                "parallel_tool_calls": allow_parallel_tool_calls, **kwargs}

    def get_tool_calls_from_response(
        self,
        response: ChatResponse,
        error_on_no_tool_call: bool = True,
        **kwargs: Any,
    ) -> list[ToolSelection]:
        """The response's valid calls (its ``ToolCallBlock``s, else
        ``additional_kwargs["tool_calls"]``); invalid ones are never returned."""
        found = selections(response.message)
        if not found and error_on_no_tool_call:
            invalid = response.message.additional_kwargs.get("invalid_tool_calls") or []
            why = "; ".join(str(c.get("error")) for c in invalid if isinstance(c, dict))
            raise ValueError("Expected at least one tool call, but got 0 tool calls"
                             + (f" (invalid calls: {why})" if why else ""))
        return found

    # -- internals -------------------------------------------------------------------------
    def _prompt(self, prompt: str, formatted: bool) -> list[ChatMessage]:
        if not formatted and self.completion_to_prompt is not None:
            prompt = self.completion_to_prompt(prompt)
        return [ChatMessage(role=MessageRole.USER, content=prompt)]

    def _job(self, messages: Sequence[ChatMessage],
             kwargs: dict[str, Any]) -> tuple[ChatJob, AsyncGenerator[StreamEvent, None]]:
        """Validate (``ValueError`` before any request) and open the core stream lazily."""
        client = self._get_client()
        job = client.prepare(self.model, to_turns(messages), base_url=self.base_url,
                             system_prompt=self.system_prompt, variant=self.variant,
                             tools=openai_tools(kwargs.get("tools")),
                             tool_choice=kwargs.get("tool_choice"),
                             response_format=kwargs.get("response_format"),
                             tool_reasks=kwargs.get("tool_reasks", self.tool_reasks),
                             parallel_tool_calls=kwargs.get("parallel_tool_calls", True),
                             thinking=kwargs.get("thinking", self.thinking),
                             thinking_budget=kwargs.get("thinking_budget",
                                                        self.thinking_budget),
                             space_id=self.space_id,
                             fallback_models=kwargs.get("fallback_models",
                                                        self.fallback_models))
        events = client.astream_job(job, stop=kwargs.get("stop", self.stop),
                                    max_tokens=kwargs.get("max_tokens", self.max_tokens))
        return job, events

    def _steps(self, messages: Sequence[ChatMessage],
               kwargs: dict[str, Any]) -> Generator[Step, None, None]:
        return steps(*self._job(messages, kwargs))

    def _asteps(self, messages: Sequence[ChatMessage],
                kwargs: dict[str, Any]) -> AsyncGenerator[Step, None]:
        return asteps(*self._job(messages, kwargs))

    def _get_client(self) -> SpaceClient:
        """The core client for the current configuration (made again when it changes; it
        holds no connection itself: the core pools one HTTP session per event loop)."""
        return self._clients.get(
            hf_token=self.hf_token, read_env_token=False,
            timeouts=Timeouts.from_timeout(self.timeout, queue=self.queue_timeout),
            max_retries=self.max_retries, proxy=self.proxy, headers=self.headers,
            base_urls=self.base_urls, wake_timeout=self.wake_timeout)


def _chat(step: Step) -> ChatResponse:
    message = ChatMessage(role=MessageRole.ASSISTANT, content=step.text)
    thinking = [ThinkingBlock(content=step.reasoning)] if step.reasoning else []
    if thinking:
        message.blocks = [*thinking, TextBlock(text=step.text)]
    if step.calls or step.invalid:
        message.blocks = [*thinking, TextBlock(text=step.text), *(
            ToolCallBlock(tool_call_id=c.id, tool_name=c.name, tool_kwargs=c.arguments)
            for c in step.calls)]
        if step.calls:
            message.additional_kwargs["tool_calls"] = [
                call_dict(c.id, c.name, c.arguments) for c in step.calls]
        if step.invalid:
            message.additional_kwargs["invalid_tool_calls"] = [
                invalid_dict(c) for c in step.invalid]
    return ChatResponse(message=message, delta=step.delta, raw=step.raw,
                        additional_kwargs=step.extra)


def _completion(step: Step) -> CompletionResponse:
    return CompletionResponse(text=step.text, delta=step.delta, raw=step.raw,
                              additional_kwargs=step.extra)
