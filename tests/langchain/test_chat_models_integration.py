"""ChatQwenSpaces against replica Spaces: mapping, streaming, chains, vision, callbacks."""

from __future__ import annotations

import asyncio
import base64
import hashlib
import io
import re
import time
from typing import Any

import pytest
from langchain_core.callbacks import AsyncCallbackHandler, BaseCallbackHandler
from langchain_core.messages import (
    AIMessage,
    AIMessageChunk,
    ChatMessage,
    HumanMessage,
    SystemMessage,
    ToolMessage,
)
from langchain_core.output_parsers import StrOutputParser
from langchain_core.prompts import ChatPromptTemplate
from PIL import Image

from langchain_qwen_spaces import STATUS_EVENT, ChatQwenSpaces, QuotaExceededError
from qwen_spaces.limits import count_tokens
from qwen_spaces.replica import ReplicaSet
from tests.servers import Front, file_reply
from tests.util import wait_for

pytestmark = pytest.mark.replicas


def llm(replicas: ReplicaSet, model: str = "qwen-2.5-max", **kw: Any) -> ChatQwenSpaces:
    return ChatQwenSpaces(model=model,
                          base_urls={m: replicas.url(m) for m in replicas.models}, **kw)


def png(w: int, h: int, color: tuple[int, int, int] = (10, 200, 30)) -> bytes:
    buf = io.BytesIO()
    Image.new("RGB", (w, h), color).save(buf, format="PNG")
    return buf.getvalue()


def described(image: bytes) -> str:
    return f"sha256:{hashlib.sha256(image).hexdigest()[:12]}"


class Recorder(BaseCallbackHandler):
    def __init__(self) -> None:
        self.tokens: list[str] = []
        self.custom: list[tuple[str, dict[str, Any]]] = []

    def on_llm_new_token(self, token: str, **kwargs: Any) -> None:
        self.tokens.append(token)

    def on_custom_event(self, name: str, data: Any, **kwargs: Any) -> None:
        self.custom.append((name, data))


async def test_deltas_concatenate_to_the_invoke_text(replicas: ReplicaSet) -> None:
    model = llm(replicas)
    text = "ha ha ha\n\n[1] [1] .. the end"
    chunks = [c async for c in model.astream(f"/echo {text}")]
    assert len(chunks) >= 2
    assert "".join(str(c.content) for c in chunks) == text
    assert (await model.ainvoke(f"/echo {text}")).content == text
    assert [c.chunk_position for c in chunks].count("last") == 1
    final = chunks[-1]
    assert final.chunk_position == "last"
    assert final.response_metadata["model_name"] == "qwen-2.5-max"
    assert final.response_metadata["finish_reason"] == "stop"
    assert final.response_metadata["space_id"] == "Qwen/Qwen2.5-Max-Demo"
    merged = sum(chunks[1:], chunks[0])
    assert isinstance(merged, AIMessageChunk)
    assert merged.response_metadata["model_name"] == "qwen-2.5-max"  # once, not repeated


def test_chunks_arrive_as_the_space_generates_them(replicas: ReplicaSet) -> None:
    pieces = [str(c.content) for c in llm(replicas).stream("/slow 4 0.2")]
    ticks = [re.findall(r"tick \d", p) for p in pieces if "tick" in p]
    assert ticks == [[f"tick {i}"] for i in range(4)]  # each tick its own chunk


def test_system_prompt_and_earlier_turns_reach_the_space(replicas: ReplicaSet) -> None:
    model = llm(replicas, model="qwen-2-72b")
    reply = model.invoke([
        SystemMessage("Rule one."), SystemMessage("Rule two."),
        HumanMessage("q1"), AIMessage("a1"), HumanMessage("q2"), AIMessage("a2"),
        HumanMessage("q3 part"), HumanMessage("and more")])
    text = str(reply.content)
    assert "system: Rule one.\n\nRule two." in text
    assert "history_turns: 2" in text
    assert "query: q3 part\n\nand more" in text  # consecutive human messages merged
    fallback = llm(replicas, system_prompt="Default from the field.").invoke("x")
    assert "system: Default from the field." in str(fallback.content)


def test_variant_and_model_override(replicas: ReplicaSet) -> None:
    model = llm(replicas, model="qwen-2.5-7b")
    assert "variant: 7B" in str(model.invoke("hi").content)
    other = model.invoke("hi", model="qwen-2-72b")
    assert other.response_metadata["model_name"] == "qwen-2-72b"
    assert "Qwen/Qwen2-72B-Instruct" in str(other.content)


def test_chain_streams(replicas: ReplicaSet) -> None:
    prompt = ChatPromptTemplate.from_messages([("system", "You are {persona}."),
                                               ("human", "{question}")])
    chain = prompt | llm(replicas) | StrOutputParser()
    pieces = list(chain.stream({"persona": "a pirate", "question": "where is the gold?"}))
    text = "".join(pieces)
    assert len(pieces) >= 2
    assert "system: You are a pirate." in text and "query: where is the gold?" in text


