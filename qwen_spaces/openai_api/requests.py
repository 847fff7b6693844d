"""An OpenAI ``/v1/chat/completions`` body -> the core's turns and settings.

Only the shape changes here; the conversation is validated and laid out for the Space by
:meth:`~qwen_spaces.SpaceClient.prepare`, as for the other adapters. Choices where OpenAI's
API and the Spaces differ:

* roles ``system`` and ``developer`` (OpenAI's newer name for it) are system turns; ``user``,
  ``assistant`` (with ``tool_calls``) and ``tool`` map one to one;
* content is a string or parts: ``text`` parts are joined with ``\\n``; ``image_url`` parts
  take ``https:`` URLs and ``data:`` URIs only. A Space takes one image per conversation and
  chat UIs resend earlier images on every turn, so only the latest user image is sent;
* fields the SDK echoes back from its own answers (``refusal``, ``reasoning_content``,
  ``reasoning``, ``annotations``, ``audio``, ``tool_calls: null``) and unknown keys are
  ignored, as are sampling knobs the Spaces do not expose (``temperature``, ``top_p``,
  ``seed``, penalties, ``logit_bias``);
* a 400 naming the parameter only where a value asks for what cannot be honoured: ``n`` > 1,
  ``logprobs``, audio output, legacy ``functions``;
* thinking (Qwen3): ``chat_template_kwargs.enable_thinking``, else ``enable_thinking``, else
  ``reasoning_effort`` (``none`` / ``minimal`` = off, any other value = on);
  ``thinking_budget`` in tokens. On models without thinking they are ignored;
* ``response_format``: ``json_object`` is asked for in the prompt (the core's way);
  ``json_schema`` is offered as one more tool, named after the schema, whose call becomes
  the answer's JSON content (see :mod:`qwen_spaces.openai_api.encoding`).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from ..auth import mask_url
from ..catalog import CATALOG, ModelChoice, resolve_model
from ..chat import Turn, check_thinking
from ..client import ChatJob, SpaceClient
from ..events import ToolCall
from ..tools import normalize_tool_choice, tool_call_from, tool_specs
from .errors import ApiError

__all__ = ["CompletionRequest", "parse_request", "prepare_job", "resolve"]

_ROLES = {"system": "system", "developer": "system", "user": "user",
          "assistant": "assistant", "tool": "tool"}
_THINKING_OFF = ("none", "minimal")
_SCHEMA_TOOL_TEXT = ("Give your final answer to the user by calling this function with it, "
                     "as one JSON object in this shape.")


@dataclass(frozen=True)
class CompletionRequest:
    """What the caller asked for, checked and in the core's terms."""

    model: str                       # the id as the caller wrote it (echoed back)
    choice: ModelChoice
    turns: tuple[Turn, ...]
    stream: bool = False
    include_usage: bool = False
    stop: tuple[str, ...] | None = None
    max_tokens: int | None = None
    tools: tuple[dict[str, Any], ...] = ()
    tool_choice: object = None
    parallel_tool_calls: bool = True
    response_format: object = None   # for the core: json_object only
    #: The name of the tool standing for ``json_schema``: a call to it is the answer.
    schema_tool: str | None = None
    thinking: bool | None = None
    thinking_budget: int | None = None
    #: Earlier user images left out (a Space takes one per conversation).
    dropped_images: int = 0


def resolve(model: object) -> ModelChoice:
    """The catalog entry for a model id (any alias, slashes included), else a 404."""
    if not isinstance(model, str) or not model.strip():
        raise ApiError(400, "model is required: one of the ids GET /v1/models lists",
                       param="model", code="missing_model")
    try:
        return resolve_model(model)
    except ValueError:
        raise ApiError(404, f"The model {model[:100]!r} does not exist. Known models: "
                       f"{', '.join(CATALOG)} (GET /v1/models lists every id, aliases work "
                       "too).", param="model", code="model_not_found") from None


