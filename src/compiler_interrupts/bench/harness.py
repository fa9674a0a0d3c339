"""The evaluation harness behind ``python -m compiler_interrupts bench``.

Steps (Basu et al., PLDI'21, section 6, at the scale of a 2-core machine):

1. **Build** every program with every design through the real driver,
   ``ci-cc -O2 --ci-design=D --ci-autostart=CYCLES`` plus the program's libraries, two builds at
   a time.  ``--ci-autostart`` is given to every design, ``none`` included: every binary carries
   the same recording handler (which never fires without probes), so binaries differ only in
   their probes.  ``signal`` links the POSIX-timer runtime (``runtime/ci_signal.c``).
2. **Run** interleaved: ``for run in range(runs): for (program, threads): for design in a
   rotating order``, one process at a time, measuring the wall time of the whole process (and
   its CPU time, and the program's own ``runtime:`` line).  Every run gets ``CI_STATS=1`` (the
   handler call counts, from stderr); one designated run per cell (the first) also gets
   ``CI_INTERVAL_LOG``, whose samples are reduced to percentiles at once and deleted.
3. **Check** the ``checksum:`` line of every run against the ``none`` run of the same program
   and thread count; a mismatch is reported immediately and makes the exit code 1.
4. **Report** (:mod:`.report`): results.json (everything, including the raw runs),
   results.csv, summary.md, and PNG plots (:mod:`.plots`).

External programs (``--program NAME='BUILD_CMD'::'RUN_CMD'``) are built by running BUILD_CMD in
a shell with ``$CC`` = ``ci-cc --ci-design=D --ci-autostart=CYCLES`` (add your own ``-O2``) and
``$OUT`` = the executable to produce, and run with RUN_CMD in a shell with ``$OUT`` and
``$THREADS`` set (default RUN_CMD: ``$OUT $THREADS``).  Their output check compares the
``checksum:`` line if they print one, else their whole stdout.
"""

from __future__ import annotations

import datetime as _dt
import json
import os
import platform
import re
import resource
import shlex
import shutil
import subprocess
import sys
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Sequence

from . import report
from .suite import Workload, build_command, load_suite, parse_checksum, parse_runtime
from ..apps.common import cpu_model as _cpu_model

BASELINE = "none"
DEFAULT_DESIGNS = ("none", "naive", "ci", "signal")
DEFAULT_SWEEP_PROGRAMS = ("fft", "kmeans", "water")
#: Default floor of the signal runtime's period (ci_signal.c, CI_DEFAULT_MIN_NS).
SIGNAL_DEFAULT_MIN_NS = 50000
#: ci_autostart.c records at most this many samples per thread.
MAX_SAMPLES_PER_THREAD = 1 << 20

_STATS_RE = re.compile(r"^ci: thread (\d+) handler_calls=(\d+) instructions=(-?\d+)", re.M)
#: CI_* variables that would change what a run does; the harness sets its own.
_SCRUBBED_ENV = ("CI_AUTOSTART_CYCLES", "CI_AUTOSTART_IR", "CI_INTERVAL_LOG", "CI_STATS",
                 "CI_SIGNAL_MIN_NS", "CI_SIGNAL_CLOCK")


class BenchError(Exception):
    """Bad configuration (unknown program or design, malformed --program, missing builds)."""


# --------------------------------------------------------------------------------------------
# programs


@dataclass(frozen=True)
class Program:
    """A program to measure: a suite workload or an external build/run command pair."""

    name: str
    workload: Workload | None = None
    build_cmd: str | None = None
    run_cmd: str | None = None

    @property
    def external(self) -> bool:
        return self.workload is None

    @property
    def deterministic(self) -> bool:
        return self.workload.deterministic if self.workload is not None else False


def parse_external(spec: str) -> Program:
    """Parse ``NAME=BUILD_CMD::RUN_CMD`` (``::RUN_CMD`` optional, default ``$OUT $THREADS``)."""
    name, sep, rest = spec.partition("=")
    name = name.strip()
    if not sep or not re.fullmatch(r"[A-Za-z_][A-Za-z0-9_.-]*", name):
        raise BenchError(f"--program {spec!r}: expected NAME='BUILD_CMD'::'RUN_CMD'")
    build, sep2, run = rest.partition("::")
    build, run = build.strip(), run.strip()
    if not build:
        raise BenchError(f"--program {spec!r}: empty build command")
    if "$OUT" not in build and "${OUT}" not in build:
        raise BenchError(f"--program {spec!r}: the build command must write $OUT")
    return Program(name=name, build_cmd=build, run_cmd=run or "$OUT $THREADS")


