"""``aiohttp``, imported when the package first talks to a Space instead of with the package.

Importing aiohttp costs more than the rest of the package together (its connector builds two
TLS contexts at import, reading the system's CA certificates), and nothing needs it before the
first request: ``import langchain_qwen_spaces`` or building a model does not.

:data:`aiohttp` stands for the module. The first attribute read imports it; every attribute
read is kept on the stand-in, so later reads are plain attribute lookups. The modules that use
it import the real module under ``TYPE_CHECKING``, so type checkers see aiohttp itself.
"""

from __future__ import annotations

import importlib
from typing import Any

__all__ = ["aiohttp"]


class Deferred:
    """A module imported on the first attribute read (see the module docstring)."""

    __slots__ = ("__dict__", "_deferred_name")

    def __init__(self, name: str) -> None:
        self._deferred_name = name

    def __getattr__(self, attr: str) -> Any:
        value = getattr(importlib.import_module(self._deferred_name), attr)
        setattr(self, attr, value)
        return value

    def __repr__(self) -> str:
        return f"<deferred module {self._deferred_name!r}>"


aiohttp = Deferred("aiohttp")
