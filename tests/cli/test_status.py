"""``qwen-spaces status``: the table and ``--json`` a user and a script read, and the exit
code a named model's verdict gives, against the replicas (real Gradio), the fake Hub and a
Space's front while it is not serving (``tests/fake_hub.py``, which says what they are
based on), and a Hub that cannot be reached.

The queue test serves the captured Gradio 6.31 ``/config`` and a ``queue/status`` answer
shaped as Gradio 4 to 6 send it (``../shared/docs/gradio-protocol.md`` 1.1): the replicas'
queues are empty unless a test fills eight slots.
"""

from __future__ import annotations

import asyncio
import json
import os
import sys
from collections.abc import AsyncIterator

import pytest
from aiohttp import web

from qwen_spaces.catalog import CATALOG
from qwen_spaces.replica import ReplicaSet
from tests import captures
from tests.cli.test_cli import cli
from tests.fake_hub import FakeHub, SleepingFront
from tests.fault_server import FaultServer

#: Nothing listens here: the Hub (``HF_ENDPOINT``) or a host that does not answer.
CLOSED = "http://127.0.0.1:9"
TOKEN = "hf_StatusTokenNeverShown0123"


def _env(replicas: ReplicaSet | None = None, hub: str = CLOSED, **urls: str) -> dict[str, str]:
    """The environment with every replica (plus ``urls``) as the models' hosts."""
    hosts = {name: replicas.url(name) for name in replicas.models} if replicas else {}
    hosts.update(urls)
    env = {k: v for k, v in os.environ.items() if k not in ("HF_TOKEN", "HF_ENDPOINT")}
    return {**env, "HF_ENDPOINT": hub, "HF_HOME": os.devnull,
            "QWEN_SPACES_BASE_URLS": ",".join(f"{k}={v}" for k, v in hosts.items())}


def _rows(out: str) -> dict[str, list[str]]:
    """The table's rows by model, cut at its columns (two spaces or more apart)."""
    lines = out.splitlines()
    assert lines[0].split()[:2] == ["model", "space"], out
    rows: dict[str, list[str]] = {}
    for line in lines[1:]:
        if not line.strip():
            break
        cells = [c.strip() for c in line.split("  ") if c.strip()]
        rows[cells[0]] = cells
    return rows


async def test_offline_hub_overview_is_honest_and_exits_0(replicas: ReplicaSet) -> None:
    code, out, err = await cli("status", "--token", TOKEN, env=_env(replicas))
    assert code == 0 and err == "", err
    rows = _rows(out)
    assert list(rows) == list(CATALOG)
    for name, cells in rows.items():
        _, host, stage, hardware, config, gradio, api, queue, verdict = cells
        assert host == replicas.url(name)
        # The catalog Space's stage, labelled as such, and an honest "cannot reach".
        assert stage == f"{CATALOG[name].space_id}: cannot reach the Hub", cells
        assert hardware == "-" and config.endswith(" ms") and gradio == "6.31.0"
        assert (api, queue, verdict) == ("matches", "0", "usable: serving"), cells
    assert "hub: cannot reach the Hub at http://127.0.0.1:9" in out
    assert "catalog Space's stage on the Hub, not the host's" in out
    assert TOKEN not in out and "Traceback" not in out


async def test_json_is_one_object_per_named_model(replicas: ReplicaSet) -> None:
    code, out, err = await cli("status", "qwen-2.5", "qvq", "--json", env=_env(replicas))
    assert code == 0, err
    found = json.loads(out)
    assert [h["model"] for h in found] == ["qwen-2.5", "qvq-72b"]
    first = found[0]
    assert first["url"] == replicas.url("qwen-2.5") and first["space_id"] == "Qwen/Qwen2.5"
    assert (first["stage_source"], first["stage"], first["hub_failure"]) == \
        ("catalog", None, "cannot reach the Hub")
    assert first["gradio"] == "6.31.0" and first["api_matches"] is True
    assert isinstance(first["config_ms"], int) and first["queue_size"] == 0
    assert "api_prefix /gradio_api (catalog pins none): harmless, calls use the live value" \
        in first["api_notes"]
    assert (first["usable"], first["reason"]) == (True, "serving")


async def test_a_named_model_that_does_not_answer_exits_5(replicas: ReplicaSet) -> None:
    env = _env(replicas, **{"qwen-2.5-max": CLOSED})
    code, out, err = await cli("status", "qwen-2.5", "qwen-2.5-max", env=env)
    assert code == 5 and err == "", err
    rows = _rows(out)
    assert rows["qwen-2.5"][-1] == "usable: serving"
    assert rows["qwen-2.5-max"][4:] == ["unreachable", "-", "-", "-",
                                        "UNUSABLE: /config: unreachable"]
    assert "qwen-2.5-max: config: cannot connect to http://127.0.0.1:9" in out
    code, out, _ = await cli("status", "qwen-2.5", env=env)
    assert code == 0 and list(_rows(out)) == ["qwen-2.5"]
    code, out, _ = await cli("status", env=env)  # the overview: 0 whatever it finds
    assert code == 0 and _rows(out)["qwen-2.5-max"][-1].startswith("UNUSABLE")


async def test_an_api_that_no_longer_fits_is_unusable() -> None:
    # The fault server's live API is qwen-2-72b's: qwen-3's endpoint is not there.
    async with FaultServer() as server:
        code, out, err = await cli("status", "qwen-3", "--base-url", server.url,
                                   "--space-id", "someone/qwen3-copy", env=_env())
        assert code == 5, err
        cells = _rows(out)["qwen-3"]
        assert cells[1:3] == ["someone/qwen3-copy", "cannot reach the Hub"]
        assert cells[5:7] == ["6.31.0", "drift"]
        assert cells[-1] == "UNUSABLE: the live API no longer matches the catalog"
        assert "qwen-3: api: no longer has the endpoint /add_message" in out
        code, out, err = await cli("status", "qwen-2-72b", "--base-url", server.url,
                                   env=_env())
        assert code == 0 and _rows(out)["qwen-2-72b"][6] == "matches", out


