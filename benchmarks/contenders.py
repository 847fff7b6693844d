"""The contenders: one way each of streaming one answer from a Gradio chat Space.

Each contender turns one call into an iterator of ints, the number of new answer characters
per piece (the raw reader, which extracts no text, yields 1 per ``process_generating`` /
``generating`` frame). The harness in :mod:`benchmarks.workloads` does all the measuring, so
the contenders hold nothing but the client code a user would write.

Only the standard library and aiohttp are imported at module level: the g4f contender runs
this module inside the side environment, which has neither qwen_spaces nor orjson.
"""

from __future__ import annotations

import secrets
from collections.abc import AsyncIterator, Iterator
from contextlib import aclosing
from dataclasses import dataclass
from typing import Any, ClassVar

SYSTEM = "You are a helpful assistant."


@dataclass(frozen=True)
class Target:
    """Where and what to call. ``url`` is the Space root (it may carry a path prefix)."""

    url: str
    model: str = "qwen-2-72b"       # the catalog entry whose layout the server has
    protocol: str = "queue"         # "queue" (queue/join + diffs) or "call" (/call)
    prompt: str = "bench"
    api_name: str = "model_chat"    # the endpoint the raw reader calls
    #: The raw reader's join data (None: ``[prompt, [], SYSTEM]``, the model_chat inputs).
    data: list[Any] | None = None


class Contender:
    name: ClassVar[str]
    title: ClassVar[str]
    sync: ClassVar[bool] = False    # True: iterate stream_sync() in a worker thread
    text: ClassVar[bool] = True     # False: pieces count frames, not characters
    protocols: ClassVar[tuple[str, ...]] = ("queue",)

    def __init__(self, target: Target) -> None:
        self.target = target

    async def start(self) -> None:
        """Build clients (discovery may happen here or on the first call)."""

    async def close(self) -> None:
        """Release what start() made."""

    def stream(self) -> AsyncIterator[int]:
        raise NotImplementedError

    def stream_sync(self) -> Iterator[int]:
        raise NotImplementedError


class RawLimit(Contender):
    """The limit: one pooled aiohttp session, split on blank lines, orjson every frame."""

    name = "raw"
    title = "raw aiohttp SSE reader (limit)"
    text = False
    protocols = ("queue", "call")

    async def start(self) -> None:
        import aiohttp
        import orjson

        self._loads = orjson.loads
        self._dumps = orjson.dumps
        # No connection cap (aiohttp's default is 100), like the qwen_spaces pool.
        self.session = aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=0))
        async with self.session.get(f"{self.target.url}/config") as resp:
            config = await resp.json()
        dep = next(d for d in config["dependencies"]
                   if d.get("api_name") == self.target.api_name)
        self.fn_index, self.trigger_id = dep["id"], dep["targets"][0][0]
        self.api = f"{self.target.url}{config.get('api_prefix', '')}"

    async def close(self) -> None:
        await self.session.close()

    def stream(self) -> AsyncIterator[int]:
        return self._queue() if self.target.protocol == "queue" else self._call()

    async def _queue(self) -> AsyncIterator[int]:
        session_hash = secrets.token_hex(6)
        data = self.target.data or [self.target.prompt, [], SYSTEM]
        body = {"data": data, "event_data": None,
                "fn_index": self.fn_index, "trigger_id": self.trigger_id,
                "session_hash": session_hash}
        async with self.session.post(f"{self.api}/queue/join", data=self._dumps(body),
                                     headers={"Content-Type": "application/json"}) as resp:
            self._loads(await resp.read())["event_id"]
        async with self.session.get(f"{self.api}/queue/data",
                                    params={"session_hash": session_hash}) as resp:
            async for frame in self._frames(resp):
                if self._loads(frame[6:])["msg"] == "process_generating":
                    yield 1

    async def _call(self) -> AsyncIterator[int]:
        body = self._dumps({"data": [self.target.prompt, [], SYSTEM]})
        async with self.session.post(f"{self.api}/call/model_chat", data=body,
                                     headers={"Content-Type": "application/json"}) as resp:
            event_id = self._loads(await resp.read())["event_id"]
        async with self.session.get(f"{self.api}/call/model_chat/{event_id}") as resp:
            async for frame in self._frames(resp):
                event, _, data = frame.partition(b"\ndata: ")
                self._loads(data)
                if event == b"event: generating":
                    yield 1

    @staticmethod
    async def _frames(resp: Any) -> AsyncIterator[bytes]:
        buf = b""
        async for chunk in resp.content.iter_any():
            *frames, buf = (buf + chunk).split(b"\n\n")
            for frame in frames:
                if frame:
                    yield frame


def _http_stack() -> None:
    """Import aiohttp now, as the raw reader's ``start`` does: the core imports it on its
    first request, which the sequential workload would otherwise time as part of its calls."""
    import aiohttp  # noqa: F401


