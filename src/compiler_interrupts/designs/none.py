"""``none``: the same pipeline with no probes: the honest baseline for overhead figures."""

from __future__ import annotations

from ..ir.model import Function, Module
from .base import Design, Stats


class NoneDesign(Design):
    name = "none"
    inserts_probes = False

    def instrument(self, module: Module, fn: Function, stats: Stats) -> None:
        return None
