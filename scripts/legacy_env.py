"""Create a side environment for the version-matrix tests (idempotent), one per generation.

The real Spaces ran Gradio versions that cannot share an environment with Gradio 6, so their
replicas run under ``<repo>/.venvs/gradio-<version>``:

* ``"4.44.1"``: the Qwen2 / Qwen2.5 Spaces (Gradio 4, modelscope_studio's legacy chatbot).
  Gradio 4.44.1 only imports with the pins below (newer huggingface_hub / pydantic / fastapi /
  starlette / pandas break it).
* ``"5"``: Qwen3-Demo (Gradio 5.29 and modelscope_studio 1.x, whose "pro" chatbot needs
  gradio >=4.43,<6). modelscope_studio 1.2.2 imports ``requests`` without declaring it.

aiohttp and pillow are in both because the replicas import ``qwen_spaces``. A stamp file
records the pins; when it matches, this returns at once. A lock file serialises concurrent
creators (parallel test sessions).

Usage: ``python scripts/legacy_env.py [--generation 4.44.1|5] [--venv PATH] [--force]``
prints the venv's python.
"""

from __future__ import annotations

import argparse
import contextlib
import fcntl
import json
import subprocess
import sys
import time
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import NamedTuple

REPO_ROOT = Path(__file__).resolve().parents[1]
STAMP_NAME = "qwen-spaces-pins.json"


class SideEnv(NamedTuple):
    """One side environment: the exact Gradio it holds and everything pip installs.
    (A NamedTuple, not a dataclass: ``process.py`` loads this file without registering it
    in ``sys.modules``, which dataclasses need.)"""

    gradio: str
    pins: tuple[str, ...]

    @property
    def venv(self) -> Path:
        return REPO_ROOT / ".venvs" / f"gradio-{self.gradio}"

    @property
    def check(self) -> str:
        return ("import gradio, aiohttp, PIL, modelscope_studio; "
                f"assert gradio.__version__ == {self.gradio!r}, gradio.__version__")


ENVS: dict[str, SideEnv] = {
    "4.44.1": SideEnv("4.44.1", (
        "gradio==4.44.1",
        "huggingface_hub<0.26",
        "pydantic==2.10.6",
        "fastapi==0.112.4",
        "starlette<0.39",
        "pandas<2.3",
        "aiohttp>=3.9,<4",
        "pillow>=10",
        "modelscope_studio==0.5.2",
    )),
    "5": SideEnv("5.29.0", (
        "gradio==5.29.0",
        "modelscope_studio==1.2.2",
        "requests",
        "aiohttp>=3.9,<4",
        "pillow>=10",
    )),
}
#: The Gradio 4.44.1 environment, kept under its old names for callers that predate ``ENVS``.
PINS = ENVS["4.44.1"].pins
DEFAULT_VENV = ENVS["4.44.1"].venv


def _python_in(venv: Path) -> Path:
    return venv / ("Scripts/python.exe" if sys.platform == "win32" else "bin/python")


def _wanted(env: SideEnv) -> dict[str, object]:
    return {"pins": list(env.pins), "base_python": f"{sys.version_info[0]}.{sys.version_info[1]}"}


@contextlib.contextmanager
def _locked(venv: Path) -> Iterator[None]:
    """Serialise concurrent creators (parallel test sessions) on a lock file."""
    venv.parent.mkdir(parents=True, exist_ok=True)
    with open(venv.parent / f".{venv.name}.lock", "w") as fh:
        fcntl.flock(fh, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(fh, fcntl.LOCK_UN)


def _run(cmd: Sequence[str | Path]) -> None:
    proc = subprocess.run([str(c) for c in cmd], capture_output=True, text=True)
    if proc.returncode != 0:
        raise RuntimeError(f"{' '.join(map(str, cmd))} failed ({proc.returncode}):\n"
                           f"{proc.stdout[-3000:]}\n{proc.stderr[-3000:]}")


def ensure_env(generation: str = "4.44.1", venv: Path | None = None, *,
               force: bool = False) -> Path:
    """Return the side venv's python for ``generation``, creating or repairing it if needed."""
    try:
        env = ENVS[generation]
    except KeyError:
        raise ValueError(f"no side environment for Gradio {generation!r}; "
                         f"known: {', '.join(ENVS)}") from None
    venv = Path(venv) if venv is not None else env.venv
    stamp = venv / STAMP_NAME
    python = _python_in(venv)
    with _locked(venv):
        if not force and python.exists() and stamp.is_file():
            with contextlib.suppress(ValueError):
                if json.loads(stamp.read_text()) == _wanted(env):
                    return python
        started = time.monotonic()
        stamp.unlink(missing_ok=True)
        _run([sys.executable, "-m", "venv", "--clear", venv])
        _run([python, "-m", "pip", "install", "--disable-pip-version-check", "--quiet",
              *env.pins])
        _run([python, "-c", env.check])
        stamp.write_text(json.dumps(_wanted(env), indent=1))
        print(f"created {venv} in {time.monotonic() - started:.0f}s", file=sys.stderr)
    return python


def ensure_legacy_env(venv: Path = DEFAULT_VENV, *, force: bool = False) -> Path:
    """The Gradio 4.44.1 environment (``ensure_env("4.44.1")``)."""
    return ensure_env("4.44.1", venv, force=force)


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--generation", choices=list(ENVS), default="4.44.1")
    parser.add_argument("--venv", type=Path, default=None,
                        help="where to create it (default: .venvs/gradio-<version>)")
    parser.add_argument("--force", action="store_true", help="recreate even if up to date")
    args = parser.parse_args(argv)
    print(ensure_env(args.generation, args.venv, force=args.force))
    return 0


if __name__ == "__main__":
    sys.exit(main())
