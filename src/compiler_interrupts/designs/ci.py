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
   deviation; otherwise, if the join block has a probe anyway, that probe charges a PHI of the
   incoming paths' costs (exact, one probe per path), else the heavier predecessors are charged
   before the join.
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
from ..analysis.tripcount import max_trip_count, strip_candidate
from ..cost.model import external_call_cost, instr_cost
from ..cost.tables import NO_CALLBACK, RETURNS_TWICE
from ..emit import probes as P
from ..ir.model import Block, Function, Instr, Module
from .base import Design, Stats

#: C, the default bound on probe-free IR cost.  At the suite's 0.05-0.5 cycles per IR
#: instruction that is 50-500 cycles, a tenth of a 5,000-cycle interval or less; it sets the
#: length of strip-mined strips, whose refill cost shrinks with it (measured on the suite: 200
#: -> 1000 halves the probes' extra instructions on 9 of 23 programs, interval p50/p90 unchanged).
DEFAULT_BOUND = 1000

#: Charged for an indirect call (the callee may be a tiny function without a probe).
INDIRECT_CALL_COST = 6

#: IR instructions a strip-mined loop runs to set up a strip (limit, cost) before its probe.
STRIP_SETUP = 12

#: Fewest iterations per strip worth strip-mining a loop without calls (else: latch probe).
MIN_STRIP = 24


