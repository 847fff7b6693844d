"""The endpoint as a server: cancellation, concurrency and its bound, shutdown, binding,
CORS, the access log, secrets, image fetching, mounting in another app, Space failures."""

from __future__ import annotations

import argparse
import asyncio
import hashlib
import json
import os
import signal
import ssl
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import httpx
import openai
import pytest
import trustme
from aiohttp import web

from qwen_spaces import SpaceClient
from qwen_spaces.openai_api import create_app
from qwen_spaces.replica import ReplicaSet
from tests.servers import Front, file_reply, json_reply, redirect
from tests.util import wait_for

from .conftest import (
    API_KEY,
    CORS_ORIGIN,
    HF_TOKEN,
    IMAGES,
    ROOT,
    ApiServer,
    data_of,
    fields,
    post_raw,
    sse_events,
    text_of,
)


def user(text: str) -> list[dict[str, Any]]:
    return [{"role": "user", "content": text}]


def stopped_early(replicas: ReplicaSet, model: str) -> int:
    return int(replicas.stats(model)["stopped_early"])


# -- cancellation -----------------------------------------------------------------------------
def test_a_client_leaving_mid_stream_cancels_the_space_job(api: ApiServer,
                                                           replicas: ReplicaSet) -> None:
    before = stopped_early(replicas, "qwen-2.5-max")
    body = {"model": "qwen-2.5-max", "stream": True, "messages": user("/slow 40 0.25")}
    with httpx.stream("POST", f"{api.base_url}/chat/completions", json=body,
                      headers=api.headers(), timeout=30) as resp:
        for line in resp.iter_lines():
            if '"content":"[local' in line:
                break  # leave after the first text: the connection closes here
    assert wait_for(lambda: stopped_early(replicas, "qwen-2.5-max") > before, 10)
    line = api.wait_for_log("client_gone=true")
    assert "model=qwen-2.5-max stream=true" in line


def test_a_non_streamed_call_given_up_cancels_the_space_job(api: ApiServer,
                                                            replicas: ReplicaSet) -> None:
    before = stopped_early(replicas, "qwen-2.5")
    with pytest.raises(openai.APITimeoutError):
        api.sdk(timeout=1.5, max_retries=0).chat.completions.create(
            model="qwen-2.5", messages=user("/slow 40 0.25"))
    # aiohttp would let this handler run to the end: the transport is watched instead
    assert wait_for(lambda: stopped_early(replicas, "qwen-2.5") > before, 10)


# -- concurrency ------------------------------------------------------------------------------
async def test_32_concurrent_streams(api: ApiServer) -> None:
    async with api.async_sdk() as client:
        async def one(n: int) -> str:
            stream = await client.chat.completions.create(
                model="qwen-2.5-max", stream=True,
                messages=user(f"/echo stream number {n} of thirty-two"))
            return "".join([c.choices[0].delta.content or "" async for c in stream])

        answers = await asyncio.gather(*(one(n) for n in range(32)))
    assert answers == [f"stream number {n} of thirty-two" for n in range(32)]


def test_the_job_bound_queues_requests_with_comment_lines(replicas: ReplicaSet) -> None:
    with ApiServer(replicas, "--max-jobs", "1", "--hold", "0.3", "--queue-timeout", "2.5") \
            as server:
        first = {"model": "qwen-2.5-max", "stream": True, "messages": user("/slow 5 0.25")}

        async def both() -> tuple[httpx.Response, httpx.Response]:
            async with httpx.AsyncClient(timeout=30, headers=server.headers()) as http:
                url = f"{server.base_url}/chat/completions"
                running = asyncio.create_task(http.post(url, json=first))
                await asyncio.sleep(0.5)  # the first job holds the only slot
                waiting = await http.post(url, json={**first, "messages": user("hi")})
                return await running, waiting

        running, waiting = asyncio.run(both())
        events = sse_events(waiting.content)
        comments = [e for e in events if e.startswith(b":")]
        assert b": server queue 1/1 (all job slots busy)" in comments
        first_data = next(i for i, e in enumerate(events) if e.startswith(b"data: "))
        assert events.index(b": server queue 1/1 (all job slots busy)") > first_data
        assert text_of(data_of(events)).endswith("query: hi")
        assert "tick 4" in text_of(data_of(sse_events(running.content)))

        # The wait for a slot counts against the queue timeout: a 504 when it runs out.
        async def starved() -> httpx.Response:
            async with httpx.AsyncClient(timeout=30, headers=server.headers()) as http:
                url = f"{server.base_url}/chat/completions"
                long = asyncio.create_task(http.post(url, json={
                    **first, "messages": user("/slow 20 0.25")}))
                await asyncio.sleep(0.3)
                t0 = time.monotonic()
                late = await http.post(url, json={"model": "qwen-2.5-max",
                                                  "messages": user("hi")})
                assert 2.0 < time.monotonic() - t0 < 5.0
                long.cancel()
                return late

        late = asyncio.run(starved())
        assert late.status_code == 504 and late.headers["x-should-retry"] == "false"
        assert late.json()["error"]["code"] == "space_timeout_queue"


