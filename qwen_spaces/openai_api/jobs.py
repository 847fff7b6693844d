"""One request's Space job: a server slot, the core's stream, the client watched throughout.

:class:`JobSlots` bounds the Space jobs a server runs at once (``--max-jobs``); requests over
it wait in arrival order, and their wait is reported like a Space queue's.

:class:`Feed` runs the job in a task of its own (slot, then
:meth:`~qwen_spaces.SpaceClient.astream_job`) and hands its events to the handler, which can
then wait with a deadline (the 10 s header hold, keepalives) without cancelling the stream.
While it waits, :meth:`Feed.next` watches three things:

* **the client**: a closed transport raises :class:`ClientGone`. aiohttp cancels a handler
  whose client left only with ``handler_cancellation=True``, which is off by default (and
  always on in ``TestServer``, which would hide the leak), so the transport is polled;
* **the server**: on shutdown every feed raises :class:`ShuttingDown`;
* **the queue deadline**: the wait for a slot and in the Space's queue together may last the
  client's ``queue`` timeout; then a 504, as the core's own queue timeout would be.

Leaving the ``async with`` block cancels the task, whose ``aclosing`` closes the core stream,
which cancels the job on the Space (the replica counts it ``stopped_early``).
"""

from __future__ import annotations

import asyncio
import secrets
import time
from collections import deque
from collections.abc import Callable
from contextlib import aclosing, suppress
from dataclasses import dataclass
from types import TracebackType
from typing import TYPE_CHECKING, Any

from aiohttp import web

from ..client import ChatJob
from ..errors import SpaceError
from ..events import Finished, ProcessStarted, ProgressUpdate, QueuePosition, SpaceLog, StreamEvent
from .errors import ApiError, from_exception

if TYPE_CHECKING:
    from .app import ServerState
    from .requests import CompletionRequest

__all__ = ["STATUS", "ClientGone", "Feed", "JobSlots", "ServerQueue", "ShuttingDown",
           "new_ids", "status_text"]

#: Seconds between checks of the client's connection while nothing else happens.
POLL = 0.2


class ClientGone(Exception):
    """The client closed the connection."""


class ShuttingDown(Exception):
    """The server is stopping (Ctrl-C, SIGTERM, the host app's shutdown)."""


@dataclass(frozen=True, slots=True)
class ServerQueue(StreamEvent):
    """Waiting for one of the server's job slots: ``position`` of ``size`` waiting."""

    position: int
    size: int

    @property
    def kind(self) -> str:
        return "server_queue"


#: Events shown as comment lines, not as chunks.
STATUS = (QueuePosition, ProcessStarted, ProgressUpdate, SpaceLog, ServerQueue)


def status_text(event: StreamEvent) -> str:
    """A status event as a short line: ``queue 3/7, eta 12 s``."""
    if isinstance(event, QueuePosition):
        where = f"queue {event.position or '?'}/{event.queue_size or '?'}"
        return where + (f", eta {event.eta:.0f} s" if event.eta is not None else "")
    if isinstance(event, ServerQueue):
        return f"server queue {event.position}/{event.size} (all job slots busy)"
    if isinstance(event, ProcessStarted):
        return "started" + (f", usually takes {event.eta:.0f} s" if event.eta else "")
    if isinstance(event, SpaceLog):
        return f"{event.level}: {event.message}"
    if isinstance(event, ProgressUpdate):
        steps = [f"{s.get('desc') or 'step'} {s.get('index')}/{s.get('length')}"
                 for s in event.steps]
        return "progress " + ", ".join(steps)
    return event.kind


class JobSlots:
    """At most ``limit`` jobs at once; the others wait first come, first served."""

    def __init__(self, limit: int) -> None:
        if limit < 1:
            raise ValueError("max_jobs must be >= 1")
        self.limit = limit
        self.running = 0
        self._waiters: deque[asyncio.Future[None]] = deque()
        self._reporters: dict[asyncio.Future[None], Callable[[int, int], None]] = {}

    @property
    def waiting(self) -> int:
        return len(self._waiters)

    async def acquire(self, report: Callable[[int, int], None]) -> None:
        """Take a slot, waiting if need be; ``report(position, waiting)`` on every move."""
        if self.running < self.limit and not self._waiters:
            self.running += 1
            return
        future: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self._waiters.append(future)
        self._reporters[future] = report
        self._report()
        try:
            await future
        except asyncio.CancelledError:
            if future.done() and not future.cancelled():
                self.release()  # handed a slot as we were cancelled: pass it on
            else:
                with suppress(ValueError):
                    self._waiters.remove(future)
                self._report()
            raise
        finally:
            self._reporters.pop(future, None)

    def release(self) -> None:
        while self._waiters:
            future = self._waiters.popleft()
            if not future.done():
                future.set_result(None)  # the slot passes on; ``running`` stays
                self._report()
                return
        self.running -= 1

    def _report(self) -> None:
        for n, future in enumerate(self._waiters, 1):
            report = self._reporters.get(future)
            if report is not None:
                report(n, len(self._waiters))


