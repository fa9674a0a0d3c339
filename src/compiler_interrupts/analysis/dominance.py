"""Dominator and post-dominator trees on abstract CFGs.

:func:`dominators` implements Cooper, Harvey & Kennedy, "A Simple, Fast Dominance Algorithm"
(2001): immediate dominators are found by iterating over the blocks in reverse postorder and
intersecting the dominator-tree paths of the already-processed predecessors, until a fixpoint.
On reducible CFGs this converges in two passes.

:func:`post_dominators` runs the same algorithm on the reversed CFG rooted at a virtual exit
node labelled :data:`VIRTUAL_EXIT`.

A :class:`DomTree` answers ``dominates`` queries in O(1) using preorder intervals of the tree
and computes dominance frontiers with the Cooper-Harvey-Kennedy "runner" algorithm.
Everything is iterative (no recursion), so arbitrarily deep trees are fine.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping, Sequence

from .callgraph import strongly_connected_components
from .cfg import depth_first_search, predecessors

__all__ = ["VIRTUAL_EXIT", "DomTree", "dominators", "post_dominators"]

#: Label of the virtual root of post-dominator trees.
VIRTUAL_EXIT = "<exit>"

Succs = Mapping[str, Sequence[str]]


class DomTree:
    """A (post-)dominator tree over the blocks reachable from its root.

    Blocks that are not in the tree (unreachable from the root) are reported by
    ``block in tree`` being False; :meth:`idom`, :meth:`children` and :meth:`level` raise
    ``KeyError`` for them, and :meth:`dominates` returns False for them (except ``a == b``).

    Build instances with :func:`dominators` or :func:`post_dominators`.
    """

    __slots__ = ("root", "_order", "_idom", "_children", "_pre", "_last", "_level", "_preds")

    def __init__(
        self,
        root: str,
        order: Sequence[str],
        idom: Mapping[str, str | None],
        preds: Mapping[str, Sequence[str]],
    ) -> None:
        """Build the tree from ``order`` (reverse postorder of the graph, root first), the
        immediate-dominator map (``None`` for the root) and the predecessor lists of the graph
        the tree was computed on (used by :meth:`frontier`)."""
        self.root = root
        self._order: tuple[str, ...] = tuple(order)
        self._idom: dict[str, str | None] = dict(idom)
        children: dict[str, list[str]] = {b: [] for b in self._order}
        for b in self._order:
            p = self._idom[b]
            if p is not None:
                children[p].append(b)
        self._children = children
        # Preorder numbering; [pre[a], last[a]] is the preorder interval of a's subtree.
        pre: dict[str, int] = {}
        level: dict[str, int] = {root: 0}
        preorder: list[str] = []
        stack = [root]
        while stack:
            v = stack.pop()
            pre[v] = len(preorder)
            preorder.append(v)
            kids = children[v]
            lv = level[v] + 1
            for c in kids:
                level[c] = lv
            stack.extend(reversed(kids))
        last: dict[str, int] = {}
        for v in reversed(preorder):
            kids = children[v]
            last[v] = last[kids[-1]] if kids else pre[v]
        self._pre = pre
        self._last = last
        self._level = level
        self._preds = {b: [p for p in preds.get(b, ()) if p in pre] for b in self._order}

    # -- basic queries ---------------------------------------------------------------------

    def __contains__(self, block: object) -> bool:
        """Return True if ``block`` is a node of the tree (reachable from the root)."""
        return block in self._pre

    def __len__(self) -> int:
        """Return the number of nodes in the tree."""
        return len(self._order)

    def __iter__(self) -> Iterator[str]:
        """Iterate over the nodes in reverse postorder of the underlying graph."""
        return iter(self._order)

    def __repr__(self) -> str:
        return f"DomTree(root={self.root!r}, nodes={len(self._order)})"

    @property
    def rpo(self) -> tuple[str, ...]:
        """Return the nodes in reverse postorder of the underlying graph (root first)."""
        return self._order

    def idom(self, block: str) -> str | None:
        """Return the immediate dominator of ``block`` (``None`` for the root)."""
        return self._idom[block]

    def children(self, block: str) -> list[str]:
        """Return the blocks immediately dominated by ``block`` (in reverse postorder)."""
        return list(self._children[block])

    def level(self, block: str) -> int:
        """Return the depth of ``block`` in the tree (0 for the root)."""
        return self._level[block]

    def dominates(self, a: str, b: str) -> bool:
        """Return True if ``a`` dominates ``b`` (reflexive: every block dominates itself)."""
        if a == b:
            return True
        pa = self._pre.get(a)
        pb = self._pre.get(b)
        if pa is None or pb is None:
            return False
        return pa <= pb <= self._last[a]

    def strictly_dominates(self, a: str, b: str) -> bool:
        """Return True if ``a`` dominates ``b`` and ``a != b``."""
        return a != b and self.dominates(a, b)

    def nearest_common_dominator(self, a: str, b: str) -> str:
        """Return the deepest block that dominates both ``a`` and ``b``."""
        la, lb = self._level[a], self._level[b]
        while la > lb:
            a = self._idom[a]  # type: ignore[assignment]
            la -= 1
        while lb > la:
            b = self._idom[b]  # type: ignore[assignment]
            lb -= 1
        while a != b:
            a = self._idom[a]  # type: ignore[assignment]
            b = self._idom[b]  # type: ignore[assignment]
        return a

    def preorder(self) -> list[str]:
        """Return the nodes in preorder of the tree (children in reverse postorder)."""
        out = [""] * len(self._pre)
        for b, i in self._pre.items():
            out[i] = b
        return out

    def frontier(self) -> dict[str, set[str]]:
        """Return the dominance frontier of every node (an empty set for most).

        ``DF(a)`` is the set of blocks ``b`` such that ``a`` dominates a predecessor of ``b``
        but does not strictly dominate ``b``. For a post-dominator tree this is the
        post-dominance frontier, i.e. the reverse control dependences.
        """
        df: dict[str, set[str]] = {b: set() for b in self._order}
        idom = self._idom
        for b in self._order:
            stop = idom[b]
            for p in self._preds[b]:
                runner: str | None = p
                while runner is not None and runner != stop:
                    df[runner].add(b)
                    runner = idom[runner]
        return df


def _immediate_dominators(
    root: str, succs: Succs
) -> tuple[list[str], dict[str, str | None], dict[str, list[str]]]:
    """Run Cooper-Harvey-Kennedy from ``root``.

    Returns ``(rpo, idom, preds)``: the reachable blocks in reverse postorder, the immediate
    dominator of each (``None`` for the root) and the deduplicated predecessor lists restricted
    to reachable blocks.
    """
    order = list(reversed(depth_first_search((root,), succs).postorder))
    index = {b: i for i, b in enumerate(order)}
    n = len(order)
    preds_idx: list[list[int]] = [[] for _ in range(n)]
    for i, b in enumerate(order):
        for s in dict.fromkeys(succs.get(b, ())):
            preds_idx[index[s]].append(i)
    idom = [-1] * n
    idom[0] = 0
    changed = True
    while changed:
        changed = False
        for i in range(1, n):
            new = -1
            for p in preds_idx[i]:
                if idom[p] == -1:
                    continue
                if new == -1:
                    new = p
                    continue
                f1, f2 = p, new
                while f1 != f2:
                    while f1 > f2:
                        f1 = idom[f1]
                    while f2 > f1:
                        f2 = idom[f2]
                new = f1
            if idom[i] != new:
                idom[i] = new
                changed = True
    idoms: dict[str, str | None] = {root: None}
    for i in range(1, n):
        idoms[order[i]] = order[idom[i]]
    preds = {b: [order[p] for p in preds_idx[i]] for i, b in enumerate(order)}
    return order, idoms, preds


def dominators(entry: str, succs: Succs) -> DomTree:
    """Return the dominator tree of the blocks reachable from ``entry``.

    Blocks unreachable from ``entry`` are ignored (they are not in the tree).
    """
    order, idoms, preds = _immediate_dominators(entry, succs)
    return DomTree(entry, order, idoms, preds)


def _unexited_roots(succs: Succs, exits: Sequence[str]) -> list[str]:
    """Pick the blocks to connect to the virtual exit besides ``exits``.

    Blocks that cannot reach any exit (infinite loops, or blocks that only lead to such loops
    or to blocks without successors that are not listed in ``exits``) would otherwise be
    missing from the post-dominator tree. Like LLVM, we connect one block of each such region
    to the virtual exit: for every *sink* strongly connected component of the blocks that
    cannot reach an exit (a component no edge leaves), we choose the block that is visited
    last by a depth-first search inside the component starting at its first block in key
    order. For a simple ``header -> ... -> latch -> header`` loop this is the latch, matching
    LLVM's choice of the "furthest away" block. Every other such block reaches one of these
    sinks, so afterwards every block reaches the virtual exit.
    """
    preds = predecessors(succs)
    reaches_exit = set(exits)
    work = list(exits)
    while work:
        b = work.pop()
        for p in preds.get(b, ()):
            if p not in reaches_exit:
                reaches_exit.add(p)
                work.append(p)
    stuck = [b for b in succs if b not in reaches_exit]
    if not stuck:
        return []
    stuck_set = set(stuck)
    edges = {b: [s for s in succs[b] if s in stuck_set] for b in stuck}
    sccs = strongly_connected_components(stuck, edges)
    comp_of = {b: i for i, comp in enumerate(sccs) for b in comp}
    key_pos = {b: i for i, b in enumerate(succs)}
    roots: list[tuple[int, str]] = []
    for i, comp in enumerate(sccs):
        if any(comp_of[s] != i for b in comp for s in edges[b]):
            continue  # not a sink: reaches another stuck component
        first = min(comp, key=key_pos.__getitem__)
        inner = {b: [s for s in edges[b] if comp_of[s] == i] for b in comp}
        rep = depth_first_search((first,), inner).preorder[-1]
        roots.append((key_pos[rep], rep))
    roots.sort()
    return [b for _, b in roots]


def post_dominators(succs: Succs, exits: Sequence[str] | None = None) -> DomTree:
    """Return the post-dominator tree of the CFG, rooted at :data:`VIRTUAL_EXIT`.

    ``exits`` are the blocks connected to the virtual exit (default: the blocks without
    successors). Blocks that cannot reach any of them are handled as described in
    :func:`_unexited_roots`: one block per sink region is connected to the virtual exit too,
    so every key of ``succs`` is in the tree. ``idom(b)`` is the immediate post-dominator of
    ``b`` (``VIRTUAL_EXIT`` when no real block post-dominates ``b``) and ``frontier()`` gives
    the post-dominance frontiers (control dependences).

    Raises ``ValueError`` if a block is named ``VIRTUAL_EXIT`` or ``exits`` names an unknown
    block.
    """
    graph: dict[str, Sequence[str]] = dict(succs)
    for ss in succs.values():
        for s in ss:
            if s not in graph:
                graph[s] = ()  # tolerate successor-only labels: blocks without successors
    if VIRTUAL_EXIT in graph:
        raise ValueError(f"block label {VIRTUAL_EXIT!r} is reserved for the virtual exit")
    succs = graph
    if exits is None:
        exit_list = [b for b, ss in succs.items() if not ss]
    else:
        exit_list = list(dict.fromkeys(exits))
        unknown = [b for b in exit_list if b not in succs]
        if unknown:
            raise ValueError(f"unknown exit blocks: {unknown!r}")
    extra = _unexited_roots(succs, exit_list)
    rev: dict[str, list[str]] = {VIRTUAL_EXIT: exit_list + extra}
    rev.update(predecessors(succs))
    order, idoms, rpreds = _immediate_dominators(VIRTUAL_EXIT, rev)
    return DomTree(VIRTUAL_EXIT, order, idoms, rpreds)

