"""Space sessions that hold a conversation, for Spaces that keep it in ``gr.State``.

Qwen3-Demo keeps the conversation (and the thinking switch) per ``session_hash`` on the
server; its listener takes only the new message. A stateless chat call (LangChain,
LlamaIndex, OpenAI: the whole history every time) maps onto that like this:

* after a call completes, the client remembers its session with the transcript the caller
  now has: the call's history, its message and the answer (as the caller will send it back);
* a call whose history *equals* a remembered transcript takes that session and sends only
  its new message: the Space already holds the real earlier turns;
* any other call gets a fresh session, with its history flattened into one message
  (``User: …`` / ``Assistant: …``), as for QVQ;
* a session is taken by one call at a time: of two calls that extend the same transcript
  (two branches of one conversation, or the same request twice at once), the first to start
  continues the session and the other starts a fresh one, flattened;
* sessions idle for ``ttl`` seconds are not reused (Spaces drop idle sessions), and when the
  Space shows it no longer holds a session's turns (its chatbot lacks them), the client
  re-sends the call flattened on a fresh session before any text reaches the caller.

Sessions live in the client's memory only (one process), at most ``max_sessions`` of them.
"""

from __future__ import annotations

import secrets
import threading
import time
from collections import OrderedDict
from dataclasses import dataclass

__all__ = ["SessionBook", "SpaceSession"]

Transcript = tuple[tuple[str, str], ...]


@dataclass
class SpaceSession:
    """One Space session: what the Space holds for it, as far as this client knows."""

    session_hash: str
    transcript: Transcript = ()
    #: User turns the Space holds (a flattened first message counts as one).
    turns: int = 0
    #: The session's thinking switch (a fresh Qwen3-Demo session starts with thinking on).
    thinking: bool = True
    used: float = 0.0

    @classmethod
    def fresh(cls, thinking: bool = True) -> SpaceSession:
        return cls(secrets.token_hex(6), thinking=thinking, used=time.monotonic())


class SessionBook:
    """Remembered sessions per (model, host), matched on their exact transcript."""

    def __init__(self, *, ttl: float = 900.0, max_sessions: int = 256) -> None:
        self.ttl = ttl
        self.max_sessions = max_sessions
        self._lock = threading.Lock()  # clients are shared across threads and loops
        self._free: OrderedDict[tuple[str, str, Transcript], SpaceSession] = OrderedDict()

    def take(self, space: tuple[str, str], history: Transcript) -> SpaceSession | None:
        """The idle session whose transcript is ``history``, removed from the book (so no
        other call continues it meanwhile), or None."""
        if not history:
            return None
        with self._lock:
            session = self._free.pop((*space, history), None)
        if session is None or time.monotonic() - session.used > self.ttl:
            return None
        return session

    def give_back(self, space: tuple[str, str], session: SpaceSession) -> None:
        """Remember ``session`` after a completed call, under its new transcript."""
        session.used = time.monotonic()
        with self._lock:
            key = (*space, session.transcript)
            self._free[key] = session
            self._free.move_to_end(key)
            while len(self._free) > self.max_sessions:
                self._free.popitem(last=False)

    def __len__(self) -> int:
        with self._lock:
            return len(self._free)
