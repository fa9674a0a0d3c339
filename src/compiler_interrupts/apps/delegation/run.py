"""``python -m compiler_interrupts app delegation``: the FFWD experiment with CIs.

Builds ``deleg_bench`` (``deleg_bench.c`` + ``deleg.c``) twice through ``ci-cc``: with
``--ci-design=ci`` for the ``ci`` variant and with ``--ci-design=none`` (same pipeline, no
probes) for the baselines, so that no lock or dedicated-server result pays for probes it does
not use.  Then it runs every configuration (variant x structure x critical-section size x
threads) ``--runs`` times, interleaved (one round over all configurations, then the next) so
that the load of a shared machine hits every variant alike, and quotes medians.

Throughput is the *useful work of all threads*: the operations completed by the workers in
wall-clock time.  At T threads: ``mutex``/``spin``/``mcs``/``ci`` run T workers; ``dedicated``
runs T-1 workers and one server thread (it reserves one of the T cores, so it needs T >= 2);
``dedicated_extra`` (FFWD's convention, only in the full sweep) runs T workers plus a server
thread.  Latency is the time of one critical section as seen by its caller (lock acquisition
or request round trip), from TSC histograms; "client" latency excludes the ``ci`` host's own
operations, which run locally.  Threads are pinned (``--pin``): by default the thread that
serves (dedicated server, ci host) gets the first CPU to itself and the other threads share
the rest; lock threads are spread evenly.

The ``ci`` host times its handler with the runtime's IR mode and a TSC controller in the
handler (one clock read per 32 calls) rather than the runtime's cycles mode, whose interrupt
path reads the TSC (~250 cycles per interrupt in this VM against ~50): see the "Timing the CI
handler" table of a full sweep.  The interval (``DEFAULT_INTERVAL``) is set by the latency
target: a delegating client waits about one interval for its answer, so its p99 is about the
interval plus ~0.2 us, and staying within 3x of a dedicated server's p99 (~0.5-0.6 us here)
needs an interval under ~3500 cycles (1.35 us); 2000 cycles (0.77 us) leaves margin on a noisy
machine and costs the host ~5% when no request is pending (plus the cache misses of serving).
Longer intervals (4000-8000 cycles) give the host more throughput, not the clients.

Outputs in ``--out``: ``summary.json``, ``summary.md``, ``runs.jsonl`` (one line per run,
histograms included), ``fig_throughput.png``, ``fig_latency_cdf.png`` (and, in the full sweep,
``fig_cs.png`` and ``fig_interval.png``).
"""

from __future__ import annotations

import argparse
import datetime as _dt
import json
import os
import platform
import resource
import statistics
import subprocess
import sys
import time
from importlib import resources
from pathlib import Path
from typing import Any, Iterable, Mapping, Sequence

from ..common import (clock_ticks, cpu_model, cpu_times, csv_list, ci_cc_command, import_pyplot,
                      loadavg)

VARIANTS = ("mutex", "spin", "mcs", "dedicated", "ci")
EXTRA_VARIANTS = ("dedicated_extra",)
STRUCTS = ("ctr", "hmap", "pq")
SOURCES = ("deleg_bench.c", "deleg.c")
HEADERS = ("deleg.h", "ds.h", "locks.h")

#: Default CI interval in TSC cycles, ~0.77 us at 2.6 GHz (see the module docstring).
DEFAULT_INTERVAL = 2000
HEADLINE_THREADS = 2
#: A run is "quiet" when other processes used at most this many cores while it ran.
QUIET_CORES = 0.25
TARGET_THREADS = (2, 4)

_COLORS = {"mutex": "#d95f02", "spin": "#7570b3", "mcs": "#e7298a", "dedicated": "#666666",
           "dedicated_extra": "#a6761d", "ci": "#1b9e77"}


# ---------------------------------------------------------------------------------------------
# building

def source_dir() -> Path:
    return Path(str(resources.files("compiler_interrupts.apps.delegation")))


def build(out_dir: Path, design: str, cc: Sequence[str] | None = None) -> Path:
    """Build ``deleg_bench`` with ``--ci-design=design`` into ``out_dir``; returns the path."""
    out_dir.mkdir(parents=True, exist_ok=True)
    exe = out_dir / f"deleg_bench_{design}"
    src = source_dir()
    cmd = [*(cc or ci_cc_command()), f"--ci-design={design}", "-O2", "-pthread",
           *[str(src / s) for s in SOURCES], "-o", str(exe)]
    env = {k: v for k, v in os.environ.items() if k not in ("CI_DESIGN", "CI_FLAGS")}
    proc = subprocess.run(cmd, capture_output=True, text=True, env=env)
    if proc.returncode != 0:
        raise RuntimeError(f"build failed: {' '.join(cmd)}\n{proc.stdout}{proc.stderr}")
    return exe


# ---------------------------------------------------------------------------------------------
# statistics on the TSC histograms: lists of [lo, hi, count] (cycles)

def hist_quantile(hist: Sequence[Sequence[int]], q: float) -> float | None:
    """The q-quantile (cycles, bucket midpoint) of a histogram; None if it is empty."""
    total = sum(c for _, _, c in hist)
    if total == 0:
        return None
    need, acc = q * total, 0
    for lo, hi, c in hist:
        acc += c
        if acc >= need:
            return (lo + hi) / 2
    lo, hi, _ = hist[-1]
    return (lo + hi) / 2


def merge_hists(hists: Iterable[Sequence[Sequence[int]]]) -> list[list[int]]:
    acc: dict[tuple[int, int], int] = {}
    for h in hists:
        for lo, hi, c in h:
            acc[(lo, hi)] = acc.get((lo, hi), 0) + c
    return [[lo, hi, c] for (lo, hi), c in sorted(acc.items())]


def _us(cycles: float | None, tsc_hz: float) -> float | None:
    return None if cycles is None or not tsc_hz else cycles / tsc_hz * 1e6


