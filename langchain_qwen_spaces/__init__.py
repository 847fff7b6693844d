"""LangChain integration for the Qwen chat Spaces on Hugging Face."""

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

from .callbacks import StatusDisplay
from .chat_models import STATUS_EVENT, ChatQwenSpaces

__all__ = [
    "STATUS_EVENT",
    "ChatQwenSpaces",
    "NoSpaceAvailableError",
    "QueueFullError",
    "QuotaExceededError",
    "SpaceAppError",
    "SpaceAuthError",
    "SpaceError",
    "SpaceProtocolError",
    "SpaceTimeoutError",
    "SpaceUnavailableError",
    "StatusDisplay",
    "__version__",
]


def __getattr__(name: str) -> str:
    """``__version__`` (the distribution's, shared with ``qwen_spaces``), read on first use."""
    if name == "__version__":
        from qwen_spaces.transport import version

        return version()
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
