"""``from compiler_interrupts.numba import njit``: Numba with compiler interrupts.

A thin re-export of :mod:`compiler_interrupts.integrations.numba` (needs ``numba``)."""

try:
    from .integrations.numba import *  # noqa: F401,F403
    from .integrations.numba import __all__  # noqa: F401
except ImportError as e:  # pragma: no cover - depends on the environment
    if getattr(e, "name", None) in ("numba", "llvmlite", "numpy"):
        raise ImportError(
            f"compiler_interrupts.numba needs numba ({e}); install it with `pip install numba` "
            "or `pip install -e '.[numba]'`"
        ) from e
    raise