def run_metrics(r: Mapping[str, Any]) -> dict[str, Any]:
    """Per-run numbers derived from one deleg_bench JSON object."""
    hz = float(r["tsc_hz"])
    ops = list(r["ops"])
    m = {
        "mops": float(r["mops"]),
        "cpu_seconds": float(r["cpu_seconds"]),
        "mops_per_cpu_s": (r["total_ops"] / 1e6 / r["cpu_seconds"]) if r["cpu_seconds"] else None,
        "p50_us": _us(hist_quantile(r["hist_client"], 0.5), hz),
        "p99_us": _us(hist_quantile(r["hist_client"], 0.99), hz),
        "p50_all_us": _us(hist_quantile(r["hist_all"], 0.5), hz),
        "p99_all_us": _us(hist_quantile(r["hist_all"], 0.99), hz),
        "ops": ops,
        "fairness": (min(ops) / max(ops)) if ops and max(ops) else None,
        "tsc_hz": hz,
    }
    if "server" in r:
        s = r["server"]
        m["served"] = s["served"]
        if r["variant"] == "ci":
            m["handler_calls"] = s["ci_handler_calls"]
            m["handler_calls_per_ms"] = s["ci_handler_calls"] / r["seconds"] / 1e3
            m["ir_interval"] = s.get("ir_interval")
            m["served_per_handler_call"] = (s["served"] / s["ci_handler_calls"]
                                            if s["ci_handler_calls"] else None)
            m["host_share"] = ops[0] / sum(ops) if sum(ops) else None
    return m


def _median(xs: Iterable[float | None]) -> float | None:
    v = [x for x in xs if x is not None]
    return statistics.median(v) if v else None


def aggregate(runs: Sequence[Mapping[str, Any]]) -> dict[str, Any]:
    """Medians (and spreads) over the runs of one configuration."""
    ms = [run_metrics(r) for r in runs]
    mops = [m["mops"] for m in ms]
    med = statistics.median(mops)
    out: dict[str, Any] = {
        "mops": med,
        "mops_runs": mops,
        "mops_min": min(mops),
        "mops_max": max(mops),
        "spread": (max(mops) - min(mops)) / med if med else None,
        "runs": len(ms),
    }
    out["other_load"] = _median(r.get("other_load") for r in runs)
    for key in ("p50_us", "p99_us", "p50_all_us", "p99_all_us", "mops_per_cpu_s", "cpu_seconds",
                "fairness", "served_per_handler_call", "host_share", "handler_calls",
                "handler_calls_per_ms", "ir_interval"):
        vals = [m.get(key) for m in ms]
        if any(v is not None for v in vals):
            out[key] = _median(vals)
    out["p99_us_runs"] = [m["p99_us"] for m in ms]
    # the per-thread operation counts of the median-throughput run
    mid = sorted(range(len(ms)), key=lambda i: mops[i])[len(ms) // 2]
    out["ops_per_thread"] = ms[mid]["ops"]
    merged = merge_hists(r["hist_client"] for r in runs)
    hz = statistics.median(m["tsc_hz"] for m in ms)
    out["p99_us_merged"] = _us(hist_quantile(merged, 0.99), hz)
    return out


# ---------------------------------------------------------------------------------------------
# running

def other_load(before, after, own_cpu_s: float, wall_s: float) -> float | None:
    """Cores' worth of CPU used by *other* processes between two cpu_times() samples."""
    if not before or not after or wall_s <= 0:
        return None
    busy = (after[0] - before[0]) / clock_ticks()
    return max(0.0, busy - own_cpu_s) / wall_s


def wait_idle(max_other: float, max_wait_s: float = 10.0, probe_s: float = 0.1) -> float | None:
    """Wait (up to max_wait_s) until other processes use less than max_other cores; returns the
    last measured load."""
    deadline = time.monotonic() + max_wait_s
    load = None
    while True:
        a = cpu_times()
        time.sleep(probe_s)
        b = cpu_times()
        load = other_load(a, b, 0.0, probe_s)
        if load is None or load <= max_other or time.monotonic() >= deadline:
            return load


def run_one(exe: Path, variant: str, struct: str, threads: int, cs: int, *, ms: int | None = None,
            ops: int | None = None, interval: int = DEFAULT_INTERVAL, timer: str = "ir",
            size: int = 4096,
            think: int = 0, seed: int = 1, sample: int = 8, pin: str = "apart",
            timeout: float = 120.0) -> dict[str, Any]:
    """Run one configuration once; returns deleg_bench's JSON object (raises on failure)."""
    cmd = [str(exe), "--variant", variant, "--struct", struct, "--threads", str(threads),
           "--cs", str(cs), "--interval", str(interval), "--timer", timer, "--size", str(size),
           "--think", str(think), "--seed", str(seed), "--sample", str(sample)]
    cmd += ["--ops", str(ops)] if ops else ["--ms", str(ms or 200)]
    if pin in ("apart", "spread"):
        cmd.append("--pin-apart" if pin == "apart" else "--pin")
    r0 = resource.getrusage(resource.RUSAGE_CHILDREN)
    t0, c0 = time.monotonic(), cpu_times()
    proc = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout)
    t1, c1 = time.monotonic(), cpu_times()
    r1 = resource.getrusage(resource.RUSAGE_CHILDREN)
    own = (r1.ru_utime - r0.ru_utime) + (r1.ru_stime - r0.ru_stime)
    try:
        res = json.loads(proc.stdout)
    except json.JSONDecodeError:
        raise RuntimeError(f"{' '.join(cmd)} failed (exit {proc.returncode}):\n"
                           f"{proc.stdout}{proc.stderr}") from None
    if proc.returncode != 0 or res.get("check") != "ok":
        raise RuntimeError(f"{' '.join(cmd)}: check failed: {res.get('check')}")
    # CPU used by other processes while this one ran (process start-up included; ours excluded)
    res["other_load"] = other_load(c0, c1, own, t1 - t0)
    return res


