"""``python -m compiler_interrupts app sched``: microsecond-scale preemption with CIs.

A LevelDB 1.23 service (Debian's source, built with ``ci-c++``) on one worker core, fed by
open-loop Poisson arrivals; latency is measured per request from its *scheduled* arrival time to
its completion.  Experiment A's arrivals are by default computed in the worker process itself
(``--arrivals local``: it admits every request whose scheduled time has passed wherever it would
poll the ring, so only its core spins; this VM stalls for milliseconds when both vCPUs spin);
``--arrivals ring`` (and experiment B always) uses a load-generator process pinned to the other
core that sends requests over a shared-memory ring.  Loads are fractions of the fcfs
dispatcher's saturation throughput; each point starts with an unmeasured warm-up.  The worker
reports the stalls it saw itself (gaps between its observation points that no request explains)
and a *stall-free view* (GETs outside the stalls' windows) next to the raw latencies.

Experiment A (Concord-style): 99.5% GET / 0.5% SCAN of 1,000 keys on one worker.  Every request
runs on its own green thread (a pool of contexts, our hand-written context switch in
``ctx_switch.S``).  Policies: ``fcfs`` (run to completion), ``ci-Nus`` (a CI handler, IR mode,
about every N/4 us, preempts the running request once it has run N us and other work waits; it
goes to the tail of the run queue, after the requests that arrived meanwhile) and
``signal-Nus`` (the same decision from a periodic per-thread POSIX timer of period N us).
``ci`` runs the binary and LevelDB built with ``--ci-design=ci`` (or ``--design``); the others
run the same code built with ``--ci-design=none`` (same pipeline, no probes).  Offered loads are
fractions of the capacity that ``fcfs`` measures back to back (the ``none`` build's mean
service time).

Experiment B (Shenango-style): a CPU-bound hashing job on the worker core hosts the dataplane.
``ci``: its CI handler (every ~2 us) serves the GETs waiting in the ring; ``dedicated``: a
dataplane thread on the same core that sleeps on a futex and is woken by the load generator;
``dedicated-spin``: the same thread polling (the kernel shares the core between the two);
``coarse``: the job polls the ring every ~500 us; ``solo`` / ``solo-ci``: the job alone (none /
ci build).  Reported: GET latency and the job's hashes/s relative to ``solo``.

How the ``ci`` policies preempt: the CI handler only decides (quantum used up, other work
waiting, no LevelDB mutex held); it registers a function with ``ci_after_handler()`` that the
runtime calls once the interrupt is over (handler returned, budget re-armed), on the green
thread's stack, and that function switches to the scheduler with ``sched_switch``.  So every
green thread keeps receiving interrupts.  ``signal`` rewrites the RIP of the signal's ucontext
to a trampoline that saves all registers and switches (see the header of ``sched_server.cc``).

Outputs in ``--out``: ``summary.json`` (``variants``: policy -> GET throughput_rps/p50/p99/p999
at 70% load, ``by_load``, ``scans``, ``exp_b``, ``targets``, ``meta``), ``summary.md``,
``runs.jsonl`` and plots ``fig_latency_vs_load.png``, ``fig_throughput_vs_load.png``,
``fig_expB.png``.  Every measured process runs under ``flock /tmp/ci-bench.lock``.
"""

from __future__ import annotations

import argparse
import datetime as _dt
import json
import os
import platform
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any, Mapping, Sequence

from . import leveldb
from ..common import (BENCH_LOCK, bench_lock, clock_ticks, cpu_model, cpu_times, import_pyplot,
                      loadavg)

HEADLINE_LOAD = 0.7
CI_QUANTA = (2, 5, 10)
SIGNAL_QUANTA = (20, 50, 100)
QUICK_LOADS = (0.5, 0.7, 0.9)
FULL_LOADS = (0.3, 0.5, 0.7, 0.8, 0.9)
B_VARIANTS = ("solo", "solo-ci", "ci", "dedicated", "dedicated-spin", "coarse")
B_RATE = 20000

_COLORS = {"fcfs": "#d95f02", "ci-2us": "#66c2a5", "ci-5us": "#1b9e77", "ci-10us": "#006d2c",
           "signal-20us": "#9e9ac8", "signal-50us": "#756bb1", "signal-100us": "#54278f"}


def policies() -> list[str]:
    return ["fcfs", *[f"ci-{q}us" for q in CI_QUANTA], *[f"signal-{q}us" for q in SIGNAL_QUANTA]]


def parse_policy(name: str) -> tuple[str, float]:
    if name == "fcfs":
        return "fcfs", 0.0
    kind, q = name.split("-", 1)
    if kind not in ("ci", "signal") or not q.endswith("us"):
        raise ValueError(f"bad policy {name!r} (fcfs, ci-Nus, signal-Nus)")
    return kind, float(q[:-2])


# ---------------------------------------------------------------------------------------------
# running processes

def run_json(cmd: Sequence[str], timeout: float, lock: bool = True,
             before=None) -> list[dict[str, Any]]:
    """Run a sched_server command (in its own process group: killed whole on timeout) and parse
    its JSON lines.  ``before()`` runs once the lock is held (e.g. waiting for a quiet machine:
    checked before taking the lock, it would be stale after waiting for another benchmark)."""
    with bench_lock(lock):
        if before is not None:
            before()
        proc = subprocess.Popen([str(c) for c in cmd], stdout=subprocess.PIPE,
                                stderr=subprocess.PIPE, text=True, start_new_session=True)
        try:
            out, err = proc.communicate(timeout=timeout)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.communicate()
            raise RuntimeError(f"timeout after {timeout} s: {' '.join(map(str, cmd))}") from None
        finally:
            if proc.poll() is None:
                os.killpg(proc.pid, signal.SIGKILL)
                proc.wait()
    if proc.returncode != 0:
        raise RuntimeError(f"{' '.join(map(str, cmd))} failed ({proc.returncode}): {err[-1500:]}")
    res = []
    for line in out.splitlines():
        line = line.strip()
        if line.startswith("{"):
            res.append(json.loads(line))
    return res


