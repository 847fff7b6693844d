"""LlamaIndex ``ChatMessage`` -> the core's :class:`~qwen_spaces.Turn`.

Only the shape changes here; validation, merging and the Space-specific layout stay in
``qwen_spaces.chat`` so both adapters map a conversation identically. Role choices:

* ``SYSTEM`` and ``DEVELOPER`` (OpenAI's newer name for the same thing) -> system;
* ``USER`` -> user; ``ASSISTANT``, ``CHATBOT`` (Cohere) and ``MODEL`` (Gemini) -> assistant,
  since they are other providers' names for the model's own turns;
* ``TOOL`` (and the legacy ``FUNCTION``) -> a tool result, whose text the core renders as a
  ``<tool_response>`` block; its ``additional_kwargs["tool_call_id"]`` lets the core put
  results back in call order (``FunctionAgent`` appends them as the tools finish).

Blocks: text blocks are joined with ``\\n`` (as ``ChatMessage.content`` does); an assistant's
``ThinkingBlock`` is dropped (earlier thinking is not sent back); image blocks
become core image inputs; an assistant message's calls (``ToolCallBlock``s, else
``additional_kwargs["tool_calls"]``) become the turn's ``tool_calls``, which the core renders
as ``<tool_call>`` blocks; anything else raises ``ValueError`` rather than being dropped.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

from llama_index.core.base.llms.types import (
    ChatMessage,
    ImageBlock,
    MessageRole,
    TextBlock,
    ThinkingBlock,
    ToolCallBlock,
)

from qwen_spaces import Role, Turn
from qwen_spaces.auth import image_url_only

from .calls import message_calls

__all__ = ["image_input", "to_turns"]

_ROLES: dict[MessageRole, Role] = {
    MessageRole.SYSTEM: "system",
    MessageRole.DEVELOPER: "system",
    MessageRole.USER: "user",
    MessageRole.ASSISTANT: "assistant",
    MessageRole.CHATBOT: "assistant",
    MessageRole.MODEL: "assistant",
    MessageRole.TOOL: "tool",
    MessageRole.FUNCTION: "tool",
}


def to_turns(messages: Sequence[ChatMessage]) -> list[Turn]:
    """Map messages to turns. Raises ``ValueError`` for roles or blocks a Space cannot take."""
    return [_turn(message, index) for index, message in enumerate(messages)]


def _turn(message: ChatMessage, index: int) -> Turn:
    role = _ROLES.get(message.role)
    if role is None:
        raise ValueError(
            f"message {index} has role {message.role.value!r}; Qwen Spaces take system, "
            "user, assistant and tool messages")
    texts: list[str] = []
    images: list[object] = []
    for block in message.blocks:
        if isinstance(block, TextBlock):
            texts.append(block.text)
        elif isinstance(block, ImageBlock):
            images.append(image_input(block))
        elif isinstance(block, ToolCallBlock) and role == "assistant":
            continue  # read below, with additional_kwargs["tool_calls"]
        elif isinstance(block, ThinkingBlock) and role == "assistant":
            continue  # earlier thinking is not sent back (Qwen3's template drops it)
        else:
            raise ValueError(
                f"message {index} has a {block.block_type!r} block; Qwen Spaces take only "
                "text and image blocks")
    calls = message_calls(message, index) if role == "assistant" else ()
    call_id = message.additional_kwargs.get("tool_call_id") if role == "tool" else None
    return Turn(role, "\n".join(texts), tuple(images), calls,
                str(call_id) if call_id else None)


def image_input(block: ImageBlock) -> object:
    """The core's image input for a block: bytes, a local path, or the URL string.

    URLs are passed through rather than resolved here, so the core fetches http(s) images
    with its size cap and timeout and never with the HF token (``ImageBlock.resolve_image``
    would download without either); ``data:`` URIs are decoded and checked by the core.
    ``url=`` takes only http(s) and ``data:``: a local file is sent only when asked for
    explicitly, with ``path=`` (or ``image=`` bytes), never because a "URL" named it.
    """
    if block.image is not None:
        return block.resolve_image().read()
    if block.path is not None:
        return Path(block.path)  # the core checks the size before reading the file
    if block.url is not None:
        return image_url_only(str(block.url), "an ImageBlock's url")
    raise ValueError("an ImageBlock needs image=, path= or url=")
