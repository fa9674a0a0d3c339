"""``signal``: the timer-interrupt baseline. No probes at all; the driver links the runtime
variant in which ``register_ci`` arms a per-thread POSIX timer (``timer_create`` with
``SIGEV_THREAD_ID``) and the signal handler calls the user's handler. Same API, same handler:
the like-for-like comparison with hardware/timer interrupts."""

from __future__ import annotations

from ..ir.model import Function, Module
from .base import Design, Stats


class SignalDesign(Design):
    name = "signal"
    inserts_probes = False

    def instrument(self, module: Module, fn: Function, stats: Stats) -> None:
        return None
