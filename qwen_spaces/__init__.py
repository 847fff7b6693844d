"""Qwen chat Spaces on Hugging Face, spoken to over Gradio's queue protocol.

The framework-free core: the catalog of Spaces, an async client with sync twins, typed
events and errors. ``langchain_qwen_spaces`` and ``llama_index_qwen_spaces`` build on it.
"""

from .auth import find_token
from .catalog import CATALOG, ModelChoice, SpaceSpec, list_models, resolve_model
from .chat import PreparedChat, Role, Turn
from .client import BASE_URLS_ENV, ChatJob, SpaceClient
from .discovery import SpaceAPI
from .errors import (
    HubUnavailableError,
    NoSpaceAvailableError,
    QueueFullError,
    QuotaExceededError,
    SessionLostError,
    SpaceAppError,
    SpaceAuthError,
    SpaceError,
    SpaceProtocolError,
    SpaceTimeoutError,
    SpaceUnavailableError,
)
from .events import (
    Finished,
    InvalidToolCall,
    ProcessStarted,
    ProgressUpdate,
    QueuePosition,
    ReasoningDelta,
    SpaceLog,
    SpaceSkipped,
    SpaceWaking,
    StreamEvent,
    TextDelta,
    ToolCall,
    ToolCallDelta,
)
from .hub import SpaceRuntime
from .tools import ToolCallParser, ToolSpec, extract_json
from .transport import Timeouts, close_sessions, normalize_base_url

__all__ = [
    "BASE_URLS_ENV",
    "CATALOG",
    "ChatJob",
    "Finished",
    "HubUnavailableError",
    "InvalidToolCall",
    "ModelChoice",
    "NoSpaceAvailableError",
    "PreparedChat",
    "ProcessStarted",
    "ProgressUpdate",
    "QueueFullError",
    "QueuePosition",
    "QuotaExceededError",
    "ReasoningDelta",
    "Role",
    "SessionLostError",
    "SpaceAPI",
    "SpaceAppError",
    "SpaceAuthError",
    "SpaceClient",
    "SpaceError",
    "SpaceLog",
    "SpaceProtocolError",
    "SpaceRuntime",
    "SpaceSkipped",
    "SpaceSpec",
    "SpaceTimeoutError",
    "SpaceUnavailableError",
    "SpaceWaking",
    "StreamEvent",
    "TextDelta",
    "Timeouts",
    "ToolCall",
    "ToolCallDelta",
    "ToolCallParser",
    "ToolSpec",
    "Turn",
    "__version__",
    "close_sessions",
    "extract_json",
    "find_token",
    "list_models",
    "normalize_base_url",
    "resolve_model",
]


def __getattr__(name: str) -> str:
    """``__version__``, read from the package metadata on first use."""
    if name == "__version__":
        from .transport import version

        return version()
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
