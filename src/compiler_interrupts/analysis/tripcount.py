"""Upper bounds on loop trip counts, read from the IR's induction pattern.

Recognises the counted loops clang leaves behind at -O2: an induction variable that starts at a
constant and steps by one, compared in the loop's only latch against a constant or against a
value masked with ``and X, K`` (the remainder loops of the unroller). The bound is exact enough
to fold such a loop into its parent's cost; anything else yields ``None``.
"""

from __future__ import annotations

import re

from ..ir.model import Block, Function, Instr
from .loops import Loop

_ICMP_RE = re.compile(r"^icmp (eq|ne|ult|slt) i(\d+) (\S+), (\S+?)(?:,|$)")
_ADD_RE = re.compile(r"^add (?:nuw )?(?:nsw )?i(\d+) (\S+), (\S+?)(?:,|$)")
_AND_RE = re.compile(r"^and i(\d+) (\S+), (\d+)(?:,|$)")
_PHI_RE = re.compile(r"^phi i(\d+) \[ (\S+), %(\S+) \], \[ (\S+), %(\S+) \](?:,|$)")
_BR_RE = re.compile(r"^br i1 (\S+), label %(\S+), label %(\S+?)(?:,|$)")


def _body(ins: Instr) -> str:
    """The instruction text after ``%x = `` (single line, stripped)."""
    text = ins.text.strip()
    if ins.name is not None:
        text = text.split("=", 1)[1].strip()
    return text


def _defs(fn: Function) -> dict[str, Instr]:
    out: dict[str, Instr] = {}
    for b in fn.blocks:
        for ins in b.instrs:
            if ins.name is not None:
                out[ins.name] = ins
    return out


def _const(v: str) -> int | None:
    try:
        return int(v)
    except ValueError:
        return None


def _bound_of(value: str, defs: dict[str, Instr]) -> tuple[int, bool] | None:
    """(upper bound, exact constant?) of an integer operand: a constant, or ``and X, K``."""
    c = _const(value)
    if c is not None:
        return c, True
    ins = defs.get(value)
    if ins is None:
        return None
    m = _AND_RE.match(_body(ins))
    if m is None:
        return None
    return int(m.group(3)), False


def _guarded_nonzero(value: str, header: str, entering: list[Block], defs: dict[str, Instr]) -> bool:
    """Every edge into the loop is taken only when ``value != 0``."""
    for blk in entering:
        term = blk.terminator
        if term is None:
            return False
        m = _BR_RE.match(_body(term))
        if m is None:
            return False
        cond, t, f = m.groups()
        g = defs.get(cond)
        if g is None:
            return False
        gm = _ICMP_RE.match(_body(g))
        if gm is None or {gm.group(3), gm.group(4)} != {value, "0"}:
            return False
        if not ((gm.group(1) == "eq" and f == header) or (gm.group(1) == "ne" and t == header)):
            return False
    return bool(entering)


def max_trip_count(fn: Function, loop: Loop, blocks: dict[str, Block] | None = None,
                   defs: dict[str, Instr] | None = None) -> int | None:
    """An upper bound on how many times ``loop``'s latch is reached per entry, or None."""
    if len(loop.latches) != 1:
        return None
    blocks = blocks if blocks is not None else fn.block_map()
    defs = defs if defs is not None else _defs(fn)
    latch = blocks[loop.latches[0]]
    term = latch.terminator
    if term is None:
        return None
    m = _BR_RE.match(_body(term))
    if m is None:
        return None
    cond, t_lbl, f_lbl = m.groups()
    if loop.header not in (t_lbl, f_lbl) or t_lbl == f_lbl:
        return None
    continue_on_true = t_lbl == loop.header
    cmp = defs.get(cond)
    if cmp is None:
        return None
    cm = _ICMP_RE.match(_body(cmp))
    if cm is None:
        return None
    pred, _width, a, b = cm.groups()
    # Which operand is the incremented induction variable?
    for nxt, other in ((a, b), (b, a)):
        add = defs.get(nxt)
        if add is None:
            continue
        am = _ADD_RE.match(_body(add))
        if am is None:
            continue
        x, y = am.group(2), am.group(3)
        iv = x if y == "1" else (y if x == "1" else None)
        if iv is None:
            continue
        phi = defs.get(iv)
        if phi is None or phi.opcode != "phi":
            continue
        pm = _PHI_RE.match(_body(phi))
        if pm is None:
            continue
        _, v1, b1, v2, b2 = pm.groups()
        if b1 == latch.label and v1 == nxt and b2 not in loop.blocks:
            start_s = v2
        elif b2 == latch.label and v2 == nxt and b1 not in loop.blocks:
            start_s = v1
        else:
            continue
        start = _const(start_s)
        if start is None or start < 0:
            continue
        bound = _bound_of(other, defs)
        if bound is None:
            continue
        k, exact = bound
        if nxt != a:  # compare is "other PRED next": only eq/ne are symmetric
            if pred not in ("eq", "ne"):
                continue
        exits_on_equal = (pred == "eq" and not continue_on_true) or (
            pred == "ne" and continue_on_true
        )
        continues_while_less = pred in ("ult", "slt") and continue_on_true
        if continues_while_less:
            return max(k - start, 1)
        if exits_on_equal:
            if exact:
                return k - start if k > start else None
            entering = [blocks[p] for p in _entering(fn, loop)]
            if start == 0 and _guarded_nonzero(other, loop.header, entering, defs):
                return k if k > 0 else None
        return None
    return None


def _entering(fn: Function, loop: Loop) -> list[str]:
    out = []
    for b in fn.blocks:
        if b.label not in loop.blocks and loop.header in b.successors:
            out.append(b.label)
    return out