def plan(ns: argparse.Namespace) -> list[dict[str, Any]]:
    """The configurations to run (each a dict of run_one keyword arguments + variant...)."""
    cfgs: list[dict[str, Any]] = []
    variants = list(ns.variants)

    def add(struct: str, cs: int, threads: int, variant: str, interval: int, tag: str,
            timer: str | None = None) -> None:
        if variant == "dedicated" and threads < 2:
            return
        ci = variant == "ci"
        cfgs.append(dict(variant=variant, struct=struct, cs=cs, threads=threads,
                         interval=interval if ci else 0, timer=(timer or ns.timer) if ci else "",
                         tag=tag))

    for struct in ns.structs:
        css = ns.cs if struct == "ctr" else ns.cs[:1]
        for cs in css:
            for t in ns.threads:
                for v in variants:
                    if v in EXTRA_VARIANTS and struct != "ctr":
                        continue
                    add(struct, cs, t, v, ns.interval, "main")
    if "ci" in variants:
        for iv in ns.intervals or ():
            for t in TARGET_THREADS:
                if iv != ns.interval:
                    add("ctr", ns.cs[0], t, "ci", iv, "interval")
                if ns.timer_compare:  # the other way of timing the handler, same interval
                    add("ctr", ns.cs[0], t, "ci", iv, "timer",
                        timer="cycles" if ns.timer == "ir" else "ir")
    return cfgs


def _key(c: Mapping[str, Any]) -> tuple:
    return (c["variant"], c["struct"], c["cs"], c["threads"], c["interval"], c["timer"])


def sweep(ns: argparse.Namespace, exes: Mapping[str, Path], log=print) -> list[dict[str, Any]]:
    cfgs = plan(ns)
    raw: list[dict[str, Any]] = []
    out = ns.out
    t_start = time.monotonic()
    with open(out / "runs.jsonl", "w") as f:
        for rep in range(ns.runs):
            # rotate the order every round so that no variant always runs first/last
            order = cfgs[rep % len(cfgs):] + cfgs[:rep % len(cfgs)] if cfgs else []
            for c in order:
                exe = exes["ci"] if c["variant"] == "ci" else exes["baseline"]
                load = loadavg()
                if ns.wait_idle is not None:
                    wait_idle(ns.wait_idle, ns.max_wait)
                try:
                    res = run_one(exe, c["variant"], c["struct"], c["threads"], c["cs"],
                                  ms=ns.ms, interval=c["interval"] or ns.interval,
                                  timer=c["timer"] or "ir", size=ns.size,
                                  think=ns.think, seed=ns.seed + rep, pin=ns.pin)
                except (RuntimeError, subprocess.TimeoutExpired) as exc:
                    log(f"error: {exc}")
                    res = {"error": str(exc)}
                res.update(rep=rep, tag=c["tag"], loadavg=load, key=list(_key(c)))
                raw.append(res)
                f.write(json.dumps(res) + "\n")
            log(f"  round {rep + 1}/{ns.runs} done ({time.monotonic() - t_start:.0f} s)")
    return raw


