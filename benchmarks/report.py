"""Raw results -> summary numbers, targets (PASS/MISS), markdown tables and the plot."""

from __future__ import annotations

import math
import statistics
from pathlib import Path
from typing import Any

TITLES = {
    "raw": "raw aiohttp reader (the limit)",
    "transport": "qwen_spaces `SpaceClient.astream`",
    "langchain": "`ChatQwenSpaces.astream`",
    "llamaindex": "`QwenSpacesLLM.astream_chat`",
    "openai-endpoint": "`qwen-spaces api` + openai SDK (client process)",
    "gradio_client": "`gradio_client` submit + iterate",
    "g4f": "g4f 7.6.5 `Qwen_Qwen_2_5_Max`",
    "transport+tools": "`SpaceClient.astream`, one tool bound",
    "langchain+tools": "`ChatQwenSpaces.bind_tools([...]).astream`",
    "raw (reasoning)": "raw reader, reasoning stream (Qwen3-Demo)",
    "transport+reasoning": "`SpaceClient.astream`, reasoning stream",
    "langchain+reasoning": "`ChatQwenSpaces.astream`, reasoning stream",
    "llamaindex+reasoning": "`QwenSpacesLLM.astream_chat`, reasoning stream",
    "raw (tuples layout)": "raw reader, tuples layout",
    "g4f (tuples layout)": "g4f 7.6.5, tuples layout",
}

#: Why a target can be missed and what would close it (shown under the table on a MISS).
WHY = {
    "transport": (
        "The transport spent {t_cpu:.1f} µs of CPU per token against the limit's "
        "{r_cpu:.1f}. Per frame the limit only splits and calls `orjson.loads`. The "
        "transport does the same split and parse on bytes (`SSEDecoder.feed_data`), then "
        "checks that the frame is data-only and makes one protocol call that applies the "
        "append to the answer (`JobProtocol.append_text`). On top of that it does discovery "
        "and a join per call, visible in the first-text time. The rest is Python work per "
        "frame; closing the gap would mean taking it out of Python, with a C, Cython or "
        "Rust SSE+diff reader that returns only the appended text. The ratio also moves "
        "between runs on this 2-core machine: the same hot path measured 0.64x and 0.84x "
        "on consecutive runs."),
    "uncoalesced": (
        " Each event also climbs four stacked async generators (`_read` -> `_run_once` -> "
        "`_stream_job` -> caller): coalescing the deltas decoded from one socket read into "
        "one `TextDelta` makes that one hop per read instead of per token."),
    "adapters": (
        "LangChain/LlamaIndex spend tens of µs per chunk in their own machinery "
        "(pydantic message-chunk models, callbacks), more than the whole limit spends per "
        "token, and they get one chunk per token. No change inside the adapters can reach "
        "0.5x that way; coalescing the deltas of one socket read in the transport makes them "
        "pay per read instead (at real Space rates a read holds one token, so live "
        "streaming granularity is unchanged)."),
    "adapters_coalesced": (
        "The adapters get one chunk per socket read (the transport coalesces), so they run "
        "at {share} of the transport's throughput: their gap to the limit is the "
        "transport's (above)."),
    "scaling": ("Per-token cost grows with the reply: something in the path is linear in "
                "the text so far."),
    "concurrent": "Some of the streams failed; see the errors in results.json.",
    "tools": ("With tools bound every delta passes `ToolCallParser.feed` (a `find` per "
              "opener and a held-suffix check); the ratio moves a few percent between runs "
              "on this 2-core machine, so compare repeated runs before reading a miss as "
              "real."),
    "reasoning": (
        "Reasoning frames take a byte-level fast path of their own (a second "
        "`AppendShape`, at the thinking panel's leaf), so what a miss leaves is the "
        "adapter's or the channel switch's cost, not the frame's: profile the row "
        "(`cProfile` on the contender) before changing code. The deltas of one read are "
        "coalesced per channel, so the adapters get about as many chunks as on a plain "
        "stream."),
    "call": ("`/call` sends the whole value per token; the transport reads each value to "
             "find the new text (`JobProtocol.handle_call`), the raw reader only parses it."),
    "concurrent_lc": (
        "The streams share one event loop, so a stream's first text waits for the CPU the "
        "streams ahead of it take: per call (the join and stream requests, LangChain's run "
        "start) and per frame. A job passes its first words on as soon as they are parsed "
        "and then yields the loop once, so the wait is for the other streams' start-up, "
        "not their whole replies; compare the rounds in results.json, whose spread on this "
        "2-core VM is as large as the overhead."),
    "imports": ("Our import, timed right after the framework's base class, still loads the "
                "core's modules (their dataclasses and the adapter's pydantic model class "
                "are most of it); aiohttp and the package metadata are read on first use. "
                "See the -X importtime split in the import table."),
    "connections": "Connections are not reused between sequential calls.",
    "discovery": "`/config` is fetched more than once for one client.",
    "gradio_client": "The transport is not 3x faster than gradio_client on this stream.",
    "endpoint": (
        "The endpoint process runs the core transport and, per event, encodes one "
        "`chat.completion.chunk` and writes it to the client's socket; see the endpoint "
        "table for where its CPU goes beyond the transport's."),
}


