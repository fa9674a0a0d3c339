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


_SIZE_RE = None


def _const_size_arg(ins: Instr) -> int | None:
    """The constant length argument of a memcpy-like call (its last ``i64 N`` argument)."""
    import re

    global _SIZE_RE
    if _SIZE_RE is None:
        _SIZE_RE = re.compile(r"i(?:32|64) (\d+)(?:, i1 (?:true|false))?\)")
    m = None
    for m in _SIZE_RE.finditer(ins.text):
        pass
    return int(m.group(1)) if m is not None else None


def external_call_cost(name: str, ins: Instr, table: dict[str, int | None] | None = None) -> int:
    """Estimated cost of a call to external function ``name`` (without ``@``)."""
    from .tables import DEFAULT_EXTERNAL_COST, EXTERNAL_COSTS

    tbl = EXTERNAL_COSTS if table is None else table
    if name.startswith("llvm.mem"):
        size = _const_size_arg(ins)
        return 4 + (size // 16 if size is not None else 16)
    if name in tbl:
        cost = tbl[name]
        if cost is None:
            size = _const_size_arg(ins)
            return 4 + (size // 16 if size is not None else 16)
        return cost
    return DEFAULT_EXTERNAL_COST
