"""The package in a process's life: Ctrl-C, fork, loops that come and go, cancels that are
slow or arrive at loop shutdown. Real signals, real forks and real replicas throughout."""

from __future__ import annotations

import asyncio
import gc
import json
import multiprocessing
import os
import subprocess
import sys
import time
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

import pytest
from aiohttp import web

from qwen_spaces import SpaceClient, TextDelta, loops
from qwen_spaces.replica import ReplicaSet
from tests.servers import Front
from tests.util import wait_for

MODEL = "qwen-2.5-max"
SLOW = "/slow 40 0.25"  # ten seconds of ticks: long enough to interrupt, never to finish
ROOT = Path(__file__).resolve().parents[2]


def client_for(reps: ReplicaSet, **kw: Any) -> SpaceClient:
    return SpaceClient(read_env_token=False, base_urls={MODEL: reps.url(MODEL)}, **kw)


# -- Ctrl-C (issue 12, item 1) -------------------------------------------------------------
# The child runs each sync entry point of one framework against a /slow job and interrupts
# it with a real SIGINT once the job runs: os.kill (the main thread gets it, as from a
# terminal) and, for some, signal.raise_signal from a timer thread (the main thread only
# learns of it at its next wake-up). It prints one JSON line per entry point.
CHILD = r'''
import json, os, signal, sys, threading, time, urllib.request

url, framework = sys.argv[1], sys.argv[2]
MODEL, SLOW = "qwen-2.5-max", "/slow 40 0.25"

def stats():
    with urllib.request.urlopen(url + "/replica/stats", timeout=5) as r:
        return json.load(r)

def interrupt_when_running(jobs, how):
    base = stats()["started"]
    def watch():
        while stats()["started"] < base + jobs:
            time.sleep(0.05)
        time.sleep(0.6)  # some text has streamed
        if how == "kill":
            os.kill(os.getpid(), signal.SIGINT)
        else:
            signal.raise_signal(signal.SIGINT)
    threading.Thread(target=watch, daemon=True).start()

def entries():
    if framework == "core":
        from qwen_spaces import SpaceClient, sync
        c = SpaceClient(read_env_token=False, base_urls={MODEL: url})
        msgs = [{"role": "user", "content": SLOW}]
        yield "stream", 1, "kill", lambda: [e for e in c.stream(MODEL, msgs)]
        yield "chat", 1, "raise_signal", lambda: c.chat(MODEL, msgs)
        yield "sync.run", 1, "kill", lambda: sync.run(c.achat(MODEL, msgs))
        yield "next", 0, None, lambda: c.chat(MODEL, [{"role": "user", "content": "hi"}]).text
    elif framework == "langchain":
        from langchain_qwen_spaces import ChatQwenSpaces
        m = ChatQwenSpaces(model=MODEL, base_url=url)
        yield "invoke", 1, "kill", lambda: m.invoke(SLOW)
        yield "stream", 1, "raise_signal", lambda: list(m.stream(SLOW))
        yield "batch", 3, "kill", lambda: m.batch([SLOW, SLOW + " ", SLOW + "  "])
        yield "next", 0, None, lambda: m.invoke("hi").text
    else:
        from llama_index.core.llms import ChatMessage
        from llama_index_qwen_spaces import QwenSpacesLLM
        m = QwenSpacesLLM(model=MODEL, base_url=url)
        msgs = [ChatMessage(role="user", content=SLOW)]
        yield "chat", 1, "kill", lambda: m.chat(msgs)
        yield "stream_chat", 1, "raise_signal", lambda: list(m.stream_chat(msgs))
        yield "complete", 1, "kill", lambda: m.complete(SLOW)
        yield "stream_complete", 1, "kill", lambda: list(m.stream_complete(SLOW))
        yield "next", 0, None, lambda: m.complete("hi").text

for name, jobs, how, call in entries():
    if how is None:
        print(json.dumps({"entry": name, "result": str(call())}), flush=True)
        continue
    before = stats()["stopped_early"]
    interrupt_when_running(jobs, how)
    start = time.monotonic()
    try:
        call()
        caught = "nothing"
    except KeyboardInterrupt:
        caught = "KeyboardInterrupt"
    except BaseException as exc:
        caught = f"{type(exc).__name__}: {exc}"
    took = time.monotonic() - start
    deadline = time.monotonic() + 10
    while stats()["stopped_early"] < before + jobs and time.monotonic() < deadline:
        time.sleep(0.05)
    print(json.dumps({"entry": name, "caught": caught, "seconds": round(took, 2),
                      "stopped": stats()["stopped_early"] - before, "jobs": jobs}), flush=True)
'''


def _python_env() -> dict[str, str]:
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(ROOT), env.get("PYTHONPATH")]))
    env.pop("QWEN_SPACES_BASE_URLS", None)
    return env


@pytest.mark.parametrize("framework", ["core", "langchain", "llama_index"])
def test_ctrl_c_during_a_sync_call_is_just_keyboard_interrupt(replicas: ReplicaSet,
                                                               framework: str) -> None:
    proc = subprocess.run(
        [sys.executable, "-W", "default", "-c", CHILD, replicas.url(MODEL), framework],
        capture_output=True, text=True, timeout=180, env=_python_env(), cwd=ROOT)
    assert proc.returncode == 0, proc.stderr
    lines = [json.loads(line) for line in proc.stdout.splitlines()]
    *interrupted, nxt = lines
    assert interrupted, proc.stdout
    for result in interrupted:
        # KeyboardInterrupt itself, at once (not after the ten-second job), and the job
        # (every job, for batch) was cancelled on the Space.
        assert result["caught"] == "KeyboardInterrupt", result
        assert result["seconds"] < 6, result
        assert result["stopped"] >= result["jobs"], result
    assert nxt["entry"] == "next" and "hi" in nxt["result"], nxt
    for noise in ("Warning", "aclose", "Task exception", "Traceback", "error occurred",
                  "was never", "Unclosed"):
        assert noise not in proc.stderr, proc.stderr


