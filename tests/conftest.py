"""Shared fixtures: replica Spaces on real Gradio (6.x here, 5.29 and 4.44.1 in side venvs)."""

from __future__ import annotations

import os
from collections.abc import Callable

import pytest
from hypothesis import HealthCheck, Phase, settings

from qwen_spaces.replica.generations import served_on
from qwen_spaces.replica.process import ReplicaSet

pytest_plugins = ["qwen_spaces.replica.pytest_plugin"]

#: The generations that serve the whole Qwen2 family (``any_replicas``); "5" serves only
#: Qwen3-Demo, see ``qwen3_replicas``.
GENERATIONS = ["6", "4.44.1"]
#: The session fixture (``qwen_spaces.replica.pytest_plugin``) for each generation.
REPLICA_FIXTURES = {"6": "replicas", "5": "gradio5_replicas", "4.44.1": "legacy_replicas"}

# Mutation runs (``--hypothesis-profile=mutation`` in ``[tool.mutmut]``): a mutant that only
# makes code slower must not "die" of Hypothesis' deadline, and the example count stays bounded
# so a run's time is predictable. A failing example is not shrunk (the mutant is dead
# already), and no example database is shared between mutants. HYPOTHESIS_PROFILE selects a
# profile by hand.
settings.register_profile("mutation", deadline=None, max_examples=100, database=None,
                          phases=[Phase.explicit, Phase.generate],
                          suppress_health_check=[HealthCheck.too_slow])
# Every run: no per-example deadline either; on 2 shared cores a 300 KB example can take
# longer than Hypothesis' default 200 ms without anything being wrong.
settings.register_profile("suite", deadline=None)
settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "suite"))


def generations_serving(name: str) -> list[str]:
    """The generations whose replica set serves the catalog Space ``name``."""
    return [g for g in REPLICA_FIXTURES if name in served_on(g)]


@pytest.fixture(params=GENERATIONS, ids=lambda g: f"gradio{g}")
def any_replicas(request: pytest.FixtureRequest):  # type: ignore[no-untyped-def]
    """The same test against every Gradio generation that serves the Qwen2 family."""
    return request.getfixturevalue(REPLICA_FIXTURES[request.param])


@pytest.fixture(params=generations_serving("qwen-3"), ids=lambda g: f"gradio{g}")
def qwen3_replicas(request: pytest.FixtureRequest) -> ReplicaSet:
    """The same Qwen3-Demo test against every generation that serves it (6 and 5)."""
    replica_set: ReplicaSet = request.getfixturevalue(REPLICA_FIXTURES[request.param])
    return replica_set


@pytest.fixture
def replicas_on(request: pytest.FixtureRequest) -> Callable[[str], ReplicaSet]:
    """``replicas_on("5")``: the session replica set of that generation."""

    def get(generation: str) -> ReplicaSet:
        replica_set: ReplicaSet = request.getfixturevalue(REPLICA_FIXTURES[generation])
        return replica_set

    return get
