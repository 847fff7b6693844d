"""The measuring harness and the workloads; runs in one fresh client process per measurement.

``python -m benchmarks.workloads '<spec json>'`` builds one contender, runs one workload
against the target and prints ``RESULT <json>`` as its last line. Running each measurement
in its own process keeps CPU time, peak RSS and imports those of that contender alone (the
server is another process). Standard library only at module level, so the g4f side
environment can run it too.

Workloads:
* ``stream``: a warm-up call, then ``repeats`` calls one after another; wall time, process
  CPU time and time to first text of each.
* ``concurrent``: a warm-up call, then ``rounds`` rounds of ``streams`` calls at once on one
  event loop; of the median round, wall time, CPU time, time to first text of each and the
  TCP connections the server saw; the errors of all rounds; peak RSS above the pre-run RSS.
* ``sequential``: ``calls`` calls one after another from a fresh client, with nothing
  before them; the server's counts of ``/config`` hits and TCP connections.
"""

from __future__ import annotations

import asyncio
import json
import sys
import time
import urllib.request
from collections.abc import Iterator
from contextlib import aclosing
from dataclasses import asdict, dataclass
from typing import Any

from .contenders import CONTENDERS, Contender, Target

CALL_TIMEOUT = 180.0


@dataclass
class Call:
    """One measured call. ``pieces``/``chars`` as the contender yielded them."""

    wall: float
    ttft: float | None
    pieces: int
    chars: int
    error: str | None = None


class Tally:
    def __init__(self) -> None:
        self.t0 = time.perf_counter()
        self.first: float | None = None
        self.pieces = 0
        self.chars = 0

    def add(self, n: int) -> None:
        if self.first is None and n > 0:
            self.first = time.perf_counter() - self.t0
        self.pieces += 1
        self.chars += n

    def drain(self, pieces: Iterator[int]) -> None:
        for n in pieces:
            self.add(n)

    def result(self, error: str | None = None) -> Call:
        return Call(time.perf_counter() - self.t0, self.first, self.pieces, self.chars, error)


async def one_call(contender: Contender, expect: int | None) -> Call:
    """Run one call to the end; errors (and a short answer) are recorded, not raised."""
    tally = Tally()

    async def run() -> None:
        if contender.sync:
            await asyncio.to_thread(tally.drain, contender.stream_sync())
            return
        async with aclosing(contender.stream()) as pieces:  # type: ignore[type-var]
            async for n in pieces:
                tally.add(n)

    try:
        await asyncio.wait_for(run(), CALL_TIMEOUT)
    except Exception as exc:  # the error is a result here
        return tally.result(f"{type(exc).__name__}: {exc}"[:300])
    got = tally.chars if contender.text else tally.pieces
    if expect is not None and got != expect:
        what = "characters" if contender.text else "frames"
        return tally.result(f"incomplete: {got} of {expect} {what}")
    return tally.result()


# -- process measurements ----------------------------------------------------------------
def _status_kb(key: str) -> int:
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith(key + ":"):
                return int(line.split()[1])
    return 0


def _reset_peak_rss() -> None:
    try:  # Linux: "5" resets VmHWM to the current RSS
        with open("/proc/self/clear_refs", "w") as f:
            f.write("5")
    except OSError:
        pass


class Control:
    """The benchmark server's ``/_bench`` endpoints (no-ops against other servers)."""

    def __init__(self, url: str | None) -> None:
        self.url = url

    def _call(self, path: str, method: str = "GET") -> dict[str, Any]:
        if self.url is None:
            return {}
        req = urllib.request.Request(f"{self.url}/_bench/{path}", method=method,
                                     data=b"{}" if method == "POST" else None)
        with urllib.request.urlopen(req, timeout=10) as resp:
            result: dict[str, Any] = json.load(resp)
            return result

    def reset(self) -> None:
        self._call("reset", "POST")

    def stats(self) -> dict[str, Any]:
        return self._call("stats")


# -- workloads ---------------------------------------------------------------------------
async def stream(c: Contender, ctl: Control, expect: int | None, repeats: int = 3,
                 **_: Any) -> dict[str, Any]:
    await one_call(c, expect)  # warm-up: discovery, first connection, lazy imports
    server_cpu = getattr(c, "server_cpu", None)  # a contender with a server process of its own
    runs = []
    for _run in range(repeats):
        cpu0 = time.process_time()
        server0 = server_cpu() if server_cpu else 0.0
        call = await one_call(c, expect)
        run = {**asdict(call), "cpu": time.process_time() - cpu0}
        if server_cpu:
            run["server_cpu"] = server_cpu() - server0
        runs.append(run)
    return {"runs": runs}


