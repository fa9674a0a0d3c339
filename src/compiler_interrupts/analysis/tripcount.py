"""Upper bounds on loop trip counts, read from the IR's induction pattern.

Recognises the counted loops clang leaves behind at -O2: an induction variable ``iv`` that
starts at a value of known lower bound and steps by a positive constant, compared in the loop's
only latch (``iv + step`` against a bound) with a known upper bound.  Bounds come from a small
value-range analysis (:func:`int_range`) over constants, masks (``and X, K``: the unroller's
remainder loops), ``smin``/``umin`` with constants (``min(n - i, BS)``: blocked kernels), selects,
casts, shifts, additions, subtractions and the PHIs of other induction variables.  An exit on
``==``/``!=`` is bounded only when the increment carries ``nuw``/``nsw`` (stepping past the
bound would then be undefined behaviour) or the old exact patterns apply.  The bound is exact
enough to fold such a loop into its parent's cost; anything else yields ``None``.
"""

from __future__ import annotations

import re

from ..ir.model import Block, Function, Instr
from .loops import Loop

_ICMP_RE = re.compile(r"^icmp (eq|ne|ult|slt|ugt|sgt|ule|sle|uge|sge) i(\d+) (\S+), (\S+?)(?:,|$)")
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


_RANGE_DEPTH = 12
_BIN_RE = re.compile(r"^(add|sub|mul|shl|lshr|ashr|and|or|xor|udiv|sdiv|urem|srem)"
                     r"((?: (?:nuw|nsw|exact|disjoint))*) i(\d+) (\S+), (\S+?)(?:,|$)")
_CAST_RE = re.compile(r"^(zext|sext|trunc)(?: nneg| nuw| nsw)* i(\d+) (\S+) to i(\d+)(?:,|$)")
_MINMAX_RE = re.compile(r"^(?:tail )?call (?:noundef )?i(\d+) @llvm\.(smin|smax|umin|umax)"
                        r"\.i\d+\(i\d+ (?:noundef )?(\S+), i\d+ (?:noundef )?(\S+)\)")
_SELECT_ANY_RE = re.compile(r"^select i1 \S+, i(\d+) (\S+), i\d+ (\S+?)(?:,|$)")
_PHI_HEAD_RE = re.compile(r"^phi i(\d+) ")

Range = tuple  # (lo, hi): ints or None (unbounded on that side), as signed values


def _lim(width: int) -> tuple[int, int]:
    return -(1 << (width - 1)), (1 << (width - 1)) - 1


def _fits(r: tuple, width: int) -> tuple:
    """``r`` if it is representable in ``width`` bits (no wrap-around possible), else unknown."""
    lo, hi = r
    mn, mx = _lim(width)
    if lo is not None and lo < mn:
        return (None, None)
    if hi is not None and hi > mx:
        return (None, None)
    return r


