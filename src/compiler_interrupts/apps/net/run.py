"""``python -m compiler_interrupts app net``: kernel-bypass HTTP with the stack polled from a CI
handler (the paper's mTCP experiment) on DPDK ``net_memif`` + lwIP.

A server and a load generator (``netapp``, our C code + lwIP's core, built with ``ci-cc``: the
``ci`` server with ``--ci-design=ci``, every other process with ``--ci-design=none``, the same
pipeline without probes) run as two processes, the server on core 1, the client on core 0, each
with its own DPDK EAL (no hugepages, no PCI) and lwIP instance, linked by a memif pair.  HTTP/1.1
keep-alive; a request ``GET /work?u=U&s=S`` costs U rounds of a multiply-xor hash (the unit is
calibrated, ~0.22 us) and returns the 64-bit result, which the client checks (every 64th).

Server variants (all confined to the server core unless said otherwise):

- ``ci``: one thread does the requests' work; a CI handler polls memif/lwIP.  The handler is
  timed with the runtime's IR mode (IR interval = measured IR instructions per TSC cycle of the
  work x ``--interval`` cycles) plus a coarse TSC check in the handler, not with the runtime's
  cycles mode: its interrupt path reads the clock every time (~250 cycles in this VM), while an
  IR budget costs nothing until it runs out.
- ``inline``: one thread that polls memif/lwIP between requests only (no CIs).
- ``dedicated_shared``: mTCP's model, a stack thread polling memif/lwIP handing requests to an
  app thread through rings, both threads on the server core (each yields the core when idle).
- ``dedicated_split``: the same with the stack thread on the client's core (the only other
  core of a 2-core machine); it counts as 2 server cores.
- ``kernel``: the same server on Linux TCP sockets (127.0.0.1) with epoll, one thread.

The sweep: (1) saturation: closed loop (``--conns`` connections, one request outstanding each)
for every request cost; (2) latency vs load: open loop (Poisson) at fractions of the best
saturated throughput of that cost (the same offered rates for every variant).  The ``mix`` cost
is 90% 1-us and 10% 100-us requests: the single-threaded servers (ci, inline) answer a short
request as soon as they receive it when nothing is queued before it on its connection; in
``ci`` that happens inside the CI handler (it preempts a long request), in ``inline`` only
between requests, which is the head-of-line blocking CIs remove.  Runs are interleaved (a round
over all variants, then the next) and the sweep holds ``/tmp/ci-bench.lock``; a run during
which other processes used more than ``--max-other`` cores is run again.  The full sweep also
runs ``ci`` at several handler periods (``--intervals``) and once with the runtime's cycles mode.

Outputs in ``--out``: ``summary.json``, ``summary.md``, ``runs.jsonl``,
``fig_throughput.png`` (throughput per server core vs cost), ``fig_latency.png`` (p99 vs load).
"""

from __future__ import annotations

import argparse
import datetime as _dt
import json
import math
import os
import platform
import resource
import select
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from importlib import resources
from pathlib import Path
from typing import Any, Mapping, Sequence

from . import setup as net_setup
from ..common import (BENCH_LOCK, bench_lock, ci_cc_command, clock_ticks, cpu_model, csv_list,
                      import_pyplot, loadavg)

VARIANTS = ("ci", "inline", "dedicated_shared", "dedicated_split", "kernel")
SOURCES = ("netapp.c", "net_http.c", "net_dpdk.c", "net_server.c", "net_client.c")
#: Request costs (us) of the sweep; "mix" = MIX_SHORT_US / MIX_LONG_US at MIX_LONG_PERMILLE.
COSTS = ("1", "10", "100", "mix")
HEADLINE = "10"
MIX_SHORT_US, MIX_LONG_US, MIX_LONG_PERMILLE = 1.0, 100.0, 100
LOADS = (0.25, 0.5, 0.75, 0.9)
#: CI handler period target in TSC cycles (~2 us at 2.6 GHz).
DEFAULT_INTERVAL = 5000
LOCK = BENCH_LOCK
SERVER_CORE, CLIENT_CORE = 1, 0

_COLORS = {"ci": "#1b9e77", "inline": "#d95f02", "dedicated_shared": "#7570b3",
           "dedicated_split": "#a6761d", "kernel": "#666666"}


def server_cores(variant: str) -> int:
    return 2 if variant == "dedicated_split" else 1


# ---------------------------------------------------------------------------------------------
# building

def source_dir() -> Path:
    return Path(str(resources.files("compiler_interrupts.apps.net")))


def build(out_dir: Path, design: str, cc: Sequence[str] | None = None) -> Path:
    """Build ``netapp`` (+ lwIP's core) with ``ci-cc --ci-design=design``; returns the path."""
    flags = net_setup.dpdk_flags()
    lwip = net_setup.find_lwip_src()
    if flags is None or lwip is None:
        raise net_setup.SetupError("missing: " + ", ".join(net_setup.missing()))
    out_dir.mkdir(parents=True, exist_ok=True)
    exe = out_dir / f"netapp_{design}"
    src = source_dir()
    cflags, libs = flags
    cmd = [*(cc or ci_cc_command()), f"--ci-design={design}", "-O2", "-pthread",
           "-Wno-macro-redefined", f"-I{src / 'lwip_port'}", f"-I{lwip / 'include'}", *cflags,
           *[str(src / s) for s in SOURCES], *[str(lwip / f) for f in net_setup.LWIP_FILES],
           "-o", str(exe), *libs, "-lm"]
    env = {k: v for k, v in os.environ.items() if k not in ("CI_DESIGN", "CI_FLAGS")}
    proc = subprocess.run(cmd, capture_output=True, text=True, env=env)
    if proc.returncode != 0:
        raise RuntimeError(f"build failed: {' '.join(cmd)}\n{proc.stdout}{proc.stderr}")
    return exe


def calibrate(exe: Path) -> float:
    """Microseconds per work unit (the none build, on the server core)."""
    p = subprocess.run([str(exe), "calibrate", "--units", "64"], capture_output=True, text=True,
                       timeout=30)
    return float(json.loads(p.stdout)["us_per_unit"])