async def concurrent(c: Contender, ctl: Control, expect: int | None, streams: int = 256,
                     rounds: int = 1, **_: Any) -> dict[str, Any]:
    """``rounds`` rounds of ``streams`` calls at once; the figures are those of the median
    round by wall time (one round of a few hundred ms moves with the scheduler), the errors
    those of every round, the peak RSS the highest."""
    await one_call(c, expect)
    _reset_peak_rss()
    rss0 = _status_kb("VmRSS")
    done: list[dict[str, Any]] = []
    for _round in range(rounds):
        ctl.reset()
        cpu, t0 = time.process_time(), time.perf_counter()
        calls = await asyncio.gather(*(one_call(c, expect) for _ in range(streams)))
        wall, cpu = time.perf_counter() - t0, time.process_time() - cpu
        done.append({"wall": wall, "cpu": cpu, "ttft": [x.ttft for x in calls],
                     "errors": [x.error for x in calls if x.error],
                     "chars": sum(x.chars for x in calls),
                     "pieces": sum(x.pieces for x in calls), "server": ctl.stats()})
    median = sorted(done, key=lambda r: r["wall"])[len(done) // 2]
    return {**median, "streams": streams, "rounds": len(done),
            "round_walls": [r["wall"] for r in done],
            "errors": [e for r in done for e in r["errors"]],
            "rss_before_kb": rss0, "rss_peak_kb": _status_kb("VmHWM")}


async def sequential(c: Contender, ctl: Control, expect: int | None, calls: int = 100,
                     **_: Any) -> dict[str, Any]:
    t0 = time.perf_counter()
    results = [await one_call(c, expect) for _ in range(calls)]
    return {"wall": time.perf_counter() - t0, "calls": calls,
            "errors": [x.error for x in results if x.error], "server": ctl.stats()}


async def paired(group: dict[str, tuple[Contender, int | None]], rounds: int = 8,
                 **_: Any) -> dict[str, Any]:
    """Contenders measured side by side in one process: a warm-up call each, then
    ``rounds`` rounds of one call each, in turn. Ratios of two of them taken round by round
    compare the same process at the same moment (see ``benchmarks/README.md``)."""
    for c, expect in group.values():
        await one_call(c, expect)
    runs: dict[str, list[dict[str, Any]]] = {label: [] for label in group}
    for _round in range(rounds):
        for label, (c, expect) in group.items():
            cpu0 = time.process_time()
            call = await one_call(c, expect)
            runs[label].append({**asdict(call), "cpu": time.process_time() - cpu0})
    return {"runs": runs, "rounds": rounds}


WORKLOADS = {"stream": stream, "concurrent": concurrent, "sequential": sequential}


async def main(spec: dict[str, Any]) -> dict[str, Any]:
    if "group" in spec:
        return await main_group(spec)
    ctl = Control(spec.get("control"))
    ctl.reset()  # so "sequential" counts discovery too
    contender = CONTENDERS[spec["contender"]](Target(**spec["target"]))
    try:
        await contender.start()
    except Exception as exc:
        return {"error": f"start failed: {type(exc).__name__}: {exc}"[:500]}
    try:
        return await WORKLOADS[spec["workload"]](contender, ctl, spec.get("expect"),
                                                 **spec.get("params", {}))
    finally:
        await contender.close()


async def main_group(spec: dict[str, Any]) -> dict[str, Any]:
    """The ``paired`` workload: ``spec["group"]`` maps labels to a contender, its target
    and its expected answer length."""
    group: dict[str, tuple[Contender, int | None]] = {}
    try:
        for label, entry in spec["group"].items():
            c = CONTENDERS[entry["contender"]](Target(**entry["target"]))
            group[label] = (c, entry.get("expect"))
            await c.start()
    except Exception as exc:
        return {"error": f"start failed: {type(exc).__name__}: {exc}"[:500]}
    try:
        return await paired(group, **spec.get("params", {}))
    finally:
        for c, _ in group.values():
            await c.close()


def raise_fd_limit(want: int = 8192) -> None:
    """Raise the soft limit on open files towards ``want`` (the hard limit caps it): a
    thousand streams need a socket each, and many systems default to 1024. The benchmark
    server calls it too."""
    import resource

    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    target = want if hard == resource.RLIM_INFINITY else min(want, hard)
    if soft != resource.RLIM_INFINITY and soft < target:
        resource.setrlimit(resource.RLIMIT_NOFILE, (target, hard))


if __name__ == "__main__":
    raise_fd_limit()
    result = asyncio.run(main(json.loads(sys.argv[1])))
    print("RESULT " + json.dumps(result), flush=True)
