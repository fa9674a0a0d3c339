"""Statistics and report writers of the evaluation harness (``python -m compiler_interrupts bench``).

Everything here is a pure function of the raw run records that :mod:`.harness` collects, so the
reports can be regenerated from ``results.json`` alone (``python -m
compiler_interrupts.bench.report results.json`` rewrites results.csv and summary.md).

Definitions (the paper's, Basu et al. PLDI'21, section 6):

* *overhead* of design D on a program = ``t_D / t_none - 1`` where ``t`` is the median (or, as a
  second figure, the minimum) wall time over the runs; ``none`` is the same compiler pipeline
  without probes and with the same autostart handler, so binaries differ only in the probes.
* *interval* = TSC cycles between the end of one handler call and the start of the next on a
  thread, as recorded by ``ci_autostart.o`` (``CI_INTERVAL_LOG``); percentiles pool the samples
  of all threads of one designated run.
* summary per design: median and geometric mean (of the ratios) of the overheads over programs,
  the worst program, the medians over programs of the per-program p50 and p90 intervals, and the
  fraction of programs whose p50 is within +-5% of the target and whose p90 is <= 1.3x target.
"""

from __future__ import annotations

import csv
import json
import math
import statistics
import sys
from pathlib import Path
from typing import Any, Iterable, Mapping, Sequence

#: Interval percentiles reported per program x design x threads.
PERCENTILES = (1, 5, 10, 30, 50, 70, 90, 95, 99)

#: p50 counts as "on target" within this relative distance of the target...
P50_TOLERANCE = 0.05
#: ... and the p90 as "tight" at or below this multiple of it.
P90_LIMIT = 1.3

CSV_FIELDS = (
    "program", "design", "threads", "runs", "ok_runs",
    "wall_min", "wall_median", "wall_max", "spread",
    "region_min", "region_median", "region_max",
    "overhead_median", "overhead_min", "region_overhead_median",
    "handler_calls_per_s", "handler_calls",
    *(f"interval_p{p}" for p in PERCENTILES),
    "interval_samples", "target_cycles", "mismatch",
)


# --------------------------------------------------------------------------------------------
# statistics helpers


def percentile(sorted_values: Sequence[float], p: float) -> float:
    """The ``p``-th percentile (0..100) of already sorted values, linearly interpolated between
    closest ranks (numpy's default).  ValueError on an empty sequence."""
    n = len(sorted_values)
    if n == 0:
        raise ValueError("percentile of an empty sequence")
    if not 0 <= p <= 100:
        raise ValueError(f"percentile {p} outside 0..100")
    pos = (n - 1) * p / 100.0
    lo = math.floor(pos)
    hi = min(lo + 1, n - 1)
    frac = pos - lo
    return float(sorted_values[lo]) + (float(sorted_values[hi]) - float(sorted_values[lo])) * frac


def percentiles(values: Iterable[float], ps: Sequence[float] = PERCENTILES) -> dict[str, float]:
    """``{"p1": ..., "p50": ...}`` of ``values`` (any order); empty dict for no values.

    Uses numpy when it is importable (a million samples sort in milliseconds), else sorted().
    """
    try:
        import numpy as np
    except ImportError:
        np = None
    if np is not None:
        arr = np.asarray(values if isinstance(values, (list, tuple)) else list(values),
                         dtype=np.float64)
        if arr.size == 0:
            return {}
        qs = np.percentile(arr, list(ps))
        return {f"p{_pname(p)}": float(q) for p, q in zip(ps, qs)}
    s = sorted(values)
    if not s:
        return {}
    return {f"p{_pname(p)}": percentile(s, p) for p in ps}


def _pname(p: float) -> str:
    return str(int(p)) if float(p).is_integer() else str(p)


def geomean(values: Iterable[float]) -> float:
    """Geometric mean of positive values; ValueError if empty or any value <= 0."""
    vals = list(values)
    if not vals:
        raise ValueError("geomean of an empty sequence")
    if any(v <= 0 for v in vals):
        raise ValueError("geomean needs positive values")
    return math.exp(sum(math.log(v) for v in vals) / len(vals))


