"""LangChain integration for the Qwen chat Spaces on Hugging Face."""

from importlib.metadata import PackageNotFoundError, version

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

try:
    __version__ = version("qwen-spaces")
except PackageNotFoundError:  # pragma: no cover - running from a source tree
    __version__ = "0.0.0"

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
