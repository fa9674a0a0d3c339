"""``ci-cc`` / ``ci-c++``: drop-in compiler drivers that build programs with compiler interrupts.

For each C/C++ (or LLVM IR) input: ``clang <user flags> -c -emit-llvm`` -> llvmlite text ->
the instrumentation pass -> llvmlite verify + post-pass + codegen -> the object (or assembly,
or bitcode) the user asked for. Assembly sources are compiled by clang untouched. Linking is
done by clang with the user's arguments in their order, plus the runtime. Invocations that
produce no code (``-E``, ``-M``, ``--version``, ``-###``, queries) are handed to clang unchanged.
"""

from __future__ import annotations

import os
import shlex
import stat
import sys
import tempfile
from dataclasses import dataclass
from pathlib import Path

from .. import designs
from ..diagnostics import CIError
from ..emit import abi
from ..pipeline import PassOptions, instrument_text
from . import clang as clangmod
from .invocation import Input, Invocation, parse_invocation
from .llvm import CodegenOptions, LLVMError, bitcode_to_text, canonicalize, compile_ir

PROG = "ci-cc"
MAX_DEPTH = 8


def _err(msg: str) -> None:
    print(f"{PROG}: error: {msg}", file=sys.stderr)


def _warn(msg: str) -> None:
    print(f"{PROG}: warning: {msg}", file=sys.stderr)


def header_dir() -> Path:
    """Directory holding ``ci_lib.h``."""
    return Path(__file__).resolve().parent.parent / "runtime"


@dataclass
class Context:
    inv: Invocation
    clang: str
    design: str
    verbose: bool
    stats: bool
    save_temps: bool
    skip: str | None
    bound: int | None = None
    check: bool = False

    def run(self, cmd: list[str]) -> int:
        return clangmod.run(cmd, verbose=self.verbose)


def _atomic_write(path: str, data: bytes) -> None:
    """Write an output the way a compiler does: ``-`` is standard output; a regular file (or a
    new one) is written through a temporary file and renamed, so an interrupted build never
    leaves a half-written output; anything else (``/dev/null``, a FIFO) is written in place."""
    if path == "-":
        sys.stdout.buffer.write(data)
        sys.stdout.flush()
        return
    try:
        st = os.stat(path)
    except FileNotFoundError:
        st = None
    except OSError as exc:
        raise CIError(f"cannot open output file {path}: {exc.strerror}") from None
    if st is not None and not stat.S_ISREG(st.st_mode):
        try:
            with open(path, "wb") as f:
                f.write(data)
        except OSError as exc:
            raise CIError(f"cannot open output file {path}: {exc.strerror}") from None
        return
    d = os.path.dirname(os.path.abspath(path)) or "."
    try:
        fd, tmp = tempfile.mkstemp(dir=d, prefix=".ci-tmp-", suffix=os.path.basename(path))
    except OSError as exc:
        raise CIError(f"cannot open output file {path}: {exc.strerror}") from None
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(data)
        umask = os.umask(0)
        os.umask(umask)
        os.chmod(tmp, 0o666 & ~umask)
        os.replace(tmp, path)
    except OSError as exc:
        _unlink_quietly(tmp)
        raise CIError(f"cannot write output file {path}: {exc.strerror}") from None
    except BaseException:
        _unlink_quietly(tmp)
        raise


def _unlink_quietly(path: str) -> None:
    try:
        os.unlink(path)
    except OSError:
        pass


def _default_output(inp: Input, mode: str, emit_llvm: bool) -> str:
    stem = os.path.splitext(os.path.basename(inp.path))[0]
    if mode == "asm":
        return stem + (".ll" if emit_llvm else ".s")
    return stem + (".bc" if emit_llvm else ".o")


def _dep_args(ctx: Context, inp: Input, out: str) -> list[str]:
    """Keep ``-MD``/``-MMD`` output where the user expects it although we compile to a
    temporary bitcode file."""
    inv = ctx.inv
    if not inv.has_dep_output:
        return []
    args: list[str] = []
    if inv.dep_file is None:
        # clang writes <output>.d next to the output (without its extension)
        if inv.mode != "link":
            base = out
        else:
            base = inv.output or os.path.basename(inp.path)
        args += ["-MF", os.path.splitext(base)[0] + ".d"]
    if not inv.dep_target:
        if inv.mode != "link":
            target = out
        else:  # clang names the linked output
            target = inv.output or "a.out"
        args += ["-MT", target]
    return args


def _lang_args(inv: Invocation, inp: Input) -> list[str]:
    """``-x LANG`` when the user forced the language of this input."""
    if inp.path == "-":
        return ["-x", inp.language]
    ext = os.path.splitext(inp.path)[1]
    from .options import ASM_EXTENSIONS, SOURCE_EXTENSIONS

    natural = SOURCE_EXTENSIONS.get(ext) or ASM_EXTENSIONS.get(ext)
    return [] if natural == inp.language else ["-x", inp.language]