def overhead(t: float | None, base: float | None) -> float | None:
    """Relative overhead ``t / base - 1`` (0.10 == +10%); None if either is missing or
    ``base`` is not positive."""
    if t is None or base is None or base <= 0:
        return None
    return t / base - 1.0


def geomean_overhead(overheads: Iterable[float]) -> float | None:
    """Geometric mean of the ratios ``1 + o``, minus 1; None for no values."""
    ratios = [1.0 + o for o in overheads if o is not None]
    if not ratios:
        return None
    return geomean(ratios) - 1.0


def spread(values: Sequence[float]) -> float | None:
    """max/min - 1 of positive values (the noise of a set of runs); None if undefined."""
    if not values or min(values) <= 0:
        return None
    return max(values) / min(values) - 1.0


def _median(values: Sequence[float]) -> float | None:
    return statistics.median(values) if values else None


# --------------------------------------------------------------------------------------------
# cells: one per program x design x threads


def cell_key(program: str, design: str, threads: int) -> str:
    return f"{program}/{design}/{threads}"


def compute_cells(runs: Sequence[Mapping[str, Any]], designs: Sequence[str], baseline: str,
                  target: int | None) -> list[dict[str, Any]]:
    """Aggregate raw run records (see :mod:`.harness`) into per program x design x threads
    statistics, including the overhead against ``baseline`` of the same program and threads."""
    groups: dict[tuple[str, str, int], list[Mapping[str, Any]]] = {}
    order: list[tuple[str, str, int]] = []
    for r in runs:
        if r.get("phase", "main") != "main":
            continue
        k = (r["program"], r["design"], int(r["threads"]))
        if k not in groups:
            groups[k] = []
            order.append(k)
        groups[k].append(r)

    cells: dict[tuple[str, str, int], dict[str, Any]] = {}
    for k in order:
        rs = groups[k]
        ok = [r for r in rs if r.get("ok")]
        walls = [r["wall"] for r in ok]
        regions = [r["region"] for r in ok if r.get("region") is not None]
        rates = [r["handler_calls"] / r["wall"] for r in ok
                 if r.get("handler_calls") is not None and r["wall"] > 0]
        calls = [r["handler_calls"] for r in ok if r.get("handler_calls") is not None]
        logged = [r for r in ok if r.get("intervals")]
        intervals = dict(logged[0]["intervals"]) if logged else {}
        samples = logged[0].get("interval_samples", 0) if logged else 0
        cells[k] = {
            "program": k[0], "design": k[1], "threads": k[2],
            "runs": len(rs), "ok_runs": len(ok),
            "wall_min": min(walls) if walls else None,
            "wall_median": _median(walls),
            "wall_max": max(walls) if walls else None,
            "spread": spread(walls),
            "region_min": min(regions) if regions else None,
            "region_median": _median(regions),
            "region_max": max(regions) if regions else None,
            "handler_calls_per_s": _median(rates),
            "handler_calls": _median(calls),
            "intervals": intervals,
            "interval_samples": samples,
            "target_cycles": target,
            "mismatch": any(r.get("mismatch") for r in rs),
        }
    for (prog, design, threads), c in cells.items():
        base = cells.get((prog, baseline, threads))
        if design == baseline or base is None:
            c["overhead_median"] = c["overhead_min"] = c["region_overhead_median"] = None
            continue
        c["overhead_median"] = overhead(c["wall_median"], base["wall_median"])
        c["overhead_min"] = overhead(c["wall_min"], base["wall_min"])
        c["region_overhead_median"] = overhead(c["region_median"], base["region_median"])
    design_rank = {d: i for i, d in enumerate(designs)}
    return sorted(cells.values(),
                  key=lambda c: (c["threads"], _first_index(order, c["program"]),
                                 design_rank.get(c["design"], 99)))


