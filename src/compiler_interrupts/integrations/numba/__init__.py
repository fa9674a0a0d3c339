"""Compiler interrupts for Numba: interruptible, cancellable, observable ``@njit`` code.

``from compiler_interrupts.numba import njit`` is a drop-in for ``numba.njit``; see README.md in
this directory.
"""

from .compiler import Cancelled, CIDispatcher, jit, make_pipeline_class, njit
from .control import (
    CancelToken,
    allow_threads,
    ProgressInfo,
    Stats,
    deadline,
    get_interval,
    interrupt_handler,
    progress,
    set_interval,
    stats,
)

__all__ = [
    "njit",
    "jit",
    "deadline",
    "CancelToken",
    "Cancelled",
    "progress",
    "ProgressInfo",
    "interrupt_handler",
    "allow_threads",
    "set_interval",
    "get_interval",
    "stats",
    "Stats",
    "CIDispatcher",
    "make_pipeline_class",
]
