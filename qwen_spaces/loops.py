"""What the package keeps per event loop: the pooled session, the jobs open on the Spaces,
and the ``/cancel`` requests in flight. All of it ends with the loop.

* **One** ``aiohttp.ClientSession`` **per loop**, shared by every client. It is closed when
  the loop shuts down its async generators (``asyncio.run``, ``asyncio.Runner``,
  pytest-asyncio) or by :func:`close_sessions`; the pool entry goes with it. An entry whose
  loop was closed without that shutdown (``loop.close()`` by hand) is dropped the next time
  any loop asks for a session: the pool holds live loops only.
* **Jobs open on a Space** are registered from ``queue/join`` until they complete or are
  cancelled. Leaving a stream early cancels its job from a *detached* task, so the caller's
  cancellation (``wait_for``, task cancel, ``break``) returns at once instead of waiting on
  the ``/cancel`` POST; the task is tracked (never garbage-collected mid-flight) and bounded
  by :data:`CANCEL_TIMEOUT`.
* **At loop shutdown** every job still open (a stream abandoned by ``break`` at the end of
  ``asyncio.run``, whose generator the loop finalises too late or not at all) is cancelled,
  and every ``/cancel`` in flight is awaited (bounded), *before* the session closes. A
  ``/cancel`` task that ``asyncio.run`` cancelled along with every other task is re-sent then.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncGenerator, Awaitable, Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    import aiohttp
else:
    from ._deferred import aiohttp

__all__ = ["CANCEL_TIMEOUT", "OpenJob", "close_sessions", "get_session", "pool_size"]

#: Seconds a ``/cancel`` POST may take. Dropping the stream frees the Space's slot anyway
#: (Gradio notices the disconnect); the POST makes it immediate.
CANCEL_TIMEOUT = 3.0


@dataclass(eq=False)
class OpenJob:
    """A job joined on a Space and not yet finished. ``send_cancel`` posts ``/cancel``;
    ``response`` is its event stream, closed if the loop shuts down under it."""

    send_cancel: Callable[[], Awaitable[None]]
    state: _LoopState
    response: aiohttp.ClientResponse | None = None
    cancelled: bool = False


@dataclass(eq=False)
class _LoopState:
    loop: asyncio.AbstractEventLoop
    session: aiohttp.ClientSession
    keeper: AsyncGenerator[None, None] | None = None
    jobs: set[OpenJob] = field(default_factory=set)
    cancels: set[asyncio.Task[None]] = field(default_factory=set)


# Keyed by id(loop), holding the loop itself: a WeakKeyDictionary would not help, since the
# session (the value) refers to its loop. Entries leave at loop shutdown or in _sweep().
_POOL: dict[int, _LoopState] = {}


def pool_size() -> int:
    """How many loops hold a pooled session (for tests and leak checks)."""
    return len(_POOL)


def _state() -> _LoopState:
    loop = asyncio.get_running_loop()
    state = _POOL.get(id(loop))
    if state is not None and state.loop is loop and not state.session.closed:
        return state
    _sweep()
    session = aiohttp.ClientSession(
        connector=aiohttp.TCPConnector(limit=0, limit_per_host=0, enable_cleanup_closed=False),
        timeout=aiohttp.ClientTimeout(total=None),
        trust_env=False,
    )
    state = _LoopState(loop, session)
    _POOL[id(loop)] = state
    return state


async def get_session() -> aiohttp.ClientSession:
    """This loop's pooled session, opened on first use."""
    state = _state()
    if state.keeper is None:
        state.keeper = _keeper(state)
        await state.keeper.__anext__()
    return state.session


async def _keeper(state: _LoopState) -> AsyncGenerator[None, None]:
    # The loop finalises live async generators at shutdown; this one ends the state then.
    try:
        yield
    finally:
        await _finish(state)


async def _finish(state: _LoopState) -> None:
    # The entry stays in the pool until the session is closed: the cancels below use it.
    # shutdown_asyncgens closes every generator at once: let the others (the user's streams)
    # run their cleanup first, which registers their cancels.
    await asyncio.sleep(0)
    for job in list(state.jobs):
        cancel_job(job)
        if job.response is not None:
            job.response.close()
    pending = {t for t in state.cancels if not t.done()}
    if pending:
        await asyncio.wait(pending, timeout=CANCEL_TIMEOUT + 0.5)
        for task in pending:
            task.cancel()
    await state.session.close()
    if _POOL.get(id(state.loop)) is state:
        del _POOL[id(state.loop)]


def open_job(send_cancel: Callable[[], Awaitable[None]]) -> OpenJob:
    """Register a joined job on this loop until :func:`job_done` or :func:`cancel_job`."""
    state = _state()
    job = OpenJob(send_cancel, state)
    state.jobs.add(job)
    return job


def job_done(job: OpenJob) -> None:
    """The job completed on the Space: nothing to cancel."""
    job.state.jobs.discard(job)


def cancel_job(job: OpenJob) -> None:
    """Post the job's ``/cancel`` from a tracked background task and return at once.

    The job stays registered until the POST has been answered, so a task cancelled by loop
    shutdown leaves it to :func:`_finish`, which sends it again.
    """
    if job.cancelled:
        return
    job.cancelled = True
    state = job.state

    async def send() -> None:
        try:
            await asyncio.wait_for(job.send_cancel(), CANCEL_TIMEOUT)
        except asyncio.CancelledError:
            job.cancelled = False  # interrupted (loop shutdown): _finish sends it again
            raise
        except Exception:  # best effort: dropping the stream frees the slot too
            pass
        state.jobs.discard(job)

    task = state.loop.create_task(send())
    state.cancels.add(task)
    task.add_done_callback(state.cancels.discard)


async def close_sessions() -> None:
    """Close this loop's pooled session now (it is reopened on the next call), after
    cancelling the jobs still open on it and waiting for the cancels in flight."""
    state = _POOL.get(id(asyncio.get_running_loop()))
    if state is None:
        return
    if state.keeper is not None:
        await state.keeper.aclose()
    else:
        await _finish(state)


def _sweep() -> None:
    """Drop the entries of loops closed without shutting down their async generators, so
    the pool holds live loops only. Nothing can run on a closed loop, so their sockets are
    left to the garbage collector (asyncio warns about them: close loops with
    ``asyncio.run``/``Runner`` or call :func:`close_sessions` first)."""
    for key, state in list(_POOL.items()):
        if state.loop.is_closed():
            del _POOL[key]
