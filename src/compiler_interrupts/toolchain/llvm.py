"""llvmlite glue: bitcode -> canonical text, verification, the post-pass, and code generation."""

from __future__ import annotations

import re
import threading
from dataclasses import dataclass
from typing import Literal

from ..diagnostics import CIError

_init_lock = threading.Lock()
_initialized = False


def _llvm():
    """Import and initialise llvmlite once; explain how to install it when missing."""
    global _initialized
    try:
        import llvmlite.binding as llvm
    except ImportError as exc:  # pragma: no cover - depends on the environment
        raise CIError(
            "llvmlite is not installed: run 'pip install llvmlite' (LLVM 22 is bundled in the wheel)"
        ) from exc
    with _init_lock:
        if not _initialized:
            llvm.initialize_native_target()
            llvm.initialize_native_asmprinter()
            llvm.initialize_native_asmparser()
            _initialized = True
    return llvm


class LLVMError(CIError):
    """LLVM rejected a module (parse or verifier error)."""


def bitcode_to_text(bitcode: bytes) -> str:
    """Parse bitcode (any LLVM version LLVM 22 can read) and print it as LLVM 22 text."""
    llvm = _llvm()
    try:
        mod = llvm.parse_bitcode(bitcode)
    except RuntimeError as exc:
        raise LLVMError(f"cannot read bitcode: {exc}") from None
    return str(mod)


def canonicalize(text: str) -> str:
    """Parse textual IR and print it back as LLVM 22 prints it."""
    return str(parse_ir(text))


_FEATURE_RENAMES = (
    # Feature names older clangs write that LLVM 22 no longer knows (it warns once per
    # function and ignores them): AVX10 lost its vector-width suffixes.
    (re.compile(r",?\+avx10\.(\d+)-256"), ""),
    (re.compile(r"\+avx10\.(\d+)-512"), r"+avx10.\1"),
    (re.compile(r",?[+-]evex512"), ""),
)


def _modernize_features(text: str) -> str:
    if '"target-features"' not in text:
        return text
    for pat, repl in _FEATURE_RENAMES:
        text = pat.sub(repl, text)
    return text


def parse_ir(text: str):
    """Parse and verify textual IR; raises :class:`LLVMError` with LLVM's message."""
    llvm = _llvm()
    text = _modernize_features(text)
    try:
        mod = llvm.parse_assembly(text)
        mod.verify()
    except RuntimeError as exc:
        raise LLVMError(str(exc).strip()) from None
    return mod


@dataclass(frozen=True)
class CodegenOptions:
    opt_level: int = 2
    """0..3; also selects the post-pass (none at -O0)."""
    pic: bool | None = None
    """Force position-independent code; None: follow the module's "PIC Level" flag."""


_CPU_RE = re.compile(r'"target-cpu"="([^"]*)"')


def _target_machine(mod, opts: CodegenOptions, text: str):
    llvm = _llvm()
    triple = mod.triple or llvm.get_process_triple()
    target = llvm.Target.from_triple(triple)
    m = _CPU_RE.search(text)
    cpu = m.group(1) if m else ""
    pic = opts.pic if opts.pic is not None else ('"PIC Level"' in text or '"PIE Level"' in text)
    return target.create_target_machine(
        cpu=cpu,
        features="",
        opt=min(max(opts.opt_level, 0), 3),
        reloc="pic" if pic else "static",
        codemodel="default",
    )


def post_pass(mod, tm, opt_level: int) -> None:
    """Inline the probes and clean up around them. Runs for every design (``none`` included) so
    that overhead comparisons see the same pipeline."""
    llvm = _llvm()
    pto = llvm.create_pipeline_tuning_options(speed_level=max(opt_level, 0))
    pb = llvm.create_pass_builder(tm, pto)
    mpm = llvm.create_new_module_pass_manager()
    mpm.add_always_inliner_pass()
    if opt_level > 0:
        mpm.add_sroa_pass()
        mpm.add_instruction_combine_pass()
        mpm.add_simplify_cfg_pass()
    mpm.add_verifier()
    mpm.run(mod, pb)


Emit = Literal["obj", "asm", "bc", "ll"]


def compile_ir(text: str, emit: Emit, opts: CodegenOptions = CodegenOptions()) -> bytes:
    """Verify, run the post-pass and emit an object file, assembly, bitcode or text IR."""
    mod = parse_ir(text)
    tm = _target_machine(mod, opts, text)
    post_pass(mod, tm, opts.opt_level)
    if emit == "obj":
        return tm.emit_object(mod)
    if emit == "asm":
        return tm.emit_assembly(mod).encode()
    if emit == "bc":
        return mod.as_bitcode()
    return str(mod).encode()