def summarize(raw: Sequence[Mapping[str, Any]], ns: argparse.Namespace,
              meta: Mapping[str, Any]) -> dict[str, Any]:
    groups: dict[tuple, list[Mapping[str, Any]]] = {}
    errors = []
    for r in raw:
        if "error" in r:
            errors.append(r["error"])
            continue
        groups.setdefault(tuple(r["key"]), []).append(r)
    configs = []
    for key, runs in groups.items():
        variant, struct, cs, threads, interval, timer = key
        agg = aggregate(runs)
        agg.update(variant=variant, struct=struct, cs=cs, threads=threads,
                   interval=interval or None, timer=timer or None, tag=runs[0]["tag"],
                   workers=runs[0]["workers"], server_threads=runs[0]["server_threads"])
        configs.append(agg)
    configs.sort(key=lambda c: (c["tag"], c["struct"], c["cs"], c["variant"], c["threads"],
                                c["interval"] or 0))
    main = [c for c in configs if c["tag"] == "main"]
    cs0 = ns.cs[0]
    quiet_max = getattr(ns, "quiet", QUIET_CORES)
    # the same configurations restricted to the runs during which the rest of the machine was
    # (nearly) idle: the only runs where threads really run at the same time
    quiet_groups = {k: [r for r in runs if r.get("other_load") is not None
                        and r["other_load"] <= quiet_max] for k, runs in groups.items()}
    quiet = {}
    for key, runs in quiet_groups.items():
        variant, struct, cs, threads, interval, timer = key
        if runs and runs[0]["tag"] == "main":
            q = aggregate(runs)
            quiet[(variant, struct, cs, threads)] = q

    def find(variant, threads, struct="ctr", cs=cs0):
        for c in main:
            if (c["variant"], c["threads"], c["struct"], c["cs"]) == (variant, threads, struct,
                                                                     cs):
                return c
        return None

    def brief(c):
        if c is None:
            return None
        keys = ("mops", "p50_us", "p99_us", "mops_min", "mops_max", "spread", "runs",
                "p99_all_us", "mops_per_cpu_s", "fairness", "ops_per_thread", "workers",
                "server_threads", "host_share", "served_per_handler_call")
        return {k: c.get(k) for k in keys if k in c}

    variants_all = [v for v in (*VARIANTS, *EXTRA_VARIANTS) if v in ns.variants]
    headline = {v: brief(find(v, HEADLINE_THREADS)) for v in variants_all}
    quiet_by_threads = {v: {str(t): brief(quiet.get((v, "ctr", cs0, t))) for t in ns.threads
                            if (v, "ctr", cs0, t) in quiet} for v in variants_all}
    by_threads = {v: {str(t): brief(find(v, t)) for t in ns.threads if find(v, t)}
                  for v in variants_all}
    # per-round throughputs of the main configurations, for paired comparisons: the runs of one
    # round of the same (structure, cs, threads) are adjacent in time
    per_rep: dict[tuple, dict[int, float]] = {}
    for r in raw:
        if "error" not in r and r.get("tag") == "main":
            per_rep.setdefault((r["variant"], r["struct"], r["cs"], r["threads"]), {})[
                r["rep"]] = float(r["mops"])

    def paired(a: str, b: str, t: int) -> dict[str, Any] | None:
        ra, rb = per_rep.get((a, "ctr", cs0, t), {}), per_rep.get((b, "ctr", cs0, t), {})
        reps = sorted(set(ra) & set(rb))
        ratios = [ra[i] / rb[i] for i in reps if rb[i] > 0]
        if not ratios:
            return None
        return {"median_ratio": statistics.median(ratios),
                "min_ratio": min(ratios), "max_ratio": max(ratios),
                "rounds_won": sum(1 for x in ratios if x > 1.0), "rounds": len(ratios)}

    def target_checks(ci, mu, sp, de) -> dict[str, Any]:
        ratio = ci["mops"] / de["mops"] if de["mops"] else None
        p99r = (ci["p99_us"] / de["p99_us"]) if ci.get("p99_us") and de.get("p99_us") else None
        return {
            "ci_mops": ci["mops"], "mutex_mops": mu["mops"], "spin_mops": sp["mops"],
            "dedicated_mops": de["mops"],
            "ci_above_mutex": ci["mops"] > mu["mops"],
            "ci_above_spin": ci["mops"] > sp["mops"],
            "ci_over_dedicated": ratio,
            "ci_within_20pct_of_dedicated": ratio is not None and ratio >= 0.8,
            "ci_p99_us": ci.get("p99_us"), "dedicated_p99_us": de.get("p99_us"),
            "p99_ratio": p99r,
            "p99_within_3x": p99r is not None and p99r <= 3.0,
            "runs": {"ci": ci["runs"], "mutex": mu["runs"], "spin": sp["runs"],
                     "dedicated": de["runs"]},
        }

    quiet_targets = {}
    for t in TARGET_THREADS:
        qs = [quiet.get((v, "ctr", cs0, t)) for v in ("ci", "mutex", "spin", "dedicated")]
        if all(qs):
            quiet_targets[str(t)] = target_checks(*qs)

    targets = {}
    for t in TARGET_THREADS:
        ci, mu, sp, de = (find(v, t) for v in ("ci", "mutex", "spin", "dedicated"))
        if not (ci and mu and sp and de):
            continue
        targets[str(t)] = target_checks(ci, mu, sp, de)
        targets[str(t)]["paired"] = {f"ci_vs_{b}": paired("ci", b, t)
                                     for b in ("mutex", "spin", "dedicated")}
    spreads = [c["spread"] for c in main if c.get("spread") is not None]
    loads = [r["loadavg"][0] for r in raw if r.get("loadavg")]
    others = [r["other_load"] for r in raw if r.get("other_load") is not None]
    noise = {
        "other_load_median": _median(others),
        "other_load_max": max(others) if others else None,
        "other_load_definition": "cores' worth of CPU used by other processes during a run "
                                 "(/proc/stat busy time minus our own CPU time, per second)",
        "median_spread": _median(spreads),
        "max_spread": max(spreads) if spreads else None,
        "spread_definition": "(max - min) / median of the per-run throughputs of a configuration",
        "loadavg_1min_min": min(loads) if loads else None,
        "loadavg_1min_median": _median(loads),
        "loadavg_1min_max": max(loads) if loads else None,
    }
    return {
        "variants": headline,
        "headline": {"struct": "ctr", "cs": cs0, "threads": HEADLINE_THREADS,
                     "latency": "client critical-section latency (lock wait + critical section, "
                                "or request round trip); ci: delegating threads only"},
        "by_threads": by_threads,
        "targets": targets,
        "quiet": {
            "definition": f"runs during which other processes used at most {quiet_max} cores",
            "max_other_cores": quiet_max,
            "by_threads": quiet_by_threads,
            "targets": quiet_targets,
        },
        "configs": configs,
        "interval_sweep": [c for c in configs if c["variant"] == "ci" and c["struct"] == "ctr"
                           and c["cs"] == cs0 and c["threads"] in TARGET_THREADS
                           and c["tag"] != "timer" and c["timer"] == ns.timer],
        "timer_compare": [c for c in configs if c["variant"] == "ci" and c["struct"] == "ctr"
                          and c["cs"] == cs0 and c["threads"] in TARGET_THREADS
                          and (c["tag"] == "timer" or (
                              c["tag"] != "timer" and any(
                                  d["tag"] == "timer" and d["interval"] == c["interval"]
                                  and d["threads"] == c["threads"] for d in configs)))],
        "noise": noise,
        "errors": errors,
        "meta": dict(meta),
    }


# ---------------------------------------------------------------------------------------------
# reporting

def _f(x: float | None, nd: int = 2) -> str:
    return "-" if x is None else f"{x:.{nd}f}"