def make_db(exe: Path, where: Path | None = None) -> Path:
    base = Path("/dev/shm") if Path("/dev/shm").is_dir() and where is None else where
    d = Path(tempfile.mkdtemp(prefix="ci-sched-db-", dir=str(base) if base else None))
    run_json([exe, "--db", d / "db", "--load"], timeout=300, lock=False)
    return d


# ---------------------------------------------------------------------------------------------
# aggregation

def _med(xs):
    v = [x for x in xs if x is not None]
    return statistics.median(v) if v else None


def _clean(r: Mapping[str, Any], k: str) -> float | None:
    """The stall-free view of one run (None when every GET met a stall window)."""
    c = r.get("get_clean") or {}
    return c.get(k) if c.get("n") else None


def aggregate_a(raw: Sequence[Mapping[str, Any]]) -> dict[str, dict[str, dict[str, Any]]]:
    """policy -> load -> medians over runs."""
    groups: dict[tuple[str, float], list[Mapping[str, Any]]] = {}
    for r in raw:
        if r.get("exp") == "A" and "error" not in r:
            groups.setdefault((r["name"], r["load"]), []).append(r)
    out: dict[str, dict[str, dict[str, Any]]] = {}
    for (name, load), rs in sorted(groups.items()):
        ok = all(r.get("check") == "ok" for r in rs)
        out.setdefault(name, {})[f"{load:.2f}"] = {
            "load": load,
            "offered_rps": _med(r["offered_rps"] for r in rs),
            "throughput_rps": _med(r["throughput_rps"] for r in rs),
            "p50_us": _med(r["get"]["p50_us"] for r in rs),
            "p99_us": _med(r["get"]["p99_us"] for r in rs),
            "p999_us": _med(r["get"]["p999_us"] for r in rs),
            "p999_us_runs": [r["get"]["p999_us"] for r in rs],
            "scan_p50_us": _med(r["scan"]["p50_us"] for r in rs),
            "scan_p99_us": _med(r["scan"]["p99_us"] for r in rs),
            "preemptions": _med(r["preemptions"] for r in rs),
            "handler_calls": _med(r["handler_calls"] for r in rs),
            "signals": _med(r["signals"] for r in rs),
            "ir_interval": _med(r["ir_interval"] for r in rs),
            "completed_all": all(r["completed"] == r["n"] for r in rs),
            "lg_lag_p999_us": _med((r.get("lg_lag") or {}).get("p999_us") for r in rs),
            "arrivals": "+".join(sorted({r.get("arrivals", "ring") for r in rs})),
            # stall-free view: GETs whose [arrival, completion] meets no stall window
            "clean_p99_us": _med(_clean(r, "p99_us") for r in rs),
            "clean_p999_us": _med(_clean(r, "p999_us") for r in rs),
            "gets_in_stall_windows_frac": _med(
                (r["stalls"]["gets_in_windows"] / r["get"]["n"]) if r.get("stalls")
                and r["get"].get("n") else None for r in rs),
            "stalls_per_s": _med((r["stalls"]["n"] / r["span_s"]) if r.get("stalls")
                                 and r.get("span_s") else None for r in rs),
            "stalls_runs": [None if not r.get("stalls") else {
                k: r["stalls"][k] for k in ("n", "over_200us", "over_500us", "over_1ms",
                                            "max_us", "total_us")} for r in rs],
            "stall_max_us": max((r["stalls"]["max_us"] for r in rs if r.get("stalls")),
                                default=None),
            "get_tail": {k: _med((r.get("get_tail") or {}).get(k) for r in rs)
                         for k in ("thresh_us", "admit_wait_us", "runq_wait_us", "run_span_us",
                                   "in_stall_frac", "scan_busy_frac")},
            "disturbed_runs": sum(1 for r in rs if r.get("disturbed")),
            "check": "ok" if ok else "FAILED",
            "runs": len(rs),
        }
    return out


def aggregate_b(raw: Sequence[Mapping[str, Any]]) -> dict[str, dict[str, Any]]:
    groups: dict[str, list[Mapping[str, Any]]] = {}
    for r in raw:
        if r.get("exp") == "B" and "error" not in r:
            groups.setdefault(r["variant"], []).append(r)
    out: dict[str, dict[str, Any]] = {}
    for v, rs in groups.items():
        out[v] = {
            "hashes_per_s": _med(r["hashes_per_s"] for r in rs),
            "hashes_per_s_runs": [r["hashes_per_s"] for r in rs],
            "p50_us": _med(r["get"]["p50_us"] for r in rs if "get" in r),
            "p99_us": _med(r["get"]["p99_us"] for r in rs if "get" in r),
            "p999_us": _med(r["get"]["p999_us"] for r in rs if "get" in r),
            "handler_calls": _med(r["handler_calls"] for r in rs),
            "rate": rs[0]["rate"],
            "check": "ok" if all(r.get("check") == "ok" for r in rs) else "FAILED",
            "runs": len(rs),
            "disturbed_runs": sum(1 for r in rs if disturbed(r, 25.0)),
        }
    solo = out.get("solo", {}).get("hashes_per_s")
    for v in out.values():
        v["batch_vs_solo"] = (v["hashes_per_s"] / solo) if solo and v["hashes_per_s"] else None
    return out