def select_programs(names: Sequence[str] | None, externals: Sequence[str] = ()) -> list[Program]:
    """Suite programs by name (all when ``names`` is None/empty) plus external programs."""
    suite = load_suite()
    by_name = {w.name: w for w in suite}
    if names:
        unknown = [n for n in names if n not in by_name]
        if unknown:
            raise BenchError(f"unknown program(s) {', '.join(unknown)}; the suite has: "
                             f"{', '.join(by_name)}")
        progs = [Program(name=n, workload=by_name[n]) for n in names]
    elif externals:
        progs = []
    else:
        progs = [Program(name=w.name, workload=w) for w in suite]
    for spec in externals:
        p = parse_external(spec)
        if any(q.name == p.name for q in progs):
            raise BenchError(f"--program {p.name}: name already used")
        progs.append(p)
    return progs


def ci_cc_argv() -> list[str]:
    """How to invoke the ci-cc driver (the console script, else ``python -m``)."""
    exe = shutil.which("ci-cc")
    if exe:
        return [exe]
    return [sys.executable, "-m", "compiler_interrupts", "cc"]


# --------------------------------------------------------------------------------------------
# configuration


@dataclass
class BenchConfig:
    designs: list[str]
    programs: list[Program]
    cycles: int = 5000
    threads: list[int] = field(default_factory=lambda: [1, 2])
    runs: int = 5
    size: str = "bench"
    out: Path = Path("bench-results")
    sweep: list[int] = field(default_factory=list)
    sweep_programs: list[Program] = field(default_factory=list)
    sweep_designs: list[str] = field(default_factory=list)
    sweep_runs: int = 3
    no_build: bool = False
    jobs: int = 2
    timeout: float = 600.0
    signal_min_ns: int | None = None
    plots: bool = True
    argv: list[str] = field(default_factory=list)


def exe_path(out: Path, cycles: int, design: str, program: str) -> Path:
    return out / "bin" / f"c{cycles}" / design / program


# --------------------------------------------------------------------------------------------
# building


@dataclass
class BuildResult:
    program: str
    design: str
    cycles: int
    ok: bool
    seconds: float
    error: str = ""


def build_one(prog: Program, design: str, cycles: int, exe: Path) -> BuildResult:
    """Build ``prog`` with ``design`` into ``exe`` through ci-cc."""
    exe.parent.mkdir(parents=True, exist_ok=True)
    cc = ci_cc_argv()
    ci_flags = [f"--ci-design={design}", f"--ci-autostart={cycles}"]
    t0 = time.perf_counter()
    env = dict(os.environ)
    if prog.workload is not None:
        cmd = build_command(prog.workload, exe, cc="CC", cflags=("-O2", *ci_flags))
        cmd[0:1] = cc
        try:
            r = subprocess.run(cmd, capture_output=True, text=True, env=env)
        except OSError as e:
            return BuildResult(prog.name, design, cycles, False, 0.0, str(e))
        shown = shlex.join(cmd)
    else:
        env.update(CC=shlex.join([*cc, *ci_flags]), OUT=str(exe), DESIGN=design,
                   CI_CYCLES=str(cycles))
        r = subprocess.run(["bash", "-c", prog.build_cmd or ""], capture_output=True, text=True,
                           env=env)
        shown = f"CC={shlex.quote(env['CC'])} OUT={exe} bash -c {shlex.quote(prog.build_cmd)}"
    dt = time.perf_counter() - t0
    if r.returncode != 0 or not exe.is_file():
        msg = (r.stdout + r.stderr).strip()
        if r.returncode == 0:
            msg = f"build command succeeded but did not produce {exe}\n{msg}"
        return BuildResult(prog.name, design, cycles, False, dt, f"$ {shown}\n{msg[-4000:]}")
    return BuildResult(prog.name, design, cycles, True, dt)


