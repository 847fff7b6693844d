"""Start replica servers in a subprocess and stop them without leaking processes.

Standard library only, so any Python (with or without Gradio) can drive replicas that run
under another interpreter, e.g. the Gradio 4.44.1 or 5.29 side environment.
"""

from __future__ import annotations

import contextlib
import importlib.util
import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
import urllib.request
from collections import deque
from collections.abc import Iterable
from pathlib import Path
from types import TracebackType
from typing import Any

__all__ = ["REPO_ROOT", "ReplicaSet", "ReplicaStartError", "legacy_python", "local_get",
           "side_python"]

REPO_ROOT = Path(__file__).resolve().parents[2]
_LEGACY_SCRIPT = REPO_ROOT / "scripts" / "legacy_env.py"
_NO_PROXY = urllib.request.build_opener(urllib.request.ProxyHandler({}))
_CLEAN_ENV = {
    "GRADIO_ANALYTICS_ENABLED": "False",
    "HF_HUB_OFFLINE": "1",
    "NO_PROXY": "127.0.0.1,localhost",
    "no_proxy": "127.0.0.1,localhost",
    "PYTHONUNBUFFERED": "1",
}


class ReplicaStartError(RuntimeError):
    """The replica process died or did not become ready; the message carries its output."""


def local_get(url: str, timeout: float = 5.0) -> Any:
    """GET a JSON document from a 127.0.0.1 replica (proxies bypassed)."""
    with _NO_PROXY.open(url, timeout=timeout) as resp:
        return json.loads(resp.read())


def side_python(generation: str) -> str:
    """The python of the side environment for ``generation`` ("4.44.1", "5"), created on
    first use (``scripts/legacy_env.py``)."""
    if not _LEGACY_SCRIPT.is_file():
        raise ReplicaStartError(f"{_LEGACY_SCRIPT} not found (needs a source checkout); "
                                f"pass python=<interpreter with gradio {generation}> instead")
    spec = importlib.util.spec_from_file_location("_qwen_spaces_legacy_env", _LEGACY_SCRIPT)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return str(module.ensure_env(generation))


def legacy_python() -> str:
    """The Gradio 4.44.1 side environment's python, created on first use."""
    return side_python("4.44.1")