def _why(key: str, s: dict[str, Any]) -> str:
    st = s["stream"]
    coalesced = (st["transport"]["pieces"] or 0) < (st["transport"]["tokens"] or 0) / 10
    if key == "transport":
        text = WHY["transport"].format(t_cpu=st["transport"]["cpu_us_per_token"] or 0,
                                       r_cpu=st["raw"]["cpu_us_per_token"] or 0)
        return text + ("" if coalesced else WHY["uncoalesced"])
    if key == "adapters" and coalesced:
        shares = [_ratio(st[n]["tokens_per_s"], st["transport"]["tokens_per_s"])
                  for n in ("langchain", "llamaindex")]
        return WHY["adapters_coalesced"].format(
            share=" / ".join(_f(x, "{:.2f}") for x in shares) + " (LangChain / LlamaIndex)")
    return WHY[key]


# -- statistics ------------------------------------------------------------------------------
def _median(values: list[float]) -> float | None:
    values = [v for v in values if v is not None]
    return statistics.median(values) if values else None


def _pct(values: list[float], q: float) -> float | None:
    values = sorted(v for v in values if v is not None)
    if not values:
        return None
    return values[min(len(values) - 1, max(0, math.ceil(q / 100 * len(values)) - 1))]


def _ratio(a: float | None, b: float | None) -> float | None:
    return a / b if a is not None and b else None


def _errors(res: dict[str, Any], runs: list[dict[str, Any]] | None = None) -> list[str]:
    errs = [res["error"]] if "error" in res else []
    errs += [e for e in (res.get("errors") or []) if e]
    errs += [r["error"] for r in runs or [] if r.get("error")]
    return sorted(set(errs))


def stream_point(res: dict[str, Any]) -> dict[str, Any]:
    """Medians over the repeats (over failed runs too, when no run succeeded)."""
    tokens = res.get("tokens")
    runs = res.get("runs", [])
    good = [r for r in runs if not r["error"]] or runs
    wall = _median([r["wall"] for r in good])
    cpu = _median([r["cpu"] for r in good])
    ttft = _median([r["ttft"] for r in good])
    server = [r["server_cpu"] / tokens * 1e6 for r in good
              if tokens and r.get("server_cpu") is not None]
    return {
        "server_cpu_us_per_token": _median(server), "server_cpu_runs": server,
        "tokens": tokens, "runs": len(runs), "wall_s": wall,
        "tokens_per_s": tokens / wall if tokens and wall else None,
        "cpu_us_per_token": cpu / tokens * 1e6 if tokens and cpu is not None else None,
        "cpu_runs": [r["cpu"] / tokens * 1e6 for r in good if tokens],
        "ttft_ms": ttft * 1e3 if ttft is not None else None,
        "pieces": _median([r["pieces"] for r in good]),
        "chars": _median([r["chars"] for r in good]),
        "errors": _errors(res, runs),
    }


