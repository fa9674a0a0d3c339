"""Cost data only: which opcodes and intrinsics generate no machine code."""

from __future__ import annotations

#: Opcodes that cost nothing (``;`` is a comment line kept inside a body).
FREE_OPCODES = frozenset({"phi", ";"})

#: Intrinsic name prefixes (without ``@``) that generate no code.
FREE_INTRINSIC_PREFIXES = (
    "llvm.dbg.",
    "llvm.lifetime.",
    "llvm.assume",
    "llvm.experimental.noalias.scope.decl",
    "llvm.invariant.start",
    "llvm.invariant.end",
    "llvm.launder.invariant.group",
    "llvm.strip.invariant.group",
    "llvm.sideeffect",
    "llvm.pseudoprobe",
    "llvm.var.annotation",
    "llvm.ptr.annotation",
    "llvm.annotation",
    "llvm.codeview.annotation",
    "llvm.donothing",
    "llvm.type.test",
    "llvm.public.type.test",
    "llvm.threadlocal.address",
)
