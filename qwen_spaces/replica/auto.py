"""Real Spaces when they answer, local replicas otherwise: one call for notebooks and demos.

``QWEN_SPACES_REPLICA=1`` forces the replicas, ``=0`` forces the real Spaces; unset, each
Space's ``/config`` is probed briefly and the replicas are used if any does not answer.
The choice is printed plainly and exported through ``$QWEN_SPACES_BASE_URLS``, so every
client created afterwards (core, LangChain, LlamaIndex) talks to the same place.
"""

from __future__ import annotations

import atexit
import json
import os
import sys
import urllib.request
from collections.abc import Iterable
from dataclasses import dataclass

from qwen_spaces.catalog import CATALOG, resolve_model

from .process import ReplicaSet

__all__ = ["REPLICA_ENV", "Endpoints", "spaces_or_replicas"]

REPLICA_ENV = "QWEN_SPACES_REPLICA"
_BASE_URLS_ENV = "QWEN_SPACES_BASE_URLS"  # read by qwen_spaces.client
_running: ReplicaSet | None = None


@dataclass(frozen=True)
class Endpoints:
    replica: bool
    urls: dict[str, str]

    def describe(self) -> str:
        if self.replica:
            where = ", ".join(f"{m} at {u}" for m, u in self.urls.items())
            return (f"Talking to LOCAL REPLICAS of the Qwen Spaces (real Gradio, a fake "
                    f"model that reports what it received): {where}")
        return "Talking to the real Qwen Spaces on Hugging Face: " + ", ".join(self.urls)


def spaces_or_replicas(models: Iterable[str] | None = None, *, probe_timeout: float = 3.0,
                       quiet: bool = False) -> Endpoints:
    names = [resolve_model(m).spec.name for m in models] if models else list(CATALOG)
    wanted = os.environ.get(REPLICA_ENV, "").strip().lower()
    if wanted in ("0", "false", "no"):
        use_replicas = False
    elif wanted in ("1", "true", "yes"):
        use_replicas = True
    else:
        use_replicas = not all(_answers(CATALOG[n].url, probe_timeout) for n in names)
    if use_replicas:
        urls = _start(names)
        os.environ[_BASE_URLS_ENV] = ",".join(f"{m}={u}" for m, u in urls.items())
    else:
        urls = {n: CATALOG[n].url for n in names}
        os.environ.pop(_BASE_URLS_ENV, None)
    endpoints = Endpoints(use_replicas, urls)
    if not quiet:
        sys.stdout.write(endpoints.describe() + "\n")
    return endpoints


def _answers(url: str, timeout: float) -> bool:
    try:
        opener = urllib.request.build_opener()
        with opener.open(f"{url}/config", timeout=timeout) as resp:
            return isinstance(json.loads(resp.read(2_000_000)), dict)
    except Exception:  # any failure means "not usable from here"
        return False


def _start(names: list[str]) -> dict[str, str]:
    """Start (once per process) replicas for ``names``; they stop when Python exits."""
    global _running
    if _running is None or not _running.alive() or not set(names) <= set(_running.urls):
        if _running is not None:
            _running.stop()
        _running = ReplicaSet(names).start()
        atexit.register(_running.stop)
    return {n: _running.url(n) for n in names}
