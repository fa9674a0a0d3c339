"""Errors and warnings the pass reports to users."""

from __future__ import annotations

import sys
from dataclasses import dataclass


class CIError(Exception):
    """Base class of every error that is reported to the user as one clean message."""


@dataclass
class Location:
    """A position in an input text (1-based line and column)."""

    filename: str
    line: int
    column: int = 1

    def __str__(self) -> str:
        return f"{self.filename}:{self.line}:{self.column}"


class ParseError(CIError):
    """The input is not LLVM IR as LLVM 22 prints it."""

    def __init__(self, loc: Location, message: str, source_line: str | None = None):
        self.loc = loc
        self.message = message
        self.source_line = source_line
        text = f"{loc}: error: {message}"
        if source_line is not None:
            caret = " " * (max(loc.column, 1) - 1) + "^"
            text += f"\n{source_line}\n{caret}"
        super().__init__(text)


@dataclass(frozen=True)
class Skipped:
    """A function the pass left uninstrumented, and why."""

    function: str
    reason: str

    def message(self) -> str:
        return f"warning: {self.function} left uninstrumented: {self.reason}"


def warn(message: str) -> None:
    """Print one warning line the way compilers do (prefixed with the tool name)."""
    print(f"ci-cc: {message}", file=sys.stderr)
