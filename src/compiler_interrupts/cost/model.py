"""The IR cost model: what each instruction adds to the thread's instruction count.

Every IR instruction costs 1, except those that generate no code: PHIs (they become copies
that register allocation mostly removes), debug records and debug intrinsics, lifetime markers
and the other no-code intrinsics listed in :mod:`compiler_interrupts.cost.tables`. Debug
information therefore never changes the counts (``-g`` builds fire at the same points).
"""

from __future__ import annotations

from ..ir.model import Block, Instr
from .tables import FREE_INTRINSIC_PREFIXES, FREE_OPCODES


def instr_cost(ins: Instr) -> int:
    """IR cost of one instruction: 0 or 1."""
    op = ins.opcode
    if op in FREE_OPCODES or ins.is_debug_record:
        return 0
    if op == "call":
        callee = ins.callee
        if callee is not None and callee.startswith("@llvm."):
            name = callee[1:]
            for prefix in FREE_INTRINSIC_PREFIXES:
                if name.startswith(prefix):
                    return 0
    return 1


def block_cost(block: Block, upto: int | None = None) -> int:
    """Sum of :func:`instr_cost` over the block (or over its first ``upto`` instructions)."""
    instrs = block.instrs if upto is None else block.instrs[:upto]
    return sum(instr_cost(i) for i in instrs)
