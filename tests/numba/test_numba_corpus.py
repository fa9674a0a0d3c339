"""Instrumented code computes exactly what plain ``numba.njit`` computes, over a corpus of varied
functions (arrays, dicts, strings, generators, recursion, exceptions, parallel loops)."""

from __future__ import annotations

import math
import types

import pytest

numba = pytest.importorskip("numba", reason="numba is not installed (pip install numba)")
np = pytest.importorskip("numpy")

from compiler_interrupts.integrations.numba.codegen import (  # noqa: E402
    CIInstrumentationWarning,
)
from compiler_interrupts.numba import njit  # noqa: E402

from numba_corpus import CORPUS  # noqa: E402


def _build(fn, helpers, decorator, options):
    g = dict(fn.__globals__)
    for name in helpers:
        h = fn.__globals__[name]
        g[name] = decorator(**options)(types.FunctionType(h.__code__, g, name))
    f = types.FunctionType(fn.__code__, g, fn.__name__, fn.__defaults__, fn.__closure__)
    if fn.__name__ in fn.__code__.co_names:  # self-recursive: refer to the jitted one
        g[fn.__name__] = decorator(**options)(f)
        return g[fn.__name__]
    return decorator(**options)(f)


def _same(a, b) -> bool:
    if isinstance(a, np.ndarray) or isinstance(b, np.ndarray):
        a, b = np.asarray(a), np.asarray(b)
        return a.dtype == b.dtype and a.shape == b.shape and bool(
            np.array_equal(a, b, equal_nan=a.dtype.kind in "fc"))
    if isinstance(a, (tuple, list)):
        return type(a) is type(b) and len(a) == len(b) and all(map(_same, a, b))
    if isinstance(a, float) and isinstance(b, float) and math.isnan(a):
        return math.isnan(b)
    return type(a) is type(b) and a == b


def _run(f, args):
    try:
        return "ok", f(*args)
    except Exception as e:  # compare exceptions too
        return "raised", (type(e), str(e))


def test_corpus_is_large_enough():
    assert len(CORPUS) >= 40


@pytest.mark.filterwarnings("error::compiler_interrupts.integrations.numba.codegen."
                            "CIInstrumentationWarning")
@pytest.mark.parametrize("name,fn,args,options,helpers", CORPUS, ids=[c[0] for c in CORPUS])
def test_same_results_as_plain_numba(name, fn, args, options, helpers):
    plain = _build(fn, helpers, numba.njit, options)
    ci = _build(fn, helpers, njit, options)
    expected = _run(plain, args())
    compile_error = expected[0] == "raised" and issubclass(expected[1][0],
                                                           numba.core.errors.NumbaError)
    assert not compile_error, f"{name} does not compile with plain numba: {expected[1][1][:500]}"
    got = _run(ci, args())
    assert expected[0] == got[0], (expected, got)
    assert _same(expected[1], got[1]), (expected, got)
    # and again (cached dispatch, state left by the first call)
    assert _same(_run(ci, args())[1], expected[1])
    assert CIInstrumentationWarning  # imported for the filter above
