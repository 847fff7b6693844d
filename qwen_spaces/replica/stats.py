"""Per-replica counters, served at ``GET /replica/stats`` so tests can see the server side.

"stopped_early" counts reply generators that were closed from outside (client dropped the
stream, ``/cancel``) before they finished: the proof that a cancel reached the server.

``last_request`` is what the handler of the latest call received: ``query``, ``system``
(verbatim), ``history`` (the raw value, JSON-safe), ``history_turns``, ``history_len``,
``variant``, ``image`` (described), ``space_id`` and ``name``.
"""

from __future__ import annotations

import hashlib
import threading
from collections.abc import Mapping
from typing import Any

__all__ = ["ReplicaStats", "header_summary"]

#: Request headers whose presence matters to security tests; values are never stored.
_SECRET_HEADERS = ("x-hf-authorization", "authorization")
_PLAIN_HEADERS = ("x-gradio-user", "user-agent", "cookie")


def header_summary(headers: Mapping[str, str]) -> dict[str, Any]:
    """What arrived, without keeping any secret: presence plus a short sha256 of the value."""
    lower = {k.lower(): v for k, v in headers.items()}
    summary: dict[str, Any] = {}
    for name in _SECRET_HEADERS:
        value = lower.get(name)
        summary[name] = value is not None
        if value is not None:
            token = value.split(" ", 1)[1] if value.lower().startswith("bearer ") else value
            summary[f"{name}_sha256"] = hashlib.sha256(token.encode()).hexdigest()[:12]
    for name in _PLAIN_HEADERS:
        summary[name] = lower.get(name) if name != "cookie" else name in lower
    return summary


class ReplicaStats:
    """Thread-safe counters for one replica app."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self.started = 0
        self.completed = 0
        self.failed = 0
        self.stopped_early = 0
        self.active = 0
        self.last_request: dict[str, Any] | None = None
        self.last_headers: dict[str, Any] | None = None

    def start(self, request: dict[str, Any], headers: dict[str, Any] | None) -> None:
        with self._lock:
            self.started += 1
            self.active += 1
            self.last_request = request
            self.last_headers = headers

    def finish(self, outcome: str) -> None:
        """``outcome`` is "completed", "failed" or "stopped_early"."""
        with self._lock:
            self.active -= 1
            setattr(self, outcome, getattr(self, outcome) + 1)

    def snapshot(self) -> dict[str, Any]:
        with self._lock:
            return {
                "started": self.started,
                "completed": self.completed,
                "failed": self.failed,
                "stopped_early": self.stopped_early,
                "active": self.active,
                "last_request": self.last_request,
                "last_headers": self.last_headers,
            }
