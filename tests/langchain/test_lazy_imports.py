"""Importing the package or an adapter loads no HTTP stack: aiohttp (whose import builds two
TLS contexts) comes with the first request. What was deferred still reads the same."""

from __future__ import annotations

import subprocess
import sys

import pytest


def _run(code: str) -> str:
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                          timeout=120)
    assert done.returncode == 0, done.stderr
    return done.stdout.strip()


@pytest.mark.parametrize("module", ["qwen_spaces", "langchain_qwen_spaces",
                                    "llama_index_qwen_spaces"])
def test_importing_loads_no_http_stack(module: str) -> None:
    assert _run(f"import sys, {module}; print('aiohttp' in sys.modules)") == "False"


def test_what_is_read_on_first_use_is_as_before() -> None:
    out = _run(
        "import importlib.metadata as m, sys\n"
        "import qwen_spaces, langchain_qwen_spaces\n"
        "from qwen_spaces.transport import USER_AGENT, VERSION\n"
        "import aiohttp\n"
        "v = m.version('qwen-spaces')\n"
        "assert qwen_spaces.__version__ == langchain_qwen_spaces.__version__ == VERSION == v\n"
        "assert USER_AGENT.startswith(f'qwen-spaces/{v} ')\n"
        "assert f'aiohttp/{aiohttp.__version__} ' in USER_AGENT\n"
        "print('ok')")
    assert out == "ok"


def test_the_stand_in_is_aiohttp_itself() -> None:
    """The stand-in resolves to aiohttp on first use: `except aiohttp.X` catches the same."""
    out = _run(
        "import sys\n"
        "from qwen_spaces import client, transport\n"
        "assert 'aiohttp' not in sys.modules\n"
        "import aiohttp\n"
        "assert client.aiohttp.ClientError is aiohttp.ClientError\n"
        "assert transport.aiohttp.ClientTimeout is aiohttp.ClientTimeout\n"
        "print('ok')")
    assert out == "ok"
