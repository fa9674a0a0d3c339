"""Tests of the evaluation harness (``python -m compiler_interrupts bench``): the statistics
helpers on synthetic data, report generation from synthetic runs, the command line, and one
small real run (``--size test``, 3 programs, designs none,naive,signal, 1 run, 1 thread)."""

from __future__ import annotations

import argparse
import csv
import json
import math
import subprocess
import sys
from pathlib import Path

import pytest

try:
    from compiler_interrupts.bench import cli, harness, plots, report
except ImportError:  # running from a checkout without `pip install -e .`
    sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "src"))
    from compiler_interrupts.bench import cli, harness, plots, report


# ------------------------------------------------------------------------------------------
# statistics helpers


@pytest.mark.parametrize(
    ("values", "p", "expected"),
    [
        ([1, 2, 3, 4, 5], 50, 3.0),
        ([1, 2, 3, 4], 50, 2.5),
        ([1, 2, 3, 4, 5], 0, 1.0),
        ([1, 2, 3, 4, 5], 100, 5.0),
        ([10, 20], 90, 19.0),
        ([7], 99, 7.0),
        (list(range(101)), 1, 1.0),
        (list(range(101)), 95, 95.0),
    ],
)
def test_percentile_interpolates_between_closest_ranks(values, p, expected):
    assert report.percentile(sorted(values), p) == pytest.approx(expected)


def test_percentile_rejects_empty_and_out_of_range():
    with pytest.raises(ValueError):
        report.percentile([], 50)
    with pytest.raises(ValueError):
        report.percentile([1], 101)


def test_percentiles_match_the_pure_python_definition_in_any_order():
    vals = [((i * 7919) % 1000) + 0.5 for i in range(1000)]
    got = report.percentiles(vals)
    assert list(got) == [f"p{p}" for p in report.PERCENTILES]
    s = sorted(vals)
    for p in report.PERCENTILES:
        assert got[f"p{p}"] == pytest.approx(report.percentile(s, p))
    assert report.percentiles([]) == {}


def test_geomean():
    assert report.geomean([1, 4]) == pytest.approx(2.0)
    assert report.geomean([2, 2, 2]) == pytest.approx(2.0)
    assert report.geomean([1.1, 1.21]) == pytest.approx(1.1 ** 1.5)
    with pytest.raises(ValueError):
        report.geomean([])
    with pytest.raises(ValueError):
        report.geomean([1.0, 0.0])


def test_overhead_and_geomean_overhead():
    assert report.overhead(1.1, 1.0) == pytest.approx(0.1)
    assert report.overhead(0.9, 1.0) == pytest.approx(-0.1)
    assert report.overhead(None, 1.0) is None
    assert report.overhead(1.0, 0.0) is None
    # ratios 1.21 and 1.0 -> geomean 1.1
    assert report.geomean_overhead([0.21, 0.0]) == pytest.approx(0.1)
    assert report.geomean_overhead([]) is None


def test_spread():
    assert report.spread([1.0, 1.5, 2.0]) == pytest.approx(1.0)
    assert report.spread([]) is None


def test_interval_on_target():
    assert report.interval_on_target({"p50": 5200, "p90": 6400}, 5000) == (True, True)
    assert report.interval_on_target({"p50": 5300, "p90": 6600}, 5000) == (False, False)
    assert report.interval_on_target({}, 5000) is None


def _run(program, design, wall, *, run=0, threads=1, calls=None, intervals=None, region=None,
         ok=True):
    return {"phase": "main", "program": program, "design": design, "threads": threads,
            "cycles": 5000, "run": run, "ok": ok, "wall": wall, "region": region,
            "handler_calls": calls, "intervals": intervals,
            "interval_samples": 100 if intervals else 0, "mismatch": False}


def _synthetic_runs():
    runs = []
    # a: none 1.0/1.1/1.2, ci 1.2/1.3/1.4 -> medians 1.1 vs 1.3
    for i, (n, c) in enumerate([(1.0, 1.2), (1.1, 1.3), (1.2, 1.4)]):
        runs.append(_run("a", "none", n, run=i, region=n - 0.1))
        runs.append(_run("a", "ci", c, run=i, calls=int(c * 1000), region=c - 0.1,
                         intervals={"p1": 4000, "p5": 4500, "p10": 4800, "p30": 4900,
                                    "p50": 5000, "p70": 5100, "p90": 6000, "p95": 7000,
                                    "p99": 9000} if i == 0 else None))
    # b: none 2.0, ci 2.2 (+10%), 1 run
    runs.append(_run("b", "none", 2.0))
    runs.append(_run("b", "ci", 2.2, calls=2200,
                     intervals={"p1": 4000, "p5": 4500, "p10": 4800, "p30": 5500, "p50": 6000,
                                "p70": 6500, "p90": 8000, "p95": 9000, "p99": 9900}))
    return runs


