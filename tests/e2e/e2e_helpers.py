"""Helpers shared by the end-to-end tests (imported as ``from e2e_helpers import ...``)."""

from __future__ import annotations

import re
from pathlib import Path

from compiler_interrupts.diagnostics import CIError
from compiler_interrupts.toolchain.clang import find_clang

HERE = Path(__file__).resolve().parent
PROGRAMS = HERE / "programs"
PROJECTS = HERE / "projects"

try:
    CLANG: str | None = find_clang(False)
    CLANGXX: str | None = find_clang(True)
    SKIP_REASON = ""
except CIError as exc:  # pragma: no cover - depends on the machine
    CLANG = CLANGXX = None
    SKIP_REASON = f"end-to-end tests need clang: {exc}"


def parse_stats(text: str, prefix: str = "stat") -> list[dict[str, str]]:
    """Lines ``<prefix> key=value key=value ...`` -> list of dicts."""
    out = []
    for line in text.splitlines():
        words = line.split()
        if words[:1] == [prefix]:
            out.append(dict(w.split("=", 1) for w in words[1:]))
    return out


def no_traceback(stderr: str) -> bool:
    return "Traceback (most recent call last)" not in stderr and not re.search(
        r"^\w+(Error|Exception): ", stderr, re.M)
