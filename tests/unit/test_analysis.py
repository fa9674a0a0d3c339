"""Unit tests for the abstract graph analyses (CFG helpers, dominators, loops, SCCs)."""

from __future__ import annotations

import random
import sys
import time
from pathlib import Path

import pytest

try:
    import compiler_interrupts  # noqa: F401
except ImportError:  # running from a checkout without an installed package
    sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "src"))

from compiler_interrupts.analysis.callgraph import (  # noqa: E402
    recursive_nodes,
    strongly_connected_components,
)
from compiler_interrupts.analysis.cfg import (  # noqa: E402
    critical_edges,
    exit_blocks,
    predecessors,
    reachable,
    reverse_postorder,
)
from compiler_interrupts.analysis.dominance import (  # noqa: E402
    VIRTUAL_EXIT,
    dominators,
    post_dominators,
)
from compiler_interrupts.analysis.loops import cycle_cut_edges, natural_loops  # noqa: E402

X = VIRTUAL_EXIT

# ---------------------------------------------------------------------------------------------
# Small CFGs (entry is always "A")
# ---------------------------------------------------------------------------------------------

DIAMOND = {"A": ["B", "C"], "B": ["D"], "C": ["D"], "D": []}
# Outer loop B..E (latch E), inner loop C..D (latch D), exit F.
NESTED = {"A": ["B"], "B": ["C", "F"], "C": ["D"], "D": ["C", "E"], "E": ["B"], "F": []}
# One header H with two latches C and D.
TWO_LATCHES = {"A": ["H"], "H": ["B", "X"], "B": ["C", "D"], "C": ["H"], "D": ["H"], "X": []}
# Loop H-B-C with three exit edges to two exit blocks.
MULTI_EXIT = {
    "A": ["H"],
    "H": ["B", "X1"],
    "B": ["C", "X2"],
    "C": ["H", "X2"],
    "X1": ["E"],
    "X2": ["E"],
    "E": [],
}
SELF_LOOP = {"A": ["B"], "B": ["B", "C"], "C": []}
# U is unreachable from A (and has a self-loop).
UNREACHABLE = {"A": ["B"], "B": [], "U": ["U", "B"]}
# Cycle B <-> C entered both at B and at C.
IRREDUCIBLE = {"A": ["B", "C"], "B": ["C"], "C": ["B", "D"], "D": []}
# No exit at all.
INFINITE = {"A": ["B"], "B": ["C"], "C": ["B"]}
# An exit and, on the other branch, an infinite loop.
HALF_INFINITE = {"A": ["B", "Z"], "B": ["C"], "C": ["B"], "Z": []}
# Switch with duplicate successors (two cases to B, default and a case to E).
SWITCH = {"A": ["B", "B", "C", "E", "E"], "B": ["E"], "C": ["E"], "E": []}

# ---------------------------------------------------------------------------------------------
# cfg.py
# ---------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "succs, expected",
    [
        (DIAMOND, {"A": [], "B": ["A"], "C": ["A"], "D": ["B", "C"]}),
        (SELF_LOOP, {"A": [], "B": ["A", "B"], "C": ["B"]}),
        (UNREACHABLE, {"A": [], "B": ["A", "U"], "U": ["U"]}),
        (SWITCH, {"A": [], "B": ["A"], "C": ["A"], "E": ["A", "B", "C"]}),
    ],
    ids=["diamond", "self-loop", "unreachable", "switch"],
)
def test_predecessors(succs, expected):
    assert predecessors(succs) == expected


@pytest.mark.parametrize(
    "succs, expected",
    [
        (DIAMOND, {"A", "B", "C", "D"}),
        (UNREACHABLE, {"A", "B"}),
        (INFINITE, {"A", "B", "C"}),
    ],
    ids=["diamond", "unreachable", "infinite"],
)
def test_reachable(succs, expected):
    assert reachable("A", succs) == expected


@pytest.mark.parametrize(
    "succs, expected",
    [
        (DIAMOND, ["A", "C", "B", "D"]),
        (NESTED, ["A", "B", "F", "C", "D", "E"]),
        (UNREACHABLE, ["A", "B"]),
        (SWITCH, ["A", "C", "B", "E"]),
    ],
    ids=["diamond", "nested", "unreachable", "switch"],
)
def test_reverse_postorder(succs, expected):
    assert reverse_postorder("A", succs) == expected