# -- shutdown and binding -------------------------------------------------------------------
def test_sigterm_ends_open_streams_with_an_error_and_cancels_their_jobs(
        replicas: ReplicaSet) -> None:
    server = ApiServer(replicas).start()
    proc = server.proc
    assert proc is not None
    before = stopped_early(replicas, "qwen-2-72b")
    body = {"model": "qwen-2-72b", "stream": True, "messages": user("/slow 40 0.25")}
    raw = b""
    with httpx.stream("POST", f"{server.base_url}/chat/completions", json=body,
                      headers=server.headers(), timeout=30) as resp:
        for piece in resp.iter_raw():
            sent = b'"content":"[local' in raw
            raw += piece
            if not sent and b'"content":"[local' in raw:
                proc.send_signal(signal.SIGTERM)  # as Ctrl-C or a service manager would
    assert proc.wait(15) == 0
    server.stop()
    data = data_of(sse_events(raw))
    assert data[-1] == "[DONE]" and data[-2]["error"]["code"] == "server_shutdown"
    assert wait_for(lambda: stopped_early(replicas, "qwen-2-72b") > before, 10)
    assert "stopping: cancelling 1 open job(s)" in server.log


def test_api_help_explains_every_flag() -> None:
    from qwen_spaces.cli import _parser

    sub = next(a for a in _parser()._actions if isinstance(a, argparse._SubParsersAction))
    api = sub.choices["api"]
    flags = [a for a in api._actions if a.option_strings and a.dest != "help"]
    assert {f.dest for f in flags} >= {"host", "port", "api_key", "max_body", "max_jobs", "cors",
                                       "allow_private_image_hosts", "log_content"}
    assert all(f.help and len(f.help) > 20 for f in flags)
    done = subprocess.run([sys.executable, "-m", "qwen_spaces.cli", "api", "--help"],
                          capture_output=True, text=True, env={**os.environ,
                                                              "PYTHONPATH": str(ROOT)})
    assert done.returncode == 0
    for flag in flags:
        assert flag.option_strings[0] in done.stdout


def test_a_non_loopback_host_is_refused_without_a_key() -> None:
    env = {k: v for k, v in os.environ.items() if k != "QWEN_SPACES_API_KEY"}
    env["PYTHONPATH"] = str(ROOT)
    done = subprocess.run([sys.executable, "-m", "qwen_spaces.cli", "api", "--host", "0.0.0.0",
                           "--port", "0"], capture_output=True, text=True, env=env, timeout=30)
    assert done.returncode == 2 and done.stdout == ""
    (line,) = done.stderr.splitlines()
    assert line.startswith("error: refusing to listen on 0.0.0.0 without an API key")
    assert "QWEN_SPACES_API_KEY" in line