async def test_abatch_of_16_runs_concurrently(replica_factory: Any) -> None:
    reps = replica_factory(models=["qwen-2.5-max"], concurrency=16, token_delay=0.01)
    model = ChatQwenSpaces(model="qwen-2.5-max", base_url=reps.url("qwen-2.5-max"))
    prompt = "/slow 2 0.5"
    start = time.monotonic()
    await model.ainvoke(prompt)
    one = time.monotonic() - start
    start = time.monotonic()
    results = await model.abatch([f"{prompt} #{i}" for i in range(16)],
                                 config={"max_concurrency": 16})
    sixteen = time.monotonic() - start
    assert len(results) == 16 and all("tick 1" in str(r.content) for r in results)
    assert sixteen < 4 * one, (one, sixteen)


@pytest.mark.parametrize("form", ["v1_base64", "openai_data_uri", "v0_base64", "v1_url",
                                  "openai_url"])
def test_qvq_describes_the_exact_image(replicas: ReplicaSet, form: str) -> None:
    image = png(11, 7)
    b64 = base64.b64encode(image).decode()

    async def serve_and_ask() -> str:
        async with Front(None, {"/img/x.png": file_reply(image, "image/png")}) as host:
            url = f"{host.url}/img/x.png"
            block = {
                "v1_base64": {"type": "image", "base64": b64, "mime_type": "image/png"},
                "openai_data_uri": {"type": "image_url",
                                    "image_url": {"url": f"data:image/png;base64,{b64}"}},
                "v0_base64": {"type": "image", "source_type": "base64", "data": b64,
                              "mime_type": "image/png"},
                "v1_url": {"type": "image", "url": url},
                "openai_url": {"type": "image_url", "image_url": {"url": url}},
            }[form]
            msg = HumanMessage(content=[{"type": "text", "text": "What is this?"}, block])
            return str((await llm(replicas, "qvq-72b").ainvoke([msg])).content)

    text = asyncio.run(serve_and_ask())
    assert described(image) in text and "11x7" in text and "query: What is this?" in text


def _no_request(replicas: ReplicaSet, model: str) -> int:
    return replicas.stats(model)["started"]


@pytest.mark.parametrize(("messages", "match"), [
    ([HumanMessage("q"), AIMessage("a")], "must end with a user message"),
    ([HumanMessage("q"), ToolMessage(
        [{"type": "image", "base64": base64.b64encode(png(2, 2)).decode(),
          "mime_type": "image/png"}], tool_call_id="1")], "tool results cannot carry images"),
    ([ChatMessage(role="critic", content="hm"), HumanMessage("q")], "role 'critic'"),
    ([], "empty"),
    ([HumanMessage(content=[{"type": "text", "text": "look"},
                            {"type": "image", "base64": base64.b64encode(png(2, 2)).decode(),
                             "mime_type": "image/png"}])], "text-only model"),
    ([HumanMessage(content=[{"type": "audio", "base64": "AAAA", "mime_type": "audio/wav"}])],
     "'audio' content block"),
])
def test_bad_input_is_rejected_before_any_request(replicas: ReplicaSet, messages: list[Any],
                                                  match: str) -> None:
    before = _no_request(replicas, "qwen-2.5-max")
    with pytest.raises(ValueError, match=match):
        llm(replicas).invoke(messages)
    assert _no_request(replicas, "qwen-2.5-max") == before


def test_bad_configuration_is_rejected_at_construction() -> None:
    with pytest.raises(ValueError, match="Unknown Qwen Space model"):
        ChatQwenSpaces(model="gpt-4o")
    with pytest.raises(ValueError, match="scheme"):
        ChatQwenSpaces(base_url="127.0.0.1:7860")
    with pytest.raises(ValueError, match="no variant"):
        ChatQwenSpaces(model="qwen-2.5", variant="100B")


def test_qvq_takes_one_image(replicas: ReplicaSet) -> None:
    b64 = base64.b64encode(png(3, 3)).decode()
    block = {"type": "image", "base64": b64, "mime_type": "image/png"}
    with pytest.raises(ValueError, match="at most 1 image"):
        llm(replicas, "qvq-72b").invoke([HumanMessage(content=[block, block])])