def parse_request(body: object) -> CompletionRequest:
    """Check a request body and map it. Raises :class:`ApiError` (400 / 404)."""
    if not isinstance(body, Mapping):
        raise ApiError(400, "the request body must be a JSON object")
    choice = resolve(body.get("model"))
    _refuse_unsupported(body)
    turns, dropped = _turns(body.get("messages"))
    stream = _flag(body, "stream")
    options = body.get("stream_options")
    include_usage = bool(stream and isinstance(options, Mapping)
                         and options.get("include_usage") is True)
    tools, tool_choice, schema_tool, response_format, parallel = _tools_and_format(body)
    thinking, budget = _thinking(body, choice)
    return CompletionRequest(
        model=body["model"], choice=choice, turns=turns, stream=stream,
        include_usage=include_usage, stop=_stop(body.get("stop")),
        max_tokens=_max_tokens(body), tools=tools, tool_choice=tool_choice,
        parallel_tool_calls=parallel, response_format=response_format,
        schema_tool=schema_tool, thinking=thinking, thinking_budget=budget,
        dropped_images=dropped)


def prepare_job(client: SpaceClient, request: CompletionRequest) -> ChatJob:
    """The core's job for a request; what it refuses is a 400."""
    try:
        return client.prepare(
            request.model, request.turns, tools=list(request.tools) or None,
            tool_choice=request.tool_choice, response_format=request.response_format,
            parallel_tool_calls=request.parallel_tool_calls, thinking=request.thinking,
            thinking_budget=request.thinking_budget)
    except ValueError as exc:
        raise ApiError(400, str(exc), param="messages") from None


# -- parameters --------------------------------------------------------------------------
def _refuse_unsupported(body: Mapping[str, Any]) -> None:
    n = body.get("n")
    if n is not None and n != 1:
        raise ApiError(400, f"n={n!r}: a Space writes one answer per request; send n=1 "
                       "(or leave it out) and make several requests", param="n",
                       code="unsupported_value")
    top = body.get("top_logprobs")
    if body.get("logprobs") is True or (isinstance(top, int) and top > 0):
        param = "logprobs" if body.get("logprobs") is True else "top_logprobs"
        raise ApiError(400, "log probabilities are not available: the Spaces return text "
                       "only", param=param, code="unsupported_value")
    modalities = body.get("modalities")
    if body.get("audio") is not None or (isinstance(modalities, list)
                                         and "audio" in modalities):
        param = "audio" if body.get("audio") is not None else "modalities"
        raise ApiError(400, "audio output is not available: the Spaces answer in text only",
                       param=param, code="unsupported_value")
    if body.get("functions") is not None or body.get("function_call") is not None:
        param = "functions" if body.get("functions") is not None else "function_call"
        raise ApiError(400, "the legacy functions / function_call parameters are not "
                       "supported: send tools and tool_choice", param=param,
                       code="unsupported_parameter")


def _flag(body: Mapping[str, Any], name: str) -> bool:
    value = body.get(name)
    if value is None:
        return False
    if not isinstance(value, bool):
        raise ApiError(400, f"{name} must be true or false, not {value!r}", param=name)
    return value


def _stop(value: object) -> tuple[str, ...] | None:
    if value is None:
        return None
    if isinstance(value, str):
        return (value,)
    if isinstance(value, list) and all(isinstance(s, str) for s in value):
        return tuple(value)
    raise ApiError(400, "stop must be a string or a list of strings", param="stop")


def _max_tokens(body: Mapping[str, Any]) -> int | None:
    for name in ("max_completion_tokens", "max_tokens"):
        value = body.get(name)
        if value is None:
            continue
        if isinstance(value, bool) or not isinstance(value, int) or value < 1:
            raise ApiError(400, f"{name} must be a whole number >= 1, not {value!r}",
                           param=name)
        return value
    return None


