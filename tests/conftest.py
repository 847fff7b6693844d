"""Shared fixtures: replica Spaces on real Gradio (6.x here, 4.44.1 in a side venv)."""

from __future__ import annotations

import pytest

pytest_plugins = ["qwen_spaces.replica.pytest_plugin"]

GENERATIONS = ["6", "4.44.1"]


@pytest.fixture(params=GENERATIONS, ids=lambda g: f"gradio{g}")
def any_replicas(request: pytest.FixtureRequest):  # type: ignore[no-untyped-def]
    """The same test against every Gradio generation the replicas run on."""
    name = "replicas" if request.param == "6" else "legacy_replicas"
    return request.getfixturevalue(name)