def targets(by_load: Mapping[str, Mapping[str, Any]], exp_b: Mapping[str, Any]) -> dict[str, Any]:
    key = f"{HEADLINE_LOAD:.2f}"
    t: dict[str, Any] = {}
    f = by_load.get("fcfs", {}).get(key)
    c = by_load.get("ci-5us", {}).get(key)
    if f and c and f["p999_us"] and c["p999_us"]:
        cut = f["p999_us"] / c["p999_us"]
        tput = c["throughput_rps"] / f["throughput_rps"] if f["throughput_rps"] else None
        t["a_p999_cut"] = cut
        t["a_p999_cut_met"] = cut >= 10
        if f.get("clean_p999_us") and c.get("clean_p999_us"):
            t["a_p999_cut_stall_free_view"] = f["clean_p999_us"] / c["clean_p999_us"]
        t["a_throughput_ratio"] = tput
        t["a_throughput_met"] = tput is not None and tput >= 0.95
        # saturation: the largest throughput each reaches over the load sweep
        fmax = max(v["throughput_rps"] for v in by_load["fcfs"].values())
        cmax = max(v["throughput_rps"] for v in by_load["ci-5us"].values())
        t["a_max_throughput_ratio"] = cmax / fmax if fmax else None
        beats = {}
        for name, pts in by_load.items():
            if not name.startswith("signal-") or key not in pts:
                continue
            s = pts[key]
            sustained = s["throughput_rps"] >= 0.95 * s["offered_rps"] and s["completed_all"]
            beats[name] = {"sustained": sustained, "p999_us": s["p999_us"],
                           "ci5_better": c["p999_us"] < s["p999_us"]}
        t["a_vs_signal"] = beats
        t["a_beats_sustainable_signal"] = all(b["ci5_better"] for b in beats.values()
                                              if b["sustained"])
    ci, ded = exp_b.get("ci"), exp_b.get("dedicated")
    if ci and ded and ci.get("batch_vs_solo") is not None:
        t["b_batch_vs_solo"] = ci["batch_vs_solo"]
        t["b_batch_met"] = ci["batch_vs_solo"] >= 0.9
        if ci.get("p99_us") and ded.get("p99_us"):
            t["b_p99_ratio_vs_dedicated"] = ci["p99_us"] / ded["p99_us"]
            t["b_p99_met"] = ci["p99_us"] <= 3 * ded["p99_us"]
    return t


def summarize(raw: Sequence[Mapping[str, Any]], meta: Mapping[str, Any]) -> dict[str, Any]:
    attempts = raw
    raw = [r for r in raw if r.get("kept", True)]  # (every attempt is in runs.jsonl)
    by_load = aggregate_a(raw)
    key = f"{HEADLINE_LOAD:.2f}"
    variants: dict[str, Any] = {}
    for name, pts in by_load.items():
        p = pts.get(key)
        variants[name] = None if p is None else {
            k: p[k] for k in ("throughput_rps", "p50_us", "p99_us", "p999_us", "offered_rps",
                              "scan_p50_us", "scan_p99_us", "preemptions", "check", "arrivals",
                              "clean_p999_us", "stalls_per_s")}
    exp_b = aggregate_b(raw)
    errors = [r for r in raw if "error" in r or r.get("check") not in (None, "ok")]
    measured = [r for r in raw if "error" not in r]
    la = sorted(r["loadavg"][0] for r in measured if r.get("loadavg"))
    quality = {
        "points": len(measured),
        "disturbed": sum(1 for r in measured if r.get("disturbed")
                         or (r.get("exp") == "B" and disturbed(r, 25.0))),
        "attempts_not_kept": sum(1 for r in attempts if r.get("kept") is False),
        "loadavg1_at_points": None if not la else {
            "min": la[0], "median": statistics.median(la), "max": la[-1]},
    }
    return {"variants": variants, "by_load": by_load, "exp_b": exp_b,
            "targets": targets(by_load, exp_b), "errors": len(errors),
            "error_samples": [r.get("error") or r.get("check") for r in errors[:5]],
            "quality": quality, "meta": dict(meta)}


def _fmt(x, nd=1):
    if x is None:
        return "-"
    if isinstance(x, bool):
        return "yes" if x else "NO"
    if abs(x) >= 1000:
        return f"{x:,.0f}"
    return f"{x:.{nd}f}"