# -- summary -----------------------------------------------------------------------------
def summarize(results: dict[str, Any]) -> dict[str, Any]:
    stream = {k: stream_point(v) for k, v in results["stream"].items()}
    for key, point in stream.items():
        base = stream.get(_baseline(key), stream["raw"])
        point["ratio"] = _ratio(point["tokens_per_s"], base["tokens_per_s"])
        # CPU per token over the limit's on the same frames: what compares across layouts.
        point["cpu_vs_limit"] = _ratio(point["cpu_us_per_token"], base["cpu_us_per_token"])

    scaling: dict[str, Any] = {}
    for protocol, names in results["scaling"].items():
        for name, by_tokens in names.items():
            points = {int(t): stream_point(v) for t, v in by_tokens.items()}
            first = points[min(points)]["cpu_us_per_token"]
            for p in points.values():
                p["cpu_vs_smallest"] = _ratio(p["cpu_us_per_token"], first)
            scaling.setdefault(protocol, {})[name] = points

    levels = results["concurrent"]
    if "raw" in levels:  # a results.json from before there were several levels
        levels = {str(levels["raw"].get("streams")): levels}
    concurrent = {int(n): {name: concurrent_point(res) for name, res in points.items()}
                  for n, points in levels.items()}
    for points in concurrent.values():
        raw = points.get("raw", {})
        for point in points.values():
            point["ratio"] = _ratio(point["agg_tokens_per_s"], raw.get("agg_tokens_per_s"))
            for q in ("p50", "p99"):
                a, b = point[f"ttft_{q}_ms"], raw.get(f"ttft_{q}_ms")
                point[f"ttft_{q}_overhead_ms"] = a - b if a is not None and b is not None \
                    else None

    sequential = {}
    for name, res in results["sequential"].items():
        routes = res.get("server", {}).get("routes", {})
        calls = res.get("calls")
        sequential[name] = {
            "calls": calls,
            "ms_per_call": res["wall"] / calls * 1e3 if calls and "wall" in res else None,
            "config_hits": sum(v for k, v in routes.items() if k.endswith("/config")),
            "connections": res.get("server", {}).get("connections"),
            "errors": len(res.get("errors", [])) + (1 if "error" in res else 0),
            "error_kinds": _errors(res),
        }

    imports = import_summary(results["imports"])

    replica: dict[str, Any] = {"error": results["replica"]["error"]} \
        if "error" in results["replica"] else {}
    if not replica:
        pieces = results["replica"]["pieces"]
        replica = {"pieces": pieces, "gradio": results["replica"].get("gradio")}
        for name in ("raw", "transport", "gradio_client"):
            res = dict(results["replica"][name], tokens=pieces)
            replica[name] = stream_point(res)
        for name in ("raw", "transport", "gradio_client"):
            replica[name]["ratio"] = _ratio(replica[name]["tokens_per_s"],
                                            replica["raw"]["tokens_per_s"])

    paired = paired_summary(results.get("paired"))

    summary = {"machine": results["machine"], "settings": results["settings"],
               "quick": results["quick"], "date": results["date"],
               "duration_s": results.get("duration_s"), "g4f_error": results.get("g4f_error"),
               "stream": stream, "scaling": scaling, "concurrent": concurrent,
               "sequential": sequential, "imports": imports, "replica": replica,
               "paired": paired}
    summary["targets"] = targets(summary)
    return summary


def _baseline(key: str) -> str:
    """The raw-reader row a stream row is compared with: the one on the same frames."""
    if "tuples" in key:
        return "raw (tuples layout)"
    return "raw (reasoning)" if "reasoning" in key else "raw"


#: The paired rows: (variant, plain, the raw reader of the variant's frames, of plain's).
PAIRS = (("transport+tools", "transport", "raw", "raw"),
         ("langchain+tools", "langchain", "raw", "raw"),
         ("transport+reasoning", "transport", "raw (reasoning)", "raw"),
         ("langchain+reasoning", "langchain", "raw (reasoning)", "raw"),
         ("llamaindex+reasoning", "llamaindex", "raw (reasoning)", "raw"))


def paired_summary(res: dict[str, Any] | None) -> dict[str, Any]:
    """Per variant, (variant CPU / its raw reader's) over (plain CPU / plain's raw
    reader's), from the medians over the rounds: all four were measured in one process,
    interleaved, so the machine's drift is the same for each. The same ratio round by round
    gives its spread (one call's CPU moves by a third between calls on this VM)."""
    if not res or "runs" not in res:
        return {"error": (res or {}).get("error", "not run")}
    runs, tokens = res["runs"], res.get("tokens")
    cpu = {label: [r["cpu"] if not r["error"] else None for r in rs]
           for label, rs in runs.items()}
    out: dict[str, Any] = {"rounds": res.get("rounds"), "tokens": tokens,
                           "errors": sorted({r["error"] for rs in runs.values() for r in rs
                                             if r["error"]}),
                           "cpu_us_per_token": {
                               label: _median([c / tokens * 1e6 for c in cs if c is not None])
                               if tokens else None for label, cs in cpu.items()}}
    for variant, plain, raw_v, raw_p in PAIRS:
        if variant not in cpu:
            continue
        ratios = []
        for v, p, rv, rp in zip(cpu[variant], cpu[plain], cpu[raw_v], cpu[raw_p], strict=True):
            if None not in (v, p, rv, rp) and p and rv and rp:
                ratios.append((v / rv) / (p / rp))
        med = out["cpu_us_per_token"]
        out[variant] = {"ratio": _ratio(_ratio(med[variant], med[raw_v]),
                                        _ratio(med[plain], med[raw_p])),
                        "ratios": ratios, "round_median": _median(ratios),
                        "low": min(ratios, default=None), "high": max(ratios, default=None)}
    return out