def _first_index(order: Sequence[tuple[str, str, int]], program: str) -> int:
    for i, k in enumerate(order):
        if k[0] == program:
            return i
    return len(order)


def interval_on_target(intervals: Mapping[str, float], target: int) -> tuple[bool, bool] | None:
    """(p50 within +-5% of target, p90 <= 1.3x target), or None without samples."""
    if not intervals or "p50" not in intervals or "p90" not in intervals or not target:
        return None
    p50_ok = abs(intervals["p50"] - target) <= P50_TOLERANCE * target
    p90_ok = intervals["p90"] <= P90_LIMIT * target
    return p50_ok, p90_ok


def summarize(cells: Sequence[Mapping[str, Any]], designs: Sequence[str], baseline: str,
              target: int | None) -> list[dict[str, Any]]:
    """One summary row per design x threads (the baseline included, with no overhead)."""
    out = []
    threads_list = sorted({int(c["threads"]) for c in cells})
    for threads in threads_list:
        for design in designs:
            cs = [c for c in cells if c["design"] == design and c["threads"] == threads]
            if not cs:
                continue
            ovh = [c["overhead_median"] for c in cs if c.get("overhead_median") is not None]
            ovh_min = [c["overhead_min"] for c in cs if c.get("overhead_min") is not None]
            worst = max((c for c in cs if c.get("overhead_median") is not None),
                        key=lambda c: c["overhead_median"], default=None)
            with_iv = [c for c in cs if c.get("intervals")]
            p50s = [c["intervals"]["p50"] for c in with_iv]
            p90s = [c["intervals"]["p90"] for c in with_iv]
            flags = [interval_on_target(c["intervals"], target or 0) for c in with_iv]
            flags = [f for f in flags if f is not None]
            rates = [c["handler_calls_per_s"] for c in cs if c.get("handler_calls_per_s")]
            out.append({
                "design": design,
                "threads": threads,
                "programs": len(cs),
                "median_overhead": _median(ovh),
                "geomean_overhead": geomean_overhead(ovh),
                "min_overhead": min(ovh) if ovh else None,
                "max_overhead": max(ovh) if ovh else None,
                "median_overhead_min_times": _median(ovh_min),
                "worst_program": worst["program"] if worst else None,
                "worst_overhead": worst["overhead_median"] if worst else None,
                "median_handler_calls_per_s": _median(rates),
                "programs_with_intervals": len(with_iv),
                "median_p50": _median(p50s),
                "median_p90": _median(p90s),
                "min_p50": min(p50s) if p50s else None,
                "max_p50": max(p50s) if p50s else None,
                "frac_p50_on_target": (sum(f[0] for f in flags) / len(flags)) if flags else None,
                "frac_p90_tight": (sum(f[1] for f in flags) / len(flags)) if flags else None,
                "noise_median_spread": _median([c["spread"] for c in cs
                                                if c.get("spread") is not None]),
                "noise_max_spread": max((c["spread"] for c in cs if c.get("spread") is not None),
                                        default=None),
            })
    return out


def sweep_table(runs: Sequence[Mapping[str, Any]], baseline: str) -> list[dict[str, Any]]:
    """Rows of the interval sweep: per interval x program x design, the overhead of the median
    wall time against the baseline of the same interval, and the achieved interval p50/p90."""
    groups: dict[tuple[int, str, str, int], list[Mapping[str, Any]]] = {}
    for r in runs:
        if r.get("phase") != "sweep":
            continue
        k = (int(r["cycles"]), r["program"], r["design"], int(r["threads"]))
        groups.setdefault(k, []).append(r)
    rows = []
    for (cyc, prog, design, threads), rs in sorted(groups.items()):
        ok = [r for r in rs if r.get("ok")]
        walls = [r["wall"] for r in ok]
        base = groups.get((cyc, prog, baseline, threads), [])
        base_walls = [r["wall"] for r in base if r.get("ok")]
        logged = [r for r in ok if r.get("intervals")]
        iv = logged[0]["intervals"] if logged else {}
        rows.append({
            "cycles": cyc, "program": prog, "design": design, "threads": threads,
            "runs": len(rs), "ok_runs": len(ok),
            "wall_median": _median(walls),
            "overhead_median": (None if design == baseline
                                else overhead(_median(walls), _median(base_walls))),
            "interval_p50": iv.get("p50"), "interval_p90": iv.get("p90"),
            "handler_calls_per_s": _median([r["handler_calls"] / r["wall"] for r in ok
                                            if r.get("handler_calls") is not None
                                            and r["wall"] > 0]),
        })
    return rows


