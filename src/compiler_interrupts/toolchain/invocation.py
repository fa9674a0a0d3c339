"""Classify a compiler command line: mode, inputs and their languages, output, and which
arguments go to the per-source compile and which to the link.

Classify, don't rewrite: :func:`parse_invocation` keeps the user's arguments in order and only
records where each one goes; the driver builds new commands from that.
"""

from __future__ import annotations

import os
import shlex
from dataclasses import dataclass, field

from ..diagnostics import CIError
from . import options as O

#: Options of our own, ``--ci-NAME[=VALUE]``: name -> (takes a value, help).
CI_OPTIONS: dict[str, tuple[bool, str]] = {
    "design": (True, "probe placement design (none, naive, ...); env CI_DESIGN"),
    "skip": (True, "regex of function names to leave uninstrumented"),
    "stats": (False, "print per-module pass statistics to stderr"),
    "autostart": (True, "link a constructor that registers a counting handler on every thread "
                        "at this many cycles (N) or instructions (irN)"),
    "runtime": (True, "how to link the runtime: auto (default), static, shared, none"),
    "save-temps": (False, "keep the bitcode and instrumented IR next to the output"),
    "verbose": (False, "print the commands the driver runs"),
    "check": (False, "run the static probe checker on each instrumented module"),
    "bound": (True, "largest IR cost a path may run without passing a probe (ci design)"),
    "costs": (True, "file of external-call cost estimates, 'name cost' per line (ci design)"),
}


@dataclass(frozen=True)
class Input:
    path: str
    language: str
    """A clang ``-x`` language, ``ir`` for LLVM IR, or ``linker`` for objects/archives/libs."""
    index: int
    """Position in :attr:`Invocation.args`."""

    @property
    def instrumented(self) -> bool:
        return self.language in O.INSTRUMENTED_LANGUAGES

    @property
    def is_asm(self) -> bool:
        return self.language.startswith("assembler")


@dataclass(frozen=True)
class Invocation:
    args: tuple[str, ...]
    """The user's arguments (response files expanded, ``--ci-*`` options removed)."""
    ci: dict[str, str] = field(default_factory=dict)
    """``--ci-*`` options given (value ``"1"`` for flags)."""
    inputs: tuple[Input, ...] = ()
    mode: str = "link"
    """``link`` (compile and link), ``compile`` (-c), ``asm`` (-S) or ``passthrough``."""
    passthrough_reason: str | None = None
    output: str | None = None
    emit_llvm: bool = False
    shared: bool = False
    compile_args: tuple[str, ...] = ()
    """Arguments for compiling one source: no inputs, output, mode, ``-x`` or link-only options."""
    link_skip: frozenset[int] = frozenset()
    """Indices of :attr:`args` that the link command drops (``-x`` pairs, mode flags, ``-o``)."""
    has_dep_output: bool = False
    dep_file: str | None = None
    dep_target: bool = False
    opt_level: int = 0


def expand_response_files(argv: list[str], depth: int = 0) -> list[str]:
    """Expand ``@file`` arguments in place (recursively), as gcc and clang do."""
    out: list[str] = []
    for a in argv:
        if a.startswith("@") and len(a) > 1 and os.path.isfile(a[1:]) and depth < 16:
            with open(a[1:], encoding="utf-8", errors="surrogateescape") as f:
                out.extend(expand_response_files(shlex.split(f.read()), depth + 1))
        else:
            out.append(a)
    return out


def split_ci_options(argv: list[str]) -> tuple[list[str], dict[str, str]]:
    """Separate ``--ci-*`` options from the compiler's; unknown ones raise :class:`CIError`."""
    rest: list[str] = []
    ci: dict[str, str] = {}
    for a in argv:
        if not a.startswith("--ci-"):
            rest.append(a)
            continue
        name, eq, value = a[5:].partition("=")
        spec = CI_OPTIONS.get(name)
        if spec is None:
            valid = ", ".join(f"--ci-{k}" for k in CI_OPTIONS)
            raise CIError(f"unknown option '{a}' (valid: {valid})")
        takes_value, _ = spec
        if takes_value and not eq:
            raise CIError(f"option '--ci-{name}' needs a value: --ci-{name}=VALUE")
        ci[name] = value if takes_value else "1"
    return rest, ci