# -- fork (issue 16, item 1) ---------------------------------------------------------------
def _child_call(url: str, out: Any) -> None:
    client = SpaceClient(read_env_token=False, base_urls={MODEL: url})
    out.put(client.chat(MODEL, [{"role": "user", "content": "from the child"}]).text)


def test_sync_calls_work_in_a_forked_child(replicas: ReplicaSet) -> None:
    url = replicas.url(MODEL)
    # The parent's background loop exists (and is mid-life) when the child is forked.
    assert "parent" in client_for(replicas).chat(MODEL, [{"role": "user", "content": "parent"}]
                                                 ).text
    ctx = multiprocessing.get_context("fork")
    out = ctx.Queue()
    child = ctx.Process(target=_child_call, args=(url, out))
    child.start()
    child.join(30)
    hung = child.is_alive()
    if hung:
        child.kill()
        child.join()
    assert not hung, "the forked child's sync call hung"
    assert child.exitcode == 0
    assert "from the child" in out.get(timeout=5)
    out.close()
    out.join_thread()
    # The parent's loop is untouched by the fork.
    assert "again" in client_for(replicas).chat(MODEL, [{"role": "user", "content": "again"}]
                                                ).text


# -- a slow /cancel (issue 16, item 6) -----------------------------------------------------
def _slow_cancel(seen: list[float], delay: float) -> Callable[[web.Request], Awaitable[Any]]:
    async def handler(request: web.Request) -> web.StreamResponse:
        seen.append(time.monotonic())
        await request.read()
        await asyncio.sleep(delay)
        return web.json_response(True)
    return handler


async def test_cancelling_a_call_returns_at_once_and_the_cancel_still_arrives(
        replicas: ReplicaSet) -> None:
    seen: list[float] = []
    async with Front(replicas.url(MODEL), {"/gradio_api/cancel": _slow_cancel(seen, 2.0)}) as f:
        client = SpaceClient(read_env_token=False, base_urls={MODEL: f.url})
        before = replicas.stats(MODEL)["stopped_early"]
        start = time.monotonic()
        with pytest.raises(asyncio.TimeoutError):
            await asyncio.wait_for(client.achat(MODEL, [{"role": "user", "content": SLOW}]),
                                   1.0)
        took = time.monotonic() - start
        assert took < 1.5, f"cancelling took {took:.1f}s: it waited on the /cancel POST"
        assert await asyncio.to_thread(wait_for, lambda: bool(seen), 5)
        # The stream was dropped at once too, so the Space stopped the job.
        assert await asyncio.to_thread(
            wait_for, lambda: replicas.stats(MODEL)["stopped_early"] > before)
        await loops.close_sessions()  # waits for the cancel in flight, then closes


# -- many loops (issue 16, item 8) ---------------------------------------------------------
def _open_fds() -> int:
    return len(os.listdir("/proc/self/fd"))


def test_the_session_pool_releases_dead_loops(replicas: ReplicaSet) -> None:
    client = client_for(replicas)
    msgs = [{"role": "user", "content": "hi"}]
    asyncio.run(client.achat(MODEL, msgs))  # warm up (imports, discovery)
    fds, dead_before = _open_fds(), _closed_loops()  # earlier tests may have left some
    for _ in range(20):  # the pool has no size limit: a loop it kept would show at once
        asyncio.run(client.achat(MODEL, msgs))
    assert loops.pool_size() <= 1
    dead = _closed_loops() - dead_before
    assert dead <= 2, f"{dead} more closed loops are still alive (held by the pool)"
    assert _open_fds() <= fds + 2


def _closed_loops() -> int:
    gc.collect()
    return sum(1 for o in gc.get_objects()
               if isinstance(o, asyncio.AbstractEventLoop) and o.is_closed())


# -- break at the end of asyncio.run (issue 16, item 9) -----------------------------------
def test_break_at_the_end_of_asyncio_run_cancels_the_job(
        replicas: ReplicaSet, caplog: pytest.LogCaptureFixture) -> None:
    from langchain_qwen_spaces import ChatQwenSpaces

    client = client_for(replicas)
    llm = ChatQwenSpaces(model=MODEL, base_url=replicas.url(MODEL))

    async def core() -> None:
        async for event in client.astream(MODEL, [{"role": "user", "content": SLOW}]):
            if isinstance(event, TextDelta):
                break  # no aclosing: the generator is left to the loop

    async def langchain() -> None:
        async for _ in llm.astream(SLOW):
            break

    for main in (core, langchain):
        before = replicas.stats(MODEL)["stopped_early"]
        asyncio.run(main())  # ResourceWarning (an unclosed connection) fails the test
        assert wait_for(lambda b=before: replicas.stats(MODEL)["stopped_early"] > b), main
        assert wait_for(lambda: replicas.stats(MODEL)["active"] == 0)
    assert not [r for r in caplog.records if "aclose" in r.getMessage()
                or "never retrieved" in r.getMessage()]