# --------------------------------------------------------------------------------------------
# writers


def write_json(path: Path, results: Mapping[str, Any]) -> None:
    tmp = path.with_suffix(".json.tmp")
    tmp.write_text(json.dumps(results, indent=1, sort_keys=False, default=str) + "\n")
    tmp.replace(path)


def write_csv(path: Path, cells: Sequence[Mapping[str, Any]]) -> None:
    with open(path, "w", newline="") as f:
        w = csv.DictWriter(f, fieldnames=CSV_FIELDS)
        w.writeheader()
        for c in cells:
            row = {k: c.get(k) for k in CSV_FIELDS}
            for p in PERCENTILES:
                row[f"interval_p{p}"] = (c.get("intervals") or {}).get(f"p{p}")
            w.writerow({k: _csv_value(v) for k, v in row.items()})


def _csv_value(v: Any) -> Any:
    if v is None:
        return ""
    if isinstance(v, float):
        return f"{v:.6g}"
    return v


def pct(v: float | None, digits: int = 1) -> str:
    """+12.3% style; empty for None."""
    return "" if v is None else f"{v * 100:+.{digits}f}%"


def _secs(v: float | None) -> str:
    if v is None:
        return ""
    return f"{v:.2f}" if v >= 1 else f"{v:.3f}" if v >= 0.1 else f"{v:.4f}"


def _cycles(v: float | None) -> str:
    return "" if v is None else f"{v:,.0f}"


def _rate(v: float | None) -> str:
    return "" if v is None else f"{v:,.0f}"


def _frac(v: float | None, n: int) -> str:
    return "" if v is None else f"{round(v * n)}/{n} ({v * 100:.0f}%)"