def concurrent_point(res: dict[str, Any]) -> dict[str, Any]:
    n, wall = res.get("streams"), res.get("wall")
    tokens = res.get("tokens") or 0
    return {
        "streams": n, "tokens": tokens,
        "agg_tokens_per_s": n * tokens / wall if n and wall else None,
        "ttft_p50_ms": _ms(_pct(res.get("ttft", []), 50)),
        "ttft_p99_ms": _ms(_pct(res.get("ttft", []), 99)),
        "peak_rss_kb_per_stream": ((res["rss_peak_kb"] - res["rss_before_kb"]) / n)
        if n and "rss_peak_kb" in res else None,
        "connections": res.get("server", {}).get("connections"),
        "server_cpu_s": res.get("server", {}).get("cpu_s", res.get("server_cpu_s")),
        "client_cpu_s": res.get("cpu"), "rounds": res.get("rounds", 1),
        "errors": len(res.get("errors", [])) + (1 if "error" in res else 0),
        "error_kinds": _errors(res),
    }


def import_summary(raw: dict[str, Any]) -> dict[str, Any]:
    """Wall medians over the bare interpreter, our import over the framework's, and the
    ``-X importtime`` attribution of that difference (ours / the third-party modules we
    bring)."""
    wall = raw.get("wall", raw)  # older results.json: the wall times only
    base = wall.get("(interpreter only)", {}).get("median_s", 0.0)
    rows = {m: {"statement": v.get("statement", f"import {m}"),
                "median_ms": v["median_s"] * 1e3,
                "over_interpreter_ms": (v["median_s"] - base) * 1e3}
            for m, v in wall.items()}
    overhead = {}
    for ours, (literal, framework) in raw.get("pairs", {}).items():
        if ours not in rows:
            continue
        attribution = raw.get("importtime", {}).get(ours, {})
        after = raw.get("after", {}).get(ours, {})
        overhead[ours] = {
            "framework": framework, "literal": literal,
            "after_wall_ms": after.get("wall_ms"), "after_cpu_ms": after.get("cpu_ms"),
            "over_framework_ms": _diff(rows[ours], rows.get(framework)),
            "over_literal_ms": _diff(rows[ours], rows.get(literal)),
            "own_ms": attribution.get("own_ms"), "deps_ms": attribution.get("deps_ms")}
    return {"rows": rows, "overhead": overhead}


def _diff(a: dict[str, Any] | None, b: dict[str, Any] | None) -> float | None:
    return a["median_ms"] - b["median_ms"] if a and b else None


def _ms(seconds: float | None) -> float | None:
    return seconds * 1e3 if seconds is not None else None