def _emit_kind(inv: Invocation, final: bool) -> str:
    if not final:
        return "obj"
    if inv.mode == "asm":
        return "ll" if inv.emit_llvm else "asm"
    return "bc" if inv.emit_llvm else "obj"


def _instrument_ir(ctx: Context, text: str, inp: Input, emit: str, out: str) -> None:
    opts = CodegenOptions(opt_level=ctx.inv.opt_level)
    result = instrument_text(
        text,
        PassOptions(ctx.design, ctx.skip, opt_level=ctx.inv.opt_level, bound=ctx.bound,
                    cost_file=ctx.inv.ci.get("costs"), tls_model=_tls_model(ctx.inv)),
        filename=inp.path,
    )
    for s in result.stats.skipped:
        if not s.reason.startswith(("part of the compiler-interrupts runtime", "available_ext")):
            _warn(f"{inp.path}: {s.function} left uninstrumented: {s.reason}")
    if result.already_instrumented:
        _warn(f"{inp.path}: already instrumented; left as is")
    if ctx.stats:
        print(f"{PROG}: {inp.path}: design={ctx.design} " + " ".join(result.stats.lines()),
              file=sys.stderr)
    if ctx.save_temps:
        Path(out + ".ci.ll").write_text(result.text)
    if ctx.check and designs.get_design(ctx.design).inserts_probes:
        from ..check import check_module
        from ..designs.ci import DEFAULT_BOUND
        from ..ir.parser import parse_module

        from ..cost.tables import load_cost_file

        skipped = {s.function for s in result.stats.skipped}
        costs = ctx.inv.ci.get("costs")
        # Only designs with a bound (ci) promise one; for the others check the cycles alone.
        bound = (ctx.bound or DEFAULT_BOUND) if ctx.design == "ci" else 10**9 - 1
        report = check_module(parse_module(result.text, inp.path), bound,
                              skip=skipped, cost_table=load_cost_file(costs) if costs else None)
        if report.failures:
            raise CIError(f"{inp.path}: probe check failed:\n{report.render()}")
    try:
        data = compile_ir(result.text, emit, opts)  # type: ignore[arg-type]
    except LLVMError as exc:
        first = str(exc).splitlines()[0] if str(exc) else "verifier error"
        _warn(f"{inp.path}: instrumented IR was rejected by LLVM ({first}); "
              "this file is compiled without probes")
        data = compile_ir(text, emit, opts)  # type: ignore[arg-type]
    _atomic_write(out, data)


def _compile_input(ctx: Context, inp: Input, out: str, emit: str) -> int:
    """Compile one input to ``out``; returns an exit code."""
    inv = ctx.inv
    if inp.is_asm:
        return ctx.run([ctx.clang, *inv.compile_args, *_lang_args(inv, inp), "-c", "-o", out,
                        inp.path])
    if inp.language == "ir":
        data = Path(inp.path).read_bytes()
        text = bitcode_to_text(data) if data[:2] == b"BC" or data[:4] == b"\xde\xc0\x17\x0b" \
            else canonicalize(data.decode())
        _instrument_ir(ctx, text, inp, emit, out)
        return 0
    with tempfile.TemporaryDirectory(prefix="ci-cc-") as td:
        bc = os.path.join(td, "input.bc")
        if inp.path == "-":  # standard input: clang reads it itself; keep -x
            inp = Input("-", inp.language, inp.index)
        cmd = [ctx.clang, *inv.compile_args, "-idirafter", str(header_dir()),
               *_dep_args(ctx, inp, out), "-c", "-emit-llvm", "-o", bc,
               *_lang_args(inv, inp), inp.path]
        rc = ctx.run(cmd)
        if rc != 0:
            return rc
        data = Path(bc).read_bytes()
    if ctx.save_temps:
        Path(out + ".ci.bc").write_bytes(data)
    text = bitcode_to_text(data)
    _instrument_ir(ctx, text, inp, emit, out)
    return 0


def _tls_model(inv: Invocation) -> str:
    """Local-exec TLS (the budget is a constant ``%fs:`` offset) for code that can only end up
    in an executable with the static runtime: not position-independent-for-a-library, not a
    shared object. Otherwise initial-exec, which works everywhere."""
    pic_lib = any(a in ("-fPIC", "-fpic", "-shared") for a in inv.args)
    if pic_lib or inv.ci.get("runtime") in ("shared",):
        return "initialexec"
    return "localexec"


