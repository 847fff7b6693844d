"""Fixtures of the command-line tests."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest

from tests.fake_hub import FakeHub


@pytest.fixture
async def hub() -> AsyncIterator[FakeHub]:
    """The fake Hub (``tests/fake_hub.py``); point ``HF_ENDPOINT`` at ``hub.url``."""
    async with FakeHub() as fake:
        yield fake