# -- CORS, log, secrets ----------------------------------------------------------------------
def test_cors_preflight_and_headers_for_the_configured_origin_only(api: ApiServer) -> None:
    preflight = {"Origin": CORS_ORIGIN, "Access-Control-Request-Method": "POST",
                 "Access-Control-Request-Headers": "authorization, content-type"}
    ok = httpx.options(f"{api.base_url}/chat/completions", headers=preflight)
    assert ok.status_code == 204  # no key needed: browsers send none on a preflight
    assert ok.headers["Access-Control-Allow-Origin"] == CORS_ORIGIN
    assert "POST" in ok.headers["Access-Control-Allow-Methods"]
    assert ok.headers["Access-Control-Allow-Headers"] == "authorization, content-type"
    other = httpx.options(f"{api.base_url}/chat/completions",
                          headers={**preflight, "Origin": "https://evil.example"})
    assert "Access-Control-Allow-Origin" not in other.headers
    assert other.status_code == 401  # not a preflight this server answers: the key is checked
    models = httpx.get(f"{api.base_url}/models",
                       headers={**api.headers(), "Origin": CORS_ORIGIN})
    assert models.headers["Access-Control-Allow-Origin"] == CORS_ORIGIN
    streamed = post_raw(api, {"model": "qwen-2.5", "stream": True, "messages": user("hi")},
                        headers={"Origin": CORS_ORIGIN})
    assert streamed.headers["Access-Control-Allow-Origin"] == CORS_ORIGIN


def test_one_access_line_per_request_without_content(api: ApiServer) -> None:
    secret_question = "my-private-question-7731"
    reply = api.sdk().chat.completions.create(model="qwen-2.5-7b",
                                              messages=user(secret_question))
    text = reply.choices[0].message.content or ""
    line = api.wait_for_log("model=qwen-2.5-7b")
    assert " POST /v1/chat/completions 200 model=qwen-2.5-7b stream=false latency=" in line
    assert f"text_chars={len(text)}" in line and " queue_wait=" in line
    assert secret_question not in api.log


def test_the_hf_token_and_the_api_key_appear_in_no_answer_and_no_log(
        api: ApiServer, replicas: ReplicaSet) -> None:
    answers: list[httpx.Response] = []
    for body in ({"model": "qwen-2.5", "messages": user("hi")},
                 {"model": "qwen-2.5", "messages": user("/quota")},
                 {"model": "qwen-2.5", "stream": True, "messages": user("/error-mid")},
                 {"model": "nope", "messages": user("hi")},
                 {"model": "qwen-2.5", "n": 3, "messages": user("hi")}):
        answers.append(post_raw(api, body))
    answers.append(httpx.get(f"{api.root}/health", headers=api.headers()))
    answers.append(httpx.get(f"{api.base_url}/models", headers={"Authorization": "Bearer x"}))
    answers.append(httpx.get(f"{api.root}/nowhere", headers=api.headers()))
    assert [a.status_code for a in answers] == [200, 429, 200, 404, 400, 200, 401, 404]
    for answer in answers:
        seen = answer.content.decode() + json.dumps(dict(answer.headers))
        assert HF_TOKEN not in seen and API_KEY not in seen
    for secret in (HF_TOKEN, API_KEY):
        assert secret not in api.log
    health = answers[5].json()
    assert health["hf_token"] == "set" and health["jobs"]["max"] == 64
    assert health["spaces"]["qwen-2.5"]["last_error"]["type"] == "SpaceAppError"  # the latest
    assert health["spaces"]["qwen-2.5"]["last_ok"] is not None
    # the token did go to the Space, which saw it
    sent = replicas.stats("qwen-2.5")["last_headers"]
    assert sent["x-hf-authorization_sha256"] == hashlib.sha256(HF_TOKEN.encode()).hexdigest()[:12]


# -- images over https ----------------------------------------------------------------------
async def test_https_images_are_fetched_by_the_server(replicas: ReplicaSet,
                                                      tmp_path: Path) -> None:
    ca = trustme.CA()
    server_ctx = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    ca.issue_cert("127.0.0.1").configure_cert(server_ctx)
    ca.cert_pem.write_to_path(str(tmp_path / "ca.pem"))
    png = (IMAGES / "png_3x2.png").read_bytes()
    routes = {"/cat.png": file_reply(png, "image/png"),
              "/moved.png": redirect("/cat.png"),
              "/to-http.png": redirect("http://127.0.0.1:9/cat.png")}
    async with Front(None, routes, ssl_context=server_ctx) as host:
        env = {"SSL_CERT_FILE": str(tmp_path / "ca.pem")}
        with ApiServer(replicas, "--allow-private-image-hosts", "--log-content",
                       env=env) as server:
            async with server.async_sdk(max_retries=0) as client:
                async def ask(path: str) -> str:
                    reply = await client.chat.completions.create(model="qvq-72b", messages=[{
                        "role": "user", "content": [
                            {"type": "text", "text": "What is this?"},
                            {"type": "image_url", "image_url": {"url": f"{host.url}{path}"}}]}])
                    return reply.choices[0].message.content or ""

                digest = hashlib.sha256(png).hexdigest()[:12]
                for path in ("/cat.png", "/moved.png"):
                    assert fields(await ask(path))["image"] == f"PNG 3x2 sha256:{digest}"
                with pytest.raises(openai.BadRequestError) as info:
                    await ask("/to-http.png")
                assert "must be https:" in info.value.body["message"]
            # --log-content adds the messages and the answer, after the access line
            line = server.wait_for_log(" content {")
            assert '"text": "What is this?", "images": 1' in line and "sha256:" in line
    # no token and no key went to the image host
    assert all("x-hf-authorization" not in h and "authorization" not in h
               for _, h in host.seen)