def build_all(jobs: list[tuple[Program, str, int, Path]], workers: int,
              log: Callable[[str], None]) -> list[BuildResult]:
    """Build in parallel; one progress line per build."""
    results: list[BuildResult] = []
    total = len(jobs)
    with ThreadPoolExecutor(max_workers=max(1, workers)) as pool:
        futs = [pool.submit(build_one, *j) for j in jobs]
        for i, f in enumerate(futs, 1):
            b = f.result()
            results.append(b)
            status = "ok" if b.ok else "FAILED"
            log(f"[build {i:3d}/{total}] {b.program:<18} {b.design:<7} c{b.cycles:<8} "
                f"{b.seconds:5.1f} s {status}")
            if not b.ok:
                log(b.error)
    return results


# --------------------------------------------------------------------------------------------
# running


@dataclass(frozen=True)
class Task:
    phase: str  # "main" | "sweep"
    program: Program
    design: str
    threads: int
    cycles: int
    run: int
    log_intervals: bool

    @property
    def key(self) -> tuple[str, str, str, int, int]:
        return (self.phase, self.program.name, self.design, self.threads, self.cycles)


def plan_tasks(cfg: BenchConfig) -> list[Task]:
    """Interleaved run order: rounds of (program, threads) cells, designs rotating per cell."""
    tasks: list[Task] = []
    designs = cfg.designs
    for run in range(cfg.runs):
        k = 0
        for prog in cfg.programs:
            for threads in cfg.threads:
                rot = (run + k) % len(designs)
                k += 1
                for d in designs[rot:] + designs[:rot]:
                    tasks.append(Task("main", prog, d, threads, cfg.cycles, run, run == 0))
    if cfg.sweep:
        threads = cfg.threads[0]
        for run in range(cfg.sweep_runs):
            k = 0
            for cycles in cfg.sweep:
                for prog in cfg.sweep_programs:
                    ds = cfg.sweep_designs
                    rot = (run + k) % len(ds)
                    k += 1
                    for d in ds[rot:] + ds[:rot]:
                        tasks.append(Task("sweep", prog, d, threads, cycles, run, run == 0))
    return tasks


def base_env(cfg: BenchConfig, hz: float | None = None) -> dict[str, str]:
    """The environment of every run (the same for all designs).  ``CI_TSC_HZ`` spares each
    signal-design process the runtime's 10 ms TSC calibration, which the probe runtime does
    not pay either."""
    env = {k: v for k, v in os.environ.items() if k not in _SCRUBBED_ENV}
    env["CI_STATS"] = "1"
    if hz and "CI_TSC_HZ" not in env:
        env["CI_TSC_HZ"] = f"{hz:.0f}"
    if cfg.signal_min_ns is not None:
        env["CI_SIGNAL_MIN_NS"] = str(cfg.signal_min_ns)
    return env


def _children_cpu() -> float:
    ru = resource.getrusage(resource.RUSAGE_CHILDREN)
    return ru.ru_utime + ru.ru_stime


