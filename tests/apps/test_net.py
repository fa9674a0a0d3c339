"""The net application (``app net``): every server variant answers real HTTP/1.1 requests over
lwIP/memif (the kernel variant over loopback TCP) with the right body, and a ``--quick`` run
writes summary.json with the documented shape.

Correctness runs use the client's ``--verify``: every response's status must be 200 and its body
the 64-bit hash the client recomputes from the request's seed and cost.  Skipped (with the
reason) when clang, DPDK or lwIP's sources are missing and cannot be installed.
"""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

from compiler_interrupts.apps.net import run, setup
from conftest import have_clang, have_matplotlib, no_clang_reason

def _deps_reason() -> str | None:
    if not have_clang():
        return no_clang_reason("ci-cc")
    if not sys.platform.startswith("linux"):
        return "DPDK memif needs Linux"
    try:
        setup.ensure(install=True, log=lambda m: None)
    except setup.SetupError as exc:
        return f"DPDK/lwIP missing and not installable here: {str(exc).splitlines()[0]}"
    return None


_REASON = _deps_reason()
pytestmark = pytest.mark.skipif(_REASON is not None, reason=_REASON or "")


@pytest.fixture(scope="module")
def exes(tmp_path_factory):
    d = tmp_path_factory.mktemp("net")
    return {"ci": run.build(d, "ci"), "none": run.build(d, "none")}


def _check_phase(p, n_min):
    assert p["errors"] == 0, p
    assert p["completed"] >= n_min, p
    assert p["completed"] == p["sent"], p          # every request answered
    assert p["verified"] == p["completed"], p      # --verify: every body checked
    assert p["lost"] == 0 and p["dead_conns"] == 0, p


@pytest.mark.parametrize("variant", run.VARIANTS)
def test_variant_serves_correct_responses(exes, variant):
    # small costs: 1 unit and 5 units (mixed with 40-unit requests), closed and open loop
    r = run.run_pair(exes, variant, ["closed,1,2,150", "open,5,3000,150,40,200"], conns=8,
                     short_units=5, verify=True, lock=False, timeout=60)
    c, s = r["client"], r["server"]
    assert c["variant"] == ("kernel" if variant == "kernel" else variant.split("_")[0])
    closed, opened = c["phases"]
    _check_phase(closed, 100)
    _check_phase(opened, 100)
    assert opened["long_count"] > 0 and opened["short_count"] > 0
    assert closed["throughput_rps"] > 0 and closed["p50_us"] > 0
    # the server saw the same requests and no malformed ones
    assert s["served"] == closed["completed"] + opened["completed"], (s, c)
    assert s["bad"] == 0 and s["out_full"] == 0
    if variant != "kernel":
        assert s["rx_frames"] > 0 and s["tx_frames"] > 0
    if variant == "ci":
        assert s["ir_interval"] > 0          # the ci build has probes: IR mode is calibrated
        assert s["ci_polls"] > 0             # ... and its handler polled the stack
    if variant.startswith("dedicated"):
        assert s["arrangement"] == variant.split("_")[1]


def test_none_build_has_no_probes(exes):
    # the ci server built without probes never runs its handler (it still serves correctly)
    r = run.run_pair({"ci": exes["none"], "none": exes["none"]}, "ci", ["closed,3,1,100"],
                     conns=4, verify=True, lock=False, timeout=60)
    assert r["server"]["ir_interval"] == 0 and r["server"]["ci_polls"] == 0
    _check_phase(r["client"]["phases"][0], 50)


def test_work_calibration(exes):
    p = subprocess.run([str(exes["none"]), "calibrate", "--units", "8"], capture_output=True,
                       text=True, timeout=30)
    cal = json.loads(p.stdout)
    assert 0 < cal["us_per_unit"] < 100 and cal["tsc_hz"] > 1e6


def test_summary_helpers():
    assert run.cost_units("10", 0.25) == (40, 0, 0)
    u, lu, lp = run.cost_units("mix", 0.25)
    assert (u, lu, lp) == (4, 400, run.MIX_LONG_PERMILLE)
    assert run.phase_arg(True, "mix", 0.25, 1000, 200) == f"open,4,1000.0,200,400,{lp}"
    assert run.server_cores("dedicated_split") == 2 and run.server_cores("ci") == 1


def test_quick_run_outputs(tmp_path):
    out = tmp_path / "out"
    cmd = [sys.executable, "-m", "compiler_interrupts.apps.net.run", "--quick", "--no-lock",
           "--ms", "120", "--costs", "1,10,mix", "--out", str(out)]
    proc = subprocess.run(cmd, capture_output=True, text=True, timeout=150)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    s = json.loads((out / "summary.json").read_text())
    assert set(s["variants"]) == set(run.VARIANTS)
    for name, v in s["variants"].items():
        assert v is not None, name
        for k in ("throughput_rps", "p50_us", "p99_us", "p999_us", "throughput_per_core"):
            assert k in v, (name, k)
        assert v["throughput_rps"] > 0
    for name, bc in s["by_cost"].items():
        assert set(bc) == {"1", "10", "mix"}
        for c, st in bc.items():
            assert set(st["loads"]) == {"0.5"}, (name, c)
            assert st["loads"]["0.5"]["offered_rps"] > 0
    t = s["targets"]
    for k in ("ci_over_dedicated_per_core", "ci_over_kernel", "p99_at_half_load",
              "head_of_line", "throughput_target_met"):
        assert k in t, k
    assert s["errors"] == [] and s["response_errors"] == 0
    assert (out / "summary.md").read_text().startswith("# Kernel-bypass HTTP")
    assert (out / "runs.jsonl").exists()
    if not have_matplotlib():
        return
    assert (out / "fig_throughput.png").stat().st_size > 0
    assert (out / "fig_latency.png").stat().st_size > 0


def test_setup_finds_or_explains_lwip(tmp_path, monkeypatch):
    # an lwIP tree named by CI_NET_LWIP_SRC is used; without one (and an empty cache) the
    # setup reports what is missing and how to install it
    fake = tmp_path / "lwip" / "src"
    (fake / "core").mkdir(parents=True)
    (fake / "include" / "lwip").mkdir(parents=True)
    (fake / "core" / "tcp_in.c").write_text("")
    (fake / "include" / "lwip" / "tcp.h").write_text("")
    monkeypatch.setenv("CI_NET_LWIP_SRC", str(tmp_path / "lwip"))
    assert setup.find_lwip_src() == fake
    monkeypatch.setenv("CI_NET_LWIP_SRC", str(tmp_path / "nothing"))
    monkeypatch.setenv("CI_CACHE_DIR", str(tmp_path / "cache"))
    assert setup.find_lwip_src() is None
    assert "lwIP 2.1 sources" in setup.missing()
    with pytest.raises(setup.SetupError) as exc:
        setup.ensure(install=False)
    assert "apt-get source lwip" in str(exc.value) and "libdpdk-dev" in str(exc.value)
