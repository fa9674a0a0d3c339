"""A corpus of varied Numba functions: plain Python source, compiled by both decorators.

Each entry: ``(name, function, args_factory, options)``; ``args_factory()`` builds fresh
arguments (functions may mutate arrays). ``helpers`` of a function are plain functions that the
test jits with the same decorator and injects into its globals under the same name.
"""

from __future__ import annotations

import math
from collections import namedtuple

import numba
import numpy as np
from numba.typed import List

CORPUS = []


def case(*args_factory, helpers=(), parallel=False, **options):
    def deco(fn):
        if parallel:
            options["parallel"] = True
        CORPUS.append((fn.__name__, fn, args_factory[0] if args_factory else (lambda: ()),
                       dict(options), tuple(helpers)))
        return fn

    return deco


def _rng():
    return np.random.default_rng(1234)


# ------------------------------------------------------------------------------ scalars & loops


@case(lambda: (100_000,))
def int_loop(n):
    s = 0
    for i in range(n):
        s += (i * i) % 7
    return s


@case(lambda: (5000,))
def while_break_continue(n):
    i = 0
    acc = 0
    while True:
        i += 1
        if i % 3 == 0:
            continue
        if i > n:
            break
        acc += i
    return acc


@case(lambda: (2**62, 12345))
def int_overflow_wraps(a, b):
    x = a
    for _ in range(10):
        x = x * 3 + b
    return x


@case(lambda: (1.5, 40))
def float_series(x, n):
    s = 0.0
    for k in range(1, n):
        s += math.sin(k * x) / k + math.exp(-k) * math.log1p(k)
    return s


@case(lambda: (complex(0.3, 0.4), 50))
def complex_iter(z, n):
    c = z
    for _ in range(n):
        z = z * z * 0.5 + c
    return z


@case(lambda: (0.0,))
def float_special_values(x):
    a = math.inf - math.inf
    b = 1e308 * 10
    return (a != a, b, -b, x / 1.0, math.copysign(0.0, -1.0))


@case(lambda: (27,))
def collatz_steps(n):
    c = 0
    while n != 1:
        n = n // 2 if n % 2 == 0 else 3 * n + 1
        c += 1
    return c


@case(lambda: (10_000,))
def nested_loops_early_exit(n):
    found = -1
    for i in range(2, n):
        for j in range(2, i):
            if i * j == 9991:
                found = i
                break
        if found > 0:
            break
    return found


# ------------------------------------------------------------------------------ recursion


@case(lambda: (22,))
def fib_rec(n):
    if n < 2:
        return n
    return fib_rec(n - 1) + fib_rec(n - 2)


@case(lambda: (2, 3))
def ackermann(m, n):
    if m == 0:
        return n + 1
    if n == 0:
        return ackermann(m - 1, 1)
    return ackermann(m - 1, ackermann(m, n - 1))


def _is_even(n):
    if n == 0:
        return True
    return _is_odd(n - 1)


def _is_odd(n):
    if n == 0:
        return False
    return _is_even(n - 1)


@case(lambda: (57,), helpers=("_is_even", "_is_odd"))
def mutual_recursion(n):
    return _is_even(n), _is_odd(n)


