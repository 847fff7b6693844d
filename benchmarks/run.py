"""Run every benchmark and write ``benchmarks/results/{results.json,report.md,scaling.png}``.

``python -m benchmarks [--quick] [--skip-g4f] [--skip-replica]`` from the repository root.
The fast server runs in its own process; every measurement runs in a fresh client process
(:mod:`benchmarks.workloads`), so each contender's CPU time and memory are its own.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import platform
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request
from contextlib import contextmanager
from dataclasses import asdict, dataclass
from functools import cache
from importlib import metadata
from pathlib import Path
from typing import Any

from . import g4f_env, report
from .server import QWEN3_PREFIX, generating_frames, qwen3_target, reply_text

ROOT = Path(__file__).resolve().parent.parent
RESULTS = Path(__file__).resolve().parent / "results"
SUBPROCESS_TIMEOUT = 420


@dataclass(frozen=True)
class Settings:
    stream_tokens: int = 20_000
    repeats: int = 5              # per point, fast contenders
    stream_rounds: int = 3        # the 20k stream: rounds of every fast contender, runs pooled
    paired_rounds: int = 20       # tools and reasoning vs plain, side by side in one process
    slow_repeats: int = 3         # gradio_client, g4f, /call at 16k
    scaling: tuple[int, ...] = (1_000, 4_000, 16_000)
    concurrent_streams: tuple[int, ...] = (64, 256)
    concurrent_tokens: int = 1_000
    concurrent_rounds: int = 5    # per point; the median round by wall time is reported
    scale_streams: int = 1_000    # the scale row: this many streams in one client process
    scale_tokens: int = 1_000
    scale_rounds: int = 3
    sequential_calls: int = 100
    sequential_tokens: int = 100
    replica_pieces: int = 2_000
    import_runs: int = 7


QUICK = Settings(stream_tokens=5_000, repeats=2, stream_rounds=1, paired_rounds=3,
                 slow_repeats=1,
                 scaling=(1_000, 4_000), concurrent_streams=(64,), concurrent_rounds=2,
                 scale_tokens=250, scale_rounds=1, sequential_calls=20,
                 replica_pieces=500, import_runs=3)
OURS = ("transport", "langchain", "llamaindex")


def log(msg: str) -> None:
    print(f"[{time.strftime('%H:%M:%S')}] {msg}", file=sys.stderr, flush=True)


@contextmanager
def fast_server() -> Any:
    proc = subprocess.Popen([sys.executable, "-m", "benchmarks.server"], cwd=ROOT,
                            stdout=subprocess.PIPE, text=True, env=_child_env())
    try:
        assert proc.stdout is not None
        url = proc.stdout.readline().strip()
        if not url.startswith("http://127.0.0.1:"):
            raise RuntimeError(f"the benchmark server did not start (said {url!r})")
        yield url, proc.pid
    finally:
        proc.terminate()
        proc.wait(10)


class Runner:
    """Launches one client process per measurement against the fast server."""

    def __init__(self, server: str, settings: Settings, g4f_python: str | None,
                 server_pid: int | None = None) -> None:
        self.server = server
        self.settings = settings
        self.g4f_python = g4f_python
        self.server_pid = server_pid

    def _set(self, tokens: int, layout: str) -> None:
        body = json.dumps({"tokens": tokens, "layout": layout}).encode()
        urllib.request.urlopen(urllib.request.Request(
            f"{self.server}/_bench/set", data=body, method="POST"), timeout=10).close()

    def _target(self, contender: str, tokens: int, protocol: str = "queue",
                layout: str = "parts", prompt: str = "bench",
                model: str = "qwen-2-72b") -> tuple[dict[str, Any], int]:
        """The fast server's target for ``contender`` and the answer length it must get."""
        target: dict[str, Any] = {"model": model, "protocol": protocol, "prompt": prompt,
                                  "url": self.server + ("/call-mode" if protocol == "call"
                                                        else "")}
        if layout == "qwen3":  # the reasoning stream: Qwen3-Demo's app, its own prefix
            target.update(qwen3_target(), url=self.server + QWEN3_PREFIX)
        return target, _expected(contender, tokens, layout)

    def measure(self, contender: str, workload: str, *, tokens: int | None = None,
                protocol: str = "queue", layout: str = "parts", url: str | None = None,
                prompt: str = "bench", model: str = "qwen-2-72b", expect: int | None = None,
                **params: Any) -> dict[str, Any]:
        """One point. With ``tokens`` the fast server is set up for it; else ``url`` (a
        real Gradio) is the target and ``expect`` the answer length, if known."""
        target: dict[str, Any] = {"model": model, "protocol": protocol, "prompt": prompt,
                                  "url": url}
        if tokens is not None:
            self._set(tokens, layout)
            target, expect = self._target(contender, tokens, protocol, layout, prompt, model)
        spec = {"contender": contender, "workload": workload, "params": params,
                "target": target,
                "control": self.server if tokens is not None else None, "expect": expect}
        python = self.g4f_python if contender == "g4f" else sys.executable
        if python is None:
            return {"error": "the g4f side environment is not available"}
        label = f"{workload} {contender} {protocol}/{layout} " + \
            (f"{tokens} tokens" if tokens else "replica")
        result = self._launch(python, spec, label, tokens)
        result.update(tokens=tokens, protocol=protocol, layout=layout)
        return result

    def measure_group(self, group: dict[str, tuple[str, str]], tokens: int,
                      rounds: int) -> dict[str, Any]:
        """The ``paired`` workload: each label's (contender, layout), side by side in one
        client process (the server serves the reasoning stream under its own prefix, so
        plain and reasoning streams can be asked for at once)."""
        self._set(tokens, "parts")
        entries = {}
        for label, (contender, layout) in group.items():
            target, expect = self._target(contender, tokens, layout=layout)
            entries[label] = {"contender": contender, "target": target, "expect": expect}
        spec = {"group": entries, "workload": "paired", "params": {"rounds": rounds}}
        result = self._launch(sys.executable, spec, f"paired {len(group)} contenders, "
                              f"{rounds} rounds of {tokens} tokens", tokens)
        result["tokens"] = tokens
        return result

    def _launch(self, python: str, spec: dict[str, Any], label: str,
                tokens: int | None) -> dict[str, Any]:
        """Run one measurement process; its ``RESULT`` line, or the error."""
        t0 = time.perf_counter()
        server0 = _cpu_seconds(self.server_pid)
        try:
            done = subprocess.run([python, "-m", "benchmarks.workloads", json.dumps(spec)],
                                  cwd=ROOT, capture_output=True, text=True,
                                  timeout=SUBPROCESS_TIMEOUT, env=_child_env())
        except subprocess.TimeoutExpired:
            log(f"{label}: timed out")
            return {"error": f"timed out after {SUBPROCESS_TIMEOUT}s"}
        lines = [x for x in done.stdout.splitlines() if x.startswith("RESULT ")]
        result: dict[str, Any] = json.loads(lines[-1][7:]) if lines else {
            "error": f"exit {done.returncode}: {done.stderr.strip()[-600:]}"}
        server1 = _cpu_seconds(self.server_pid)
        if server0 is not None and server1 is not None and tokens is not None:
            # The server's CPU over the whole client process (warm-up included): it shows
            # whether the server kept up, i.e. that the client is what is measured.
            result["server_cpu_s"] = server1 - server0
        log(f"{label}: {time.perf_counter() - t0:.1f}s"
            + (f" ERROR {result['error']}" if "error" in result else ""))
        return result


