"""Shared fixtures: replica Spaces on real Gradio (6.x here, 5.29 and 4.44.1 in side venvs)."""

from __future__ import annotations

import os
import threading
from collections.abc import Callable

import pytest
from hypothesis import HealthCheck, Phase, settings

from qwen_spaces.replica.generations import served_on
from qwen_spaces.replica.process import ReplicaSet, ReplicaStartError, side_python

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


#: Fixtures that need a side environment, by the generation they need.
_SIDE_FIXTURES = {"4.44.1": {"legacy_replicas", "any_replicas", "replicas_on"},
                  "5": {"gradio5_replicas", "qwen3_replicas", "replicas_on"}}


@pytest.hookimpl(trylast=True)
def pytest_collection_finish(session: pytest.Session) -> None:
    """Build the side environments the collected tests need in the background, both at
    once, while the tests that need none run. On a fresh machine that hides most of their
    install time. A fixture that needs one waits on the environment's lock, and a build
    that failed here fails there again, with its output."""
    wanted = set()
    for item in session.items:
        names = set(getattr(item, "fixturenames", ()))
        wanted |= {g for g, fixtures in _SIDE_FIXTURES.items() if names & fixtures}
        if "replica_factory" in names:  # may ask for any generation
            wanted |= set(_SIDE_FIXTURES)
    for generation in sorted(wanted):
        threading.Thread(target=_prebuild, args=(generation,), daemon=True,
                         name=f"side-env-{generation}").start()


def _prebuild(generation: str) -> None:
    try:
        side_python(generation)
    except (ReplicaStartError, RuntimeError, OSError):
        pass  # reported by the fixture that needs the environment


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
