"""LangChain tests talk to replica Spaces; standard suites find them through ``BASE_URLS``."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from qwen_spaces.replica import ReplicaSet

BASE_URLS: dict[str, str] = {}


@pytest.fixture(autouse=True)
def _replica_urls(request: pytest.FixtureRequest) -> Iterator[None]:
    """Point every ChatQwenSpaces built from ``chat_model_params`` at the replicas."""
    if "integration" in request.node.nodeid or request.node.get_closest_marker("replicas"):
        replicas: ReplicaSet = request.getfixturevalue("replicas")
        BASE_URLS.update({m: replicas.url(m) for m in replicas.models})
    yield