@dataclass
class CIOptions:
    bound: int = DEFAULT_BOUND
    """C: the largest IR cost a path may accumulate without passing a probe."""
    deviation_abs: int = 16
    """Joining paths share one increment if their pending costs differ by at most
    max(deviation_abs, deviation_rel * larger)."""
    deviation_rel: float = 0.3
    fold_share: float = 0.5
    """A loop with a proven trip-count bound is folded (no probe inside, charged bound x body
    along its parent's path) when that cost is at most ``fold_share * bound``."""
    dynamic_joins: bool = True
    """Where paths whose pending costs disagree rejoin in a block that has a probe anyway, let
    that probe charge each path's own cost (a PHI of the costs) instead of probing the heavier
    paths before the join."""
    single_probe: bool = True
    """Give a small acyclic function with similar path costs one probe at entry."""
    leaf_max: int = 50
    """Largest path cost of a function that gets no probe of its own."""
    tiny_max: int = 16
    """Largest path cost of a function that gets no probe even when it is address-taken or
    visible to other modules (a comparator, an accessor): its cost is charged by the calling
    code as part of the call (at an estimate for indirect calls and calls from other modules)."""
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
            if name in recursive:
                continue
            private = name not in taken and _is_local_linkage(fns[name])
            cost = self._leaf_path_cost(fns[name])
            limit = self.opts.leaf_max if private else self.opts.tiny_max
            if cost is not None and cost <= limit:
                self.leaf_cost[name] = cost
                stats.bump("leaf_functions" if private else "tiny_functions")

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
            # Indirect: an instrumented callee counts itself; a tiny probe-free one does not,
            # so charge a small estimate.
            return INDIRECT_CALL_COST, True
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

        # A small acyclic function whose paths cost about the same gets one probe, at entry,
        # charging the middle of its path costs (instead of one per disagreeing join).
        if not cut and opts.single_probe:
            single = self._single_probe_cost(blocks, rpo, preds, costs)
            if single is not None:
                plan = {lbl: [] for lbl in rpo}
                plan[entry] = [(blocks[entry].first_insertion_index(), single)]
                self._emit(fn, blocks, rpo, plan, flush_at, False, succs, stats)
                stats.probes += 1
                stats.blocks += len(rpo)
                stats.bump("single_probe_functions")
                fn.mark_modified()
                return

        # Small counted loops (unroller remainders, short constant loops) are folded: no probe
        # inside; their blocks are charged trip-count times along the acyclic path.
        folded = self._foldable_loops(fn, blocks, entry, succs, costs, cut, forced)
        folded_edges: set[tuple[str, str]] = set()
        in_folded: set[str] = set()
        fold_cost: list[tuple[object, int]] = []
        for loop, trips in folded:
            in_folded |= loop.blocks
            cut.discard((loop.latches[0], loop.header))
            folded_edges.add((loop.latches[0], loop.header))
            for lbl in loop.blocks:
                costs[lbl] = [c * trips for c in costs[lbl]]
            fold_cost.append((loop, sum(sum(costs[lbl]) for lbl in loop.blocks if lbl in costs)))
            stats.bump("folded_loops")
        # Counted loops with a runtime bound are strip-mined: the latch compares against a
        # strip limit at most K iterations ahead, and a probe charging the next strip runs only
        # when a strip ends (no probe inside the loop).
        strips = self._strip_loops(fn, blocks, entry, succs, costs, cut, forced, folded,
                                   flush_at)
        scale: dict[str, tuple[int, int]] = {}
        strip_headers: set[str] = set()
        extra_end: dict[str, int] = {}
        for loop, info, k, body in strips:
            strip_headers.add(loop.header)
            # Bound-only costs the rewrite adds: the strip set-up before the preheader's probe,
            # and per iteration the latch's compare with the limit (plus the check block).
            extra_end[info.preheader] = extra_end.get(info.preheader, 0) + STRIP_SETUP
            extra_end[info.latch] = extra_end.get(info.latch, 0) + k + 1
            in_folded |= loop.blocks
            cut.discard((loop.latches[0], loop.header))
            folded_edges.add((loop.latches[0], loop.header))
            for lbl in loop.blocks:
                scale[lbl] = (0, k)
            stats.bump("strip_mined_loops")
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

        # Joins that may charge their incoming paths exactly, with a PHI of the paths' pending
        # costs as the cost of the join's first probe (instead of probing the heavier arms
        # before the join). Only blocks whose edges the strip-miner leaves alone, and whose
        # predecessors all reach it on forward edges.
        strip_touch: set[str] = set()
        for loop, info, _, _ in strips:
            strip_touch |= loop.blocks
            strip_touch.update((info.exit, info.preheader))
        dyn_ok = {
            lbl for lbl in rpo
            if opts.dynamic_joins and lbl not in headers and lbl not in in_folded
            and lbl not in strip_touch and len(fwd_preds[lbl]) >= 2
            and all(p in fwd_preds[lbl] or p not in reach for p in preds.get(lbl, []))
        }

        # Fixpoint: place probes, then charge heavier arms before joins that disagree (or let
        # the join's own probe charge them exactly).
        plan: dict[str, list[tuple[int, int | str]]] = {}
        dyn_joins: set[str] = set()
        pin_of: dict[str, int] = {}
        for _ in range(len(rpo) + 1):
            pout_avg: dict[str, int] = {}
            pout_max: dict[str, int] = {}
            seen_out: dict[str, bool] = {}
            carry: dict[str, int] = {}
            plan = {}
            dyn_joins = set()
            seen_in_of: dict[str, bool] = {}

            def incoming(lbl: str) -> list[int]:
                return [pout_avg[p] + exited_carry(p, lbl, carry) for p in fwd_preds[lbl]]

            for lbl in rpo:
                fp = fwd_preds[lbl]
                if lbl in strip_headers:
                    # Entered right after the strip probe at the end of the preheader.
                    pin_max = 1
                    vals = incoming(lbl)
                    pin_avg = round(sum(vals) / len(vals)) if vals else 0
                elif lbl in headers:
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
                seen_in_of[lbl] = seen_in
                placed, a, m, seen = self._place_in_block(
                    blocks[lbl], costs[lbl], forced[lbl], pin_avg, pin_max, lbl in must_end,
                    seen_in, scale.get(lbl, (1, 1)), extra_end.get(lbl, 0),
                )
                plan[lbl] = placed
                pin_of[lbl] = pin_avg
                pout_avg[lbl] = a
                pout_max[lbl] = m
                seen_out[lbl] = seen
            changed = False
            # Probes that would run at every iteration of a loop go on its entry edges instead:
            # - a loop entered with a long probe-free path would need probes inside its body to
            #   respect the bound;
            # - a call that may recurse needs a probe before it in each activation: if nothing on
            #   the way into the loop has probed yet, that probe would sit before the call (e.g.
            #   an indirect call in a dispatch loop); later iterations pass the latch probe;
            # - a folded loop's body must not get a probe from the bound at all (it would charge
            #   the trip-count-scaled cost at every iteration).
            def probe_entry_edges(preds: list[str]) -> bool:
                new = [p for p in preds if p not in must_end and p not in in_folded]
                must_end.update(new)
                return bool(new)

            for h, loop in carry_loops.items():
                entry_preds = [p for p in fwd_preds[h] if p not in loop.blocks]
                if not entry_preds:
                    continue
                long_entry = max(pout_max[p] for p in entry_preds) > self.opts.bound // 4
                recursive_call = (
                    not seen_in_of.get(h, True)
                    and any(forced[lbl] for lbl in loop.blocks if lbl in forced)
                    and not any(p in in_folded for p in entry_preds)
                )
                if long_entry or recursive_call:
                    changed |= probe_entry_edges(entry_preds)
            for loop, whole in fold_cost:
                entry_preds = [p for p in fwd_preds[loop.header] if p not in loop.blocks]
                if entry_preds and max(pout_max[p] for p in entry_preds) + whole > self.opts.bound:
                    changed |= probe_entry_edges(entry_preds)
            for lbl in rpo:
                fp = fwd_preds[lbl]
                if len(fp) < 2 or lbl in headers:
                    continue
                vals = incoming(lbl)
                lo, hi = min(vals), max(vals)
                if hi - lo <= max(opts.deviation_abs, opts.deviation_rel * hi):
                    continue
                if lbl in dyn_ok and plan[lbl]:
                    dyn_joins.add(lbl)
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
            # A register costs a write-back and a reload around every call that may probe;
            # it saves a memory update at every probe (a store-to-load chain in tight loops).
            # Blocks are weighted 10^loop-depth as a stand-in for how often they run.
            # A probe gains from the register only in a loop without such calls: across a
            # call the budget goes through memory anyway.
            df = forest if forest is not None else natural_loops(entry, succs)
            weight = {l: 10 ** df.depth(l) for l in rpo}
            calls_in = {id(lp): 0 for lp in df.loops}
            for l in rpo:
                lp = df.loop_of(l)
                while lp is not None and flush_at[l]:
                    calls_in[id(lp)] += len(flush_at[l])
                    lp = lp.parent
            gain = sum(len(plan[l]) * weight[l] for l in rpo
                       if df.loop_of(l) is not None and calls_in[id(df.loop_of(l))] == 0)
            # (A strip-mined loop's probe runs once per strip, at the depth of its preheader:
            # no gain from a register there.)
            cost = sum(len(flush_at[l]) * weight[l] for l in rpo if weight[l] > 1)
            register = gain > 0 and gain > cost
        if nprobes == 0:
            # No probe on any path (every path ends in a noreturn call): callers must charge
            # this function's whole cost at the call, as for a leaf.
            self.probe_free_cost[fn.name] = max(pout_max.values(), default=0)
            stats.bump("probe_free_functions")
        for n, lbl in enumerate(sorted(dyn_joins, key=rpo.index)):
            # The join's first probe charges pin_avg plus the block's own prefix; charge each
            # incoming path's own pending cost instead, one PHI entry per CFG edge.
            idx, charged = plan[lbl][0]
            delta = charged - pin_of[lbl]
            name = f"%ci.pc{n}"
            entries = []
            for p in preds.get(lbl, []):
                v = max(pout_avg[p] + exited_carry(p, lbl, carry) + delta, 0) if p in reach else 0
                entries += [f"[ {v}, %{p} ]"] * blocks[p].successors.count(lbl)
            blocks[lbl].instrs.insert(0, Instr(f"  {name} = phi i64 " + ", ".join(entries)))
            plan[lbl][0] = (idx + 1, name)
            for i in range(1, len(plan[lbl])):
                plan[lbl][i] = (plan[lbl][i][0] + 1, plan[lbl][i][1])
            flush_at[lbl] = [i + 1 for i in flush_at[lbl]]
            stats.bump("dynamic_joins")
        self._emit(fn, blocks, rpo, plan, flush_at, register, succs, stats)
        for n, (loop, info, k, body) in enumerate(strips):
            _strip_mine(module, fn, blocks, loop, info, k, body, n, register)
        stats.probes += nprobes + len(strips) * 2
        stats.blocks += len(rpo)
        fn.mark_modified()

    def _single_probe_cost(self, blocks, rpo, preds, costs) -> int | None:
        """For an acyclic function: the cost one entry probe charges, if every path from entry
        to a return fits in C (external calls counted as for the bound) and the cheapest and
        dearest return paths differ by at most ``max(2 * deviation_abs, 2 * deviation_rel *
        dearest)`` (the entry probe charges their midpoint). Else None."""
        C = self.opts.bound
        lo: dict[str, int] = {}
        hi: dict[str, int] = {}
        hb: dict[str, int] = {}
        for lbl in rpo:
            blk = blocks[lbl]
            own = sum(costs[lbl])
            own_b = sum((min(c, C // 4) if self._is_external_call(ins) else c)
                        for c, ins in zip(costs[lbl], blk.instrs))
            ps = [p for p in preds.get(lbl, []) if p in lo]
            lo[lbl] = own + (min(lo[p] for p in ps) if ps else 0)
            hi[lbl] = own + (max(hi[p] for p in ps) if ps else 0)
            hb[lbl] = own_b + (max(hb[p] for p in ps) if ps else 0)
            if hb[lbl] > C:
                return None
        rets = [lbl for lbl in rpo if blocks[lbl].terminator is not None
                and blocks[lbl].terminator.opcode in ("ret", "resume")]
        if not rets:
            return None
        cheapest = min(lo[r] for r in rets)
        dearest = max(hi[r] for r in rets)
        tol = max(2 * self.opts.deviation_abs, 2 * self.opts.deviation_rel * dearest)
        if dearest - cheapest > tol:
            return None
        return max(1, round((cheapest + dearest) / 2))

    def _foldable_loops(self, fn, blocks, entry, succs, costs, cut, forced):
        """Innermost loops with a small trip-count bound whose whole cost fits well in C."""
        if not cut:
            return []
        forest = natural_loops(entry, succs)
        if forest.irreducible:
            return []
        out = []
        defs = None
        for loop in forest.loops:
            if loop.children or len(loop.latches) != 1:
                continue
            if (loop.latches[0], loop.header) not in cut:
                continue
            if any(b in loop.blocks for (_, b) in cut if b != loop.header):
                continue
            if any(forced[lbl] for lbl in loop.blocks if lbl in forced):
                continue  # a probe before a call that may recurse would run every iteration
            if defs is None:
                defs = {ins.name: ins for b in fn.blocks for ins in b.instrs if ins.name is not None}
            trips = max_trip_count(fn, loop, blocks, defs)
            if trips is None or trips <= 0:
                continue
            body = sum(sum(costs[lbl]) for lbl in loop.blocks if lbl in costs)
            if trips * body <= self.opts.bound * self.opts.fold_share:
                out.append((loop, trips))
        return out

    def _strip_loops(self, fn, blocks, entry, succs, costs, cut, forced, folded, flush_at):
        """Innermost counted loops to strip-mine: [(loop, StripInfo, K, body cost)]."""
        if not cut:
            return []
        forest = natural_loops(entry, succs)
        if forest.irreducible:
            return []
        done = {id(l) for l, _ in folded}
        loop_headers = {l.header for l in forest.loops}
        defs = {ins.name: ins for b in fn.blocks for ins in b.instrs if ins.name is not None}
        out = []
        for loop in forest.loops:
            if id(loop) in done or loop.children or len(loop.latches) != 1:
                continue
            latch = loop.latches[0]
            if (latch, loop.header) not in cut:
                continue
            if any(b in loop.blocks for (_, b) in cut if b != loop.header):
                continue
            if any(forced[lbl] for lbl in loop.blocks if lbl in forced):
                continue
            info = strip_candidate(fn, loop, blocks, defs)
            if info is None or info.width > 64 or info.exit == loop.header:
                continue
            # Keep rewrites independent: the exit must not start another loop, and the
            # preheader must not belong to one (its edges would be rewritten twice).
            if info.exit in loop_headers or not _is_ancestor(forest.loop_of(info.preheader), loop):
                continue
            if not _phis_editable(blocks[loop.header]) or not _phis_editable(blocks[info.exit]):
                continue
            body = _longest_path(loop, succs, costs, latch)
            if body <= 0:
                continue
            # A strip runs k iterations plus the check and the next strip's set-up (~16 IR
            # instructions) between two probes.
            body += 1  # the latch's compare against the strip limit
            k = (self.opts.bound - 2 * STRIP_SETUP) // body
            # A strip ends with a loop exit the branch predictor rarely foresees (~20 cycles)
            # and a refill (~12 instructions). Without calls in the loop the alternative is a
            # latch probe in a register, about one cycle per iteration: strips pay off only
            # when they are long. With calls, a latch probe updates memory, and strips win
            # earlier.
            calls = any(flush_at.get(lbl) for lbl in loop.blocks)
            if k < (4 if calls else MIN_STRIP):
                continue
            out.append((loop, info, k, body))
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
        scale: tuple[int, int] = (1, 1),
        extra_end: int = 0,
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
            c = costs[i] * scale[0]
            # Expensive external calls are charged in full but count for at most C/4 toward
            # the bound: their cost is an estimate of code that has no probes anyway.
            c_bound = (min(costs[i], C // 4) if self._is_external_call(instrs[i])
                       else costs[i]) * scale[1]
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
            acc_a += costs[k] * scale[0]
            tail_m += (min(costs[k], C // 4) if self._is_external_call(instrs[k])
                       else costs[k]) * scale[1]
        acc_m += tail_m + extra_end
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
        plan: dict[str, list[tuple[int, int | str]]],
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


_PHI_PAIR_RE = re.compile(r"\[ ([^\[\]]+?), %([-a-zA-Z$._0-9]+|\"[^\"]*\") \]")


def _phis_editable(blk: Block) -> bool:
    """All PHIs of the block have incoming lists we can rewrite textually."""
    for ins in blk.instrs:
        if ins.opcode != "phi":
            continue
        head = ins.text.split("[", 1)[0]
        pairs = _PHI_PAIR_RE.findall(ins.text)
        if not pairs or ins.text.count("[") != len(pairs) or "\n" in ins.text or not head:
            return False
    return True


def _longest_path(loop, succs: dict[str, list[str]], costs: dict[str, list[int]],
                  latch: str) -> int:
    """Largest cost of one iteration: header to latch inside the loop (back edge removed)."""
    order: list[str] = []
    seen: set[str] = set()
    stack = [(loop.header, iter(succs.get(loop.header, [])))]
    seen.add(loop.header)
    while stack:
        node, it = stack[-1]
        for s in it:
            if s in loop.blocks and s not in seen and s != loop.header:
                seen.add(s)
                stack.append((s, iter(succs.get(s, []))))
                break
        else:
            order.append(node)
            stack.pop()
    order.reverse()
    best: dict[str, int] = {}
    for lbl in order:
        own = sum(costs[lbl])
        incoming = [best[p] for p in best if lbl in succs.get(p, []) and lbl != loop.header]
        best[lbl] = own + (max(incoming) if incoming else 0)
    return max(best.values(), default=0)


def _strip_mine(module: Module, fn: Function, blocks: dict[str, Block], loop, info, k: int,
                body: int, n: int, register: bool) -> None:
    """Rewrite ``loop`` so that its latch exits every ``k`` iterations to a refill block that
    charges the next strip and re-enters the header; the original exit test decides between
    the refill and the real exit."""
    w = f"i{info.width}"
    tag = f"{n}"
    lim, chk, refill = f"%ci.lim.{tag}", f"ci.chk.{tag}", f"ci.refill.{tag}"
    header, latch_lbl, pre_lbl, exit_lbl = loop.header, info.latch, info.preheader, info.exit
    probe = P.probe_local_call if register else P.probe_call
    intrinsics: set[str] = set()

    step = info.step
    inclusive = info.pred in ("ugt", "sgt")  # "<=" loop: a strip runs span/step + 1 iterations
    span = (k - 1 if inclusive else k) * step
    shift = step.bit_length() - 1

    def limit_code(x: str, suffix: str) -> tuple[list[str], str, str]:
        """Instructions computing the strip limit from IV value ``x`` (at most ``k`` steps
        ahead, and met exactly by the IV), its name, and the strip's cost (i64)."""
        p = f"%ci.{suffix}.{tag}"
        code: list[str] = []
        if info.pred in ("ult", "slt", "ugt", "sgt"):
            sat = "uadd" if info.pred[0] == "u" else "sadd"
            mn = "umin" if info.pred[0] == "u" else "smin"
            intrinsics.add(f"declare {w} @llvm.{sat}.sat.{w}({w}, {w})")
            intrinsics.add(f"declare {w} @llvm.{mn}.{w}({w}, {w})")
            code.append(f"  {p}.t = call {w} @llvm.{sat}.sat.{w}({w} {x}, {w} {span})")
            code.append(f"  {p}.lim = call {w} @llvm.{mn}.{w}({w} {p}.t, {w} {info.bound})")
        else:
            # bound - x in [1, span] (and a multiple of the step): the exit test is met within
            # this strip. Otherwise (the original loop would wrap around) strips of k steps
            # keep it probed.
            code.append(f"  {p}.d = sub {w} {info.bound}, {x}")
            code.append(f"  {p}.d1 = add {w} {p}.d, -1")
            near = f"{p}.near"
            code.append(f"  {near} = icmp ult {w} {p}.d1, {span}")
            if step > 1:
                code.append(f"  {p}.rem = and {w} {p}.d, {step - 1}")
                code.append(f"  {p}.even = icmp eq {w} {p}.rem, 0")
                code.append(f"  {p}.ok = and i1 {near}, {p}.even")
                near = f"{p}.ok"
            code.append(f"  {p}.t = add {w} {x}, {span}")
            code.append(f"  {p}.lim = select i1 {near}, {w} {info.bound}, {w} {p}.t")
        # The strip's charge: (limit - x) elements at body/step each. (For a "<" test entered
        # with x past the bound the difference wraps and the charge is huge: the handler just
        # runs early, once.)
        code.append(f"  {p}.n = sub {w} {p}.lim, {x}")
        n64 = f"{p}.n"
        if info.width < 64:
            code.append(f"  {p}.n64 = zext {w} {p}.n to i64")
            n64 = f"{p}.n64"
        if inclusive:  # (limit - x) / step + 1 iterations
            if step > 1:
                code.append(f"  {p}.q = lshr i64 {n64}, {shift}")
                n64 = f"{p}.q"
            code.append(f"  {p}.it = add i64 {n64}, 1")
            code.append(f"  {p}.cost = mul i64 {p}.it, {body}")
        elif step == 1:
            code.append(f"  {p}.cost = mul i64 {n64}, {body}")
        else:
            code.append(f"  {p}.c = mul i64 {n64}, {body}")
            code.append(f"  {p}.cost = lshr i64 {p}.c, {shift}")
        return code, f"{p}.lim", f"{p}.cost"

    # Preheader: the first strip's limit and charge.
    pre = blocks[pre_lbl]
    code0, lim0, cost0 = limit_code(info.start, "s")
    at = _terminator_index(pre)
    new0 = [Instr(t) for t in code0] + [_var_probe(probe, cost0)]
    pre.instrs[at:at] = new0

    # Header: the strip limit as a PHI; existing PHIs also come from the refill block.
    hdr = blocks[header]
    for ins in hdr.instrs:
        if ins.opcode != "phi":
            continue
        pairs = _PHI_PAIR_RE.findall(ins.text)
        from_latch = [v for v, b in pairs if b == latch_lbl]
        if len(from_latch) != 1:
            continue
        ins.text = _append_phi_incoming(ins.text, from_latch[0], refill)
        ins.__dict__.pop("_decoded", None)
    code1, lim1, cost1 = limit_code(info.next, "r")
    hdr.instrs.insert(0, Instr(
        f"  {lim} = phi {w} [ {lim0}, %{pre_lbl} ], [ {lim}, %{latch_lbl} ], [ {lim1}, %{refill} ]"
    ))

    # Latch: compare against the strip limit; leave to the check block at a strip's end.
    lt = blocks[latch_lbl]
    ti = _terminator_index(lt)
    term = lt.instrs[ti]
    meta = term.text.split(", !", 1)
    tail = ", !" + meta[1] if len(meta) > 1 else ""
    cond = f"%ci.c.{tag}"
    lt.instrs.insert(ti, Instr(f"  {cond} = icmp {info.pred} {w} {info.next}, {lim}"))
    if info.continue_on_true:
        lt.instrs[ti + 1] = Instr(f"  br i1 {cond}, label %{header}, label %{chk}{tail}")
        chk_term = f"  br i1 {info.cond}, label %{refill}, label %{exit_lbl}"
    else:
        lt.instrs[ti + 1] = Instr(f"  br i1 {cond}, label %{chk}, label %{header}{tail}")
        chk_term = f"  br i1 {info.cond}, label %{exit_lbl}, label %{refill}"

    # The exit now comes from the check block.
    ex = blocks[exit_lbl]
    for ins in ex.instrs:
        if ins.opcode == "phi":
            ins.text = re.sub(r"(\[ [^\[\]]+?, )%" + re.escape(latch_lbl) + r" \]",
                              lambda m: m.group(1) + f"%{chk} ]", ins.text)
            ins.__dict__.pop("_decoded", None)

    fn.blocks.append(Block(chk, f"{chk}:", [Instr(chk_term)]))
    fn.blocks.append(Block(refill, f"{refill}:",
                           [Instr(t) for t in code1] + [_var_probe(probe, cost1),
                                                        Instr(f"  br label %{header}")]))
    for decl in sorted(intrinsics):
        name = decl.split("@", 1)[1].split("(", 1)[0]
        if not module.mentions("@" + name):
            module.append_toplevel(decl)


def _is_ancestor(outer, loop) -> bool:
    """``outer`` is None or a loop enclosing ``loop``."""
    p = loop.parent
    while p is not None:
        if p is outer:
            return True
        p = p.parent
    return outer is None


def _terminator_index(blk: Block) -> int:
    i = len(blk.instrs) - 1
    while i > 0 and not blk.instrs[i].is_terminator:
        i -= 1
    return i


def _var_probe(probe, cost_value: str) -> Instr:
    """A probe whose cost is an i64 SSA value."""
    ins = probe(0)
    ins.text = ins.text.replace("i64 0)", f"i64 {cost_value})")
    return ins


def _append_phi_incoming(text: str, value: str, label: str) -> str:
    """Add ``[ value, %label ]`` after the last incoming pair of a PHI (before metadata)."""
    last = None
    for m in _PHI_PAIR_RE.finditer(text):
        last = m
    assert last is not None
    return text[: last.end()] + f", [ {value}, %{label} ]" + text[last.end():]