async def test_hub_stages_in_the_table_and_json(replicas: ReplicaSet, hub: FakeHub) -> None:
    hub.set_stages("Qwen/Qwen2.5", ["RUNNING"], hardware="zero-a10g")
    # The catalog Space is paused, but the client asks a replica: that does not count.
    hub.set_stages("Qwen/Qwen3-Demo", ["PAUSED"], hardware="cpu-basic")
    code, out, err = await cli("status", env=_env(replicas, hub=hub.url))
    assert code == 0 and err == "", err
    rows = _rows(out)
    assert rows["qwen-2.5"][2:4] == ["Qwen/Qwen2.5: RUNNING", "zero-a10g"]
    assert rows["qwen-3"][2:4] == ["Qwen/Qwen3-Demo: PAUSED", "cpu-basic"]
    assert rows["qwen-3"][-1] == "usable: serving"
    # A Space the fake Hub does not know: it refuses an anonymous caller (401).
    assert rows["qwen-2-72b"][2] == "Qwen/Qwen2-72B-Instruct: the Hub refused"
    code, out, err = await cli("status", "qwen-3", "--json", env=_env(replicas, hub=hub.url))
    assert code == 0, err
    [found] = json.loads(out)
    assert (found["stage_source"], found["stage"], found["hardware"]) == \
        ("catalog", "PAUSED", "cpu-basic")
    assert hub.requests[-1][:2] == ("GET", "/api/spaces/Qwen/Qwen3-Demo/runtime")


@pytest.mark.parametrize(("stage", "code", "verdict"), [
    ("RUNNING", 0, "usable: serving"),
    ("SLEEPING", 0, "usable: asleep; wakes on the first call"),
    ("BUILDING", 0, "usable: starting; the first call waits for it"),
    ("PAUSED", 5, "UNUSABLE: paused by its owner"),
    ("RUNTIME_ERROR", 5, "UNUSABLE: crashed (RUNTIME_ERROR) and needs a restart by its owner"),
])
async def test_the_verdict_follows_the_hosts_stage(
        replicas: ReplicaSet, hub: FakeHub, stage: str, code: int, verdict: str) -> None:
    copy = "someone/qwen-copy"
    hub.set_stages(copy, [stage], hardware="t4-small")
    async with SleepingFront(hub, copy, replicas.url("qwen-2.5")) as front:
        got, out, err = await cli("status", "qwen-2.5", "--base-url", front.url,
                                  "--space-id", copy, env=_env(hub=hub.url))
        assert got == code, err
        cells = _rows(out)["qwen-2.5"]
        assert cells[1:3] == [copy, stage] and cells[-1] == verdict
        serving = stage == "RUNNING"
        assert cells[4].endswith(" ms") if serving else cells[4] == "HTTP 503"
        assert cells[5:8] == (["6.31.0", "matches", "0"] if serving else ["-", "-", "-"])
        # One GET /config (plus the queue once it answered): nothing else reaches the Space.
        paths = [path for path, _ in front.seen]
        assert paths == (["/config", "/gradio_api/queue/status"] if serving else ["/config"])
    assert [r[1] for r in hub.requests] == [f"/api/spaces/{copy}/runtime"]


@pytest.fixture
async def busy_space() -> AsyncIterator[str]:
    """The captured 6.31 ``/config`` (qwen-2-72b's layout), and three jobs waiting."""
    app = web.Application()
    config = captures.body("6.31.0", "config.json")

    async def get_config(_: web.Request) -> web.Response:
        return web.Response(text=config, content_type="application/json")

    async def queue_status(_: web.Request) -> web.Response:
        return web.json_response({"msg": "estimation", "event_id": None, "rank": None,
                                  "queue_size": 3, "rank_eta": None})

    app.router.add_get("/config", get_config)
    app.router.add_get("/gradio_api/queue/status", queue_status)
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
    yield f"http://127.0.0.1:{port}"
    await runner.cleanup()


async def test_queue_size_is_the_one_gradio_reports(busy_space: str) -> None:
    code, out, err = await cli("status", "qwen-2-72b", "--base-url", busy_space, "--json",
                               env=_env())
    assert code == 0, err
    assert json.loads(out)[0]["queue_size"] == 3


@pytest.mark.parametrize("args", [
    ("--space-id", "a/b"), ("qwen-2.5", "qwen-3", "--base-url", CLOSED),
    ("gpt-9",), ("qwen-2.5", "--space-id", "not an id")])
async def test_bad_input_is_one_line_and_exits_2(args: tuple[str, ...]) -> None:
    code, out, err = await cli("status", *args, env=_env())
    assert code == 2 and out == "", err
    assert err.startswith("error: ") and err.count("\n") == 1 and "Traceback" not in err


@pytest.mark.parametrize("args", [("models",), ("status", "qwen-2.5", "--base-url", CLOSED)])
async def test_a_reader_that_left_ends_it_quietly(args: tuple[str, ...]) -> None:
    """``qwen-spaces status | head -1``: the pipe is closed before the table is written."""
    read_end, write_end = os.pipe()
    os.close(read_end)
    proc = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "qwen_spaces.cli", *args, stdout=write_end,
        stderr=asyncio.subprocess.PIPE, env=_env())
    os.close(write_end)
    _, err = await asyncio.wait_for(proc.communicate(), 60)
    assert proc.returncode == 141 and err == b"", err.decode()