def test_reverse_postorder_is_topological_on_forward_edges():
    rpo = reverse_postorder("A", NESTED)
    pos = {b: i for i, b in enumerate(rpo)}
    back = {("D", "C"), ("E", "B")}
    for a, ss in NESTED.items():
        for s in ss:
            if (a, s) not in back:
                assert pos[a] < pos[s]


@pytest.mark.parametrize(
    "succs, expected",
    [
        (DIAMOND, ["D"]),
        (MULTI_EXIT, ["E"]),
        (INFINITE, []),
        (UNREACHABLE, ["B"]),
    ],
    ids=["diamond", "multi-exit", "infinite", "unreachable"],
)
def test_exit_blocks(succs, expected):
    assert exit_blocks(succs) == expected


@pytest.mark.parametrize(
    "succs, expected",
    [
        (DIAMOND, []),
        (NESTED, [("B", "C"), ("D", "C")]),
        (SELF_LOOP, [("B", "B")]),
        (SWITCH, [("A", "E")]),
        (IRREDUCIBLE, [("A", "B"), ("A", "C"), ("C", "B")]),
    ],
    ids=["diamond", "nested", "self-loop", "switch", "irreducible"],
)
def test_critical_edges(succs, expected):
    assert critical_edges(succs) == expected


# ---------------------------------------------------------------------------------------------
# dominance.py
# ---------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "succs, idoms",
    [
        (DIAMOND, {"A": None, "B": "A", "C": "A", "D": "A"}),
        (NESTED, {"A": None, "B": "A", "C": "B", "D": "C", "E": "D", "F": "B"}),
        (TWO_LATCHES, {"A": None, "H": "A", "B": "H", "C": "B", "D": "B", "X": "H"}),
        (SELF_LOOP, {"A": None, "B": "A", "C": "B"}),
        (UNREACHABLE, {"A": None, "B": "A"}),
        (IRREDUCIBLE, {"A": None, "B": "A", "C": "A", "D": "C"}),
        (INFINITE, {"A": None, "B": "A", "C": "B"}),
        (SWITCH, {"A": None, "B": "A", "C": "A", "E": "A"}),
    ],
    ids=[
        "diamond",
        "nested",
        "two-latches",
        "self-loop",
        "unreachable",
        "irreducible",
        "infinite",
        "switch",
    ],
)
def test_dominators_idom(succs, idoms):
    dom = dominators("A", succs)
    assert {b: dom.idom(b) for b in dom} == idoms
    assert set(dom) == set(idoms)
    for b in succs:
        assert (b in dom) == (b in idoms)


def test_dominators_queries():
    dom = dominators("A", NESTED)
    assert dom.root == "A"
    assert dom.dominates("B", "E")
    assert dom.dominates("C", "C")
    assert not dom.strictly_dominates("C", "C")
    assert dom.strictly_dominates("A", "F")
    assert not dom.dominates("C", "F")
    assert not dom.dominates("E", "D")
    assert dom.children("B") == ["F", "C"]
    assert dom.children("E") == []
    assert dom.preorder() == ["A", "B", "F", "C", "D", "E"]
    assert dom.level("A") == 0 and dom.level("E") == 4
    assert dom.nearest_common_dominator("E", "F") == "B"
    assert dom.nearest_common_dominator("D", "E") == "D"


def test_dominators_unreachable_block():
    dom = dominators("A", UNREACHABLE)
    assert "U" not in dom
    assert not dom.dominates("A", "U")
    assert not dom.dominates("U", "B")
    assert dom.dominates("U", "U")
    with pytest.raises(KeyError):
        dom.idom("U")


@pytest.mark.parametrize(
    "succs, expected",
    [
        (DIAMOND, {"A": set(), "B": {"D"}, "C": {"D"}, "D": set()}),
        (
            NESTED,
            {
                "A": set(),
                "B": {"B"},
                "C": {"B", "C"},
                "D": {"B", "C"},
                "E": {"B"},
                "F": set(),
            },
        ),
        (SELF_LOOP, {"A": set(), "B": {"B"}, "C": set()}),
        (IRREDUCIBLE, {"A": set(), "B": {"C"}, "C": {"B"}, "D": set()}),
        (SWITCH, {"A": set(), "B": {"E"}, "C": {"E"}, "E": set()}),
        ({"A": ["A", "B"], "B": []}, {"A": {"A"}, "B": set()}),
    ],
    ids=["diamond", "nested", "self-loop", "irreducible", "switch", "entry-self-loop"],
)
def test_dominance_frontier(succs, expected):
    assert dominators("A", succs).frontier() == expected