def markdown(s: Mapping[str, Any]) -> str:
    meta = s["meta"]
    lines = [
        "# Delegation on a shared thread (FFWD with Compiler Interrupts)",
        "",
        f"Command: `{meta.get('command')}`  ",
        f"Machine: {meta.get('cpu')}, {meta.get('cores')} cores, "
        f"TSC {_f(meta.get('tsc_ghz'))} GHz; "
        f"load average during the runs {_f(s['noise']['loadavg_1min_min'])}.."
        f"{_f(s['noise']['loadavg_1min_max'])} (median {_f(s['noise']['loadavg_1min_median'])}).  ",
        f"{meta.get('runs')} interleaved runs of {meta.get('ms')} ms per configuration; medians "
        f"(min..max in brackets).  CI interval {meta.get('interval')} TSC cycles "
        f"(~{_f(meta.get('interval_us'))} us), timer `{meta.get('timer')}` (ir: the runtime's "
        f"IR mode with a TSC controller in the handler; cycles: the runtime's cycles mode).  "
        f"Thread placement: `{meta.get('pin')}`.  Baselines built with `--ci-design="
        f"{meta.get('baseline_design')}`, `ci` with `--ci-design=ci`.",
        "",
        f"## Fetch-and-add array, critical section {s['headline']['cs']}, "
        f"{HEADLINE_THREADS} threads",
        "",
        "| variant | Mops/s (all threads) | runs min..max | client p50 us | client p99 us | "
        "ops per thread | Mops per CPU-s |",
        "|---|---:|---|---:|---:|---|---:|",
    ]
    for v, c in s["variants"].items():
        if not c:
            continue
        lines.append(f"| {v} | {_f(c['mops'])} | {_f(c['mops_min'])}..{_f(c['mops_max'])} | "
                     f"{_f(c.get('p50_us'), 3)} | {_f(c.get('p99_us'), 3)} | "
                     f"{c.get('ops_per_thread')} | {_f(c.get('mops_per_cpu_s'))} |")
    lines += ["", "## Targets", "",
              "| threads | ci Mops | mutex | spin | dedicated | ci > mutex | ci > spin | "
              "ci / dedicated (>= 0.8) | p99 ci / dedicated (<= 3) |",
              "|---:|---:|---:|---:|---:|---|---|---|---|"]
    yes = {True: "yes", False: "**no**"}
    for t, g in s["targets"].items():
        lines.append(f"| {t} | {_f(g['ci_mops'])} | {_f(g['mutex_mops'])} | "
                     f"{_f(g['spin_mops'])} | {_f(g['dedicated_mops'])} | "
                     f"{yes[g['ci_above_mutex']]} | {yes[g['ci_above_spin']]} | "
                     f"{_f(g['ci_over_dedicated'])} {yes[g['ci_within_20pct_of_dedicated']]} | "
                     f"{_f(g['p99_ratio'])} {yes[g['p99_within_3x']]} |")
    lines += ["", "Paired per round (the runs of one round are adjacent in time): median ratio "
              "ci / baseline [min..max], rounds ci was ahead.", "",
              "| threads | ci / mutex | ci / spin | ci / dedicated |", "|---:|---|---|---|"]
    for t, g in s["targets"].items():
        cells = []
        for b in ("mutex", "spin", "dedicated"):
            pr = g.get("paired", {}).get(f"ci_vs_{b}")
            cells.append("-" if not pr else
                         f"{_f(pr['median_ratio'])} [{_f(pr['min_ratio'])}..{_f(pr['max_ratio'])}]"
                         f", {pr['rounds_won']}/{pr['rounds']}")
        lines.append(f"| {t} | " + " | ".join(cells) + " |")
    q = s.get("quiet") or {}
    if q.get("by_threads") and any(q["by_threads"].values()):
        qthreads = sorted({int(t) for v in q["by_threads"].values() for t in v})
        lines += ["", f"## Quiet runs only ({q['definition']})", "",
                  "Only in these runs did the threads really run at the same time; elsewhere "
                  "the machine's other load time-slices them, which hides lock contention.  "
                  "Fetch-and-add, Mops/s median (number of quiet runs); client p99 us.", "",
                  "| variant | " + " | ".join(f"{t} thr" for t in qthreads) + " |",
                  "|---|" + "---:|" * len(qthreads)]
        for v, per in q["by_threads"].items():
            cells = []
            for t in qthreads:
                c = per.get(str(t))
                cells.append("-" if not c else
                             f"{_f(c['mops'])} ({c['runs']}); {_f(c.get('p99_us'), 2)}")
            lines.append(f"| {v} | " + " | ".join(cells) + " |")
        if q.get("targets"):
            lines += ["", "| threads (quiet) | ci Mops | mutex | spin | dedicated | ci > mutex | "
                      "ci > spin | ci / dedicated (>= 0.8) | p99 ci / dedicated (<= 3) |",
                      "|---:|---:|---:|---:|---:|---|---|---|---|"]
            for t, g in q["targets"].items():
                lines.append(f"| {t} | {_f(g['ci_mops'])} | {_f(g['mutex_mops'])} | "
                             f"{_f(g['spin_mops'])} | {_f(g['dedicated_mops'])} | "
                             f"{yes[g['ci_above_mutex']]} | {yes[g['ci_above_spin']]} | "
                             f"{_f(g['ci_over_dedicated'])} "
                             f"{yes[g['ci_within_20pct_of_dedicated']]} | "
                             f"{_f(g['p99_ratio'])} {yes[g['p99_within_3x']]} |")
    threads = sorted({int(t) for v in s["by_threads"].values() for t in v})
    lines += ["", "## Throughput vs threads (fetch-and-add, Mops/s, median [min..max])", "",
              "| variant | " + " | ".join(f"{t} thr" for t in threads) + " |",
              "|---|" + "---:|" * len(threads)]
    for v, per in s["by_threads"].items():
        cells = []
        for t in threads:
            c = per.get(str(t))
            cells.append("-" if not c else
                         f"{_f(c['mops'])} [{_f(c['mops_min'])}..{_f(c['mops_max'])}]")
        lines.append(f"| {v} | " + " | ".join(cells) + " |")
    lines += ["", "## Client latency vs threads (p50 / p99 us)", "",
              "| variant | " + " | ".join(f"{t} thr" for t in threads) + " |",
              "|---|" + "---:|" * len(threads)]
    for v, per in s["by_threads"].items():
        cells = []
        for t in threads:
            c = per.get(str(t))
            cells.append("-" if not c else f"{_f(c.get('p50_us'), 3)} / {_f(c.get('p99_us'), 3)}")
        lines.append(f"| {v} | " + " | ".join(cells) + " |")
    main = [c for c in s["configs"] if c["tag"] == "main"]
    others = [c for c in main if not (c["struct"] == "ctr" and c["cs"] == s["headline"]["cs"])]
    if others:
        lines += ["", "## Other structures and critical-section sizes (Mops/s; p99 us)", "",
                  "| struct | cs | threads | " + " | ".join(
                      v for v in s["variants"]) + " |",
                  "|---|---:|---:|" + "---:|" * len(s["variants"])]
        keys = sorted({(c["struct"], c["cs"], c["threads"]) for c in others},
                      key=lambda k: (STRUCTS.index(k[0]) if k[0] in STRUCTS else 9, k[1], k[2]))
        for st, cs, t in keys:
            cells = []
            for v in s["variants"]:
                c = next((c for c in others if (c["variant"], c["struct"], c["cs"],
                                                c["threads"]) == (v, st, cs, t)), None)
                cells.append("-" if not c else f"{_f(c['mops'])}; {_f(c.get('p99_us'), 2)}")
            lines.append(f"| {st} | {cs} | {t} | " + " | ".join(cells) + " |")
    if s["interval_sweep"]:
        lines += ["", "## CI interval (fetch-and-add, ci variant)", "",
                  "| threads | interval cycles | ~us | Mops/s | client p50 us | client p99 us | "
                  "requests per handler call | host share of ops |",
                  "|---:|---:|---:|---:|---:|---:|---:|---:|"]
        hz = meta.get("tsc_ghz") or 0
        for c in sorted(s["interval_sweep"], key=lambda c: (c["threads"], c["interval"] or 0)):
            us = (c["interval"] / (hz * 1e3)) if hz and c["interval"] else None
            lines.append(f"| {c['threads']} | {c['interval']} | {_f(us)} | {_f(c['mops'])} | "
                         f"{_f(c.get('p50_us'), 3)} | {_f(c.get('p99_us'), 3)} | "
                         f"{_f(c.get('served_per_handler_call'))} | {_f(c.get('host_share'))} |")
    if s.get("timer_compare"):
        lines += ["", "## Timing the CI handler (fetch-and-add, ci variant)", "",
                  "| threads | interval cycles | timer | Mops/s | client p50 us | client p99 us | "
                  "handler calls per ms |",
                  "|---:|---:|---|---:|---:|---:|---:|"]
        for c in sorted(s["timer_compare"], key=lambda c: (c["threads"], c["interval"] or 0,
                                                           c["timer"] or "")):
            lines.append(f"| {c['threads']} | {c['interval']} | {c['timer']} | {_f(c['mops'])} | "
                         f"{_f(c.get('p50_us'), 3)} | {_f(c.get('p99_us'), 3)} | "
                         f"{_f(c.get('handler_calls_per_ms'), 0)} |")
    n = s["noise"]
    lines += ["", "## Noise", "",
              f"Per-configuration spread (max-min)/median of throughput: median "
              f"{_f(n['median_spread'])}, worst {_f(n['max_spread'])}.  The machine is shared: "
              f"other processes used {_f(n['other_load_median'])} cores (median over runs; "
              f"worst {_f(n['other_load_max'])}) of {meta.get('cores')} while ours ran; the "
              f"1-minute load average ranged {_f(n['loadavg_1min_min'])}.."
              f"{_f(n['loadavg_1min_max'])}.", ""]
    lines += ["## Definitions", "",
              "- *threads*: software threads of the variant.  mutex/spin/mcs/ci: that many "
              "workers.  dedicated: one server thread + threads-1 workers (it reserves one of "
              "the cores, so it starts at 2).  dedicated_extra: FFWD's own convention, "
              "threads workers + 1 extra server thread.",
              "- *Mops/s*: operations (critical sections) completed by all workers per second "
              "of wall-clock time -- the useful work of all threads; a server thread does none "
              "of its own.  *ops per thread*: per worker, from the median run (ci: the host "
              "first).  *Mops per CPU-s*: the same operations per CPU-second the process used.",
              "- *client latency*: one critical section as seen by its caller (lock wait + "
              "critical section, or request round trip), one operation in 8 timed with the "
              "TSC; for ci only the delegating workers (the host runs its own operations "
              "locally in ~0.01-0.03 us).  p50/p99 per run, median over runs.",
              "- *paired*: the runs of one round for the same structure/size/threads are "
              "adjacent in time, so their ratio is less exposed to the machine's load drifting "
              "than the ratio of medians.", ""]
    if s["errors"]:
        lines += ["## Errors", ""] + [f"- `{e.splitlines()[0]}`" for e in s["errors"]] + [""]
    return "\n".join(lines)