def markdown(s: Mapping[str, Any]) -> str:
    m = s["meta"]
    L = ["# sched: microsecond-scale preemption of LevelDB requests with CIs", ""]
    L.append(f"Command: `{m.get('command')}`  ")
    L.append(f"Machine: {m.get('cpu')}, {m.get('cores')} cores; load average at start "
             f"{m.get('loadavg_start')}, at end {m.get('loadavg_end')}; "
             f"{m.get('elapsed_s')} s; every measured process under `flock {BENCH_LOCK}`.  ")
    cal = m.get("calibration", {})
    L.append(f"Service times back to back (none build): GET {_fmt(cal.get('get_us'), 2)} us, "
             f"SCAN of {m.get('scan_len')} keys {_fmt(cal.get('scan_us'))} us; mix mean "
             f"{_fmt(cal.get('mean_us'), 2)} us -> {_fmt(cal.get('capacity_rps'))} req/s back "
             f"to back (ci build: GET {_fmt(m.get('calibration_ci', {}).get('get_us'), 2)} us, "
             f"SCAN {_fmt(m.get('calibration_ci', {}).get('scan_us'))} us).  ")
    if cal.get("saturation_rps"):
        L.append(f"**Capacity** = the fcfs dispatcher's own largest throughput on the mix (a "
                 f"backlog served on green threads, none build): "
                 f"{_fmt(cal.get('saturation_rps'))} req/s (ci build "
                 f"{_fmt(m.get('calibration_ci', {}).get('saturation_rps'))}); loads are "
                 "fractions of this (earlier results used the back-to-back figure, so their "
                 "'70%' was ~85% of what the dispatcher can serve).  ")
    arr = m.get("arrivals", "ring")
    if arr == "local":
        L.append("**Arrivals (experiment A): `local`**: the worker process computes the "
                 "open-loop Poisson schedule itself (same generator and seed as the load "
                 "generator) and admits every request whose scheduled time has passed wherever "
                 "the ring mode polls the ring (scheduler loop, CI handler, signal handler); "
                 "latency runs from the scheduled arrival to completion; results are checked "
                 "after the run. No load generator: the other core is idle. "
                 f"Each point starts with an unmeasured {_fmt(m.get('warm_ms'), 0)} ms warm-up "
                 "at the same rate (a fresh process serves GETs ~2x slower for ~20 ms).  ")
        L.append("**Stalls** (local): gaps the worker sees between its own observation points "
                 "(scheduler loop iterations, CI ticks, signals) over 50 us that no request "
                 "explains (a gap ending with a SCAN's slice gets 100 us more); a stall's "
                 "*window* lasts until the worker is next idle. The *stall-free view* leaves out "
                 "the GETs whose [arrival, completion] meets a window; it is a selection, shown "
                 "next to the raw numbers, never instead. A run is *disturbed* when a stall "
                 "exceeded 500 us or the worker got < 95% of its core. Every run is kept "
                 "(no re-measurement).  ")
        L.append("Experiment B keeps **arrivals `ring`** (load generator on the other core; "
                 "its `dedicated` variant is woken by it).  ")
    else:
        L.append("**Arrivals: `ring`** (load-generator process on the other core).  ")
    L.append("A ring-mode run is *disturbed* when another process took one of our two cores "
             "while it measured (load generator behind its schedule by > 25 us at p99.9, or "
             "the worker process below 95% of its core); "
             + (f"disturbed points are measured up to {m.get('tries')} times (every attempt is "
                "in runs.jsonl, the tables use the least disturbed).  " if (m.get('tries') or 1)
                > 1 else "with `--tries 1` (the default with local arrivals, for experiment B "
                "too) nothing is re-measured.  "))
    L.append(f"Loads {m.get('loads')} of that capacity, {m.get('ms')} ms per point, "
             f"{m.get('runs')} run(s) per point (medians), design `{m.get('design')}`, "
             f"preempted requests requeued at the `{m.get('requeue', 'tail')}`.")
    L.append("")
    q = s.get("quality")
    if q and q.get("points"):
        lq = q.get("loadavg1_at_points") or {}
        L.append(f"**Measurement quality: {q['disturbed']} of {q['points']} measured runs stayed "
                 f"disturbed** (1-min load average when they started: min "
                 f"{_fmt(lq.get('min'), 2)}, median {_fmt(lq.get('median'), 2)}, max "
                 f"{_fmt(lq.get('max'), 2)}: mostly our own "
                 "two spinning processes of the previous points; processes waiting for the "
                 "lock sleep and do not count)."
                 + (" Every run was disturbed: treat all numbers below as upper bounds of "
                    "latency measured on a busy machine." if q["disturbed"] == q["points"]
                    else ""))
        L.append("")
    if m.get("noise_start") or m.get("noise_end"):
        L.append("The machine's own stalls (cores spinning on the TSC, bench lock held, "
                 "nothing else of ours running; a stall of the worker or of the load generator "
                 "delays the whole backlog it creates, so it bounds the tail any policy can "
                 "show here):  ")
        L.append(f"both cores, at the start: {_noise_line(m.get('noise_start'))}  ")
        L.append(f"both cores, at the end: {_noise_line(m.get('noise_end'))}  ")
        if m.get("noise1_start"):
            L.append(f"worker core alone, at the start: {_noise_line(m.get('noise1_start'))}  ")
            L.append(f"worker core alone, at the end: {_noise_line(m.get('noise1_end'))}")
        L.append("")
    key = f"{HEADLINE_LOAD:.2f}"
    L.append(f"## Experiment A at {int(HEADLINE_LOAD * 100)}% load (GET latency, us)")
    L.append("")
    L.append("Raw: every GET of the measured window. Stall-free view: see above (a selection).")
    L.append("")
    L.append("| policy | arrivals | offered req/s | throughput req/s | GET p50 | GET p99 | "
             "**GET p99.9** | stall-free view: GET p99 | stall-free view: GET p99.9 | "
             "GETs in stall windows | stalls/s > 50 us | longest stall us | SCAN p50 | "
             "preemptions | disturbed runs | check |")
    L.append("|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|")
    for name in policies():
        p = s["by_load"].get(name, {}).get(key)
        if not p:
            continue
        fr = p.get("gets_in_stall_windows_frac")
        L.append(f"| {name} | {p.get('arrivals', 'ring')} | {_fmt(p['offered_rps'])} | "
                 f"{_fmt(p['throughput_rps'])} | "
                 f"{_fmt(p['p50_us'], 2)} | {_fmt(p['p99_us'])} | **{_fmt(p['p999_us'])}** | "
                 f"{_fmt(p.get('clean_p99_us'))} | {_fmt(p.get('clean_p999_us'))} | "
                 f"{'-' if fr is None else f'{fr * 100:.1f}%'} | {_fmt(p.get('stalls_per_s'), 0)}"
                 f" | {_fmt(p.get('stall_max_us'), 0)} | "
                 f"{_fmt(p['scan_p50_us'])} | {_fmt(p['preemptions'], 0)} | "
                 f"{p.get('disturbed_runs', 0)}/{p['runs']} | {p['check']} |")
    L.append("")
    L.append(f"Where the slowest GETs' time went ({int(HEADLINE_LOAD * 100)}% load, GETs at or "
             "above the run's p99.9, means, medians over runs): waiting to be admitted "
             "(scheduled but not yet taken from the schedule/ring: the worker was running a "
             "request without polling, or all green threads were in use), in the run queue, "
             "from their first slice to completion; the fraction in a stall window; the "
             "fraction that arrived while a SCAN was in the system.")
    L.append("")
    L.append("| policy | p99.9 us | admit wait us | run-queue wait us | first slice to done us "
             "| in a stall window | a SCAN in the system |")
    L.append("|---|---|---|---|---|---|---|")
    for name in policies():
        p = s["by_load"].get(name, {}).get(key)
        if not p or not p.get("get_tail") or p["get_tail"].get("thresh_us") is None:
            continue
        gt = p["get_tail"]
        L.append(f"| {name} | {_fmt(gt['thresh_us'])} | {_fmt(gt['admit_wait_us'])} | "
                 f"{_fmt(gt['runq_wait_us'])} | {_fmt(gt['run_span_us'])} | "
                 f"{_fmt((gt['in_stall_frac'] or 0) * 100, 0)}% | "
                 f"{_fmt((gt['scan_busy_frac'] or 0) * 100, 0)}% |")
    L.append("")
    loads = sorted({k for pts in s["by_load"].values() for k in pts})
    for title, metric in (("## GET p99.9 (us) vs load, raw", "p999_us"),
                          ("## GET p99.9 (us) vs load, stall-free view", "clean_p999_us"),
                          ("Throughput (req/s) vs load:", "throughput_rps")):
        L.append(title)
        L.append("")
        L.append("| policy | " + " | ".join(loads) + " |")
        L.append("|---|" + "---|" * len(loads))
        for name in policies():
            pts = s["by_load"].get(name)
            if pts:
                L.append(f"| {name} | " + " | ".join(_fmt(pts.get(k, {}).get(metric))
                                                     for k in loads) + " |")
        L.append("")
    if s["exp_b"]:
        b = s["exp_b"]
        L.append(f"## Experiment B: batch job hosting the dataplane "
                 f"({_fmt(next(iter(b.values()))['rate'] or B_RATE)} GET/s)")
        L.append("")
        L.append("| variant | hashes/s | vs solo | GET p50 us | GET p99 us | GET p99.9 us | "
                 "disturbed runs | check |")
        L.append("|---|---|---|---|---|---|---|---|")
        for v in B_VARIANTS:
            if v in b:
                x = b[v]
                L.append(f"| {v} | {_fmt(x['hashes_per_s'])} | {_fmt(x['batch_vs_solo'], 3)} | "
                         f"{_fmt(x['p50_us'], 2)} | {_fmt(x['p99_us'])} | {_fmt(x['p999_us'])} | "
                         f"{x['disturbed_runs']}/{x['runs']} | {x['check']} |")
        L.append("")
    t = s["targets"]
    L.append("## Targets")
    L.append("")
    if "a_p999_cut" in t:
        L.append(f"- ci-5us cuts GET p99.9 vs fcfs at {int(HEADLINE_LOAD * 100)}% load by "
                 f"{t['a_p999_cut']:.1f}x (target >= 10x): **{_fmt(t['a_p999_cut_met'])}**")
        if t.get("a_p999_cut_stall_free_view"):
            L.append(f"- (stall-free view, not the target: ci-5us cuts GET p99.9 by "
                     f"{t['a_p999_cut_stall_free_view']:.1f}x)")
        L.append(f"- ci-5us throughput / fcfs at {int(HEADLINE_LOAD * 100)}% load: "
                 f"{t['a_throughput_ratio']:.3f} (target >= 0.95): "
                 f"**{_fmt(t['a_throughput_met'])}**; largest throughput over the sweep, "
                 f"ci-5us / fcfs: {_fmt(t.get('a_max_throughput_ratio'), 3)}")
        for name, b in t.get("a_vs_signal", {}).items():
            L.append(f"- vs {name}: sustained {_fmt(b['sustained'])}, its p99.9 "
                     f"{_fmt(b['p999_us'])} us; ci-5us better: {_fmt(b['ci5_better'])}")
        n_sus = sum(1 for b in t.get("a_vs_signal", {}).values() if b["sustained"])
        ratios = []
        for n in t.get("a_vs_signal", {}):
            pt = s["by_load"][n][key]
            ratios.append(f"{n} {pt['throughput_rps'] / pt['offered_rps']:.2f}")
        L.append(f"- ci-5us beats every signal quantum that sustains the load: "
                 f"**{_fmt(t['a_beats_sustainable_signal'])}**"
                 + ("" if n_sus else f" (vacuously: no signal quantum sustains "
                    f"{int(HEADLINE_LOAD * 100)}% load; throughput / offered: "
                    + ", ".join(ratios) + ")"))
    if "b_batch_vs_solo" in t:
        L.append(f"- B: ci keeps {t['b_batch_vs_solo'] * 100:.1f}% of the solo batch throughput "
                 f"(target >= 90%): **{_fmt(t['b_batch_met'])}**")
    if "b_p99_ratio_vs_dedicated" in t:
        L.append(f"- B: ci GET p99 / dedicated p99 = {t['b_p99_ratio_vs_dedicated']:.2f} "
                 f"(target <= 3): **{_fmt(t['b_p99_met'])}**")
    for note in m.get("notes", []):
        L.append(f"- note: {note}")
    L.append("")
    if s["errors"]:
        L.append(f"**{s['errors']} run(s) failed or had wrong results**: {s['error_samples']}")
        L.append("")
    return "\n".join(L) + "\n"


