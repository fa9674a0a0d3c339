"""``ci``: the optimized Compiler Interrupts design.

Compiler Interrupts (Basu, Montanari, Eriksson, PLDI 2021) charge the IR cost of the code just
run to a thread-local counter and run a handler when it crosses an interval. The paper's design
aggregates costs over acyclic regions and probes loops once per iteration; Concord (SOSP'23)
showed that the probe itself must cost next to nothing. This design combines both:

1. **Budget in a register.** Each function copies the thread's budget into a local at entry
   (``%ci.local``; SROA turns it into an SSA register after the probes are inlined), probes
   decrement the local (``sub $c, %reg; js slow``), and the local is written back before calls
   that may run probes and before returns, and re-read after such calls. Functions that call a
   ``returns_twice`` function (setjmp) keep the budget in memory, as do ``-O0`` builds.
2. **Aggregated increments.** Costs accumulate along the acyclic CFG (retreating edges
   removed) in reverse post-order; a probe charges everything since the previous one. Probes are
   mandatory only on edges into cycle headers (so every cycle passes one, also in irreducible
   control flow), at function exits, before calls that may recurse (calls within the caller's
   call-graph SCC and indirect calls, so recursion cannot escape probing), and wherever the
   probe-free cost would exceed the bound ``C``. Where paths rejoin, the pending costs of the
   incoming paths share one averaged increment if they differ by less than the allowed
   deviation; otherwise the heavier predecessors are charged before the join.
3. **Probe-free leaves.** A small internal function that is not address-taken, has no loops and
   calls nothing that may run probes gets no probe of its own; its callers charge its maximum
   path cost at the call (bottom-up over the call graph).

Calls to instrumented functions cost 1 (the callee counts itself); calls to external functions
cost an estimate from :mod:`compiler_interrupts.cost.tables`; inline asm and indirect calls
cost 1 (an indirect callee that is instrumented counts itself).
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

from ..analysis.callgraph import strongly_connected_components
from ..analysis.cfg import predecessors, reverse_postorder
from ..analysis.loops import cycle_cut_edges, natural_loops
from ..analysis.tripcount import max_trip_count
from ..cost.model import external_call_cost, instr_cost
from ..cost.tables import NO_CALLBACK, RETURNS_TWICE
from ..emit import probes as P
from ..ir.model import Block, Function, Instr, Module
from .base import Design, Stats

DEFAULT_BOUND = 200


@dataclass
class CIOptions:
    bound: int = DEFAULT_BOUND
    """C: the largest IR cost a path may accumulate without passing a probe."""
    deviation_abs: int = 16
    """Joining paths share one increment if their pending costs differ by at most
    max(deviation_abs, deviation_rel * larger)."""
    deviation_rel: float = 0.3
    leaf_max: int = 50
    """Largest path cost of a function that gets no probe of its own."""
    register: bool = True
    """Keep the budget in a register within functions (optimized builds)."""
    cost_table: dict[str, int | None] | None = None
    """External-call costs (None: :data:`compiler_interrupts.cost.tables.EXTERNAL_COSTS`)."""


@dataclass
class _FnInfo:
    fn: Function
    calls: list[str] = field(default_factory=list)
    """Direct callees (``@name``)."""
    scc: int = -1


_GLOBAL_REF_RE = re.compile(r"@([-a-zA-Z$._0-9]+)(\(?)")


def _address_taken(module: Module) -> set[str]:
    """Names (``@f``) that appear anywhere other than directly before ``(`` (i.e. not only as
    the callee of a call or in a define/declare header)."""
    taken: set[str] = set()
    for it in module.items:
        text = it if isinstance(it, str) else it.render()
        for m in _GLOBAL_REF_RE.finditer(text):
            if not m.group(2):
                taken.add("@" + m.group(1))
    return taken


def _is_local_linkage(fn: Function) -> bool:
    head = fn.header.split("@", 1)[0]
    return " internal " in f" {head} " or " private " in f" {head} "


class CIDesign(Design):
    name = "ci"

    def __init__(self, options: CIOptions | None = None):
        self.opts = options or CIOptions()
        self.defined: dict[str, Function] = {}
        self.instrumented: set[str] = set()
        self.leaf_cost: dict[str, int] = {}
        """Probe-free leaves: max path cost; calls to them need no write-back."""
        self.probe_free_cost: dict[str, int] = {}
        """Functions that ended up without any probe (e.g. noreturn paths): max path cost."""
        self.scc_of: dict[str, int] = {}
        self.bottom_up: list[str] = []
        self.opt_level = 2

    # ------------------------------------------------------------------ module level

    def begin_module(self, module: Module, functions: list[Function], stats: Stats,
                     opt_level: int = 2) -> None:
        self.opt_level = opt_level
        self.defined = {f.name: f for f in module.functions}
        self.instrumented = {f.name for f in functions}
        edges: dict[str, list[str]] = {}
        for f in functions:
            callees = []
            for b in f.blocks:
                for ins in b.instrs:
                    c = ins.callee
                    if c is not None and c.startswith("@") and c in self.instrumented:
                        callees.append(c)
            edges[f.name] = callees
        order = strongly_connected_components([f.name for f in functions], edges)
        self.bottom_up = [n for comp in order for n in comp]
        for k, comp in enumerate(order):
            for name in comp:
                self.scc_of[name] = k
        recursive = {n for comp in order if len(comp) > 1 for n in comp}
        recursive |= {n for n, cs in edges.items() if n in cs}
        taken = _address_taken(module)
        fns = {f.name: f for f in functions}
        for comp in order:  # callees before callers
            if len(comp) != 1:
                continue
            name = comp[0]
            if name in recursive or name in taken or not _is_local_linkage(fns[name]):
                continue
            cost = self._leaf_path_cost(fns[name])
            if cost is not None and cost <= self.opts.leaf_max:
                self.leaf_cost[name] = cost
                stats.bump("leaf_functions")

    def order(self, functions: list[Function]) -> list[Function]:
        """Callees before callers, so a caller knows which callees ended up probe-free."""
        rank = {n: i for i, n in enumerate(self.bottom_up)}
        return sorted(functions, key=lambda f: rank.get(f.name, -1))

    def _leaf_path_cost(self, fn: Function) -> int | None:
        """Max entry-to-exit cost of an acyclic function that calls nothing that may probe."""
        succs = fn.successors_map()
        entry = fn.entry.label
        if cycle_cut_edges(entry, succs):
            return None
        best: dict[str, int] = {}
        preds = predecessors(succs)
        for lbl in reverse_postorder(entry, succs):
            blk = self._blocks(fn)[lbl]
            total = 0
            for ins in blk.instrs:
                c = self._call_cost(ins)
                if c is None:
                    total += instr_cost(ins)
                    continue
                cost, flushes = c
                if flushes:
                    return None
                total += cost
            incoming = [best[p] for p in preds.get(lbl, []) if p in best]
            best[lbl] = total + (max(incoming) if incoming else 0)
        return max(best.values()) if best else 0

    def _blocks(self, fn: Function) -> dict[str, Block]:
        return fn.block_map()

    def _is_external_call(self, ins: Instr) -> bool:
        """A direct call to code outside this module (or a memory intrinsic)."""
        if ins.opcode not in ("call", "invoke"):
            return False
        callee = ins.callee
        if callee is None or not callee.startswith("@") or callee in self.defined:
            return False
        return not callee.startswith("@llvm.") or callee.startswith("@llvm.mem")

    def _call_cost(self, ins: Instr) -> tuple[int, bool] | None:
        """For a call-like instruction: (cost, needs the budget written back). None otherwise."""
        op = ins.opcode
        if op not in ("call", "invoke"):
            return None
        if ins.is_inline_asm:
            return 1, False
        callee = ins.callee
        if callee is None or not callee.startswith("@"):
            return 1, True  # indirect: the callee (if instrumented) counts itself
        name = callee[1:]
        if name.startswith("llvm."):
            if name.startswith("llvm.mem"):
                return external_call_cost(name, ins, self.opts.cost_table), False
            return instr_cost(ins), False
        if callee in self.leaf_cost:
            return 1 + self.leaf_cost[callee], False
        if callee in self.probe_free_cost:
            return 1 + self.probe_free_cost[callee], True
        if callee in self.instrumented:
            return 1, True
        if callee in self.defined:  # defined here but skipped: unknown behaviour
            return 1, True
        return external_call_cost(name, ins, self.opts.cost_table), name not in NO_CALLBACK

    # ------------------------------------------------------------------ per function

    def instrument(self, module: Module, fn: Function, stats: Stats) -> None:
        if fn.name in self.leaf_cost:
            stats.bump("probe_free_functions")
            return
        opts = self.opts
        blocks = self._blocks(fn)
        succs = fn.successors_map()
        entry = fn.entry.label
        rpo = reverse_postorder(entry, succs)
        reach = set(rpo)
        preds = predecessors(succs)
        cut = {(a, b) for (a, b) in cycle_cut_edges(entry, succs) if a in reach}
        headers = {b for (_, b) in cut}
        register = opts.register and self.opt_level > 0 and not self._returns_twice(fn)
        my_scc = self.scc_of.get(fn.name, -2)

        # Per-instruction costs and call properties.
        costs: dict[str, list[int]] = {}
        flush_at: dict[str, list[int]] = {}
        forced: dict[str, set[int]] = {}
        for lbl in rpo:
            blk = blocks[lbl]
            cl: list[int] = []
            fl: list[int] = []
            fo: set[int] = set()
            for i, ins in enumerate(blk.instrs):
                cc = self._call_cost(ins)
                if cc is None:
                    cl.append(instr_cost(ins))
                    continue
                cost, flushes = cc
                cl.append(cost)
                if flushes:
                    fl.append(i)
                    callee = ins.callee
                    if callee is None or not callee.startswith("@") or (
                        self.scc_of.get(callee, -1) == my_scc
                    ):
                        fo.add(i)  # may recurse: charge before the call
            costs[lbl] = cl
            flush_at[lbl] = fl
            forced[lbl] = fo

        # Small counted loops (unroller remainders, short constant loops) are folded: no probe
        # inside; their blocks are charged trip-count times along the acyclic path.
        folded = self._foldable_loops(fn, blocks, entry, succs, costs, cut)
        folded_edges: set[tuple[str, str]] = set()
        in_folded: set[str] = set()
        for loop, trips in folded:
            in_folded |= loop.blocks
            cut.discard((loop.latches[0], loop.header))
            folded_edges.add((loop.latches[0], loop.header))
            for lbl in loop.blocks:
                costs[lbl] = [c * trips for c in costs[lbl]]
            stats.bump("folded_loops")
        headers = {b for (_, b) in cut}

        fwd_preds = {
            lbl: [p for p in preds.get(lbl, [])
                  if p in reach and (p, lbl) not in cut and (p, lbl) not in folded_edges]
            for lbl in rpo
        }
        # Natural loops (reducible control flow) do not need a probe on their entry edges: the
        # cost pending on entry is carried through the loop and charged after its exit (`carry`).
        # Irreducible cycles keep a probe on every edge into their headers.
        forest = natural_loops(entry, succs) if headers else None
        carry_loops = {}
        if forest is not None and not forest.irreducible:
            carry_loops = {l.header: l for l in forest.loops if l.header in headers}
        must_end: set[str] = set()
        for h in headers:
            for p in preds.get(h, []):
                if p in reach and (h not in carry_loops or p in carry_loops[h].blocks):
                    must_end.add(p)
        for lbl in rpo:
            term = blocks[lbl].terminator
            if term is not None and term.opcode in ("ret", "resume"):
                must_end.add(lbl)

        def exited_carry(p: str, b: str, carry: dict[str, int]) -> int:
            """Cost carried by the loops that the edge p -> b leaves."""
            if forest is None or not carry:
                return 0
            total = 0
            loop = forest.loop_of(p)
            while loop is not None and b not in loop.blocks:
                total += carry.get(loop.header, 0)
                loop = loop.parent
            return total

        # Fixpoint: place probes, then charge heavier arms before joins that disagree.
        plan: dict[str, list[tuple[int, int]]] = {}
        for _ in range(len(rpo) + 1):
            pout_avg: dict[str, int] = {}
            pout_max: dict[str, int] = {}
            seen_out: dict[str, bool] = {}
            carry: dict[str, int] = {}
            plan = {}

            def incoming(lbl: str) -> list[int]:
                return [pout_avg[p] + exited_carry(p, lbl, carry) for p in fwd_preds[lbl]]

            for lbl in rpo:
                fp = fwd_preds[lbl]
                if lbl in headers:
                    # Latches are probed; entry edges either are too, or their pending cost
                    # is carried past the loop. For the bound, a latch's branch (cost 1) and the
                    # entry paths' probe-free distance are still pending.
                    pin_avg = 0
                    pin_max = max([pout_max[p] for p in fp] + [1])
                    if lbl in carry_loops and fp:
                        vals = incoming(lbl)
                        carry[lbl] = round(sum(vals) / len(vals))
                elif not fp:
                    pin_avg = pin_max = 0
                else:
                    vals = incoming(lbl)
                    pin_avg = round(sum(vals) / len(vals))
                    pin_max = max(pout_max[p] for p in fp)
                seen_in = bool(fp) and all(seen_out[p] for p in fp)
                placed, a, m, seen = self._place_in_block(
                    blocks[lbl], costs[lbl], forced[lbl], pin_avg, pin_max, lbl in must_end,
                    seen_in,
                )
                plan[lbl] = placed
                pout_avg[lbl] = a
                pout_max[lbl] = m
                seen_out[lbl] = seen
            changed = False
            # A loop entered with a long probe-free path would need probes inside its body
            # (run every iteration) to respect the bound: charge its entry edges instead.
            for h, loop in carry_loops.items():
                entry_preds = [p for p in fwd_preds[h] if p not in loop.blocks]
                if entry_preds and max(pout_max[p] for p in entry_preds) > self.opts.bound // 4:
                    for p in entry_preds:
                        if p not in must_end and p not in in_folded:
                            must_end.add(p)
                            changed = True
            for lbl in rpo:
                fp = fwd_preds[lbl]
                if len(fp) < 2 or lbl in headers:
                    continue
                vals = incoming(lbl)
                lo, hi = min(vals), max(vals)
                if hi - lo <= max(opts.deviation_abs, opts.deviation_rel * hi):
                    continue
                limit = lo + max(opts.deviation_abs, opts.deviation_rel * lo)
                for p, v in zip(fp, vals):
                    if v > limit and p not in must_end and p not in in_folded:
                        must_end.add(p)
                        changed = True
                        stats.bump("join_probes")
            if not changed:
                break

        nprobes = sum(len(v) for v in plan.values())
        # The budget lives in a register only where that pays: when some probe runs in a
        # cycle. Otherwise each probe updates the thread's budget in place, and calls need no
        # write-back.
        if register:
            in_cycle = _blocks_in_cycles(rpo, succs)
            register = any(plan[lbl] and lbl in in_cycle for lbl in rpo)
        if nprobes == 0:
            # No probe on any path (every path ends in a noreturn call): callers must charge
            # this function's whole cost at the call, as for a leaf.
            self.probe_free_cost[fn.name] = max(pout_max.values(), default=0)
            stats.bump("probe_free_functions")
        self._emit(fn, blocks, rpo, plan, flush_at, register, succs, stats)
        stats.probes += nprobes
        stats.blocks += len(rpo)
        fn.mark_modified()

    def _foldable_loops(self, fn, blocks, entry, succs, costs, cut):
        """Innermost loops with a small trip-count bound whose whole cost fits well in C."""
        if not cut:
            return []
        forest = natural_loops(entry, succs)
        if forest.irreducible:
            return []
        out = []
        for loop in forest.loops:
            if loop.children or len(loop.latches) != 1:
                continue
            if (loop.latches[0], loop.header) not in cut:
                continue
            if any(b in loop.blocks for (_, b) in cut if b != loop.header):
                continue
            trips = max_trip_count(fn, loop, blocks)
            if trips is None or trips <= 0:
                continue
            body = sum(sum(costs[lbl]) for lbl in loop.blocks if lbl in costs)
            if trips * body <= self.opts.bound // 2:
                out.append((loop, trips))
        return out

    def _returns_twice(self, fn: Function) -> bool:
        for b in fn.blocks:
            for ins in b.instrs:
                c = ins.callee
                if c is not None and c[1:] in RETURNS_TWICE:
                    return True
                if ins.opcode == "call" and "returns_twice" in ins.text:
                    return True
        return False

    def _place_in_block(
        self,
        blk: Block,
        costs: list[int],
        forced: set[int],
        pin_avg: int,
        pin_max: int,
        must_end: bool,
        seen: bool,
    ) -> tuple[list[tuple[int, int]], int, int, bool]:
        """Probe positions in one block: ``[(insert_before_index, cost)]``, the pending
        (average, maximum) cost at the block's end, and whether every path from the function
        entry to the block's end has passed a probe (``seen``: the same on entry)."""
        C = self.opts.bound
        instrs = blk.instrs
        first = blk.first_insertion_index()
        term_idx = len(instrs) - 1
        while term_idx > 0 and not instrs[term_idx].is_terminator:
            term_idx -= 1
        end_idx = term_idx
        j = term_idx - 1
        while j >= 0 and (instrs[j].is_debug_record or instrs[j].opcode == ";"):
            j -= 1
        if j >= 0 and instrs[j].is_musttail:
            end_idx = j
        placed: list[tuple[int, int]] = []
        acc_a, acc_m = pin_avg, pin_max
        for i, ins in enumerate(instrs):
            if i >= end_idx:
                break
            c = costs[i]
            # Expensive external calls are charged in full but count for at most C/4 toward
            # the bound: their cost is an estimate of code that has no probes anyway.
            c_bound = min(c, C // 4) if self._is_external_call(instrs[i]) else c
            can_insert = i >= first
            if can_insert and i in forced and not seen:
                # A call that may recurse: this activation must pass a probe before it.
                placed.append((i, max(acc_a, 1)))
                acc_a = acc_m = 0
                seen = True
            elif can_insert and acc_m > 0 and acc_m + c_bound > C:
                placed.append((i, max(acc_a, 1)))
                acc_a = acc_m = 0
                seen = True
            acc_a += c
            acc_m += c_bound
        tail_m = 0
        for k in range(max(end_idx, 0), len(instrs)):
            acc_a += costs[k]
            tail_m += min(costs[k], C // 4) if self._is_external_call(instrs[k]) else costs[k]
        acc_m += tail_m
        if instrs[term_idx].opcode == "unreachable" and acc_m <= C:
            return placed, acc_a, acc_m, seen
        if must_end or acc_m > C:
            # The probe charges the terminator too, but it runs after the probe: for the bound
            # it is still pending.
            placed.append((end_idx, max(acc_a, 1)))
            return placed, 0, tail_m, True
        return placed, acc_a, acc_m, seen

    def _emit(
        self,
        fn: Function,
        blocks: dict[str, Block],
        rpo: list[str],
        plan: dict[str, list[tuple[int, int]]],
        flush_at: dict[str, list[int]],
        register: bool,
        succs: dict[str, list[str]],
        stats: Stats,
    ) -> None:
        probe = P.probe_local_call if register else P.probe_call
        reload_blocks: set[str] = set()
        if register:
            stats.bump("register_functions")
            for lbl in rpo:
                term = blocks[lbl].terminator
                if term is not None and term.opcode == "invoke":
                    reload_blocks.update(succs[lbl])
        preds = predecessors(succs)
        flush_end: set[str] = set()
        for r in reload_blocks:
            flush_end.update(preds.get(r, []))
        for lbl in rpo:
            blk = blocks[lbl]
            inserts: list[tuple[int, int, Instr]] = []  # (index, order, instr)
            for idx, cost in plan[lbl]:
                inserts.append((idx, 0, probe(cost)))
            if register:
                term = blk.terminator
                for idx in flush_at[lbl]:
                    ins = blk.instrs[idx]
                    inserts.append((idx, 1, P.flush_call()))
                    if not ins.is_terminator and not ins.is_musttail:
                        inserts.append((idx + 1, -1, P.reload_call()))
                end_idx = len(blk.instrs) - 1
                while end_idx > 0 and not blk.instrs[end_idx].is_terminator:
                    end_idx -= 1
                j = end_idx - 1
                while j >= 0 and (blk.instrs[j].is_debug_record or blk.instrs[j].opcode == ";"):
                    j -= 1
                musttail = j >= 0 and blk.instrs[j].is_musttail
                if term is not None and (
                    term.opcode in ("ret", "resume") or lbl in flush_end
                ) and not musttail and term.opcode != "invoke":
                    inserts.append((end_idx, 2, P.flush_call()))
                if lbl in reload_blocks:
                    inserts.append((blk.first_insertion_index(), -2, P.reload_call()))
            # Insert from the back so indices stay valid; at equal index keep `order`.
            inserts.sort(key=lambda t: (t[0], t[1]))
            for idx, _, ins in reversed(inserts):
                blk.instrs.insert(idx, ins)
        if register:
            entry = fn.entry
            at = entry.first_insertion_index()
            entry.instrs.insert(at, P.reload_call())
            entry.instrs.insert(at, P.local_alloca())


def _blocks_in_cycles(rpo: list[str], succs: dict[str, list[str]]) -> set[str]:
    """Blocks that lie on some CFG cycle."""
    comps = strongly_connected_components(rpo, {b: succs.get(b, []) for b in rpo})
    out: set[str] = set()
    for comp in comps:
        if len(comp) > 1 or comp[0] in succs.get(comp[0], []):
            out.update(comp)
    return out
