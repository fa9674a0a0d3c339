"""A light, lossless model of LLVM's printed textual IR.

The model only understands what instrumentation needs (functions, basic blocks, instructions,
terminators, calls, PHIs); everything else is kept as verbatim text. A function that nobody
modified prints back from its original text, so an untouched module round-trips byte for byte.

Instructions are mutable containers compared by identity; their interesting fields (result name,
opcode, successors, callee) are decoded lazily from the text, because most instructions of a
module are never looked at.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from functools import cached_property

TERMINATORS = frozenset(
    {
        "ret",
        "br",
        "switch",
        "indirectbr",
        "invoke",
        "callbr",
        "resume",
        "catchswitch",
        "catchret",
        "cleanupret",
        "unreachable",
    }
)

#: Instructions that must come first in their block (nothing may be inserted before them).
LEADING_OPCODES = frozenset({"phi", "landingpad", "catchpad", "cleanuppad", "catchswitch"})

#: EH pads: blocks that start with one of these are unwind destinations.
EH_PADS = frozenset({"landingpad", "catchpad", "cleanuppad", "catchswitch"})

_LOCAL = r'%(?:[-a-zA-Z$._0-9]+|"[^"]*")'
_RESULT_RE = re.compile(r"\s*(" + _LOCAL + r")\s*=\s*")
_LABEL_REF_RE = re.compile(r"label %([-a-zA-Z$._0-9]+|\"[^\"]*\")")
_CALLEE_RE = re.compile(r"\s([@%](?:[-a-zA-Z$._0-9]+|\"[^\"]*\"))\(")
_TAIL_KINDS = ("tail", "musttail", "notail")


def strip_sigil(name: str) -> str:
    """``%foo`` -> ``foo``; quoted names keep their quotes."""
    return name[1:] if name[:1] in "%@" else name


@dataclass(eq=False)
class Instr:
    """One instruction (or debug record) as printed: its text may span several lines."""

    text: str
    """The printed instruction, including its leading indentation, without a final newline."""

    @cached_property
    def _decoded(self) -> tuple[str | None, str, str]:
        """(result name, opcode, rest of the text after the opcode)."""
        text = self.text
        stripped = text.lstrip()
        if stripped.startswith("#dbg_"):
            return None, stripped[: stripped.index("(")] if "(" in stripped else stripped, ""
        if stripped.startswith(";"):
            return None, ";", ""
        name = None
        body = stripped
        if body.startswith("%"):
            m = _RESULT_RE.match(text)
            if m is not None:
                name = m.group(1)
                body = text[m.end() :]
        word, _, rest = body.partition(" ")
        if word in _TAIL_KINDS:
            word, _, rest = rest.partition(" ")
        return name, word.rstrip(","), rest

    @property
    def name(self) -> str | None:
        """The result (``%5``, ``%x``), or None."""
        return self._decoded[0]

    @property
    def opcode(self) -> str:
        """``add``, ``call``, ``br``, ``phi``, ``#dbg_value``, ``;`` (a comment) ..."""
        return self._decoded[1]

    @property
    def is_terminator(self) -> bool:
        return self.opcode in TERMINATORS

    @property
    def is_debug_record(self) -> bool:
        return self.opcode.startswith("#dbg_")

    @property
    def tail_kind(self) -> str | None:
        """``tail``/``musttail``/``notail`` for calls, else None."""
        stripped = self.text.lstrip()
        if self.name is not None:
            stripped = self.text[_RESULT_RE.match(self.text).end() :]  # type: ignore[union-attr]
        word = stripped.split(" ", 1)[0]
        return word if word in _TAIL_KINDS else None

    @property
    def is_musttail(self) -> bool:
        return self.tail_kind == "musttail"

    @cached_property
    def successors(self) -> list[str]:
        """Labels (without ``%``) this terminator can branch to, in printed order."""
        if not self.is_terminator:
            return []
        return [m.group(1) for m in _LABEL_REF_RE.finditer(self.text)]

    @cached_property
    def callee(self) -> str | None:
        """For call/invoke/callbr: ``@name`` of a direct callee, ``%x`` for an indirect call
        through a local, or None for inline asm and calls through constant expressions."""
        if self.opcode not in ("call", "invoke", "callbr"):
            return None
        rest = self._decoded[2]
        m = _CALLEE_RE.search(" " + rest)
        if m is None:
            return None
        prefix = rest[: m.start()]
        if " asm " in f" {prefix} " or prefix.lstrip().startswith("asm "):
            return None
        return m.group(1)

    @property
    def is_inline_asm(self) -> bool:
        return self.opcode in ("call", "invoke", "callbr") and " asm " in self.text

    def phi_incoming_blocks(self) -> list[str]:
        """For a phi: the incoming block labels (without ``%``)."""
        return re.findall(r",\s*%([-a-zA-Z$._0-9]+|\"[^\"]*\")\s*\]", self.text)

    def __str__(self) -> str:
        return self.text