@pytest.mark.parametrize(
    "succs, ipdoms",
    [
        (DIAMOND, {X: None, "A": "D", "B": "D", "C": "D", "D": X}),
        (NESTED, {X: None, "A": "B", "B": "F", "C": "D", "D": "E", "E": "B", "F": X}),
        (
            MULTI_EXIT,
            {X: None, "A": "H", "H": "E", "B": "E", "C": "E", "X1": "E", "X2": "E", "E": X},
        ),
        (SELF_LOOP, {X: None, "A": "B", "B": "C", "C": X}),
        # The unreachable block is still post-dominated (post-dominance ignores the entry).
        (UNREACHABLE, {X: None, "A": "B", "B": X, "U": "B"}),
        (IRREDUCIBLE, {X: None, "A": "C", "B": "C", "C": "D", "D": X}),
        (SWITCH, {X: None, "A": "E", "B": "E", "C": "E", "E": X}),
        # Infinite loop without any exit: its latch C is connected to the virtual exit.
        (INFINITE, {X: None, "C": X, "B": "C", "A": "B"}),
        # A reaches the real exit Z and (through the infinite loop) the virtual exit.
        (HALF_INFINITE, {X: None, "Z": X, "C": X, "B": "C", "A": X}),
    ],
    ids=[
        "diamond",
        "nested",
        "multi-exit",
        "self-loop",
        "unreachable",
        "irreducible",
        "switch",
        "infinite",
        "half-infinite",
    ],
)
def test_post_dominators(succs, ipdoms):
    pdom = post_dominators(succs)
    assert pdom.root == X
    assert {b: pdom.idom(b) for b in pdom} == ipdoms


def test_post_dominators_queries_and_frontier():
    pdom = post_dominators(DIAMOND)
    assert pdom.dominates("D", "A")
    assert not pdom.dominates("B", "A")
    assert pdom.children(X) == ["D"]
    # Post-dominance frontier = control dependence: B and C depend on A's branch.
    assert pdom.frontier() == {X: set(), "A": set(), "B": {"A"}, "C": {"A"}, "D": set()}


def test_post_dominators_explicit_exits():
    # Only "R" counts as a function exit; "U" (e.g. ends in `unreachable`) does not.
    succs = {"A": ["B", "U"], "B": ["R"], "U": [], "R": []}
    pdom = post_dominators(succs, exits=["R"])
    # U is connected to the virtual exit as a region without exit; A branches to both.
    assert set(pdom.children(X)) == {"R", "U", "A"}
    assert pdom.idom("A") == X
    assert pdom.idom("B") == "R"
    default = post_dominators(succs)
    assert default.idom("A") == X and default.idom("U") == X
    with pytest.raises(ValueError):
        post_dominators(succs, exits=["nope"])
    with pytest.raises(ValueError):
        post_dominators({X: []})


def test_post_dominators_infinite_loop_feeding_another():
    # Loop 1 (B,C) can leave into loop 2 (D,E) which never exits: only loop 2 is a sink region.
    succs = {"A": ["B"], "B": ["C"], "C": ["B", "D"], "D": ["E"], "E": ["D"]}
    pdom = post_dominators(succs)
    assert pdom.children(X) == ["E"]
    assert {b: pdom.idom(b) for b in succs} == {"A": "B", "B": "C", "C": "D", "D": "E", "E": X}


# ---------------------------------------------------------------------------------------------
# loops.py
# ---------------------------------------------------------------------------------------------


def _loop_summary(forest):
    return {
        lp.header: (
            set(lp.latches),
            set(lp.blocks),
            set(lp.exits),
            set(lp.exit_blocks),
            None if lp.parent is None else lp.parent.header,
            lp.depth,
        )
        for lp in forest.loops
    }


