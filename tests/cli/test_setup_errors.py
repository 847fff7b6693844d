"""Set-up and configuration mistakes end in one line that says what to do."""

from __future__ import annotations

import asyncio
import os
import socket
import sys
import time
from pathlib import Path

import pytest

from qwen_spaces.replica import ReplicaSet
from tests.cli.test_cli import cli

#: A real import failure: this sitecustomize refuses the named packages, as if not installed.
BLOCKER = """\
import os, sys

BLOCKED = set(os.environ["BLOCK_MODULES"].split(","))


class _NotInstalled:
    def find_spec(self, name, path=None, target=None):
        if name.partition(".")[0] in BLOCKED:
            raise ModuleNotFoundError(f"No module named {name!r}", name=name)
        return None


sys.meta_path.insert(0, _NotInstalled())
"""


def _env(**extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k not in ("QWEN_SPACES_BASE_URLS",)}
    return {**env, **extra}


def _one_line(err: str) -> None:
    assert err.startswith("error: ") and err.count("\n") == 1, err
    assert "Traceback" not in err


@pytest.mark.parametrize(("args", "blocked", "extra"), [
    (("serve", "--model", "qwen-2.5"), "gradio", "replica"),
    (("chat", "hi", "--replica"), "gradio", "replica"),
    (("demo",), "llama_index", "all"),
], ids=["serve", "replica-flag", "demo"])
async def test_missing_extra_is_one_line_naming_it(
        tmp_path: Path, args: tuple[str, ...], blocked: str, extra: str) -> None:
    (tmp_path / "sitecustomize.py").write_text(BLOCKER)
    path = os.pathsep.join([str(tmp_path), os.environ.get("PYTHONPATH", os.getcwd())])
    env = _env(PYTHONPATH=path, BLOCK_MODULES=blocked)
    proc = await asyncio.create_subprocess_exec(
        sys.executable, "-c", f"import {blocked}", env=env, stderr=asyncio.subprocess.PIPE)
    _, probe = await proc.communicate()
    assert proc.returncode == 1 and b"ModuleNotFoundError" in probe  # the blocker works
    code, _, err = await cli(*args, env=env)
    _one_line(err)
    assert code == 8 and f'pip install "qwen-spaces[{extra}]"' in err


async def test_version() -> None:
    code, out, _ = await cli("--version")
    assert code == 0 and out.startswith("qwen-spaces 0.")


async def test_stale_base_urls_env_is_named() -> None:
    code, _, err = await cli("chat", "hi", env=_env(
        QWEN_SPACES_BASE_URLS="qwen-2.5-max=http://127.0.0.1:9"))
    _one_line(err)
    assert code == 5 and "http://127.0.0.1:9" in err and "$QWEN_SPACES_BASE_URLS" in err
    # the same address given by flag is not blamed on the environment
    code, _, err = await cli("chat", "hi", "--base-url", "http://127.0.0.1:9")
    assert code == 5 and "QWEN_SPACES_BASE_URLS" not in err


async def test_serve_on_a_busy_port_is_one_line() -> None:
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        port = busy.getsockname()[1]
        code, _, err = await cli("serve", "--model", "qwen-2.5", "--port", str(port))
    _one_line(err)
    assert code == 1 and f"port {port}" in err and "GRADIO_SERVER_PORT" not in err


async def test_timeout_flag_bounds_a_silent_host() -> None:
    """A host that accepts and never answers: --timeout T bounds the whole call at about
    (retries + 1) x T plus backoff, not the built-in 10 s connect / 30 s request limits."""
    held: list[asyncio.StreamWriter] = []

    async def accept(_: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        held.append(writer)  # say nothing

    server = await asyncio.start_server(accept, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    try:
        started = time.monotonic()
        code, _, err = await cli("chat", "hi", "--base-url", f"http://127.0.0.1:{port}",
                                 "--timeout", "1")
        elapsed = time.monotonic() - started
    finally:
        for writer in held:
            writer.close()
        server.close()
        await server.wait_closed()
    _one_line(err)
    assert code == 6
    assert "accepted the connection but sent nothing in 1s" in err
    assert elapsed < 3 * 1 + 0.5 * 1.5 + 1.0 * 1.5 + 1 + 2  # + interpreter start-up


async def test_proxy_flag_sends_requests_through_the_proxy() -> None:
    seen: list[bytes] = []

    async def proxy(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        seen.append(await reader.readline())
        writer.write(b"HTTP/1.1 502 Bad Gateway\r\nContent-Length: 0\r\n"
                     b"Connection: close\r\n\r\n")
        await writer.drain()
        writer.close()

    server = await asyncio.start_server(proxy, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    try:
        code, _, err = await cli("chat", "hi", "--base-url", "http://127.0.0.1:9",
                                 "--proxy", f"http://127.0.0.1:{port}")
    finally:
        server.close()
        await server.wait_closed()
    assert seen and seen[0].startswith(b"GET http://127.0.0.1:9/config"), seen
    _one_line(err)
    assert code != 0


async def test_token_flag_is_sent(replicas: ReplicaSet) -> None:
    import hashlib

    code, _, err = await cli("chat", "hi", "-m", "qwen-2.5", "--base-url",
                             replicas.url("qwen-2.5"), "--token", "hf_flagtoken",
                             env=_env(HF_TOKEN=""))
    assert code == 0, err
    headers = replicas.stats("qwen-2.5")["last_headers"]
    assert headers["x-hf-authorization_sha256"] == \
        hashlib.sha256(b"hf_flagtoken").hexdigest()[:12]


async def test_help_says_where_the_token_comes_from() -> None:
    for args in (("--help",), ("chat", "--help")):
        code, out, _ = await cli(*args)
        flat = " ".join(out.split())
        assert code == 0
        for source in ("--token", "$HF_TOKEN", "$HF_TOKEN_PATH", "$HF_HOME/token",
                       "hf auth login"):
            assert source in flat, (args, source)