def int_range(value: str, defs: dict[str, Instr], _depth: int = 0,
              _seen: frozenset = frozenset()) -> tuple:
    """Signed (lo, hi) bounds of an integer SSA value or constant; None where unknown.

    Sound for executions without undefined behaviour: arithmetic is bounded only when it
    cannot wrap (ranges small enough) or carries ``nsw``; a PHI is bounded below by its
    non-cyclic inputs when its cyclic inputs only add a positive constant with ``nuw``/``nsw``
    (an induction variable)."""
    c = _const(value)
    if c is not None:
        return (c, c)
    if value in ("true",):
        return (1, 1)
    if value in ("false", "null", "zeroinitializer"):
        return (0, 0)
    ins = defs.get(value)
    if ins is None or _depth > _RANGE_DEPTH or value in _seen:
        return (None, None)
    seen = _seen | {value}
    d = _depth + 1
    body = _body(ins)

    def rec(v):
        return int_range(v, defs, d, seen)

    m = _BIN_RE.match(body)
    if m is not None:
        op, flags, w, x, y = m.group(1), m.group(2), int(m.group(3)), m.group(4), m.group(5)
        a, b = rec(x), rec(y)
        mn, mx = _lim(w)
        nsw = "nsw" in flags
        if op == "add":
            lo = a[0] + b[0] if a[0] is not None and b[0] is not None else None
            hi = a[1] + b[1] if a[1] is not None and b[1] is not None else None
            return (lo, hi) if nsw else _fits((lo, hi), w) if lo is not None and hi is not None \
                else (None, None)
        if op == "sub":
            lo = a[0] - b[1] if a[0] is not None and b[1] is not None else None
            hi = a[1] - b[0] if a[1] is not None and b[0] is not None else None
            return (lo, hi) if nsw else _fits((lo, hi), w) if lo is not None and hi is not None \
                else (None, None)
        if op == "xor" and b == (-1, -1):  # not x == -1 - x
            return (-1 - a[1] if a[1] is not None else None, -1 - a[0] if a[0] is not None else None)
        if op == "and":
            k = _const(y)
            if k is None:
                k, a = _const(x), b
            if k is not None and k >= 0:
                hi = k if a[1] is None or a[1] < 0 else min(k, a[1])
                return (0, hi)
            if k is not None and a[0] is not None and a[0] >= 0:  # clears low bits
                return (0, a[1])
            if k is not None:  # negative mask: never above the unmasked value
                return (None, a[1])
            return (None, None)
        if op in ("lshr", "udiv") and a[0] is not None and a[0] >= 0:
            k = _const(y)
            if k is not None and k >= 0 and a[1] is not None:
                return (0, a[1] >> k if op == "lshr" else a[1] // max(k, 1))
            return (0, a[1])
        if op == "urem":
            k = _const(y)
            if k is not None and k > 0:
                return (0, k - 1)
            return (None, None)
        if op in ("shl", "mul") and a[0] is not None and a[1] is not None:
            k = _const(y)
            if k is not None and k >= 0:
                f = (1 << k) if op == "shl" else k
                r = (a[0] * f, a[1] * f)
                return r if nsw else _fits(r, w)
        return (None, None)
    m = _CAST_RE.match(body)
    if m is not None:
        op, wf, x, wt = m.group(1), int(m.group(2)), m.group(3), int(m.group(4))
        a = rec(x)
        if op == "zext":
            if a[0] is not None and a[0] >= 0:
                return a
            return (0, (1 << wf) - 1)
        if op == "sext":
            return (a[0] if a[0] is not None else _lim(wf)[0], a[1] if a[1] is not None else _lim(wf)[1])
        return _fits(a, wt) if a[0] is not None and a[1] is not None else (None, None)
    m = _MINMAX_RE.match(body)
    if m is not None:
        kind, a, b = m.group(2), rec(m.group(3)), rec(m.group(4))
        if kind == "smin":
            hi = min(v for v in (a[1], b[1]) if v is not None) if (a[1], b[1]) != (None, None) else None
            lo = min(a[0], b[0]) if a[0] is not None and b[0] is not None else None
            return (lo, hi)
        if kind == "smax":
            lo = max(v for v in (a[0], b[0]) if v is not None) if (a[0], b[0]) != (None, None) else None
            hi = max(a[1], b[1]) if a[1] is not None and b[1] is not None else None
            return (lo, hi)
        if kind == "umin":  # either operand non-negative bounds it from above
            his = [r[1] for r in (a, b) if r[0] is not None and r[0] >= 0 and r[1] is not None]
            if his:
                return (0, min(his))
            return (None, None)
        if kind == "umax" and a[0] is not None and b[0] is not None and a[0] >= 0 and b[0] >= 0:
            return (max(a[0], b[0]), max(a[1], b[1]) if a[1] is not None and b[1] is not None else None)
        return (None, None)
    m = _SELECT_ANY_RE.match(body)
    if m is not None:
        return _union(rec(m.group(2)), rec(m.group(3)))
    if ins.opcode == "phi" and _PHI_HEAD_RE.match(body):
        ins_in = [v for v, _b in _PHI_ANY_RE.findall(ins.text)]
        out = None
        hi_known = True
        for v in ins_in:
            if v == value:
                continue
            step = _self_step(v, value, defs)
            if step is not None:
                hi_known = False  # grows from the other inputs
                continue
            r = int_range(v, defs, d, seen)
            out = r if out is None else _union(out, r)
        if out is None:
            return (None, None)
        return out if hi_known else (out[0], None)
    return (None, None)


def _union(a: tuple, b: tuple) -> tuple:
    lo = min(a[0], b[0]) if a[0] is not None and b[0] is not None else None
    hi = max(a[1], b[1]) if a[1] is not None and b[1] is not None else None
    return (lo, hi)


def _self_step(v: str, phi: str, defs: dict[str, Instr]) -> int | None:
    """If ``v`` is ``add nuw|nsw phi, K`` with K > 0: K, else None."""
    ins = defs.get(v)
    if ins is None:
        return None
    m = _BIN_RE.match(_body(ins))
    if m is None or m.group(1) != "add" or not ({"nuw", "nsw"} & set(m.group(2).split())):
        return None
    x, y = m.group(4), m.group(5)
    k = _const(y)
    if x == phi and k is not None and k > 0:
        return k
    k = _const(x)
    if y == phi and k is not None and k > 0:
        return k
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


def _latch_test(loop: Loop, blocks: dict[str, Block], defs: dict[str, Instr]):
    """Decode the only latch's exit test: (latch block, condition name, loops while true?,
    predicate, width, lhs, rhs), or None."""
    if len(loop.latches) != 1:
        return None
    latch = blocks[loop.latches[0]]
    term = latch.terminator
    m = _BR_RE.match(_body(term)) if term is not None else None
    if m is None:
        return None
    cond, t_lbl, f_lbl = m.groups()
    if loop.header not in (t_lbl, f_lbl) or t_lbl == f_lbl:
        return None
    cmp = defs.get(cond)
    cm = _ICMP_RE.match(_body(cmp)) if cmp is not None and cmp.name is not None else None
    if cm is None:
        return None
    pred, width, a, b = cm.groups()
    return latch, cond, t_lbl == loop.header, pred, width, a, b


def _induction(nxt: str, defs: dict[str, Instr], latch: str):
    """If ``nxt`` is ``iv + step`` with ``iv`` a two-way PHI fed by ``nxt`` from ``latch``:
    (iv, step, start value, start block, width), else None."""
    add = defs.get(nxt)
    am = _ADD_RE.match(_body(add)) if add is not None else None
    if am is None:
        return None
    x, y = am.group(2), am.group(3)
    step, iv = _const(y), x
    if step is None:
        step, iv = _const(x), y
    if step is None:
        return None
    phi = defs.get(iv)
    pm = _PHI_RE.match(_body(phi)) if phi is not None and phi.opcode == "phi" else None
    if pm is None:
        return None
    _, v1, b1, v2, b2 = pm.groups()
    if b1 == latch and v1 == nxt:
        return iv, step, v2, b2, am.group(1)
    if b2 == latch and v2 == nxt:
        return iv, step, v1, b1, am.group(1)
    return None


_SWAP = {"eq": "eq", "ne": "ne", "slt": "sgt", "sgt": "slt", "ult": "ugt", "ugt": "ult",
         "sle": "sge", "sge": "sle", "ule": "uge", "uge": "ule"}
_NEGATE = {"eq": "ne", "ne": "eq", "slt": "sge", "sge": "slt", "sgt": "sle", "sle": "sgt",
           "ult": "uge", "uge": "ult", "ugt": "ule", "ule": "ugt"}


def max_trip_count(fn: Function, loop: Loop, blocks: dict[str, Block] | None = None,
                   defs: dict[str, Instr] | None = None) -> int | None:
    """An upper bound on how many times ``loop``'s latch is reached per entry, or None."""
    blocks = blocks if blocks is not None else fn.block_map()
    defs = defs if defs is not None else _defs(fn)
    test = _latch_test(loop, blocks, defs)
    if test is None:
        return None
    latch, _cond, continue_on_true, pred0, _width, a, b = test
    width_max = _lim(int(_width))[1]
    # Which operand is the incremented induction variable?
    for nxt, other in ((a, b), (b, a)):
        ind = _induction(nxt, defs, latch.label)
        if ind is None or ind[1] <= 0 or ind[3] in loop.blocks:
            continue
        step = ind[1]
        # Canonical form: the loop continues while "next PRED other".
        pred = pred0 if nxt == a else _SWAP[pred0]
        if not continue_on_true:
            pred = _NEGATE[pred]
        start_lo = int_range(ind[2], defs)[0]
        lo_n, hi_n = int_range(other, defs)
        if pred in ("ult", "slt", "ule", "sle"):
            if start_lo is None or hi_n is None:
                continue
            if pred[0] == "u" and (start_lo < 0 or lo_n is None or lo_n < 0):
                continue
            # next = iv + step with iv within the bound cannot wrap unless the bound is within
            # a step of the type's maximum (then only nuw/nsw rule the wrap out).
            if hi_n + step > width_max and not _no_wrap(nxt, defs):
                continue
            if pred in ("ult", "slt"):
                return max(-(-(hi_n - start_lo) // step), 1)
            return max((hi_n - start_lo) // step + 1, 1)
        if pred == "ne":  # leaves when next == other
            start = _const(ind[2])
            bound = _bound_of(other, defs)
            if step == 1 and start is not None and start >= 0 and bound is not None:
                k, exact = bound
                if exact:
                    return k - start if k > start else None
                entering = [blocks[p] for p in _entering(fn, loop)]
                if start == 0 and _guarded_nonzero(other, loop.header, entering, defs):
                    return k if k > 0 else None
            # Stepping past the bound would have to wrap, which nuw/nsw make undefined: the
            # loop leaves when next == bound, after at most (hi - start) / step latches.
            if _no_wrap(nxt, defs) and start_lo is not None and start_lo >= 0 and hi_n is not None:
                trips = (hi_n - start_lo) // step
                return trips if trips > 0 else None
        return None
    return None


def _no_wrap(nxt: str, defs: dict[str, Instr]) -> bool:
    ins = defs.get(nxt)
    m = _BIN_RE.match(_body(ins)) if ins is not None else None
    return m is not None and m.group(1) == "add" and bool({"nuw", "nsw"} & set(m.group(2).split()))


def _entering(fn: Function, loop: Loop) -> list[str]:
    out = []
    for b in fn.blocks:
        if b.label not in loop.blocks and loop.header in b.successors:
            out.append(b.label)
    return out


class StripInfo:
    """A counted loop that can be strip-mined: ``iv`` starts at ``start`` (from ``preheader``),
    ``next = iv + 1`` is compared in the only latch with ``pred`` against the loop-invariant
    ``bound``; ``cond`` is that comparison and ``continue_on_true`` says which way it loops."""

    __slots__ = ("iv", "next", "start", "bound", "pred", "width", "cond", "continue_on_true",
                 "preheader", "latch", "exit", "step")

    def __init__(self, **kw):
        for k, v in kw.items():
            setattr(self, k, v)


def strip_candidate(fn: Function, loop: Loop, blocks: dict[str, Block] | None = None,
                    defs: dict[str, Instr] | None = None) -> StripInfo | None:
    """Recognise a loop that :mod:`compiler_interrupts.designs.ci` can strip-mine, or None."""
    if loop.children:
        return None
    blocks = blocks if blocks is not None else fn.block_map()
    defs = defs if defs is not None else _defs(fn)
    entering = _entering(fn, loop)
    test = _latch_test(loop, blocks, defs)
    if len(entering) != 1 or test is None:
        return None
    latch, cond, continue_on_true, pred, width, a, b = test
    term_targets = _BR_RE.match(_body(latch.terminator)).groups()[1:]  # type: ignore[union-attr]
    exit_lbl = term_targets[1] if continue_on_true else term_targets[0]
    if exit_lbl in loop.blocks:
        return None
    # Accepted exit tests: continue while next < bound or next != bound, leave when
    # next == bound or next > bound ("<=" loops, next on the left).
    if pred in ("ugt", "sgt"):
        if continue_on_true:
            return None
    elif (pred in ("ult", "slt", "ne")) != continue_on_true or pred not in ("ult", "slt", "ne", "eq"):
        return None
    loop_defs = {ins.name for lbl in loop.blocks for ins in blocks[lbl].instrs if ins.name}
    nxt, bound = a, b
    if pred in ("eq", "ne") and b in loop_defs and a not in loop_defs:
        nxt, bound = b, a
    if bound in loop_defs or nxt not in loop_defs:
        return None
    ind = _induction(nxt, defs, latch.label)
    if ind is None:
        return None
    iv, step, start, start_block, add_width = ind
    # Positive power-of-two steps: 1, and the vectorizer's VF x unroll factors.
    if add_width != width or step <= 0 or step & (step - 1) or step > 1 << 16:
        return None
    if start_block != entering[0] or defs.get(iv) not in blocks[loop.header].instrs:
        return None
    return StripInfo(iv=iv, next=nxt, start=start, bound=bound, pred=pred, width=int(width),
                     cond=cond, continue_on_true=continue_on_true, preheader=entering[0],
                     latch=latch.label, exit=exit_lbl, step=step)

_CALL2_RE = re.compile(r"^(?:tail )?call i(\d+) @llvm\.(\w+)\.(?:sat\.)?i\d+\(i\d+ (\S+), i\d+ (\S+)\)")
_SELECT_RE = re.compile(r"^select i1 (\S+), i\d+ (\S+), i\d+ (\S+?)(?:,|$)")
_SUB_RE = re.compile(r"^sub i\d+ (\S+), (\S+?)(?:,|$)")
_ULT_RE = re.compile(r"^icmp ult i\d+ (\S+), (\d+)(?:,|$)")
_PHI_ANY_RE = re.compile(r"\[ ([^\[\]]+?), %([-a-zA-Z$._0-9]+|\"[^\"]*\") \]")


_AND1_RE = re.compile(r"^and i1 (\S+), (\S+?)(?:,|$)")
_ANDK_RE = re.compile(r"^and i\d+ (\S+), (\d+)(?:,|$)")
_EQ0_RE = re.compile(r"^icmp eq i\d+ (\S+), 0(?:,|$)")


def _strip_limit_step(value: str, x: str, defs: dict[str, Instr], step: int = 1) -> int | None:
    """If ``value`` is a strip limit computed from IV value ``x``, return the span S with
    ``limit - x <= S`` and ``limit - x`` a multiple of ``step`` (so the IV meets it exactly).

    Recognised: ``min(x + S, bound)`` with a saturating add (for ``<`` exit tests), and
    ``(bound - x - 1 <u S) [&& (bound - x) % step == 0] ? bound : x + S`` (for ``==``)."""
    ins = defs.get(value)
    if ins is None:
        return None
    body = _body(ins)
    m = _CALL2_RE.match(body)
    if m is not None and m.group(2) in ("umin", "smin"):
        t = defs.get(m.group(3))
        if t is None:
            return None
        tm = _CALL2_RE.match(_body(t))
        want = "uadd" if m.group(2) == "umin" else "sadd"
        if tm is None or tm.group(2) != want or tm.group(3) != x:
            return None
        return _const(tm.group(4))
    m = _SELECT_RE.match(body)
    if m is None:
        return None
    near, hi, t_name = m.groups()
    t = defs.get(t_name)
    if t is None:
        return None
    am = _ADD_RE.match(_body(t))
    if am is None or am.group(2) != x:
        return None
    span = _const(am.group(3))
    if span is None or span % step:
        return None
    conds = [near]
    c = defs.get(near)
    if c is not None and (cm := _AND1_RE.match(_body(c))) is not None:
        conds = [cm.group(1), cm.group(2)]
    near_ok = divisible = step == 1
    for name in conds:
        ci = defs.get(name)
        if ci is None:
            continue
        if (um := _ULT_RE.match(_body(ci))) is not None and int(um.group(2)) == span:
            d1 = defs.get(um.group(1))
            d1m = _ADD_RE.match(_body(d1)) if d1 is not None else None
            if d1m is not None and d1m.group(3) == "-1":
                d = defs.get(d1m.group(2))
                dm = _SUB_RE.match(_body(d)) if d is not None else None
                near_ok = near_ok or (dm is not None and dm.groups() == (hi, x))
        elif (em := _EQ0_RE.match(_body(ci))) is not None:
            r = defs.get(em.group(1))
            rm = _ANDK_RE.match(_body(r)) if r is not None else None
            if rm is not None and int(rm.group(2)) == step - 1:
                rd = defs.get(rm.group(1))
                rdm = _SUB_RE.match(_body(rd)) if rd is not None else None
                divisible = divisible or (rdm is not None and rdm.groups() == (hi, x))
    if not (near_ok and divisible):
        return None
    return span


def strip_trip_bound(fn: Function, loop: Loop, blocks: dict[str, Block] | None = None,
                     defs: dict[str, Instr] | None = None, latch: str | None = None) -> int | None:
    """For a strip-mined loop (latch compares ``iv + 1`` against a header PHI whose every
    incoming value from outside the cycle is a strip limit at most K past the IV's value on
    that edge): K, the most iterations per entry into the header. Otherwise None. ``latch``
    picks the back edge to examine when the loop has several."""
    if latch is None:
        if len(loop.latches) != 1:
            return None
        latch = loop.latches[0]
    blocks = blocks if blocks is not None else fn.block_map()
    defs = defs if defs is not None else _defs(fn)
    latch = blocks[latch]
    term = latch.terminator
    m = _BR_RE.match(_body(term)) if term is not None else None
    if m is None:
        return None
    cond = defs.get(m.group(1))
    if cond is None:
        return None
    cm = _ICMP_RE.match(_body(cond))
    if cm is None:
        return None
    pred, _w, nxt, lim = cm.groups()
    continue_on_true = m.group(2) == loop.header
    inclusive = pred in ("ugt", "sgt")  # leaves when next > limit: one more iteration
    if inclusive:
        if continue_on_true:
            return None
    elif (pred in ("ult", "slt", "ne")) != continue_on_true or pred not in ("ult", "slt", "ne", "eq"):
        return None
    lim_phi = defs.get(lim)
    add = defs.get(nxt)
    if lim_phi is None or lim_phi.opcode != "phi" or add is None:
        return None
    if lim_phi not in blocks[loop.header].instrs:
        return None
    am = _ADD_RE.match(_body(add))
    step = _const(am.group(3)) if am is not None else None
    if step is None or step <= 0:
        return None
    iv_phi = defs.get(am.group(2))
    if iv_phi is None or iv_phi not in blocks[loop.header].instrs:
        return None
    iv_in = {b: v for v, b in _PHI_ANY_RE.findall(iv_phi.text)}
    best = 0
    for v, b in _PHI_ANY_RE.findall(lim_phi.text):
        if b == latch.label:
            if v != lim:
                return None
            continue
        x = iv_in.get(b)
        if x is None:
            return None
        span = _strip_limit_step(v, x, defs, step)
        if span is None or span < 0 or (span == 0 and not inclusive):
            return None
        best = max(best, span // step + 1 if inclusive else -(-span // step))
    return best or None