@pytest.mark.parametrize(
    "succs, loops, irreducible",
    [
        (DIAMOND, {}, False),
        (
            NESTED,
            {
                "B": ({"E"}, {"B", "C", "D", "E"}, {("B", "F")}, {"F"}, None, 1),
                "C": ({"D"}, {"C", "D"}, {("D", "E")}, {"E"}, "B", 2),
            },
            False,
        ),
        (
            TWO_LATCHES,
            {"H": ({"C", "D"}, {"H", "B", "C", "D"}, {("H", "X")}, {"X"}, None, 1)},
            False,
        ),
        (
            MULTI_EXIT,
            {
                "H": (
                    {"C"},
                    {"H", "B", "C"},
                    {("H", "X1"), ("B", "X2"), ("C", "X2")},
                    {"X1", "X2"},
                    None,
                    1,
                )
            },
            False,
        ),
        (SELF_LOOP, {"B": ({"B"}, {"B"}, {("B", "C")}, {"C"}, None, 1)}, False),
        (UNREACHABLE, {}, False),
        (IRREDUCIBLE, {}, True),
        (INFINITE, {"B": ({"C"}, {"B", "C"}, set(), set(), None, 1)}, False),
        (
            {"A": ["H"], "H": ["H", "H", "Z", "Z"], "Z": []},
            {"H": ({"H"}, {"H"}, {("H", "Z")}, {"Z"}, None, 1)},
            False,
        ),
    ],
    ids=[
        "diamond",
        "nested",
        "two-latches",
        "multi-exit",
        "self-loop",
        "unreachable",
        "irreducible",
        "infinite",
        "switch-self-loop",
    ],
)
def test_natural_loops(succs, loops, irreducible):
    forest = natural_loops("A", succs)
    assert _loop_summary(forest) == loops
    assert forest.irreducible is irreducible
    assert len(forest) == len(loops)
    for lp in forest.loops:
        assert lp.is_innermost == (not lp.children)
        for latch in lp.latches:
            assert forest.is_backedge(latch, lp.header)


def test_loop_forest_queries():
    dom = dominators("A", NESTED)
    forest = natural_loops("A", NESTED, dom)
    outer, inner = forest.loops
    assert forest.top_level == (outer,)
    assert outer.header == "B" and inner.header == "C"
    assert outer.children == [inner] and inner.parent is outer
    assert not outer.is_innermost and inner.is_innermost
    assert forest.loop_of("D") is inner
    assert forest.loop_of("E") is outer
    assert forest.loop_of("A") is None and forest.loop_of("F") is None
    assert [forest.depth(b) for b in "ABCDEF"] == [0, 1, 2, 2, 1, 0]
    assert forest.backedges == {("D", "C"), ("E", "B")}
    assert forest.is_backedge("E", "B") and not forest.is_backedge("B", "C")
    assert "D" in outer and "B" not in inner
    assert "Loop(header='B'" in repr(outer)


def test_loop_latches_and_exits_order():
    forest = natural_loops("A", TWO_LATCHES)
    (loop,) = forest.loops
    rpo = reverse_postorder("A", TWO_LATCHES)
    assert loop.latches == sorted(loop.latches, key=rpo.index)
    forest = natural_loops("A", MULTI_EXIT)
    (loop,) = forest.loops
    assert loop.exits == [("H", "X1"), ("B", "X2"), ("C", "X2")]
    assert loop.exit_blocks == ["X1", "X2"]


def test_sibling_and_deep_nesting():
    # Two sibling loops inside an outer loop.
    succs = {
        "A": ["O"],
        "O": ["P", "Z"],
        "P": ["P", "Q"],
        "Q": ["R"],
        "R": ["R", "S"],
        "S": ["O"],
        "Z": [],
    }
    forest = natural_loops("A", succs)
    assert [lp.header for lp in forest.loops] == ["O", "P", "R"]
    outer = forest.loops[0]
    assert [c.header for c in outer.children] == ["P", "R"]
    assert all(c.depth == 2 and c.parent is outer for c in outer.children)


def test_irreducible_reporting():
    forest = natural_loops("A", IRREDUCIBLE)
    assert forest.irreducible
    assert forest.irreducible_edges == (("C", "B"),)
    # A reducible loop nested inside an irreducible region is still found.
    succs = {"A": ["B", "C"], "B": ["C"], "C": ["D"], "D": ["D", "B", "E"], "E": []}
    forest = natural_loops("A", succs)
    assert forest.irreducible
    assert [lp.header for lp in forest.loops] == ["D"]


