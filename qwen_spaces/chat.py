"""The framework-neutral chat request, and how it maps onto a Space's inputs.

Both adapters turn their message types into :class:`Turn` objects; everything after that
(validation, merging, system prompt, history in the Space's own format) happens here, once.
All checks run before any network call.

Mapping rules:

* system turns (anywhere) are joined with a blank line into the Space's system input; with
  none, ``system_prompt`` and then the catalog default are used;
* consecutive turns of the same role are merged (texts joined by a blank line);
* the last turn must be a user turn: it becomes the query; the earlier user/assistant turns
  go into the history input, in the server's format;
* a Space without a history (or system) input gets that part as a flattened transcript
  instead, as ``System: …`` / ``User: …`` / ``Assistant: …`` paragraphs ending with the
  question (Qwen2.5-1M keeps its history input and gets only the system paragraph);
* tools (see :mod:`qwen_spaces.tools`): the tools block is appended to the system text (the
  catalog default when the caller has none, as Qwen's template does); an assistant turn's
  calls become ``<tool_call>`` blocks after its text; each run of tool results becomes one
  user turn of ``<tool_response>`` blocks, in order. Only Spaces with a system input take
  tools; the others refuse them here.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Literal

from .catalog import ModelChoice, SpaceSpec
from .events import ToolCall
from .images import ImageSource, image_from
from .tools import (
    ToolChoice,
    ToolSpec,
    normalize_tool_choice,
    render_response_format,
    render_tool_calls,
    render_tool_results,
    render_tools,
    tool_call_from,
    tool_specs,
)

__all__ = ["PreparedChat", "Turn", "encode_history", "ms_legacy_item", "prepare_chat"]

Role = Literal["system", "user", "assistant", "tool"]
_ROLE_ALIASES = {"system": "system", "developer": "system", "user": "user", "human": "user",
                 "assistant": "assistant", "ai": "assistant", "tool": "tool"}


@dataclass(frozen=True)
class Turn:
    """One message. An assistant turn may carry ``tool_calls``; a ``tool`` turn's ``text``
    is one tool's result, and its ``tool_call_id`` (when given) the call it answers."""

    role: Role
    text: str
    images: tuple[Any, ...] = ()
    tool_calls: tuple[ToolCall, ...] = ()
    tool_call_id: str | None = None


@dataclass(frozen=True)
class PreparedChat:
    query: str
    history: tuple[tuple[Role, str], ...]
    system: str | None
    images: tuple[ImageSource, ...]
    variant: str | None
    tools: tuple[ToolSpec, ...] = ()
    tool_choice: ToolChoice = "auto"
    #: False keeps only the reply's first valid call (OpenAI's ``parallel_tool_calls``).
    parallel_tool_calls: bool = True
    #: The thinking switch (None: the Space's default) and budget in tokens (None: default).
    thinking: bool | None = None
    thinking_budget: int | None = None

    @property
    def parse_tools(self) -> bool:
        """Whether the reply is read for tool calls (tools offered, choice not ``none``)."""
        return bool(self.tools) and self.tool_choice != "none"


def _as_turn(item: Turn | Mapping[str, Any], index: int) -> Turn:
    role: Any
    if isinstance(item, Turn):
        role, text, images, calls = item.role, item.text, item.images, item.tool_calls
        call_id = item.tool_call_id
    elif isinstance(item, Mapping):
        role = item.get("role")
        text = item.get("content", item.get("text", ""))
        images = tuple(item.get("images") or ())
        calls = tuple(_as_call(c, index, n) for n, c in enumerate(item.get("tool_calls") or ()))
        call_id = item.get("tool_call_id")
    else:
        raise ValueError(f"message {index} must be a Turn or a mapping, not {type(item).__name__}")
    norm = _ROLE_ALIASES.get(str(role).lower()) if isinstance(role, str) else None
    if norm is None:
        raise ValueError(
            f"message {index} has role {role!r}; Qwen Spaces take system, user, assistant "
            "and tool messages"
        )
    if text is None:
        text = ""
    if not isinstance(text, str):
        raise ValueError(f"message {index} content must be text, got {type(text).__name__}")
    if calls and norm != "assistant":
        raise ValueError(f"message {index}: only assistant messages carry tool calls")
    return Turn(norm, text, tuple(images), calls,  # type: ignore[arg-type]
                str(call_id) if call_id else None)


def _as_call(call: object, index: int, position: int) -> ToolCall:
    try:
        return tool_call_from(call, position)
    except ValueError as exc:
        raise ValueError(f"message {index}: {exc}") from None