# ---------------------------------------------------------------------------------------------
# running one server + client pair

_seq = 0


def _read_ready(proc: subprocess.Popen, timeout: float) -> int:
    """Waits for the server's READY line; returns its port."""
    deadline = time.monotonic() + timeout
    buf = b""
    fd = proc.stdout.fileno()
    while time.monotonic() < deadline:
        r, _, _ = select.select([fd], [], [], 0.05)
        if r:
            chunk = os.read(fd, 4096)
            if not chunk:
                break
            buf += chunk
            if b"\n" in buf:
                line, _, rest = buf.partition(b"\n")
                if line.startswith(b"READY port="):
                    proc._net_rest = rest  # type: ignore[attr-defined]
                    return int(line.split(b"=", 1)[1])
                raise RuntimeError(f"server: unexpected output {line!r}")
        elif proc.poll() is not None:
            break
    raise RuntimeError("server did not start: " + buf.decode(errors="replace")
                       + (proc.stderr.read().decode(errors="replace") if proc.poll() is not None
                          else " (timeout)"))


def _stop(proc: subprocess.Popen, timeout: float = 10.0) -> tuple[str, str]:
    if proc.poll() is None:
        proc.send_signal(signal.SIGTERM)
    try:
        out, err = proc.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        proc.kill()
        out, err = proc.communicate()
    rest = getattr(proc, "_net_rest", b"")
    return (rest + (out or b"")).decode(errors="replace"), (err or b"").decode(errors="replace")


def _cpu_times() -> tuple[float, float] | None:
    """(busy, total) jiffies of the machine.  Busy is user + nice + system time only: the
    kernel variant's loopback TCP runs largely in softirq context, which is not charged to our
    processes' rusage and would otherwise count as another process' load."""
    try:
        f = [float(x) for x in Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:]]
    except (OSError, ValueError):
        return None
    return f[0] + f[1] + f[2], sum(f[:8])


def wait_idle(max_other: float, max_wait_s: float) -> float | None:
    """Wait (up to max_wait_s) until other processes use less than max_other cores (measured
    over 100 ms); returns the last measurement."""
    deadline = time.monotonic() + max_wait_s
    tick = clock_ticks()
    while True:
        a = _cpu_times()
        time.sleep(0.1)
        b = _cpu_times()
        load = (b[0] - a[0]) / tick / 0.1 if a and b else None
        if load is None or load <= max_other or time.monotonic() >= deadline:
            return load