def markdown(results: Mapping[str, Any]) -> str:
    """summary.md: per-threads tables in the shape of shared/anchors/reference-ci.md, the
    summary per design, the sweep, mismatches and failures."""
    meta = results.get("meta", {})
    cells = results.get("cells", [])
    summary = results.get("summary", [])
    baseline = meta.get("baseline", "none")
    target = meta.get("cycles")
    lines: list[str] = []
    lines.append("# Compiler Interrupts evaluation")
    lines.append("")
    lines.append(
        f"{meta.get('date', '')}, {meta.get('machine', {}).get('cpu', '?')} "
        f"({meta.get('machine', {}).get('cores', '?')} cores), commit "
        f"{meta.get('commit', '?')}. Designs {', '.join(meta.get('designs', []))}; target "
        f"interval {target} cycles (`ci-cc -O2 --ci-design=D --ci-autostart={target}`, the same "
        f"autostart handler in every binary); size `{meta.get('size')}`; {meta.get('runs')} "
        f"interleaved runs per program x design x threads; wall time of the whole process. "
        f"Overheads are against `{baseline}` (same pipeline, no probes): ratio of medians and "
        f"ratio of minimums. Intervals: TSC cycles between handler calls, all threads of one "
        f"designated run (run {meta.get('interval_run', 0) + 1}), first "
        f"{meta.get('max_samples_per_thread', 1 << 20):,} samples per thread."
    )
    if "signal" in meta.get("designs", []):
        lines.append("")
        lines.append(
            f"`signal` is the timer-interrupt baseline (per-thread POSIX timer, one-shot re-armed "
            f"after each handler call); its period is never below CI_SIGNAL_MIN_NS = "
            f"{meta.get('signal_min_ns')} ns ({_cycles(meta.get('signal_min_cycles'))} cycles "
            f"at the calibrated TSC), so a shorter target is served at that floor.")
    threads_list = sorted({int(c["threads"]) for c in cells})
    for threads in threads_list:
        lines.append("")
        lines.append(f"### {threads} thread{'s' if threads != 1 else ''}")
        lines.append("")
        lines.append(
            f"| program | design | wall s min / med / max | spread | ovh vs {baseline} "
            f"(med / min) | region-time ovh (med) | handler calls/s | "
            f"interval cycles p10 / p50 / p90 |")
        lines.append("|---|---|---|---|---|---|---|---|")
        for c in cells:
            if c["threads"] != threads:
                continue
            iv = c.get("intervals") or {}
            ivs = (f"{_cycles(iv.get('p10'))} / {_cycles(iv.get('p50'))} / "
                   f"{_cycles(iv.get('p90'))}" if iv else "")
            ovh = (f"{pct(c.get('overhead_median'))} / {pct(c.get('overhead_min'))}"
                   if c.get("overhead_median") is not None else "")
            wall = (f"{_secs(c['wall_min'])} / {_secs(c['wall_median'])} / "
                    f"{_secs(c['wall_max'])}" if c.get("wall_median") is not None else "FAILED")
            flag = " **MISMATCH**" if c.get("mismatch") else ""
            failed = c["runs"] - c["ok_runs"]
            if failed and c.get("wall_median") is not None:
                flag += f" ({failed} failed run{'s' if failed > 1 else ''})"
            rate = _rate(c.get("handler_calls_per_s")) if c["design"] != baseline else ""
            spr = "" if c.get("spread") is None else f"{c['spread'] * 100:.0f}%"
            lines.append(
                f"| {c['program']} | {c['design']}{flag} | {wall} | {spr} | {ovh} | "
                f"{pct(c.get('region_overhead_median'))} | {rate} | {ivs} |")
        lines.append("")
        for s in summary:
            if s["threads"] != threads:
                continue
            lines.extend(_summary_bullets(s, baseline, target))
    lines.append("")
    lines.append("## Summary")
    lines.append("")
    lines.append(
        f"| design | threads | programs | median ovh | geomean ovh | worst program | "
        f"median handler calls/s | median p50 | median p90 | p50 within ±5% of "
        f"{_cycles(target)} | p90 ≤ {P90_LIMIT}× target |")
    lines.append("|---|---|---|---|---|---|---|---|---|---|---|")
    for s in summary:
        n = s.get("programs_with_intervals", 0)
        worst = (f"{s['worst_program']} ({pct(s['worst_overhead'])})"
                 if s.get("worst_program") else "")
        lines.append(
            f"| {s['design']} | {s['threads']} | {s['programs']} | {pct(s['median_overhead'])} "
            f"| {pct(s['geomean_overhead'])} | {worst} | "
            f"{_rate(s.get('median_handler_calls_per_s'))} | {_cycles(s.get('median_p50'))} | "
            f"{_cycles(s.get('median_p90'))} | {_frac(s.get('frac_p50_on_target'), n)} | "
            f"{_frac(s.get('frac_p90_tight'), n)} |")
    sweep = results.get("sweep_rows") or []
    if sweep:
        lines.append("")
        lines.append("## Overhead vs interval (sweep)")
        lines.append("")
        lines.append("| target cycles | program | design | ovh (med) | achieved p50 | achieved p90 "
                     "| handler calls/s |")
        lines.append("|---|---|---|---|---|---|---|")
        for r in sweep:
            if r["design"] == baseline:
                continue
            lines.append(
                f"| {_cycles(r['cycles'])} | {r['program']} | {r['design']} | "
                f"{pct(r['overhead_median'])} | {_cycles(r['interval_p50'])} | "
                f"{_cycles(r['interval_p90'])} | {_rate(r['handler_calls_per_s'])} |")
    problems = results.get("mismatches", []) + results.get("failures", [])
    lines.append("")
    lines.append("## Output checks")
    lines.append("")
    if not problems:
        lines.append(f"All outputs (checksum lines) agree with `{baseline}` for every program and "
                     f"thread count; no run failed.")
    for m in results.get("mismatches", []):
        lines.append(f"- **MISMATCH** {m['program']} threads={m['threads']} {m['design']}: "
                     f"{m['output']!r} != {baseline} {m['expected']!r}")
    for f in results.get("failures", []):
        lines.append(f"- **FAILED** {f['program']} threads={f['threads']} {f['design']} "
                     f"({f.get('phase', 'main')}): {f['error']}")
    for w in results.get("warnings", []):
        lines.append(f"- warning: {w}")
    dur = meta.get("duration_s")
    if dur:
        lines.append("")
        lines.append(f"Total time {dur / 60:.1f} min (builds {meta.get('build_s', 0):.0f} s).")
    lines.append("")
    return "\n".join(lines)