def run_one(cfg: BenchConfig, task: Task, exe: Path, env: dict[str, str],
            log_dir: Path) -> dict[str, Any]:
    """Run one task; returns its raw record (see module docstring)."""
    prog = task.program
    rec: dict[str, Any] = {
        "phase": task.phase, "program": prog.name, "design": task.design,
        "threads": task.threads, "cycles": task.cycles, "run": task.run,
        "ok": False, "wall": None, "cpu": None, "region": None, "rc": None,
        "output": None, "handler_calls": None, "thread_calls": None,
        "intervals": None, "interval_samples": 0, "error": None, "mismatch": False,
    }
    env = dict(env)
    log_path = None
    if task.log_intervals:
        fd, name = tempfile.mkstemp(prefix="intervals-", suffix=".bin", dir=log_dir)
        os.close(fd)
        os.unlink(name)
        log_path = Path(name)
        env["CI_INTERVAL_LOG"] = str(log_path)
    if prog.workload is not None:
        argv = prog.workload.argv(exe, task.threads, cfg.size)
    else:
        env.update(OUT=str(exe), THREADS=str(task.threads))
        argv = ["bash", "-c", prog.run_cmd or "$OUT $THREADS"]
    cpu0 = _children_cpu()
    t0 = time.perf_counter()
    try:
        r = subprocess.run(argv, capture_output=True, text=True, env=env, timeout=cfg.timeout)
    except subprocess.TimeoutExpired:
        rec["error"] = f"timed out after {cfg.timeout:.0f} s"
        _unlink(log_path)
        return rec
    except OSError as e:
        rec["error"] = f"cannot run {argv[0]}: {e}"
        _unlink(log_path)
        return rec
    wall = time.perf_counter() - t0
    rec["cpu"] = _children_cpu() - cpu0
    rec["wall"] = wall
    rec["rc"] = r.returncode
    try:
        rec["output"] = "checksum: " + parse_checksum(r.stdout)
    except ValueError:
        rec["output"] = r.stdout.strip()[-500:]
        if prog.workload is not None:
            rec["error"] = f"bad stdout {r.stdout[-300:]!r}"
    try:
        rec["region"] = parse_runtime(r.stderr)
    except ValueError:
        pass
    stats = [(int(m.group(1)), int(m.group(2))) for m in _STATS_RE.finditer(r.stderr)]
    if stats:
        rec["thread_calls"] = {str(t): c for t, c in sorted(stats)}
        rec["handler_calls"] = sum(c for _, c in stats)
    if r.returncode != 0:
        tail = "\n".join(r.stderr.strip().splitlines()[-5:])
        rec["error"] = f"exit code {r.returncode}: {tail}"
    if log_path is not None:
        try:
            if log_path.exists():
                from ..runtime.build import read_interval_log

                recs = read_interval_log(log_path)
                samples: list[int] = []
                for lr in recs:
                    samples.extend(lr.samples)
                rec["interval_samples"] = len(samples)
                rec["intervals"] = report.percentiles(samples) if samples else None
        except (OSError, ValueError) as e:
            rec["error"] = rec["error"] or f"bad interval log: {e}"
        finally:
            _unlink(log_path)
    rec["ok"] = rec["error"] is None
    return rec


def _unlink(p: Path | None) -> None:
    if p is not None:
        try:
            p.unlink()
        except OSError:
            pass


# --------------------------------------------------------------------------------------------
# progress


class Progress:
    """One line per finished run on stderr, with an ETA from the measured durations."""

    def __init__(self, tasks: Sequence[Task], stream=None):
        self.tasks = list(tasks)
        self.stream = stream if stream is not None else sys.stderr
        self.done = 0
        self.last: dict[tuple, float] = {}
        self.by_design: dict[str, list[float]] = {}
        self.t_start = time.perf_counter()

    def _estimate(self, t: Task) -> float:
        if t.key in self.last:
            return self.last[t.key]
        base_key = (t.phase, t.program.name, BASELINE, t.threads, t.cycles)
        if base_key in self.last:
            return self.last[base_key] * 1.3
        vals = [v for vs in self.by_design.values() for v in vs]
        return sum(vals) / len(vals) if vals else 2.0

    def eta(self) -> float:
        return sum(self._estimate(t) for t in self.tasks[self.done:])

    def finished(self, t: Task, rec: dict[str, Any], elapsed: float,
                 base_wall: float | None) -> None:
        self.done += 1
        self.last[t.key] = elapsed
        self.by_design.setdefault(t.design, []).append(elapsed)
        n = len(self.tasks)
        if rec["ok"]:
            what = f"wall {rec['wall']:7.3f} s"
            if rec.get("region") is not None:
                what += f"  region {rec['region']:7.3f} s"
            if base_wall and t.design != BASELINE:
                what += f"  {report.pct(rec['wall'] / base_wall - 1):>7} vs {BASELINE}"
            if rec.get("handler_calls") and t.design != BASELINE:
                what += f"  {rec['handler_calls'] / rec['wall']:>10,.0f} calls/s"
        else:
            what = f"FAILED: {rec['error'].splitlines()[0] if rec['error'] else '?'}"
        if rec.get("mismatch"):
            what += "  OUTPUT MISMATCH"
        cyc = f" c{t.cycles}" if t.phase == "sweep" else ""
        runs = f"r{t.run + 1}"
        line = (f"[{self.done:4d}/{n}] {t.phase:<5} {t.program.name:<18} {t.design:<7} "
                f"t{t.threads}{cyc} {runs:<3} {what}  ETA {_fmt_dur(self.eta())}")
        print(line, file=self.stream, flush=True)