def test_compute_cells_and_summary_on_synthetic_runs():
    cells = report.compute_cells(_synthetic_runs(), ["none", "ci"], "none", 5000)
    by = {(c["program"], c["design"]): c for c in cells}
    a = by[("a", "ci")]
    assert (a["wall_min"], a["wall_median"], a["wall_max"]) == (1.2, 1.3, 1.4)
    assert a["overhead_median"] == pytest.approx(1.3 / 1.1 - 1)
    assert a["overhead_min"] == pytest.approx(0.2)
    assert a["region_overhead_median"] == pytest.approx(1.2 / 1.0 - 1)
    assert a["handler_calls_per_s"] == pytest.approx(1000.0)
    assert a["intervals"]["p50"] == 5000
    assert by[("a", "none")]["overhead_median"] is None
    assert by[("b", "ci")]["overhead_median"] == pytest.approx(0.1)

    summary = report.summarize(cells, ["none", "ci"], "none", 5000)
    ci = [s for s in summary if s["design"] == "ci"][0]
    o_a, o_b = 1.3 / 1.1 - 1, 0.1
    assert ci["median_overhead"] == pytest.approx((o_a + o_b) / 2)
    assert ci["geomean_overhead"] == pytest.approx(math.sqrt((1 + o_a) * (1 + o_b)) - 1)
    assert ci["worst_program"] == "a"
    assert ci["median_p50"] == pytest.approx(5500)
    assert ci["median_p90"] == pytest.approx(7000)
    assert ci["frac_p50_on_target"] == pytest.approx(0.5)  # a yes (5000), b no (6000)
    assert ci["frac_p90_tight"] == pytest.approx(0.5)  # a 6000 <= 6500, b 8000 > 6500


def test_failed_runs_are_excluded_from_timing():
    runs = [_run("a", "none", 1.0), _run("a", "ci", 1.1), _run("a", "ci", 50.0, run=1, ok=False)]
    cells = report.compute_cells(runs, ["none", "ci"], "none", 5000)
    c = [c for c in cells if c["design"] == "ci"][0]
    assert (c["runs"], c["ok_runs"], c["wall_max"]) == (2, 1, 1.1)


def test_reports_and_plots_from_results_json_alone(tmp_path):
    runs = _synthetic_runs()
    runs += [dict(r, phase="sweep", cycles=cyc, wall=r["wall"] * (1 + 1000 / cyc))
             for cyc in (2000, 20000) for r in _synthetic_runs() if r["program"] == "a"]
    meta = {"designs": ["none", "ci"], "baseline": "none", "cycles": 5000, "runs": 3,
            "size": "test", "sweep_designs": ["none", "ci"], "sweep_programs": ["a"]}
    (tmp_path / "results.json").write_text(json.dumps({"meta": meta, "runs": runs}))
    results = report.regenerate(tmp_path / "results.json")
    assert {r["cycles"] for r in results["sweep_rows"]} == {2000, 20000}
    md = (tmp_path / "summary.md").read_text()
    assert "| a | ci |" in md and "## Summary" in md and "Overhead vs interval" in md
    rows = list(csv.DictReader(open(tmp_path / "results.csv")))
    assert len(rows) == 4 and set(rows[0]) == set(report.CSV_FIELDS)
    msgs = plots.make_all(tmp_path / "results.json")
    if any(m.startswith("warning") for m in msgs):
        pytest.skip("matplotlib not installed")
    for name in ("fig9_overhead_t1.png", "fig10_intervals_t1.png",
                 "fig12_overhead_vs_interval.png"):
        assert (tmp_path / name).stat().st_size > 1000, name


# ------------------------------------------------------------------------------------------
# command line and configuration


def _parse(argv):
    p = argparse.ArgumentParser()
    sub = p.add_subparsers(dest="command")
    cli.add_parser(sub)
    return p.parse_args(["bench", *argv])


def test_cli_defaults():
    ns = _parse([])
    assert ns.designs is None and ns.cycles == 5000 and ns.threads == [1, 2] and ns.runs == 5
    assert ns.size == "bench" and ns.sweep is None and ns.program == [] and not ns.no_build
    assert ns.func is cli.cmd_bench


def test_cli_lists():
    ns = _parse(["--designs", "none,ci", "--threads", "1,2,4", "--sweep", "2000,5000",
                 "--programs", "fft,lu", "--program", "x=$CC a.c -o $OUT::$OUT 1"])
    assert ns.designs == ["none", "ci"] and ns.threads == [1, 2, 4]
    assert ns.sweep == [2000, 5000] and ns.programs == ["fft", "lu"]
    with pytest.raises(SystemExit):
        _parse(["--threads", "0"])