class Transport(Contender):
    """``SpaceClient.astream``: the qwen_spaces core."""

    name = "transport"
    title = "qwen_spaces SpaceClient.astream"
    protocols = ("queue", "call")

    async def start(self) -> None:
        _http_stack()
        from qwen_spaces import SpaceClient, TextDelta

        self._delta = TextDelta
        self.client = SpaceClient(base_urls={self.target.model: self.target.url},
                                  read_env_token=False)

    async def stream(self) -> AsyncIterator[int]:
        messages = [{"role": "user", "content": self.target.prompt}]
        async with aclosing(self.client.astream(self.target.model, messages)) as events:
            async for event in events:
                if type(event) is self._delta:
                    yield len(event.text)


_BENCH_TOOL = {"type": "function", "function": {
    "name": "lookup", "description": "Look a word up.",
    "parameters": {"type": "object", "properties": {"word": {"type": "string"}}}}}


class TransportTools(Transport):
    """The same stream with a tool bound: the plain-text reply passes the tool-call parser."""

    name = "transport+tools"
    title = "qwen_spaces SpaceClient.astream, one tool bound"
    protocols = ("queue",)

    async def stream(self) -> AsyncIterator[int]:
        messages = [{"role": "user", "content": self.target.prompt}]
        events = self.client.astream(self.target.model, messages, tools=[_BENCH_TOOL])
        async with aclosing(events) as stream:
            async for event in stream:
                if type(event) is self._delta:
                    yield len(event.text)


class TransportReasoning(Transport):
    """A Qwen3-Demo stream (thinking, then the answer): reasoning and answer characters."""

    name = "transport+reasoning"
    title = "qwen_spaces SpaceClient.astream, reasoning stream"
    protocols = ("queue",)

    async def start(self) -> None:
        await super().start()
        from qwen_spaces import ReasoningDelta

        self._reasoning = ReasoningDelta

    async def stream(self) -> AsyncIterator[int]:
        messages = [{"role": "user", "content": self.target.prompt}]
        async with aclosing(self.client.astream(self.target.model, messages)) as events:
            async for event in events:
                kind = type(event)
                if kind is self._delta or kind is self._reasoning:
                    yield len(event.text)


class LangChain(Contender):
    """``ChatQwenSpaces.astream`` (LangChain chat model, with its callback machinery)."""

    name = "langchain"
    title = "langchain_qwen_spaces ChatQwenSpaces.astream"

    async def start(self) -> None:
        _http_stack()
        from langchain_qwen_spaces import ChatQwenSpaces

        self.llm = ChatQwenSpaces(model=self.target.model, base_url=self.target.url,
                                  api_key=None)

    async def stream(self) -> AsyncIterator[int]:
        async for chunk in self.llm.astream(self.target.prompt):
            yield len(chunk.content)


class LangChainTools(LangChain):
    """``ChatQwenSpaces.bind_tools([...]).astream``: plain text through the tool parser."""

    name = "langchain+tools"
    title = "langchain_qwen_spaces ChatQwenSpaces.bind_tools(...).astream"

    async def start(self) -> None:
        await super().start()
        self.bound = self.llm.bind_tools([_BENCH_TOOL])

    async def stream(self) -> AsyncIterator[int]:
        async for chunk in self.bound.astream(self.target.prompt):
            yield len(chunk.content)


class LangChainReasoning(LangChain):
    """``ChatQwenSpaces.astream`` on a reasoning stream: thinking arrives as
    ``additional_kwargs["reasoning_content"]`` with empty content."""

    name = "langchain+reasoning"
    title = "langchain_qwen_spaces ChatQwenSpaces.astream, reasoning stream"

    async def stream(self) -> AsyncIterator[int]:
        async for chunk in self.llm.astream(self.target.prompt):
            thought = chunk.additional_kwargs.get("reasoning_content") or ""
            yield len(chunk.content) + len(thought)


class LlamaIndex(Contender):
    """``QwenSpacesLLM.astream_chat`` (LlamaIndex LLM)."""

    name = "llamaindex"
    title = "llama_index_qwen_spaces QwenSpacesLLM.astream_chat"

    async def start(self) -> None:
        _http_stack()
        from llama_index.core.llms import ChatMessage

        from llama_index_qwen_spaces import QwenSpacesLLM

        self.llm = QwenSpacesLLM(model=self.target.model, base_url=self.target.url,
                                 hf_token=None)
        self.messages = [ChatMessage(role="user", content=self.target.prompt)]

    async def stream(self) -> AsyncIterator[int]:
        async for response in await self.llm.astream_chat(self.messages):
            yield len(response.delta or "")


