"""LlamaIndex integration: the Qwen chat Spaces as ``QwenSpacesLLM``.

``from llama_index_qwen_spaces import QwenSpacesLLM``; Space status (queue, progress, logs)
reaches LlamaIndex instrumentation handlers as ``QwenSpacesStatusEvent``.
"""

from qwen_spaces import (
    NoSpaceAvailableError,
    QueueFullError,
    QuotaExceededError,
    SpaceAppError,
    SpaceAuthError,
    SpaceError,
    SpaceProtocolError,
    SpaceTimeoutError,
    SpaceUnavailableError,
)

from .base import QwenSpacesLLM
from .events import QwenSpacesStatusEvent, StatusDisplay

__all__ = [
    "NoSpaceAvailableError",
    "QueueFullError",
    "QuotaExceededError",
    "QwenSpacesLLM",
    "QwenSpacesStatusEvent",
    "SpaceAppError",
    "SpaceAuthError",
    "SpaceError",
    "SpaceProtocolError",
    "SpaceTimeoutError",
    "SpaceUnavailableError",
    "StatusDisplay",
]