class Feed:
    """Runs one request's job and hands its events to the handler (see the module doc)."""

    def __init__(self, state: ServerState, request: web.Request, job: ChatJob,
                 call: CompletionRequest) -> None:
        self.state, self.request, self.job, self.call = state, request, job, call
        loop = asyncio.get_running_loop()
        self._loop = loop
        self._t0 = loop.time()
        self._deadline = self._t0 + state.client.timeouts.queue
        self._items: deque[Any] = deque()
        self._wake = asyncio.Event()
        self._task: asyncio.Task[None] | None = None
        self._error: BaseException | None = None
        self._done = False
        #: Left both queues (the server's slots and the Space's): the job runs.
        self.started = False
        #: Seconds from the request to the job's start, once started.
        self.queue_wait: float | None = None
        #: Set once the job is over and its feed left (what a shutdown waits for).
        self.closed = asyncio.Event()

    async def __aenter__(self) -> Feed:
        self._task = asyncio.create_task(self._produce())
        self.state.feeds.add(self)
        return self

    async def __aexit__(self, exc_type: type[BaseException] | None,
                        exc: BaseException | None, tb: TracebackType | None) -> None:
        self.state.feeds.discard(self)
        task = self._task
        try:
            if task is not None and not task.done():
                task.cancel()  # closes the core stream, which cancels the job on the Space
                with suppress(asyncio.CancelledError):
                    await task
        finally:
            self.closed.set()

    def wake(self) -> None:
        self._wake.set()

    async def _produce(self) -> None:
        slots = self.state.slots
        try:
            await slots.acquire(lambda n, size: self._push(ServerQueue(n, size)))
            try:
                events = self.state.client.astream_job(
                    self.job, stop=self.call.stop, max_tokens=self.call.max_tokens)
                async with aclosing(events) as stream:
                    async for event in stream:
                        self._push(event)
                        if type(event) is Finished:
                            self.state.record(self.job, None)
            finally:
                slots.release()
        except asyncio.CancelledError:
            raise
        except Exception as exc:
            self._error = exc
            self.state.record(self.job, exc if isinstance(exc, SpaceError) else None)
        finally:
            self._done = True
            self._wake.set()

    def _push(self, item: Any) -> None:
        self._items.append(item)
        self._wake.set()

    async def next(self, until: float) -> StreamEvent | None:
        """The next event, or None once the loop time ``until`` has passed. Raises
        :class:`ClientGone`, :class:`ShuttingDown` or :class:`ApiError` (the job failed)."""
        loop = self._loop
        while True:
            self._check()
            if self._items:
                event: StreamEvent = self._items.popleft()
                if not self.started and not isinstance(event, (QueuePosition, ServerQueue)):
                    self.started = True
                    self.queue_wait = loop.time() - self._t0
                return event
            if self._done:
                raise from_exception(self._error or SpaceError("the job ended without an "
                                                              "answer"),
                                     max_retries=self.state.client.max_retries)
            now = loop.time()
            if not self.started and now >= self._deadline:
                raise ApiError(
                    504, f"still queued after {self.state.client.timeouts.queue:g} s (this "
                    "server's job slots and the Space's queue together); the Space is busy, "
                    "try again later", type="upstream_error", code="space_timeout_queue",
                    headers={"x-should-retry": "false"})
            if now >= until:
                return None
            wait = min(until, now + POLL, self._deadline if not self.started else until)
            self._wake.clear()
            timer = loop.call_later(max(0.0, wait - now), self._wake.set)
            try:
                await self._wake.wait()
            finally:
                timer.cancel()

    def _check(self) -> None:
        transport = self.request.transport
        if transport is None or transport.is_closing():
            raise ClientGone
        if self.state.closing:
            raise ShuttingDown


def new_ids() -> tuple[str, int]:
    """A completion id and its ``created`` time."""
    return f"chatcmpl-{secrets.token_hex(12)}", int(time.time())