def _fmt_dur(s: float) -> str:
    s = max(0, int(round(s)))
    if s >= 3600:
        return f"{s // 3600}h{s % 3600 // 60:02d}m"
    if s >= 60:
        return f"{s // 60}m{s % 60:02d}s"
    return f"{s}s"


# --------------------------------------------------------------------------------------------
# metadata


def _git_commit() -> str:
    try:
        r = subprocess.run(["git", "rev-parse", "--short", "HEAD"], capture_output=True,
                           text=True, cwd=Path(__file__).resolve().parent, timeout=10)
        return r.stdout.strip() or "?"
    except (OSError, subprocess.SubprocessError):
        return "?"


def tsc_hz() -> float | None:
    """TSC ticks per second as the signal runtime calibrates them (None if unavailable)."""
    try:
        import ctypes

        from ..runtime import build
        from ..toolchain.clang import find_clang

        rt = build.runtime_paths(find_clang(False), shared=True, variant="signal")
        lib = ctypes.CDLL(str(rt.library))
        f = lib.__ci_tsc_hz
        f.restype = ctypes.c_double
        return float(f())
    except Exception:  # noqa: BLE001 - metadata only
        return None


def make_meta(cfg: BenchConfig) -> dict[str, Any]:
    hz = tsc_hz()
    min_ns = cfg.signal_min_ns if cfg.signal_min_ns is not None else int(
        os.environ.get("CI_SIGNAL_MIN_NS", SIGNAL_DEFAULT_MIN_NS))
    try:
        from ..toolchain.clang import find_clang

        clang = find_clang(False)
    except Exception:  # noqa: BLE001 - metadata only
        clang = "?"
    return {
        "date": _dt.datetime.now().isoformat(timespec="seconds"),
        "argv": cfg.argv,
        "commit": _git_commit(),
        "machine": {"cpu": _cpu_model(), "cores": os.cpu_count(), "platform": platform.platform(),
                    "python": platform.python_version()},
        "clang": clang,
        "ci_cc": shlex.join(ci_cc_argv()),
        "designs": cfg.designs,
        "baseline": BASELINE,
        "programs": [p.name for p in cfg.programs],
        "external_programs": {p.name: {"build": p.build_cmd, "run": p.run_cmd}
                              for p in cfg.programs if p.external},
        "cycles": cfg.cycles,
        "threads": cfg.threads,
        "runs": cfg.runs,
        "size": cfg.size,
        "interval_run": 0,
        "max_samples_per_thread": MAX_SAMPLES_PER_THREAD,
        "percentiles": list(report.PERCENTILES),
        "sweep": cfg.sweep,
        "sweep_programs": [p.name for p in cfg.sweep_programs],
        "sweep_designs": cfg.sweep_designs,
        "sweep_runs": cfg.sweep_runs if cfg.sweep else 0,
        "timeout_s": cfg.timeout,
        "tsc_hz": hz,
        "signal_min_ns": min_ns,
        "signal_min_cycles": (min_ns * hz / 1e9) if hz else None,
    }


# --------------------------------------------------------------------------------------------
# the whole thing


class OutputChecker:
    """Compares every run's output with the baseline's for the same program and threads."""

    def __init__(self, log: Callable[[str], None]):
        self.ref: dict[tuple[str, int], str] = {}
        self.pending: dict[tuple[str, int], list[dict[str, Any]]] = {}
        self.mismatches: list[dict[str, Any]] = []
        self.log = log

    def add(self, rec: dict[str, Any]) -> None:
        if rec.get("output") is None or rec.get("rc") != 0:
            return
        key = (rec["program"], int(rec["threads"]))
        if rec["design"] == BASELINE and key not in self.ref:
            self.ref[key] = rec["output"]
            for r in self.pending.pop(key, []):
                self._check(r)
            return
        if key in self.ref:
            self._check(rec)
        else:
            self.pending.setdefault(key, []).append(rec)

    def _check(self, rec: dict[str, Any]) -> None:
        key = (rec["program"], int(rec["threads"]))
        exp = self.ref[key]
        if rec["output"] != exp:
            rec["mismatch"] = True
            rec["ok"] = False
            m = {"program": rec["program"], "threads": rec["threads"], "design": rec["design"],
                 "phase": rec["phase"], "cycles": rec["cycles"], "run": rec["run"],
                 "output": rec["output"], "expected": exp}
            self.mismatches.append(m)
            self.log(f"!!! OUTPUT MISMATCH: {rec['program']} threads={rec['threads']} "
                     f"{rec['design']} run {rec['run'] + 1}: {rec['output']!r} != "
                     f"{BASELINE} {exp!r}")

    def unchecked(self) -> list[dict[str, Any]]:
        return [r for rs in self.pending.values() for r in rs]


