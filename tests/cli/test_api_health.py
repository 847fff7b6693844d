"""``qwen-spaces api``'s ``GET /health``: the Hub's stage of each model's Space, asked at
most every 30 s, beside what jobs showed. The real runner in a subprocess
(``tests/openai_server.py``), the fake Hub (``tests/fake_hub.py``) as ``HF_ENDPOINT``."""

from __future__ import annotations

import httpx

from qwen_spaces.replica import ReplicaSet
from tests.cli.test_status import CLOSED
from tests.fake_hub import FakeHub
from tests.openai_server import HF_TOKEN, ApiServer


async def test_health_shows_hub_stages_asked_at_most_every_30_s(
        replicas: ReplicaSet, hub: FakeHub) -> None:
    # Each answer moves the fake Space on: a second look within 30 s must not ask again.
    hub.set_stages("Qwen/Qwen2.5-Max-Demo", ["RUNNING", "PAUSED"], hardware="zero-a10g")
    env = {"HF_ENDPOINT": hub.url, "QWEN_SPACES_BASE_URLS": f"qwen-2.5={replicas.url('qwen-2.5')}"}
    with ApiServer(None, env=env) as api:
        async with httpx.AsyncClient(headers=api.headers()) as http:
            first, second = [(await http.get(f"{api.root}/health")).json() for _ in range(2)]
    assert first == {**second, "uptime_s": first["uptime_s"]}
    spaces = first["spaces"]
    assert spaces["qwen-2.5-max"]["hub"] == {"space_id": "Qwen/Qwen2.5-Max-Demo",
                                             "stage": "RUNNING", "hardware": "zero-a10g"}
    assert spaces["qwen-2.5"]["hub"] is None  # a replica: no Hub Space to ask about
    # Unknown to the fake Hub, which refuses an anonymous caller (the token is for the Hub's
    # own host only); no token in the answer.
    assert spaces["qwen-3"]["hub"]["hub_failure"] == "the Hub refused"
    assert HF_TOKEN not in str(first)
    asked = [path for _, path, _ in hub.requests]
    assert asked.count("/api/spaces/Qwen/Qwen2.5-Max-Demo/runtime") == 1
    assert len(asked) == len(spaces) - 1 and all("authorization" not in h
                                                 for *_, h in hub.requests)


async def test_health_answers_when_the_hub_cannot_be_reached() -> None:
    with ApiServer(None, env={"HF_ENDPOINT": CLOSED}) as api:
        async with httpx.AsyncClient(headers=api.headers()) as http:
            answer = await http.get(f"{api.root}/health")
    assert answer.status_code == 200
    hub = answer.json()["spaces"]["qwen-2.5"]["hub"]
    assert hub["stage"] is None and hub["hub_failure"] == "cannot reach the Hub"