@pytest.mark.parametrize(
    "succs, expected",
    [
        (DIAMOND, set()),
        (NESTED, {("D", "C"), ("E", "B")}),
        (TWO_LATCHES, {("C", "H"), ("D", "H")}),
        (SELF_LOOP, {("B", "B")}),
        (IRREDUCIBLE, {("C", "B")}),
        (UNREACHABLE, {("U", "U")}),  # cycles in unreachable code are cut too
        (INFINITE, {("C", "B")}),
    ],
    ids=["diamond", "nested", "two-latches", "self-loop", "irreducible", "unreachable", "inf"],
)
def test_cycle_cut_edges(succs, expected):
    assert cycle_cut_edges("A", succs) == expected
    assert _is_acyclic(succs, expected)


# ---------------------------------------------------------------------------------------------
# callgraph.py
# ---------------------------------------------------------------------------------------------

CALLS = {"main": ["f", "g", "printf"], "f": ["g"], "g": ["h"], "h": ["g"], "k": ["k"]}


def test_sccs_bottom_up():
    sccs = strongly_connected_components(["main", "f", "g", "h", "k"], CALLS)
    assert sccs == [["g", "h"], ["f"], ["main"], ["k"]]
    _check_reverse_topological(sccs, CALLS)


@pytest.mark.parametrize(
    "nodes, edges, expected",
    [
        (["main", "f", "g", "h", "k"], CALLS, {"g", "h", "k"}),
        (["a", "b"], {"a": ["b"]}, set()),
        (["a"], {"a": ["a", "a"]}, {"a"}),
        (["a", "b", "c"], {"a": ["b"], "b": ["c"], "c": ["a"]}, {"a", "b", "c"}),
    ],
    ids=["calls", "dag", "self", "triangle"],
)
def test_recursive_nodes(nodes, edges, expected):
    assert recursive_nodes(nodes, edges) == expected


def test_sccs_deterministic_and_member_order():
    edges = {"c": ["b"], "b": ["a"], "a": ["c"]}
    assert strongly_connected_components(["a", "b", "c"], edges) == [["a", "b", "c"]]
    assert strongly_connected_components(["c", "b", "a"], edges) == [["c", "b", "a"]]
    assert strongly_connected_components([], {}) == []


# ---------------------------------------------------------------------------------------------
# Randomised comparison against naive algorithms
# ---------------------------------------------------------------------------------------------


def _random_cfg(rng: random.Random, n: int, forward_to_exit: bool = False) -> dict[str, list[str]]:
    """Random CFG over labels "0".."n-1" with entry "0"; some duplicate successors."""
    succs: dict[str, list[str]] = {}
    for i in range(n):
        out: list[str] = []
        if forward_to_exit and i < n - 1:
            out.append(str(rng.randrange(i + 1, n)))
        k = rng.choice((0, 1, 1, 2, 2, 2, 3))
        if forward_to_exit and i == n - 1:
            k = 0
        for _ in range(k):
            out.append(str(rng.randrange(n)))
        if out and rng.random() < 0.1:
            out.append(out[0])  # duplicate successor
        succs[str(i)] = out
    return succs


def _naive_dom_sets(entry, succs):
    nodes = reachable(entry, succs)
    preds = {b: [p for p in predecessors(succs)[b] if p in nodes] for b in nodes}
    dom = {b: set(nodes) for b in nodes}
    dom[entry] = {entry}
    changed = True
    while changed:
        changed = False
        for b in nodes:
            if b == entry:
                continue
            new = set(nodes)
            for p in preds[b]:
                new &= dom[p]
            new.add(b)
            if new != dom[b]:
                dom[b] = new
                changed = True
    return dom


def _naive_post_dom_sets(succs):
    """Post-dominator sets with a virtual exit, for graphs where every block reaches an exit."""
    nodes = set(succs) | {X}
    out = {b: (list(ss) if ss else [X]) for b, ss in succs.items()}
    out[X] = []
    pdom = {b: set(nodes) for b in nodes}
    pdom[X] = {X}
    changed = True
    while changed:
        changed = False
        for b in succs:
            new = set(nodes)
            for s in out[b]:
                new &= pdom[s]
            new.add(b)
            if new != pdom[b]:
                pdom[b] = new
                changed = True
    return pdom


