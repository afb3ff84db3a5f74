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
    root = root.lower()
    tree = DependencyTree(root, direction, depth, level={root: 0})
    with rows.reading():  # two reads a level, on one connection
        _walk(rows, tree)
    return tree


def _walk(rows: CatalogRows, tree: DependencyTree) -> None:
    direct, to_api, from_api = _STEPS[tree.direction]
    direction = tree.direction
    frontier = [tree.root]
    for level in range(1, tree.depth + 2):  # one level more, to see cycles closing at the edge
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


@dataclass(frozen=True)
class Dependencies:
    """What ``/deps`` shows of an entity, read in one go: both trees, and the APIs it provides
    and consumes with who consumes and provides them."""

    down: DependencyTree
    up: DependencyTree
    provided: tuple[str, ...] = ()  # APIs the entity provides, sorted
    consumed: tuple[str, ...] = ()  # APIs it consumes, sorted
    consumers: dict[str, list[tuple[str, str]]] = field(default_factory=dict)  # per provided
    providers: dict[str, list[tuple[str, str]]] = field(default_factory=dict)  # per consumed


def dependencies(rows: CatalogRows, root: str, depth: int, apis: bool = True) -> Dependencies:
    """Both trees of ``root`` to ``depth``, and (``apis``) the APIs between it and others: one
    connection for every read (an answer's eight reads paid for one connection, not eight)."""
    root = root.lower()
    with rows.reading():
        down = dependency_tree(rows, root, "down", depth)
        up = dependency_tree(rows, root, "up", depth)
        if not apis:
            return Dependencies(down, up)
        own = relations_many(rows, [root], ("providesApi", "consumesApi")).get(root, [])
        provided = tuple(t for rel_type, t in own if rel_type == "providesApi")
        consumed = tuple(t for rel_type, t in own if rel_type == "consumesApi")
        return Dependencies(
            down,
            up,
            provided,
            consumed,
            relations_many(rows, provided, ("apiConsumedBy",)),
            relations_many(rows, consumed, ("apiProvidedBy",)),
        )


@dataclass(frozen=True)
class Owned:
    """What ``/owns`` shows of a group or user, read in one go: who owns (the group or user,
    a user's groups, with ``--all`` the child groups below), what each owns, and the group's
    own members and parents."""

    owners: tuple[str, ...]  # in display order: the one asked about, its groups, children
    groups: tuple[str, ...]  # a user's groups
    children: tuple[tuple[str, str], ...]  # (child group, its parent), nearest first
    owned: dict[str, list[tuple[str, str]]]  # owner -> ("ownerOf", entity) pairs, sorted
    members: tuple[str, ...] = ()  # a group's members
    parents: tuple[str, ...] = ()  # a group's parents
    has_children: bool = False  # a group with child groups


def owned(rows: CatalogRows, who: str, include_children: bool) -> Owned:
    """What ``who`` (a group or user ref) owns, and with ``include_children`` what every group
    below it (a user's: below each of their groups) owns: one connection for every read."""
    who = who.lower()
    is_user = who.startswith("user:")
    with rows.reading():
        mine = relations_many(
            rows, [who], ("memberOf",) if is_user else ("hasMember", "childOf", "parentOf")
        ).get(who, [])

        def of(rel_type: str) -> tuple[str, ...]:
            return tuple(t for found, t in mine if found == rel_type)

        groups = of("memberOf")
        owners = [who, *groups]
        listed = set(owners)  # a department's thousands of groups: no list scan per group
        children: list[tuple[str, str]] = []
        if include_children:
            for top in groups if is_user else (who,):
                for child, parent in descendants(rows, top):
                    if child not in listed:
                        listed.add(child)
                        owners.append(child)
                        children.append((child, parent))
        return Owned(
            tuple(owners),
            groups,
            tuple(children),
            relations_many(rows, owners, ("ownerOf",)),
            of("hasMember"),
            of("childOf"),
            bool(of("parentOf")),
        )


def descendants(rows: CatalogRows, group: str, limit_depth: int = 50) -> list[tuple[str, str]]:
    """Every group below ``group`` (children, their children...) as ``(group, parent)`` pairs,
    nearest first; a group that is its own ancestor is visited once."""
    seen = {group.lower()}
    out: list[tuple[str, str]] = []
    frontier = [group.lower()]
    with rows.reading():  # a read a level, on one connection
        for _ in range(limit_depth):
            if not frontier:
                break
            frontier = _children(rows, frontier, seen, out)
    return out


def _children(
    rows: CatalogRows, frontier: list[str], seen: set[str], out: list[tuple[str, str]]
) -> list[str]:
    """The next level of a group walk: the unseen children of ``frontier``, added to ``out``."""
    found = relations_many(rows, frontier, ("parentOf",))
    next_frontier = []
    for parent in frontier:
        for _type, child in found.get(parent, ()):
            if child not in seen:
                seen.add(child)
                out.append((child, parent))
                next_frontier.append(child)
    return next_frontier
