"""``python -m compiler_interrupts doctor``: check the tools and explain the configuration."""

from __future__ import annotations

import os
import shutil

from ..diagnostics import CIError

VARIABLES = [
    ("CI_DESIGN", "probe placement design when --ci-design is not given"),
    ("CI_FLAGS", "extra --ci-* options appended to every ci-cc/ci-c++ invocation"),
    ("CI_CLANG", "clang used to compile C (default: newest clang-NN >= 14 on PATH)"),
    ("CI_CLANGXX", "clang++ used for C++ (default: the clang++ next to CI_CLANG)"),
    ("CI_CACHE_DIR", "where the runtime is built and cached"),
    ("CI_VERBOSE", "1: print every command the driver runs"),
    ("CI_AUTOSTART_CYCLES", "read at start-up by --ci-autostart binaries built without a value"),
    ("CI_INTERVAL_LOG", "file where --ci-autostart binaries append handler intervals"),
    ("CI_STATS", "1: --ci-autostart binaries print per-thread handler counts at exit"),
]


def doctor() -> int:
    ok = True

    def line(status: str, what: str, detail: str) -> None:
        print(f"[{status:>4}] {what}: {detail}")

    try:
        import llvmlite
        import llvmlite.binding as llvm

        line("ok", "llvmlite", f"{llvmlite.__version__} (LLVM {'.'.join(map(str, llvm.llvm_version_info))})")
    except ImportError:
        ok = False
        line("FAIL", "llvmlite", "not installed: pip install llvmlite")
    from .clang import clang_version, find_clang

    for cxx in (False, True):
        try:
            path = find_clang(cxx)
            ver = clang_version(path)
            line("ok", "clang++" if cxx else "clang", f"{path} (version {'.'.join(map(str, ver or ()))})")
        except CIError as exc:
            ok = False
            line("FAIL", "clang++" if cxx else "clang", str(exc))
    for tool in ("ar", "make"):
        path = shutil.which(tool)
        line("ok" if path else "warn", tool, path or "not found (needed by most builds)")
    try:
        from ..runtime import build

        art = build.runtime_paths(find_clang(False))
        line("ok", "runtime", str(art.library))
    except Exception as exc:  # report, don't crash
        ok = False
        line("FAIL", "runtime", str(exc).splitlines()[0] if str(exc) else repr(exc))
    print("\nEnvironment variables:")
    for name, meaning in VARIABLES:
        value = os.environ.get(name)
        print(f"  {name:<20} {meaning}" + (f"\n  {'':<20} = {value}" if value else ""))
    return 0 if ok else 1