def assemble(cfg: BenchConfig, meta: dict[str, Any], runs: list[dict[str, Any]],
             builds: list[BuildResult], checker: OutputChecker, failures: list[dict[str, Any]],
             warnings: list[str], complete: bool) -> dict[str, Any]:
    cells = report.compute_cells(runs, cfg.designs, BASELINE, cfg.cycles)
    return {
        "meta": meta,
        "complete": complete,
        "cells": cells,
        "summary": report.summarize(cells, cfg.designs, BASELINE, cfg.cycles),
        "sweep_rows": report.sweep_table(runs, BASELINE),
        "mismatches": checker.mismatches,
        "failures": failures,
        "warnings": warnings,
        "builds": [b.__dict__ for b in builds],
        "runs": runs,
    }


def run_bench(cfg: BenchConfig, log: Callable[[str], None] | None = None) -> int:
    """Build, run, check and report; returns the exit code (0 ok, 1 mismatch or failure)."""
    log = log or (lambda s: print(s, file=sys.stderr, flush=True))
    t_start = time.perf_counter()
    out = cfg.out
    out.mkdir(parents=True, exist_ok=True)
    (out / "logs").mkdir(exist_ok=True)
    meta = make_meta(cfg)
    failures: list[dict[str, Any]] = []
    warnings: list[str] = []

    # 1. builds
    needed: dict[tuple[str, str, int], tuple[Program, str, int, Path]] = {}
    for p in cfg.programs:
        for d in cfg.designs:
            needed[(p.name, d, cfg.cycles)] = (p, d, cfg.cycles,
                                               exe_path(out, cfg.cycles, d, p.name))
    for c in cfg.sweep:
        for p in cfg.sweep_programs:
            for d in cfg.sweep_designs:
                needed[(p.name, d, c)] = (p, d, c, exe_path(out, c, d, p.name))
    builds: list[BuildResult] = []
    broken: set[tuple[str, str, int]] = set()
    t_build = time.perf_counter()
    if cfg.no_build:
        for key, (_, _, _, exe) in needed.items():
            if not exe.is_file():
                broken.add(key)
                failures.append({"program": key[0], "design": key[1], "threads": "-",
                                 "phase": "build", "error": f"--no-build: {exe} is missing"})
                log(f"!!! --no-build: missing {exe}")
    else:
        log(f"building {len(needed)} executables ({cfg.jobs} at a time) into {out / 'bin'}")
        builds = build_all(list(needed.values()), cfg.jobs, log)
        for b in builds:
            if not b.ok:
                broken.add((b.program, b.design, b.cycles))
                failures.append({"program": b.program, "design": b.design, "threads": "-",
                                 "phase": "build", "error": b.error})
    meta["build_s"] = time.perf_counter() - t_build

    # 2. runs
    tasks = [t for t in plan_tasks(cfg) if (t.program.name, t.design, t.cycles) not in broken]
    log(f"running {len(tasks)} runs ({cfg.runs} interleaved rounds"
        f"{f', sweep {len(cfg.sweep)} intervals x {cfg.sweep_runs} rounds' if cfg.sweep else ''})")
    env = base_env(cfg, meta.get("tsc_hz"))
    checker = OutputChecker(log)
    progress = Progress(tasks)
    runs: list[dict[str, Any]] = []
    last_base: dict[tuple, float] = {}
    rounds_done = -1
    for t in tasks:
        exe = exe_path(out, t.cycles, t.design, t.program.name)
        t0 = time.perf_counter()
        rec = run_one(cfg, t, exe, env, out / "logs")
        elapsed = time.perf_counter() - t0
        checker.add(rec)
        runs.append(rec)
        if not rec["ok"] and not rec["mismatch"]:
            failures.append({"program": t.program.name, "design": t.design,
                             "threads": t.threads, "phase": t.phase, "cycles": t.cycles,
                             "run": t.run, "error": rec["error"]})
            log(f"!!! FAILED: {t.program.name} {t.design} threads={t.threads}: {rec['error']}")
        bkey = (t.phase, t.program.name, t.threads, t.cycles)
        if t.design == BASELINE and rec["ok"]:
            last_base[bkey] = rec["wall"]
        progress.finished(t, rec, elapsed, last_base.get(bkey))
        if t.phase == "main" and t.run > rounds_done:
            # results so far, after every completed round (a crash keeps what was measured)
            if rounds_done >= 0:
                report.write_json(out / "results.json",
                                  assemble(cfg, meta, runs, builds, checker, failures, warnings,
                                           complete=False))
            rounds_done = t.run

    # 3. checks
    for r in checker.unchecked():
        warnings.append(f"{r['program']} threads={r['threads']} {r['design']}: no {BASELINE} "
                        f"output to compare with")
    det_outputs: dict[str, dict[int, str]] = {}
    for (prog, threads), o in checker.ref.items():
        det_outputs.setdefault(prog, {})[threads] = o
    for p in cfg.programs:
        outs = det_outputs.get(p.name, {})
        if p.deterministic and len(set(outs.values())) > 1:
            warnings.append(f"{p.name} is marked deterministic but its {BASELINE} output differs "
                            f"between thread counts: {outs}")

    silent = sorted({(r["program"], r["design"], r["threads"], r["cycles"]) for r in runs
                     if r["ok"] and r["design"] != BASELINE and not r.get("handler_calls")})
    for prog, design, threads, cycles in silent:
        warnings.append(f"{prog} {design} threads={threads} cycles={cycles}: a run finished "
                        f"without a single handler call (no probes, or no timer?)")

    # 4. reports
    meta["duration_s"] = time.perf_counter() - t_start
    results = assemble(cfg, meta, runs, builds, checker, failures, warnings, complete=True)
    report.write_json(out / "results.json", results)
    report.write_csv(out / "results.csv", results["cells"])
    (out / "summary.md").write_text(report.markdown(results))
    try:
        (out / "logs").rmdir()
    except OSError:
        pass
    if cfg.plots:
        from . import plots

        for msg in plots.make_all(out / "results.json", out):
            log(msg)
    log(f"results: {out / 'results.json'}, {out / 'results.csv'}, {out / 'summary.md'}")
    log(f"total {_fmt_dur(meta['duration_s'])} (builds {_fmt_dur(meta['build_s'])})")
    _print_summary(results, log)
    for w in warnings:
        log(f"warning: {w}")
    if checker.mismatches or failures:
        log("")
        log("=" * 78)
        for m in checker.mismatches:
            log(f"OUTPUT MISMATCH: {m['program']} threads={m['threads']} {m['design']} "
                f"({m['phase']} run {m['run'] + 1}): {m['output']!r} != {m['expected']!r}")
        for f in failures:
            first = (f["error"] or "?").splitlines()[0]
            log(f"FAILED: {f['program']} {f['design']} threads={f['threads']} ({f['phase']}): "
                f"{first}")
        log(f"{len(checker.mismatches)} output mismatch(es), {len(failures)} failure(s)")
        log("=" * 78)
        return 1
    return 0


def _print_summary(results: dict[str, Any], log: Callable[[str], None]) -> None:
    for s in results["summary"]:
        if s["design"] == BASELINE:
            continue
        parts = [f"{s['design']:<7} t{s['threads']}: median ovh {report.pct(s['median_overhead'])}",
                 f"geomean {report.pct(s['geomean_overhead'])}"]
        if s.get("median_p50") is not None:
            parts.append(f"p50 {s['median_p50']:,.0f} p90 {s['median_p90']:,.0f} cycles")
        log("  " + ", ".join(parts))


def load_results(path: str | Path) -> dict[str, Any]:
    return json.loads(Path(path).read_text())

