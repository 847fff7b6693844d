"""Timeouts that mean one thing, joins that are never repeated blindly, a restarted Space
re-discovered, and adapter copies that talk to their own host (issues 12 and 16)."""

from __future__ import annotations

import asyncio
import copy
import socket
import time
from collections.abc import AsyncIterator
from typing import Any

import pytest

from langchain_qwen_spaces import ChatQwenSpaces
from llama_index_qwen_spaces import QwenSpacesLLM
from qwen_spaces import SpaceClient, SpaceTimeoutError, Timeouts
from qwen_spaces.replica import ReplicaSet
from tests.fault_server import FaultServer, Plan
from tests.util import wait_for

USER = [{"role": "user", "content": "hi"}]


class SilentHost:
    """Accepts TCP connections and never sends a byte (a hung proxy or a wedged server)."""

    def __init__(self) -> None:
        self.connections = 0
        self.url = ""
        self._server: asyncio.AbstractServer | None = None
        self._writers: list[asyncio.StreamWriter] = []

    async def __aenter__(self) -> SilentHost:
        async def accept(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
            self.connections += 1
            self._writers.append(writer)

        self._server = await asyncio.start_server(accept, "127.0.0.1", 0)
        port = self._server.sockets[0].getsockname()[1]
        self.url = f"http://127.0.0.1:{port}"
        return self

    async def __aexit__(self, *exc: Any) -> None:
        for writer in self._writers:
            writer.close()
        assert self._server is not None
        self._server.close()
        await self._server.wait_closed()


@pytest.fixture
async def silent() -> AsyncIterator[SilentHost]:
    async with SilentHost() as host:
        yield host


# backoff before retry k is at most 0.5 * 2**(k-1) * 1.5 seconds (jittered)
def bound(timeout: float, retries: int) -> float:
    return (retries + 1) * timeout + sum(0.75 * 2 ** k for k in range(retries)) + 1.0


@pytest.mark.parametrize("adapter", ["langchain", "llama_index"])
async def test_a_silent_host_fails_within_retries_plus_one_timeouts(
        silent: SilentHost, adapter: str) -> None:
    timeout, retries = 1.0, 1
    if adapter == "langchain":
        llm: Any = ChatQwenSpaces(model="qwen-2.5-max", base_url=silent.url, timeout=timeout,
                                  max_retries=retries, api_key=None)
        call = llm.ainvoke("hi")
    else:
        llm = QwenSpacesLLM(model="qwen-2.5-max", base_url=silent.url, timeout=timeout,
                            max_retries=retries, hf_token=None)
        call = llm.acomplete("hi")
    started = time.monotonic()
    with pytest.raises(SpaceTimeoutError) as info:
        await call
    assert time.monotonic() - started <= bound(timeout, retries)
    assert "accepted the connection but sent nothing in 1s" in str(info.value)
    assert info.value.phase == "request"
    assert silent.connections == retries + 1  # /config is safe to ask again


async def test_a_slow_join_is_a_request_timeout_and_is_never_repeated() -> None:
    async with FaultServer(script=[Plan(join_delay=3.0)]) as server:
        client = SpaceClient(base_urls={"qwen-2-72b": server.url}, read_env_token=False,
                             timeouts=Timeouts.from_timeout(1.0), max_retries=2)
        with pytest.raises(SpaceTimeoutError) as info:
            await client.achat("qwen-2-72b", USER)
        assert info.value.phase == "request"
        assert "queue/join" in str(info.value) or "sent nothing" in str(info.value)
        await asyncio.sleep(0.1)
        assert server.joins == 1  # the job may be queued: joining again could run it twice


async def test_a_refused_connection_is_still_retried() -> None:
    with socket.socket() as sock:  # a port with nothing listening
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    client = SpaceClient(base_urls={"qwen-2-72b": f"http://127.0.0.1:{port}"},
                         read_env_token=False, max_retries=2, retry_backoff=0.01)
    attempts = 0
    real = client._discover

    async def counting(*args: Any) -> Any:
        nonlocal attempts
        attempts += 1
        return await real(*args)

    client._discover = counting  # type: ignore[method-assign]
    with pytest.raises(Exception, match="cannot connect"):
        await client.achat("qwen-2-72b", USER)
    assert attempts == 3


@pytest.mark.replicas
async def test_a_short_timeout_does_not_cut_a_job_waiting_in_the_queue(
        replica_factory: Any) -> None:
    """Gradio sends heartbeats every 15 s while a job waits; ``timeout=2`` must not read that
    as a silent stream. The queue wait has its own limit."""
    reps: ReplicaSet = replica_factory(models=["qwen-2.5-max"], concurrency=1)
    base = {"qwen-2.5-max": reps.url("qwen-2.5-max")}
    busy = SpaceClient(base_urls=base, read_env_token=False)
    waiting = SpaceClient(base_urls=base, read_env_token=False,
                          timeouts=Timeouts.from_timeout(2.0, queue=60))
    first = asyncio.create_task(busy.achat("qwen-2.5-max", [
        {"role": "user", "content": "/slow 10 0.5"}]))
    assert await asyncio.to_thread(wait_for, lambda: reps.stats("qwen-2.5-max")["active"] == 1)
    started = time.monotonic()
    answer = await waiting.achat("qwen-2.5-max", [{"role": "user", "content": "/echo done"}])
    assert answer.text == "done"
    assert time.monotonic() - started > 4  # it really waited in the queue past the timeout
    await first


@pytest.mark.replicas
def test_a_restarted_space_is_rediscovered_once() -> None:
    """The Space came back on another Gradio (its API moved from /gradio_api to /): the
    client's cached API 404s at the join, so it reads /config again and answers."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    client = SpaceClient(base_urls={"qwen-2.5": f"http://127.0.0.1:{port}"},
                         read_env_token=False, max_retries=0)
    ask = [{"role": "user", "content": "/echo same client"}]
    with ReplicaSet(["qwen-2.5"], ports=[port]):
        assert client.chat("qwen-2.5", ask).text == "same client"
    with ReplicaSet(["qwen-2.5"], generation="4.44.1", ports=[port]) as legacy:
        assert client.chat("qwen-2.5", ask).text == "same client"
        assert legacy.stats("qwen-2.5")["started"] == 1


@pytest.mark.replicas
def test_copies_of_a_chat_model_talk_to_their_own_host(replicas: ReplicaSet,
                                                      legacy_replicas: ReplicaSet) -> None:
    first = ChatQwenSpaces(model="qwen-2-72b", base_url=replicas.url("qwen-2-72b"),
                           api_key="hf_first_token")
    first.invoke("/echo one")
    moved = first.model_copy(update={"base_url": legacy_replicas.url("qwen-2-72b"),
                                     "hf_token": None})
    before = legacy_replicas.stats("qwen-2-72b")["started"]
    assert moved.invoke("/echo two").content == "two"
    assert legacy_replicas.stats("qwen-2-72b")["started"] == before + 1
    assert legacy_replicas.stats("qwen-2-72b")["last_headers"]["x-hf-authorization"] is False
    clone = copy.deepcopy(first)  # after a call: the client holds loop-bound state
    assert clone.invoke("/echo three").content == "three"
    first.base_url = legacy_replicas.url("qwen-2-72b")
    assert first.invoke("/echo four").content == "four"
    assert legacy_replicas.stats("qwen-2-72b")["started"] == before + 2
