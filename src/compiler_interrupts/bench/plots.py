"""PNG figures of a benchmark run, drawn from ``results.json`` alone (nothing is re-run).

    python -m compiler_interrupts.bench.plots bench-results/<stamp>/results.json [OUT_DIR]

* ``fig9_overhead_t<T>.png``: overhead vs ``none`` per program, grouped bars per design (the
  paper's Figure 9); bars are the ratio of medians, dots the ratio of minimums.
* ``fig10_intervals_t<T>.png``: per program and probe design, the interval distribution in
  cycles as a box (p10..p90, inner p30..p70, median tick, whiskers p1..p99) against the target
  (Figure 10).
* ``fig12_overhead_vs_interval.png``: when the run had ``--sweep``, the overhead of each design
  against the requested interval and against the achieved median interval (Figure 12).

matplotlib is optional: without it :func:`make_all` returns a warning and draws nothing.
"""

from __future__ import annotations

import json
import statistics
import sys
from pathlib import Path
from typing import Any, Mapping, Sequence

BASELINE = "none"
_COLORS = {"naive": "#d95f02", "ci": "#1b9e77", "signal": "#7570b3", "none": "#999999"}
_FALLBACK = ("#e7298a", "#66a61e", "#e6ab02", "#a6761d", "#666666")


def _color(design: str, i: int) -> str:
    return _COLORS.get(design, _FALLBACK[i % len(_FALLBACK)])


def _pyplot():
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def make_all(results_path: str | Path, out_dir: str | Path | None = None) -> list[str]:
    """Draw every figure the results allow; returns messages (written files or warnings)."""
    results_path = Path(results_path)
    out = Path(out_dir) if out_dir is not None else results_path.parent
    try:
        plt = _pyplot()
    except ImportError:
        return ["warning: matplotlib is not installed (pip install matplotlib): no plots drawn"]
    results = json.loads(results_path.read_text())
    out.mkdir(parents=True, exist_ok=True)
    msgs = []
    cells = results.get("cells", [])
    meta = results.get("meta", {})
    for threads in sorted({int(c["threads"]) for c in cells}):
        tc = [c for c in cells if int(c["threads"]) == threads]
        p = plot_overhead(plt, tc, meta, threads, out / f"fig9_overhead_t{threads}.png")
        if p:
            msgs.append(f"plot: {p}")
        p = plot_intervals(plt, tc, meta, threads, out / f"fig10_intervals_t{threads}.png")
        if p:
            msgs.append(f"plot: {p}")
    rows = results.get("sweep_rows") or []
    if rows:
        p = plot_sweep(plt, rows, meta, out / "fig12_overhead_vs_interval.png")
        if p:
            msgs.append(f"plot: {p}")
    return msgs


def _programs(cells: Sequence[Mapping[str, Any]]) -> list[str]:
    seen: list[str] = []
    for c in cells:
        if c["program"] not in seen:
            seen.append(c["program"])
    return seen


def plot_overhead(plt, cells: Sequence[Mapping[str, Any]], meta: Mapping[str, Any],
                  threads: int, path: Path) -> Path | None:
    designs = [d for d in meta.get("designs", []) if d != BASELINE]
    designs = [d for d in designs if any(c["design"] == d and c.get("overhead_median")
                                         is not None for c in cells)]
    if not designs:
        return None
    progs = _programs(cells)
    get = {(c["program"], c["design"]): c for c in cells}
    labels = [*progs, "median", "geomean"]
    n = len(designs)
    width = 0.8 / n
    fig, ax = plt.subplots(figsize=(min(18, max(8, 0.25 * len(labels) * n + 2)), 4.8))
    for i, d in enumerate(designs):
        med, mins, xs = [], [], []
        for j, p in enumerate(progs):
            c = get.get((p, d))
            if c is None or c.get("overhead_median") is None:
                continue
            xs.append(j + (i - (n - 1) / 2) * width)
            med.append(100 * c["overhead_median"])
            mins.append(100 * c["overhead_min"] if c.get("overhead_min") is not None else None)
        ovs = [get[(p, d)]["overhead_median"] for p in progs
               if (p, d) in get and get[(p, d)].get("overhead_median") is not None]
        if ovs:
            xs.append(len(progs) + (i - (n - 1) / 2) * width)
            med.append(100 * statistics.median(ovs))
            mins.append(None)
            if all(o > -1 for o in ovs):
                gm = statistics.geometric_mean([1 + o for o in ovs]) - 1
                xs.append(len(progs) + 1 + (i - (n - 1) / 2) * width)
                med.append(100 * gm)
                mins.append(None)
        ax.bar(xs, med, width=width, color=_color(d, i), label=d)
        mx = [x for x, m in zip(xs, mins) if m is not None]
        my = [m for m in mins if m is not None]
        ax.plot(mx, my, "o", color="black", markersize=2.5, zorder=3)
    ax.axhline(0, color="black", linewidth=0.8)
    ax.axvline(len(progs) - 0.5, color="grey", linewidth=0.6, linestyle=":")
    ax.set_xticks(range(len(labels)))
    ax.set_xticklabels(labels, rotation=60, ha="right", fontsize=8)
    ax.set_ylabel(f"overhead vs {BASELINE} (%)")
    ax.set_title(f"Run-time overhead, {threads} thread{'s' if threads != 1 else ''}, target "
                 f"{meta.get('cycles')} cycles (bars: ratio of medians; dots: of minimums)",
                 fontsize=10)
    ax.legend(fontsize=8)
    ax.grid(axis="y", linewidth=0.3)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path