# -- the app mounted elsewhere -------------------------------------------------------------------
async def test_mounted_in_another_app_it_keeps_its_own_limits(replicas: ReplicaSet) -> None:
    client = SpaceClient(base_urls={m: replicas.url(m) for m in replicas.models},
                         read_env_token=False)
    parent = web.Application(client_max_size=1024)  # the host's settings must not matter
    parent.add_subapp("/openai", create_app(client, max_body=200_000))
    runner = web.AppRunner(parent, handler_cancellation=True)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    base = f"http://127.0.0.1:{runner.addresses[0][1]}/openai/v1"
    try:
        async with httpx.AsyncClient(timeout=30) as http:
            big = {"model": "qwen-2.5", "messages": user("x" * 100_000)}
            ok = await http.post(f"{base}/chat/completions", json=big)
            assert ok.status_code == 200
            assert fields(ok.json()["choices"][0]["message"]["content"])["query"] == \
                "x" * 100_000
            huge = await http.post(f"{base}/chat/completions",
                                   json={**big, "messages": user("x" * 300_000)})
            assert huge.status_code == 413 and huge.json()["error"]["code"] == \
                "request_too_large"
            missing = await http.post(f"{base}/responses", json={})
            assert missing.status_code == 404 and "error" in missing.json()
            # no CORS unless asked for, preflight included
            pre = await http.options(f"{base}/chat/completions", headers={
                "Origin": CORS_ORIGIN, "Access-Control-Request-Method": "POST"})
            assert pre.status_code == 405 and "Access-Control-Allow-Origin" not in pre.headers
    finally:
        await runner.cleanup()


# -- Space failures -----------------------------------------------------------------------------
async def test_space_failures_map_to_502_503_504(replicas: ReplicaSet) -> None:
    refused = {"/config": json_reply(401, '{"detail": "Invalid credentials"}')}
    async with Front(replicas.url("qwen-2.5-max"), refused) as gated:
        urls = f"qwen-2.5-max={gated.url},qwen-2.5=http://127.0.0.1:9"
        with ApiServer(replicas, "--timeout", "1",
                       env={"QWEN_SPACES_BASE_URLS": f"{urls},qwen-2-72b="
                                                     f"{replicas.url('qwen-2-72b')}"}) as server:
            async with server.async_sdk(max_retries=2) as client:
                with pytest.raises(openai.InternalServerError) as auth:
                    await client.chat.completions.create(model="qwen-2.5-max",
                                                         messages=user("hi"))
                with pytest.raises(openai.InternalServerError) as down:
                    await client.chat.completions.create(model="qwen-2.5", messages=user("hi"))
                with pytest.raises(openai.InternalServerError) as slow:
                    await client.chat.completions.create(model="qwen-2-72b",
                                                         messages=user("/slow 3 2"))
            log = server.log
    assert auth.value.status_code == 502 and auth.value.body["code"] == "space_auth_refused"
    assert "refused this server's access" in auth.value.body["message"]
    assert down.value.status_code == 503 and down.value.body["code"] == "space_unavailable"
    assert slow.value.status_code == 504 and slow.value.body["code"] == "space_timeout_idle"
    for err in (auth.value, down.value, slow.value):
        assert err.response.headers["x-should-retry"] == "false"
    # x-should-retry: false held the SDK to one attempt each (it retries 5xx twice)
    assert log.count("POST /v1/chat/completions 50") == 3
    assert HF_TOKEN not in log