def plots(s: Mapping[str, Any], out: Path) -> list[str]:
    plt = import_pyplot()
    if plt is None:
        return ["matplotlib not installed: no plots"]
    msgs = []
    fig, axes = plt.subplots(1, 2, figsize=(11, 4.2))
    for ax, metric, title in ((axes[0], "p99_us", "GET p99"), (axes[1], "p999_us", "GET p99.9")):
        for name in policies():
            pts = s["by_load"].get(name)
            if not pts:
                continue
            xs = sorted(pts.values(), key=lambda p: p["load"])
            ax.plot([p["load"] for p in xs], [p[metric] for p in xs], marker="o", label=name,
                    color=_COLORS.get(name), linestyle="-" if not name.startswith("signal")
                    else "--")
        ax.set_yscale("log")
        ax.set_xlabel("offered load (fraction of fcfs capacity)")
        ax.set_ylabel(f"{title} latency (us, log)")
        ax.set_title(f"{title}: 99.5% GET / 0.5% SCAN")
        ax.grid(alpha=0.3, which="both")
        ax.legend(fontsize=7)
    fig.tight_layout()
    p = out / "fig_latency_vs_load.png"
    fig.savefig(p, dpi=120)
    plt.close(fig)
    msgs.append(f"plot: {p}")

    fig, ax = plt.subplots(figsize=(5.5, 4.2))
    for name in policies():
        pts = s["by_load"].get(name)
        if not pts:
            continue
        xs = sorted(pts.values(), key=lambda p: p["load"])
        ax.plot([p["offered_rps"] / 1e3 for p in xs], [p["throughput_rps"] / 1e3 for p in xs],
                marker="o", label=name, color=_COLORS.get(name))
    ax.set_xlabel("offered kreq/s")
    ax.set_ylabel("throughput kreq/s")
    ax.grid(alpha=0.3)
    ax.legend(fontsize=7)
    fig.tight_layout()
    p = out / "fig_throughput_vs_load.png"
    fig.savefig(p, dpi=120)
    plt.close(fig)
    msgs.append(f"plot: {p}")

    b = s["exp_b"]
    if b:
        vs = [v for v in B_VARIANTS if v in b]
        fig, (a1, a2) = plt.subplots(1, 2, figsize=(10, 4))
        a1.bar(vs, [b[v]["batch_vs_solo"] or 0 for v in vs], color="#1b9e77")
        a1.axhline(0.9, color="#999999", linestyle=":")
        a1.set_ylabel("batch hashes/s vs solo (dotted: 90%)")
        a1.tick_params(axis="x", rotation=30)
        lv = [v for v in vs if b[v].get("p99_us")]
        a2.bar(lv, [b[v]["p99_us"] for v in lv], color="#7570b3")
        a2.set_yscale("log")
        a2.set_ylabel("GET p99 (us, log)")
        a2.tick_params(axis="x", rotation=30)
        fig.tight_layout()
        p = out / "fig_expB.png"
        fig.savefig(p, dpi=120)
        plt.close(fig)
        msgs.append(f"plot: {p}")
    return msgs


