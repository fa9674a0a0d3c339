"""``python -m compiler_interrupts bench``: the evaluation harness's command line."""

from __future__ import annotations

import argparse
import datetime as _dt
import sys
from pathlib import Path

from ..apps.common import csv_list

EPILOG = """\
external programs:
  --program NAME='BUILD_CMD'::'RUN_CMD'   (repeatable)
    BUILD_CMD runs in a shell once per design with
      $CC   = ci-cc --ci-design=DESIGN --ci-autostart=CYCLES   (add your own -O2 and flags)
      $OUT  = the executable it must produce
    RUN_CMD runs in a shell with $OUT and $THREADS set (default: '$OUT $THREADS').
    Quote both parts so that your shell leaves $CC/$OUT/$THREADS alone, e.g.
      --program mine='$CC -O2 -pthread mine.c -o $OUT -lm'::'$OUT $THREADS 1000'
    Outputs are compared on the 'checksum:' line if the program prints one, else on the
    whole stdout.  With --program and no --programs, only the external programs run.

output (in --out DIR): results.json (everything: config, machine, raw runs, aggregates),
results.csv (one row per program x design x threads), summary.md (tables), fig*.png
(matplotlib, skipped with a warning if it is missing; redraw with
`python -m compiler_interrupts.bench.plots DIR/results.json`).  Exit code 1 if any output
disagrees with --ci-design=none or any build or run failed.

environment: CI_SIGNAL_MIN_NS (floor of the signal design's timer period, default 50000 ns) is
passed through unless --signal-min-ns is given.
"""


_csv = csv_list  # comma-separated list arguments


def _positive_ints(text: str) -> list[int]:
    vals = _csv(int)(text)
    if any(v <= 0 for v in vals):
        raise argparse.ArgumentTypeError(f"values must be positive: {text!r}")
    return vals