def plots(s: Mapping[str, Any], raw: Sequence[Mapping[str, Any]], out: Path) -> list[str]:
    plt = import_pyplot()
    if plt is None:
        return ["warning: matplotlib is not installed: no plots drawn"]
    msgs = []
    # throughput vs threads, one panel per structure
    main = [c for c in s["configs"] if c["tag"] == "main"]
    cs0 = s["headline"]["cs"]
    structs = [st for st in STRUCTS if any(c["struct"] == st for c in main)]
    fig, axes = plt.subplots(1, len(structs), figsize=(5 * len(structs), 4), squeeze=False)
    for ax, st in zip(axes[0], structs):
        for v in (*VARIANTS, *EXTRA_VARIANTS):
            cs_ = sorted((c for c in main if c["variant"] == v and c["struct"] == st
                          and c["cs"] == cs0), key=lambda c: c["threads"])
            if not cs_:
                continue
            x = [c["threads"] for c in cs_]
            y = [c["mops"] for c in cs_]
            lo = [c["mops"] - c["mops_min"] for c in cs_]
            hi = [c["mops_max"] - c["mops"] for c in cs_]
            ax.errorbar(x, y, yerr=[lo, hi], marker="o", capsize=3, label=v,
                        color=_COLORS.get(v), linestyle="--" if v in EXTRA_VARIANTS else "-")
        ax.set_title(f"{st}, critical section {cs0}")
        ax.set_xlabel("threads (dedicated: incl. its server)")
        ax.set_ylabel("Mops/s, all threads (median, min..max)")
        ax.set_xticks(sorted({c["threads"] for c in main}))
        ax.set_ylim(bottom=0)
        ax.grid(alpha=0.3)
        ax.legend(fontsize=8)
    fig.tight_layout()
    p = out / "fig_throughput.png"
    fig.savefig(p, dpi=120)
    plt.close(fig)
    msgs.append(f"plot: {p}")

    # latency CDF (client latency, merged over runs) for the headline configuration
    thr_list = sorted({c["threads"] for c in main if c["struct"] == "ctr"
                       and c["threads"] in TARGET_THREADS})
    if thr_list:
        fig, axes = plt.subplots(1, len(thr_list), figsize=(5.5 * len(thr_list), 4),
                                 squeeze=False)
        for ax, t in zip(axes[0], thr_list):
            for v in (*VARIANTS, *EXTRA_VARIANTS):
                runs = [r for r in raw if "error" not in r and r["tag"] == "main"
                        and r["variant"] == v and r["struct"] == "ctr" and r["cs"] == cs0
                        and r["threads"] == t]
                if not runs:
                    continue
                h = merge_hists(r["hist_client"] for r in runs)
                hz = statistics.median(r["tsc_hz"] for r in runs)
                tot = sum(c for _, _, c in h)
                if not tot:
                    continue
                xs, ys, acc = [], [], 0
                for lo, hi, c in h:
                    acc += c
                    xs.append(hi / hz * 1e6)
                    ys.append(acc / tot)
                ax.step(xs, ys, where="post", label=v, color=_COLORS.get(v),
                        linestyle="--" if v in EXTRA_VARIANTS else "-")
            ax.set_xscale("log")
            ax.set_xlabel("client critical-section latency (us, log)")
            ax.set_ylabel("CDF")
            ax.set_title(f"fetch-and-add, cs {cs0}, {t} threads")
            ax.axhline(0.99, color="#bbbbbb", linewidth=0.8)
            ax.grid(alpha=0.3, which="both")
            ax.legend(fontsize=8, loc="lower right")
        fig.tight_layout()
        p = out / "fig_latency_cdf.png"
        fig.savefig(p, dpi=120)
        plt.close(fig)
        msgs.append(f"plot: {p}")

    css = sorted({c["cs"] for c in main if c["struct"] == "ctr"})
    if len(css) > 1 and any(c["threads"] == HEADLINE_THREADS for c in main):
        fig, ax = plt.subplots(figsize=(5.5, 4))
        for v in (*VARIANTS, *EXTRA_VARIANTS):
            cs_ = sorted((c for c in main if c["variant"] == v and c["struct"] == "ctr"
                          and c["threads"] == HEADLINE_THREADS), key=lambda c: c["cs"])
            if cs_:
                ax.plot([c["cs"] for c in cs_], [c["mops"] for c in cs_], marker="o", label=v,
                        color=_COLORS.get(v))
        ax.set_xscale("log", base=2)
        ax.set_xticks(css, [str(c) for c in css])
        ax.minorticks_off()
        ax.set_yscale("log")
        ax.set_xlabel("critical-section size (counters per operation)")
        ax.set_ylabel("Mops/s, all threads")
        ax.set_title(f"fetch-and-add, {HEADLINE_THREADS} threads")
        ax.grid(alpha=0.3, which="both")
        ax.legend(fontsize=8)
        fig.tight_layout()
        p = out / "fig_cs.png"
        fig.savefig(p, dpi=120)
        plt.close(fig)
        msgs.append(f"plot: {p}")

    sw = s["interval_sweep"]
    if len({c["interval"] for c in sw}) > 1:
        fig, (a1, a2) = plt.subplots(1, 2, figsize=(10, 4))
        for t in sorted({c["threads"] for c in sw}):
            cs_ = sorted((c for c in sw if c["threads"] == t), key=lambda c: c["interval"])
            x = [c["interval"] for c in cs_]
            a1.plot(x, [c["mops"] for c in cs_], marker="o", label=f"{t} threads")
            a2.plot(x, [c.get("p99_us") for c in cs_], marker="o", label=f"{t} threads")
            de = next((c for c in main if c["variant"] == "dedicated" and c["threads"] == t
                       and c["struct"] == "ctr" and c["cs"] == cs0), None)
            if de:
                a1.axhline(de["mops"], linestyle=":", color="#666666")
                if de.get("p99_us"):
                    a2.axhline(3 * de["p99_us"], linestyle=":", color="#666666")
        a1.set_ylabel("Mops/s (dotted: dedicated)")
        a2.set_ylabel("client p99 us (dotted: 3x dedicated)")
        ivs = sorted({c["interval"] for c in sw})
        for a in (a1, a2):
            a.set_xscale("log", base=2)
            a.set_xticks(ivs, [str(i) for i in ivs])
            a.minorticks_off()
            a.set_xlabel("CI interval (TSC cycles)")
            a.grid(alpha=0.3)
            a.legend(fontsize=8)
        fig.tight_layout()
        p = out / "fig_interval.png"
        fig.savefig(p, dpi=120)
        plt.close(fig)
        msgs.append(f"plot: {p}")
    return msgs