@dataclass(eq=False)
class Block:
    """A basic block: an optional label line and its instructions (terminator last)."""

    label: str
    """The block's label without ``%`` (for an unnamed entry block: its implicit number)."""
    label_line: str | None
    """The label line as printed (``3:    ; preds = %1``), or None when the label is implicit."""
    instrs: list[Instr] = field(default_factory=list)

    @property
    def terminator(self) -> Instr | None:
        for ins in reversed(self.instrs):
            if ins.opcode != ";":
                return ins if ins.is_terminator else None
        return None

    @property
    def successors(self) -> list[str]:
        term = self.terminator
        return term.successors if term is not None else []

    def first_insertion_index(self) -> int:
        """Index of the first instruction before which new code may be inserted (after PHIs,
        EH pads and the debug records among them)."""
        for i, ins in enumerate(self.instrs):
            if ins.opcode not in LEADING_OPCODES and not ins.is_debug_record and ins.opcode != ";":
                return i
        return len(self.instrs)

    @property
    def is_eh_pad(self) -> bool:
        for ins in self.instrs:
            if ins.is_debug_record or ins.opcode in (";", "phi"):
                continue
            return ins.opcode in EH_PADS
        return False

    def render(self) -> list[str]:
        lines = [self.label_line] if self.label_line is not None else []
        lines.extend(i.text for i in self.instrs)
        return lines


@dataclass(eq=False)
class Function:
    """A function definition: its header line, blocks and closing brace."""

    header: str
    """The ``define ... {`` line."""
    blocks: list[Block]
    original: str | None
    """The original printed text; used for printing while the function is unmodified."""
    modified: bool = False

    @cached_property
    def name(self) -> str:
        """``@name`` of the function."""
        m = re.search(r"(@(?:[-a-zA-Z$._0-9]+|\"[^\"]*\"))\(", self.header)
        assert m is not None, self.header
        return m.group(1)

    @property
    def attribute_refs(self) -> list[str]:
        """Attribute group references (``#0``) on the header, after the parameter list."""
        return re.findall(r"#\d+", self._after_params)

    @cached_property
    def _after_params(self) -> str:
        start = self.header.index(self.name + "(") + len(self.name)
        depth = 0
        for i in range(start, len(self.header)):
            c = self.header[i]
            if c == "(":
                depth += 1
            elif c == ")":
                depth -= 1
                if depth == 0:
                    return self.header[i + 1 :]
        return ""

    @property
    def inline_attributes(self) -> str:
        """The header text after the parameter list (inline attributes, groups, section...)."""
        return self._after_params

    @property
    def entry(self) -> Block:
        return self.blocks[0]

    def block_map(self) -> dict[str, Block]:
        return {b.label: b for b in self.blocks}

    def successors_map(self) -> dict[str, list[str]]:
        """CFG of the function: label -> successor labels."""
        return {b.label: b.successors for b in self.blocks}

    def mark_modified(self) -> None:
        self.modified = True

    def render(self) -> str:
        if not self.modified and self.original is not None:
            return self.original
        out = [self.header]
        for i, b in enumerate(self.blocks):
            if i:
                out.append("")
            out.extend(b.render())
        out.append("}")
        return "\n".join(out)


@dataclass(eq=False)
class Module:
    """A module: verbatim text chunks interleaved with parsed function definitions."""

    items: list[str | Function]
    """In printed order; a ``str`` item is one or more verbatim lines (no final newline)."""
    trailing_newline: bool = True

    @property
    def functions(self) -> list[Function]:
        return [it for it in self.items if isinstance(it, Function)]

    @cached_property
    def attribute_groups(self) -> dict[str, str]:
        """``#0`` -> the text inside its braces."""
        groups: dict[str, str] = {}
        for it in self.items:
            if isinstance(it, str) and "attributes #" in it:
                for m in re.finditer(r"^attributes (#\d+) = \{ (.*) \}$", it, re.M):
                    groups[m.group(1)] = m.group(2)
        return groups

    def function_attributes(self, fn: Function) -> str:
        """All attributes of a function as one string (inline ones and its groups)."""
        groups = self.attribute_groups
        parts = [fn.inline_attributes]
        parts.extend(groups.get(ref, "") for ref in fn.attribute_refs)
        return " ".join(parts)

    def defined_names(self) -> set[str]:
        """Names (``@f``) of all functions defined in this module."""
        return {f.name for f in self.functions}

    def mentions(self, symbol: str) -> bool:
        """True if any top-level text declares or defines ``symbol`` (``@name``)."""
        pat = re.compile(re.escape(symbol) + r"\b")
        for it in self.items:
            text = it if isinstance(it, str) else it.header
            if pat.search(text):
                return True
        return False

    def max_metadata_id(self) -> int:
        best = -1
        for it in self.items:
            if isinstance(it, str):
                for m in re.finditer(r"^!(\d+) = ", it, re.M):
                    best = max(best, int(m.group(1)))
        return best

    def append_toplevel(self, text: str) -> None:
        """Add top-level text (globals, declarations, functions) at the end of the module."""
        self.items.append(text.rstrip("\n"))

    def render(self) -> str:
        parts = [it if isinstance(it, str) else it.render() for it in self.items]
        text = "\n".join(parts)
        return text + "\n" if self.trailing_newline else text

    __str__ = render
