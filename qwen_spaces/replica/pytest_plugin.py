"""Pytest fixtures serving the replicas; register with
``pytest_plugins = ["qwen_spaces.replica.pytest_plugin"]`` in the root conftest.

* ``replicas`` - every catalog Space on Gradio 6 (this interpreter), one per session.
* ``legacy_replicas`` - the same on Gradio 4.44.1 (side venv, built on first use; a failure
  to build it is an error, not a skip).
* ``gradio5_replicas`` - the Spaces served on Gradio 5.29 (Qwen3-Demo; side venv as above).
* ``replica_factory`` - ``replica_factory(models=[...], max_size=2, concurrency=1, ...)``
  starts a custom :class:`ReplicaSet` that is stopped when the test ends.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

import pytest

from .process import ReplicaSet

__all__ = ["gradio5_replicas", "legacy_replicas", "replica_factory", "replicas"]


@pytest.fixture(scope="session")
def replicas() -> Iterator[ReplicaSet]:
    with ReplicaSet(generation="6") as replica_set:
        yield replica_set


@pytest.fixture(scope="session")
def legacy_replicas() -> Iterator[ReplicaSet]:
    with ReplicaSet(generation="4.44.1") as replica_set:
        yield replica_set


@pytest.fixture(scope="session")
def gradio5_replicas() -> Iterator[ReplicaSet]:
    with ReplicaSet(generation="5") as replica_set:
        yield replica_set


@pytest.fixture
def replica_factory() -> Iterator[Callable[..., ReplicaSet]]:
    started: list[ReplicaSet] = []

    def make(**kwargs: Any) -> ReplicaSet:
        replica_set = ReplicaSet(**kwargs).start()
        started.append(replica_set)
        return replica_set

    yield make
    for replica_set in started:
        replica_set.stop()
