"""Strongly connected components of directed graphs (call graphs in particular).

:func:`strongly_connected_components` is an iterative version of Tarjan's algorithm; its
result is in reverse topological order, i.e. callees before callers, the bottom-up order an
interprocedural analysis wants. :func:`recursive_nodes` finds the (mutually) recursive
functions.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping

__all__ = ["recursive_nodes", "strongly_connected_components"]


def _adjacency(nodes: Iterable[str], edges: Mapping[str, Iterable[str]]) -> dict[str, list[str]]:
    """Return deduplicated adjacency lists restricted to ``nodes`` (in input order)."""
    adj: dict[str, list[str]] = dict.fromkeys(nodes)  # type: ignore[assignment]
    for n in adj:
        adj[n] = [w for w in dict.fromkeys(edges.get(n, ())) if w in adj]
    return adj


def strongly_connected_components(
    nodes: Iterable[str], edges: Mapping[str, Iterable[str]]
) -> list[list[str]]:
    """Return the strongly connected components of the graph.

    ``edges`` maps a node to its successors (callees); nodes missing from ``edges`` have no
    successors and edge targets that are not in ``nodes`` (e.g. external functions) are
    ignored. Components come in reverse topological order: if a node of component X has an
    edge into component Y != X, then Y is listed before X (callees before callers). The
    members of each component are listed in the order of ``nodes``. The result is
    deterministic for a given order of ``nodes`` and of each successor collection.
    """
    adj = _adjacency(nodes, edges)
    position = {n: i for i, n in enumerate(adj)}
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    on_stack: set[str] = set()
    stack: list[str] = []
    result: list[list[str]] = []
    counter = 0
    for root in adj:
        if root in index:
            continue
        index[root] = low[root] = counter
        counter += 1
        stack.append(root)
        on_stack.add(root)
        work = [(root, iter(adj[root]))]
        while work:
            v, it = work[-1]
            for w in it:
                if w not in index:
                    index[w] = low[w] = counter
                    counter += 1
                    stack.append(w)
                    on_stack.add(w)
                    work.append((w, iter(adj[w])))
                    break
                if w in on_stack and index[w] < low[v]:
                    low[v] = index[w]
            else:
                work.pop()
                if work:
                    u = work[-1][0]
                    if low[v] < low[u]:
                        low[u] = low[v]
                if low[v] == index[v]:
                    comp: list[str] = []
                    while True:
                        w = stack.pop()
                        on_stack.discard(w)
                        comp.append(w)
                        if w == v:
                            break
                    comp.sort(key=position.__getitem__)
                    result.append(comp)
    return result


def recursive_nodes(nodes: Iterable[str], edges: Mapping[str, Iterable[str]]) -> set[str]:
    """Return the nodes that lie on a cycle: members of an SCC with more than one node, and
    nodes with an edge to themselves (directly recursive functions)."""
    adj = _adjacency(nodes, edges)
    out: set[str] = set()
    for comp in strongly_connected_components(adj, adj):
        if len(comp) > 1 or comp[0] in adj[comp[0]]:
            out.update(comp)
    return out