def targets(s: dict[str, Any]) -> list[dict[str, Any]]:
    """The targets of issue 14 ("Done when") and the earlier ones, PASS/MISS each."""
    st, sc = s["stream"], s["scaling"].get("queue", {}).get("transport", {})
    sizes = sorted(sc)
    growth = sc[sizes[-1]]["cpu_vs_smallest"] if sizes else None
    calls = s["scaling"].get("call", {})
    at = 4000 if 4000 in calls.get("transport", {}) else max(calls.get("transport", {}) or [0])
    call_ratio = _ratio(calls.get("transport", {}).get(at, {}).get("tokens_per_s"),
                        calls.get("raw", {}).get(at, {}).get("tokens_per_s"))
    seq = s["sequential"].get("transport", {})
    speedup = _ratio(st["transport"]["tokens_per_s"], st["gradio_client"]["tokens_per_s"])
    conc = s["concurrent"]
    scale = max(conc) if conc else None
    small = min(conc) if conc else None
    lc_small = conc.get(small, {}).get("langchain", {}) if small else {}

    def alike(variant: str, plain: str) -> float | None:
        """CPU per token over the limit's, ``variant`` against ``plain``: 1.0 is as cheap.
        From the paired section (side by side, round by round) when it ran; else from the
        stream table (separate processes, minutes apart)."""
        paired = s.get("paired", {}).get(variant, {}).get("ratio")
        if paired is not None:
            return float(paired)
        return _ratio(st.get(variant, {}).get("cpu_vs_limit"), st.get(plain, {}).get(
            "cpu_vs_limit"))

    def errors(n: int | None) -> int | None:
        points = [conc.get(n, {}).get(k) for k in ("transport", "langchain", "llamaindex")]
        return sum(p.get("errors", 1) for p in points if p) if any(points) else None

    rows: list[tuple[str, float | None, str, float, str, str]] = [
        ("transport throughput vs raw limit", st["transport"]["ratio"], ">= 0.95x", 0.95,
         "ge", "transport"),
        ("LangChain adapter throughput vs raw limit", st["langchain"]["ratio"], ">= 0.85x",
         0.85, "ge", "adapters"),
        ("LlamaIndex adapter throughput vs raw limit", st["llamaindex"]["ratio"], ">= 0.85x",
         0.85, "ge", "adapters"),
        (f"/call transport throughput vs the raw /call reader at {at} tokens", call_ratio,
         ">= 0.6x", 0.6, "ge", "call"),
        (f"`ChatQwenSpaces` at {small} concurrent streams vs raw limit", lc_small.get("ratio"),
         ">= 0.8x", 0.8, "ge", "concurrent_lc"),
        (f"`ChatQwenSpaces` first-text overhead p50 at {small} concurrent streams (ms)",
         lc_small.get("ttft_p50_overhead_ms"), "<= +50", 50.0, "le", "concurrent_lc"),
    ]
    for variant, plain, what in (
            ("transport+tools", "transport", "transport, one tool bound"),
            ("langchain+tools", "langchain", "LangChain, one tool bound"),
            ("transport+reasoning", "transport", "transport, reasoning stream"),
            ("langchain+reasoning", "langchain", "LangChain, reasoning stream"),
            ("llamaindex+reasoning", "llamaindex", "LlamaIndex, reasoning stream")):
        if variant in st:
            rows.append((f"{what}: CPU/token over the limit's, vs plain", alike(variant, plain),
                         "<= 1.1x", 1.1, "le",
                         "tools" if "tools" in variant else "reasoning"))
    rows += [
        (f"{scale} concurrent streams in one process: errors (transport + both adapters)",
         errors(scale), "0", 0, "le", "concurrent"),
    ]
    for ours, o in s["imports"]["overhead"].items():
        added = o["after_wall_ms"] if o.get("after_wall_ms") is not None \
            else o["over_framework_ms"]
        rows.append((f"`import {ours}` beyond the framework's (`{o['framework']}`), ms",
                     added, "<= 100", 100.0, "le", "imports"))
    rows += [
        ("transport throughput vs gradio_client", speedup, ">= 3x", 3.0, "ge",
         "gradio_client"),
        ("`qwen-spaces api` process CPU/token vs the core transport's",
         _ratio(st.get("openai-endpoint", {}).get("server_cpu_us_per_token"),
                st["transport"]["cpu_us_per_token"]), "<= 2x", 2.0, "le", "endpoint"),
        (f"transport CPU/token at {sizes[-1] if sizes else '?'} vs {sizes[0] if sizes else '?'}"
         " tokens (queue)", growth, "<= 1.3x", 1.3, "le", "scaling"),
    ]
    rows += [(f"{n} concurrent streams: errors (transport + both adapters)", errors(n), "0", 0,
              "le", "concurrent") for n in sorted(conc) if n != scale]
    rows += [
        (f"TCP connections for {seq.get('calls')} sequential calls (transport)",
         seq.get("connections"), "<= 8", 8, "le", "connections"),
        (f"/config fetches for {seq.get('calls')} sequential calls (transport)",
         seq.get("config_hits"), "1", 1, "le", "discovery"),
    ]
    out = []
    for name, value, shown, limit, how, why in rows:
        ok = value is not None and (value >= limit if how == "ge" else value <= limit)
        out.append({"target": name, "value": value, "threshold": shown, "pass": ok,
                    "why": None if ok else _why(why, s)})
    return out


# -- markdown --------------------------------------------------------------------------------
def _f(x: Any, fmt: str = "{:,.0f}") -> str:
    if x is None:
        return "-"
    if isinstance(x, float) and math.isnan(x):
        return "-"
    return fmt.format(x)


def _table(head: list[str], rows: list[list[str]]) -> str:
    lines = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    lines += ["| " + " | ".join(r) + " |" for r in rows]
    return "\n".join(lines)


def _err(errors: list[str]) -> str:
    return "; ".join(e.replace("|", "/") for e in errors)[:160] or "none"