class ReplicaSet:
    """Replica Spaces on free 127.0.0.1 ports, all in one subprocess, for a ``with`` block.

    ``generation`` picks the Gradio: ``"6"`` runs under this interpreter, ``"5"`` and
    ``"4.44.1"`` under the side environments from ``scripts/legacy_env.py``; ``python``
    overrides that. ``state_ttl`` gives the session Spaces' ``gr.State``s a time to live in
    seconds (Qwen3-Demo; default: none). ``quota_for`` makes every replica of the set out of
    ZeroGPU quota for that many seconds after they are up: each answer fails before streaming
    with the ``/quota`` error, naming the time left as ``Try again in H:MM:SS``. To have one
    Space refuse while the others answer, start a set of just that model.
    """

    def __init__(
        self,
        models: Iterable[str] | None = None,
        *,
        generation: str = "6",
        python: str | None = None,
        ports: Iterable[int] | None = None,
        max_size: int | None = None,
        concurrency: int | None = None,
        token_delay: float | None = None,
        state_ttl: float | None = None,
        quota_for: float | None = None,
        startup_timeout: float = 90.0,
    ) -> None:
        from qwen_spaces.catalog import CATALOG

        from .generations import served_on

        self.models = list(models) if models is not None else served_on(generation)
        unknown = [m for m in self.models if m not in CATALOG]
        if unknown:
            raise ValueError(f"unknown replica models {unknown}; known: {', '.join(CATALOG)}")
        self.generation = generation
        self._python = python
        self._args: list[str] = []
        if ports is not None:
            port_list = [str(p) for p in ports]
            if len(port_list) != len(self.models):
                raise ValueError("ports needs one entry per model")
            self._args += ["--ports", ",".join(port_list)]
        if quota_for is not None and quota_for < 0:
            raise ValueError("quota_for must be >= 0")
        for flag, value in (("--max-size", max_size), ("--concurrency", concurrency),
                            ("--token-delay", token_delay), ("--state-ttl", state_ttl),
                            ("--quota-for", quota_for)):
            if value is not None:
                self._args += [flag, str(value)]
        self.startup_timeout = startup_timeout
        self.urls: dict[str, str] = {}
        self._proc: subprocess.Popen[str] | None = None
        self._reader: threading.Thread | None = None
        self._output: deque[str] = deque(maxlen=300)
        self._workdir: str | None = None

    # -- public ------------------------------------------------------------------------
    def url(self, name: str) -> str:
        """Base URL of a replica, e.g. ``http://127.0.0.1:40123`` (no trailing slash)."""
        return self.urls[name]

    def stats(self, name: str) -> dict[str, Any]:
        """The replica's ``/replica/stats`` counters."""
        result: dict[str, Any] = local_get(f"{self.urls[name]}/replica/stats")
        return result

    @property
    def output(self) -> str:
        """The last lines the server process printed (for error messages)."""
        return "\n".join(self._output)

    @property
    def pid(self) -> int | None:
        return self._proc.pid if self._proc else None

    def alive(self) -> bool:
        return self._proc is not None and self._proc.poll() is None

    def start(self) -> ReplicaSet:
        python = self._python or (sys.executable if self.generation == "6"
                                  else side_python(self.generation))
        # The child runs in a scratch cwd, so a relative interpreter path must be made absolute.
        resolved = shutil.which(python) if os.sep not in python else os.path.abspath(python)
        if resolved is None or not os.path.exists(resolved):
            raise ReplicaStartError(f"python interpreter {python!r} not found")
        self._workdir = tempfile.mkdtemp(prefix="qwen-replicas-")
        env = {**os.environ, **_CLEAN_ENV, "GRADIO_TEMP_DIR": os.path.join(self._workdir, "tmp")}
        env["PYTHONPATH"] = os.pathsep.join(
            p for p in (str(REPO_ROOT), os.environ.get("PYTHONPATH", "")) if p)
        cmd = [resolved, "-m", "qwen_spaces.replica", "--models", ",".join(self.models),
               "--exit-with-parent", *self._args]
        # The replicas hold the read end of a pipe only we write to: if this process dies
        # without stop() (SIGKILL, a crash), they see EOF and exit instead of lingering.
        self._proc = subprocess.Popen(
            cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, stdin=subprocess.PIPE,
            text=True, env=env, cwd=self._workdir, start_new_session=True)
        self._reader = threading.Thread(target=self._read, name="replica-output", daemon=True)
        self._reader.start()
        try:
            self._wait_ready()
        except BaseException:
            self.stop()
            raise
        return self

    def stop(self, grace: float = 5.0) -> None:
        """SIGTERM the process group, SIGKILL after ``grace`` seconds; idempotent."""
        proc, self._proc = self._proc, None
        if proc is not None:
            for sig, wait in ((signal.SIGTERM, grace), (signal.SIGKILL, grace)):
                with contextlib.suppress(ProcessLookupError):
                    os.killpg(proc.pid, sig)
                try:
                    proc.wait(wait)
                    break
                except subprocess.TimeoutExpired:
                    continue
            with contextlib.suppress(ProcessLookupError):
                os.killpg(proc.pid, signal.SIGKILL)  # leftovers in the group, if any
            if self._reader is not None:
                self._reader.join(grace)
            for pipe in (proc.stdout, proc.stdin):
                if pipe is not None:
                    with contextlib.suppress(OSError):
                        pipe.close()
        if self._workdir is not None:
            shutil.rmtree(self._workdir, ignore_errors=True)
            self._workdir = None

    def __enter__(self) -> ReplicaSet:
        return self.start()

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        self.stop()

    # -- internals ---------------------------------------------------------------------
    def _read(self) -> None:
        proc = self._proc
        assert proc is not None and proc.stdout is not None
        for line in proc.stdout:
            line = line.rstrip("\n")
            self._output.append(line)
            parts = line.split()
            if len(parts) == 3 and parts[0] == "READY":
                self.urls[parts[1]] = parts[2]

    def _wait_ready(self) -> None:
        proc = self._proc
        assert proc is not None
        deadline = time.monotonic() + self.startup_timeout
        pending = list(self.models)
        while pending:
            if proc.poll() is not None:
                if self._reader is not None:
                    self._reader.join(2)
                raise ReplicaStartError(
                    f"replica process exited with {proc.returncode} before "
                    f"{', '.join(pending)} became ready; output:\n{self.output}")
            if time.monotonic() > deadline:
                raise ReplicaStartError(
                    f"replicas {', '.join(pending)} not ready after {self.startup_timeout}s;"
                    f" output:\n{self.output}")
            for name in list(pending):
                if name in self.urls:
                    with contextlib.suppress(OSError, ValueError):
                        local_get(f"{self.urls[name]}/config", timeout=2)
                        pending.remove(name)
            time.sleep(0.1)
