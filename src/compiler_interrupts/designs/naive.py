"""``naive``: one probe per basic block, charging the whole block's cost.

Before each block's terminator, the probe subtracts the block's IR cost from the thread's budget.
Every path, every cycle and every call site therefore passes probes in proportion to the work
done: the simplest correct placement, and the upper bound on probe overhead that the optimized
designs are measured against (Basu et al., "Compiler Interrupts", PLDI 2021, section 4.1 uses
the same per-block scheme as its starting point).

Blocks ending in ``unreachable`` get no probe. In a block ending ``musttail call; ret`` the probe
goes before the call, which must stay immediately before the ``ret``.
"""

from __future__ import annotations

from ..cost.model import instr_cost
from ..emit.probes import probe_call
from ..ir.model import Block, Function, Module
from .base import Design, Stats


def probe_index(block: Block) -> int:
    """Where a probe at the end of ``block`` goes: before the terminator, or before a
    ``musttail`` call that precedes it."""
    idx = len(block.instrs) - 1
    while idx > 0 and not block.instrs[idx].is_terminator:
        idx -= 1
    j = idx - 1
    while j >= 0 and (block.instrs[j].is_debug_record or block.instrs[j].opcode == ";"):
        j -= 1
    if j >= 0 and block.instrs[j].is_musttail:
        return j
    return idx


class NaiveDesign(Design):
    name = "naive"

    def instrument(self, module: Module, fn: Function, stats: Stats) -> None:
        for block in fn.blocks:
            term = block.terminator
            if term is None or term.opcode == "unreachable":
                continue
            cost = sum(instr_cost(i) for i in block.instrs)
            block.instrs.insert(probe_index(block), probe_call(cost))
            stats.probes += 1
            stats.blocks += 1
        fn.mark_modified()
