"""Parse LLVM 22's printed textual IR into :mod:`compiler_interrupts.ir.model`.

The parser is line based: llvmlite (LLVM 22) prints IR canonically, so a function body is
``define ... {`` on one line, blocks separated by blank lines, each instruction starting with two
spaces (continuation lines of ``switch`` and ``landingpad`` are indented further; debug records
``#dbg_value(...)`` are indented by four), and the body closes with ``}`` alone on a line.
Everything outside function bodies is kept verbatim.
"""

from __future__ import annotations

import re

from ..diagnostics import Location, ParseError
from .model import Block, Function, Instr, Module

_FN_NAME_RE = re.compile(r'@(?:[-a-zA-Z$._0-9]+|"[^"]*")\(')
_LABEL_RE = re.compile(r'^([-a-zA-Z$._0-9]+|"(?:[^"\\]|\\.)*"):(?:\s|$)')
_NUMBERED_ARG_RE = re.compile(r"%(\d+)(?=\s*[,)])")


def parse_module(text: str, filename: str = "<input>") -> Module:
    """Parse a whole module. Raises :class:`ParseError` with the offending line on bad input."""
    lines = text.split("\n")
    trailing_newline = text.endswith("\n")
    if trailing_newline:
        lines.pop()
    items: list[str | Function] = []
    verbatim: list[str] = []
    i = 0
    n = len(lines)
    while i < n:
        line = lines[i]
        if line.startswith("define ") or line.startswith("define\t"):
            if not line.rstrip().endswith("{"):
                raise ParseError(
                    Location(filename, i + 1, len(line) + 1),
                    "expected '{' at the end of a function header",
                    line,
                )
            j = i + 1
            while j < n and lines[j] != "}":
                if lines[j].startswith("define "):
                    raise ParseError(
                        Location(filename, j + 1), "function body is not closed with '}'", lines[j]
                    )
                j += 1
            if j >= n:
                raise ParseError(
                    Location(filename, i + 1), "function body is not closed with '}'", line
                )
            if verbatim:
                items.append("\n".join(verbatim))
                verbatim = []
            items.append(_parse_function(lines, i, j, filename))
            i = j + 1
            continue
        verbatim.append(line)
        i += 1
    if verbatim:
        items.append("\n".join(verbatim))
    return Module(items, trailing_newline)


def _entry_number(header: str) -> str:
    """The implicit number of an unnamed entry block: one past the numbered arguments."""
    start = header.find("(", header.find("@"))
    params = header[start:]
    nums = [int(m) for m in _NUMBERED_ARG_RE.findall(params)]
    return str(max(nums) + 1) if nums else "0"


def _parse_function(lines: list[str], start: int, end: int, filename: str) -> Function:
    header = lines[start]
    if _FN_NAME_RE.search(header) is None:
        raise ParseError(Location(filename, start + 1), "expected '@name(' in a function header",
                         header)
    blocks: list[Block] = []
    current: Block | None = None
    last: Instr | None = None
    for k in range(start + 1, end):
        line = lines[k]
        if not line:
            last = None
            continue
        c0 = line[0]
        if c0 != " " and c0 != "\t":
            if c0 == ";":
                # A comment at column 0 inside a body: keep it with the current block.
                if current is None:
                    current = Block(_entry_number(header), None)
                    blocks.append(current)
                current.instrs.append(Instr(line))
                last = None
                continue
            m = _LABEL_RE.match(line)
            if m is None:
                raise ParseError(
                    Location(filename, k + 1), "expected a block label or an instruction", line
                )
            label = m.group(1)
            current = Block(label, line)
            blocks.append(current)
            last = None
            continue
        # Indented line: a new instruction, a debug record, or a continuation line.
        if line.startswith("  ") and len(line) > 2 and line[2] not in " ]\t":
            is_new = True
        elif line.lstrip().startswith("#dbg_"):
            is_new = True
        else:
            is_new = False
        if is_new:
            if current is None:
                current = Block(_entry_number(header), None)
                blocks.append(current)
            last = Instr(line)
            current.instrs.append(last)
        else:
            if last is None:
                raise ParseError(
                    Location(filename, k + 1),
                    "continuation line without an instruction to continue",
                    line,
                )
            last.text += "\n" + line
    if not blocks:
        raise ParseError(Location(filename, start + 1), "function has no body", header)
    for b in blocks:
        if b.terminator is None:
            where = b.label_line if b.label_line is not None else header
            raise ParseError(
                Location(filename, start + 1),
                f"block %{b.label} does not end with a terminator",
                where,
            )
    labels = {b.label for b in blocks}
    for b in blocks:
        for succ in b.successors:
            if succ not in labels:
                raise ParseError(Location(filename, start + 1),
                                 f"branch to undefined label %{succ} in block %{b.label}",
                                 b.terminator.text.strip() if b.terminator else header)
    original = "\n".join(lines[start : end + 1])
    return Function(header, blocks, original)