# ---------------------------------------------------------------------------------------------
# command line

def add_parser(subparsers) -> argparse.ArgumentParser:
    """Add the ``delegation`` subcommand to ``subparsers`` (those of ``app``)."""
    p = subparsers.add_parser(
        "delegation",
        help="delegation (FFWD) with the server in a CI handler vs locks and a dedicated server",
        description=__doc__.split("\n\n", 1)[1] if __doc__ else None,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument("--quick", action="store_true",
                   help="fetch-and-add only, critical section 1, threads 1,2,4, 5 runs of "
                        "150 ms (under a minute)")
    p.add_argument("--out", type=Path, default=None,
                   help="output directory (default bench-results/delegation-<timestamp>)")
    p.add_argument("--threads", type=csv_list(int), default=None,
                   help="thread counts (default 1,2,3,4; --quick 1,2,4)")
    p.add_argument("--cs", type=csv_list(int), default=None,
                   help="critical-section sizes; the first is the headline (default 1,8,64; "
                        "--quick 1)")
    p.add_argument("--structs", type=csv_list(str), default=None,
                   help="structures: ctr,hmap,pq (default all; --quick ctr)")
    p.add_argument("--variants", type=csv_list(str), default=None,
                   help=f"variants (default {','.join(VARIANTS)}"
                        f"{',' + ','.join(EXTRA_VARIANTS)} without --quick)")
    p.add_argument("--runs", type=int, default=None, help="runs per configuration (default 5)")
    p.add_argument("--ms", type=int, default=None,
                   help="duration of one run in ms (default 300; --quick 150)")
    p.add_argument("--interval", type=int, default=DEFAULT_INTERVAL,
                   help=f"CI interval of the ci variant in TSC cycles (default {DEFAULT_INTERVAL})")
    p.add_argument("--timer", choices=("ir", "cycles"), default="ir",
                   help="how the ci host times its handler: ir (default) = the runtime's IR "
                        "mode with a TSC controller in the handler (one clock read per 32 "
                        "calls); cycles = the runtime's cycles mode (clock reads per interrupt)")
    p.add_argument("--timer-compare", action=argparse.BooleanOptionalAction, default=None,
                   help="also run the ci variant with the other --timer at each --intervals "
                        "value (default: on without --quick)")
    p.add_argument("--intervals", type=csv_list(int, allow_empty=True), default=None,
                   help="also run the ci variant at these intervals at 2 and 4 threads ('none': "
                        "skip; default 1000,2000,8000,16000; --quick none)")
    p.add_argument("--size", type=int, default=4096,
                   help="counters / hash-map keys / queue length (power of two, default 4096)")
    p.add_argument("--think", type=int, default=0,
                   help="private work steps between critical sections (default 0)")
    p.add_argument("--seed", type=int, default=1)
    p.add_argument("--wait-idle", type=float, default=None, metavar="CORES",
                   help="before each run, wait (up to --max-wait s) until other processes use "
                        "less than CORES cores (measured over 100 ms); default: do not wait")
    p.add_argument("--quiet", type=float, default=QUIET_CORES, metavar="CORES",
                   help="also summarise the runs during which other processes used at most "
                        f"CORES cores (default {QUIET_CORES})")
    p.add_argument("--max-wait", type=float, default=10.0, metavar="S",
                   help="longest wait for --wait-idle before running anyway (default 10 s)")
    p.add_argument("--pin", choices=("apart", "spread", "none"), default="apart",
                   help="thread placement: spread = thread k on CPU k mod ncpu (the dedicated "
                        "server first); apart (default) = the same, except that the thread "
                        "that serves (dedicated server, ci host) has the first CPU to itself "
                        "(locks: as spread); none = let the scheduler place threads")
    p.add_argument("--baseline-design", default="none", choices=("none", "ci", "naive"),
                   help="ci-cc design the baselines are built with (default none: no probes)")
    p.set_defaults(func=main)
    return p


def _fill_defaults(ns: argparse.Namespace) -> None:
    q = ns.quick
    ns.threads = ns.threads or ([1, 2, 4] if q else [1, 2, 3, 4])
    ns.cs = ns.cs or ([1] if q else [1, 8, 64])
    ns.structs = ns.structs or (["ctr"] if q else list(STRUCTS))
    ns.variants = ns.variants or (list(VARIANTS) if q else [*VARIANTS, *EXTRA_VARIANTS])
    ns.runs = ns.runs or 5
    ns.ms = ns.ms or (150 if q else 300)
    if ns.intervals is None:
        ns.intervals = [] if q else [500, 1000, 2000, 4000, 8000]
    if ns.timer_compare is None:
        ns.timer_compare = not q
    bad = [v for v in ns.variants if v not in (*VARIANTS, *EXTRA_VARIANTS)]
    bad += [s for s in ns.structs if s not in STRUCTS]
    if bad:
        raise SystemExit(f"error: unknown variant/structure: {', '.join(bad)}")
    if ns.size < 2 or ns.size & (ns.size - 1):
        raise SystemExit("error: --size must be a power of two")
    if ns.out is None:
        stamp = _dt.datetime.now().strftime("%Y%m%d-%H%M%S")
        ns.out = Path("bench-results") / f"delegation-{stamp}"


def main(ns: argparse.Namespace) -> int:
    _fill_defaults(ns)
    out: Path = ns.out
    out.mkdir(parents=True, exist_ok=True)
    t0 = time.monotonic()
    print(f"building deleg_bench (ci-cc --ci-design=ci and --ci-design={ns.baseline_design})",
          flush=True)
    exes = {"ci": build(out / "bin", "ci")}
    exes["baseline"] = (exes["ci"] if ns.baseline_design == "ci"
                        else build(out / "bin", ns.baseline_design))
    ncfg = len(plan(ns))
    print(f"running {ncfg} configurations x {ns.runs} runs x {ns.ms} ms", flush=True)
    load0 = loadavg()
    raw = sweep(ns, exes, log=lambda m: print(m, flush=True))
    hzs = [r["tsc_hz"] for r in raw if "tsc_hz" in r]
    hz = statistics.median(hzs) if hzs else None
    meta = {
        "command": "python -m compiler_interrupts app delegation " + " ".join(sys.argv[3:])
        if sys.argv[1:3] == ["app", "delegation"] else " ".join(sys.argv),
        "quick": ns.quick, "runs": ns.runs, "ms": ns.ms, "interval": ns.interval,
        "timer": ns.timer, "quiet": ns.quiet,
        "interval_us": ns.interval / hz * 1e6 if hz else None,
        "tsc_ghz": hz / 1e9 if hz else None, "size": ns.size, "think": ns.think,
        "threads": ns.threads, "cs": ns.cs, "structs": ns.structs, "variants": ns.variants,
        "baseline_design": ns.baseline_design, "pin": ns.pin, "wait_idle": ns.wait_idle,
        "cpu": cpu_model(), "cores": os.cpu_count(),
        "platform": platform.platform(), "loadavg_start": load0, "loadavg_end": loadavg(),
        "elapsed_s": None,
    }
    summary = summarize(raw, ns, meta)
    summary["meta"]["elapsed_s"] = round(time.monotonic() - t0, 1)
    (out / "summary.json").write_text(json.dumps(summary, indent=1) + "\n")
    md = markdown(summary)
    (out / "summary.md").write_text(md)
    for m in plots(summary, raw, out):
        print(m)
    print(md)
    print(f"wrote {out / 'summary.json'}, {out / 'summary.md'} "
          f"({summary['meta']['elapsed_s']} s)")
    return 1 if summary["errors"] else 0


def redo(out_dir: str | Path) -> int:
    """Recompute summary.json/summary.md and the plots of a finished run from runs.jsonl."""
    out = Path(out_dir)
    raw = [json.loads(line) for line in (out / "runs.jsonl").read_text().splitlines() if line]
    old = json.loads((out / "summary.json").read_text())
    meta = old["meta"]
    ns = argparse.Namespace(threads=meta["threads"], cs=meta["cs"], structs=meta["structs"],
                            variants=meta["variants"], timer=meta.get("timer", "ir"),
                            interval=meta["interval"], quiet=meta.get("quiet", QUIET_CORES))
    summary = summarize(raw, ns, meta)
    (out / "summary.json").write_text(json.dumps(summary, indent=1) + "\n")
    (out / "summary.md").write_text(markdown(summary))
    for m in plots(summary, raw, out):
        print(m)
    return 0


if __name__ == "__main__":  # python -m compiler_interrupts.apps.delegation.run DIR
    if len(sys.argv) != 2:
        print("usage: python -m compiler_interrupts.apps.delegation.run RESULTS_DIR  "
              "(recompute the summary and plots from runs.jsonl)", file=sys.stderr)
        raise SystemExit(2)
    raise SystemExit(redo(sys.argv[1]))