def prepare_chat(
    choice: ModelChoice,
    messages: Sequence[Turn | Mapping[str, Any]],
    *,
    system_prompt: str | None = None,
    tools: Sequence[ToolSpec | Mapping[str, Any]] | None = None,
    tool_choice: object = None,
    response_format: object = None,
    parallel_tool_calls: bool = True,
    thinking: bool | None = None,
    thinking_budget: int | None = None,
) -> PreparedChat:
    """Validate and map a conversation for ``choice``'s Space. Raises ``ValueError``.

    ``tools``: JSON-schema functions (OpenAI shape or :class:`ToolSpec`); ``tool_choice``:
    see :func:`~qwen_spaces.tools.normalize_tool_choice`; ``response_format``: OpenAI's
    ``{"type": "json_object"}`` or ``{"type": "json_schema", "json_schema": {"schema": …}}``,
    asked for in the system text; ``parallel_tool_calls=False`` keeps only the first call.
    ``thinking`` / ``thinking_budget`` (tokens) set a Space's thinking controls; a Space
    without them raises ``ValueError``.
    """
    spec = choice.spec
    check_thinking(choice, thinking, thinking_budget)
    if not messages:
        raise ValueError("the conversation is empty: send at least one user message")
    specs = tool_specs(tools)
    tool_mode = normalize_tool_choice(tool_choice, specs)
    format_block = _response_format(response_format)
    raw_turns = [_as_turn(m, i) for i, m in enumerate(messages)]
    uses_tools = bool(specs) or any(t.tool_calls or t.role == "tool" for t in raw_turns)
    if uses_tools and not spec.tool_calling:
        capable = ", ".join(s.name for s in _catalog_specs() if s.tool_calling)
        raise ValueError(
            f"{choice.model_name} cannot take tools: the Space has no system input to offer "
            f"them in; use one of {capable}")
    if format_block and not spec.supports_system:
        raise ValueError(f"{choice.model_name} cannot be asked for JSON output: the Space "
                         "has no system input")
    turns = _render_tool_turns(raw_turns)

    systems = [t.text for t in turns if t.role == "system" and t.text.strip()]
    merged: list[Turn] = []
    for t in turns:
        if t.role == "system":
            if t.images:
                raise ValueError("system messages cannot carry images")
            continue
        if merged and merged[-1].role == t.role:
            prev = merged[-1]
            text = "\n\n".join(x for x in (prev.text, t.text) if x)
            merged[-1] = Turn(t.role, text, prev.images + t.images)
        else:
            merged.append(t)
    if not merged:
        raise ValueError("the conversation has only system messages: add a user message")
    if merged[-1].role != "user":
        raise ValueError(
            f"the conversation must end with a user message, not {merged[-1].role!r}: "
            "a Space answers the last user turn"
        )
    raw_images = [img for t in merged for img in t.images]
    if any(t.images for t in merged if t.role == "assistant"):
        raise ValueError("assistant messages cannot carry images")
    if raw_images and not spec.vision:
        vision = [s for s in _vision_models()]
        raise ValueError(
            f"{choice.model_name} is a text-only model and cannot see images; "
            f"use {', '.join(vision) or 'a vision model'} or remove the image"
        )
    if len(raw_images) > spec.max_images:
        raise ValueError(
            f"{choice.model_name} takes at most {spec.max_images} image(s) per request, "
            f"got {len(raw_images)}: send one image per conversation"
        )
    images = tuple(image_from(img, max_bytes=spec.max_image_bytes) for img in raw_images)

    query_turn = merged[-1]
    if not query_turn.text.strip() and not images:
        raise ValueError("the last user message is empty")
    history = tuple((t.role, t.text) for t in merged[:-1])
    system = "\n\n".join(systems) if systems else (system_prompt or spec.default_system)
    extra_system = [b for b in (render_tools(specs, tool_mode), format_block) if b]
    if extra_system:
        system = "\n\n".join([system, *extra_system] if system else extra_system)
    query = query_turn.text

    flatten_history = history and not spec.supports_history and spec.turn != "session"
    flatten_system = system and not spec.supports_system and (systems or system_prompt)
    if flatten_history or flatten_system:  # only what the Space cannot take as data
        query = flatten(history if flatten_history else (), query,
                        system if flatten_system else None)
        if flatten_history:
            history = ()
    if not spec.supports_system:
        system = None
    return PreparedChat(query, history, system, images, choice.variant,  # type: ignore[arg-type]
                        specs, tool_mode, bool(parallel_tool_calls), thinking, thinking_budget)


def flatten(history: Sequence[tuple[Role, str]], query: str, system: str | None = None) -> str:
    """A transcript in one message, for a Space that cannot take the turns as data:
    ``System: …`` / ``User: …`` / ``Assistant: …`` paragraphs ending with the question."""
    if not history and system is None:
        return query
    parts = [f"System: {system}"] if system is not None else []
    parts += [f"{'User' if r == 'user' else 'Assistant'}: {x}" for r, x in history]
    parts.append(f"User: {query}")
    return "\n\n".join(parts)