def _is_acyclic(succs, removed) -> bool:
    indeg = {b: 0 for b in succs}
    edges = {b: [s for s in dict.fromkeys(ss) if (b, s) not in removed] for b, ss in succs.items()}
    for ss in edges.values():
        for s in ss:
            indeg[s] += 1
    work = [b for b, d in indeg.items() if d == 0]
    seen = 0
    while work:
        b = work.pop()
        seen += 1
        for s in edges[b]:
            indeg[s] -= 1
            if indeg[s] == 0:
                work.append(s)
    return seen == len(succs)


def _check_tree_against_sets(tree, sets):
    assert set(tree) == set(sets)
    for b, ds in sets.items():
        for a in sets:
            assert tree.dominates(a, b) == (a in ds), (a, b)
        strict = ds - {b}
        if not strict:
            assert tree.idom(b) is None
        else:
            # The immediate dominator is the strict dominator dominated by all the others.
            assert tree.idom(b) == max(strict, key=lambda d: len(sets[d]))


def _check_reverse_topological(sccs, edges):
    comp = {n: i for i, c in enumerate(sccs) for n in c}
    for u, vs in edges.items():
        for v in vs:
            if u in comp and v in comp:
                assert comp[v] <= comp[u]


@pytest.mark.parametrize("seed", range(40))
def test_dominators_random_against_naive(seed):
    rng = random.Random(seed)
    succs = _random_cfg(rng, rng.randrange(2, 40))
    dom = dominators("0", succs)
    sets = _naive_dom_sets("0", succs)
    _check_tree_against_sets(dom, sets)
    # Dominance frontier against its definition.
    preds = predecessors(succs)
    df = dom.frontier()
    for a in sets:
        expected = {
            b
            for b in sets
            if any(p in sets and dom.dominates(a, p) for p in preds[b])
            and not dom.strictly_dominates(a, b)
        }
        assert df[a] == expected
    # Preorder really is a preorder of the tree.
    order = dom.preorder()
    assert order[0] == "0" and sorted(order) == sorted(sets)
    pos = {b: i for i, b in enumerate(order)}
    assert all(pos[dom.idom(b)] < pos[b] for b in order[1:])


@pytest.mark.parametrize("seed", range(40))
def test_post_dominators_random_against_naive(seed):
    rng = random.Random(1000 + seed)
    succs = _random_cfg(rng, rng.randrange(2, 40), forward_to_exit=True)
    pdom = post_dominators(succs)
    _check_tree_against_sets(pdom, _naive_post_dom_sets(succs))


@pytest.mark.parametrize("seed", range(40))
def test_post_dominators_random_total(seed):
    # Arbitrary graphs (infinite loops, unreachable code): every block is in the tree.
    rng = random.Random(2000 + seed)
    succs = _random_cfg(rng, rng.randrange(1, 40))
    pdom = post_dominators(succs)
    assert set(pdom) == set(succs) | {X}
    for b in succs:
        assert pdom.dominates(X, b)


@pytest.mark.parametrize("seed", range(40))
def test_loops_random_invariants(seed):
    rng = random.Random(3000 + seed)
    succs = _random_cfg(rng, rng.randrange(2, 40))
    dom = dominators("0", succs)
    forest = natural_loops("0", succs, dom)
    live = reachable("0", succs)
    preds = predecessors(succs)
    # Reducible iff the graph minus its back edges is acyclic.
    sub = {b: [s for s in succs[b]] for b in live}
    assert forest.irreducible == (not _is_acyclic(sub, forest.backedges))
    cut = cycle_cut_edges("0", succs)
    assert _is_acyclic(succs, cut)
    assert forest.backedges <= cut
    if not forest.irreducible:
        assert {e for e in cut if e[0] in live} == set(forest.backedges)
    for lp in forest.loops:
        assert all(dom.dominates(lp.header, b) for b in lp.blocks)
        for b in lp.blocks - {lp.header}:  # every non-header block has all preds in the loop
            assert all(p in lp.blocks for p in preds[b] if p in live)
        if lp.parent is not None:
            assert lp.blocks < lp.parent.blocks and lp.depth == lp.parent.depth + 1
        for b in lp.blocks:
            inner = forest.loop_of(b)
            assert inner is not None and b in inner and inner.blocks <= lp.blocks
    # Preorder: parents before children.
    seen = set()
    for lp in forest.loops:
        assert lp.parent is None or id(lp.parent) in seen
        seen.add(id(lp))


