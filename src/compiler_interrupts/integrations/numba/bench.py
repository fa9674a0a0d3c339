"""Overhead of compiler interrupts on Numba kernels.

    python -m compiler_interrupts.integrations.numba.bench [--quick] [--intervals 5000,50000,500000]
                                                           [--rounds 9] [--json out.json]

Each kernel is compiled twice from the same Python source, with ``numba.njit`` (plain) and with
``compiler_interrupts.numba.njit`` (probes). In each of ``--rounds`` rounds, every instrumented
run (one per interval) is paired with a plain run made just before it; a kernel's overhead at an
interval is the median over rounds of ``t_ci / t_plain - 1`` (pairs cancel slow drifts of the
machine's load), and the table's times are medians. Times are the CPU time of the calling thread
(``time.thread_time``: the kernels are sequential), which keeps other processes competing for the
CPU out of the measurement; ``--wall`` uses wall-clock time. Results of the two builds are
compared for equality on every run.
"""

from __future__ import annotations

import argparse
import json
import math
import statistics
import sys
import time
from dataclasses import asdict, dataclass, field

import numpy as np

# ------------------------------------------------------------------------------------ kernels
# Plain Python functions; both builds compile these.


def k_sum(a, reps):
    """Reduction over an L1-resident array (with fastmath: vectorized, the worst case for
    probes: a few cycles per loop iteration)."""
    t = 0.0
    for _ in range(reps):
        s = 0.0
        for i in range(a.shape[0]):
            s += a[i]
        t += s
    return t


def k_saxpy(x, y, reps):
    for r in range(reps):
        for i in range(x.shape[0]):
            y[i] = 0.5 * x[i] + y[i]
    return y[0]


def k_matmul(a, b):
    n, m = a.shape
    p = b.shape[1]
    c = np.zeros((n, p))
    for i in range(n):
        for k in range(m):
            aik = a[i, k]
            for j in range(p):
                c[i, j] += aik * b[k, j]
    return c


def k_mandel(w, h, iters):
    out = np.zeros((h, w), dtype=np.int32)
    for y in range(h):
        for x in range(w):
            cr = -2.0 + 3.0 * x / w
            ci = -1.5 + 3.0 * y / h
            zr = 0.0
            zi = 0.0
            n = 0
            while n < iters and zr * zr + zi * zi < 4.0:
                zr, zi = zr * zr - zi * zi + cr, 2.0 * zr * zi + ci
                n += 1
            out[y, x] = n
    return out


def k_nbody(pos, steps):
    n = pos.shape[0]
    vel = np.zeros_like(pos)
    p = pos.copy()
    for _ in range(steps):
        for i in range(n):
            ax = 0.0
            ay = 0.0
            for j in range(n):
                dx = p[j, 0] - p[i, 0]
                dy = p[j, 1] - p[i, 1]
                d2 = dx * dx + dy * dy + 0.01
                inv = 1.0 / (d2 * math.sqrt(d2))
                ax += dx * inv
                ay += dy * inv
            vel[i, 0] += 0.001 * ax
            vel[i, 1] += 0.001 * ay
        for i in range(n):
            p[i, 0] += 0.001 * vel[i, 0]
            p[i, 1] += 0.001 * vel[i, 1]
    return p


def k_histogram(data, bins):
    h = np.zeros(bins, dtype=np.int64)
    for i in range(data.shape[0]):
        h[data[i] % bins] += 1
    return h


def k_sieve(n):
    flags = np.ones(n + 1, dtype=np.bool_)
    flags[0] = False
    flags[1] = False
    i = 2
    while i * i <= n:
        if flags[i]:
            for j in range(i * i, n + 1, i):
                flags[j] = False
        i += 1
    return flags.sum()


def k_jacobi(u, iters):
    n, m = u.shape
    a = u.copy()
    b = u.copy()
    for _ in range(iters):
        for i in range(1, n - 1):
            for j in range(1, m - 1):
                b[i, j] = 0.25 * (a[i - 1, j] + a[i + 1, j] + a[i, j - 1] + a[i, j + 1])
        a, b = b, a
    return a


