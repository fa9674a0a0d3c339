"""The delegation application (``app delegation``): correctness of every variant, built with
``ci-cc``, and the shape of a ``--quick`` run's outputs.

Correctness runs use ``--ops N``: every worker does exactly N operations, the driver replays all
workers' operations sequentially and compares the final counters / map contents element by
element (and checks the priority queue's multiset hash and heap order); the final state hash
must also be the same for every variant with the same number of workers.
"""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

from compiler_interrupts.apps.delegation import run
from conftest import have_matplotlib, requires_clang

pytestmark = requires_clang("ci-cc")

WORKERS = 3
OPS = 400  # per worker: small, the machine may be oversubscribed (clients then wait for the
#            server's time slice)


@pytest.fixture(scope="module")
def exes(tmp_path_factory):
    d = tmp_path_factory.mktemp("deleg")
    return {"ci": run.build(d, "ci"), "none": run.build(d, "none")}


def _threads(variant: str) -> int:
    return WORKERS + 1 if variant == "dedicated" else WORKERS


@pytest.mark.parametrize("struct", ["ctr", "hmap", "pq"])
def test_every_variant_is_correct(exes, struct):
    hashes = {}
    for variant in (*run.VARIANTS, *run.EXTRA_VARIANTS):
        exe = exes["ci"] if variant == "ci" else exes["none"]
        res = run.run_one(exe, variant, struct, _threads(variant), cs=3, ops=OPS,
                          interval=3000, size=256, timeout=60)
        assert res["check"] == "ok", (variant, res["check"])
        assert res["workers"] == WORKERS
        assert res["ops"] == [OPS] * WORKERS
        assert res["total_ops"] == OPS * WORKERS
        n = sum(c for _, _, c in res["hist_all"])  # one operation in 8 is timed
        assert n == WORKERS * ((OPS + 7) // 8)
        if variant in ("dedicated", "dedicated_extra", "ci"):
            clients = WORKERS - 1 if variant == "ci" else WORKERS
            assert res["server"]["served"] == OPS * clients
        if variant == "ci":
            assert res["roles"][0] == "host"
            assert res["server"]["ci_handler_calls"] > 0
        hashes[variant] = res["state_hash"]
    if struct != "pq":  # the heap's final contents depend on the interleaving
        assert len(set(hashes.values())) == 1, hashes


def test_ci_timers(exes):
    # both ways of timing the host's handler serve correctly
    for timer in ("ir", "cycles"):
        res = run.run_one(exes["ci"], "ci", "hmap", 3, 2, ops=OPS, interval=2000, timer=timer,
                          size=256)
        assert res["check"] == "ok"
        assert res["server"]["timer"] == timer
        assert res["server"]["served"] == OPS * 2
        assert (res["server"]["ir_interval"] > 0) == (timer == "ir")


def test_probes_only_in_ci_build(exes):
    # the ci build's host thread is interrupted (its handler runs); the none build has no probes
    res = run.run_one(exes["none"], "ci", "ctr", 2, 1, ops=2000, interval=2000, size=64)
    assert res["check"] == "ok"
    assert res["server"]["ci_handler_calls"] == 0  # served only by the host's final polling
    res = run.run_one(exes["ci"], "ci", "ctr", 1, 1, ms=30, interval=2000, size=64)
    assert res["server"]["ci_handler_calls"] > 100


def test_histogram_quantiles():
    h = [[0, 1, 10], [10, 11, 80], [100, 110, 10]]
    assert run.hist_quantile(h, 0.05) == 0.5
    assert run.hist_quantile(h, 0.5) == 10.5
    assert run.hist_quantile(h, 0.99) == 105
    assert run.hist_quantile([], 0.5) is None
    assert run.merge_hists([h, [[10, 11, 5]]])[1] == [10, 11, 85]


def test_quick_run_outputs(tmp_path):
    out = tmp_path / "out"
    cmd = [sys.executable, "-m", "compiler_interrupts.apps.cli", "app", "delegation", "--quick",
           "--runs", "2", "--ms", "60", "--out", str(out)]
    proc = subprocess.run(cmd, capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    s = json.loads((out / "summary.json").read_text())
    assert set(s["variants"]) == set(run.VARIANTS)
    for name, v in s["variants"].items():
        assert v is not None, name
        assert v["mops"] > 0
        for k in ("mops", "p50_us", "p99_us"):
            assert k in v
    # ci's client latency exists at 2 threads (one delegating client)
    assert s["variants"]["ci"]["p99_us"] is not None
    assert set(s["by_threads"]["mutex"]) == {"1", "2", "4"}
    assert set(s["by_threads"]["dedicated"]) == {"2", "4"}
    assert set(s["targets"]) == {"2", "4"}
    for t in s["targets"].values():
        for k in ("ci_above_mutex", "ci_above_spin", "ci_over_dedicated", "p99_ratio"):
            assert k in t
    assert (out / "summary.md").read_text().startswith("# Delegation")
    assert (out / "runs.jsonl").exists()
    if not have_matplotlib():
        return
    assert (out / "fig_throughput.png").stat().st_size > 0
    assert (out / "fig_latency_cdf.png").stat().st_size > 0