def _thinking(body: Mapping[str, Any], choice: ModelChoice) -> tuple[bool | None, int | None]:
    """The thinking switch and budget, for models that have them (ignored elsewhere)."""
    if not choice.spec.thinking:
        return None, None
    kwargs = body.get("chat_template_kwargs")
    thinking: object = None
    param = "enable_thinking"
    if isinstance(kwargs, Mapping) and kwargs.get("enable_thinking") is not None:
        thinking, param = kwargs["enable_thinking"], "chat_template_kwargs.enable_thinking"
    elif body.get("enable_thinking") is not None:
        thinking = body["enable_thinking"]
    elif body.get("reasoning_effort") is not None:
        thinking = str(body["reasoning_effort"]).lower() not in _THINKING_OFF
    if thinking is not None and not isinstance(thinking, bool):
        raise ApiError(400, f"{param} must be true or false, not {thinking!r}", param=param)
    budget = body.get("thinking_budget")
    try:
        check_thinking(choice, thinking, budget)
    except ValueError as exc:
        raise ApiError(400, str(exc), param="thinking_budget") from None
    return thinking, budget  # type: ignore[return-value]


def _tools_and_format(body: Mapping[str, Any]) -> tuple[
        tuple[dict[str, Any], ...], object, str | None, object, bool]:
    """Tools, tool_choice, the schema tool's name, the core's response_format, parallel."""
    raw_tools = body.get("tools") or []
    if not isinstance(raw_tools, list):
        raise ApiError(400, "tools must be a list of function tools", param="tools")
    for tool in raw_tools:
        if not isinstance(tool, Mapping) or tool.get("type", "function") != "function":
            kind = tool.get("type") if isinstance(tool, Mapping) else type(tool).__name__
            raise ApiError(400, f"only function tools are supported, not {kind!r}",
                           param="tools")
    try:
        specs = tool_specs(raw_tools)
    except ValueError as exc:
        raise ApiError(400, str(exc), param="tools") from None
    tools = tuple(s.as_openai() for s in specs)
    tool_choice = body.get("tool_choice")
    if isinstance(tool_choice, Mapping) and tool_choice.get("type", "function") != "function":
        raise ApiError(400, f"tool_choice of type {tool_choice.get('type')!r} is not "
                       "supported: use 'auto', 'none', 'required' or a named function",
                       param="tool_choice")
    try:
        choice = normalize_tool_choice(tool_choice, specs)
    except ValueError as exc:
        raise ApiError(400, str(exc), param="tool_choice") from None
    parallel = body.get("parallel_tool_calls")
    if parallel is not None and not isinstance(parallel, bool):
        raise ApiError(400, "parallel_tool_calls must be true or false",
                       param="parallel_tool_calls")
    parallel = True if parallel is None else parallel

    fmt = body.get("response_format")
    kind = fmt.get("type") if isinstance(fmt, Mapping) else None
    if fmt is None or kind == "text":
        return tools, tool_choice, None, None, parallel
    if kind == "json_object":
        return tools, tool_choice, None, {"type": "json_object"}, parallel
    inner = fmt.get("json_schema") if kind == "json_schema" else None  # type: ignore[union-attr]
    schema = inner.get("schema") if isinstance(inner, Mapping) else None
    if not isinstance(inner, Mapping) or not isinstance(schema, Mapping):
        raise ApiError(400, "response_format must be {'type': 'text'}, {'type': "
                       "'json_object'} or {'type': 'json_schema', 'json_schema': {'name': "
                       "…, 'schema': {…}}}", param="response_format")
    name = str(inner.get("name") or "response")
    if name in {s.name for s in specs}:
        raise ApiError(400, f"response_format.json_schema.name {name!r} is also the name of "
                       "a tool; rename one of them", param="response_format")
    if choice == "required" or not isinstance(choice, str):
        # The caller wants one of their own tools called: the answer is that call.
        return tools, tool_choice, None, None, parallel
    schema_tool = {"type": "function", "function": {
        "name": name, "description": str(inner.get("description") or _SCHEMA_TOOL_TEXT),
        "parameters": dict(schema)}}
    if choice == "auto" and specs:  # a call to a tool, or the answer through the schema
        return (*tools, schema_tool), "required", name, None, parallel
    return (schema_tool,), {"type": "function", "function": {"name": name}}, name, None, False