# ---------------------------------------------------------------------------------------------
# the experiment

def machine_busy(probe_s: float = 0.2) -> float | None:
    """Cores' worth of CPU used (by anyone) over probe_s seconds."""
    a = cpu_times()
    time.sleep(probe_s)
    b = cpu_times()
    if not a or not b:
        return None
    return (b[0] - a[0]) / clock_ticks() / probe_s


def wait_quiet(max_busy: float, max_wait_s: float) -> float | None:
    """Wait (up to max_wait_s) until the machine uses less than max_busy cores."""
    deadline = time.monotonic() + max_wait_s
    while True:
        busy = machine_busy()
        if busy is None or busy <= max_busy or time.monotonic() >= deadline:
            return busy


def disturbed(r: Mapping[str, Any], max_lag_us: float, min_cpu: float = 0.95,
              max_stall_us: float = 500.0) -> bool:
    """Another process took one of our cores: the load generator fell behind its own schedule,
    or the worker process got less than min_cpu of its core while it measured (it never
    blocks, except experiment B's dedicated thread, whose core the job then uses), or (local
    arrivals: no load generator) the worker itself saw a stall over max_stall_us (the host
    stalls of 0.5-4 ms; the 50-300 us ones at timer ticks are in every run and reported as
    such, not as disturbances)."""
    st = r.get("stalls")
    if r.get("arrivals") == "local" and st and st.get("max_us", 0) > max_stall_us:
        return True
    lag = r.get("lg_lag") or {}
    # after the ring was full (an overloaded worker) the generator is late by design
    if lag and not r.get("ring_full_spins") and (lag.get("p999_us") or 0) > max_lag_us:
        return True
    return (r.get("cpu_frac") or 1.0) < min_cpu


def run_experiments(ns: argparse.Namespace, exes: Mapping[str, Path], db: Path, cal: Mapping,
                    log=print) -> list[dict[str, Any]]:
    """One process per (policy, load) point and per experiment-B variant, interleaved in rounds
    (each round rotates the order); a point whose load generator lagged (p99.9 of its own
    lateness > --max-lag-us) is measured again, up to --tries times, keeping the least
    disturbed attempt."""
    raw: list[dict[str, Any]] = []
    cap = capacity(cal)
    jobs: list[tuple[str, list[str], dict[str, Any]]] = []
    for load in ns.loads:
        rate = round(load * cap, 1)
        for name in ns.policies:
            kind, q = parse_policy(name)
            exe = exes["ci"] if kind == "ci" else exes["none"]
            cmd = [str(exe), "--db", str(db), "--exp", "A", "--policy", kind, "--rates",
                   str(rate), "--ms", str(ns.ms), "--seed", "{seed}", "--arrivals", ns.arrivals,
                   "--warm-ms", str(ns.warm_ms), "--requeue", ns.requeue]
            if kind != "fcfs":
                cmd += ["--quantum-us", str(q)]
            jobs.append(("A", cmd, {"name": name, "load": load}))
    if ns.exp_b:
        for v in B_VARIANTS:
            exe = exes["ci"] if v in ("ci", "solo-ci") else exes["none"]
            cmd = [str(exe), "--db", str(db), "--exp", "B", "--variant",
                   "solo" if v == "solo-ci" else v, "--rate", str(ns.b_rate),
                   "--ms", str(ns.b_ms), "--seed", "{seed}"]
            jobs.append(("B", cmd, {"variant": v}))
    timeout = 60 + 4 * max(ns.ms, ns.b_ms) / 1e3
    with open(ns.out / "runs.jsonl", "w") as f:
        for rep in range(ns.runs):
            k = (rep * len(jobs)) // max(1, ns.runs)
            order = jobs[k:] + jobs[:k]
            t_round = time.monotonic()
            for exp, cmd, extra in order:
                c = [x.replace("{seed}", str(rep + 1)) for x in cmd]
                best = None
                tried = []
                for attempt in range(ns.tries):
                    pre: dict[str, Any] = {}

                    def before(pre=pre):
                        if ns.quiet is not None:
                            pre["busy"] = wait_quiet(ns.quiet, ns.max_wait)
                        pre["la"] = loadavg()

                    try:
                        res = run_json(c, timeout=timeout, lock=not ns.no_lock, before=before)
                        r = res[0]
                    except (RuntimeError, IndexError) as e:
                        r = {"exp": exp, "error": str(e)[:500]}
                    r.update(extra)
                    r.update({"round": rep, "attempt": attempt, "loadavg": pre.get("la"),
                              "busy_before": pre.get("busy")})
                    if "error" not in r:
                        r["disturbed"] = disturbed(r, ns.max_lag_us)
                    tried.append(r)
                    if best is None or ("error" in best and "error" not in r) or (
                            "error" not in r and best.get("disturbed")
                            and not r["disturbed"]):
                        best = r
                    if "error" not in r and not r["disturbed"]:
                        break
                for r in tried:  # every attempt, the one the tables use marked kept
                    r["kept"] = r is best
                    raw.append(r)
                    f.write(json.dumps(r) + "\n")
                f.flush()
            nd = sum(1 for r in raw if r.get("round") == rep and r.get("disturbed")
                     and r["kept"])
            ne = sum(1 for r in raw if r.get("round") == rep and "error" in r)
            log(f"  round {rep + 1}/{ns.runs}: {len(jobs)} points in "
                f"{time.monotonic() - t_round:.1f} s ({nd} disturbed, {ne} errors)")
    return raw