def test_parse_external_program():
    p = harness.parse_external("mine=$CC -O2 m.c -o $OUT -lm::$OUT $THREADS 100")
    assert (p.name, p.build_cmd, p.run_cmd) == ("mine", "$CC -O2 m.c -o $OUT -lm",
                                                "$OUT $THREADS 100")
    assert p.external and not p.deterministic
    assert harness.parse_external("m=$CC m.c -o $OUT").run_cmd == "$OUT $THREADS"
    for bad in ("no-equals", "=x", "m=::run", "m=$CC m.c::run"):
        with pytest.raises(harness.BenchError):
            harness.parse_external(bad)


def test_unknown_program_and_design_are_usage_errors(capsys):
    assert cli.cmd_bench(_parse(["--programs", "nope"])) == 2
    assert "unknown program" in capsys.readouterr().err
    assert cli.cmd_bench(_parse(["--designs", "none,bogus"])) == 2
    assert "unknown design" in capsys.readouterr().err


def test_plan_interleaves_and_rotates_designs():
    progs = [harness.Program(name=n) for n in ("p", "q")]
    cfg = harness.BenchConfig(designs=["none", "naive", "ci"], programs=progs, threads=[1],
                              runs=3)
    tasks = harness.plan_tasks(cfg)
    assert len(tasks) == 2 * 3 * 3
    first = [t.design for t in tasks[:3]]
    second_round = [t.design for t in tasks[6:9]]
    assert sorted(first) == ["ci", "naive", "none"] and first != second_round
    assert all(t.log_intervals == (t.run == 0) for t in tasks)
    # every design of a cell runs back to back
    for i in range(0, len(tasks), 3):
        assert len({(t.program.name, t.run) for t in tasks[i:i + 3]}) == 1


# ------------------------------------------------------------------------------------------
# a real (small) run


def _have_toolchain() -> bool:
    try:
        from compiler_interrupts.toolchain.clang import find_clang

        find_clang(False)
    except Exception:  # noqa: BLE001
        return False
    return True


@pytest.mark.skipif(not _have_toolchain(), reason="no clang for ci-cc")
def test_smoke_run_test_size(tmp_path):
    out = tmp_path / "res"
    cmd = [sys.executable, "-m", "compiler_interrupts", "bench", "--size", "test",
           "--programs", "fft,kmeans,radix", "--designs", "none,naive,signal", "--runs", "1",
           "--threads", "1", "--out", str(out)]
    r = subprocess.run(cmd, capture_output=True, text=True, timeout=240)
    assert r.returncode == 0, r.stderr[-3000:]
    assert "ETA" in r.stderr  # progress lines
    for name in ("results.json", "results.csv", "summary.md"):
        assert (out / name).is_file(), name
    res = json.loads((out / "results.json").read_text())
    assert res["complete"] and not res["mismatches"] and not res["failures"]
    assert len(res["runs"]) == 9 and all(r["ok"] for r in res["runs"])
    outputs = {}
    for run in res["runs"]:
        outputs.setdefault(run["program"], set()).add(run["output"])
    assert all(len(v) == 1 and next(iter(v)).startswith("checksum: ") for v in outputs.values())
    cells = {(c["program"], c["design"]): c for c in res["cells"]}
    for prog in ("fft", "kmeans", "radix"):
        naive = cells[(prog, "naive")]
        assert naive["handler_calls"] > 0 and naive["intervals"]["p50"] > 0
        assert naive["overhead_median"] is not None
        assert cells[(prog, "signal")]["handler_calls"] > 0
        assert not cells[(prog, "none")]["handler_calls"]  # no probes, no timer: no calls
    rows = list(csv.DictReader(open(out / "results.csv")))
    assert len(rows) == 9
    md = (out / "summary.md").read_text()
    assert "naive vs none" in md and "agree with `none`" in md
    assert not (out / "logs").exists()  # interval logs are deleted after parsing


def test_output_checker_flags_disagreement_with_none_in_any_order():
    logged = []
    chk = harness.OutputChecker(logged.append)

    def rec(design, output, threads=1):
        return {"program": "p", "threads": threads, "design": design, "phase": "main",
                "cycles": 5000, "run": 0, "rc": 0, "ok": True, "output": output,
                "mismatch": False}

    early = rec("ci", "checksum: 2")  # arrives before the baseline: checked later
    chk.add(early)
    chk.add(rec("none", "checksum: 1"))
    good = rec("naive", "checksum: 1")
    chk.add(good)
    chk.add(rec("ci", "checksum: 9", threads=2))  # no baseline for 2 threads
    assert early["mismatch"] and not early["ok"] and not good["mismatch"]
    assert [m["design"] for m in chk.mismatches] == ["ci"]
    assert "MISMATCH" in logged[0]
    assert [r["threads"] for r in chk.unchecked()] == [2]