def check_thinking(choice: ModelChoice, thinking: object, budget: object) -> None:
    """``ValueError`` unless the thinking settings fit the Space's controls."""
    spec = choice.spec
    if thinking is None and budget is None:
        return
    if not spec.thinking:
        capable = ", ".join(s.name for s in _catalog_specs() if s.thinking)
        raise ValueError(f"{choice.model_name} has no thinking switch or budget; thinking "
                         f"is set on {capable or 'no model'}")
    if thinking is not None and not isinstance(thinking, bool):
        raise ValueError(f"thinking must be True, False or None, not {thinking!r}")
    if budget is not None:
        low, high = spec.thinking_budget_range or (1, 1 << 30)
        if isinstance(budget, bool) or not isinstance(budget, int) or not low <= budget <= high:
            raise ValueError(f"thinking_budget must be a whole number of tokens from {low} to "
                             f"{high} for {choice.model_name}, not {budget!r}")


def budget_units(spec: SpaceSpec, tokens: int | None) -> int | None:
    """The Space's budget control value for ``tokens`` (rounded up to its unit)."""
    if tokens is None:
        tokens = spec.default_thinking_budget
    if tokens is None:
        return None
    unit = spec.thinking_budget_unit
    return int(-(-tokens // unit))


def _render_tool_turns(turns: list[Turn]) -> list[Turn]:
    """Calls into ``<tool_call>`` text; each run of tool results into one user turn.

    Qwen's format pairs results with calls by position only, while agents append results
    as the tools finish. So when every result of a run names (``tool_call_id``) a different
    call of the assistant turn before it, the results go back in call order; otherwise the
    given order is kept."""
    out: list[Turn] = []
    results: list[Turn] = []
    calls: tuple[ToolCall, ...] = ()
    for turn in [*turns, None]:
        if turn is not None and turn.role == "tool":
            if turn.images:
                raise ValueError("tool results cannot carry images")
            results.append(turn)
            continue
        if results:
            out.append(Turn("user", render_tool_results(
                [r.text for r in _in_call_order(results, calls)])))
            results = []
        if turn is None:
            break
        calls = turn.tool_calls
        if turn.tool_calls:
            text = render_tool_calls(turn.text, [(c.name, c.arguments) for c in turn.tool_calls])
            turn = Turn(turn.role, text, turn.images)
        out.append(turn)
    return out


def _in_call_order(results: list[Turn], calls: tuple[ToolCall, ...]) -> list[Turn]:
    order = {c.id: n for n, c in enumerate(calls) if c.id}
    ids = [r.tool_call_id for r in results]
    if len(set(ids)) == len(ids) and all(i in order for i in ids):
        return sorted(results, key=lambda r: order[r.tool_call_id or ""])
    return results


def _response_format(value: object) -> str:
    """The system block for OpenAI's ``response_format`` (empty for text / None)."""
    if value is None:
        return ""
    kind = value.get("type") if isinstance(value, Mapping) else value
    if kind in ("text", None):
        return ""
    if kind in ("json_object", "json"):
        return render_response_format(None)
    if kind == "json_schema" and isinstance(value, Mapping):
        inner = value.get("json_schema")
        schema = inner.get("schema") if isinstance(inner, Mapping) else None
        if isinstance(schema, Mapping):
            return render_response_format(schema)
    raise ValueError("response_format must be {'type': 'text'}, {'type': 'json_object'} or "
                     "{'type': 'json_schema', 'json_schema': {'name': …, 'schema': {…}}}, "
                     f"not {str(value)[:80]}")


def encode_history(
    history: Sequence[tuple[Role, str]], fmt: str | None, item: str = "str"
) -> list[Any]:
    """Earlier turns in the chatbot's wire format (tuples / messages / 6.x parts)."""
    if fmt == "parts":
        return [{"role": r, "content": [{"type": "text", "text": t}]} for r, t in history]
    if fmt == "messages":
        return [{"role": r, "content": t} for r, t in history]

    def wrap(text: str | None) -> Any:
        return ms_legacy_item(text) if item == "ms_legacy" and text is not None else text

    pairs: list[list[Any]] = []
    for role, text in history:
        if role == "user" or not pairs or pairs[-1][1] is not None:
            pairs.append([text, None] if role == "user" else [None, text])
        else:
            pairs[-1][1] = text
    return [[wrap(u), wrap(a)] for u, a in pairs]


def ms_legacy_item(text: str) -> dict[str, Any]:
    """One message as modelscope_studio's legacy chatbot (``mgr.Chatbot``) carries it, every
    field its data model has, as the Spaces' own page sends them."""
    return {"id": None, "elem_id": None, "elem_classes": None, "name": None, "text": text,
            "flushing": None, "avatar": "", "files": []}


def _catalog_specs() -> list[Any]:
    from .catalog import CATALOG

    return list(CATALOG.values())


def _vision_models() -> list[str]:
    return [s.name for s in _catalog_specs() if s.vision]