def _qsort(a, lo, hi):
    if lo >= hi:
        return
    p = a[(lo + hi) // 2]
    i, j = lo, hi
    while i <= j:
        while a[i] < p:
            i += 1
        while a[j] > p:
            j -= 1
        if i <= j:
            a[i], a[j] = a[j], a[i]
            i += 1
            j -= 1
    _qsort(a, lo, j)
    _qsort(a, i, hi)


@case(lambda: (_rng().random(5000),), helpers=("_qsort",))
def quicksort_recursive(a):
    _qsort(a, 0, a.shape[0] - 1)
    return a


# ------------------------------------------------------------------------------ arrays


@case(lambda: (_rng().random(1000),))
def array_sum_loop(a):
    s = 0.0
    for i in range(a.shape[0]):
        s += a[i]
    return s


@case(lambda: (_rng().random((40, 30)), _rng().random((30, 20))))
def matmul_loops(a, b):
    c = np.zeros((a.shape[0], b.shape[1]))
    for i in range(a.shape[0]):
        for k in range(a.shape[1]):
            for j in range(b.shape[1]):
                c[i, j] += a[i, k] * b[k, j]
    return c


@case(lambda: (_rng().random(2000),))
def numpy_reductions(a):
    return a.sum(), a.mean(), a.std(), a.min(), a.argmax(), np.median(a)


@case(lambda: (_rng().random(3000),))
def sort_argsort_cumsum(a):
    b = np.sort(a)
    idx = np.argsort(a)
    return b, idx, np.cumsum(a), np.diff(b)


@case(lambda: (_rng().random((50, 60)),))
def slicing_and_broadcast(a):
    b = a[::2, 1::3] * 2.0 + a[:25, :20].sum()
    c = a - a.sum(axis=0) / a.shape[0]
    return b, c[3:7], a[:, 2][a[:, 2] > 0.5].sum(), a.T[1:3].copy()


@case(lambda: (_rng().integers(0, 100, 5000),))
def fancy_indexing_and_where(x):
    idx = np.nonzero(x > 90)[0]
    y = np.where(x % 2 == 0, x, -x)
    z = x[idx]
    z[::2] = 0
    return idx, y, z


@case(lambda: (_rng().integers(0, 1 << 20, 10000), 64))
def histogram_loop(data, bins):
    h = np.zeros(bins, dtype=np.int64)
    for v in data:
        h[v % bins] += 1
    return h


@case(lambda: (_rng().random((30, 30)), 20))
def jacobi_stencil(u, iters):
    a = u.copy()
    b = u.copy()
    for _ in range(iters):
        for i in range(1, a.shape[0] - 1):
            for j in range(1, a.shape[1] - 1):
                b[i, j] = 0.25 * (a[i - 1, j] + a[i + 1, j] + a[i, j - 1] + a[i, j + 1])
        a, b = b, a
    return a


@case(lambda: (200, 150, 80))
def mandelbrot(w, h, iters):
    out = np.zeros((h, w), dtype=np.int32)
    for y in range(h):
        for x in range(w):
            c = complex(-2.0 + 3.0 * x / w, -1.5 + 3.0 * y / h)
            z = 0j
            n = 0
            while n < iters and abs(z) < 2.0:
                z = z * z + c
                n += 1
            out[y, x] = n
    return out


@case(lambda: (100_000,))
def sieve(n):
    flags = np.ones(n + 1, dtype=np.bool_)
    flags[:2] = False
    for i in range(2, int(n ** 0.5) + 1):
        if flags[i]:
            flags[i * i::i] = False
    return np.nonzero(flags)[0]


@case(lambda: (_rng().random((8, 8)),))
def linalg_solve(a):
    m = a + 8 * np.eye(8)
    b = np.arange(8.0)
    return np.linalg.solve(m, b), np.dot(m, b), np.linalg.det(m)


@case(lambda: (10,))
def array_creation_and_reshape(n):
    a = np.arange(n * n).reshape(n, n)
    b = np.empty_like(a)
    b[:] = a.T
    return np.concatenate((a.ravel(), b.ravel())), np.zeros((2, 3)), np.full(4, 7.5)


@case(lambda: (np.arange(20, dtype=np.float32), np.arange(20, dtype=np.int16)))
def mixed_dtypes(a, b):
    return a * b, (a / (b + 1)).astype(np.float64), b.astype(np.uint8) >> 1


@case(lambda: (np.zeros(5, dtype=np.dtype([("x", np.int32), ("y", np.float64)])),))
def structured_array(r):
    for i in range(r.shape[0]):
        r[i].x = i * 2
        r[i].y = i / 2
    return r


@case(lambda: (12345,))
def random_seeded(seed):
    np.random.seed(seed)
    a = np.random.random(10)
    b = np.random.randint(0, 100, 10)
    return a, b, np.random.normal(0.0, 1.0)


# ------------------------------------------------------------------------------ containers


@case(lambda: (_rng().integers(0, 50, 2000),))
def dict_counting(keys):
    d = {0: 0}
    for k in keys:
        d[k] = d.get(k, 0) + 1
    out = 0
    for k, v in d.items():
        out += k * v
    return out, len(d)


@case(lambda: (300,))
def dict_str_keys(n):
    d = {"a": 1}
    for i in range(n):
        d[str(i % 17)] = d.get(str(i % 17), 0) + i
    tot = 0
    for v in d.values():
        tot += v
    return sorted(d.keys()), tot


@case(lambda: (200,))
def list_building(n):
    out = []
    for i in range(n):
        if i % 3:
            out.append(i * i)
    out.sort()
    return len(out), out[0], out[-1], sum(out)


@case(lambda: (500,))
def set_operations(n):
    s = set()
    for i in range(n):
        s.add(i % 37)
    t = {1, 2, 3, 100}
    return len(s), len(s & t), 100 in s


@case(lambda: (50,))
def typed_list_of_arrays(n):
    lst = List()
    for i in range(n):
        lst.append(np.full(3, i))
    tot = 0
    for a in lst:
        tot += a.sum()
    return tot


@case(lambda: ((1, 2.5, 3),))
def tuples(t):
    a, b, c = t
    u = (c, b, a)
    return u, t[1] * 2, len(t)


Point = namedtuple("Point", ["x", "y"])


@case(lambda: (Point(1.5, 2.5),))
def namedtuples(p):
    q = Point(p.y, p.x)
    return q.x + q.y, q


# ------------------------------------------------------------------------------ strings


@case(lambda: ("hello world, hello numba",))
def string_ops(s):
    words = s.split(" ")
    out = ""
    for w in words:
        out += w.upper()[::-1] + "-"
    return out, s.count("hello"), s.find("numba"), len(out)


@case(lambda: (200,))
def string_building(n):
    parts = []
    for i in range(n):
        parts.append(str(i))
    return ",".join(parts)[:50], "x" * 5, "abc" < "abd"


@case(lambda: ("ünïcødé ✓ text",))
def unicode_strings(s):
    return s.upper(), s[2:6], s.isalpha(), s.replace("✓", "ok")


# --------------------------------------------------------------------- generators & closures


def _gen_squares(n):
    for i in range(n):
        yield i * i


@case(lambda: (1000,), helpers=("_gen_squares",))
def generator_consumer(n):
    s = 0
    for v in _gen_squares(n):
        s += v % 11
    return s


@case(lambda: (100,))
def inner_closure(n):
    k = 3

    def add(x):
        return x + k

    s = 0
    for i in range(n):
        s += add(i)
    return s


def _apply(f, x):
    return f(x)


def _double(x):
    return 2 * x


@case(lambda: (21,), helpers=("_apply", "_double"))
def first_class_functions(x):
    return _apply(_double, x)


# ------------------------------------------------------------------------------ exceptions & misc


@case(lambda: (10,))
def raises_value_error(n):
    for i in range(n):
        if i == 7:
            raise ValueError("seven", i)
    return n


@case(lambda: (5,))
def try_except_in_jit(n):
    caught = 0
    for i in range(n):
        try:
            if i % 2:
                raise ValueError("odd")
        except Exception:
            caught += 1
    return caught


@case(lambda: (np.arange(10.0),), boundscheck=True)
def boundscheck_error(a):
    return a[20]


@case(lambda: (10.0, 0.0))
def zero_division(a, b):
    return a / b


@case(lambda: (3,))
def optional_return(n):
    if n > 5:
        return None
    return n * 2


@case(lambda: (100,))
def objmode_block(n):
    s = 0
    for i in range(n):
        s += i
    with numba.objmode(y="int64"):
        y = sum(range(10))
    return s + y


@case(lambda: (1000,), fastmath=True)
def fastmath_reduction(n):
    s = 0.0
    for i in range(n):
        s += math.sqrt(i)
    return s


@case(lambda: (1000,), nogil=True)
def nogil_function(n):
    s = 0
    for i in range(n):
        s ^= i * 2654435761
    return s


# ------------------------------------------------------------------------------ parallel


@case(lambda: (100_000,), parallel=True)
def prange_reduction(n):
    s = 0
    for i in numba.prange(n):
        s += i % 13
    return s


@case(lambda: (_rng().random((64, 64)),), parallel=True)
def prange_2d(a):
    out = np.empty_like(a)
    for i in numba.prange(a.shape[0]):
        for j in range(a.shape[1]):
            out[i, j] = math.sqrt(a[i, j]) + i
    return out


@case(lambda: (_rng().random(10000),), parallel=True)
def parallel_array_expressions(a):
    return (a * 2 + 1).sum(), np.sqrt(a).max()
