"""Failover across Spaces: which failures move a call to the next model, and a client's
memory of Spaces that failed recently.

A call with ``fallback_models`` tries its models in order. A model that fails *before any
answer text* with one of the failures below is skipped and the next one asked; a failure
after the first token is the caller's (nothing is ever said twice). Each failure is
remembered per client: that Space is skipped without a request for a cool-down, or, for a
ZeroGPU quota error that names its wait (``retry_after``), until then. A success forgets it.

Why only these: they say the Space cannot serve *now* (asleep, paused, crashed, out of
quota, queue full, unreachable). Bad input, a refused token or a changed API would fail the
same way on every model, or need the caller's attention, so they are raised at once.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass

from .errors import (
    QueueFullError,
    QuotaExceededError,
    SpaceError,
    SpaceTimeoutError,
    SpaceUnavailableError,
)

__all__ = ["Cooldowns", "failover_reason"]


def failover_reason(exc: SpaceError) -> str | None:
    """A short reason when ``exc`` moves a call to the next model, else None."""
    if isinstance(exc, QuotaExceededError):
        wait = f", retry in {_duration(exc.retry_after)}" if exc.retry_after else ""
        return f"ZeroGPU quota exhausted{wait}"
    if isinstance(exc, QueueFullError):
        return "its queue is full"
    if isinstance(exc, SpaceTimeoutError):
        return "no connection within the connect timeout" if exc.phase == "connect" else None
    if isinstance(exc, SpaceUnavailableError):
        if exc.stage and exc.stage not in ("RUNNING", "RUNNING_BUILDING"):
            return f"not serving (stage {exc.stage})"
        if exc.status:
            return f"not serving (HTTP {exc.status})"
        # "{space}: cannot connect to X (...); check ...": the first clause after the name
        cause = str(exc).removeprefix(f"{exc.space}: ").split("; ", 1)[0]
        return f"unreachable: {cause[:160]}" if cause else "unreachable"
    return None


@dataclass
class _Failure:
    until: float
    reason: str
    #: A quota wait the Space named: nothing is gained by asking before it is over.
    hard: bool


class Cooldowns:
    """Spaces that failed recently, by key (model name and host), in one client."""

    def __init__(self, cooldown: float = 60.0,
                 clock: Callable[[], float] = time.monotonic) -> None:
        if cooldown < 0:
            raise ValueError("failover_cooldown must be >= 0 seconds")
        self.cooldown = cooldown
        self._clock = clock
        self._failed: dict[tuple[str, str], _Failure] = {}

    def failed(self, key: tuple[str, str], exc: SpaceError, reason: str) -> None:
        """Remember a failure: skip this Space for the cool-down or, for a quota error that
        names its wait, until that wait is over."""
        quota_wait = exc.retry_after if isinstance(exc, QuotaExceededError) else None
        wait = quota_wait if quota_wait else self.cooldown
        self._failed[key] = _Failure(self._clock() + wait, reason, bool(quota_wait))

    def succeeded(self, key: tuple[str, str]) -> None:
        self._failed.pop(key, None)

    def skip_reason(self, key: tuple[str, str]) -> tuple[str, bool] | None:
        """Why this Space is skipped now (its last failure and the time left), and whether
        that is a quota wait (``hard``: not asked at all until it is over); or None."""
        failure = self._failed.get(key)
        if failure is None:
            return None
        left = failure.until - self._clock()
        if left <= 0:
            del self._failed[key]
            return None
        return f"{failure.reason}; skipped for another {_duration(left)}", failure.hard


def _duration(seconds: float) -> str:
    """``45 s``, ``9 min 5 s``, ``2 h 3 min``: for messages. A wait is never ``0 s``."""
    total = max(1, round(seconds))
    hours, rest = divmod(total, 3600)
    minutes, secs = divmod(rest, 60)
    if hours:
        return f"{hours} h {minutes} min"
    if minutes:
        return f"{minutes} min {secs} s" if secs else f"{minutes} min"
    return f"{secs} s"
