"""Sync calls on a private background event loop.

Sync callers (and the adapters' sync methods) run their coroutine on one daemon thread's
loop. That works inside Jupyter or any running loop without nest_asyncio and without
blocking that loop's other tasks for longer than the call itself.

Two promises rest on this module:

* **Ctrl-C is just** ``KeyboardInterrupt``. When the waiting thread is interrupted, the
  coroutine's task is cancelled *and waited for* before the interrupt is re-raised, so the
  job's own cleanup (``/cancel`` to the Space) has run, nothing else still uses the async
  generator (no "aclose(): asynchronous generator is already running"), no exception is
  left unretrieved, and the loop is ready for the next call.
* **A forked child gets its own loop.** The parent's loop thread does not exist in a child
  of ``fork`` (gunicorn ``--preload``, Celery prefork, ``multiprocessing``); the loop is
  dropped in the child, so its first call starts a fresh one instead of waiting forever.
"""

from __future__ import annotations

import asyncio
import atexit
import contextvars
import os
import threading
from collections.abc import AsyncIterator, Coroutine, Generator
from typing import Any, TypeVar

__all__ = ["iterate", "run"]

T = TypeVar("T")

#: How often a waiting caller wakes to let Python run a pending signal handler. A SIGINT
#: handled by another thread (``signal.raise_signal`` from a timer, or a process-directed
#: signal the kernel gave to a worker) would otherwise wait until the call ends.
_POLL = 0.1
#: How long an interrupted caller waits for the cancelled task to finish its cleanup.
_CANCEL_WAIT = 10.0

_lock = threading.Lock()
_loop: asyncio.AbstractEventLoop | None = None
_thread: threading.Thread | None = None
#: Loops inherited through ``fork``: kept referenced so that their finaliser never runs in
#: the child (closing them there would touch file descriptors the parent still uses).
_orphans: list[asyncio.AbstractEventLoop] = []


def _get_loop() -> asyncio.AbstractEventLoop:
    global _loop, _thread
    with _lock:
        if _loop is None or _loop.is_closed():
            loop = asyncio.new_event_loop()
            ready = threading.Event()

            def main() -> None:
                asyncio.set_event_loop(loop)
                loop.call_soon(ready.set)
                loop.run_forever()

            _thread = threading.Thread(target=main, name="qwen-spaces-loop", daemon=True)
            _thread.start()
            ready.wait()
            _loop = loop
        return _loop


def _after_fork_in_child() -> None:
    """The parent's loop thread is gone in the child: forget its loop (and a lock another
    thread may have held at the fork), so the child's first call starts its own."""
    global _lock, _loop, _thread
    _lock = threading.Lock()
    if _loop is not None:
        _orphans.append(_loop)
    _loop, _thread = None, None


if hasattr(os, "register_at_fork"):  # POSIX
    os.register_at_fork(after_in_child=_after_fork_in_child)


class _Call:
    """One coroutine running as a task on the background loop, awaitable from a thread.

    Unlike ``run_coroutine_threadsafe``'s future, which reports "cancelled" as soon as it is
    asked to, :meth:`cancel_and_wait` returns only once the task has really finished.
    """

    def __init__(self, coro: Coroutine[Any, Any, T], loop: asyncio.AbstractEventLoop) -> None:
        self.loop = loop
        self.done = threading.Event()
        self.task: asyncio.Task[Any] | None = None
        self.abandoned = False
        # The caller's context variables (LangChain's run tree, tracing) go with the task.
        loop.call_soon_threadsafe(self._start, coro, context=contextvars.copy_context())

    def _start(self, coro: Coroutine[Any, Any, Any]) -> None:
        self.task = self.loop.create_task(coro)
        self.task.add_done_callback(self._finished)

    def _finished(self, task: asyncio.Task[Any]) -> None:
        if self.abandoned and not task.cancelled():
            task.exception()  # nobody will read it: mark it retrieved, so nothing is logged
        self.done.set()

    def wait(self) -> Any:
        while not self.done.wait(_POLL):
            pass
        assert self.task is not None
        return self.task.result()

    def cancel_and_wait(self) -> bool:
        """Cancel the task and wait (bounded) until it has finished. True if it has."""
        self.abandoned = True

        def cancel() -> None:
            if self.task is not None:
                self.task.cancel()

        try:
            self.loop.call_soon_threadsafe(cancel)
        except RuntimeError:  # the loop is closed (interpreter exit)
            return self.done.is_set()
        settled = self.done.wait(_CANCEL_WAIT)
        if settled and self.task is not None and not self.task.cancelled():
            self.task.exception()
        return settled


def run(coro: Coroutine[Any, Any, T]) -> T:
    """Run ``coro`` on the background loop and wait for its result.

    If the wait is interrupted (``KeyboardInterrupt``), the task is cancelled and waited for,
    then the interrupt is re-raised unchanged.
    """
    return _run(coro, [])


def _run(coro: Coroutine[Any, Any, T], unsettled: list[bool]) -> T:
    """:func:`run`; appends to ``unsettled`` if it raised while the task was still running
    (then the task has been cancelled, and has finished unless its cleanup overran)."""
    loop = _get_loop()
    if threading.current_thread() is _thread:
        coro.close()
        raise RuntimeError("sync qwen-spaces call from inside its own loop thread")
    call = _Call(coro, loop)
    try:
        return call.wait()  # type: ignore[no-any-return]
    except BaseException:
        if not call.done.is_set():
            unsettled.append(True)
            call.cancel_and_wait()
        raise


def iterate(agen: AsyncIterator[T]) -> Generator[T, None, None]:
    """Drive an async iterator from sync code, one item per step. Closing the returned
    generator (``break``) closes the async one on the loop, so the job gets cancelled."""

    async def step() -> tuple[bool, T | None]:
        try:
            return True, await agen.__anext__()
        except StopAsyncIteration:
            return False, None

    # A step interrupted mid-flight was cancelled, which ran the generator's own cleanup;
    # calling aclose() as well would race that cleanup if it is still in progress.
    interrupted: list[bool] = []
    try:
        while True:
            ok, item = _run(step(), interrupted)
            if not ok:
                return
            yield item  # type: ignore[misc]
    finally:
        aclose = getattr(agen, "aclose", None)
        if aclose is not None and not interrupted:
            run(aclose())


def _shutdown() -> None:
    global _loop
    loop = _loop
    if loop is None or loop.is_closed():
        return

    async def finish() -> None:
        await loop.shutdown_asyncgens()

    try:
        asyncio.run_coroutine_threadsafe(finish(), loop).result(timeout=5)
    except Exception:  # best effort at interpreter exit
        pass
    loop.call_soon_threadsafe(loop.stop)
    if _thread is not None:
        _thread.join(timeout=5)
    loop.close()
    _loop = None


atexit.register(_shutdown)
