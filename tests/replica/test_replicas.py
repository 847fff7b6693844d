"""The replicas reproduce each catalog Space's public API on Gradio 6, 5 and 4.44.1, and their
responder reflects exactly what the Space received. Real servers, raw protocol requests."""

from __future__ import annotations

import asyncio
import hashlib
import inspect
import io
import os
import signal
import subprocess
import sys
import time
from typing import Any

import aiohttp
import pytest
from PIL import Image

from qwen_spaces.replica.generations import GENERATIONS, served_on
from qwen_spaces.replica.process import REPO_ROOT, ReplicaSet, local_get

#: The ``/config`` component types each role may have: a textbox query, or Qwen3-Demo's
#: antdx Sender; any chatbot type (``"chatbot" in type``: Gradio's, modelscope_studio's legacy
#: or "pro" one); the settings form; ``gr.State`` slots.
ROLE_TYPES = {"query": {"textbox", "antdxsender"}, "history": {"chatbot"},
              "system": {"textbox"}, "variant": {"radio"}, "image": {"image"},
              "message": {"modelscopemultimodalinput", "multimodaltextbox"},
              "settings": {"antdform"}, "thinking": {"state"}, "session": {"state"},
              "state": {"state"}}
OUTPUT_TYPES = {"textbox": {"textbox"}, "chatbot": {"chatbot"}, "system": {"textbox"},
                "text": {"textbox"}, "state": {"state"}, "input": {"antdxsender"},
                "clear_btn": {"antdbutton"}, "delete_menu_item": {"antdmenuitem"},
                "add_conversation_btn": {"antdbutton"}, "conversations": {"antdxconversations"}}
VERSION_PREFIX = {"6": "6.", "5": "5.29.0", "4.44.1": "4.44.1"}
QUOTA = "You have exceeded your ZeroGPU quota (60s requested vs. 12s left). Try again in 0:10:00."


def fields(reply: str) -> dict[str, str]:
    """The responder's ``key: value`` lines."""
    return dict(line.split(": ", 1) for line in reply.splitlines()[1:] if ": " in line)


def chat_frames(event: Any) -> list[Any]:
    """The chatbot output (index 1) of each ``process_generating`` frame: a full value in
    the first, lists of ``[op, path, value]`` diffs after it."""
    return [f["output"]["data"][1] for f in event.frames if f["msg"] == "process_generating"]


async def wait_for(predicate: Any, timeout: float = 10.0) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        assert time.monotonic() < deadline, "condition not reached in time"
        await asyncio.sleep(0.1)


def _is(component_type: str, allowed: set[str]) -> bool:
    """A chatbot role accepts every chatbot type (``"chatbot" in type``), others are exact."""
    return component_type in allowed or ("chatbot" in allowed and "chatbot" in component_type)


@pytest.mark.parametrize(("generation", "name"),
                         [(g, m) for g in GENERATIONS for m in served_on(g)],
                         ids=[f"gradio{g}-{m}" for g in GENERATIONS for m in served_on(g)])
