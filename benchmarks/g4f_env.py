"""The side environment for the g4f contender: ``benchmarks/.venv-g4f`` (gitignored).

g4f 7.6.5 is the newest release that still ships
``g4f/Provider/hf_space/Qwen_Qwen_2_5_Max.py`` (7.6.6 dropped it; checked by downloading
the wheels of 7.6.5 and 7.6.6 with ``pip download --no-deps``). It is installed on first
use with the ordinary ``pip`` of a fresh venv; later runs reuse it.
"""

from __future__ import annotations

import subprocess
import sys
import venv
from pathlib import Path

G4F_VERSION = "7.6.5"
VENV = Path(__file__).resolve().parent / ".venv-g4f"
PROVIDER = "g4f.Provider.hf_space.Qwen_Qwen_2_5_Max"


class G4FUnavailable(RuntimeError):
    """The side environment could not be built; the message says why."""


def python() -> Path:
    return VENV / "bin" / "python"


def _works(exe: Path) -> bool:
    probe = ("import importlib.metadata as m, " + PROVIDER + "; "
             f"assert m.version('g4f') == '{G4F_VERSION}'")
    return exe.exists() and subprocess.run([str(exe), "-c", probe], capture_output=True,
                                           timeout=120).returncode == 0


def ensure(log: object = print) -> Path:
    """Return the side environment's interpreter, creating it if needed."""
    exe = python()
    if _works(exe):
        return exe
    log(f"building {VENV.name} with g4f=={G4F_VERSION} (first run only)")  # type: ignore[operator]
    venv.EnvBuilder(with_pip=True, clear=True).create(VENV)
    done = subprocess.run([str(exe), "-m", "pip", "install", "--quiet",
                           "--disable-pip-version-check", f"g4f=={G4F_VERSION}"],
                          capture_output=True, text=True, timeout=600)
    if done.returncode != 0:
        raise G4FUnavailable(f"pip install g4f=={G4F_VERSION} failed: "
                             f"{(done.stderr or done.stdout).strip()[-500:]}")
    if not _works(exe):
        raise G4FUnavailable(f"g4f {G4F_VERSION} installed but {PROVIDER} does not import")
    return exe


if __name__ == "__main__":
    print(ensure(lambda msg: print(msg, file=sys.stderr)))
