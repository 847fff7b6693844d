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
* a Space without a history (or system) input gets a flattened transcript instead, as
  ``System: …`` / ``User: …`` / ``Assistant: …`` paragraphs ending with the question.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Literal

from .catalog import ModelChoice
from .images import ImageSource, image_from

__all__ = ["PreparedChat", "Turn", "encode_history", "prepare_chat"]

Role = Literal["system", "user", "assistant"]
_ROLE_ALIASES = {"system": "system", "user": "user", "human": "user", "assistant": "assistant",
                 "ai": "assistant"}


@dataclass(frozen=True)
class Turn:
    role: Role
    text: str
    images: tuple[Any, ...] = ()


@dataclass(frozen=True)
class PreparedChat:
    query: str
    history: tuple[tuple[Role, str], ...]
    system: str | None
    images: tuple[ImageSource, ...]
    variant: str | None


def _as_turn(item: Turn | Mapping[str, Any], index: int) -> Turn:
    role: Any
    if isinstance(item, Turn):
        role, text, images = item.role, item.text, item.images
    elif isinstance(item, Mapping):
        role = item.get("role")
        text = item.get("content", item.get("text", ""))
        images = tuple(item.get("images") or ())
    else:
        raise ValueError(f"message {index} must be a Turn or a mapping, not {type(item).__name__}")
    norm = _ROLE_ALIASES.get(str(role).lower()) if isinstance(role, str) else None
    if norm is None:
        raise ValueError(
            f"message {index} has role {role!r}; Qwen Spaces take only system, user and "
            "assistant messages (tool results cannot be sent to a Space)"
        )
    if text is None:
        text = ""
    if not isinstance(text, str):
        raise ValueError(f"message {index} content must be text, got {type(text).__name__}")
    return Turn(norm, text, tuple(images))  # type: ignore[arg-type]


def prepare_chat(
    choice: ModelChoice,
    messages: Sequence[Turn | Mapping[str, Any]],
    *,
    system_prompt: str | None = None,
) -> PreparedChat:
    """Validate and map a conversation for ``choice``'s Space. Raises ``ValueError``."""
    spec = choice.spec
    if not messages:
        raise ValueError("the conversation is empty: send at least one user message")
    turns = [_as_turn(m, i) for i, m in enumerate(messages)]

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
    query = query_turn.text

    flatten_history = history and not spec.supports_history
    flatten_system = system and not spec.supports_system and (systems or system_prompt)
    if flatten_history or flatten_system:
        parts = [f"System: {system}"] if flatten_system else []
        parts += [f"{'User' if r == 'user' else 'Assistant'}: {x}" for r, x in history]
        parts.append(f"User: {query}")
        query, history = "\n\n".join(parts), ()
    if not spec.supports_system:
        system = None
    return PreparedChat(query, history, system, images, choice.variant)


def encode_history(
    history: Sequence[tuple[Role, str]], fmt: str | None, item: str = "str"
) -> list[Any]:
    """Earlier turns in the chatbot's wire format (tuples / messages / 6.x parts)."""
    if fmt == "parts":
        return [{"role": r, "content": [{"type": "text", "text": t}]} for r, t in history]
    if fmt == "messages":
        return [{"role": r, "content": t} for r, t in history]

    def wrap(text: str | None) -> Any:
        return {"text": text, "files": []} if item == "text_dict" and text is not None else text

    pairs: list[list[Any]] = []
    for role, text in history:
        if role == "user" or not pairs or pairs[-1][1] is not None:
            pairs.append([text, None] if role == "user" else [None, text])
        else:
            pairs[-1][1] = text
    return [[wrap(u), wrap(a)] for u, a in pairs]


def _vision_models() -> list[str]:
    from .catalog import CATALOG

    return [s.name for s in CATALOG.values() if s.vision]