async def test_config_matches_catalog(replicas_on: Any, wire_for: Any, generation: str,
                                      name: str) -> None:
    wire = await wire_for(replicas_on(generation), name)
    spec, config = wire.spec, wire.config
    assert config["version"].startswith(VERSION_PREFIX[generation])
    assert config["show_error"] is False
    dep = wire.dependency()
    types = raw_types = {c["id"]: c["type"] for c in config["components"]}
    assert dep["id"] == spec.fn_index
    if spec.trigger_id is not None:
        assert dep["targets"][0][0] == spec.trigger_id
    inputs = [types[i] for i in dep["inputs"]]
    outputs = [types[i] for i in dep["outputs"]]
    assert len(inputs) == len(spec.inputs) and len(outputs) == len(spec.outputs)
    for role, got in zip(spec.inputs, inputs, strict=True):
        assert _is(got, ROLE_TYPES[role]), (role, got)
    for role, got in zip(spec.outputs, outputs, strict=True):
        assert _is(got, OUTPUT_TYPES[role]), (role, got)
    assert "chatbot" in outputs[spec.reply_output] or spec.reply_kind == "text"
    assert dep["types"]["generator"] is True
    props = {c["id"]: c["props"] for c in config["components"]}
    history = dep["inputs"][spec.inputs.index("history")] if "history" in spec.inputs else None
    if history is not None and wire.major < 6 and raw_types[history] == "chatbot":
        assert props[history]["type"] == "tuples"
    if "variant" in spec.inputs:
        radio = props[dep["inputs"][spec.inputs.index("variant")]]
        assert [c[0] for c in radio["choices"]] == list(spec.variants)
        assert radio["value"] == spec.default_variant
    if "settings" in spec.inputs:
        assert props[dep["inputs"][spec.inputs.index("settings")]]["value"] == {
            "model": spec.default_variant, "sys_prompt": spec.default_system,
            "thinking_budget": (spec.default_thinking_budget or 0) // spec.thinking_budget_unit}


async def test_closed_api_refuses_call(any_replicas: ReplicaSet, wire_for: Any) -> None:
    closed = await wire_for(any_replicas, "qwen-2.5")
    for route in ("call", "run"):
        async with closed.http.post(f"{closed.base}{closed.prefix}/{route}/model_chat",
                                    json={"data": closed.data("hi")}) as resp:
            assert resp.status == 404, route
            assert "join the queue" in (await resp.json())["detail"]
    opened = await wire_for(any_replicas, "qwen-2-72b")
    async with opened.http.post(f"{opened.base}{opened.prefix}/call/model_chat",
                                json={"data": opened.data("hi")}) as resp:
        assert resp.status == 200
        event_id = (await resp.json())["event_id"]
    async with opened.http.get(f"{opened.base}{opened.prefix}/call/model_chat/{event_id}") as resp:
        assert "event: complete" in await resp.text()


async def test_reply_reflects_what_the_space_received(any_replicas: ReplicaSet,
                                                      wire_for: Any) -> None:
    wire = await wire_for(any_replicas, "qwen-2.5")
    system = "Be terse.\n  Keep [1] as is."
    history = wire.history([("q1", "a1"), ("q2", "a2")])
    event = await wire.run(wire.data("what is 2+2?", history, system, "7B"),
                           headers={"X-HF-Authorization": "Bearer hf_not_a_real_token"})
    reply = wire.reply(event)
    assert reply.startswith("[local replica of Qwen/Qwen2.5 (qwen-2.5)")
    assert f"system: {system}\n" in reply
    got = fields(reply)
    assert got["history_turns"] == "2"
    assert got["variant"] == "7B"
    assert got["query"] == "what is 2+2?"
    assert sum(f["msg"] == "process_generating" for f in event.frames) > 5  # token streaming
    stats = any_replicas.stats("qwen-2.5")
    assert stats["last_request"]["query"] == "what is 2+2?"
    assert stats["last_request"]["variant"] == "7B"
    headers = stats["last_headers"]
    assert headers["x-hf-authorization"] is True
    assert headers["x-hf-authorization_sha256"] == hashlib.sha256(
        b"hf_not_a_real_token").hexdigest()[:12]
    assert "hf_not_a_real_token" not in str(stats)


async def test_qwen25_items_are_text_dicts_on_gradio4(legacy_replicas: ReplicaSet,
                                                      wire_for: Any) -> None:
    """Like the real Qwen2.5 Space (Gradio 4, modelscope_studio's ``mgr.Chatbot``): history
    items may be dicts, plain strings or null, and every item it sends back is a full
    ``MultimodalMessage`` dict (``files`` stays ``[]`` where a dict brought it, else null),
    so the streamed diffs append to ``[i, 1, "text"]``. Other Gradio 4 Spaces keep strings."""

    def item(text: str, files: list[Any] | None = None) -> dict[str, Any]:
        return {"id": None, "elem_id": None, "elem_classes": None, "name": None, "text": text,
                "flushing": None, "avatar": "", "files": files}

    def echoed(sent: Any) -> Any:
        if isinstance(sent, dict):
            return item(sent["text"], sent["files"])
        return None if sent is None else item(sent)

    wire = await wire_for(legacy_replicas, "qwen-2.5")
    mixed = [[{"text": "q1", "files": []}, None], ["q2", item("a2", [])], [None, "a3"]]
    histories = [wire.history([("q1", "a1"), ("q2", "a2")], text_dict=True),
                 wire.history([("q1", "a1"), ("q2", "a2")]), mixed]
    for history, turns in zip(histories, (2, 2, 3), strict=True):
        event = await wire.run(wire.data("hi", history))
        reply = wire.reply(event)
        assert fields(reply)["history_turns"] == str(turns)
        chat = event.completed["output"]["data"][1]
        earlier = [[echoed(x) for x in pair] for pair in history]
        assert chat == [*earlier, [item("hi"), item(reply)]]
        first, *diffs = chat_frames(event)
        assert first[-1] == [item("hi"), item("[local")]
        assert len(diffs) > 5
        assert all(d[:2] == ["append", [turns, 1, "text"]] for f in diffs for d in f), diffs[:3]

    plain = await wire_for(legacy_replicas, "qwen-2-72b")
    event = await plain.run(plain.data("hi", plain.history([("q1", "a1")])))
    first, *diffs = chat_frames(event)
    assert first == [["q1", "a1"], ["hi", "[local"]]
    assert diffs and all(d[:2] == ["append", [1, 1]] for f in diffs for d in f)


async def test_qvq_reports_the_uploaded_image(any_replicas: ReplicaSet, wire_for: Any) -> None:
    wire = await wire_for(any_replicas, "qvq-72b")
    buf = io.BytesIO()
    Image.new("RGB", (4, 3), (200, 10, 10)).save(buf, "PNG")
    png = buf.getvalue()
    form = aiohttp.FormData()
    form.add_field("files", png, filename="tiny.png", content_type="image/png")
    async with wire.http.post(f"{wire.base}{wire.prefix}/upload", data=form) as resp:
        path = (await resp.json())[0]
    image = {"path": path, "meta": {"_type": "gradio.FileData"}, "orig_name": "tiny.png"}
    event = await wire.run(wire.data("describe", image=image))
    digest = hashlib.sha256(png).hexdigest()[:12]
    assert fields(wire.reply(event))["image"] == f"PNG 4x3 sha256:{digest}"
    event = await wire.run(wire.data("nothing attached"))
    assert fields(wire.reply(event)) == {"image": "no image", "query": "nothing attached"}


async def test_dropping_the_stream_stops_the_generator(any_replicas: ReplicaSet,
                                                       wire_for: Any) -> None:
    wire = await wire_for(any_replicas, "qwen-2-72b")
    before = any_replicas.stats("qwen-2-72b")
    event = await wire.run(wire.data("/slow 100 0.1"), session_hash="drop-me",
                           stop=lambda f: f["msg"] == "process_generating")
    assert event.msgs[-1] == "process_generating"

    def stopped() -> bool:
        now = any_replicas.stats("qwen-2-72b")
        return now["stopped_early"] == before["stopped_early"] + 1 and now["active"] == 0

    await wait_for(stopped)
    assert any_replicas.stats("qwen-2-72b")["completed"] == before["completed"]


async def test_scenarios(any_replicas: ReplicaSet, wire_for: Any) -> None:
    wire = await wire_for(any_replicas, "qwen-2-72b")
    quota = (await wire.run(wire.data("/quota"))).completed
    assert quota["success"] is False
    assert quota["output"]["error"].strip("'") == QUOTA
    if wire.major >= 6:
        assert quota["output"]["title"] == "ZeroGPU quota exceeded"
    crash = (await wire.run(wire.data("/crash"))).completed
    assert crash["success"] is False and crash["output"]["error"] is None
    mid = await wire.run(wire.data("/error-mid"))
    assert "process_generating" in mid.msgs
    assert mid.completed["output"]["error"].strip("'") == "replica: simulated failure mid-stream"

    text = "one [1] [1] two two\nthree   four\n\n  five"
    echoed = wire.reply(await wire.run(wire.data(f"/echo {text}")))
    # Gradio 4's tuples chatbot passes plain strings through inspect.cleandoc.
    assert echoed == (text if wire.major >= 6 else inspect.cleandoc(text))

    rewrite = await wire.run(wire.data("/rewrite"))
    generating = [f["output"]["data"] for f in rewrite.frames if f["msg"] == "process_generating"]
    assert "Thinking..." in str(generating[0])
    assert generating[1][1][0][0] == "replace"
    assert wire.reply(rewrite).startswith("[local replica")

    logged = await wire.run(wire.data("/log"))
    assert {"log", "progress"} <= set(logged.msgs)
    big = wire.reply(await wire.run(wire.data("/long 1048576")))
    assert len(big.encode()) == 1048576


async def test_queue_position_and_queue_full(replica_factory: Any, wire_for: Any) -> None:
    replica_set = replica_factory(models=["qwen-2-72b"], max_size=2, concurrency=1)
    wire = await wire_for(replica_set, "qwen-2-72b")
    data = wire.data("/slow 50 0.1")
    for i in range(3):
        async with await wire.join(data, f"q{i}") as resp:
            assert resp.status == 200
        await asyncio.sleep(0.3)  # let the first one start before the next joins
    async with await wire.join(data, "q3") as resp:
        assert resp.status == 503
        assert "Queue is full" in (await resp.json())["detail"]
    async for frame in wire.frames("q2"):
        assert frame["msg"] == "estimation"
        assert frame["rank"] == 1
        break
    pid = replica_set.pid
    replica_set.stop()
    assert pid is not None
    with pytest.raises(ProcessLookupError):
        os.kill(pid, 0)


def test_serve_cli_stops_cleanly_on_ctrl_c() -> None:
    env = {**os.environ, "PYTHONPATH": str(REPO_ROOT)}
    proc = subprocess.Popen(
        [sys.executable, "-m", "qwen_spaces.replica.serve", "--model", "qwen2.5"],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env)
    try:
        assert proc.stdout is not None
        line = proc.stdout.readline()
        name, url = line.split()
        assert name == "qwen-2.5"
        assert local_get(f"{url}/config")["dependencies"][3]["api_name"] == "model_chat"
        proc.send_signal(signal.SIGINT)
        _, err = proc.communicate(timeout=60)  # startup + shutdown take ~8 s; CI may be loaded
        assert proc.returncode == 0
        assert "Traceback" not in err
        with pytest.raises(OSError):
            local_get(f"{url}/config", timeout=2)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.communicate()


@pytest.mark.parametrize("how", ["sigkill-parent", "sigterm-serve"])
def test_replicas_never_outlive_their_owner(how: str) -> None:
    """A parent killed outright (SIGKILL: no cleanup runs) or a serve told to terminate
    leaves no replica server behind."""
    env = {**os.environ, "PYTHONPATH": str(REPO_ROOT)}
    if how == "sigkill-parent":
        code = ("from qwen_spaces.replica import ReplicaSet; import time, sys\n"
                "r = ReplicaSet(['qwen-2.5-max']).start()\n"
                "print(r.url('qwen-2.5-max'), flush=True); time.sleep(600)")
        cmd = [sys.executable, "-c", code]
    else:
        cmd = [sys.executable, "-m", "qwen_spaces.replica.serve", "--model", "qwen-2.5-max"]
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True,
                            env=env)
    try:
        assert proc.stdout is not None
        url = proc.stdout.readline().split()[-1]
        assert local_get(f"{url}/config")["version"]
        proc.send_signal(signal.SIGKILL if how == "sigkill-parent" else signal.SIGTERM)
        proc.wait(30)
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline:
            try:
                local_get(f"{url}/config", timeout=1)
            except OSError:
                return  # the replica is gone
            time.sleep(0.2)
        pytest.fail(f"the replica at {url} outlived its owner ({how})")
    finally:
        if proc.poll() is None:
            proc.kill()
        if proc.stdout is not None:
            proc.stdout.close()
