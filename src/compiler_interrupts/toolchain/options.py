"""The compiler option table: what the driver needs to know about clang/gcc options.

Only options that matter for classifying a command line are listed: those that take the next
argument (so the argument is not mistaken for an input), those that select the mode (``-c``,
``-S``, ``-E``...), and those that only the linker or only the compiler sees. Every other
option is passed through where it was given.
"""

from __future__ import annotations

from enum import Flag, auto


class Opt(Flag):
    NONE = 0
    TAKES_ARG = auto()
    """The option consumes the next argument (``-o out``); also accepted joined (``-oout``)."""
    LINK = auto()
    """Meaningful to the link step only (dropped when compiling to bitcode)."""
    NO_INSTRUMENT = auto()
    """The invocation is passed to clang unchanged (preprocessing, dependency listing, queries)."""
    MODE = auto()
    """Selects what the driver produces (``-c``, ``-S``)."""


#: Exact option names. Kept sorted; a unit test checks it.
EXACT: dict[str, Opt] = {
    "-###": Opt.NO_INSTRUMENT,
    "--ld-path": Opt.TAKES_ARG | Opt.LINK,
    "--param": Opt.TAKES_ARG,
    "--serialize-diagnostics": Opt.TAKES_ARG,
    "--sysroot": Opt.TAKES_ARG,
    "--version": Opt.NO_INSTRUMENT,
    "-E": Opt.NO_INSTRUMENT,
    "-F": Opt.TAKES_ARG,
    "-I": Opt.TAKES_ARG,
    "-L": Opt.TAKES_ARG | Opt.LINK,
    "-M": Opt.NO_INSTRUMENT,
    "-MF": Opt.TAKES_ARG,
    "-MJ": Opt.TAKES_ARG,
    "-MM": Opt.NO_INSTRUMENT,
    "-MQ": Opt.TAKES_ARG,
    "-MT": Opt.TAKES_ARG,
    "-S": Opt.MODE,
    "-T": Opt.TAKES_ARG | Opt.LINK,
    "-U": Opt.TAKES_ARG,
    "-Xassembler": Opt.TAKES_ARG,
    "-Xclang": Opt.TAKES_ARG,
    "-Xlinker": Opt.TAKES_ARG | Opt.LINK,
    "-Xpreprocessor": Opt.TAKES_ARG,
    "-arch": Opt.TAKES_ARG,
    "-aux-info": Opt.TAKES_ARG,
    "-c": Opt.MODE,
    "-cxx-isystem": Opt.TAKES_ARG,
    "-dependency-file": Opt.TAKES_ARG,
    "-dumpmachine": Opt.NO_INSTRUMENT,
    "-dumpversion": Opt.NO_INSTRUMENT,
    "-e": Opt.TAKES_ARG | Opt.LINK,
    "-fsyntax-only": Opt.NO_INSTRUMENT,
    "-gcc-toolchain": Opt.TAKES_ARG,
    "-idirafter": Opt.TAKES_ARG,
    "-imacros": Opt.TAKES_ARG,
    "-include": Opt.TAKES_ARG,
    "-include-pch": Opt.TAKES_ARG,
    "-iprefix": Opt.TAKES_ARG,
    "-iquote": Opt.TAKES_ARG,
    "-isysroot": Opt.TAKES_ARG,
    "-isystem": Opt.TAKES_ARG,
    "-isystem-after": Opt.TAKES_ARG,
    "-ivfsoverlay": Opt.TAKES_ARG,
    "-iwithprefix": Opt.TAKES_ARG,
    "-iwithprefixbefore": Opt.TAKES_ARG,
    "-l": Opt.TAKES_ARG | Opt.LINK,
    "-mllvm": Opt.TAKES_ARG,
    "-no-pie": Opt.LINK,
    "-nodefaultlibs": Opt.LINK,
    "-nostartfiles": Opt.LINK,
    "-nostdlib": Opt.LINK,
    "-o": Opt.TAKES_ARG,
    "-pie": Opt.LINK,
    "-rdynamic": Opt.LINK,
    "-resource-dir": Opt.TAKES_ARG,
    "-shared": Opt.LINK,
    "-static": Opt.LINK,
    "-static-libgcc": Opt.LINK,
    "-static-libstdc++": Opt.LINK,
    "-target": Opt.TAKES_ARG,
    "-u": Opt.TAKES_ARG | Opt.LINK,
    "-x": Opt.TAKES_ARG,
    "-z": Opt.TAKES_ARG | Opt.LINK,
}

#: Joined-prefix options that belong to the link step only.
LINK_PREFIXES = ("-Wl,", "-fuse-ld=", "--ld-path=", "-l", "-L")

#: Joined-prefix options whose presence means "just run clang".
PASSTHROUGH_PREFIXES = ("-print-", "--print-")

#: Prefixes of options that take a joined argument and may also take it separately
#: (only the exact form takes the next argument).
JOINED_WITH_EXACT = ("-I", "-D", "-U", "-L", "-l", "-o", "-x", "-F", "-u", "-T", "-MF", "-MT", "-MQ")

#: Source languages by file extension (what ``-x`` would say).
SOURCE_EXTENSIONS: dict[str, str] = {
    ".c": "c",
    ".i": "cpp-output",
    ".cc": "c++",
    ".cp": "c++",
    ".cpp": "c++",
    ".cxx": "c++",
    ".c++": "c++",
    ".C": "c++",
    ".CPP": "c++",
    ".ii": "c++-cpp-output",
    ".m": "objective-c",
    ".mm": "objective-c++",
}

#: Assembly: compiled by clang untouched.
ASM_EXTENSIONS: dict[str, str] = {".s": "assembler", ".S": "assembler-with-cpp", ".sx": "assembler-with-cpp"}

#: LLVM IR inputs: instrumented directly.
IR_EXTENSIONS: dict[str, str] = {".ll": "ir", ".bc": "ir"}

#: ``-x`` languages that go through LLVM IR.
INSTRUMENTED_LANGUAGES = frozenset(
    {"c", "c++", "cpp-output", "c++-cpp-output", "objective-c", "objective-c++", "c-header", "ir"}
)


def lookup(arg: str) -> Opt | None:
    """Flags of an exact option, or None."""
    return EXACT.get(arg)
