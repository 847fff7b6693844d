"""A one-line, self-updating status display for waits (waking Space, failover, queue
position, ZeroGPU, progress).

Both adapters' display callbacks use it. In Jupyter it updates one output line in place;
elsewhere it writes to stderr.
"""

from __future__ import annotations

import sys
from typing import Any

from .events import StreamEvent

__all__ = ["StatusLine", "describe"]


def describe(event: StreamEvent | dict[str, Any]) -> str | None:
    """Human wording for a status event (or its ``as_dict()``); None for text events."""
    data = event.as_dict() if isinstance(event, StreamEvent) else event
    kind = data.get("kind")
    if kind == "queue":
        pos, size, eta = data.get("position"), data.get("queue_size"), data.get("eta")
        where = f"position {pos}" + (f" of {size}" if size else "") if pos else "waiting"
        return f"⏳ {where} in the queue" + (f", about {eta:.0f} s" if eta else "")
    if kind == "started":
        eta = data.get("eta")
        return "▶ running" + (f" (usually takes {eta:.0f} s)" if eta else "")
    if kind == "progress":
        steps = data.get("steps") or ()
        parts = [f"{s.get('desc') or 'working'} {s.get('index')}/{s.get('length')}"
                 for s in steps if s.get("length")]
        return "… " + (", ".join(parts) or "working")
    if kind == "waking":
        return (f"⏰ waking {data.get('space_id')}: {data.get('stage')}, "
                f"{data.get('elapsed') or 0:.0f} s (waits up to {data.get('timeout') or 0:.0f} s)")
    if kind == "failover":
        return (f"↷ {data.get('model')} skipped ({data.get('reason')}); "
                f"trying {data.get('next_model')}")
    if kind == "log":
        icon = {"warning": "⚠", "error": "✖"}.get(str(data.get("level")), "•")
        return f"{icon} {data.get('message')}"
    return None


class StatusLine:
    """Shows the latest status: one line updated in place in Jupyter, lines on stderr
    elsewhere. ``shown`` keeps what was displayed."""

    def __init__(self, prefix: str = "") -> None:
        self.prefix = prefix
        self.shown: list[str] = []
        self._handle: Any = None

    def update(self, event: StreamEvent | dict[str, Any]) -> None:
        text = describe(event)
        if text is None:
            return
        text = f"{self.prefix}{text}"
        self.shown.append(text)
        display = _ipython_display()
        if display is not None:
            if self._handle is None:
                self._handle = display(text, display_id=True)
            else:
                self._handle.update(text)
        else:
            sys.stderr.write(f"{text}\n")
            sys.stderr.flush()


def _ipython_display() -> Any:
    ipython = sys.modules.get("IPython")
    if ipython is None or getattr(ipython, "get_ipython", lambda: None)() is None:
        return None
    from IPython.display import display

    return display