class LlamaIndexReasoning(LlamaIndex):
    """``QwenSpacesLLM.astream_chat`` on a reasoning stream: thinking arrives as
    ``additional_kwargs["thinking_delta"]`` with an empty delta."""

    name = "llamaindex+reasoning"
    title = "llama_index_qwen_spaces QwenSpacesLLM.astream_chat, reasoning stream"

    async def stream(self) -> AsyncIterator[int]:
        async for response in await self.llm.astream_chat(self.messages):
            thought = response.additional_kwargs.get("thinking_delta") or ""
            yield len(response.delta or "") + len(thought)


class OpenAIEndpoint(Contender):
    """``qwen-spaces api`` (its own process, pointed at the target) streamed through the
    official openai SDK, as any OpenAI client would. :meth:`server_cpu` reads the endpoint
    process's CPU time (all threads, ns resolution) from ``/proc``, so the harness can
    report it per run beside this client process's own."""

    name = "openai-endpoint"
    title = "qwen-spaces api, streamed through the openai SDK"

    async def start(self) -> None:
        import asyncio
        import os
        import sys

        from openai import AsyncOpenAI

        env = {**os.environ, "QWEN_SPACES_BASE_URLS": f"{self.target.model}={self.target.url}",
               "NO_PROXY": "127.0.0.1", "no_proxy": "127.0.0.1"}
        env.pop("QWEN_SPACES_API_KEY", None)
        self.proc = await asyncio.create_subprocess_exec(
            sys.executable, "-m", "qwen_spaces.cli", "api", "--port", "0", "--token", "",
            stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.DEVNULL, env=env)
        assert self.proc.stdout is not None
        line = (await self.proc.stdout.readline()).decode()
        if not line.startswith("serving http://"):
            self.proc.kill()
            raise RuntimeError(f"qwen-spaces api did not start (said {line!r})")
        self.client = AsyncOpenAI(base_url=line.split()[1], api_key="none", max_retries=0)

    async def close(self) -> None:
        await self.client.close()
        self.proc.terminate()
        await self.proc.wait()

    def server_cpu(self) -> float:
        """Seconds of CPU the endpoint process has used (the sum over its threads)."""
        import os

        total = 0
        task_dir = f"/proc/{self.proc.pid}/task"
        for task in os.listdir(task_dir):
            try:
                with open(f"{task_dir}/{task}/schedstat") as f:
                    total += int(f.read().split()[0])
            except (OSError, ValueError, IndexError):
                continue  # a thread that ended meanwhile
        return total / 1e9

    async def stream(self) -> AsyncIterator[int]:
        stream = await self.client.chat.completions.create(
            model=self.target.model, stream=True,
            messages=[{"role": "user", "content": self.target.prompt}])
        async with stream:
            async for chunk in stream:
                if chunk.choices:
                    yield len(chunk.choices[0].delta.content or "")


class GradioClient(Contender):
    """The official ``gradio_client``: ``Client(url).submit(...)``, iterated (sync)."""

    name = "gradio_client"
    title = "gradio_client Client.submit (official)"
    sync = True

    async def start(self) -> None:
        import os

        os.environ["GRADIO_ANALYTICS_ENABLED"] = "False"  # no telemetry thread
        from gradio_client import Client  # type: ignore[import-untyped]

        self.client = Client(self.target.url + "/", verbose=False, analytics_enabled=False,
                             download_files=False)

    async def close(self) -> None:
        self.client.close()

    def stream_sync(self) -> Iterator[int]:
        job = self.client.submit(self.target.prompt, [], SYSTEM, api_name="/model_chat")
        sent = 0
        for outputs in job:  # the whole output value each time: pick the answer's length
            size = sum(len(part.get("text") or "") for part in outputs[1][-1]["content"])
            yield size - sent
            sent = size


class G4F(Contender):
    """g4f's ``Qwen_Qwen_2_5_Max`` provider (the per-Space code this package replaces),
    with its hard-coded Space URL patched to the target. Runs in the side environment."""

    name = "g4f"
    title = "g4f 7.6.5 Qwen_Qwen_2_5_Max provider"

    async def start(self) -> None:
        from g4f.Provider.hf_space.Qwen_Qwen_2_5_Max import (  # type: ignore[import-not-found]
            Qwen_Qwen_2_5_Max,
        )

        Qwen_Qwen_2_5_Max.url = self.target.url
        Qwen_Qwen_2_5_Max.api_endpoint = f"{self.target.url}/gradio_api/queue/join?"
        self.provider = Qwen_Qwen_2_5_Max

    async def stream(self) -> AsyncIterator[int]:
        messages = [{"role": "user", "content": self.target.prompt}]
        async for chunk in self.provider.create_async_generator("qwen-qwen2-5-max", messages):
            yield len(str(chunk))


CONTENDERS: dict[str, type[Contender]] = {
    c.name: c for c in (RawLimit, Transport, TransportTools, TransportReasoning, LangChain,
                        LangChainTools, LangChainReasoning, LlamaIndex, LlamaIndexReasoning,
                        OpenAIEndpoint, GradioClient, G4F)}
