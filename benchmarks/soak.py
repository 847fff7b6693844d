"""``python -m benchmarks.soak``: the long-haul checks issue 16 asks to keep passing.

* **soak** - N sequential sync calls (2,000 by default) on one client against a local
  replica: RSS and open file descriptors must stay flat.
* **threads** - 50 threads each making sync calls at once on the shared background loop:
  every answer must be right.
* **loops** - ``asyncio.run`` per call, many times: the per-loop pool must not grow.

Too slow for the test suite (minutes on two cores), so it is a script; it prints its
figures and exits non-zero if a bound is broken. Linux only (``/proc``).
"""

from __future__ import annotations

import argparse
import asyncio
import gc
import os
import time
from concurrent.futures import ThreadPoolExecutor

MODEL = "qwen-2.5-max"


def rss_kib() -> int:
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    return 0


def fds() -> int:
    return len(os.listdir("/proc/self/fd"))


def main() -> int:
    from qwen_spaces import SpaceClient, loops
    from qwen_spaces.replica.process import ReplicaSet

    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--calls", type=int, default=2000)
    parser.add_argument("--threads", type=int, default=50)
    parser.add_argument("--loops", type=int, default=200)
    args = parser.parse_args()
    failures: list[str] = []
    with ReplicaSet(models=[MODEL], token_delay=0.0, concurrency=64) as reps:
        client = SpaceClient(read_env_token=False, base_urls={MODEL: reps.url(MODEL)})

        def call(i: int) -> None:
            text = client.chat(MODEL, [{"role": "user", "content": f"soak {i}"}]).text
            if f"soak {i}" not in text:
                raise AssertionError(f"call {i} got {text[:80]!r}")

        for i in range(20):  # warm up: imports, discovery, connection pool
            call(i)
        gc.collect()
        rss0, fd0, t0 = rss_kib(), fds(), time.monotonic()
        for i in range(args.calls):
            call(i)
        gc.collect()
        rss1, fd1, t1 = rss_kib(), fds(), time.monotonic()
        print(f"soak: {args.calls} sequential calls in {t1 - t0:.1f}s "
              f"({(t1 - t0) / args.calls * 1000:.1f} ms/call); RSS {rss0} -> {rss1} KiB "
              f"({rss1 - rss0:+d}); fds {fd0} -> {fd1}")
        if fd1 > fd0 + 2:
            failures.append("file descriptors grew")
        if rss1 - rss0 > 20_000:
            failures.append("RSS grew by more than 20 MB")

        t0 = time.monotonic()
        with ThreadPoolExecutor(args.threads) as pool:
            list(pool.map(call, range(args.threads * 2)))
        print(f"threads: {args.threads} threads, {args.threads * 2} calls in "
              f"{time.monotonic() - t0:.1f}s, all answers right; fds now {fds()}")

        async def one(i: int) -> None:
            await client.achat(MODEL, [{"role": "user", "content": f"loop {i}"}])

        gc.collect()
        rss0, fd0, t0 = rss_kib(), fds(), time.monotonic()
        for i in range(args.loops):
            asyncio.run(one(i))
        gc.collect()
        rss1, fd1 = rss_kib(), fds()
        closed = sum(isinstance(o, asyncio.AbstractEventLoop) and o.is_closed()
                     for o in gc.get_objects())
        print(f"loops: {args.loops} asyncio.run calls in {time.monotonic() - t0:.1f}s; pool "
              f"size {loops.pool_size()}, closed loops alive {closed}; RSS {rss0} -> {rss1} "
              f"KiB ({rss1 - rss0:+d}); fds {fd0} -> {fd1}")
        if closed > 2 or fd1 > fd0 + 2:
            failures.append("dead loops or their sockets were kept")
    for failure in failures:
        print("FAIL:", failure)
    return 1 if failures else 0


if __name__ == "__main__":
    raise SystemExit(main())
