"""The instrumentation pass over one module: parse -> skip-list -> design -> emit -> print."""

from __future__ import annotations

import re
from dataclasses import dataclass

from .designs import get_design
from .designs.base import Stats, skip_reason
from .diagnostics import Skipped
from .emit.probes import add_runtime_declarations, is_instrumented
from .ir.parser import parse_module


@dataclass(frozen=True)
class PassOptions:
    """Options of the pass itself (the driver and ``instrument`` fill them in)."""

    design: str = "naive"
    skip: str | None = None
    """Regular expression of function names (without ``@``) to leave alone."""


@dataclass
class PassResult:
    text: str
    stats: Stats
    already_instrumented: bool = False


def instrument_text(text: str, options: PassOptions = PassOptions(), filename: str = "<input>") -> PassResult:
    """Instrument a module given as LLVM 22 textual IR; returns the new text and statistics."""
    design = get_design(options.design)
    module = parse_module(text, filename)
    stats = Stats()
    if is_instrumented(module):
        return PassResult(text, stats, already_instrumented=True)
    skip_re = re.compile(options.skip) if options.skip else None
    for fn in module.functions:
        stats.functions += 1
        reason = skip_reason(module, fn, skip_re)
        if reason is not None:
            stats.skipped.append(Skipped(fn.name, reason))
            continue
        if not design.inserts_probes:
            continue
        design.instrument(module, fn, stats)
        stats.instrumented += 1
    if design.inserts_probes and stats.probes:
        add_runtime_declarations(module)
    return PassResult(module.render(), stats)
