"""Probe emission: the IR text that designs insert, and the runtime declarations it needs.

A probe is a call to a small internal ``alwaysinline`` function, ``@__ci_probe(i64 cost)``, that
the post-pass inlines: ``budget -= cost; if (budget < 0) __ci_slow_path(cost)``. Letting LLVM's
inliner expand it keeps the pass simple (a probe is one instruction; LLVM splits the block and
fixes PHIs) and makes probes easy to find in the pass output (the ``@__ci_probe`` calls are the
tags that make the pass idempotent).
"""

from __future__ import annotations

import re

from ..ir.model import Instr, Module
from . import abi

#: Name of the internal probe function defined in every instrumented module.
PROBE_FN = "@__ci_probe"
#: Probe on a function-local copy of the budget (register mode of the ``ci`` design).
PROBE_LOCAL_FN = "@__ci_probe_local"
#: Copy the local budget to the thread's budget (before calls and returns).
FLUSH_FN = "@__ci_flush"
#: Copy the thread's budget into the local one (at entry and after calls).
RELOAD_FN = "@__ci_reload"
#: Name of the function-local budget slot.
LOCAL = "%ci.local"


def probe_call(cost: int | str) -> Instr:
    """A probe charging ``cost`` IR instructions (a constant, or an ``i64`` value's name)."""
    return Instr(f"  call void {PROBE_FN}(i64 {cost})")


def probe_local_call(cost: int | str) -> Instr:
    """A probe on the function's local budget copy."""
    return Instr(f"  call void {PROBE_LOCAL_FN}(ptr {LOCAL}, i64 {cost})")


def flush_call() -> Instr:
    return Instr(f"  call void {FLUSH_FN}(ptr {LOCAL})")


def reload_call() -> Instr:
    return Instr(f"  call void {RELOAD_FN}(ptr {LOCAL})")


def local_alloca() -> Instr:
    return Instr(f"  {LOCAL} = alloca i64, align 8")


def is_probe(ins: Instr) -> bool:
    return ins.opcode == "call" and ins.callee in (PROBE_FN, PROBE_LOCAL_FN)


def is_instrumented(module: Module) -> bool:
    """True if the module already carries our probes or runtime references."""
    return (module.mentions(PROBE_FN) or module.mentions("@" + abi.SLOW_PATH)
            or module.mentions("@" + abi.SLOW_PATH_PRESERVE))


def runtime_declarations(tls_model: str = "initialexec", preserve_all: bool = True) -> str:
    """Top-level IR that defines the probe and declares the runtime symbols it uses.
    ``tls_model``: ``initialexec`` (any object) or ``localexec`` (objects that will be linked
    into an executable together with the runtime: the budget is then one ``%fs:`` offset).
    ``preserve_all``: call the slow path with the preserve_all convention (no spills around
    probes). Only for SSE code: the runtime saves XMM registers, not the upper halves of YMM/ZMM
    ones that AVX code keeps live (and a handler compiled for AVX may clobber)."""
    budget = "@" + abi.BUDGET
    slow = ("preserve_allcc void @" + abi.SLOW_PATH_PRESERVE) if preserve_all \
        else ("void @" + abi.SLOW_PATH)
    # Executable code (local-exec) is linked with the static runtime: the slow path is a direct
    # call. Elsewhere it is called through the GOT (nonlazybind): never through a lazy PLT
    # stub, whose resolver does not preserve what preserve_all callers keep in registers; and
    # a direct call keeps the backend from hoisting the callee's address into a register.
    linkage = "dso_local " if tls_model == "localexec" else ""
    attrs = "cold nounwind" if tls_model == "localexec" else "cold nounwind nonlazybind"
    return f"""
{budget} = external thread_local({tls_model}) global i64, align 8

declare {linkage}{slow}(i64) {attrs}

define internal void {PROBE_FN}(i64 %cost) alwaysinline nounwind {{
  %budget = load i64, ptr {budget}, align 8
  %left = sub i64 %budget, %cost
  store i64 %left, ptr {budget}, align 8
  %due = icmp slt i64 %left, 0
  br i1 %due, label %slow, label %done

slow:
  call {slow}(i64 %cost)
  br label %done

done:
  ret void
}}

define internal void {PROBE_LOCAL_FN}(ptr %local, i64 %cost) alwaysinline nounwind {{
  %budget = load i64, ptr %local, align 8
  %left = sub i64 %budget, %cost
  store i64 %left, ptr %local, align 8
  %due = icmp slt i64 %left, 0
  br i1 %due, label %slow, label %done

slow:
  store i64 %left, ptr {budget}, align 8
  call {slow}(i64 %cost)
  %fresh = load i64, ptr {budget}, align 8
  store i64 %fresh, ptr %local, align 8
  br label %done

done:
  ret void
}}

define internal void {FLUSH_FN}(ptr %local) alwaysinline nounwind {{
  %v = load i64, ptr %local, align 8
  store i64 %v, ptr {budget}, align 8
  ret void
}}

define internal void {RELOAD_FN}(ptr %local) alwaysinline nounwind {{
  %v = load i64, ptr {budget}, align 8
  store i64 %v, ptr %local, align 8
  ret void
}}"""


def uses_wide_vectors(module: Module) -> bool:
    """True if some function may use AVX (YMM/ZMM) registers."""
    return any(re.search(r"[\",]\+avx", text) for text in module.attribute_groups.values()) or any(
        '"target-features"' in f.header and "+avx" in f.header for f in module.functions)


def add_runtime_declarations(module: Module, tls_model: str = "initialexec") -> None:
    """Append the probe definition and runtime declarations to ``module`` (once)."""
    if module.mentions(PROBE_FN):
        return
    module.append_toplevel(runtime_declarations(tls_model, not uses_wide_vectors(module)))
