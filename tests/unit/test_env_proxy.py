"""The environment's proxy for a URL, remembered between requests: every request asks, so the
answer is cached, and a cached answer must never outlive a change of the variables."""

from __future__ import annotations

from urllib.parse import urlsplit

import pytest

from qwen_spaces.transport import _env_proxy, env_proxy

pytestmark = pytest.mark.unit

SPACE = "https://qwen-qwen2-5.hf.space/gradio_api/queue/join"
LOCAL = "http://127.0.0.1:7860/config"
NAMES = ("http_proxy", "https_proxy", "all_proxy", "no_proxy", "REQUEST_METHOD")


@pytest.fixture
def env(monkeypatch: pytest.MonkeyPatch) -> pytest.MonkeyPatch:
    for name in NAMES:
        monkeypatch.delenv(name, raising=False)
        monkeypatch.delenv(name.upper(), raising=False)
    return monkeypatch


def test_no_variable_means_no_proxy(env: pytest.MonkeyPatch) -> None:
    assert env_proxy(SPACE) is None
    assert env_proxy(LOCAL) is None


def test_each_change_of_a_variable_is_seen_by_the_next_request(
        env: pytest.MonkeyPatch) -> None:
    assert env_proxy(SPACE) is None  # cached: no proxy
    env.setenv("HTTPS_PROXY", "http://proxy.test:3128")
    assert env_proxy(SPACE) == "http://proxy.test:3128"
    assert env_proxy(LOCAL) is None  # http: HTTPS_PROXY is not its scheme's
    env.setenv("https_proxy", "proxy2.test:8080")  # lower case wins; no scheme: http://
    assert env_proxy(SPACE) == "http://proxy2.test:8080"
    env.setenv("NO_PROXY", ".hf.space")
    assert env_proxy(SPACE) is None
    env.setenv("no_proxy", "example.test")  # lower case wins
    assert env_proxy(SPACE) == "http://proxy2.test:8080"
    env.delenv("no_proxy")
    env.delenv("NO_PROXY")
    assert env_proxy(SPACE) == "http://proxy2.test:8080"
    env.setenv("ALL_PROXY", "http://all.test:1")
    env.setenv("HTTP_PROXY", "http://plain.test:2")
    assert env_proxy(LOCAL) == "http://plain.test:2"
    env.setenv("REQUEST_METHOD", "GET")  # under CGI, HTTP_PROXY may be a request header
    assert env_proxy(LOCAL) == "http://all.test:1"
    env.setenv("all_proxy", "socks5://socks.test:1080")  # aiohttp cannot: connect directly
    assert env_proxy(LOCAL) is None


def test_the_answer_is_per_host(env: pytest.MonkeyPatch) -> None:
    env.setenv("HTTP_PROXY", "http://proxy.test:3128")
    env.setenv("NO_PROXY", "127.0.0.1")
    assert env_proxy(LOCAL) is None
    assert env_proxy("http://example.test/config") == "http://proxy.test:3128"
    assert env_proxy(LOCAL) is None


#: Per watched variable: the environment before, the value it gets, and a URL whose answer
#: that change moves (so a cache that did not watch it would answer from before).
CHANGES = [
    ({}, "http_proxy", "http://p.test:1", LOCAL),
    ({}, "HTTP_PROXY", "http://p.test:1", LOCAL),
    ({}, "https_proxy", "http://p.test:1", SPACE),
    ({}, "HTTPS_PROXY", "http://p.test:1", SPACE),
    ({}, "all_proxy", "http://p.test:1", LOCAL),
    ({}, "ALL_PROXY", "http://p.test:1", SPACE),
    ({"HTTPS_PROXY": "http://p.test:1"}, "no_proxy", "hf.space", SPACE),
    ({"HTTPS_PROXY": "http://p.test:1"}, "NO_PROXY", "hf.space", SPACE),
    ({"HTTP_PROXY": "http://p.test:1"}, "REQUEST_METHOD", "GET", LOCAL),
]


@pytest.mark.parametrize(("before", "name", "value", "url"), CHANGES,
                         ids=[c[1] for c in CHANGES])
def test_a_change_of_each_watched_variable_is_seen(
        env: pytest.MonkeyPatch, before: dict[str, str], name: str, value: str,
        url: str) -> None:
    for key, val in before.items():
        env.setenv(key, val)
    was = env_proxy(url)  # remembered
    env.setenv(name, value)
    now = env_proxy(url)
    assert now != was
    assert now == _env_proxy(urlsplit(url))  # what urllib says, uncached


def test_the_answer_is_per_scheme_on_the_same_host(env: pytest.MonkeyPatch) -> None:
    env.setenv("HTTPS_PROXY", "http://p.test:1")
    assert env_proxy("http://example.test/config") is None
    assert env_proxy("https://example.test/config") == "http://p.test:1"
