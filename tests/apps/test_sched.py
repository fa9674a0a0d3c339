"""The sched application (``app sched``): LevelDB built with ``ci-c++``, green threads preempted
by CIs or timer signals.

Correctness only (no timing assertions): the context switch keeps callee-saved registers and the
FP control state; a preempted computation (CI ticks or signals at arbitrary points) gives
bit-identical results; every GET/SCAN result under every policy matches the value computed
without LevelDB (sched_server checks each request and reports mismatches), preempted SCANs
complete; experiment B's variants serve correctly; a ``--quick`` run writes ``summary.json``
with the documented shape.  Skips with the reason when LevelDB cannot be fetched or built.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from compiler_interrupts.apps.sched import leveldb, run
from conftest import have_matplotlib, requires_clang

pytestmark = [
    requires_clang("ci-c++"),
    pytest.mark.skipif((os.cpu_count() or 1) < 2, reason="needs 2 CPUs (worker + load generator)"),
]


@pytest.fixture(scope="module")
def exes():
    try:
        return {"none": leveldb.server("none"), "ci": leveldb.server("ci")}
    except leveldb.SetupError as e:
        pytest.skip(f"LevelDB cannot be fetched/built here: {e}")


@pytest.fixture(scope="module")
def db(exes):
    d = run.make_db(exes["none"])
    yield d / "db"
    shutil.rmtree(d, ignore_errors=True)


def _one(cmd, timeout=120):
    res = run.run_json([str(c) for c in cmd], timeout=timeout, lock=False)
    assert res, cmd
    return res


@pytest.mark.parametrize("name", ["switch", "preempt-ci", "preempt-signal"])
def test_selftests(exes, name):
    exe = exes["ci"]  # preempt-ci needs probes; the others work in any build
    r = _one([exe, "--selftest", name])[0]
    assert r["check"] == "ok", r
    if name == "switch":
        assert r["callee_saved_bad_mask"] == 0 and r["rounding_kept"]
    else:
        assert r["results_equal"] and r["preemptions"] > 0 and r["errno_bad"] == 0
    if name == "preempt-ci":
        # preempted from the ci_after_handler function, outside the handler, and every thread
        # was preempted again after switches (interrupts kept arriving)
        assert r["after_fail"] == 0 and r["after_in_handler"] == 0
        assert r["after_runs"] == r["preemptions"]
        assert r["min_preemptions_per_thread"] > 1


@pytest.mark.parametrize("arrivals", ["local", "ring"])
@pytest.mark.parametrize("policy", ["fcfs", "ci-2us", "ci-5us", "signal-50us"])
def test_policy_results_correct(exes, db, policy, arrivals):
    kind, q = run.parse_policy(policy)
    exe = exes["ci"] if kind == "ci" else exes["none"]
    # many SCANs (5%) at a low rate: SCANs are preempted by the GETs arriving meanwhile
    cmd = [exe, "--db", db, "--exp", "A", "--policy", kind, "--rates", "15000,40000",
           "--ms", "150", "--scan-frac", "0.05", "--arrivals", arrivals, "--warm-ms", "30"]
    if kind != "fcfs":
        cmd += ["--quantum-us", str(q)]
    for r in _one(cmd):
        assert r["check"] == "ok", r
        assert r["arrivals"] == arrivals
        assert r["mismatches"] == 0
        assert r["completed"] == r["n"] and r["completed_all"] == r["n"] + r["warm_n"]
        assert r["warm_n"] > 0  # the warm-up is served (and checked) but not measured
        # the worker's own stall report and the stall-free view (a subset of the GETs)
        st = r["stalls"]
        assert st["n"] >= st["over_200us"] >= st["over_500us"] >= st["over_1ms"] >= 0
        assert r["get_clean"]["n"] + st["gets_in_windows"] == r["get"]["n"]
        assert r["get_tail"]["n"] > 0
        assert ("lg_lag" in r) == (arrivals == "ring")
        assert r["scan"]["n"] > 0 and r["get"]["n"] > 0
        if kind == "ci":
            assert r["preemptions"] > 0  # preempted SCANs finished with the right hashes
            assert r["after_fail"] == 0
            assert r["after_runs"] + r["deferred"] == r["preemptions"]
            assert r["handler_calls"] > 0
        if kind == "fcfs":
            assert r["preemptions"] == 0


def test_requeue_low_correct(exes, db):
    # preempted requests in a second queue: still every result right, SCANs complete
    r = _one([exes["ci"], "--db", db, "--exp", "A", "--policy", "ci", "--quantum-us", "2",
              "--rates", "30000", "--ms", "150", "--scan-frac", "0.05", "--requeue", "low"])[0]
    assert r["check"] == "ok", r
    assert r["preemptions"] > 0 and r["scan"]["n"] > 0


def test_calibrate_saturation(exes, db):
    # the fcfs dispatcher's saturation throughput (the capacity loads refer to), checked results
    c = _one([exes["none"], "--db", db, "--calibrate"])[0]
    assert c["saturation_bad"] == 0
    assert 0 < c["saturation_rps"] < 2 * c["capacity_rps"]
    assert run.capacity(c) == c["saturation_rps"]


def test_noise_one_core(exes):
    n = _one([exes["none"], "--noise", "100", "--noise-cpus", "1"])[0]
    assert n["spinning"] == 1 and len(n["cpus"]) == 1


def test_probes_only_in_ci_build(exes, db):
    # the none build counts no IR instructions: the ci policy refuses to run on it
    proc = subprocess.run([str(exes["none"]), "--db", str(db), "--exp", "A", "--policy", "ci",
                           "--rates", "1000", "--ms", "20"], capture_output=True, text=True,
                          timeout=60)
    assert proc.returncode != 0 and "probes" in proc.stderr


@pytest.mark.parametrize("variant", ["ci", "dedicated", "coarse"])
def test_exp_b_serves_correctly(exes, db, variant):
    exe = exes["ci"] if variant == "ci" else exes["none"]
    r = _one([exe, "--db", db, "--exp", "B", "--variant", variant, "--rate", "10000",
              "--ms", "150"])[0]
    assert r["check"] == "ok", r
    assert r["completed"] == r["n"] > 0
    assert r["hashes"] > 0
    if variant == "ci":
        assert r["handler_calls"] > 0


def test_summary_logic():
    mk = lambda name, load, p999, thr, off: {  # noqa: E731
        "exp": "A", "name": name, "load": load, "offered_rps": off, "throughput_rps": thr,
        "n": 10, "completed": 10, "check": "ok", "preemptions": 0, "handler_calls": 0,
        "signals": 0, "ir_interval": 0,
        "get": {"p50_us": 1.0, "p99_us": p999 / 2, "p999_us": p999},
        "scan": {"p50_us": 100.0, "p99_us": 200.0}}
    raw = [mk("fcfs", 0.7, 500.0, 100.0, 100.0), mk("ci-5us", 0.7, 20.0, 99.0, 100.0),
           mk("signal-50us", 0.7, 300.0, 60.0, 100.0), mk("signal-100us", 0.7, 100.0, 99.0, 100.0)]
    # an attempt that was not kept (re-measured) is in runs.jsonl but not in the tables
    raw.append(dict(mk("fcfs", 0.7, 9e6, 100.0, 100.0), kept=False))
    # the stall-free view sits next to the raw numbers
    raw[0]["get_clean"] = {"n": 5, "p99_us": 100.0, "p999_us": 200.0}
    raw[1]["get_clean"] = {"n": 5, "p99_us": 10.0, "p999_us": 10.0}
    raw[2]["get_clean"] = {"n": 0, "p99_us": 0.0, "p999_us": 0.0}  # every GET in a window
    s = run.summarize(raw, {"command": "x", "arrivals": "local"})
    assert s["variants"]["ci-5us"]["p999_us"] == 20.0
    assert s["variants"]["fcfs"]["p999_us"] == 500.0
    assert s["quality"]["attempts_not_kept"] == 1
    assert s["by_load"]["signal-50us"]["0.70"]["clean_p999_us"] is None
    assert s["targets"]["a_p999_cut_stall_free_view"] == 20.0
    t = s["targets"]
    assert t["a_p999_cut"] == 25.0 and t["a_p999_cut_met"] and t["a_throughput_met"]
    assert not t["a_vs_signal"]["signal-50us"]["sustained"]
    assert t["a_vs_signal"]["signal-100us"]["ci5_better"]
    assert t["a_beats_sustainable_signal"]
    md = run.markdown(s)
    assert "# sched" in md and "stall-free view" in md and "`local`" in md


def test_quick_run_outputs(exes, tmp_path):
    out = tmp_path / "out"
    cmd = [sys.executable, "-m", "compiler_interrupts.apps.sched.run", "--quick", "--ms", "100",
           "--b-ms", "150", "--no-lock", "--out", str(out)]
    env = dict(os.environ)
    src = str(Path(run.__file__).resolve().parents[3])
    env["PYTHONPATH"] = src + (os.pathsep + env["PYTHONPATH"] if env.get("PYTHONPATH") else "")
    proc = subprocess.run(cmd, capture_output=True, text=True, timeout=240, env=env)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    s = json.loads((out / "summary.json").read_text())
    assert set(s["variants"]) == set(run.policies())
    for name, v in s["variants"].items():
        assert v is not None, name
        assert v["arrivals"] == "local", name  # the default of experiment A
        for k in ("throughput_rps", "p50_us", "p99_us", "p999_us"):
            assert isinstance(v[k], (int, float)), (name, k)
        assert v["check"] == "ok", name
    for name, pts in s["by_load"].items():
        assert set(pts) == {f"{x:.2f}" for x in run.QUICK_LOADS}, name
    assert set(s["exp_b"]) == set(run.B_VARIANTS)
    assert "a_p999_cut" in s["targets"] and "b_batch_vs_solo" in s["targets"]
    assert s["errors"] == 0
    n_points = len(run.policies()) * len(run.QUICK_LOADS) + len(run.B_VARIANTS)
    assert s["quality"]["points"] == n_points
    for k in ("noise_start", "noise_end"):  # the machine's stalls on both cores
        n = s["meta"][k]
        assert len(n["cpus"]) == 2 and all(c["lost_frac"] >= 0 for c in n["cpus"]), n
    for k in ("noise1_start", "noise1_end"):  # ... and on the worker's core alone
        assert len(s["meta"][k]["cpus"]) == 1
    runs = [json.loads(x) for x in (out / "runs.jsonl").read_text().splitlines() if x]
    a = [r for r in runs if r.get("exp") == "A"]
    assert a and all(r["arrivals"] == "local" and "stalls" in r for r in a)
    assert all(r.get("arrivals", "ring") == "ring" for r in runs if r.get("exp") == "B")
    assert (out / "summary.md").read_text().startswith("# sched")
    assert (out / "runs.jsonl").exists()
    if not have_matplotlib():
        return
    for f in ("fig_latency_vs_load.png", "fig_throughput_vs_load.png", "fig_expB.png"):
        assert (out / f).stat().st_size > 0
