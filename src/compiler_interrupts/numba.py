"""``from compiler_interrupts.numba import njit``: Numba with compiler interrupts.

A thin re-export of :mod:`compiler_interrupts.integrations.numba` (needs ``numba``)."""

from .integrations.numba import *  # noqa: F401,F403
from .integrations.numba import __all__  # noqa: F401