def markdown(s: dict[str, Any], plot: str | None) -> str:
    m, cfg = s["machine"], s["settings"]
    v = ", ".join(f"{k} {x}" for k, x in m["versions"].items() if x)
    out = [
        "# qwen-spaces benchmarks" + (" (quick run)" if s["quick"] else ""), "",
        f"Run {s['date']}, {_f(s['duration_s'])} s. Machine: {m['cpu']}, {m['cores']} cores, "
        f"{m['memory_gib']} GiB, Python {m['python']}, {m['platform']}. Versions: {v}.", "",
        f"Code: commit {m['code']['commit']}"
        + (f", with uncommitted changes in {', '.join(m['code']['dirty'])}"
           if m["code"]["dirty"] else "") + f" (sources sha256 {m['code']['sha256']}).", "",
        "All numbers come from this one run: medians of the repeats of each point; ratios "
        "are contender / raw limit on the same workload. Server: `benchmarks/server.py`, "
        "protocol-exact Gradio 6.31 frames at socket speed, in its own process.", "",
        "## Targets", "",
        _table(["target", "measured", "target", "result"], [
            [t["target"], _f(t["value"], "{:,.2f}") if isinstance(t["value"], float)
             else _f(t["value"]), t["threshold"], "PASS" if t["pass"] else "**MISS**"]
            for t in s["targets"]]),
    ]
    misses = [t for t in s["targets"] if not t["pass"]]
    if misses:
        out += ["", "Why the misses, and what would close them:", ""]
        seen: set[str] = set()
        for t in misses:
            if t["why"] not in seen:
                seen.add(t["why"])
                out.append(f"* **{t['target']}**: {t['why']}")

    st = s["stream"]
    out += ["", f"## One stream of {cfg['stream_tokens']:,} tokens (queue protocol, diffs)", "",
            _table(["contender", "tokens/s", "x limit", "CPU µs/token", "CPU x limit",
                    "first text ms", "pieces delivered", "runs", "errors"],
                   [[TITLES.get(k, k), _f(p["tokens_per_s"]), _f(p["ratio"], "{:.2f}"),
                     _f(p["cpu_us_per_token"], "{:.1f}"), _f(p["cpu_vs_limit"], "{:.2f}"),
                     _f(p["ttft_ms"], "{:.1f}"), _f(p["pieces"]), str(p["runs"]),
                     _err(p["errors"])]
                    for k, p in st.items()]),
            "", "Ratios are against the raw reader on the same frames: the tuples rows "
            "against the tuples-layout reader, the reasoning rows against the reader of the "
            "reasoning stream (Qwen3-Demo's frames: the thinking panel, then the answer, "
            f"half of the {cfg['stream_tokens']:,} tokens each)."]
    if cfg.get("stream_rounds", 1) > 1:
        out += ["", f"The fast contenders ran in {cfg['stream_rounds']} rounds of "
                f"{cfg['repeats']} runs, every contender in turn in each round, and each row is "
                "the median of its pooled runs: this VM's speed drifts over a minute, and rows "
                "measured a minute apart would compare the drift."]
    out += endpoint_section(s)
    out += paired_section(s)
    if s.get("g4f_error"):
        out += ["", f"g4f: {s['g4f_error']}"]
    out += ["", "The g4f provider was written for the Gradio 4/5 *tuples* chatbot: on Gradio "
            "6 frames it streams nothing (it drops every diff, whose second element is a "
            "path) and fails at `process_completed` (`output_data[1][0][1]` on a message "
            "dict). The tuples-layout rows serve it the same stream in the layout it parses; "
            "even there it delivers the first token and then the whole rest at the end "
            "(2 pieces), so it does not stream. Raw-limit frames per token are the same."]

    out += ["", "## Reply-length scaling", "",
            "Queue protocol: one append diff per token (cost should stay flat). `/call` "
            "protocol: the whole value per token (inherently quadratic in bytes).", ""]
    rows = []
    for protocol, names in s["scaling"].items():
        for name, points in names.items():
            for tokens, p in sorted(points.items()):
                rows.append([protocol, TITLES.get(name, name), f"{tokens:,}",
                             _f(p["tokens_per_s"]), _f(p["cpu_us_per_token"], "{:.1f}"),
                             _f(p["cpu_vs_smallest"], "{:.2f}"), _err(p["errors"])])
    out.append(_table(["protocol", "contender", "tokens", "tokens/s", "CPU µs/token",
                       "CPU/token vs smallest", "errors"], rows))
    if plot:
        out += ["", f"![per-token CPU vs reply length]({plot})"]

    for n, points in sorted(s["concurrent"].items()):
        tokens = next(iter(points.values()), {}).get("tokens") or cfg["concurrent_tokens"]
        rounds = max((p.get("rounds") or 1 for p in points.values()), default=1)
        each = f"; the median of {rounds} rounds" if rounds > 1 else ""
        out += ["", f"## {n:,} concurrent streams in one process ({tokens:,} tokens each{each})",
                "", _table(["contender", "aggregate tokens/s", "x limit",
                            "first text p50 / p99 ms", "overhead vs limit p50 / p99 ms",
                            "peak RSS / stream KiB", "TCP connections",
                            "client / server CPU s", "errors"],
                           [[TITLES.get(k, k), _f(p["agg_tokens_per_s"]),
                             _f(p["ratio"], "{:.2f}"),
                             f"{_f(p['ttft_p50_ms'], '{:.0f}')} / "
                             f"{_f(p['ttft_p99_ms'], '{:.0f}')}",
                             f"{_f(p['ttft_p50_overhead_ms'], '{:+.0f}')} / "
                             f"{_f(p['ttft_p99_overhead_ms'], '{:+.0f}')}",
                             _f(p["peak_rss_kb_per_stream"], "{:.0f}"), _f(p["connections"]),
                             f"{_f(p['client_cpu_s'], '{:.1f}')} / "
                             f"{_f(p['server_cpu_s'], '{:.1f}')}",
                             str(p["errors"])
                             + (f" ({_err(p['error_kinds'])})" if p["errors"] else "")]
                            for k, p in points.items()])]

    out += ["", f"## {cfg['sequential_calls']} sequential calls "
            f"({cfg['sequential_tokens']} tokens each, one client)", "",
            _table(["contender", "ms / call", "/config fetches", "TCP connections (server side)",
                    "errors"],
                   [[TITLES.get(k, k), _f(p["ms_per_call"], "{:.2f}"), _f(p["config_hits"]),
                     _f(p["connections"]),
                     str(p["errors"]) + (f" ({_err(p['error_kinds'])})" if p["errors"] else "")]
                    for k, p in s["sequential"].items()])]

    imp = s["imports"]
    out += ["", f"## Cold import (fresh interpreter, median of {cfg['import_runs']})", "",
            _table(["statement", "wall ms", "over bare interpreter ms"],
                   [[f"`{p['statement']}`" if p["statement"] != "pass"
                     else "(interpreter only)", _f(p["median_ms"]),
                     _f(p["over_interpreter_ms"])] for p in imp["rows"].values()])]
    if imp["overhead"]:
        out += ["", "Bytecode cached, as an installed package has it. Our import over the "
                "framework's: timed in one interpreter right after the base class our "
                "model subclasses (the framework's share; wall and CPU), and as differences "
                "of the medians above, to that base class and to the module issue 14 names "
                "(`langchain_core.language_models` is lazy in langchain-core 1.x: it loads "
                "almost nothing until a class is taken from it). The last two columns split "
                "the addition by `python -X importtime` (self times, median of the runs): "
                "our own modules, and the third-party modules we bring.", "",
                _table(["import", "after the base class, wall / CPU ms",
                        "median difference to the base class ms",
                        "median difference to the named module ms",
                        "our modules ms", "third-party modules we bring ms"],
                       [[f"`{k}` (base: `{o['framework']}`; named: `{o['literal']}`)",
                         f"{_f(o.get('after_wall_ms'))} / {_f(o.get('after_cpu_ms'))}",
                         _f(o["over_framework_ms"]), _f(o["over_literal_ms"]),
                         _f(o["own_ms"]), _f(o["deps_ms"])]
                        for k, o in imp["overhead"].items()])]

    rep = s["replica"]
    out += ["", "## Context: a real Gradio 6 replica (measures Gradio, not the client)", ""]
    if "error" in rep:
        out.append(f"Not run: {rep['error']}")
    else:
        out += [f"`qwen_spaces.replica` `qwen-2.5-max` on Gradio {rep['gradio']}, "
                f"`token_delay=0`, `/echo` of {rep['pieces']:,} pieces.", "",
                _table(["contender", "pieces/s", "x raw", "CPU µs/piece", "first text ms",
                        "errors"],
                       [[TITLES.get(k, k), _f(rep[k]["tokens_per_s"]),
                         _f(rep[k]["ratio"], "{:.2f}"), _f(rep[k]["cpu_us_per_token"], "{:.1f}"),
                         _f(rep[k]["ttft_ms"], "{:.1f}"), _err(rep[k]["errors"])]
                        for k in ("raw", "transport", "gradio_client")])]
    return "\n".join(out) + "\n"