@pytest.mark.parametrize("seed", range(20))
def test_sccs_random(seed):
    rng = random.Random(4000 + seed)
    n = rng.randrange(1, 30)
    nodes = [f"f{i}" for i in range(n)]
    edges = {v: [rng.choice(nodes) for _ in range(rng.randrange(3))] for v in nodes}
    sccs = strongly_connected_components(nodes, edges)
    assert sorted(v for c in sccs for v in c) == sorted(nodes)
    _check_reverse_topological(sccs, edges)
    # Mutual reachability within components, none across.
    reach = {v: reachable(v, edges) for v in nodes}
    comp = {v: i for i, c in enumerate(sccs) for v in c}
    for a in nodes:
        for b in nodes:
            assert (comp[a] == comp[b]) == (b in reach[a] and a in reach[b])
    assert recursive_nodes(nodes, edges) == {
        v for v in nodes if any(v in reach[s] for s in edges[v])
    }


# ---------------------------------------------------------------------------------------------
# Scale: no recursion limit, linear-ish running time
# ---------------------------------------------------------------------------------------------


def test_long_chain_no_recursion_limit():
    n = 20_000
    succs = {str(i): [str(i + 1)] for i in range(n - 1)}
    succs[str(n - 1)] = ["0"]  # one 20k-block loop
    succs["exit"] = []
    succs[str(n // 2)] = [str(n // 2 + 1), "exit"]
    start = time.perf_counter()
    rpo = reverse_postorder("0", succs)
    dom = dominators("0", succs)
    pdom = post_dominators(succs)
    forest = natural_loops("0", succs, dom)
    cut = cycle_cut_edges("0", succs)
    sccs = strongly_connected_components(list(succs), succs)
    elapsed = time.perf_counter() - start
    assert len(rpo) == n + 1
    assert dom.idom(str(n - 1)) == str(n - 2)
    assert dom.dominates("0", str(n - 1)) and dom.level(str(n - 1)) == n - 1
    assert len(dom.preorder()) == n + 1
    assert pdom.idom("0") == "1" and pdom.idom(str(n // 2)) == "exit"
    assert pdom.idom(str(n - 1)) == "0"
    assert len(forest.loops) == 1 and len(forest.loops[0].blocks) == n
    assert cut == {(str(n - 1), "0")}
    assert len(sccs) == 2 and sorted(map(len, sccs)) == [1, n]
    print(f"20k-block chain analysed in {elapsed * 1000:.1f} ms")


def test_deep_loop_nest():
    depth = 300
    succs: dict[str, list[str]] = {"entry": ["h0"]}
    for i in range(depth):
        succs[f"h{i}"] = [f"h{i + 1}" if i + 1 < depth else "body"]
    succs["body"] = [f"l{depth - 1}"]
    for i in range(depth):
        succs[f"l{i}"] = [f"h{i}", f"l{i - 1}" if i else "ret"]
    succs["ret"] = []
    forest = natural_loops("entry", succs)
    assert len(forest.loops) == depth
    assert forest.depth("body") == depth
    assert [lp.depth for lp in forest.loops] == list(range(1, depth + 1))
    assert forest.loop_of("body").header == f"h{depth - 1}"
    assert not forest.irreducible
    pdom = post_dominators(succs)
    assert pdom.idom("entry") == "h0"


def test_big_random_graph_is_fast():
    rng = random.Random(12345)
    n = 5_000
    succs = _random_cfg(rng, n)
    start = time.perf_counter()
    dom = dominators("0", succs)
    pdom = post_dominators(succs)
    forest = natural_loops("0", succs, dom)
    cut = cycle_cut_edges("0", succs)
    df = dom.frontier()
    elapsed = time.perf_counter() - start
    assert set(pdom) == set(succs) | {X}
    assert _is_acyclic(succs, cut)
    assert len(df) == len(dom)
    assert forest.loops is not None
    print(f"5k-block random CFG analysed in {elapsed * 1000:.1f} ms")


def test_big_call_graph_chain():
    n = 50_000
    nodes = [f"f{i}" for i in range(n)]
    edges = {nodes[i]: [nodes[i + 1]] for i in range(n - 1)}
    sccs = strongly_connected_components(nodes, edges)
    assert len(sccs) == n and sccs[0] == [nodes[-1]] and sccs[-1] == [nodes[0]]
    edges[nodes[-1]] = [nodes[0]]
    assert recursive_nodes(nodes, edges) == set(nodes)
