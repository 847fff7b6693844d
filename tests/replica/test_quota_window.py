"""``ReplicaSet(quota_for=S)`` / ``--quota-for S``: a replica whose ZeroGPU quota is spent for
S seconds after it is up refuses every answer, on every layout, with the ``/quota`` error
naming the time really left; the client reads that as ``QuotaExceededError.retry_after``;
afterwards the replica answers. One replica set of one Space per layout (Gradio 6)."""

from __future__ import annotations

import asyncio
import re
import time
from collections.abc import Iterator
from typing import Any

import pytest

from qwen_spaces import QuotaExceededError, SpaceClient
from qwen_spaces.replica.process import ReplicaSet

#: One Space per replica layout: generic, Qwen2.5's own, Qwen2.5-1M's two steps, Qwen3-Demo's
#: session (``qwen_spaces.replica.app._layout`` and ``build_app``).
LAYOUTS = ["qwen-2.5-max", "qwen-2.5", "qwen-2.5-1m", "qwen-3"]
#: Asking every layout once takes about 0.25 s here; the rest is waited out at the end.
QUOTA_FOR = 3.0
#: How much earlier than ``start()`` returning the window may have started: the replica
#: starts it once every app is up, and the parent still checks each ``/config`` after that.
STARTED_EARLY = 1.0
RETRY = re.compile(r"Try again in (\d+):(\d\d):(\d\d)\.$")


@pytest.fixture(scope="module")
def spent() -> Iterator[tuple[ReplicaSet, float]]:
    """The replica set and the monotonic time its start() returned."""
    with ReplicaSet(LAYOUTS, quota_for=QUOTA_FOR, token_delay=0.001) as replica_set:
        yield replica_set, time.monotonic()


def bounds(started: float, before: float, after: float) -> tuple[float, float]:
    """The retry time a refusal between ``before`` and ``after`` may name (whole seconds,
    rounded up, from a window that started at most STARTED_EARLY before ``started``)."""
    return (QUOTA_FOR - (after - started) - STARTED_EARLY,
            QUOTA_FOR - (before - started) + 1)


async def test_a_spent_quota_refuses_every_layout_with_the_time_left_then_lifts(
        spent: tuple[ReplicaSet, float], wire_for: Any) -> None:
    replica_set, started = spent
    wire = await wire_for(replica_set, "qwen-2.5-max")
    before = time.monotonic()
    completed = (await wire.run(wire.data("a question that is not a directive"))).completed
    low, high = bounds(started, before, time.monotonic())
    assert completed["success"] is False
    assert completed["output"]["title"] == "ZeroGPU quota exceeded"
    message = completed["output"]["error"]
    assert message.startswith("You have exceeded your ZeroGPU quota (60s requested vs. 12s left)")
    match = RETRY.search(message)
    assert match, message
    h, m, s = (int(g) for g in match.groups())
    assert low <= h * 3600 + m * 60 + s <= high

    client = SpaceClient(base_urls={m: replica_set.url(m) for m in LAYOUTS},
                         read_env_token=False, max_retries=0)
    for name in LAYOUTS:
        before = time.monotonic()
        with pytest.raises(QuotaExceededError) as info:
            await client.achat(name, [{"role": "user", "content": "hello"}])
        low, high = bounds(started, before, time.monotonic())
        assert info.value.retry_after is not None, name
        assert low <= info.value.retry_after <= high, (name, info.value.retry_after)
    assert replica_set.stats("qwen-2.5-max")["last_request"]["query"] == "hello"

    await asyncio.sleep(max(0.0, started + QUOTA_FOR - time.monotonic()))
    for name in LAYOUTS:
        final = await client.achat(name, [{"role": "user", "content": "hello again"}])
        assert "query: hello again" in final.text, name