def paired_section(s: dict[str, Any]) -> list[str]:
    pr = s.get("paired") or {}
    if "error" in pr or not pr:
        return ["", "### Tools and reasoning against plain, side by side", "",
                f"Not run: {pr.get('error', 'no data')}"]
    cpu = pr["cpu_us_per_token"]
    rows = []
    for variant, plain, raw_v, raw_p in PAIRS:
        point = pr.get(variant)
        if not point:
            continue
        rows.append([TITLES.get(variant, variant), _f(cpu.get(variant), "{:.2f}"),
                     _f(cpu.get(plain), "{:.2f}"),
                     f"{_f(cpu.get(raw_v), '{:.2f}')} / {_f(cpu.get(raw_p), '{:.2f}')}",
                     _f(point["ratio"], "{:.2f}"),
                     f"{_f(point['low'], '{:.2f}')} to {_f(point['high'], '{:.2f}')}"])
    return ["", "### Tools and reasoning against plain, side by side", "",
            f"All ten contenders in one client process, {pr['rounds']} rounds of one "
            f"{pr['tokens']:,}-token stream each, in turn. CPU µs/token is the median over "
            "the rounds; the ratio, the target's figure, is (variant / its raw reader) / "
            "(plain / plain's raw reader) of those medians. The same ratio taken round by "
            "round gives the last column: one call's CPU moves by a third from call to call "
            "on this VM, so single rounds scatter."
            + (f" Errors: {_err(pr['errors'])}." if pr["errors"] else ""), "",
            _table(["variant", "CPU µs/token", "plain", "raw readers (variant / plain)",
                    "ratio", "lowest to highest round"], rows)]