def add_parser(subparsers) -> argparse.ArgumentParser:
    """Add the ``bench`` subcommand to ``subparsers`` (an argparse subparsers action)."""
    p = subparsers.add_parser(
        "bench",
        help="build the workload suite with every design and measure overhead and intervals",
        description="Build every program with every design through ci-cc, run them "
                    "interleaved, check their outputs against --ci-design=none, and report "
                    "overheads, handler call rates and interval percentiles.",
        epilog=EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument("--designs", type=_csv(str), default=None,
                   help="comma-separated designs (default: none,naive,ci,signal; none is always "
                        "added: it is the baseline)")
    p.add_argument("--cycles", type=int, default=5000,
                   help="target interval in TSC cycles, --ci-autostart=CYCLES (default 5000)")
    p.add_argument("--threads", type=_positive_ints, default=[1, 2],
                   help="comma-separated thread counts (default 1,2)")
    p.add_argument("--runs", type=int, default=5, help="interleaved runs per cell (default 5)")
    p.add_argument("--programs", type=_csv(str), default=None,
                   help="comma-separated suite programs (default: all)")
    p.add_argument("--size", choices=("bench", "test"), default="bench",
                   help="problem size of the suite programs (default bench)")
    p.add_argument("--out", type=Path, default=None,
                   help="output directory (default bench-results/<timestamp>)")
    p.add_argument("--sweep", type=_positive_ints, default=None,
                   help="also measure overhead vs interval at these target cycles, e.g. "
                        "2000,5000,20000,100000,1000000 (Figure 12)")
    p.add_argument("--sweep-programs", type=_csv(str), default=None,
                   help="programs of the sweep (default fft,kmeans,water, or the first three)")
    p.add_argument("--sweep-designs", type=_csv(str), default=None,
                   help="designs of the sweep (default: none, ci and signal among --designs)")
    p.add_argument("--sweep-runs", type=int, default=3, help="runs per sweep cell (default 3)")
    p.add_argument("--program", action="append", default=[], metavar="NAME='BUILD'::'RUN'",
                   help="an external program (repeatable; see below)")
    p.add_argument("--no-build", action="store_true",
                   help="reuse the executables already in --out (from an earlier run)")
    p.add_argument("--jobs", type=int, default=2, help="parallel builds (default 2)")
    p.add_argument("--timeout", type=float, default=600.0,
                   help="seconds before a run is killed and counted as failed (default 600)")
    p.add_argument("--signal-min-ns", type=int, default=None,
                   help="CI_SIGNAL_MIN_NS for the runs (floor of the signal timer period)")
    p.add_argument("--no-plots", action="store_true", help="do not draw PNG figures")
    p.set_defaults(func=cmd_bench)
    return p


def cmd_bench(ns: argparse.Namespace) -> int:
    from .. import designs as design_registry
    from . import harness

    try:
        designs = list(ns.designs) if ns.designs else list(harness.DEFAULT_DESIGNS)
        valid = design_registry.names()
        bad = [d for d in designs if d not in valid]
        if bad:
            raise harness.BenchError(f"unknown design(s) {', '.join(bad)} "
                                     f"(valid: {', '.join(valid)})")
        designs = list(dict.fromkeys(designs))
        if harness.BASELINE not in designs:
            designs.insert(0, harness.BASELINE)
        if ns.runs < 1 or ns.cycles < 1:
            raise harness.BenchError("--runs and --cycles must be >= 1")
        programs = harness.select_programs(ns.programs, ns.program)
        if not programs:
            raise harness.BenchError("no programs selected")
        sweep = list(ns.sweep or [])
        sweep_programs: list[harness.Program] = []
        sweep_designs: list[str] = []
        if sweep:
            by_name = {p.name: p for p in programs}
            if ns.sweep_programs:
                missing = [n for n in ns.sweep_programs if n not in by_name]
                if missing:
                    extra = harness.select_programs(missing)
                    by_name.update({p.name: p for p in extra})
                sweep_programs = [by_name[n] for n in ns.sweep_programs]
            else:
                default = [by_name[n] for n in harness.DEFAULT_SWEEP_PROGRAMS if n in by_name]
                sweep_programs = default or programs[:3]
            if ns.sweep_designs:
                bad = [d for d in ns.sweep_designs if d not in valid]
                if bad:
                    raise harness.BenchError(f"unknown sweep design(s) {', '.join(bad)}")
                sweep_designs = list(dict.fromkeys(ns.sweep_designs))
            else:
                sweep_designs = [d for d in designs if d in ("ci", "signal")]
            if harness.BASELINE not in sweep_designs:
                sweep_designs.insert(0, harness.BASELINE)
        out = ns.out
        if out is None:
            if ns.no_build:
                raise harness.BenchError("--no-build needs --out DIR of an earlier run")
            stamp = _dt.datetime.now().strftime("%Y%m%d-%H%M%S")
            out = Path("bench-results") / stamp
        cfg = harness.BenchConfig(
            designs=designs, programs=programs, cycles=ns.cycles, threads=list(ns.threads),
            runs=ns.runs, size=ns.size, out=out, sweep=sweep, sweep_programs=sweep_programs,
            sweep_designs=sweep_designs, sweep_runs=max(1, ns.sweep_runs),
            no_build=ns.no_build, jobs=max(1, ns.jobs), timeout=ns.timeout,
            signal_min_ns=ns.signal_min_ns, plots=not ns.no_plots, argv=sys.argv[1:],
        )
    except harness.BenchError as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    return harness.run_bench(cfg)


def main(argv: list[str] | None = None) -> int:
    """Standalone entry point (``python -m compiler_interrupts.bench.cli ...``)."""
    parser = argparse.ArgumentParser(prog="ci-bench")
    sub = parser.add_subparsers(dest="command", required=True)
    add_parser(sub)
    args = ["bench", *(sys.argv[1:] if argv is None else argv)]
    ns = parser.parse_args(args)
    return ns.func(ns)


if __name__ == "__main__":
    sys.exit(main())
