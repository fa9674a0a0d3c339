"""The instrumentation pass over one module: parse -> skip-list -> design -> emit -> print."""

from __future__ import annotations

import re
from dataclasses import dataclass

from .designs import get_design
from .designs.base import Stats, skip_reason
from .diagnostics import CIError, Skipped
from .emit.probes import add_runtime_declarations, is_instrumented
from .ir.parser import parse_module


@dataclass(frozen=True)
class PassOptions:
    """Options of the pass itself (the driver and ``instrument`` fill them in)."""

    design: str = "naive"
    skip: str | None = None
    """Regular expression of function names (without ``@``) to leave alone."""
    opt_level: int = 2
    """The optimisation level the module was built at (``-O0`` keeps budgets in memory)."""
    bound: int | None = None
    """The design's probe-free cost bound ``C`` (designs that have one)."""
    single_probe: bool = True
    """``ci`` design: one entry probe for small acyclic functions. The Numba integration turns
    it off: with it, an interrupt raised in a recursive jitted function was not propagated
    (tests/numba: recursion and try/except); the cause is not yet understood."""
    cost_file: str | None = None
    """A file overriding external-call cost estimates (``name cost`` per line)."""
    register: bool = True
    """Let the ``ci`` design keep the budget in a register within functions."""
    tls_model: str = "initialexec"
    """TLS model of the budget: ``initialexec``, or ``localexec`` for code that ends up in an
    executable linked with the static runtime."""
    emit_runtime_interface: bool = True
    """Append the probe helpers (``@__ci_probe`` ...) and runtime declarations. Integrations
    that provide their own definitions of the helpers (e.g. a JIT without TLS) turn it off."""


@dataclass
class PassResult:
    text: str
    stats: Stats
    already_instrumented: bool = False


def _design_options(options: PassOptions) -> dict:
    if options.design != "ci":
        return {}
    from .cost.tables import load_cost_file
    from .designs.ci import DEFAULT_BOUND, CIOptions

    bound = DEFAULT_BOUND if options.bound is None else options.bound
    if bound < 1:
        raise CIError(f"the bound must be a positive number of IR instructions, not {bound}")
    table = None
    if options.cost_file is not None:
        try:
            table = load_cost_file(options.cost_file)
        except (OSError, ValueError) as exc:
            raise CIError(f"cannot use cost file: {exc}") from None
    return {"options": CIOptions(bound=bound, cost_table=table, register=options.register,
                                 single_probe=options.single_probe)}


def instrument_text(text: str, options: PassOptions = PassOptions(), filename: str = "<input>") -> PassResult:
    """Instrument a module given as LLVM 22 textual IR; returns the new text and statistics."""
    design = get_design(options.design, **_design_options(options))
    module = parse_module(text, filename)
    stats = Stats()
    if is_instrumented(module):
        return PassResult(text, stats, already_instrumented=True)
    skip_re = re.compile(options.skip) if options.skip else None
    todo = []
    for fn in module.functions:
        stats.functions += 1
        reason = skip_reason(module, fn, skip_re)
        if reason is not None:
            stats.skipped.append(Skipped(fn.name, reason))
            continue
        todo.append(fn)
    if design.inserts_probes:
        design.begin_module(module, todo, stats, options.opt_level)
        for fn in design.order(todo):
            design.instrument(module, fn, stats)
            stats.instrumented += 1
    if design.inserts_probes and stats.probes and options.emit_runtime_interface:
        add_runtime_declarations(module, options.tls_model)
    return PassResult(module.render(), stats)
