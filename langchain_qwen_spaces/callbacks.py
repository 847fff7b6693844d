"""A callback handler that shows why a call is waiting (queue position, ETA, progress)."""

from __future__ import annotations

from typing import Any

from langchain_core.callbacks import BaseCallbackHandler

from qwen_spaces.status import StatusLine

from .chat_models import STATUS_EVENT

__all__ = ["StatusDisplay"]


class StatusDisplay(BaseCallbackHandler):
    """Pass in ``config={"callbacks": [StatusDisplay()]}``: one line, updated in place in
    Jupyter, shows the queue position / ETA / progress / ZeroGPU messages of the call."""

    def __init__(self, line: StatusLine | None = None) -> None:
        self.line = line or StatusLine()

    def on_custom_event(self, name: str, data: Any, **kwargs: Any) -> None:
        if name == STATUS_EVENT:
            self.line.update(data)