def capacity(cal: Mapping[str, Any]) -> float:
    """Loads are fractions of this: the fcfs dispatcher's own largest throughput on the mix
    (sched_server --calibrate's saturation_rps; back to back, without admission and switches,
    requests are ~15% cheaper: capacity_rps)."""
    return cal.get("saturation_rps") or cal["capacity_rps"]


def calibrate(exe: Path, db: Path, ns: argparse.Namespace) -> dict[str, Any]:
    """Service times back to back; the least disturbed (fastest) of 3 measurements (1 with
    --quick): on a shared machine a slower one means another process had the core."""
    best = None
    for _ in range(1 if ns.quick else 3):
        quiet = (lambda: wait_quiet(ns.quiet, ns.max_wait)) if ns.quiet is not None else None
        c = run_json([exe, "--db", db, "--calibrate"], timeout=120, lock=not ns.no_lock,
                     before=quiet)[0]
        if best is None or capacity(c) > capacity(best):
            best = c
    return best


def noise(exe: Path, ns: argparse.Namespace, cpus: int = 2) -> dict[str, Any] | None:
    """The machine's own stalls on our two cores (``sched_server --noise``), under the lock;
    cpus=1: the worker's core alone spinning (local arrivals: the other core is idle)."""
    try:
        return run_json([exe, "--noise", str(ns.noise_ms), "--noise-cpus", str(cpus)],
                        timeout=60 + ns.noise_ms / 1e3, lock=not ns.no_lock)[0]
    except (RuntimeError, IndexError) as e:
        return {"error": str(e)[:300]}


def _noise_line(n: Mapping[str, Any] | None) -> str:
    if not n or "error" in n:
        return "-"
    sec = n["seconds"] or 1.0
    return "; ".join(
        f"cpu{c['cpu']}: {c['gaps_over_500us'] / sec:.1f}/s over 500 us "
        f"({c['gaps_over_1ms'] / sec:.1f}/s over 1 ms), longest {c['max_gap_us']:,.0f} us, "
        f"{c['lost_frac'] * 100:.2f}% of the time in gaps over 10 us "
        f"({c['gaps_over_10us'] / sec:,.0f}/s)" for c in n["cpus"])