def run_pair(exes: Mapping[str, Path], variant: str, phases: Sequence[str], *, conns: int = 16,
             interval: int = DEFAULT_INTERVAL, short_units: int = 0, verify: bool = False,
             timeout: float = 120.0, lock: bool = True,
             idle_wait_s: float = 0.0, max_other: float = 0.25,
             timer: str = "ir") -> dict[str, Any]:
    """Start a server of ``variant``, run one client with ``phases`` (netapp --phase strings)
    against it, stop the server; returns {"client": ..., "server": ..., "other_load": ...}."""
    global _seq
    _seq += 1
    ncpu = os.cpu_count() or 1
    score, ccore = (SERVER_CORE, CLIENT_CORE) if ncpu >= 2 else (0, 0)
    tag = f"cinet{os.getpid()}x{_seq}"
    tmp = Path(tempfile.mkdtemp(prefix="ci-net-"))
    sock = tmp / "memif.sock"
    base = "kernel" if variant == "kernel" else variant.split("_")[0]
    srv_exe = exes["ci"] if variant == "ci" else exes["none"]
    scmd = [str(srv_exe), "server", "--variant", base, "--core", str(score), "--sock", str(sock),
            "--prefix", tag + "s", "--interval", str(interval), "--short-units", str(short_units),
            "--max-seconds", str(int(timeout) + 30)]
    if variant.startswith("dedicated"):
        scmd += ["--arrangement", variant.split("_")[1], "--other-core", str(ccore)]
    if timer == "cycles":
        scmd.append("--cycles-timer")
    ccmd = [str(exes["none"]), "client", "--variant", base, "--core", str(ccore), "--sock",
            str(sock), "--prefix", tag + "c", "--conns", str(conns),
            "--max-seconds", str(int(timeout) + 10)]
    if verify:
        ccmd.append("--verify")
    if variant == "dedicated_split":
        ccmd.append("--yield")  # the client shares its core with the server's stack thread
    for ph in phases:
        ccmd += ["--phase", ph]
    srv = None
    try:
        with bench_lock(lock) as waited:
            idle_before = wait_idle(max_other, idle_wait_s) if idle_wait_s > 0 else None
            load = loadavg()
            r0 = resource.getrusage(resource.RUSAGE_CHILDREN)
            c0, t0 = _cpu_times(), time.monotonic()
            srv = subprocess.Popen(scmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
            port = _read_ready(srv, 20.0)
            ccmd += ["--port", str(port)]
            cli = subprocess.run(ccmd, capture_output=True, text=True, timeout=timeout)
            sout, serr = _stop(srv)
            c1, t1 = _cpu_times(), time.monotonic()
            r1 = resource.getrusage(resource.RUSAGE_CHILDREN)
        if cli.returncode != 0:
            raise RuntimeError(f"client failed (exit {cli.returncode}): {' '.join(ccmd)}\n"
                               f"{cli.stdout[-2000:]}{cli.stderr[-2000:]}\nserver: {serr[-1000:]}")
        client = json.loads(cli.stdout)
        server = json.loads(sout.strip().splitlines()[-1]) if sout.strip() else {}
        other = None
        if c0 and c1 and t1 > t0:
            tick = os.sysconf("SC_CLK_TCK") if hasattr(os, "sysconf") else 100
            busy = (c1[0] - c0[0]) / tick
            own = (r1.ru_utime - r0.ru_utime) + (r1.ru_stime - r0.ru_stime)  # server + client
            other = max(0.0, busy - own) / (t1 - t0)
        return {"variant": variant, "client": client, "server": server, "loadavg": load,
                "other_load": other, "other_load_before": idle_before, "lock_wait_s": waited}
    finally:
        if srv is not None and srv.poll() is None:
            srv.kill()
            srv.wait()
        shutil.rmtree(tmp, ignore_errors=True)
        for p in (tag + "s", tag + "c"):
            shutil.rmtree(f"/var/run/dpdk/{p}", ignore_errors=True)


# ---------------------------------------------------------------------------------------------
# the sweep

def cost_units(cost: str, us_per_unit: float) -> tuple[int, int, int]:
    """(units, long_units, long_permille) of a cost name."""
    if cost == "mix":
        return (max(1, round(MIX_SHORT_US / us_per_unit)),
                max(1, round(MIX_LONG_US / us_per_unit)), MIX_LONG_PERMILLE)
    return max(1, round(float(cost) / us_per_unit)), 0, 0


def phase_arg(open_loop: bool, cost: str, us_per_unit: float, rate: float, ms: float) -> str:
    u, lu, lp = cost_units(cost, us_per_unit)
    s = f"{'open' if open_loop else 'closed'},{u},{rate:.1f},{ms:.0f}"
    return s + (f",{lu},{lp}" if lu else "")


def mean_cost_us(cost: str) -> float:
    if cost == "mix":
        f = MIX_LONG_PERMILLE / 1000
        return (1 - f) * MIX_SHORT_US + f * MIX_LONG_US
    return float(cost)


def _median(xs):
    v = [x for x in xs if x is not None and not (isinstance(x, float) and math.isnan(x))]
    return statistics.median(v) if v else None


def sweep(ns: argparse.Namespace, exes: Mapping[str, Path], upu: float, log=print):
    """Runs stage 1 (saturation) and stage 2 (open-loop loads), holding the benchmark lock for
    the whole sweep (per-run locking lets other benchmarks in between every run, and a sweep of
    ~90 runs then waits for most of an hour); returns the raw records."""
    if not ns.no_lock:
        log(f"waiting for {LOCK} ...")
        with bench_lock(True) as waited:
            log(f"  got it after {waited:.0f} s")
            return _sweep(ns, exes, upu, log, lock_wait_s=waited)
    return _sweep(ns, exes, upu, log, lock_wait_s=None)


_LOCK_WAIT: list[float | None] = [None]


def _sweep(ns, exes, upu, log, lock_wait_s):
    _LOCK_WAIT[0] = lock_wait_s
    raw: list[dict[str, Any]] = []
    f = open(ns.out / "runs.jsonl", "w")
    short_units = cost_units("mix", upu)[0]
    t_start = time.monotonic()

    def one(variant, phases, stage, rep, interval=None, timer="ir"):
        for attempt in range(ns.retries + 1):
            try:
                r = run_pair(exes, variant, phases, conns=ns.conns,
                             interval=interval or ns.interval,
                             short_units=short_units, lock=False,  # held by sweep()
                             idle_wait_s=ns.max_wait, max_other=ns.max_other, timer=timer)
            except (RuntimeError, subprocess.TimeoutExpired, json.JSONDecodeError) as exc:
                log(f"error: {variant} {stage}: {exc}")
                r = {"variant": variant, "error": str(exc)}
                break
            if r["other_load"] is None or r["other_load"] <= ns.max_other:
                break
            if attempt < ns.retries:
                log(f"  {variant} {stage}: other processes used {r['other_load']:.2f} cores, "
                    "running it again")
        r.update(stage=stage, rep=rep, attempts=attempt + 1)
        raw.append(r)
        f.write(json.dumps(r) + "\n")
        f.flush()

    sat_phases = [phase_arg(False, c, upu, 1, ns.ms) for c in ns.costs]
    for rep in range(ns.runs):
        order = list(ns.variants[rep % len(ns.variants):]) + list(ns.variants[:rep % len(ns.variants)])
        for v in order:
            one(v, sat_phases, "saturation", rep)
        log(f"  saturation round {rep + 1}/{ns.runs} ({time.monotonic() - t_start:.0f} s)")
    # offered loads: fractions of the best saturated throughput *per server core* of each cost
    # (what one core can serve; the same offered rates for every variant)
    best = {}
    for i, c in enumerate(ns.costs):
        per_v = []
        for v in ns.variants:
            tp = _median(r["client"]["phases"][i]["throughput_rps"] for r in raw
                         if r.get("stage") == "saturation" and r["variant"] == v and "error" not in r
                         and len(r["client"]["phases"]) > i)
            if tp:
                per_v.append(tp / server_cores(v))
        best[c] = max(per_v) if per_v else 1e6 / mean_cost_us(c)
    # one server/client pair per load fraction (every cost at that load), so that an overloaded
    # point cannot disturb the lighter ones
    for rep in range(ns.runs):
        order = list(ns.variants[rep % len(ns.variants):]) + list(ns.variants[:rep % len(ns.variants)])
        for v in order:
            for frac in ns.loads:
                one(v, [phase_arg(True, c, upu, frac * best[c], ns.ms) for c in ns.costs],
                    f"load{frac:g}", rep)
        if ns.loads:
            log(f"  load round {rep + 1}/{ns.runs} ({time.monotonic() - t_start:.0f} s)")
    # the ci handler's period: saturated throughput at the headline cost, and the mix at half load
    if ns.intervals and "ci" in ns.variants:
        phases = [phase_arg(False, HEADLINE, upu, 1, ns.ms),
                  phase_arg(True, "mix", upu, 0.5 * best.get("mix", best.get(HEADLINE, 1e4)),
                            ns.ms)]
        for rep in range(ns.runs):
            for iv in ns.intervals:
                one("ci", phases, f"interval{iv}", rep, interval=iv)
            # the runtime's cycles mode at the default period, for comparison
            one("ci", phases, f"cycles{ns.interval}", rep, interval=ns.interval, timer="cycles")
        log(f"  interval sweep done ({time.monotonic() - t_start:.0f} s)")
    f.close()
    return raw, best


# ---------------------------------------------------------------------------------------------
# summary

def _phase_stats(phs: Sequence[Mapping[str, Any]]) -> dict[str, Any]:
    out = {}
    for k in ("throughput_rps", "p50_us", "p90_us", "p99_us", "p999_us", "short_p50_us",
              "short_p90_us", "short_p99_us", "long_p99_us"):
        out[k] = _median(p.get(k) for p in phs)
    out["throughput_runs"] = [p["throughput_rps"] for p in phs]
    out["errors"] = sum(p.get("errors", 0) for p in phs)
    out["verified"] = sum(p.get("verified", 0) for p in phs)
    out["dropped"] = sum(p.get("dropped", 0) for p in phs)
    out["lost"] = sum(p.get("lost", 0) for p in phs)
    return out


def summarize(raw: Sequence[Mapping[str, Any]], best: Mapping[str, float],
              ns: argparse.Namespace, meta: Mapping[str, Any]) -> dict[str, Any]:
    ok = [r for r in raw if "error" not in r]
    errors = [r["error"] for r in raw if "error" in r]
    variants: dict[str, Any] = {}
    by_cost: dict[str, Any] = {}
    for v in ns.variants:
        by_cost[v] = {}
        for i, c in enumerate(ns.costs):
            sat = [r["client"]["phases"][i] for r in ok
                   if r["stage"] == "saturation" and r["variant"] == v]
            if not sat:
                continue
            st = _phase_stats(sat)
            st["server_cores"] = server_cores(v)
            st["throughput_per_core"] = (st["throughput_rps"] / server_cores(v)
                                         if st["throughput_rps"] else None)
            loads = {}
            for frac in ns.loads:
                phs = [r["client"]["phases"][i] for r in ok if r["stage"] == f"load{frac:g}"
                       and r["variant"] == v and len(r["client"]["phases"]) > i]
                if phs:
                    ls = _phase_stats(phs)
                    ls["offered_rps"] = phs[0]["rate"]
                    # kept up: served >= 90% of the offered rate (a 0.64 s window of Poisson
                    # arrivals at 2.5k/s varies by a few %), dropped < 0.1% of the requests
                    sent = sum(p.get("sent", 0) for p in phs) + ls["dropped"]
                    ls["sustained"] = bool(ls["throughput_rps"] and
                                           ls["throughput_rps"] >= 0.9 * ls["offered_rps"]
                                           and ls["dropped"] <= 0.001 * sent
                                           and ls["lost"] == 0)
                    loads[f"{frac:g}"] = ls
            st["loads"] = loads
            by_cost[v][c] = st
        srv = [r["server"] for r in ok if r["variant"] == v and r["stage"] == "saturation"]
        h = by_cost[v].get(HEADLINE) or next(iter(by_cost[v].values()), None)
        if h is None:
            variants[v] = None
            continue
        variants[v] = {k: h[k] for k in ("throughput_rps", "throughput_per_core", "server_cores",
                                         "p50_us", "p99_us", "p999_us")}
        variants[v]["cost_us"] = HEADLINE if HEADLINE in by_cost[v] else None
        if v == "ci" and srv:
            variants[v]["ir_interval"] = _median(s.get("ir_interval") for s in srv)
            variants[v]["handler_polls"] = _median(s.get("ci_polls") for s in srv)
    s = {"variants": variants, "by_cost": by_cost,
         "best_saturated_rps": dict(best), "targets": targets(by_cost, ns),
         "errors": errors, "meta": dict(meta)}
    s["response_errors"] = sum(st.get("errors", 0) for v in by_cost.values()
                               for st in v.values())
    sweep_rows = []
    ivs = [(iv, "ir", f"interval{iv}") for iv in getattr(ns, "intervals", None) or []]
    if ivs:
        iv0 = meta.get("interval", DEFAULT_INTERVAL)
        ivs.append((iv0, "cycles", f"cycles{iv0}"))
    for iv, timer, stage in ivs:
        rs = [r for r in ok if r["stage"] == stage]
        if not rs:
            continue
        sat = _phase_stats([r["client"]["phases"][0] for r in rs])
        mix = _phase_stats([r["client"]["phases"][1] for r in rs])
        sweep_rows.append({
            "interval": iv, "timer": timer, "throughput_rps": sat["throughput_rps"],
            "short_p50_us": mix["short_p50_us"], "short_p90_us": mix["short_p90_us"],
            "short_p99_us": mix["short_p99_us"],
            "handler_polls_per_s": _median(r["server"].get("ci_polls", 0) / r["server"]["seconds"]
                                           for r in rs if r["server"].get("seconds")),
            "errors": sat["errors"] + mix["errors"]})
        s["response_errors"] += sat["errors"] + mix["errors"]
    s["interval_sweep"] = sweep_rows
    # how long the servers' stacks went unpolled (lwIP variants; VM pauses included)
    gaps = {}
    for v in ns.variants:
        ss = [r["server"] for r in ok if r["variant"] == v and v != "kernel"
              and "poll_gap_max_us" in r["server"]]
        if ss:
            gaps[v] = {"max_us_median": _median(x["poll_gap_max_us"] for x in ss),
                       "over_100us_per_s": _median(x["poll_gaps_over_100us"] / x["seconds"]
                                                   for x in ss if x.get("seconds")),
                       "over_1ms_per_s": _median(x["poll_gaps_over_1ms"] / x["seconds"]
                                                 for x in ss if x.get("seconds"))}
    s["poll_gaps"] = gaps
    return s


def _get(by_cost, v, c, *keys):
    x = by_cost.get(v, {}).get(c)
    for k in keys:
        if x is None:
            return None
        x = x.get(k)
    return x


def targets(by_cost: Mapping[str, Any], ns: argparse.Namespace) -> dict[str, Any]:
    t: dict[str, Any] = {}
    ci = _get(by_cost, "ci", HEADLINE, "throughput_per_core")
    ratios = {}
    for d in ("dedicated_shared", "dedicated_split"):
        x = _get(by_cost, d, HEADLINE, "throughput_per_core")
        if ci and x:
            ratios[d] = ci / x
    t["ci_over_dedicated_per_core"] = ratios
    if ratios:
        worst = min(ratios.values())
        t["ci_over_best_dedicated_per_core"] = worst
        t["throughput_target_met"] = worst >= 1.8
    inl = _get(by_cost, "inline", HEADLINE, "throughput_rps")
    if ci and inl:
        t["ci_over_dedicated_own_core_estimate"] = ci / (inl / 2)
    k = _get(by_cost, "kernel", HEADLINE, "throughput_per_core")
    if ci and k:
        t["ci_over_kernel"] = ci / k
        t["ci_above_kernel"] = ci > k
    p99 = {}
    for c in ns.costs:
        key = "short_p99_us" if c == "mix" else "p99_us"
        vals = {v: _get(by_cost, v, c, "loads", "0.5", key) for v in by_cost
                if _get(by_cost, v, c, "loads", "0.5", "sustained")}  # overloaded: no contender
        vals = {v: x for v, x in vals.items() if x}
        ci_v = _get(by_cost, "ci", c, "loads", "0.5", key)
        if ci_v and vals:
            bestv = min(vals, key=vals.get)
            p99[c] = {"metric": key, "ci_p99_us": ci_v, "best": bestv,
                      "best_p99_us": vals[bestv], "ratio": ci_v / vals[bestv],
                      "ci_sustained": _get(by_cost, "ci", c, "loads", "0.5", "sustained"),
                      "met": ci_v <= 2 * vals[bestv]}
    t["p99_at_half_load"] = p99
    hol = {}
    for c in ("100", "mix"):
        pre = "short_" if c == "mix" else ""
        row = {}
        for q in ("p50", "p90", "p99"):
            a = _get(by_cost, "ci", c, "loads", "0.5", f"{pre}{q}_us")
            b = _get(by_cost, "inline", c, "loads", "0.5", f"{pre}{q}_us")
            if a and b:
                row[q] = {"ci": a, "inline": b, "inline_over_ci": b / a}
        if row:
            hol[c] = {"metric": f"{pre}latency", **row}
    t["head_of_line"] = hol
    return t


def _f(x, nd=1):
    if x is None:
        return "-"
    if isinstance(x, float) and abs(x) >= 1000:
        return f"{x:,.0f}"
    return f"{x:.{nd}f}"


def markdown(s: Mapping[str, Any]) -> str:
    m = s["meta"]
    bc = s["by_cost"]
    vs = [v for v in VARIANTS if v in bc]
    costs = m["costs"]
    L = ["# Kernel-bypass HTTP: the stack polled from a CI handler", ""]
    L.append(f"`{m['command']}`: {m['runs']} run(s) x {m['ms']} ms per point, {m['conns']} "
             f"connections, CI interval {m['interval']} cycles ({_f(m.get('interval_us'), 2)} us), "
             f"work unit {_f(m['us_per_unit'], 3)} us; {m['cpu']} x {m['cores']}; load average "
             f"{m.get('loadavg_start')} -> {m.get('loadavg_end')}; {m.get('elapsed_s')} s.")
    L.append(f"Other processes during the runs: median {_f(m.get('other_load_median'), 2)} "
             f"cores, max {_f(m.get('other_load_max'), 2)}; {m.get('disturbed_runs')} of "
             f"{m.get('total_runs')} runs above {m.get('max_other')} cores (kept after "
             f"{m.get('retries')} reruns); the sweep held `{m.get('lock')}` (waited {_f(m.get('lock_wait_s'), 0)} s for it).")
    L.append("Server on core 1, client on core 0 (memif + lwIP, or loopback TCP for kernel); "
             "`dedicated_split` runs its stack thread on the client's core and counts 2 server "
             "cores. Medians over runs; latency in us.")
    L.append("")
    L.append(f"## Saturation (closed loop), {HEADLINE} us requests")
    L.append("")
    L.append("| variant | server cores | req/s | req/s per server core | p50 | p99 | p99.9 |")
    L.append("|---|---|---|---|---|---|---|")
    for v in vs:
        h = bc[v].get(HEADLINE)
        if h:
            L.append(f"| {v} | {h['server_cores']} | {_f(h['throughput_rps'])} | "
                     f"{_f(h['throughput_per_core'])} | {_f(h['p50_us'])} | {_f(h['p99_us'])} | "
                     f"{_f(h['p999_us'])} |")
    L.append("")
    L.append("## Throughput per server core by request cost (closed loop)")
    L.append("")
    L.append("| variant | " + " | ".join(f"{c} us" if c != "mix" else "mix" for c in costs) + " |")
    L.append("|---|" + "---|" * len(costs))
    for v in vs:
        L.append(f"| {v} | " + " | ".join(_f(_get(bc, v, c, "throughput_per_core"))
                                         for c in costs) + " |")
    if m["loads"]:
        L.append("")
        L.append("## p99 latency (us) vs offered load (open loop, Poisson)")
        for c in costs:
            L.append("")
            lab = f"{c} us" if c != "mix" else (f"mix ({100 - MIX_LONG_PERMILLE / 10:g}% "
                                               f"{MIX_SHORT_US:g} us, {MIX_LONG_PERMILLE / 10:g}% "
                                               f"{MIX_LONG_US:g} us; short requests' p99)")
            key = "short_p99_us" if c == "mix" else "p99_us"
            L.append(f"{lab}; load 1.0 = {_f(s['best_saturated_rps'].get(c))} req/s (best "
                     "saturated throughput per server core); * = did not keep up (served < 90% "
                     "of the offered rate, or dropped > 0.1% of the requests):")
            L.append("")
            L.append("| variant | " + " | ".join(f"{x:g}" for x in m["loads"]) + " |")
            L.append("|---|" + "---|" * len(m["loads"]))
            for v in vs:
                L.append(f"| {v} | " + " | ".join(
                    _f(_get(bc, v, c, "loads", f"{x:g}", key))
                    + ("" if _get(bc, v, c, "loads", f"{x:g}", "sustained") in (True, None)
                       else "*") for x in m["loads"]) + " |")
    if "mix" in costs and m["loads"]:
        L.append("")
        L.append("## Head-of-line blocking: the mix at each load, short (1 us) requests' "
                 "p50 / p90 / p99 (us)")
        L.append("")
        L.append("ci answers a short request inside its CI handler (preempting a long one); "
                 "inline only between requests; dedicated and kernel in arrival order.")
        L.append("")
        L.append("| variant | " + " | ".join(f"{x:g}" for x in m["loads"]) + " |")
        L.append("|---|" + "---|" * len(m["loads"]))
        for v in vs:
            cells = []
            for x in m["loads"]:
                ld = _get(bc, v, "mix", "loads", f"{x:g}") or {}
                cells.append(" / ".join(_f(ld.get(k)) for k in
                                        ("short_p50_us", "short_p90_us", "short_p99_us"))
                             + ("" if ld.get("sustained", True) else "*"))
            L.append(f"| {v} | " + " | ".join(cells) + " |")
    if s.get("interval_sweep"):
        hz = (m.get("tsc_ghz") or 0) * 1e3
        L.append("")
        L.append(f"## The ci handler's period ({HEADLINE} us saturated; mix at 50% load)")
        L.append("")
        L.append("IR mode = the runtime counts IR instructions (interval calibrated to the "
                 "cycles target on the request work) and the handler checks the TSC; cycles "
                 "mode = the runtime's own TSC-timed mode.")
        L.append("")
        L.append("| timer | interval (cycles) | us | req/s | short p50 | short p90 | short p99 | "
                 "stack polls/s |")
        L.append("|---|---|---|---|---|---|---|---|")
        for row in s["interval_sweep"]:
            L.append(f"| {row.get('timer', 'ir')} | {row['interval']} | "
                     f"{_f(row['interval'] / hz if hz else None, 2)} | "
                     f"{_f(row['throughput_rps'])} | {_f(row['short_p50_us'])} | "
                     f"{_f(row['short_p90_us'])} | {_f(row['short_p99_us'])} | "
                     f"{_f(row['handler_polls_per_s'])} |")
    t = s["targets"]
    L.append("")
    L.append("## Targets")
    L.append("")
    r = t.get("ci_over_dedicated_per_core", {})
    if r:
        met = t.get("throughput_target_met")
        L.append(f"- ci / dedicated throughput per server core at {HEADLINE} us: "
                 + ", ".join(f"{_f(x, 2)}x vs {d}" for d, x in r.items())
                 + f" (target >= 1.8x against both: **{'met' if met else 'missed'}**).")
        L.append("  What the arrangements show: `dedicated_split` is mTCP's model, a stack "
                 "thread with a core of its own; on 2 cores that core is the client's, so the "
                 "stack thread and the load generator take turns (both yield when idle) and "
                 "the arrangement pays for 2 server cores. `dedicated_shared` keeps the mTCP "
                 "structure on one core by yielding after every stack round: with 1-100 us "
                 "requests a context switch (~1-2 us) per batch of requests is cheap, so on a "
                 "single core it is nearly as fast as ci: what CIs save here is the extra core, "
                 "not work per request.")
        est = t.get("ci_over_dedicated_own_core_estimate")
        if est:
            L.append(f"  Estimate for a stack thread on a core nobody else uses (not measurable "
                     f"on this 2-core machine): the app thread then serves at most what one "
                     f"core serves (inline's throughput), over 2 server cores, so ci / "
                     f"dedicated >= {_f(est, 2)}x.")
    if "ci_over_kernel" in t:
        L.append(f"- ci / kernel (epoll, loopback) at {HEADLINE} us: {_f(t['ci_over_kernel'], 2)}x "
                 f"(**{'met' if t['ci_above_kernel'] else 'missed'}**; the kernel's loopback "
                 "TCP work runs partly in the client's softirq, on the client core).")
    for c, p in t.get("p99_at_half_load", {}).items():
        L.append(f"- {p['metric'].replace('_us', '')} at 50% load, "
                 f"{c}{' us' if c != 'mix' else ''}: ci {_f(p['ci_p99_us'])} "
                 f"us vs best {p['best']} {_f(p['best_p99_us'])} us = {_f(p['ratio'], 2)}x "
                 f"(target <= 2x: **{'met' if p['met'] else 'missed'}**).")
    if t.get("head_of_line"):
        L.append("- head-of-line: with uniform 100 us requests every single-core server works "
                 "in arrival order and polling the stack during a request cannot make any "
                 "request finish earlier, so ci and inline match; the blocking that CIs remove "
                 "shows when short requests queue behind long ones (the mix): ci answers them "
                 "from its handler within ~2 us.")
    for c, h in t.get("head_of_line", {}).items():
        qs = [q for q in ("p50", "p90", "p99") if q in h]
        L.append(f"- head-of-line, {c}{' us' if c != 'mix' else ''} at 50% load"
                 f"{' (short requests)' if c == 'mix' else ''}: inline vs ci "
                 + ", ".join(f"{q} {_f(h[q]['inline'])} vs {_f(h[q]['ci'])} us "
                             f"({_f(h[q]['inline_over_ci'], 1)}x)" for q in qs) + ".")
    if s.get("poll_gaps"):
        L.append("")
        L.append("Stack polling gaps (server, median over runs): " + "; ".join(
            f"{v} max {_f(g['max_us_median'], 0)} us, {_f(g['over_100us_per_s'], 1)}/s over "
            f"100 us, {_f(g['over_1ms_per_s'], 2)}/s over 1 ms" for v, g in s["poll_gaps"].items())
            + ". In ci and inline the gaps over 1 ms are pauses of the VM (a loop that only "
              "reads the TSC sees a few per second too); they set the p99.9 and, at high rates, "
              "the p99. The dedicated arrangements add gaps where the stack thread waits for "
              "the scheduler; inline's gaps over 100 us are its long requests.")
    if s["errors"]:
        L.append("")
        L.append(f"**{len(s['errors'])} run(s) failed**: " + "; ".join(e.splitlines()[0]
                                                                    for e in s["errors"][:5]))
    L.append(f"\nResponse errors (wrong hash or status): {s['response_errors']}.")
    return "\n".join(L) + "\n"


def plots(s: Mapping[str, Any], out: Path) -> list[str]:
    plt = import_pyplot()
    if plt is None:
        return ["matplotlib not installed: no plots"]
    msgs = []
    bc = s["by_cost"]
    costs = [c for c in s["meta"]["costs"] if c != "mix"]
    vs = [v for v in VARIANTS if v in bc]
    if costs:
        fig, ax = plt.subplots(figsize=(6, 4.2))
        for v in vs:
            xs = [float(c) for c in costs if _get(bc, v, c, "throughput_per_core")]
            ys = [_get(bc, v, c, "throughput_per_core") for c in costs
                  if _get(bc, v, c, "throughput_per_core")]
            if xs:
                ax.plot(xs, ys, marker="o", label=v, color=_COLORS.get(v))
        ax.set_xscale("log")
        ax.set_yscale("log")
        ax.set_xticks([float(c) for c in costs], costs)
        ax.minorticks_off()
        ax.set_xlabel("request cost (us of CPU work)")
        ax.set_ylabel("requests/s per server core")
        ax.set_title("HTTP over lwIP/memif (kernel: loopback TCP), closed loop")
        ax.grid(alpha=0.3, which="both")
        ax.legend(fontsize=8)
        fig.tight_layout()
        p = out / "fig_throughput.png"
        fig.savefig(p, dpi=120)
        plt.close(fig)
        msgs.append(f"plot: {p}")
    loads = s["meta"]["loads"]
    allc = s["meta"]["costs"]
    if loads:
        fig, axes = plt.subplots(1, len(allc), figsize=(4.2 * len(allc), 3.8), squeeze=False)
        for ax, c in zip(axes[0], allc):
            key = "short_p99_us" if c == "mix" else "p99_us"
            for v in vs:
                pts = [(x, _get(bc, v, c, "loads", f"{x:g}", key),
                        _get(bc, v, c, "loads", f"{x:g}", "sustained")) for x in loads]
                pts = [p for p in pts if p[1]]
                if pts:
                    col = _COLORS.get(v)
                    ax.plot([x for x, _, _ in pts], [y for _, y, _ in pts], label=v, color=col)
                    for x, y, ok in pts:  # hollow: the variant did not keep up with the load
                        ax.plot([x], [y], marker="o", color=col,
                                markerfacecolor=col if ok is not False else "white")
            ax.set_yscale("log")
            ax.set_xlabel("offered load (fraction of best req/s per server core)")
            ax.set_ylabel("short requests' p99 (us)" if c == "mix" else "p99 latency (us)")
            ax.set_title(f"{c} us requests" if c != "mix" else
                         f"mix: {MIX_LONG_PERMILLE / 10:g}% {MIX_LONG_US:g} us, rest "
                         f"{MIX_SHORT_US:g} us")
            ax.grid(alpha=0.3, which="both")
        axes[0][0].legend(fontsize=7)
        fig.suptitle("open-loop p99 latency (hollow markers: the variant did not keep up)",
                     fontsize=10)
        fig.tight_layout()
        p = out / "fig_latency.png"
        fig.savefig(p, dpi=120)
        plt.close(fig)
        msgs.append(f"plot: {p}")
    return msgs


# ---------------------------------------------------------------------------------------------
# command line

def add_parser(subparsers) -> argparse.ArgumentParser:
    """Add the ``net`` subcommand to ``subparsers`` (those of ``app``)."""
    p = subparsers.add_parser(
        "net",
        help="kernel-bypass HTTP (DPDK memif + lwIP) with the stack polled from a CI handler "
             "vs a dedicated stack thread, inline polling and Linux sockets",
        description=__doc__.split("\n\n", 1)[1] if __doc__ else None,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument("--quick", action="store_true",
                   help="1 run, 200 ms per point, load 0.5 only, no interval sweep, no reruns "
                        "(under a minute)")
    p.add_argument("--out", type=Path, default=None,
                   help="output directory (default bench-results/net-<timestamp>)")
    p.add_argument("--variants", type=csv_list(str), default=None,
                   help=f"variants (default {','.join(VARIANTS)})")
    p.add_argument("--costs", type=csv_list(str), default=None,
                   help=f"request costs in us, and/or 'mix' (default {','.join(COSTS)})")
    p.add_argument("--loads", type=csv_list(float), default=None,
                   help="open-loop loads as fractions of the best saturated throughput "
                        "(default 0.25,0.5,0.75,0.9; --quick 0.5)")
    p.add_argument("--runs", type=int, default=None, help="rounds (default 3; --quick 1)")
    p.add_argument("--ms", type=float, default=None,
                   help="duration of one measured phase in ms, the first 20%% warm-up "
                        "(default 800; --quick 200)")
    p.add_argument("--conns", type=int, default=16, help="client connections (default 16)")
    p.add_argument("--interval", type=int, default=DEFAULT_INTERVAL,
                   help=f"ci: handler period in TSC cycles (default {DEFAULT_INTERVAL})")
    p.add_argument("--intervals", type=csv_list(int), default=None,
                   help="also run ci at these handler periods (cycles) at the headline cost "
                        "and on the mix (default 2500,5000,10000,20000; --quick none)")
    p.add_argument("--no-lock", action="store_true",
                   help=f"do not take {LOCK} around timed runs (numbers then may overlap with "
                        "other benchmarks on the machine)")
    p.add_argument("--max-other", type=float, default=0.25, metavar="CORES",
                   help="a run during which other processes used more than CORES cores is run "
                        "again (up to --retries times); before each run, wait up to --max-wait "
                        "s for the machine to be that quiet (default 0.25)")
    p.add_argument("--retries", type=int, default=None,
                   help="reruns of a disturbed run (default 1; --quick 0)")
    p.add_argument("--max-wait", type=float, default=None, metavar="S",
                   help="longest wait for a quiet machine before each run (default 5; "
                        "--quick 0)")
    p.add_argument("--no-install", action="store_true",
                   help="do not apt-get missing packages; explain what is missing instead")
    p.set_defaults(func=main)
    return p


def _fill_defaults(ns: argparse.Namespace) -> None:
    q = ns.quick
    ns.variants = ns.variants or list(VARIANTS)
    ns.costs = ns.costs or list(COSTS)
    ns.loads = ns.loads if ns.loads is not None else ([0.5] if q else list(LOADS))
    ns.runs = ns.runs or (1 if q else 3)
    ns.ms = ns.ms or (200.0 if q else 800.0)
    ns.retries = ns.retries if ns.retries is not None else (0 if q else 1)
    if ns.intervals is None:
        ns.intervals = [] if q else [2500, 5000, 10000, 20000]
    ns.max_wait = ns.max_wait if ns.max_wait is not None else (0.0 if q else 5.0)
    bad = [v for v in ns.variants if v not in VARIANTS]
    bad += [c for c in ns.costs if c != "mix" and not c.replace(".", "", 1).isdigit()]
    if bad:
        raise SystemExit(f"error: unknown variant/cost: {', '.join(bad)}")
    if ns.out is None:
        ns.out = Path("bench-results") / f"net-{_dt.datetime.now().strftime('%Y%m%d-%H%M%S')}"


def main(ns: argparse.Namespace) -> int:
    _fill_defaults(ns)
    out: Path = ns.out
    out.mkdir(parents=True, exist_ok=True)
    t0 = time.monotonic()
    try:
        net_setup.ensure(install=not ns.no_install)
    except net_setup.SetupError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    print("building netapp (ci-cc --ci-design=ci and --ci-design=none)", flush=True)
    exes = {"ci": build(out / "bin", "ci"), "none": build(out / "bin", "none")}
    upu = calibrate(exes["none"])
    print(f"work unit: {upu:.4f} us; {len(ns.variants)} variants x {len(ns.costs)} costs x "
          f"(saturation + {len(ns.loads)} loads) x {ns.runs} runs x {ns.ms:g} ms", flush=True)
    load0 = loadavg()
    t_lock = time.monotonic()
    raw, best = sweep(ns, exes, upu, log=lambda m: print(m, flush=True))
    sweep_s = time.monotonic() - t_lock
    hz = _median(r["client"]["tsc_hz"] for r in raw if "client" in r)
    others = [r.get("other_load") for r in raw if r.get("other_load") is not None]
    meta = {
        "command": "python -m compiler_interrupts app net " + " ".join(sys.argv[3:])
        if sys.argv[1:3] == ["app", "net"] else " ".join(sys.argv),
        "quick": ns.quick, "runs": ns.runs, "ms": ns.ms, "conns": ns.conns,
        "interval": ns.interval, "interval_us": ns.interval / hz * 1e6 if hz else None,
        "us_per_unit": upu, "costs": ns.costs, "loads": ns.loads, "variants": ns.variants,
        "intervals": ns.intervals,
        "headline_cost_us": HEADLINE, "tsc_ghz": hz / 1e9 if hz else None,
        "mix": {"short_us": MIX_SHORT_US, "long_us": MIX_LONG_US,
                "long_permille": MIX_LONG_PERMILLE},
        "lock": None if ns.no_lock else LOCK, "max_other": ns.max_other,
        "lock_wait_s": _LOCK_WAIT[0], "sweep_s": round(sweep_s, 1),
        "retries": ns.retries, "max_wait": ns.max_wait,
        "disturbed_runs": sum(1 for r in raw if (r.get("other_load") or 0) > ns.max_other),
        "total_runs": len(raw),
        "other_load_median": _median(others), "other_load_max": max(others) if others else None,
        "cpu": cpu_model(), "cores": os.cpu_count(), "platform": platform.platform(),
        "loadavg_start": load0, "loadavg_end": loadavg(), "elapsed_s": None,
    }
    summary = summarize(raw, best, ns, meta)
    summary["meta"]["elapsed_s"] = round(time.monotonic() - t0, 1)
    (out / "summary.json").write_text(json.dumps(summary, indent=1) + "\n")
    md = markdown(summary)
    (out / "summary.md").write_text(md)
    for m in plots(summary, out):
        print(m)
    print(md)
    print(f"wrote {out / 'summary.json'}, {out / 'summary.md'} ({summary['meta']['elapsed_s']} s)")
    return 1 if summary["errors"] or summary["response_errors"] else 0


def redo(out_dir: str | Path) -> int:
    """Recompute summary.json/summary.md and the plots of a finished run from runs.jsonl."""
    out = Path(out_dir)
    raw = [json.loads(line) for line in (out / "runs.jsonl").read_text().splitlines() if line]
    old = json.loads((out / "summary.json").read_text())
    meta = old["meta"]
    ns = argparse.Namespace(variants=meta["variants"], costs=meta["costs"], loads=meta["loads"],
                            intervals=meta.get("intervals") or [])
    summary = summarize(raw, old["best_saturated_rps"], ns, meta)
    (out / "summary.json").write_text(json.dumps(summary, indent=1) + "\n")
    (out / "summary.md").write_text(markdown(summary))
    for m in plots(summary, out):
        print(m)
    return 0


def cli(argv: list[str] | None = None) -> int:
    """Stand-alone entry point: ``python -m compiler_interrupts.apps.net.run [--quick] ...``
    (``--redo DIR`` recomputes a finished run's summary and plots)."""
    parser = argparse.ArgumentParser(prog="python -m compiler_interrupts.apps.net.run")
    sub = parser.add_subparsers(dest="app", required=True)
    add_parser(sub)
    args = list(sys.argv[1:] if argv is None else argv)
    if len(args) == 2 and args[0] == "--redo":
        return redo(args[1])
    if not args or args[0] != "net":
        args = ["net", *args]
    ns = parser.parse_args(args)
    return ns.func(ns)


if __name__ == "__main__":
    raise SystemExit(cli())