def endpoint_section(s: dict[str, Any]) -> list[str]:
    """The OpenAI endpoint's own process beside the core transport, on the same stream."""
    st = s["stream"]
    point, core = st.get("openai-endpoint"), st["transport"]
    if not point or point["server_cpu_us_per_token"] is None:
        return []
    runs = point["server_cpu_runs"]
    spread = f"{min(runs):.1f} to {max(runs):.1f}" if runs else "-"
    core_runs = [r for r in (core.get("cpu_runs") or []) if r is not None]
    core_spread = f"{min(core_runs):.1f} to {max(core_runs):.1f}" if core_runs else "-"
    ttft = point["ttft_ms"]
    overhead = ttft - core["ttft_ms"] if ttft is not None and core["ttft_ms"] is not None \
        else None
    return [
        "", "### The OpenAI-compatible endpoint (`qwen-spaces api`)", "",
        "`qwen-spaces api` runs in its own process, pointed at the benchmark server, and the "
        "client streams through the official openai SDK (`AsyncOpenAI`, `stream=True`). The "
        "endpoint process's CPU is read from `/proc/<pid>/task/*/schedstat` around each run "
        "(all its threads, ns resolution); the transport's is its client process's "
        "`time.process_time()` on the same stream.", "",
        _table(["process", "CPU µs/token, median", "lowest to highest run", "first text ms"], [
            ["`qwen-spaces api` (core transport + OpenAI encoding + HTTP server)",
             _f(point["server_cpu_us_per_token"], "{:.1f}"), spread,
             _f(ttft, "{:.1f}")],
            ["core transport alone (`SpaceClient.astream`)",
             _f(core["cpu_us_per_token"], "{:.1f}"), core_spread, _f(core["ttft_ms"], "{:.1f}")],
            ["the openai SDK client reading the endpoint's stream",
             _f(point["cpu_us_per_token"], "{:.1f}"), "-", "-"]]),
        "", f"Endpoint / transport CPU per token: "
        f"{_f(_ratio(point['server_cpu_us_per_token'], core['cpu_us_per_token']), '{:.2f}')}x "
        f"(goal <= 2x). First-text overhead over the transport: "
        f"{_f(overhead, '{:+.1f}')} ms (an HTTP request to the endpoint, its job start, "
        f"the chunk encoding and the SDK's parsing). The endpoint sends "
        f"{_f(point['pieces'])} chunks for {point['tokens']:,} tokens: the core coalesces "
        "the deltas of one socket read, and the endpoint sends one chunk per delta."]


# -- plot --------------------------------------------------------------------------------
def plot(s: dict[str, Any], path: Path) -> str | None:
    """Per-token CPU against reply length, both protocols; None without matplotlib."""
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        return None
    fig, ax = plt.subplots(figsize=(8, 4.5))
    colors: dict[str, str] = {}
    for protocol, names in s["scaling"].items():
        for name, points in names.items():
            xs = sorted(points)
            ys = [points[x]["cpu_us_per_token"] for x in xs]
            color = colors.setdefault(name, f"C{len(colors)}")
            ax.plot(xs, ys, marker="o", color=color,
                    linestyle="-" if protocol == "queue" else "--",
                    label=f"{name} ({'queue diffs' if protocol == 'queue' else '/call'})")
    ax.set_xscale("log")
    ax.set_yscale("log")
    ax.set_xlabel("reply length (tokens)")
    ax.set_ylabel("client CPU per token (µs)")
    ax.set_title("Per-token client CPU vs reply length (queue diffs vs /call full values)")
    ax.grid(True, which="both", alpha=0.3)
    ax.legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path.name
