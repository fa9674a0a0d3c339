"""The kernel benchmark runs and its instrumented kernels compute the plain results."""

from __future__ import annotations

import io

import pytest

pytest.importorskip("numba", reason="numba is not installed (pip install numba)")

from compiler_interrupts.integrations.numba import bench  # noqa: E402


def test_at_least_eight_kernels():
    assert len(bench.kernels(quick=True)) >= 8


def test_bench_smoke():
    out = io.StringIO()
    rep = bench.run(intervals=(5000, 50000, 500000), rounds=1, quick=True,
                    only=["mandelbrot", "quicksort"], out=out)
    assert [k["name"] for k in rep["kernels"]] == ["mandelbrot", "quicksort (recursive)"]
    assert all(k["same"] for k in rep["kernels"])
    assert set(rep["median_overhead"]) == {5000, 50000, 500000}
    assert "median overhead" in out.getvalue()
    assert "| **median** |" in bench.markdown(rep)