# -- messages ----------------------------------------------------------------------------
def _turns(messages: object) -> tuple[tuple[Turn, ...], int]:
    if not isinstance(messages, list) or not messages:
        raise ApiError(400, "messages must be a non-empty list of messages",
                       param="messages")
    turns = [_turn(m, i) for i, m in enumerate(messages)]
    # Keep only the latest user image: the Spaces take one per conversation.
    with_images = [i for i, t in enumerate(turns) if t.images]
    dropped = sum(len(t.images) for t in turns) - (1 if with_images else 0)
    if with_images:
        last = with_images[-1]
        turns = [Turn(t.role, t.text, (t.images[-1],) if i == last else (), t.tool_calls,
                      t.tool_call_id) for i, t in enumerate(turns)]
    return tuple(turns), dropped


def _turn(message: object, index: int) -> Turn:
    where = f"messages[{index}]"
    if not isinstance(message, Mapping):
        raise ApiError(400, f"{where} must be an object", param=where)
    raw_role = message.get("role")
    role = _ROLES.get(raw_role) if isinstance(raw_role, str) else None
    if role is None:
        raise ApiError(400, f"{where} has role {message.get('role')!r}; this server takes "
                       "system, developer, user, assistant and tool messages",
                       param=f"{where}.role")
    text, images = _content(message.get("content"), role, where)
    calls: tuple[ToolCall, ...] = ()
    if role == "assistant" and message.get("tool_calls"):
        raw = message["tool_calls"]
        if not isinstance(raw, list):
            raise ApiError(400, f"{where}.tool_calls must be a list", param=where)
        try:
            calls = tuple(tool_call_from(c, n) for n, c in enumerate(raw))
        except ValueError as exc:
            raise ApiError(400, f"{where}: {exc}", param=f"{where}.tool_calls") from None
    call_id = message.get("tool_call_id") if role == "tool" else None
    return Turn(role, text, tuple(images), calls,  # type: ignore[arg-type]
                str(call_id) if call_id else None)


def _content(content: object, role: str, where: str) -> tuple[str, list[str]]:
    if content is None:
        return "", []
    if isinstance(content, str):
        return content, []
    if not isinstance(content, list):
        raise ApiError(400, f"{where}.content must be a string or a list of parts",
                       param=f"{where}.content")
    texts: list[str] = []
    images: list[str] = []
    for n, part in enumerate(content):
        kind = part.get("type") if isinstance(part, Mapping) else None
        if kind in ("text", "refusal") and isinstance(part, Mapping):
            value = part.get(kind)
            if not isinstance(value, str):
                raise ApiError(400, f"{where}.content[{n}] has no {kind} string",
                               param=f"{where}.content")
            texts.append(value)
        elif kind == "image_url" and isinstance(part, Mapping) and role == "user":
            images.append(_image_url(part.get("image_url"), f"{where}.content[{n}]"))
        else:
            raise ApiError(400, f"{where}.content[{n}] is a {kind!r} part; {role} messages "
                           f"take {'text and image_url' if role == 'user' else 'text'} parts",
                           param=f"{where}.content")
    return "\n".join(texts), images


def _image_url(value: object, where: str) -> str:
    url = value.get("url") if isinstance(value, Mapping) else value
    if not isinstance(url, str):
        raise ApiError(400, f"{where}.image_url needs a url", param="messages")
    url = url.strip()
    scheme = url.partition(":")[0].lower()
    if scheme not in ("https", "data") or ":" not in url:
        shown = mask_url(url)[:40] + ("…" if len(url) > 40 else "")
        raise ApiError(400, f"{where}: image URLs must be https: URLs or data: URIs, not "
                       f"{shown!r}", param="messages", code="invalid_image_url")
    return url