def _cpu_seconds(pid: int | None) -> float | None:
    """User + system CPU seconds of process ``pid`` so far (Linux ``/proc``), else None."""
    if pid is None:
        return None
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")
    except (OSError, ValueError, IndexError):
        return None


@cache
def _expected(contender: str, tokens: int, layout: str) -> int:
    """What a complete answer is: frames for the raw reader (it extracts no text), else
    characters (reasoning and answer, for the reasoning stream)."""
    if contender == "raw":
        return generating_frames(tokens, layout)
    if layout == "qwen3":
        return len(reply_text(tokens // 2)) + len(reply_text(tokens - tokens // 2))
    return len(reply_text(tokens))


# -- the benchmark sections ----------------------------------------------------------------
def run_stream(r: Runner) -> dict[str, Any]:
    s = r.settings
    points: dict[str, dict[str, Any]] = {
        "raw": dict(contender="raw"),
        "transport": dict(contender="transport"),
        "transport+tools": dict(contender="transport+tools"),
        "langchain": dict(contender="langchain"),
        "langchain+tools": dict(contender="langchain+tools"),
        "llamaindex": dict(contender="llamaindex"),
        "openai-endpoint": dict(contender="openai-endpoint"),
        "gradio_client": dict(contender="gradio_client", repeats=s.slow_repeats),
        "g4f": dict(contender="g4f", repeats=s.slow_repeats),
        "raw (reasoning)": dict(contender="raw", layout="qwen3"),
        "transport+reasoning": dict(contender="transport+reasoning", layout="qwen3"),
        "langchain+reasoning": dict(contender="langchain+reasoning", layout="qwen3"),
        "llamaindex+reasoning": dict(contender="llamaindex+reasoning", layout="qwen3"),
        "raw (tuples layout)": dict(contender="raw", layout="tuples"),
        "g4f (tuples layout)": dict(contender="g4f", layout="tuples", repeats=s.slow_repeats),
    }
    # The fast contenders are measured in rounds, each round every one of them in turn, and
    # their runs pooled: this VM's speed drifts by tens of per cent over a minute, and a ratio
    # of two rows measured a minute apart would measure the drift.
    out: dict[str, Any] = {}
    for round_ in range(s.stream_rounds):
        for key, point in points.items():
            kw: dict[str, Any] = {"repeats": s.repeats, **point}
            if "repeats" in point and round_:
                continue  # the slow ones: one round
            out[key] = _pooled(out.get(key), r.measure(kw.pop("contender"), "stream",
                                                       tokens=s.stream_tokens, **kw))
    return out


def _pooled(before: dict[str, Any] | None, now: dict[str, Any]) -> dict[str, Any]:
    """One point's measurements so far with another round's: the runs of both (an error
    in any round stays)."""
    if before is None:
        return dict(now, rounds=1)
    if "runs" not in before or "runs" not in now:
        return before if "runs" not in before else dict(now, rounds=before["rounds"] + 1)
    return dict(before, runs=before["runs"] + now["runs"], rounds=before["rounds"] + 1)


#: The paired section: tools and reasoning rows beside their plain rows and the raw
#: readers of both streams, in one process.
PAIRED = {
    "raw": ("raw", "parts"), "raw (reasoning)": ("raw", "qwen3"),
    "transport": ("transport", "parts"), "transport+tools": ("transport+tools", "parts"),
    "transport+reasoning": ("transport+reasoning", "qwen3"),
    "langchain": ("langchain", "parts"), "langchain+tools": ("langchain+tools", "parts"),
    "langchain+reasoning": ("langchain+reasoning", "qwen3"),
    "llamaindex": ("llamaindex", "parts"),
    "llamaindex+reasoning": ("llamaindex+reasoning", "qwen3"),
}


def run_paired(r: Runner) -> dict[str, Any]:
    s = r.settings
    return r.measure_group(PAIRED, s.stream_tokens, s.paired_rounds)


def run_scaling(r: Runner) -> dict[str, Any]:
    s = r.settings
    plan = {"queue": ("raw", "transport", "langchain", "llamaindex", "gradio_client"),
            "call": ("raw", "transport")}
    out: dict[str, Any] = {}
    for protocol, names in plan.items():
        for name in names:
            for tokens in s.scaling:
                slow = name == "gradio_client" or (protocol == "call" and tokens > 4000)
                out.setdefault(protocol, {}).setdefault(name, {})[str(tokens)] = r.measure(
                    name, "stream", tokens=tokens, protocol=protocol,
                    repeats=s.slow_repeats if slow else s.repeats)
    return out


def run_concurrent(r: Runner) -> dict[str, Any]:
    """Keyed by the number of streams; the last level is the scale row."""
    s = r.settings
    levels = [(n, s.concurrent_tokens, s.concurrent_rounds) for n in s.concurrent_streams]
    levels.append((s.scale_streams, s.scale_tokens, s.scale_rounds))
    return {str(n): {name: r.measure(name, "concurrent", tokens=tokens, streams=n,
                                     rounds=rounds)
                     for name in ("raw", *OURS)}
            for n, tokens, rounds in levels}


def run_sequential(r: Runner) -> dict[str, Any]:
    s = r.settings
    return {name: r.measure(name, "sequential", tokens=s.sequential_tokens,
                            calls=s.sequential_calls)
            for name in ("raw", *OURS, "gradio_client", "g4f")}


def run_replica(r: Runner) -> dict[str, Any]:
    """Real Gradio 6 (the ``qwen-2.5-max`` replica, no token delay): it measures Gradio."""
    from qwen_spaces.replica import ReplicaSet

    text = "".join(f"w{i % 10} " for i in range(r.settings.replica_pieces))[
        :3 * r.settings.replica_pieces]  # /echo streams 3 characters a piece
    try:
        with ReplicaSet(["qwen-2.5-max"], token_delay=0) as reps:
            url = reps.url("qwen-2.5-max")
            return {"pieces": r.settings.replica_pieces, "gradio": _version("gradio"), **{
                name: r.measure(name, "stream", url=url, prompt=f"/echo {text}",
                                model="qwen-2.5-max",
                                expect=None if name == "raw" else len(text),
                                repeats=r.settings.slow_repeats)
                for name in ("raw", "transport", "gradio_client")}}
    except Exception as exc:
        return {"error": f"{type(exc).__name__}: {exc}"[:500]}


#: Cold imports: what each statement costs in a fresh interpreter. The framework rows are
#: what an integration cannot avoid: ``import langchain_core.language_models`` is lazy in
#: langchain-core 1.x (it loads almost nothing), so the base class a chat model subclasses
#: is the framework's share; LlamaIndex's ``llama_index.core.llms`` is eager.
IMPORTS = {
    "(interpreter only)": "pass",
    "qwen_spaces": "import qwen_spaces",
    "langchain_core.language_models": "import langchain_core.language_models",
    "BaseChatModel": "from langchain_core.language_models import BaseChatModel",
    "langchain_qwen_spaces": "import langchain_qwen_spaces",
    "llama_index.core.llms": "import llama_index.core.llms",
    "FunctionCallingLLM": "from llama_index.core.llms.function_calling import FunctionCallingLLM",
    "llama_index_qwen_spaces": "import llama_index_qwen_spaces",
    "gradio_client": "import gradio_client",
}
#: (ours, the framework's) pairs whose difference is our own import cost.
IMPORT_PAIRS = {
    "langchain_qwen_spaces": ("langchain_core.language_models", "BaseChatModel"),
    "llama_index_qwen_spaces": ("llama_index.core.llms", "FunctionCallingLLM"),
}
OWN_PACKAGES = ("qwen_spaces", "langchain_qwen_spaces", "llama_index_qwen_spaces")


#: Our import timed inside the interpreter, right after the framework's: the framework is
#: loaded, so the difference is ours alone (one process, no subtraction of two noisy runs).
_AFTER = ("import time\n{framework}\nt, c = time.perf_counter(), time.process_time()\n"
          "{ours}\nprint(time.perf_counter() - t, time.process_time() - c)")


def run_imports(runs: int) -> dict[str, Any]:
    """Cold imports as an installed package pays them: bytecode cached (a warm-up run of
    each statement writes it to a private cache, ``PYTHONPYCACHEPREFIX``, whatever
    ``PYTHONDONTWRITEBYTECODE`` says), each in a fresh interpreter, the statements
    interleaved run by run so a load change on the machine hits them alike.

    * ``wall``: each statement alone;
    * ``after``: our import timed in the same interpreter right after the framework's base
      class (wall and CPU): what our import adds;
    * ``importtime``: that addition split by ``python -X importtime`` self times into our
      packages and the third-party modules we bring.
    """
    with tempfile.TemporaryDirectory(prefix="qwen-spaces-bench-pyc-") as cache:
        env = {**_child_env(), "PYTHONPYCACHEPREFIX": cache}
        env.pop("PYTHONDONTWRITEBYTECODE", None)

        def python(*args: str) -> subprocess.CompletedProcess[str]:
            return subprocess.run([sys.executable, *args], cwd=ROOT, check=True, env=env,
                                  capture_output=True, text=True)

        after_code = {ours: _AFTER.format(framework=IMPORTS[framework], ours=IMPORTS[ours])
                      for ours, (_, framework) in IMPORT_PAIRS.items()}
        for stmt in [*IMPORTS.values(), *after_code.values()]:
            python("-c", stmt)  # warm-up: writes the bytecode
        times: dict[str, list[float]] = {k: [] for k in IMPORTS}
        after: dict[str, list[tuple[float, float]]] = {k: [] for k in after_code}
        for _ in range(runs):
            for key, stmt in IMPORTS.items():
                t0 = time.perf_counter()
                python("-c", stmt)
                times[key].append(time.perf_counter() - t0)
            for key, code in after_code.items():
                wall, cpu = python("-c", code).stdout.split()
                after[key].append((float(wall) * 1e3, float(cpu) * 1e3))
        attribution: dict[str, Any] = {}
        for ours, (_, framework) in IMPORT_PAIRS.items():
            base = set(_importtime(python, IMPORTS[framework]))
            own, deps = [], []
            for _ in range(runs):
                extra = {k: v for k, v in _importtime(python, IMPORTS[ours]).items()
                         if k not in base}
                own.append(sum(v for k, v in extra.items()
                               if k.split(".")[0] in OWN_PACKAGES))
                deps.append(sum(v for k, v in extra.items()
                                if k.split(".")[0] not in OWN_PACKAGES))
            attribution[ours] = {"framework": framework, "own_ms": statistics.median(own),
                                 "deps_ms": statistics.median(deps), "own_runs_ms": own,
                                 "deps_runs_ms": deps}
    out: dict[str, Any] = {k: {"statement": IMPORTS[k], "median_s": statistics.median(v),
                               "runs_s": v} for k, v in times.items()}
    return {"wall": out, "pairs": {k: list(v) for k, v in IMPORT_PAIRS.items()},
            "after": {k: {"wall_ms": statistics.median(w for w, _ in v),
                          "cpu_ms": statistics.median(c for _, c in v), "runs_ms": v}
                      for k, v in after.items()},
            "importtime": attribution}


def _importtime(python: Any, stmt: str) -> dict[str, float]:
    """Self time in ms of every module ``stmt`` imports (``python -X importtime``)."""
    err = python("-X", "importtime", "-c", stmt).stderr
    out: dict[str, float] = {}
    for line in err.splitlines():
        if line.startswith("import time:") and "cumulative" not in line:
            own, _cumulative, name = line[len("import time:"):].split("|", 2)
            out[name.strip()] = int(own) / 1e3
    return out


def _child_env() -> dict[str, str]:
    """The environment of every child: this tree's packages first on the path (a shared
    interpreter may have another checkout installed), no Gradio telemetry."""
    path = os.environ.get("PYTHONPATH")
    return {**os.environ, "PYTHONPATH": str(ROOT) + (os.pathsep + path if path else ""),
            "GRADIO_ANALYTICS_ENABLED": "False"}


# -- machine ---------------------------------------------------------------------------------
def _version(dist: str) -> str | None:
    try:
        return metadata.version(dist)
    except metadata.PackageNotFoundError:
        return None


def code_state() -> dict[str, Any]:
    """Which client code was measured: commit, uncommitted files, a hash of the sources."""
    packages = ("qwen_spaces", "langchain_qwen_spaces", "llama_index_qwen_spaces")

    def git(*args: str) -> str:
        done = subprocess.run(["git", *args], cwd=ROOT, capture_output=True, text=True)
        return done.stdout if done.returncode == 0 else ""

    digest = hashlib.sha256()
    for path in sorted(p for pkg in packages for p in (ROOT / pkg).rglob("*.py")):
        digest.update(path.read_bytes())
    dirty = [line[3:] for line in git("status", "--porcelain", "--", *packages).splitlines()]
    return {"commit": git("rev-parse", "--short", "HEAD").strip() or "unknown", "dirty": dirty,
            "sha256": digest.hexdigest()[:12]}


def machine(g4f_python: str | None) -> dict[str, Any]:
    cpu = "unknown"
    try:
        cpu = next(line.split(":", 1)[1].strip() for line in
                   Path("/proc/cpuinfo").read_text().splitlines()
                   if line.startswith("model name"))
    except (OSError, StopIteration):
        pass
    mem = None
    try:
        mem = int(Path("/proc/meminfo").read_text().split()[1]) // 1024 // 1024
    except (OSError, ValueError, IndexError):
        pass
    versions = {d: _version(d) for d in (
        "qwen-spaces", "aiohttp", "orjson", "gradio", "gradio_client", "langchain-core",
        "llama-index-core", "httpx")}
    versions["g4f (side venv)"] = g4f_env.G4F_VERSION if g4f_python else None
    return {"cpu": cpu, "cores": os.cpu_count(), "memory_gib": mem,
            "python": platform.python_version(), "platform": platform.platform(),
            "versions": versions, "code": code_state()}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks", description=__doc__)
    parser.add_argument("--quick", action="store_true", help="smaller sizes, fewer repeats")
    parser.add_argument("--skip-g4f", action="store_true", help="no g4f side environment")
    parser.add_argument("--skip-replica", action="store_true", help="no real Gradio run")
    parser.add_argument("--out", type=Path, default=RESULTS, help="results directory")
    parser.add_argument("--report-only", action="store_true",
                        help="re-render report.md from an existing results.json")
    args = parser.parse_args(argv)
    if args.report_only:
        write(json.loads((args.out / "results.json").read_text()), args.out)
        return 0
    settings = QUICK if args.quick else Settings()
    started = time.perf_counter()

    g4f_python: str | None = None
    g4f_error = "skipped (--skip-g4f)" if args.skip_g4f else None
    if not args.skip_g4f:
        try:
            g4f_python = str(g4f_env.ensure(log))
        except (g4f_env.G4FUnavailable, OSError, subprocess.SubprocessError) as exc:
            g4f_error = str(exc)
            log(f"g4f contender unavailable: {exc}")

    results: dict[str, Any] = {"machine": machine(g4f_python), "settings": asdict(settings),
                               "quick": args.quick, "g4f_error": g4f_error,
                               "date": time.strftime("%Y-%m-%d %H:%M:%S %Z")}
    with fast_server() as (url, pid):
        log(f"benchmark server at {url}")
        r = Runner(url, settings, g4f_python, pid)
        results["stream"] = run_stream(r)
        results["paired"] = run_paired(r)
        results["scaling"] = run_scaling(r)
        results["concurrent"] = run_concurrent(r)
        results["sequential"] = run_sequential(r)
    results["imports"] = run_imports(settings.import_runs)
    results["replica"] = {"error": "skipped (--skip-replica)"} if args.skip_replica \
        else run_replica(r)
    results["duration_s"] = time.perf_counter() - started

    write(results, args.out)
    return 0


def write(results: dict[str, Any], out: Path) -> None:
    """results.json (raw + summary), report.md and, with matplotlib, scaling.png."""
    out.mkdir(parents=True, exist_ok=True)
    summary = report.summarize(results)
    results["summary"] = summary
    (out / "results.json").write_text(json.dumps(results, indent=1))
    plot = report.plot(summary, out / "scaling.png")
    text = report.markdown(summary, plot)
    (out / "report.md").write_text(text)
    log(f"wrote {out / 'report.md'}" + ("" if plot else " (no plot: no matplotlib)"))
    print(text)


if __name__ == "__main__":
    raise SystemExit(main())
