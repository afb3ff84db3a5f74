"""Small async ports the commands use: what they may ask, not how it is stored.

A port's methods are coroutines, so an implementation over a blocking store runs its work off
the event loop (``bot.catalog.queries.OffloadedCatalog`` runs ``CatalogReader`` in the app's
worker threads) and a handler that awaits it never holds the loop for a database read or an
index build. Discord's heartbeat, Slack's 3-second ack and the scheduler share that loop.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Protocol

from bot.catalog.graph import DependencyTree, Direction
from bot.catalog.model import Entity, EntityRef, Relation
from bot.catalog.read import NameIndex, Resolution
from bot.catalog.rows import ListedEntity
from bot.catalog.search import Query, SearchIndex, SearchResult


class CatalogQueries(Protocol):
    """Read access to the synced catalog: name resolution, entities and relations."""

    async def resolve(self, text: str, kinds: Sequence[str] = ()) -> Resolution:
        """The one entity ``text`` names, or ``NotFound``/``Ambiguous`` with suggestions."""
        ...

    async def get(self, ref: EntityRef | str) -> Entity | None: ...

    async def get_many(self, refs: Iterable[EntityRef | str]) -> dict[str, Entity]: ...

    async def relations(self, ref: EntityRef | str, types: Sequence[str] = ()) -> list[Relation]:
        """Relations on ``ref`` (its own and those others emitted toward it), deduplicated."""
        ...

    async def related(self, ref: EntityRef | str, rel_type: str) -> list[EntityRef]: ...

    async def users_by_email(self, email: str) -> list[Entity]: ...

    async def with_annotation(self, kind: str, key: str, value: str) -> list[Entity]: ...

    async def names(self) -> NameIndex:
        """The current name index (refs, names, titles), built off the loop when stale."""
        ...

    async def count(self) -> int:
        """How many entities the catalog holds."""
        ...

    async def kinds(self) -> list[str]:
        """The kinds the catalog holds, sorted."""
        ...

    async def listing(self, kind: str | None = None) -> list[ListedEntity]:
        """Every entity (of ``kind`` when given) with its owner, source and file, by ref."""
        ...


# --- catalog read ---


class CatalogGraph(Protocol):
    """Walks over the relation graph in bulk: ownership, dependency and group trees."""

    async def relations_many(
        self, refs: Iterable[str], types: Sequence[str]
    ) -> dict[str, list[tuple[str, str]]]:
        """``(type, target)`` pairs on each of ``refs`` (lower-cased), sorted, deduplicated;
        a ref with none is left out."""
        ...

    async def dependency_tree(self, root: str, direction: Direction, depth: int) -> DependencyTree:
        """What ``root`` depends on (``down``) or what depends on it (``up``), APIs folded
        into the services behind them."""
        ...

    async def descendants(self, group: str, limit_depth: int = 50) -> list[tuple[str, str]]:
        """Every group below ``group`` as ``(group, parent)`` pairs, nearest first."""
        ...


class SearchQueries(Protocol):
    """Ranked entity search over an index rebuilt off the loop per catalog generation."""

    async def search_index(self) -> SearchIndex:
        """The current search index (also a cheap summary of every entity: ``doc(ref)``)."""
        ...

    async def search(self, query: Query, limit: int = 10, offset: int = 0) -> SearchResult:
        """One page of ranked hits for ``query``."""
        ...