def add_parser(subparsers) -> argparse.ArgumentParser:
    p = subparsers.add_parser(
        "sched",
        help="microsecond-scale preemption of LevelDB requests (green threads + CIs) and a "
             "batch job hosting the dataplane",
        description=__doc__.split("\n\n", 1)[1] if __doc__ else None,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument("--quick", action="store_true",
                   help=f"loads {','.join(map(str, QUICK_LOADS))}, 250 ms per point, 1 run "
                        "(under a minute once LevelDB is built and cached)")
    p.add_argument("--out", type=Path, default=None,
                   help="output directory (default bench-results/sched-<timestamp>)")
    p.add_argument("--loads", default=None,
                   help=f"offered loads as fractions of capacity (default "
                        f"{','.join(map(str, FULL_LOADS))})")
    p.add_argument("--policies", default=None,
                   help=f"experiment A policies (default {','.join(policies())})")
    p.add_argument("--runs", type=int, default=None, help="runs per point (default 3; quick 1)")
    p.add_argument("--ms", type=float, default=None,
                   help="duration of one load point in ms (default 1000; quick 250)")
    p.add_argument("--b-rate", type=float, default=B_RATE,
                   help=f"experiment B GET rate (default {B_RATE}/s)")
    p.add_argument("--b-ms", type=float, default=None,
                   help="experiment B duration per run in ms (default 1000; quick 400)")
    p.add_argument("--no-exp-b", dest="exp_b", action="store_false", help="skip experiment B")
    p.add_argument("--design", default="ci", choices=("ci", "naive"),
                   help="ci-cc design of the CI build (default ci)")
    p.add_argument("--tries", type=int, default=None,
                   help="measure a point again when it was disturbed (default 2; "
                        "quick 1)")
    p.add_argument("--max-lag-us", type=float, default=25.0,
                   help="a point is disturbed when the load generator's own lateness has "
                        "p99.9 above this (default 25 us)")
    p.add_argument("--quiet", type=float, default=None, metavar="CORES",
                   help="before each point wait until the machine uses at most CORES cores "
                        "(default 0.3 without --quick; 'none' in quick)")
    p.add_argument("--max-wait", type=float, default=5.0,
                   help="longest wait for --quiet (default 5 s)")
    p.add_argument("--noise-ms", type=float, default=None,
                   help="measure the machine's stalls on both cores for this long at the start "
                        "and end (default 2000; quick 200)")
    p.add_argument("--arrivals", default="local", choices=("local", "ring"),
                   help="experiment A: arrivals computed in the worker process itself (local, "
                        "default: only the worker's core spins) or sent over a shared-memory "
                        "ring by a load-generator process on the other core (ring); "
                        "experiment B always uses the ring")
    p.add_argument("--requeue", default="tail", choices=("tail", "low"),
                   help="experiment A: where a preempted request goes: the tail of the run "
                        "queue (default) or a second queue served when no new request waits")
    p.add_argument("--warm-ms", type=float, default=100.0,
                   help="experiment A: unmeasured warm-up at the same rate before each point "
                        "(default 100 ms)")
    p.add_argument("--no-lock", action="store_true",
                   help=f"do not take {BENCH_LOCK} around measured runs")
    p.set_defaults(func=main)
    return p


def _fill(ns: argparse.Namespace) -> None:
    q = ns.quick
    ns.loads = [float(x) for x in ns.loads.split(",")] if ns.loads else list(
        QUICK_LOADS if q else FULL_LOADS)
    ns.policies = ns.policies.split(",") if ns.policies else policies()
    for name in ns.policies:
        parse_policy(name)
    ns.runs = ns.runs or (1 if q else 3)
    ns.ms = ns.ms or (250 if q else 1000)
    ns.b_ms = ns.b_ms or (400 if q else 1000)
    # local arrivals: every run counts (re-measuring would select runs by their stalls)
    ns.tries = ns.tries or (1 if q or ns.arrivals == "local" else 2)
    ns.noise_ms = ns.noise_ms or (200 if q else 2000)
    if ns.quiet is None and not q:
        # local arrivals use one core: another user's process may run on the other one
        ns.quiet = 1.2 if ns.arrivals == "local" else 0.3
    if ns.out is None:
        stamp = _dt.datetime.now().strftime("%Y%m%d-%H%M%S")
        ns.out = Path("bench-results") / f"sched-{stamp}"


def main(ns: argparse.Namespace) -> int:
    _fill(ns)
    out: Path = ns.out
    out.mkdir(parents=True, exist_ok=True)
    t0 = time.monotonic()
    try:
        exes = {"none": leveldb.server("none", log=print),
                "ci": leveldb.server(ns.design, log=print)}
    except leveldb.SetupError as e:
        print(f"sched: cannot build LevelDB: {e}", file=sys.stderr)
        return 2
    print(f"built in {time.monotonic() - t0:.1f} s: {exes['none'].name}, {exes['ci'].name}",
          flush=True)
    dbdir = make_db(exes["none"])
    load0 = loadavg()
    try:
        db = dbdir / "db"
        noise0 = noise(exes["none"], ns)
        noise0_1 = noise(exes["none"], ns, 1)
        print(f"machine stalls, both cores spinning: {_noise_line(noise0)}; worker core alone: "
              f"{_noise_line(noise0_1)}", flush=True)
        cal = calibrate(exes["none"], db, ns)
        cal_ci = calibrate(exes["ci"], db, ns)
        print(f"capacity (fcfs dispatcher saturated, none build): {capacity(cal):.0f} req/s; "
              f"back to back {cal['capacity_rps']:.0f} req/s "
              f"(GET {cal['get_us']:.2f} us, SCAN {cal['scan_us']:.1f} us); ci build GET "
              f"{cal_ci['get_us']:.2f} us, SCAN {cal_ci['scan_us']:.1f} us", flush=True)
        raw = run_experiments(ns, exes, db, cal, log=lambda m: print(m, flush=True))
        noise1 = noise(exes["none"], ns)
        noise1_1 = noise(exes["none"], ns, 1)
    finally:
        shutil.rmtree(dbdir, ignore_errors=True)
    argv = sys.argv[1:]
    meta = {
        "command": "python -m compiler_interrupts " + " ".join(argv),
        "quick": ns.quick, "runs": ns.runs, "ms": ns.ms, "loads": ns.loads,
        "policies": ns.policies, "design": ns.design, "b_rate": ns.b_rate, "b_ms": ns.b_ms,
        "scan_len": 1000, "scan_frac": 0.005, "nkeys": 100000,
        "calibration": cal, "calibration_ci": cal_ci,
        "cpu": cpu_model(), "cores": os.cpu_count(), "platform": platform.platform(),
        "loadavg_start": load0, "loadavg_end": loadavg(),
        "lock": None if ns.no_lock else BENCH_LOCK, "notes": [], "tries": ns.tries,
        "quiet": ns.quiet, "max_lag_us": ns.max_lag_us,
        "noise_start": noise0, "noise_end": noise1,
        "noise1_start": noise0_1, "noise1_end": noise1_1,
        "arrivals": ns.arrivals, "arrivals_b": "ring", "requeue": ns.requeue,
        "warm_ms": ns.warm_ms, "capacity_rps": capacity(cal),
    }
    summary = summarize(raw, meta)
    summary["meta"]["elapsed_s"] = round(time.monotonic() - t0, 1)
    (out / "summary.json").write_text(json.dumps(summary, indent=1) + "\n")
    md = markdown(summary)
    (out / "summary.md").write_text(md)
    for m in plots(summary, out):
        print(m)
    print(md)
    print(f"wrote {out / 'summary.json'}, {out / 'summary.md'} ({summary['meta']['elapsed_s']} s)")
    return 1 if summary["errors"] else 0


def redo(out_dir: str | Path) -> int:
    """Recompute summary.json/summary.md and the plots from runs.jsonl."""
    out = Path(out_dir)
    raw = [json.loads(x) for x in (out / "runs.jsonl").read_text().splitlines() if x]
    meta = json.loads((out / "summary.json").read_text())["meta"]
    s = summarize(raw, meta)
    (out / "summary.json").write_text(json.dumps(s, indent=1) + "\n")
    (out / "summary.md").write_text(markdown(s))
    for m in plots(s, out):
        print(m)
    return 0


def cli(argv: list[str] | None = None) -> int:
    """``python -m compiler_interrupts.apps.sched.run [--quick] --out DIR`` (without apps/cli.py);
    ``... run --redo DIR`` recomputes the summary of a finished run."""
    argv = list(sys.argv[1:] if argv is None else argv)
    if argv[:1] == ["--redo"] and len(argv) == 2:
        return redo(argv[1])
    parser = argparse.ArgumentParser(prog="python -m compiler_interrupts.apps.sched.run")
    sub = parser.add_subparsers(dest="app", required=True)
    add_parser(sub)
    ns = parser.parse_args(["sched", *argv])
    return ns.func(ns)


if __name__ == "__main__":
    raise SystemExit(cli())
