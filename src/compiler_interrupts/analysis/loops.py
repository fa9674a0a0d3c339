"""Natural loops, loop nesting and cycle cut sets on abstract CFGs.

A *back edge* is an edge ``a -> h`` whose target ``h`` dominates its source ``a``. The natural
loop of header ``h`` is ``h`` plus every block that can reach one of its latches without
passing through ``h``; back edges sharing a header are merged into a single loop. Natural
loops with different headers are either disjoint or strictly nested, which gives the loop
forest.

Natural loops only describe *reducible* control flow. A cycle entered at two different blocks
(irreducible control flow) contains no back edge; :attr:`LoopForest.irreducible` flags such
graphs, and :func:`cycle_cut_edges` returns a set of edges that cuts *every* cycle, reducible or
not, which is what instrumentation needs to guarantee that every cycle passes a probe.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field

from .cfg import depth_first_search
from .dominance import DomTree, dominators

__all__ = ["Loop", "LoopForest", "cycle_cut_edges", "natural_loops"]

Succs = Mapping[str, Sequence[str]]


@dataclass(eq=False)
class Loop:
    """A natural loop.

    ``latches`` are the loop blocks with an edge to ``header`` (in reverse postorder),
    ``blocks`` contains every block of the loop including the header and nested loops,
    ``exits`` lists the edges ``(inside, outside)`` leaving the loop and ``exit_blocks`` their
    distinct targets. ``depth`` is 1 for outermost loops. Loops compare by identity.
    """

    header: str
    latches: list[str]
    blocks: set[str]
    exits: list[tuple[str, str]] = field(default_factory=list)
    exit_blocks: list[str] = field(default_factory=list)
    parent: Loop | None = None
    children: list[Loop] = field(default_factory=list)
    depth: int = 1

    @property
    def is_innermost(self) -> bool:
        """Return True if the loop contains no nested loop."""
        return not self.children

    def __contains__(self, block: object) -> bool:
        """Return True if ``block`` belongs to the loop (nested loops included)."""
        return block in self.blocks

    def __len__(self) -> int:
        """Return the number of blocks in the loop."""
        return len(self.blocks)

    def __repr__(self) -> str:
        # Avoid the default dataclass repr: parent/children would recurse forever.
        return (
            f"Loop(header={self.header!r}, latches={self.latches!r}, "
            f"blocks={len(self.blocks)}, depth={self.depth})"
        )


@dataclass(frozen=True)
class LoopForest:
    """The natural loops of a CFG and their nesting.

    ``loops`` holds every loop in preorder of the nesting forest (outer loops before the loops
    they contain; siblings ordered by the reverse-postorder position of their header),
    ``top_level`` the outermost loops. ``backedges`` are the edges ``a -> h`` with ``h``
    dominating ``a``. ``irreducible`` is True when some cycle is not covered by natural loops,
    i.e. a DFS retreating edge whose target does not dominate its source exists; those edges
    are listed in ``irreducible_edges``.
    """

    loops: tuple[Loop, ...]
    top_level: tuple[Loop, ...]
    backedges: frozenset[tuple[str, str]]
    irreducible: bool
    irreducible_edges: tuple[tuple[str, str], ...]
    _innermost: Mapping[str, Loop] = field(repr=False)

    def __iter__(self) -> Iterator[Loop]:
        """Iterate over all loops, outermost first (preorder)."""
        return iter(self.loops)

    def __len__(self) -> int:
        """Return the number of loops."""
        return len(self.loops)

    def loop_of(self, block: str) -> Loop | None:
        """Return the innermost loop containing ``block`` (None if it is in no loop)."""
        return self._innermost.get(block)

    def is_backedge(self, a: str, b: str) -> bool:
        """Return True if ``a -> b`` is a back edge (``b`` is a loop header dominating ``a``)."""
        return (a, b) in self.backedges

    def depth(self, block: str) -> int:
        """Return the loop nesting depth of ``block`` (0 outside loops, 1 in outermost)."""
        loop = self._innermost.get(block)
        return 0 if loop is None else loop.depth

    def header_of(self, block: str) -> str | None:
        """Return the header of the innermost loop containing ``block`` (None if none)."""
        loop = self._innermost.get(block)
        return None if loop is None else loop.header


def natural_loops(entry: str, succs: Succs, dom: DomTree | None = None) -> LoopForest:
    """Return the :class:`LoopForest` of the blocks reachable from ``entry``.

    ``dom`` may be a precomputed :func:`~compiler_interrupts.analysis.dominance.dominators`
    tree of the same graph. Unreachable blocks belong to no loop.
    """
    if dom is None:
        dom = dominators(entry, succs)
    dfs = depth_first_search((entry,), succs)
    rpo = list(reversed(dfs.postorder))
    pos = {b: i for i, b in enumerate(rpo)}

    # Back edges, grouped by header; latches in reverse postorder. A header dominating its
    # latch is a DFS ancestor of it, so every back edge is a retreating edge; the retreating
    # edges whose target does not dominate their source witness irreducible cycles.
    latches: dict[str, list[str]] = {}
    backedges: set[tuple[str, str]] = set()
    irreducible: list[tuple[str, str]] = []
    for a, h in dfs.retreating:
        if dom.dominates(h, a):
            backedges.add((a, h))
            latches.setdefault(h, []).append(a)
        else:
            irreducible.append((a, h))
    for lst in latches.values():
        lst.sort(key=pos.__getitem__)
    irreducible_edges = tuple(irreducible)

    # Predecessors restricted to reachable blocks (computed lazily only if there are loops).
    preds: dict[str, list[str]] = {}
    if latches:
        preds = {b: [] for b in rpo}
        for a in rpo:
            for s in dict.fromkeys(succs.get(a, ())):
                preds[s].append(a)

    loops: list[Loop] = []
    for h in sorted(latches, key=pos.__getitem__):
        body = {h}
        work = [b for b in latches[h] if b != h]
        body.update(work)
        while work:
            b = work.pop()
            for p in preds[b]:
                if p not in body:
                    body.add(p)
                    work.append(p)
        loops.append(Loop(header=h, latches=latches[h], blocks=body))

    # Nesting: a loop containing another loop's header contains that whole loop and is
    # strictly larger, so visiting loops by decreasing size leaves each block mapped to its
    # innermost loop, and a loop's parent is the innermost larger loop holding its header.
    innermost: dict[str, Loop] = {}
    for loop in sorted(loops, key=lambda lp: (-len(lp.blocks), pos[lp.header])):
        loop.parent = innermost.get(loop.header)
        for b in loop.blocks:
            innermost[b] = loop
    top_level: list[Loop] = []
    for loop in loops:  # header reverse postorder => children lists are ordered too
        if loop.parent is None:
            top_level.append(loop)
        else:
            loop.parent.children.append(loop)

    # Preorder of the forest, depths, exits.
    ordered: list[Loop] = []
    stack = list(reversed(top_level))
    while stack:
        loop = stack.pop()
        loop.depth = 1 if loop.parent is None else loop.parent.depth + 1
        ordered.append(loop)
        stack.extend(reversed(loop.children))
    for loop in ordered:
        body = loop.blocks
        exits: list[tuple[str, str]] = []
        for b in sorted(body, key=pos.__getitem__):
            for s in dict.fromkeys(succs.get(b, ())):
                if s not in body:
                    exits.append((b, s))
        loop.exits = exits
        loop.exit_blocks = list(dict.fromkeys(s for _, s in exits))

    return LoopForest(
        loops=tuple(ordered),
        top_level=tuple(top_level),
        backedges=frozenset(backedges),
        irreducible=bool(irreducible_edges),
        irreducible_edges=irreducible_edges,
        _innermost=innermost,
    )


def cycle_cut_edges(entry: str, succs: Succs) -> set[tuple[str, str]]:
    """Return the DFS retreating edges of the CFG: a set of edges that cuts every cycle.

    The DFS starts at ``entry`` and then continues from every still-unvisited block in key
    order, so cycles in unreachable code are cut too (this does not change the edges found
    among reachable blocks). For reducible control flow the reachable part of the result is
    exactly the set of back edges; for irreducible control flow it additionally contains one
    retreating edge into each multi-entry cycle. Removing these edges leaves an acyclic graph,
    so every cycle contains at least one of them.
    """
    roots = [entry, *succs]
    return set(depth_first_search(roots, succs).retreating)
