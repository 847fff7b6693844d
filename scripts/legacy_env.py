"""Create the Gradio 4.44.1 side environment for the version-matrix tests (idempotent).

The real Qwen2 / Qwen2.5 Spaces run Gradio 4.x, which cannot share an environment with
Gradio 6, so their replicas run under ``<repo>/.venvs/gradio-4.44.1``. A stamp file records
the pins; when it matches, this returns at once. Gradio 4.44.1 only imports with the pins
below (newer huggingface_hub / pydantic / fastapi / starlette / pandas break it); aiohttp and
pillow are there because the replicas import ``qwen_spaces``.

Usage: ``python scripts/legacy_env.py [--venv PATH] [--force]`` prints the venv's python.
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

REPO_ROOT = Path(__file__).resolve().parents[1]
DEFAULT_VENV = REPO_ROOT / ".venvs" / "gradio-4.44.1"
PINS: tuple[str, ...] = (
    "gradio==4.44.1",
    "huggingface_hub<0.26",
    "pydantic==2.10.6",
    "fastapi==0.112.4",
    "starlette<0.39",
    "pandas<2.3",
    "aiohttp>=3.9,<4",
    "pillow>=10",
    "modelscope_studio==0.5.2",
)
STAMP_NAME = "qwen-spaces-pins.json"
CHECK = ("import gradio, aiohttp, PIL, modelscope_studio; "
         "assert gradio.__version__ == '4.44.1', gradio.__version__")


def _python_in(venv: Path) -> Path:
    return venv / ("Scripts/python.exe" if sys.platform == "win32" else "bin/python")


def _wanted() -> dict[str, object]:
    return {"pins": list(PINS), "base_python": f"{sys.version_info[0]}.{sys.version_info[1]}"}


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


def ensure_legacy_env(venv: Path = DEFAULT_VENV, *, force: bool = False) -> Path:
    """Return the side venv's python, creating or repairing the venv when needed."""
    venv = Path(venv)
    stamp = venv / STAMP_NAME
    python = _python_in(venv)
    with _locked(venv):
        if not force and python.exists() and stamp.is_file():
            with contextlib.suppress(ValueError):
                if json.loads(stamp.read_text()) == _wanted():
                    return python
        started = time.monotonic()
        stamp.unlink(missing_ok=True)
        _run([sys.executable, "-m", "venv", "--clear", venv])
        _run([python, "-m", "pip", "install", "--disable-pip-version-check", "--quiet", *PINS])
        _run([python, "-c", CHECK])
        stamp.write_text(json.dumps(_wanted(), indent=1))
        print(f"created {venv} in {time.monotonic() - started:.0f}s", file=sys.stderr)
    return python


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--venv", type=Path, default=DEFAULT_VENV)
    parser.add_argument("--force", action="store_true", help="recreate even if up to date")
    args = parser.parse_args(argv)
    print(ensure_legacy_env(args.venv, force=args.force))
    return 0


if __name__ == "__main__":
    sys.exit(main())