def _summary_bullets(s: Mapping[str, Any], baseline: str, target: int | None) -> list[str]:
    out = []
    d, t, n = s["design"], s["threads"], s["programs"]
    if s.get("median_overhead") is not None:
        out.append(
            f"- **{d} vs {baseline}, {t} thread(s), {n} programs**: median overhead = "
            f"**{pct(s['median_overhead'])}** (ratio of medians; range {pct(s['min_overhead'])} "
            f".. {pct(s['max_overhead'])}); geometric mean {pct(s['geomean_overhead'])}; using "
            f"min-of-N times: median {pct(s['median_overhead_min_times'])}; worst "
            f"{s['worst_program']} ({pct(s['worst_overhead'])})")
    if s.get("median_p50") is not None:
        k = s["programs_with_intervals"]
        out.append(
            f"- **{d} interval, {t} thread(s), {k} programs**: median over programs of the "
            f"per-program median interval = **{_cycles(s['median_p50'])} cycles** (programs "
            f"range {_cycles(s['min_p50'])}..{_cycles(s['max_p50'])}); median p90 = "
            f"{_cycles(s['median_p90'])} cycles; p50 within ±5% of {_cycles(target)}: "
            f"{_frac(s['frac_p50_on_target'], k)}; p90 ≤ {P90_LIMIT}× target: "
            f"{_frac(s['frac_p90_tight'], k)}")
    if d == baseline and s.get("noise_median_spread") is not None:
        out.append(
            f"- noise ({baseline}, {t} thread(s)): per-program spread max/min-1 over the runs: "
            f"median {s['noise_median_spread'] * 100:.0f}%, max {s['noise_max_spread'] * 100:.0f}%")
    return out


def regenerate(results_path: Path) -> dict[str, Any]:
    """Recompute cells and summary from the raw runs of a results.json and rewrite results.csv
    and summary.md next to it (results.json itself is rewritten with the new aggregates)."""
    results = json.loads(Path(results_path).read_text())
    meta = results["meta"]
    results["cells"] = compute_cells(results["runs"], meta["designs"], meta["baseline"],
                                     meta["cycles"])
    results["summary"] = summarize(results["cells"], meta["designs"], meta["baseline"],
                                   meta["cycles"])
    results["sweep_rows"] = sweep_table(results["runs"], meta["baseline"])
    out = Path(results_path).parent
    write_json(out / "results.json", results)
    write_csv(out / "results.csv", results["cells"])
    (out / "summary.md").write_text(markdown(results))
    return results


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    if len(argv) != 1:
        print("usage: python -m compiler_interrupts.bench.report results.json", file=sys.stderr)
        return 2
    regenerate(Path(argv[0]))
    return 0


if __name__ == "__main__":
    sys.exit(main())
