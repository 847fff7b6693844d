"""Shared fixtures: replica Spaces on real Gradio (6.x here, 4.44.1 in a side venv)."""

from __future__ import annotations

import os

import pytest
from hypothesis import HealthCheck, Phase, settings

pytest_plugins = ["qwen_spaces.replica.pytest_plugin"]

GENERATIONS = ["6", "4.44.1"]

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


@pytest.fixture(params=GENERATIONS, ids=lambda g: f"gradio{g}")
def any_replicas(request: pytest.FixtureRequest):  # type: ignore[no-untyped-def]
    """The same test against every Gradio generation the replicas run on."""
    name = "replicas" if request.param == "6" else "legacy_replicas"
    return request.getfixturevalue(name)
