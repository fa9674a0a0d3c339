"""Basic helpers on abstract control-flow graphs.

A CFG is described by an entry label plus a mapping ``succs`` from every block label to the
sequence of its successor labels. Successor sequences may contain duplicates (a ``switch`` with
two cases branching to the same block); every helper here treats the graph as a set of distinct
edges. Labels that appear only as successors (not as keys) are tolerated and treated as blocks
without successors.

All traversals are iterative, so graphs of any depth (e.g. a 100k-block chain) are fine.
Results are deterministic: they only depend on the order of the keys of ``succs`` and on the
order of each successor sequence.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass

__all__ = [
    "DepthFirst",
    "critical_edges",
    "depth_first_search",
    "distinct_successors",
    "exit_blocks",
    "predecessors",
    "reachable",
    "reverse_postorder",
]

Succs = Mapping[str, Sequence[str]]


def distinct_successors(succs: Succs, block: str) -> list[str]:
    """Return the successors of ``block`` without duplicates, in first-occurrence order.

    Unknown blocks (labels that are not keys of ``succs``) have no successors.
    """
    return list(dict.fromkeys(succs.get(block, ())))


def predecessors(succs: Succs) -> dict[str, list[str]]:
    """Return the predecessor lists of the graph.

    Every key of ``succs`` (and every label that only appears as a successor) gets an entry.
    Each list is deduplicated; predecessors appear in the order the predecessor blocks occur
    among the keys of ``succs``.
    """
    preds: dict[str, list[str]] = {b: [] for b in succs}
    for b, ss in succs.items():
        for s in dict.fromkeys(ss):
            lst = preds.get(s)
            if lst is None:
                preds[s] = [b]
            else:
                lst.append(b)
    return preds


def reachable(entry: str, succs: Succs) -> set[str]:
    """Return the set of blocks reachable from ``entry`` (``entry`` included)."""
    seen = {entry}
    work = [entry]
    while work:
        b = work.pop()
        for s in succs.get(b, ()):
            if s not in seen:
                seen.add(s)
                work.append(s)
    return seen


@dataclass(frozen=True)
class DepthFirst:
    """Result of :func:`depth_first_search`.

    ``preorder``/``postorder`` list the visited blocks in discovery/finishing order.
    ``retreating`` lists, in discovery order, the edges ``(a, b)`` whose target ``b`` was still
    on the DFS stack when the edge was examined (``b`` is a DFS ancestor of ``a``, or ``a``
    itself for a self-loop). Every cycle of the visited subgraph contains at least one
    retreating edge.
    """

    preorder: tuple[str, ...]
    postorder: tuple[str, ...]
    retreating: tuple[tuple[str, str], ...]


def depth_first_search(roots: Iterable[str], succs: Succs) -> DepthFirst:
    """Run an iterative depth-first search from each root in turn (skipping visited roots).

    Successors are explored in the order of their (deduplicated) successor sequence.
    Returns a :class:`DepthFirst` with pre-/postorder and the retreating edges.
    """
    state: dict[str, bool] = {}  # True: on the DFS stack, False: finished
    pre: list[str] = []
    post: list[str] = []
    retreating: list[tuple[str, str]] = []
    for root in roots:
        if root in state:
            continue
        state[root] = True
        pre.append(root)
        stack = [(root, iter(dict.fromkeys(succs.get(root, ()))))]
        while stack:
            v, it = stack[-1]
            for w in it:
                st = state.get(w)
                if st is None:
                    state[w] = True
                    pre.append(w)
                    stack.append((w, iter(dict.fromkeys(succs.get(w, ())))))
                    break
                if st:
                    retreating.append((v, w))
            else:
                stack.pop()
                state[v] = False
                post.append(v)
    return DepthFirst(tuple(pre), tuple(post), tuple(retreating))


def reverse_postorder(entry: str, succs: Succs) -> list[str]:
    """Return the blocks reachable from ``entry`` in reverse postorder (``entry`` first).

    In reverse postorder every block comes before its successors, except along retreating
    edges.
    """
    post = depth_first_search((entry,), succs).postorder
    return list(reversed(post))


def exit_blocks(succs: Succs) -> list[str]:
    """Return the blocks without successors (``ret``/``unreachable``), in key order."""
    return [b for b, ss in succs.items() if not ss]


def critical_edges(succs: Succs) -> list[tuple[str, str]]:
    """Return the critical edges ``(a, b)``, deduplicated, in key/successor order.

    An edge is critical when ``a`` has more than one distinct successor and ``b`` has more
    than one distinct predecessor; code can only be placed "on" such an edge by splitting it.
    """
    preds = predecessors(succs)
    out: list[tuple[str, str]] = []
    for a, ss in succs.items():
        distinct = dict.fromkeys(ss)
        if len(distinct) < 2:
            continue
        for b in distinct:
            if len(preds[b]) > 1:
                out.append((a, b))
    return out
