"""The static probe checker: proves that instrumented IR cannot run unboundedly without probes.

It reads the pass output (probes still visible as calls to ``@__ci_probe``/``@__ci_probe_local``)
and, independently of the design that placed them, checks for every instrumented function that

1. every CFG cycle passes a probe: the blocks without a probe induce an acyclic subgraph; and
2. the maximum probe-free path cost, measured with the same cost model, does not exceed the
   bound ``C``. A path is probe-free from the last probe it passed (or the function entry) to
   the next probe (or a return). Calls to functions of the same module that carry no probe are
   charged their own maximum path cost; calls to external code are charged the cost model's
   estimate but at most C/4 each ("external calls aside": their real cost is not ours to bound).

Functions the pass left uninstrumented on purpose are reported as skipped, not as failures.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from .analysis.cfg import predecessors, reverse_postorder
from .analysis.loops import natural_loops
from .analysis.tripcount import max_trip_count, strip_trip_bound
from .cost.model import external_call_cost, instr_cost
from .emit import probes as P
from .ir.model import Function, Instr, Module


@dataclass
class FunctionReport:
    name: str
    probes: int
    max_probe_free: int
    """Largest probe-free path cost (IR instructions)."""
    probe_free_cycle: list[str] = field(default_factory=list)
    """Blocks of a cycle without a probe (empty if none)."""
    probe_free_function: bool = False

    def ok(self, bound: int) -> bool:
        return not self.probe_free_cycle and self.max_probe_free <= bound


@dataclass
class CheckReport:
    bound: int
    functions: list[FunctionReport]

    @property
    def failures(self) -> list[FunctionReport]:
        return [f for f in self.functions if not f.ok(self.bound)]

    def render(self, verbose: bool = False) -> str:
        lines = []
        for f in self.functions:
            if not verbose and f.ok(self.bound):
                continue
            status = "ok" if f.ok(self.bound) else "FAIL"
            extra = ""
            if f.probe_free_cycle:
                extra = " cycle without probe through %" + ", %".join(f.probe_free_cycle[:6])
            kind = " (probe-free leaf)" if f.probe_free_function else ""
            lines.append(f"{status}: {f.name}{kind}: probes={f.probes} "
                         f"max probe-free cost={f.max_probe_free}{extra}")
        worst = max((f.max_probe_free for f in self.functions), default=0)
        lines.append(f"checked {len(self.functions)} functions: {len(self.failures)} failing, "
                     f"worst probe-free path {worst} (bound {self.bound})")
        return "\n".join(lines)


def _find_cycle(nodes: set[str], succs: dict[str, list[str]]) -> list[str]:
    """Some cycle within ``nodes`` (iterative DFS), or []."""
    color: dict[str, int] = {}
    for root in sorted(nodes):
        if root in color:
            continue
        stack = [(root, iter(succs.get(root, [])))]
        path = [root]
        color[root] = 1
        while stack:
            node, it = stack[-1]
            advanced = False
            for s in it:
                if s not in nodes:
                    continue
                c = color.get(s)
                if c == 1:
                    return path[path.index(s):]
                if c is None:
                    color[s] = 1
                    stack.append((s, iter(succs.get(s, []))))
                    path.append(s)
                    advanced = True
                    break
            if not advanced:
                color[node] = 2
                stack.pop()
                path.pop()
    return []


class Checker:
    def __init__(self, module: Module, bound: int, cost_table: dict | None = None):
        self.module = module
        self.bound = bound
        self.table = cost_table
        self.fns = {f.name: f for f in module.functions}
        self.helper_names = {P.PROBE_FN, P.PROBE_LOCAL_FN, P.FLUSH_FN, P.RELOAD_FN}
        self.has_probe = {
            f.name: any(P.is_probe(i) for b in f.blocks for i in b.instrs) for f in module.functions
        }
        self._fn_cost: dict[str, int] = {}
        self._active: set[str] = set()

    def cost(self, ins: Instr) -> int:
        op = ins.opcode
        if op == "alloca" and ins.name == P.LOCAL:
            return 0  # our budget slot: promoted to a register, no code
        if op not in ("call", "invoke") or ins.is_inline_asm:
            return instr_cost(ins)
        callee = ins.callee
        if callee is None or not callee.startswith("@"):
            return 1
        if callee in self.helper_names:
            return 0
        name = callee[1:]
        if name.startswith("llvm."):
            if name.startswith("llvm.mem"):
                return min(external_call_cost(name, ins, self.table), self.bound // 4)
            return instr_cost(ins)
        if callee in self.fns:
            if self.has_probe.get(callee):
                return 1
            return 1 + self.function_cost(callee)
        return min(external_call_cost(name, ins, self.table), self.bound // 4)

    def function_cost(self, name: str) -> int:
        """Max entry-to-exit cost of a probe-free function (recursion counts as unbounded)."""
        if name in self._fn_cost:
            return self._fn_cost[name]
        if name in self._active:
            return 10**9
        self._active.add(name)
        rep = self.check_function(self.fns[name])
        self._active.discard(name)
        self._fn_cost[name] = rep.max_probe_free if not rep.probe_free_cycle else 10**9
        return self._fn_cost[name]

    def check_function(self, fn: Function) -> FunctionReport:
        blocks = fn.block_map()
        succs = fn.successors_map()
        entry = fn.entry.label
        order = reverse_postorder(entry, succs)
        reach = set(order)
        probe_blocks = {b for b in reach if any(P.is_probe(i) for i in blocks[b].instrs)}
        nprobes = sum(1 for b in reach for i in blocks[b].instrs if P.is_probe(i))
        free = reach - probe_blocks
        # Innermost probe-free loops with a proven trip-count bound count as straight-line code
        # executed that many times: drop their back edge, scale their blocks' costs.
        scale: dict[str, int] = {}
        if _find_cycle(free, succs):
            forest = natural_loops(entry, succs)
            preds0 = predecessors(succs)
            for loop in forest.loops:
                free_latches = [l for l in loop.latches if l in free]
                if len(free_latches) != 1 or loop.header not in free:
                    continue
                latch = free_latches[0]
                body = _single_latch_body(loop.header, latch, preds0)
                if not body <= free:
                    continue
                trips = None
                if len(loop.latches) == 1 and not loop.children:
                    trips = max_trip_count(fn, loop, blocks)
                if trips is None:
                    trips = strip_trip_bound(fn, loop, blocks, latch=latch)
                if trips is None:
                    continue
                succs = dict(succs)
                succs[latch] = [s for s in succs[latch] if s != loop.header]
                for b in body:
                    scale[b] = scale.get(b, 1) * trips
        cycle = _find_cycle(free, succs)
        if cycle:
            return FunctionReport(fn.name, nprobes, 10**9, cycle)
        # Longest probe-free path. Within a block: cost before the first probe (head), after
        # the last (tail), and the largest segment between probes (inner).
        head: dict[str, int] = {}
        tail: dict[str, int] = {}
        inner: dict[str, int] = {}
        for b in reach:
            segs = [0]
            k = scale.get(b, 1)
            for ins in blocks[b].instrs:
                if P.is_probe(ins):
                    segs.append(0)
                else:
                    segs[-1] += self.cost(ins) * k
            head[b], tail[b] = segs[0], segs[-1]
            inner[b] = max(segs[1:-1], default=0)
        preds = predecessors(succs)
        # Topological order of the probe-free subgraph plus probe blocks (edges out of a probe
        # block start from its tail; edges into it end at its head).
        pend_out: dict[str, int] = {}
        worst = 0
        # The free subgraph is acyclic, so a longest-path DP over a topological order of it works;
        # probe blocks only contribute their tails as sources.
        indeg = {b: 0 for b in free}
        for b in free:
            for p in preds.get(b, []):
                if p in free:
                    indeg[b] += 1
        ready = [b for b in free if indeg[b] == 0]
        topo: list[str] = []
        while ready:
            b = ready.pop()
            topo.append(b)
            for s in succs.get(b, []):
                if s in free:
                    indeg[s] -= 1
                    if indeg[s] == 0:
                        ready.append(s)
        for b in probe_blocks:
            pend_out[b] = tail[b]
        for b in topo:
            incoming = [pend_out[p] for p in preds.get(b, []) if p in pend_out]
            pin = max(incoming, default=0)
            pend_out[b] = pin + head[b]
        for b in probe_blocks:
            incoming = [pend_out[p] for p in preds.get(b, []) if p in pend_out]
            pin = max(incoming, default=0)
            worst = max(worst, pin + head[b], inner[b], tail[b])
        for b in free:
            worst = max(worst, pend_out[b])
        return FunctionReport(fn.name, nprobes, worst, [], probe_free_function=nprobes == 0)


def _single_latch_body(header: str, latch: str, preds: dict[str, list[str]]) -> set[str]:
    """Blocks of the cycle(s) closed by the back edge latch -> header."""
    body = {header, latch}
    stack = [latch] if latch != header else []
    while stack:
        b = stack.pop()
        for p in preds.get(b, []):
            if p not in body:
                body.add(p)
                stack.append(p)
    return body


def check_module(module: Module, bound: int, skip: set[str] | None = None,
                 cost_table: dict | None = None) -> CheckReport:
    """Check every function of an instrumented module (``skip``: names the pass skipped)."""
    checker = Checker(module, bound, cost_table)
    reports = []
    for fn in module.functions:
        if fn.name in checker.helper_names or (skip and fn.name in skip):
            continue
        # A function without probes passes when its whole cost is within the bound: its
        # callers in this module charge it at the call.
        reports.append(checker.check_function(fn))
    return CheckReport(bound, reports)