def plot_intervals(plt, cells: Sequence[Mapping[str, Any]], meta: Mapping[str, Any],
                   threads: int, path: Path) -> Path | None:
    designs = [d for d in meta.get("designs", []) if d != BASELINE
               and any(c["design"] == d and c.get("intervals") for c in cells)]
    if not designs:
        return None
    progs = _programs(cells)
    get = {(c["program"], c["design"]): c for c in cells}
    target = meta.get("cycles")
    fig, axes = plt.subplots(len(designs), 1, figsize=(max(8, 0.45 * len(progs) + 2),
                                                       2.8 * len(designs) + 0.6),
                             sharex=True, squeeze=False)
    for i, d in enumerate(designs):
        ax = axes[i][0]
        col = _color(d, i)
        for j, p in enumerate(progs):
            c = get.get((p, d))
            iv = (c or {}).get("intervals") or {}
            if not iv:
                continue
            ax.vlines(j, iv["p1"], iv["p99"], color=col, linewidth=0.8)
            ax.add_patch(plt.Rectangle((j - 0.3, iv["p10"]), 0.6, iv["p90"] - iv["p10"],
                                       facecolor=col, alpha=0.35, edgecolor=col))
            ax.add_patch(plt.Rectangle((j - 0.3, iv["p30"]), 0.6, iv["p70"] - iv["p30"],
                                       facecolor=col, alpha=0.8, edgecolor=col))
            ax.hlines(iv["p50"], j - 0.35, j + 0.35, color="black", linewidth=1.2)
        if target:
            ax.axhline(target, color="red", linewidth=0.8, linestyle="--", label="target")
        floor = meta.get("signal_min_cycles")
        if d == "signal" and floor:
            ax.axhline(floor, color="grey", linewidth=0.8, linestyle=":",
                       label="timer period floor")
            ax.legend(fontsize=8, loc="upper right")
        ax.set_yscale("log")
        ax.set_ylabel(f"{d}\ncycles")
        ax.grid(axis="y", linewidth=0.3, which="both")
        if i == 0:
            ax.legend(fontsize=8, loc="upper right")
    ax = axes[-1][0]
    ax.set_xticks(range(len(progs)))
    ax.set_xticklabels(progs, rotation=60, ha="right", fontsize=8)
    ax.set_xlim(-0.7, len(progs) - 0.3)
    fig.suptitle(f"Intervals between handler calls, {threads} thread"
                 f"{'s' if threads != 1 else ''} (box p10-p90, inner p30-p70, tick p50, whiskers "
                 f"p1-p99)", fontsize=10)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path


def plot_sweep(plt, rows: Sequence[Mapping[str, Any]], meta: Mapping[str, Any],
               path: Path) -> Path | None:
    designs = [d for d in (meta.get("sweep_designs") or meta.get("designs", []))
               if d != BASELINE and any(r["design"] == d and r.get("overhead_median")
                                        is not None for r in rows)]
    if not designs:
        return None
    fig, (ax1, ax2) = plt.subplots(1, 2, figsize=(11, 4.4))
    for i, d in enumerate(designs):
        col = _color(d, i)
        rs = [r for r in rows if r["design"] == d and r.get("overhead_median") is not None]
        cycles = sorted({r["cycles"] for r in rs})
        med = [100 * statistics.median([r["overhead_median"] for r in rs if r["cycles"] == c])
               for c in cycles]
        ax1.plot(cycles, med, "-o", color=col, label=f"{d} (median)")
        for prog in sorted({r["program"] for r in rs}):
            pr = sorted((r for r in rs if r["program"] == prog), key=lambda r: r["cycles"])
            ax1.plot([r["cycles"] for r in pr], [100 * r["overhead_median"] for r in pr],
                     color=col, alpha=0.3, linewidth=0.8)
            pa = [r for r in pr if r.get("interval_p50")]
            ax2.plot([r["interval_p50"] for r in pa], [100 * r["overhead_median"] for r in pa],
                     "o", color=col, alpha=0.6, markersize=4)
        ach = [(statistics.median([r["interval_p50"] for r in rs
                                   if r["cycles"] == c and r.get("interval_p50")] or [0]), m)
               for c, m in zip(cycles, med)]
        ach = sorted((x, m) for x, m in ach if x > 0)
        if ach:
            ax2.plot([x for x, _ in ach], [m for _, m in ach], "-", color=col, label=d)
    for ax, xl in ((ax1, "requested interval (cycles)"),
                   (ax2, "achieved median interval (cycles)")):
        ax.set_xscale("log")
        ax.margins(x=0.15, y=0.1)
        ax.set_yscale("symlog", linthresh=10)
        ax.set_xlabel(xl)
        ax.set_ylabel(f"overhead vs {BASELINE} (%)")
        ax.grid(linewidth=0.3, which="both")
        ax.legend(fontsize=8)
    fig.suptitle(f"Overhead vs interval ({', '.join(meta.get('sweep_programs', []))}; thin "
                 f"lines/dots: programs)", fontsize=10)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    if not 1 <= len(argv) <= 2 or argv[0] in ("-h", "--help"):
        print("usage: python -m compiler_interrupts.bench.plots results.json [OUT_DIR]",
              file=sys.stderr)
        return 2
    msgs = make_all(argv[0], argv[1] if len(argv) > 1 else None)
    for m in msgs:
        print(m, file=sys.stderr)
    return 1 if any(m.startswith("warning") for m in msgs) else 0


if __name__ == "__main__":
    sys.exit(main())
