"""Unit tests carry the ``unit`` marker, so mutation runs can select them with ``-m``
together with the fault tests marked ``fast`` (``-m "unit or fast"``)."""

from __future__ import annotations

from pathlib import Path

import pytest

_HERE = Path(__file__).resolve().parent


@pytest.hookimpl(tryfirst=True)
def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    for item in items:
        if _HERE in Path(str(item.path)).resolve().parents:
            item.add_marker(pytest.mark.unit)
