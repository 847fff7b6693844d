"""The exceptions a caller of a Qwen Space can meet.

Every failure ends in one of these (or a ``ValueError`` for bad input, raised before any
request). Messages say what happened and what to do; none of them carries the HF token.
"""

from __future__ import annotations

import re

__all__ = [
    "HubUnavailableError",
    "NoSpaceAvailableError",
    "QueueFullError",
    "QuotaExceededError",
    "SessionLostError",
    "SpaceAppError",
    "SpaceAuthError",
    "SpaceError",
    "SpaceProtocolError",
    "SpaceTimeoutError",
    "SpaceUnavailableError",
]


class SpaceError(Exception):
    """Base class: something went wrong talking to (or inside) a Space."""

    #: Whether retrying the same request later can succeed.
    retryable: bool = False

    def __init__(self, message: str, *, space: str | None = None,
                 unanswered: bool = False) -> None:
        super().__init__(message)
        self.space = space
        #: The request went out and the server was still silent when the timeout expired: it
        #: may be acting on it. (A dropped connection is not this: Gradio answers a join at
        #: once, so a drop means the server failed rather than that it is busy.)
        self.unanswered = unanswered
        #: False when the client must not repeat the request (a join that may have queued
        #: the job); set by the client, never by a retry policy.
        self.retry_safe = True

    def __reduce__(self):  # type: ignore[no-untyped-def]
        # Keep errors picklable (multiprocessing, LangChain tracing) despite keyword args.
        return (_rebuild, (type(self), self.__dict__, self.args))


def _rebuild(
    cls: type[SpaceError], state: dict[str, object], args: tuple[object, ...]
) -> SpaceError:
    err = cls.__new__(cls)
    Exception.__init__(err, *args)
    err.__dict__.update(state)
    return err


class SpaceAppError(SpaceError):
    """The Space's own code raised (``gr.Error`` or a hidden exception)."""

    def __init__(self, message: str, *, space: str | None = None, title: str | None = None) -> None:
        super().__init__(message, space=space)
        self.title = title


class QuotaExceededError(SpaceAppError):
    """ZeroGPU quota exhausted. ``retry_after`` is the wait in seconds the Space named, if any."""

    retryable = True

    def __init__(
        self,
        message: str,
        *,
        space: str | None = None,
        title: str | None = None,
        retry_after: float | None = None,
    ) -> None:
        super().__init__(message, space=space, title=title)
        self.retry_after = retry_after


class QueueFullError(SpaceError):
    """The Space's queue refused the job (HTTP 503 'Queue is full')."""

    retryable = True


class SpaceUnavailableError(SpaceError):
    """The Space is not serving: asleep, building, paused, crashed, or not a Gradio app here.

    ``stage`` is the Hub runtime stage when it is known (``SLEEPING``, ``BUILDING``, ...).
    """

    retryable = True

    def __init__(
        self, message: str, *, space: str | None = None, stage: str | None = None,
        status: int | None = None, unanswered: bool = False,
    ) -> None:
        super().__init__(message, space=space, unanswered=unanswered)
        self.stage = stage
        self.status = status


class HubUnavailableError(SpaceError):
    """The Hugging Face Hub's API (``$HF_ENDPOINT``) could not be asked about a Space: no
    network, a mirror down, or an answer that is not the Hub's. Says nothing about the
    Space itself."""

    retryable = True


class NoSpaceAvailableError(SpaceUnavailableError):
    """Every model of a failover chain failed (or was skipped) before answering.

    ``failures`` holds ``(model, space_id, reason, error)`` per model in chain order;
    ``error`` is the exception met, or ``None`` for a model skipped without being asked
    (cooling down after a recent failure, or unable to take this request).
    """

    retryable = False

    def __init__(self, failures: list[tuple[str, str, str, SpaceError | None]]) -> None:
        listed = "; ".join(f"{model} ({space}): {reason}" for model, space, reason, _ in failures)
        super().__init__(f"no Space in the chain could answer: {listed}. Try again later, or "
                         "add other models to fallback_models=")
        self.failures = failures


class SpaceAuthError(SpaceError):
    """The Space refused access (HTTP 401 or 403): no token was sent, or it was refused.

    The Space is private or gated, or the token is invalid or lacks access. ``status`` is
    the HTTP status; ``token_sent`` says whether a token went with the request. Not retried.
    """

    def __init__(self, message: str, *, space: str | None = None, status: int | None = None,
                 token_sent: bool = False) -> None:
        super().__init__(message, space=space)
        self.status = status
        self.token_sent = token_sent


class SpaceProtocolError(SpaceError):
    """The Space answered, but not in the Gradio protocol we expect (or its API changed)."""


class SessionLostError(SpaceProtocolError):
    """The Space no longer holds the session a call continued (it dropped it while idle).
    The client handles this itself, by sending the conversation again as one message on a
    fresh session, before any text reaches the caller."""

    retryable = True


class SpaceTimeoutError(SpaceError, TimeoutError):
    """A timeout expired. ``phase`` names which: ``connect`` (no connection within the
    limit), ``request`` (connected, but no answer to a request), ``queue`` (still waiting in
    the Space's queue) or ``idle`` (an open stream went silent)."""

    retryable = True

    def __init__(self, message: str, *, space: str | None = None, phase: str = "idle",
                 unanswered: bool = False) -> None:
        super().__init__(message, space=space, unanswered=unanswered)
        self.phase = phase


_RETRY_RE = re.compile(r"try again in (\d+):(\d{1,2}):(\d{1,2})", re.IGNORECASE)
_QUOTA_RE = re.compile(r"exceeded your .*quota|reached its gpu limit|zerogpu runs limit", re.I)


def clean_app_message(raw: object) -> str | None:
    """Gradio 4 wraps ``gr.Error`` text in quotes (it sends ``repr``); strip one pair."""
    if raw is None:
        return None
    text = str(raw).strip()
    if len(text) >= 2 and text[0] == text[-1] and text[0] in "'\"":
        text = text[1:-1]
    return text or None


def app_error(raw: object, *, space: str, title: object = None) -> SpaceAppError:
    """Classify an error reported by the Space's code (quota vs. anything else)."""
    message = clean_app_message(raw)
    title_s = title if isinstance(title, str) else None
    if message is None:
        return SpaceAppError(
            f"{space}: the Space's code failed without saying why (it hides exception text). "
            "Try again later, or with a shorter conversation.",
            space=space,
            title=title_s,
        )
    if _QUOTA_RE.search(message) or (title_s or "").lower().startswith("zerogpu quota"):
        match = _RETRY_RE.search(message)
        retry_after = None
        if match:
            h, m, s = (int(g) for g in match.groups())
            retry_after = float(h * 3600 + m * 60 + s)
        return QuotaExceededError(
            f"{space}: {message} (pass an HF token for more quota, or wait and retry)",
            space=space,
            title=title_s,
            retry_after=retry_after,
        )
    return SpaceAppError(f"{space}: {message}", space=space, title=title_s)
