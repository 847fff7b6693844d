"""The README's examples run as written, and its test command is the one CI runs."""

from __future__ import annotations

import json
import re
import subprocess
import sys
from pathlib import Path

import pytest

from qwen_spaces.replica import ReplicaSet
from tests.util import closed_port

ROOT = Path(__file__).resolve().parents[2]
README = (ROOT / "README.md").read_text()


def python_blocks(section: str) -> list[str]:
    body = README.split(f"## {section}\n", 1)[1].split("\n## ", 1)[0]
    return re.findall(r"```python\n(.*?)```", body, re.S)


@pytest.mark.parametrize("section", ["LangChain", "LlamaIndex", "The core client"])
def test_example_runs_as_written(section: str, replicas: ReplicaSet) -> None:
    (code,) = python_blocks(section)
    assert len(code.strip().splitlines()) <= 10
    done = run_against(replicas, code)
    assert "local replica of Qwen/Qwen2.5-Max-Demo" in done.stdout


def test_tools_example_runs_as_written(replicas: ReplicaSet) -> None:
    (code,) = python_blocks("Tools and structured output")
    done = run_against(replicas, code)
    # the replica called add(20, 22), the agent ran it, and the answer quotes the result
    assert "tool results received: 42" in done.stdout


def test_failover_example_runs_as_written(replicas: ReplicaSet) -> None:
    failover, _ = python_blocks("Sleeping, paused and busy Spaces")
    # qwen-2.5-max is down (nothing listens there): the answer comes from qwen-2.5.
    done = run_against(replicas, failover, down=["qwen-2.5-max"])
    assert done.stdout.startswith("qwen-2.5 {'model': 'qwen-2.5', 'space_id': 'Qwen/Qwen2.5', "
                                  "'skipped': [{'model': 'qwen-2.5-max'")
    assert "'reason': \"unreachable: cannot connect to http://127.0.0.1:" in done.stdout


def test_x_ip_token_example_runs_as_written(replicas: ReplicaSet) -> None:
    _, forward = python_blocks("Sleeping, paused and busy Spaces")
    visitor = ("\nclass Visitor:\n    headers = {'x-ip-token': 'a-visitor-jwt'}\n"
               "print(answer('/echo forwarded', Visitor()))\n")
    done = run_against(replicas, forward + visitor)
    assert done.stdout == "forwarded\n"


def run_against(replicas: ReplicaSet, code: str,
                down: list[str] | None = None) -> subprocess.CompletedProcess[str]:
    """Run README code in a fresh interpreter, every model pointed at the replicas through
    ``QWEN_SPACES_BASE_URLS`` (as a user would), those in ``down`` at a closed port, and
    require it to succeed."""
    urls = {m: replicas.url(m) for m in replicas.models}
    urls.update({m: f"http://127.0.0.1:{closed_port()}" for m in down or ()})
    env_urls = ",".join(f"{m}={url}" for m, url in urls.items())
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                          timeout=120, env={**_env(), "QWEN_SPACES_BASE_URLS": env_urls})
    assert done.returncode == 0, done.stderr
    return done


def _env() -> dict[str, str]:
    import os

    return {k: v for k, v in os.environ.items() if k != "QWEN_SPACES_BASE_URLS"}


def test_two_setup_commands_and_ci_runs_the_test_one() -> None:
    setup = README.split("## Set-up", 1)[1].split("\n## ", 1)[0]
    commands = [ln for ln in re.findall(r"```bash\n(.*?)```", setup, re.S)[0].splitlines()
                if ln.strip() and not ln.startswith("#")]
    assert len(commands) == 2
    assert commands[0].endswith("qwen-spaces demo")
    ci = (ROOT / ".ci" / "run").read_text()
    install, run = commands[1].split(" && ")
    assert run in ci and install.replace("pip install", "pip install -q") in ci


def test_openai_client_examples_run_as_written(replicas: ReplicaSet) -> None:
    """The command block names the default address; the curl and openai-python blocks run
    as written against a real ``qwen-spaces api``, through ``OPENAI_BASE_URL``."""
    from tests.openai_server import ApiServer

    body = README.split("## Use it from any OpenAI client\n", 1)[1].split("\n## ", 1)[0]
    command, curl = re.findall(r"```bash\n(.*?)```", body, re.S)
    assert command.startswith("qwen-spaces api ") and \
        "OPENAI_BASE_URL=http://127.0.0.1:8000/v1" in command
    (code,) = python_blocks("Use it from any OpenAI client")
    with ApiServer(replicas) as server:
        env = {**_env(), "OPENAI_BASE_URL": server.base_url,
               "OPENAI_API_KEY": server.api_key or ""}
        done = subprocess.run(["bash", "-c", curl], capture_output=True, text=True,
                              timeout=60, env=env)
        assert done.returncode == 0, done.stderr
        reply = json.loads(done.stdout)
        assert reply["choices"][0]["message"]["content"].startswith(
            "[local replica of Qwen/Qwen2.5-Max-Demo")
        done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                              timeout=60, env=env)
        assert done.returncode == 0, done.stderr
        assert done.stdout.startswith("[local replica of Qwen/Qwen2.5-Max-Demo")
        assert done.stdout.rstrip().endswith("query: Name three colours.")
