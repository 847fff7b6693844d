"""The ``qwen-spaces`` command as a user meets it: output, exit codes, no tracebacks."""

from __future__ import annotations

import asyncio
import hashlib
import io
import sys
from pathlib import Path

import pytest
from PIL import Image

from qwen_spaces.replica import ReplicaSet
from tests.fault_server import FaultServer, Plan

QUEUE_FULL = '{"detail":"Queue is full. Max size is 3 and size is 3."}'
SLEEPING = "<!DOCTYPE html><html><body>This Space is sleeping</body></html>"


async def cli(*args: str, stdin: str = "", env: dict[str, str] | None = None,
              ) -> tuple[int, str, str]:
    proc = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "qwen_spaces.cli", *args, stdin=asyncio.subprocess.PIPE,
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE, env=env)
    out, err = await asyncio.wait_for(proc.communicate(stdin.encode()), 120)
    assert proc.returncode is not None
    return proc.returncode, out.decode(), err.decode()


async def test_models_lists_the_catalog() -> None:
    code, out, _ = await cli("models")
    assert code == 0
    for name in ("qwen-2-72b", "qwen-2.5", "qwen-2.5-max", "qvq-72b", "qwen-qvq-72b-preview",
                 "0.5B", "qwen-3", "qwen3-0.6b", "qwen-2.5-1m", "qwen-2.5-coder"):
        assert name in out
    rows = {line.split()[0]: line.split()[2:4] for line in out.splitlines()[1:]}
    assert rows["qwen-3"] == ["history,system,tools,thinking", "recorded"]
    assert rows["qvq-72b"] == ["images", "recorded"]
    assert rows["qwen-2.5-coder"] == ["history,system,tools", "inferred"]


async def test_chat_shows_qwen3_thinking_apart_from_the_answer(replicas: ReplicaSet) -> None:
    url = replicas.url("qwen-3")
    code, out, err = await cli("chat", "why blue?", "-m", "qwen-3", "--thinking",
                               "--thinking-budget", "3000", "--base-url", url)
    assert code == 0, err
    # stdout holds the answer only; the thinking went to stderr, framed, before it.
    assert out.startswith("[local replica of Qwen/Qwen3-Demo (qwen-3)")
    assert "thinking: on" in out and "thinking_budget: 3" in out
    assert "[replica thinking]" not in out
    thought = err.split("[thinking]\n", 1)[1].split("\n[end of thinking]", 1)[0]
    assert "query: why blue?" in thought
    code, out, err = await cli("chat", "hi", "-m", "qwen-3-8b", "--no-thinking",
                               "--base-url", url)
    assert code == 0, err
    assert "thinking: off" in out and "variant: qwen3-8b" in out and "[thinking]" not in err
    code, out, err = await cli("chat", "hi", "-m", "qwen-2.5", "--thinking",
                               "--base-url", replicas.url("qwen-2.5"))
    assert code == 2 and out == ""
    assert err.strip() == "error: qwen-2.5 has no thinking switch or budget; thinking is set " \
        "on qwen-3"


async def test_chat_streams_with_system_and_image(replicas: ReplicaSet, tmp_path: Path) -> None:
    code, out, err = await cli("chat", "hello there", "-m", "qwen-2.5-max", "-s", "Be brief.",
                               "--base-url", replicas.url("qwen-2.5-max"))
    assert code == 0, err
    assert "system: Be brief." in out and "query: hello there" in out
    buf = io.BytesIO()
    Image.new("RGB", (6, 2), (1, 1, 1)).save(buf, format="PNG")
    (tmp_path / "pic.png").write_bytes(buf.getvalue())
    code, out, err = await cli("chat", "what is it?", "-m", "qvq-72b", "--image",
                               str(tmp_path / "pic.png"), "--base-url", replicas.url("qvq-72b"))
    assert code == 0, err
    assert hashlib.sha256(buf.getvalue()).hexdigest()[:12] in out and "6x2" in out


async def test_interactive_mode_keeps_the_conversation(replicas: ReplicaSet) -> None:
    code, out, err = await cli("chat", "-m", "qwen-2-72b", "--base-url",
                               replicas.url("qwen-2-72b"), stdin="first\nsecond\n")
    assert code == 0, err
    assert "query: first" in out and "query: second" in out
    assert "history_turns: 0" in out and "history_turns: 1" in out


async def test_inspect_shows_the_live_api(replicas: ReplicaSet) -> None:
    code, out, err = await cli("inspect", "qwen-2.5", "--base-url", replicas.url("qwen-2.5"))
    assert code == 0, err
    assert "gradio_version  6.31.0" in out and "fn_index        3" in out
    assert "trigger_id      25" in out and "/model_chat" in out
    assert "['query', 'history', 'system', 'variant']" in out


async def test_replica_flag(tmp_path: Path) -> None:
    code, out, err = await cli("chat", "offline please", "-m", "qwen-2.5", "--replica")
    assert code == 0, err
    assert "local replica of Qwen/Qwen2.5" in out and "talking to a local replica" in err


@pytest.mark.parametrize(("server", "args", "code", "words"), [
    (FaultServer(script=[Plan(join_status=503, join_body=QUEUE_FULL)]), (), 4, "queue is full"),
    (FaultServer(config_status=503, config_body=SLEEPING, config_type="text/html"), (), 5,
     "not serving its app"),
    (FaultServer(config_status=401, config_body='{"error": "Invalid credentials"}'), (), 9,
     "refused access"),
    (None, ("--base-url", "http://127.0.0.1:9"), 5, "cannot connect"),
    (None, ("-m", "gpt-9"), 2, "Unknown Qwen Space model"),
    (None, ("-m", "qwen-2.5", "--image", "nope.png"), 2, "text-only"),
], ids=["queue-full", "asleep", "gated", "no-network", "bad-model", "image-to-text-model"])
async def test_expected_failures_are_one_line_with_an_exit_code(
        server: FaultServer | None, args: tuple[str, ...], code: int, words: str) -> None:
    if server is not None:
        async with server:
            got, _, err = await cli("chat", "hi", "-m", "qwen-2-72b", "--base-url",
                                      server.url)
    else:
        got, _, err = await cli("chat", "hi", *args)
    assert got == code, err
    assert err.startswith("error: ") and words in err
    assert "Traceback" not in err and err.count("\n") == 1


async def test_quota_exit_code(replicas: ReplicaSet) -> None:
    code, _, err = await cli("chat", "/quota", "-m", "qwen-2.5-max", "--base-url",
                             replicas.url("qwen-2.5-max"))
    assert code == 3 and "ZeroGPU quota" in err and "Traceback" not in err


@pytest.mark.parametrize("model", ["qwen-2-72b", "qwen-2.5", "qwen-2.5-max", "qvq-72b"])
async def test_inspect_says_what_differs_and_whether_it_matters(
        replicas: ReplicaSet, model: str) -> None:
    code, out, err = await cli("inspect", model, "--base-url", replicas.url(model))
    assert code == 0, err
    assert "matches pin     no" not in out
    assert "catalog check   ok: endpoint /" in out
    differs = [ln for ln in out.splitlines() if ln.startswith("  differs")]
    assert all(ln.endswith("harmless, calls use the live value") for ln in differs), differs
    if model == "qvq-72b":  # Gradio 6 gives the click a trigger id the catalog leaves out
        assert any("trigger_id 5 (catalog pins none)" in ln for ln in differs)
