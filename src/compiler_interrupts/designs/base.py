"""What every placement design shares: the function skip-list and per-module statistics."""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import ClassVar

from ..diagnostics import Skipped
from ..emit import abi
from ..ir.model import Function, Module


@dataclass
class Stats:
    """Counters a pass run reports (``--ci-stats``)."""

    functions: int = 0
    instrumented: int = 0
    probes: int = 0
    blocks: int = 0
    skipped: list[Skipped] = field(default_factory=list)
    extra: dict[str, int] = field(default_factory=dict)

    def bump(self, key: str, n: int = 1) -> None:
        self.extra[key] = self.extra.get(key, 0) + n

    def lines(self) -> list[str]:
        out = [
            f"functions={self.functions}",
            f"instrumented={self.instrumented}",
            f"skipped={len(self.skipped)}",
            f"blocks={self.blocks}",
            f"probes={self.probes}",
        ]
        out.extend(f"{k}={v}" for k, v in sorted(self.extra.items()))
        return out


def skip_reason(module: Module, fn: Function, skip_re: re.Pattern[str] | None = None) -> str | None:
    """Why ``fn`` must not be instrumented, or None. Reasons are shown to users."""
    name = fn.name.lstrip("@").strip('"')
    if name.startswith(abi.RUNTIME_PREFIXES):
        return "part of the compiler-interrupts runtime"
    if skip_re is not None and skip_re.fullmatch(name):
        return "matches --ci-skip"
    if "available_externally" in fn.header.split("@", 1)[0]:
        return "available_externally definition (no code is emitted for it)"
    attrs = module.function_attributes(fn)
    if re.search(r"(^|\s)naked(\s|$)", attrs):
        return "naked function (no prologue to place probes in)"
    if "disable_sanitizer_instrumentation" in attrs:
        return "marked disable_sanitizer_instrumentation"
    for b in fn.blocks:
        for ins in b.instrs:
            op = ins.opcode
            if op == "callbr":
                return "contains callbr (asm goto): its targets cannot be probed safely"
            if op in ("catchswitch", "catchpad", "cleanuppad"):
                return "uses funclet-based exception handling"
    return None


class Design:
    """A probe placement design. Subclasses set ``name`` and implement ``instrument``."""

    name: ClassVar[str]
    inserts_probes: ClassVar[bool] = True

    def begin_module(self, module: Module, functions: list[Function], stats: Stats,
                     opt_level: int = 2) -> None:
        """Module-wide analysis before any function is instrumented (``functions``: those that
        will be). The default does nothing."""

    def order(self, functions: list[Function]) -> list[Function]:
        """The order in which :meth:`instrument` sees the functions (default: module order)."""
        return functions

    def instrument(self, module: Module, fn: Function, stats: Stats) -> None:
        """Insert probes into ``fn`` (already known to be safe to instrument)."""
        raise NotImplementedError