def _language_of(path: str, forced: str | None) -> str:
    if forced is not None and forced != "none":
        return forced
    ext = os.path.splitext(path)[1]
    for table in (O.SOURCE_EXTENSIONS, O.ASM_EXTENSIONS, O.IR_EXTENSIONS):
        if ext in table:
            return table[ext]
    return "linker"


def parse_invocation(argv: list[str]) -> Invocation:
    """Classify ``argv`` (the arguments after the program name)."""
    args, ci = split_ci_options(expand_response_files(list(argv)))
    inputs: list[Input] = []
    compile_args: list[str] = []
    link_skip: set[int] = set()
    mode = "link"
    passthrough: str | None = None
    output: str | None = None
    emit_llvm = shared = False
    forced_lang: str | None = None
    has_dep_output = dep_target = False
    dep_file: str | None = None
    opt_level = 0
    i = 0
    n = len(args)
    while i < n:
        a = args[i]
        if a == "-" or not a.startswith("-"):
            if a == "-" and (forced_lang is None or forced_lang == "none"):
                passthrough = passthrough or "standard input without -x"
            inputs.append(Input(a, _language_of(a, forced_lang), i))
            i += 1
            continue
        flags = O.lookup(a)
        takes_arg = flags is not None and bool(flags & O.Opt.TAKES_ARG)
        value = args[i + 1] if takes_arg and i + 1 < n else None
        if takes_arg and value is None:
            passthrough = passthrough or f"option {a} is missing its argument"
        # Mode and output.
        if a in ("-c", "-S"):
            mode = "compile" if a == "-c" and mode != "asm" else "asm"
            link_skip.add(i)
        elif a == "-o" or (a.startswith("-o") and len(a) > 2 and not a.startswith("-objc")):
            output = value if a == "-o" else a[2:]
            link_skip.add(i)
            if a == "-o":
                link_skip.add(i + 1)
        elif a == "-x" or (a.startswith("-x") and len(a) > 2):
            forced_lang = value if a == "-x" else a[2:]
            link_skip.add(i)
            if a == "-x":
                link_skip.add(i + 1)
        elif a == "-emit-llvm":
            emit_llvm = True
            link_skip.add(i)
        elif a == "-shared":
            shared = True
        elif flags is not None and flags & O.Opt.NO_INSTRUMENT:
            passthrough = passthrough or f"{a} does not generate code"
        elif a.startswith(O.PASSTHROUGH_PREFIXES):
            passthrough = passthrough or f"{a} is a query"
        elif a in ("-MD", "-MMD"):
            has_dep_output = True
        elif a.startswith("-O"):
            lvl = a[2:]
            opt_level = 2 if lvl in ("s", "z", "g") else (3 if lvl == "fast" else
                        int(lvl) if lvl.isdigit() else (2 if lvl == "" else opt_level))
            opt_level = 1 if a == "-O" else opt_level
        if a == "-MF" or (a.startswith("-MF") and len(a) > 3):
            dep_file = value if a == "-MF" else a[3:]
        if a in ("-MT", "-MQ") or (a.startswith(("-MT", "-MQ")) and len(a) > 3):
            dep_target = True
        # Where the option goes.
        is_link = (flags is not None and bool(flags & O.Opt.LINK)) or (
            flags is None and a.startswith(O.LINK_PREFIXES)
        )
        is_mode = a in ("-c", "-S", "-emit-llvm") or i in link_skip
        if not is_link and not is_mode:
            compile_args.append(a)
            if takes_arg and value is not None:
                compile_args.append(value)
        i += 2 if takes_arg else 1
    if mode == "link" and passthrough is None and not inputs:
        passthrough = "no input files"
    if passthrough is not None:
        mode = "passthrough"
    if output is not None and mode in ("compile", "asm"):
        produced = [x for x in inputs if x.language != "linker"]
        if len(produced) > 1:
            raise CIError("cannot specify -o when generating multiple output files")
    return Invocation(
        args=tuple(args),
        ci=ci,
        inputs=tuple(inputs),
        mode=mode,
        passthrough_reason=passthrough,
        output=output,
        emit_llvm=emit_llvm,
        shared=shared,
        compile_args=tuple(compile_args),
        link_skip=frozenset(link_skip),
        has_dep_output=has_dep_output,
        dep_file=dep_file,
        dep_target=dep_target,
        opt_level=opt_level,
    )
