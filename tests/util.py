"""Small helpers shared by the test modules."""

from __future__ import annotations

import asyncio
import contextlib
import socket
import time
from collections.abc import AsyncIterator, Callable
from contextlib import aclosing
from typing import Any

from qwen_spaces import SpaceClient, TextDelta


class FakeResponse:
    """What ``SpaceClient._read`` uses of an aiohttp response: ``content.iter_any()``,
    giving ``parts`` as the network reads."""

    def __init__(self, parts: list[bytes]) -> None:
        self.content = self
        self._parts = parts

    async def iter_any(self) -> AsyncIterator[bytes]:
        for part in self._parts:
            yield part


def closed_port() -> int:
    """A port on 127.0.0.1 that nothing listens on (bound, then released)."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def wait_for(predicate: Callable[[], bool], timeout: float = 10.0) -> bool:
    """Poll ``predicate`` (e.g. a replica's stats) until true or ``timeout`` seconds pass."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(0.05)
    return predicate()


async def leave_early(client: SpaceClient, model: str, messages: list[dict[str, Any]],
                      how: str) -> None:
    """Abandon a stream after its first text: ``break``, ``task_cancel`` or ``sync_break``."""
    if how == "break":
        async with aclosing(client.astream(model, messages)) as events:
            async for e in events:
                if isinstance(e, TextDelta):
                    break
    elif how == "task_cancel":
        seen = asyncio.Event()

        async def consume() -> None:
            async for e in client.astream(model, messages):
                if isinstance(e, TextDelta):
                    seen.set()

        task = asyncio.create_task(consume())
        await asyncio.wait_for(seen.wait(), 30)
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task
        assert task.cancelled()
    elif how == "sync_break":
        def consume_sync() -> None:
            for e in client.stream(model, messages):
                if isinstance(e, TextDelta):
                    break

        await asyncio.to_thread(consume_sync)
    else:
        raise ValueError(how)