def k_collatz(n):
    best = 0
    for s in range(1, n):
        x = s
        c = 0
        while x != 1:
            x = x // 2 if x % 2 == 0 else 3 * x + 1
            c += 1
        if c > best:
            best = c
    return best


def k_quicksort(a):
    b = a.copy()
    _qs(b, 0, b.shape[0] - 1)
    return b


def _qs(a, lo, hi):
    while lo < hi:
        p = a[(lo + hi) // 2]
        i = lo
        j = hi
        while i <= j:
            while a[i] < p:
                i += 1
            while a[j] > p:
                j -= 1
            if i <= j:
                a[i], a[j] = a[j], a[i]
                i += 1
                j -= 1
        if j - lo < hi - i:
            _qs(a, lo, j)
            lo = i
        else:
            _qs(a, i, hi)
            hi = j


def k_wordcount(tokens, vocab):
    d = {0: 0}
    for t in tokens:
        d[t] = d.get(t, 0) + 1
    best = 0
    for k in range(vocab):
        best = max(best, d.get(k, 0))
    return best


@dataclass
class Kernel:
    name: str
    fn: object
    args: tuple
    helpers: dict = field(default_factory=dict)
    """name -> Python function: jitted alongside (with the same decorator) and injected."""
    options: dict = field(default_factory=dict)
    """Options of both decorators (e.g. fastmath)."""


def kernels(quick: bool = False) -> list[Kernel]:
    rng = np.random.default_rng(0)
    s = 0.25 if quick else 1.0
    return [
        Kernel("sum (L1, in-order FP)", k_sum, (rng.random(2048), int(20000 * s))),
        Kernel("sum (L1, fastmath SIMD)", k_sum, (rng.random(2048), int(80000 * s)),
               options={"fastmath": True}),
        Kernel("saxpy", k_saxpy, (rng.random(4096), rng.random(4096), int(30000 * s))),
        Kernel("matmul (naive)", k_matmul, (rng.random((int(400 * s ** .34), 400)),
                                            rng.random((400, 400)))),
        Kernel("mandelbrot", k_mandel, (int(400 * s ** .5), int(300 * s ** .5), 200)),
        Kernel("nbody", k_nbody, (rng.random((300, 2)), int(30 * s))),
        Kernel("histogram", k_histogram, (rng.integers(0, 1 << 30, int(4_000_000 * s)), 251)),
        Kernel("sieve", k_sieve, (int(20_000_000 * s),)),
        Kernel("jacobi 2D", k_jacobi, (rng.random((300, 300)), int(400 * s))),
        Kernel("collatz", k_collatz, (int(300_000 * s),)),
        Kernel("quicksort (recursive)", k_quicksort, (rng.random(int(1_000_000 * s)),),
               helpers={"_qs": _qs}),
        Kernel("dict word count", k_wordcount,
               (rng.integers(0, 5000, int(1_000_000 * s)), 5000)),
    ]


def _compile(kernel: Kernel, decorator):
    """Compile ``kernel.fn`` (and its helpers) with ``decorator`` in a fresh namespace."""
    import types

    if kernel.options:
        decorator = decorator(**kernel.options)
    g = dict(kernel.fn.__globals__)
    for name, f in kernel.helpers.items():
        g[name] = decorator(types.FunctionType(f.__code__, g, name))
    fn = types.FunctionType(kernel.fn.__code__, g, kernel.fn.__name__)
    return decorator(fn)


def _same(a, b) -> bool:
    if isinstance(a, np.ndarray):
        return a.shape == b.shape and bool(np.array_equal(a, b, equal_nan=True))
    if isinstance(a, float):
        return a == b or (math.isnan(a) and math.isnan(b))
    return a == b


@dataclass
class KernelResult:
    name: str
    plain_s: float
    ci_s: dict
    overhead: dict
    compile_s: float
    same: bool


def run(intervals=(5_000, 50_000, 500_000), rounds: int = 9, quick: bool = False,
        only: list[str] | None = None, out=sys.stdout, wall: bool = False) -> dict:
    import numba

    from . import njit, set_interval
    from .control import get_interval

    clock = time.perf_counter if wall else time.thread_time
    default = get_interval()
    results: list[KernelResult] = []
    for k in kernels(quick):
        if only and not any(o.lower() in k.name.lower() for o in only):
            continue
        plain = _compile(k, numba.njit)
        t0 = time.perf_counter()
        ci = _compile(k, njit)
        # Every run sees its inputs at the same addresses (data alignment alone moves some of
        # these kernels by 20%): arrays are restored in place between runs.
        work = tuple(a.copy() if isinstance(a, np.ndarray) else a for a in k.args)

        def fresh():
            for w, a in zip(work, k.args):
                if isinstance(a, np.ndarray):
                    np.copyto(w, a)
            return work

        ref = plain(*fresh())
        ref = ref.copy() if isinstance(ref, np.ndarray) else ref
        got = ci(*fresh())
        compile_s = time.perf_counter() - t0
        same = _same(ref, got)
        times = {"plain": []}
        ratios = {iv: [] for iv in intervals}
        for iv in intervals:
            times[iv] = []
        for _ in range(rounds):
            for iv in intervals:
                # each instrumented run is paired with a plain run just before it
                set_interval(default)
                args = fresh()
                t = clock()
                plain(*args)
                tp = clock() - t
                times["plain"].append(tp)
                set_interval(iv)
                args = fresh()
                t = clock()
                r = ci(*args)
                tc = clock() - t
                times[iv].append(tc)
                ratios[iv].append(tc / tp)
                same = same and _same(ref, r)
            set_interval(default)
        tp = statistics.median(times["plain"])
        ci_s = {iv: statistics.median(times[iv]) for iv in intervals}
        ovh = {iv: statistics.median(ratios[iv]) - 1 for iv in intervals}
        res = KernelResult(k.name, tp, ci_s, ovh, compile_s, same)
        results.append(res)
        print(f"{k.name:24s} plain {tp * 1e3:8.2f} ms  " +
              "  ".join(f"@{iv}: {ovh[iv] * 100:+6.1f}%" for iv in intervals) +
              ("" if same else "  RESULTS DIFFER"), file=out, flush=True)
    medians = {iv: statistics.median(r.overhead[iv] for r in results) for iv in intervals}
    print("median overhead: " + "  ".join(f"@{iv}: {medians[iv] * 100:+.1f}%"
                                          for iv in intervals), file=out)
    return {"intervals": list(intervals), "default_interval": default, "rounds": rounds,
            "clock": "wall" if wall else "thread_time",
            "kernels": [asdict(r) for r in results], "median_overhead": medians}


def markdown(report: dict) -> str:
    ivs = report["intervals"]
    lines = ["| kernel | plain (ms) | " + " | ".join(f"interval {iv:,}" for iv in ivs) + " |",
             "|---|---:|" + "---:|" * len(ivs)]
    for r in report["kernels"]:
        lines.append(f"| {r['name']} | {r['plain_s'] * 1e3:.1f} | " +
                     " | ".join(f"{r['overhead'][iv] * 100:+.1f}%" for iv in ivs) + " |")
    lines.append("| **median** | | " + " | ".join(
        f"**{report['median_overhead'][iv] * 100:+.1f}%**" for iv in ivs) + " |")
    return "\n".join(lines)


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(prog="python -m compiler_interrupts.integrations.numba.bench",
                                 description=__doc__.split("\n\n")[0])
    ap.add_argument("--intervals", default="5000,50000,500000")
    ap.add_argument("--rounds", type=int, default=9)
    ap.add_argument("--quick", action="store_true", help="smaller inputs")
    ap.add_argument("--only", action="append", help="kernels whose name contains this")
    ap.add_argument("--json", help="write the results here")
    ap.add_argument("--wall", action="store_true", help="wall-clock instead of thread CPU time")
    ap.add_argument("--markdown", action="store_true", help="print a markdown table at the end")
    a = ap.parse_args(argv)
    ivs = tuple(int(x) for x in a.intervals.split(","))
    report = run(ivs, a.rounds, a.quick, a.only, wall=a.wall)
    if a.json:
        with open(a.json, "w") as f:
            json.dump(report, f, indent=2, default=str)
    if a.markdown:
        print(markdown(report))
    bad = [r["name"] for r in report["kernels"] if not r["same"]]
    if bad:
        print("results differ:", ", ".join(bad), file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
