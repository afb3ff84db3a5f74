"""Walks over the relation graph in bulk: dependency trees in both directions, and group trees.

A walk reads one level at a time (two reads per level for dependency trees: the entities' own
relations, then the APIs they reach; one query per 500 refs in the SQL store), so its cost
depends on the depth, not on the fan-out. Cycles are normal in real catalogs (``a`` depends
on ``b`` depends on ``a``): every walk keeps the set of refs it has seen, and
``DependencyTree.lines`` marks a ref that closes a cycle instead of following it.

APIs are collapsed into the services behind them: when ``a`` consumes API ``x`` provided by
``b``, ``a`` depends on ``b`` *via* ``x``, and ``b`` is depended on by ``a`` via ``x``. That is
the question "what breaks if this goes down" asks.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from typing import Literal

from bot.catalog.rows import CatalogRows

Direction = Literal["down", "up"]


def relations_many(
    rows: CatalogRows, refs: Iterable[str], types: Sequence[str]
) -> dict[str, list[tuple[str, str]]]:
    """``(type, target)`` pairs on each of ``refs`` (lower-cased), sorted and deduplicated."""
    wanted = sorted({r.lower() for r in refs})
    if not wanted or not types:
        return {}
    found: dict[str, set[tuple[str, str]]] = defaultdict(set)
    for source, rel_type, target in rows.relation_pairs(wanted, tuple(types)):
        found[source].add((rel_type, target))
    return {ref: sorted(pairs) for ref, pairs in found.items()}


@dataclass(frozen=True)
class Edge:
    """A step of a dependency tree; ``via`` holds the APIs it goes through (none: direct)."""

    target: str
    via: tuple[str, ...] = ()


@dataclass(frozen=True)
class Line:
    """One row of a flattened tree: depth (1 = next to the root), the edge, and a mark.

    ``mark`` is ``"cycle"`` when the target is already on the path from the root (``cycle``
    spells the loop), ``"seen"`` when the target is expanded at another place of the tree,
    else None. ``beyond`` counts the target's own edges past the walk's depth (not shown).
    """

    depth: int
    edge: Edge
    mark: Literal["cycle", "seen"] | None = None
    cycle: tuple[str, ...] = ()
    beyond: int = 0


# (relation to follow directly, relation to an API, from that API to the services behind it)
_STEPS: dict[Direction, tuple[str, str, str]] = {
    "down": ("dependsOn", "consumesApi", "apiProvidedBy"),
    "up": ("dependencyOf", "providesApi", "apiConsumedBy"),
}


@dataclass
class DependencyTree:
    """What ``root`` depends on (``down``) or what depends on it (``up``), to ``depth``."""

    root: str
    direction: Direction
    depth: int
    children: dict[str, list[Edge]] = field(default_factory=dict)  # per expanded ref
    level: dict[str, int] = field(default_factory=dict)  # shallowest depth of each ref

    @property
    def reached(self) -> set[str]:
        """Every ref within the walk's depth, except the root."""
        return {r for r, d in self.level.items() if 0 < d <= self.depth}

    def lines(self) -> Iterator[Line]:
        """The tree depth-first; each ref is expanded once, at its shallowest place.

        The walk reads one level past ``depth``: from there only the edges that close a cycle
        are shown (so ``a ↔ b`` shows up at depth 1), the rest are counted in ``beyond``.
        """
        expanded: set[str] = {self.root}

        def visit(ref: str, depth: int, path: tuple[str, ...]) -> Iterator[Line]:
            for edge in self.children.get(ref, ()):
                target = edge.target
                if target in path:
                    yield Line(depth, edge, "cycle", (*path[path.index(target) :], target))
                elif depth > self.depth:
                    continue
                elif target in expanded or self.level.get(target, depth) < depth:
                    yield Line(depth, edge, "seen")
                else:
                    beyond = 0
                    if depth == self.depth:
                        loop = {*path, target}
                        beyond = sum(
                            1 for e in self.children.get(target, ()) if e.target not in loop
                        )
                    yield Line(depth, edge, beyond=beyond)
                    if target in self.children:
                        expanded.add(target)
                        yield from visit(target, depth + 1, (*path, target))

        yield from visit(self.root, 1, (self.root,))

    def cycles(self) -> list[tuple[str, ...]]:
        """Each distinct loop the tree runs into, as refs from its first ref back to it."""
        found: dict[frozenset[str], tuple[str, ...]] = {}
        for line in self.lines():
            if line.mark == "cycle":
                found.setdefault(frozenset(line.cycle), line.cycle)
        return list(found.values())


def dependency_tree(
    rows: CatalogRows, root: str, direction: Direction, depth: int
) -> DependencyTree:
    """Walk ``depth`` levels from ``root`` (an entity ref) in ``direction``."""
    direct, to_api, from_api = _STEPS[direction]
    root = root.lower()
    tree = DependencyTree(root, direction, depth, level={root: 0})
    frontier = [root]
    for level in range(1, depth + 2):  # one level more, to see cycles closing at the edge
        if not frontier:
            break
        own = relations_many(rows, frontier, (direct, to_api, from_api))
        apis = {t for pairs in own.values() for ty, t in pairs if ty == to_api}
        behind = relations_many(rows, apis, (from_api,)) if apis else {}
        next_frontier: list[str] = []
        for ref in frontier:
            vias: dict[str, set[str]] = defaultdict(set)  # target → APIs ("" for direct)
            for rel_type, target in own.get(ref, ()):
                if rel_type in (direct, from_api):  # from_api: the ref is itself an API
                    vias[target].add("")
                elif rel_type == to_api:
                    services = [t for _, t in behind.get(target, ()) if t != ref]
                    for service in services:
                        vias[service].add(target)
                    if not services and direction == "down":
                        vias[target].add("")  # an API nobody provides: show the API itself
            edges = [Edge(t, () if "" in v else tuple(sorted(v))) for t, v in sorted(vias.items())]
            tree.children[ref] = edges
            for edge in edges:
                if edge.target not in tree.level:
                    tree.level[edge.target] = level
                    next_frontier.append(edge.target)
        frontier = next_frontier
    return tree


def descendants(rows: CatalogRows, group: str, limit_depth: int = 50) -> list[tuple[str, str]]:
    """Every group below ``group`` (children, their children...) as ``(group, parent)`` pairs,
    nearest first; a group that is its own ancestor is visited once."""
    seen = {group.lower()}
    out: list[tuple[str, str]] = []
    frontier = [group.lower()]
    for _ in range(limit_depth):
        if not frontier:
            break
        found = relations_many(rows, frontier, ("parentOf",))
        next_frontier = []
        for parent in frontier:
            for _type, child in found.get(parent, ()):
                if child not in seen:
                    seen.add(child)
                    out.append((child, parent))
                    next_frontier.append(child)
        frontier = next_frontier
    return out
