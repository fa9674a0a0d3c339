"""``parallel=True`` (workers stop early when the launching thread will raise) and ``cache=True``
(instrumented and plain code never confused; the CI configuration is part of the key)."""

from __future__ import annotations

import os
import subprocess
import sys
import time

import pytest

numba = pytest.importorskip("numba", reason="numba is not installed (pip install numba)")
np = pytest.importorskip("numpy")

from compiler_interrupts.numba import CancelToken, Cancelled, deadline, njit  # noqa: E402


def _pspin(n, m):
    out = np.zeros(n)
    for j in numba.prange(n):
        s = 0
        for i in range(m):
            s = (s * 31 + i) % 1000003
        out[j] = s
    return out


pspin = njit(parallel=True)(_pspin)
plain_pspin = numba.njit(parallel=True)(_pspin)
FOREVER = 10**15


def test_parallel_results_unchanged():
    assert np.array_equal(pspin(16, 10_000), plain_pspin(16, 10_000))


def test_parallel_deadline():
    pspin(2, 10)
    t0 = time.perf_counter()
    with pytest.raises(TimeoutError):
        with deadline(0.2):
            pspin(8, FOREVER)
    assert time.perf_counter() - t0 < 3
    # the workers are back to normal
    assert np.array_equal(pspin(16, 1000), plain_pspin(16, 1000))


def test_parallel_ctrl_c(sigint_timer):
    pspin(2, 10)
    fires = sigint_timer.arm(0.2)
    with pytest.raises(KeyboardInterrupt):
        pspin(8, FOREVER)
    assert time.perf_counter() - fires < 3
    assert np.array_equal(pspin(16, 1000), plain_pspin(16, 1000))


def test_parallel_cancel():
    pspin(2, 10)
    tok = CancelToken()
    tok.cancel()
    with pytest.raises(Cancelled):
        with tok:
            pspin(8, FOREVER)


_CACHE_MOD = """
import numba
from compiler_interrupts.numba import njit
def spin(n):
    s = 0
    for i in range(n):
        s = (s * 31 + i) % 1000003
    return s
ci_spin = njit(cache=True)(spin)
ci_spin_iv = njit(cache=True, interval=1000)(spin)
plain_spin = numba.njit(cache=True)(spin)
"""

_CACHE_RUN = """
import sys, json
sys.path.insert(0, sys.argv[1])
import cimod
from compiler_interrupts.numba import deadline
r = [cimod.ci_spin(1000), cimod.plain_spin(1000), cimod.ci_spin_iv(1000)]
hits = [sum(d._cache_hits.values()) for d in (cimod.ci_spin, cimod.plain_spin, cimod.ci_spin_iv)]
interrupted = False
try:
    with deadline(0.05):
        cimod.ci_spin(10**15)
except TimeoutError:
    interrupted = True
with deadline(0.0):
    plain_ok = cimod.plain_spin(100_000)  # plain code never looks at deadlines
print(json.dumps({"r": r, "hits": hits, "interrupted": interrupted, "plain": plain_ok}))
"""


def test_cache_true(tmp_path):
    (tmp_path / "cimod.py").write_text(_CACHE_MOD)
    script = tmp_path / "run.py"
    script.write_text(_CACHE_RUN)
    env = dict(os.environ)
    env.pop("NUMBA_CACHE_DIR", None)

    def run():
        r = subprocess.run([sys.executable, str(script), str(tmp_path)], capture_output=True,
                           text=True, env=env, timeout=300)
        assert r.returncode == 0, r.stderr
        import json

        return json.loads(r.stdout.strip().splitlines()[-1])

    first = run()
    assert first["hits"] == [0, 0, 0]
    assert first["interrupted"]
    cached = sorted(p.name for p in (tmp_path / "__pycache__").iterdir())
    ci_index = [p for p in cached if p.startswith("ci-") and p.endswith(".nbi")]
    plain_index = [p for p in cached if not p.startswith("ci-") and p.endswith(".nbi")]
    assert ci_index and plain_index, cached
    # two CI configurations (default interval, interval=1000): two entries in the CI index
    assert len([p for p in cached if p.startswith("ci-") and p.endswith(".nbc")]) == 2
    second = run()
    assert second["hits"] == [1, 1, 1]  # everything came from the cache...
    assert second["interrupted"]        # ...and the cached instrumented code is interruptible
    assert second["r"] == first["r"]
    assert second["plain"] == first["plain"]


def test_cache_key_contains_configuration():
    from compiler_interrupts.numba import CIDispatcher

    def f(n):
        return n + 1

    a, b, c = njit(f), njit(interval=1000)(f), njit(bound=50)(f)
    assert isinstance(a, CIDispatcher)
    keys = {a.ci_cache_key(), b.ci_cache_key(), c.ci_cache_key()}
    assert len(keys) == 3
    assert njit(f).ci_cache_key() == a.ci_cache_key()  # stable