async def test_quota_error_propagates_and_fallbacks_work(replicas: ReplicaSet) -> None:
    import aiohttp
    from aiohttp import web

    upstream = replicas.url("qwen-2.5-max")

    async def exhausted(request: web.Request) -> web.StreamResponse:
        body = await request.json()
        body["data"][0] = "/quota"  # this Space's quota is spent, whatever is asked
        async with aiohttp.ClientSession() as s, \
                s.post(f"{upstream}/gradio_api/queue/join", json=body) as r:
            return web.Response(status=r.status, body=await r.read(),
                                content_type="application/json")

    async with Front(upstream, {"/gradio_api/queue/join": exhausted}) as spent:
        primary = ChatQwenSpaces(model="qwen-2.5-max", base_url=spent.url, max_retries=0)
        with pytest.raises(QuotaExceededError) as info:
            await primary.ainvoke("hello")
        assert info.value.retry_after == 600
        backup = llm(replicas, model="qwen-2-72b")
        chain = primary.with_fallbacks([backup], exceptions_to_handle=(QuotaExceededError,))
        reply = await chain.ainvoke("hello")
    assert reply.response_metadata["model_name"] == "qwen-2-72b"
    assert "query: hello" in str(reply.content)


@pytest.mark.parametrize(("kwargs", "reason"), [({"stop": ["tick 1"]}, "stop"),
                                                ({"max_tokens": 9}, "length")])
def test_stop_and_max_tokens_cut_and_cancel(replicas: ReplicaSet, kwargs: dict[str, Any],
                                            reason: str) -> None:
    before = replicas.stats("qwen-2.5-max")["stopped_early"]
    reply = llm(replicas, **kwargs).invoke("/slow 30 0.2")
    assert reply.response_metadata["finish_reason"] == reason
    text = str(reply.content)
    if reason == "stop":
        assert "tick 0" in text and "tick 1" not in text
    else:
        assert count_tokens(text) == 9
    assert wait_for(lambda: replicas.stats("qwen-2.5-max")["stopped_early"] > before), \
        "the Space's job was not cancelled"


async def test_queue_position_reaches_callbacks(replica_factory: Any) -> None:
    reps = replica_factory(models=["qwen-2.5-max"], concurrency=1, token_delay=0.01)
    model = ChatQwenSpaces(model="qwen-2.5-max", base_url=reps.url("qwen-2.5-max"))
    busy = asyncio.create_task(model.ainvoke("/slow 4 0.5"))
    assert await asyncio.to_thread(wait_for, lambda: reps.stats("qwen-2.5-max")["active"] == 1)

    class AsyncRecorder(AsyncCallbackHandler):
        def __init__(self) -> None:
            self.events: list[dict[str, Any]] = []

        async def on_custom_event(self, name: str, data: Any, **kwargs: Any) -> None:
            assert name == STATUS_EVENT
            self.events.append(data)

    recorder = AsyncRecorder()
    await model.ainvoke("waiting my turn", config={"callbacks": [recorder]})
    queued = [e for e in recorder.events if e["kind"] == "queue"]
    assert queued and queued[0]["position"] == 1
    assert queued[0]["model"] == "qwen-2.5-max"
    assert any(e["kind"] == "started" for e in recorder.events)
    await busy
    # astream_events (v2) inside a chain sees them as on_custom_event too.
    chain = ChatPromptTemplate.from_messages([("human", "{q}")]) | model
    kinds = [ev["data"]["kind"] async for ev in chain.astream_events({"q": "hi"}, version="v2")
             if ev["event"] == "on_custom_event"]
    assert "started" in kinds


def test_streaming_invoke_fires_tokens_and_logs_become_events(replicas: ReplicaSet) -> None:
    recorder = Recorder()
    reply = llm(replicas, streaming=True).invoke("/log", config={"callbacks": [recorder]})
    assert "".join(recorder.tokens) == reply.content and len(recorder.tokens) >= 2
    recorder = Recorder()
    llm(replicas).invoke("/log", config={"callbacks": [recorder]})
    logs = [d["message"] for n, d in recorder.custom if d["kind"] == "log"]
    assert "replica: warning message" in logs
    assert any(d["kind"] == "progress" for _, d in recorder.custom)


def test_token_stays_out_of_repr_and_callbacks(replicas: ReplicaSet) -> None:
    token = "hf_langchain_secret_value"
    model = llm(replicas, api_key=token)
    recorder = Recorder()

    class Everything(BaseCallbackHandler):
        seen: list[str] = []

        def on_chat_model_start(self, serialized: Any, messages: Any, **kw: Any) -> None:
            self.seen.append(repr((serialized, messages, kw)))

        def on_llm_end(self, response: Any, **kw: Any) -> None:
            self.seen.append(repr((response, kw)))

    everything = Everything()
    model.invoke("hi", config={"callbacks": [recorder, everything]})
    assert token not in repr(model) and token not in str(model.model_dump())
    assert all(token not in s for s in everything.seen)
    assert replicas.stats("qwen-2.5-max")["last_headers"]["x-hf-authorization_sha256"] == \
        hashlib.sha256(token.encode()).hexdigest()[:12]