def _runtime_link_args(ctx: Context) -> list[str]:
    from ..runtime import build

    inv = ctx.inv
    how = inv.ci.get("runtime", "auto")
    if how == "none":
        return []
    if how not in ("auto", "static", "shared"):
        raise CIError(f"--ci-runtime={how}: expected auto, static, shared or none")
    shared = how == "shared" or (how == "auto" and inv.shared)
    autostart = inv.ci.get("autostart")
    define = _autostart_define(autostart) if autostart else None
    try:
        kw = {"variant": "signal"} if ctx.design == "signal" else {}
        art = build.runtime_paths(clangmod.find_clang(False), shared=shared,
                                  autostart_define=define, **kw)
    except build.RuntimeBuildError as exc:
        raise CIError(f"cannot build the compiler-interrupts runtime: {exc}") from None
    args = art.link_args(autostart=bool(autostart))
    if not shared and "-static" not in inv.args:
        # Executables export the runtime's symbols so that instrumented shared objects loaded
        # into them use the executable's counter (one counter per thread per process).
        exports = [abi.BUDGET, abi.SLOW_PATH, abi.SLOW_PATH_PRESERVE, *abi.PUBLIC_API]
        args += [f"-Wl,--export-dynamic-symbol={s}" for s in exports]
    return args


def _int_option(ci: dict[str, str], name: str) -> int | None:
    if name not in ci:
        return None
    try:
        value = int(ci[name])
    except ValueError:
        raise CIError(f"--ci-{name}={ci[name]}: expected a number") from None
    if value < 1:
        raise CIError(f"--ci-{name}={ci[name]}: expected a positive number")
    return value


def _autostart_define(value: str) -> str:
    v = value.strip()
    if v.startswith("ir") and v[2:].isdigit():
        return f"CI_AUTOSTART_IR={int(v[2:])}"
    if v.isdigit():
        return f"CI_AUTOSTART_CYCLES={int(v)}"
    raise CIError(f"--ci-autostart={value}: expected a number of cycles (N) or instructions (irN)")


def _link(ctx: Context, objects: dict[int, str]) -> int:
    inv = ctx.inv
    cmd = [ctx.clang]
    for idx, a in enumerate(inv.args):
        if idx in inv.link_skip:
            continue
        cmd.append(objects.get(idx, a))
    if inv.output is not None:
        cmd += ["-o", inv.output]
    cmd += _runtime_link_args(ctx)
    cmd.append("-Wno-unused-command-line-argument")
    return ctx.run(cmd)


def drive(argv: list[str], cxx: bool = False) -> int:
    """Run the driver on ``argv`` (without the program name); returns the exit code."""
    depth = int(os.environ.get("CI_CC_DEPTH", "0"))
    if depth >= MAX_DEPTH:
        _err("ci-cc is calling itself (CI_CLANG points back at ci-cc?)")
        return 1
    try:
        extra = shlex.split(os.environ.get("CI_FLAGS", ""))
        inv = parse_invocation(list(argv) + extra)
        design = inv.ci.get("design") or os.environ.get("CI_DESIGN") or designs.DEFAULT_DESIGN
        designs.get_design(design)  # validate the name before doing anything
        clang = clangmod.find_clang(cxx)
        ctx = Context(
            inv=inv,
            clang=clang,
            design=design,
            verbose="verbose" in inv.ci or os.environ.get("CI_VERBOSE") == "1",
            stats="stats" in inv.ci,
            save_temps="save-temps" in inv.ci,
            skip=inv.ci.get("skip"),
            bound=_int_option(inv.ci, "bound"),
            check="check" in inv.ci,
        )
        if inv.mode == "passthrough":
            return ctx.run([clang, *inv.args, "-idirafter", str(header_dir())]
                           if inv.inputs else [clang, *inv.args])
        if inv.mode in ("compile", "asm"):
            for inp in inv.inputs:
                if inp.language == "linker":
                    continue
                if inp.is_asm and inv.mode == "asm":
                    rc = ctx.run([clang, *inv.compile_args, "-S", "-o",
                                  inv.output or _default_output(inp, "asm", False), inp.path])
                else:
                    out = inv.output or _default_output(inp, inv.mode, inv.emit_llvm)
                    rc = _compile_input(ctx, inp, out, _emit_kind(inv, True))
                if rc != 0:
                    return rc
            return 0
        # Compile and link.
        with tempfile.TemporaryDirectory(prefix="ci-cc-link-") as td:
            objects: dict[int, str] = {}
            for k, inp in enumerate(inv.inputs):
                if inp.language == "linker":
                    continue
                obj = os.path.join(td, f"{k}-{os.path.splitext(os.path.basename(inp.path))[0]}.o")
                rc = _compile_input(ctx, inp, obj, "obj")
                if rc != 0:
                    return rc
                objects[inp.index] = obj
            return _link(ctx, objects)
    except CIError as exc:
        _err(str(exc))
        return 1
    except KeyboardInterrupt:
        return 130


def main_cc() -> None:
    sys.exit(drive(sys.argv[1:], cxx=False))


def main_cxx() -> None:
    sys.exit(drive(sys.argv[1:], cxx=True))
