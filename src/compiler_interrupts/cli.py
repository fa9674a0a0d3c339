"""``python -m compiler_interrupts``: the command-line entry point and its subcommands."""

from __future__ import annotations

import argparse
import importlib
import sys
from pathlib import Path

from . import designs
from .diagnostics import CIError


def _read_ir(path: str) -> str:
    """Read ``.ll``/``.bc`` (or ``-`` for stdin) and return LLVM 22 canonical text."""
    from .toolchain.llvm import bitcode_to_text, canonicalize

    data = sys.stdin.buffer.read() if path == "-" else Path(path).read_bytes()
    if data[:2] == b"BC" or data[:4] == b"\xde\xc0\x17\x0b":
        return bitcode_to_text(data)
    return canonicalize(data.decode())


def cmd_instrument(ns: argparse.Namespace) -> int:
    from .pipeline import PassOptions, instrument_text
    from .toolchain.llvm import CodegenOptions, compile_ir

    text = _read_ir(ns.input)
    opts = PassOptions(ns.design, ns.skip) if ns.bound is None else \
        PassOptions(ns.design, ns.skip, bound=ns.bound)
    result = instrument_text(text, opts, filename=ns.input)
    for s in result.stats.skipped:
        print(f"warning: {s.function} left uninstrumented: {s.reason}", file=sys.stderr)
    out = result.text
    if ns.post:
        out = compile_ir(out, "ll", CodegenOptions(opt_level=ns.O)).decode()
    if ns.stats:
        print("stats: " + " ".join(result.stats.lines()), file=sys.stderr)
    if ns.output in (None, "-"):
        sys.stdout.write(out)
    else:
        Path(ns.output).write_text(out)
    return 0


def cmd_check(ns: argparse.Namespace) -> int:
    from .check import check_module
    from .ir.parser import parse_module
    from .pipeline import PassOptions, instrument_text

    text = _read_ir(ns.input) if not ns.input.endswith(".ll") else Path(ns.input).read_text()
    if not ns.instrumented:
        text = instrument_text(text, PassOptions(ns.design, bound=ns.bound),
                               filename=ns.input).text
    report = check_module(parse_module(text, ns.input), ns.bound)
    print(report.render(verbose=ns.verbose))
    return 1 if report.failures else 0


def cmd_compile(ns: argparse.Namespace, cxx: bool) -> int:
    from .toolchain.driver import drive

    return drive(ns.args, cxx=cxx)


def cmd_doctor(ns: argparse.Namespace) -> int:
    from .toolchain.doctor import doctor

    return doctor()


def cmd_runtime(ns: argparse.Namespace) -> int:
    from .runtime import build
    from .toolchain.driver import header_dir

    print(f"header:  {header_dir() / 'ci_lib.h'}")
    from .toolchain.clang import find_clang

    cc = find_clang(False)
    print(f"static:  {build.runtime_paths(cc).library}")
    print(f"shared:  {build.runtime_paths(cc, shared=True).library}")
    return 0


def make_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="python -m compiler_interrupts",
        description="Compiler Interrupts: instrument LLVM IR and build programs with probes.",
    )
    sub = p.add_subparsers(dest="command", required=True)

    s = sub.add_parser("instrument", help="instrument one .ll/.bc module and print LLVM IR")
    s.add_argument("input", nargs="?", default="-", help=".ll or .bc file (default: standard input)")
    s.add_argument("-o", "--output", help="output .ll (default: standard output)")
    s.add_argument("--design", default=designs.DEFAULT_DESIGN, choices=designs.names())
    s.add_argument("--skip", help="regex of function names to leave uninstrumented")
    s.add_argument("--post", action="store_true",
                   help="also run the post-pass (inline probes, clean up) as the driver does")
    s.add_argument("-O", type=int, default=2, help="post-pass optimisation level (with --post)")
    s.add_argument("--stats", action="store_true", help="print pass statistics to stderr")
    s.add_argument("--bound", type=int, default=None,
                   help="the bound C of the ci design (default: the design's)")
    s.set_defaults(func=cmd_instrument)

    s = sub.add_parser("check", help="prove every cycle passes a probe and bound probe-free paths")
    s.add_argument("input", help=".ll or .bc file")
    s.add_argument("--design", default="ci", choices=designs.names(),
                   help="design to instrument with first (default: ci)")
    s.add_argument("--instrumented", action="store_true",
                   help="the input is already the pass output (has @__ci_probe calls)")
    from .designs.ci import DEFAULT_BOUND

    s.add_argument("--bound", type=int, default=DEFAULT_BOUND,
                   help=f"the bound C (default {DEFAULT_BOUND}, as the ci design)")
    s.add_argument("-v", "--verbose", action="store_true", help="report every function")
    s.set_defaults(func=cmd_check)

    for name, cxx in (("cc", False), ("c++", True)):
        s = sub.add_parser(name, help=f"the ci-{name} compiler driver (same as ci-{name})",
                           add_help=False)
        s.add_argument("args", nargs=argparse.REMAINDER)
        s.set_defaults(func=lambda ns, cxx=cxx: cmd_compile(ns, cxx))

    s = sub.add_parser("doctor", help="check the tools and explain the CI_* variables")
    s.set_defaults(func=cmd_doctor)

    s = sub.add_parser("runtime", help="build (if needed) and print the runtime paths")
    s.set_defaults(func=cmd_runtime)

    # Subcommands that live with their features (bench harness, fuzzing and real projects,
    # applications): each module adds its own parsers.
    for module, func in ((".bench.cli", "add_parser"), (".tools_cli", "add_parsers"),
                         (".apps.cli", "add_parser")):
        try:
            mod = importlib.import_module(module, __package__)
        except ModuleNotFoundError as exc:
            full = __package__ + module
            if exc.name is None or not (full == exc.name or full.startswith(exc.name + ".")):
                print(f"warning: subcommands of {full} unavailable: {exc}", file=sys.stderr)
            continue
        except ImportError as exc:  # a broken feature must not take the other commands down
            print(f"warning: subcommands of {__package__ + module} unavailable: {exc}",
                  file=sys.stderr)
            continue
        getattr(mod, func)(sub)
    return p


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    if argv[:1] in (["cc"], ["c++"]):
        from .toolchain.driver import drive

        return drive(argv[1:], cxx=argv[0] == "c++")
    ns = make_parser().parse_args(argv)
    try:
        return ns.func(ns)
    except CIError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    except BrokenPipeError:
        return 1
