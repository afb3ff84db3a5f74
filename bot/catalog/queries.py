"""The catalog read ports (``CatalogQueries``, ``CatalogGraph``, ``SearchQueries``) over a
store's ``CatalogRows``: ``CatalogReader``, the graph walks and ``SearchCache`` run in the
app's worker threads.

Every call is one hop to a worker thread of the pool and back; the store read, and a name or
search index rebuild after a catalog change, happen there and never on the event loop. The
SQL store (``bot.store.sql.catalog``) and the memory one (``bot.store.memory.catalog``) differ
only in the rows they hand over.
"""

from __future__ import annotations

import asyncio
import contextvars
import functools
from collections.abc import Callable, Iterable, Sequence
from concurrent.futures import Executor
from typing import ParamSpec, TypeVar

from bot.catalog import graph
from bot.catalog.graph import Dependencies, DependencyTree, Direction, Owned
from bot.catalog.model import Entity, EntityRef, Relation
from bot.catalog.read import CatalogReader, Holdings, NameIndex, Ownership, Resolution
from bot.catalog.rows import ListedEntity
from bot.catalog.search import Query, SearchCache, SearchIndex, SearchResult

P = ParamSpec("P")
T = TypeVar("T")


async def run_blocking(
    pool: Executor, fn: Callable[P, T], /, *args: P.args, **kwargs: P.kwargs
) -> T:
    """``fn(*args, **kwargs)`` in a thread of ``pool``, with the caller's context variables
    (as ``asyncio.to_thread`` does: a sync's progress reporter travels with it)."""
    loop = asyncio.get_running_loop()
    context = contextvars.copy_context()
    call = functools.partial(context.run, fn, *args, **kwargs)
    return await loop.run_in_executor(pool, call)


class OffloadedCatalog:
    """The catalog's read API as coroutines; the blocking reads run in ``pool``.

    Implements ``CatalogQueries``, ``CatalogGraph`` and ``SearchQueries`` (``bot.ports``).
    ``search`` is the search index cache (one per store, made here when not given).
    """

    def __init__(
        self, reader: CatalogReader, pool: Executor, search: SearchCache | None = None
    ) -> None:
        self.reader = reader
        self.pool = pool
        self.search_cache = search if search is not None else SearchCache(reader.rows)

    async def resolve(self, text: str, kinds: Sequence[str] = ()) -> Resolution:
        return await run_blocking(self.pool, self.reader.resolve, text, tuple(kinds))

    async def resolve_entity(
        self, text: str, kinds: Sequence[str] = ()
    ) -> tuple[Resolution, Entity | None]:
        return await run_blocking(self.pool, self.reader.resolve_entity, text, tuple(kinds))

    async def get(self, ref: EntityRef | str) -> Entity | None:
        return await run_blocking(self.pool, self.reader.get, ref)

    async def get_many(self, refs: Iterable[EntityRef | str]) -> dict[str, Entity]:
        return await run_blocking(self.pool, self.reader.get_many, list(refs))

    async def relations(self, ref: EntityRef | str, types: Sequence[str] = ()) -> list[Relation]:
        return await run_blocking(self.pool, self.reader.relations, ref, tuple(types))

    async def related(self, ref: EntityRef | str, rel_type: str) -> list[EntityRef]:
        return await run_blocking(self.pool, self.reader.related, ref, rel_type)

    async def ownership(self, ref: EntityRef | str) -> Ownership:
        return await run_blocking(self.pool, self.reader.ownership, ref)

    async def holdings(self, ref: EntityRef | str) -> Holdings:
        return await run_blocking(self.pool, self.reader.holdings, ref)

    async def users_by_email(self, email: str) -> list[Entity]:
        return await run_blocking(self.pool, self.reader.users_by_email, email)

    async def with_annotation(self, kind: str, key: str, value: str) -> list[Entity]:
        return await run_blocking(self.pool, self.reader.with_annotation, kind, key, value)

    async def names(self) -> NameIndex:
        return await run_blocking(self.pool, self.reader.index)

    async def count(self) -> int:
        return await run_blocking(self.pool, self.reader.rows.count)

    async def kinds(self) -> list[str]:
        return await run_blocking(self.pool, self.reader.kinds)

    async def listing(self, kind: str | None = None) -> list[ListedEntity]:
        return await run_blocking(self.pool, self.reader.listing, kind)

    # ---------------------------------------------------------------- CatalogGraph

    async def relations_many(
        self, refs: Iterable[str], types: Sequence[str]
    ) -> dict[str, list[tuple[str, str]]]:
        return await run_blocking(
            self.pool, graph.relations_many, self.reader.rows, list(refs), tuple(types)
        )

    async def dependency_tree(self, root: str, direction: Direction, depth: int) -> DependencyTree:
        return await run_blocking(
            self.pool, graph.dependency_tree, self.reader.rows, root, direction, depth
        )

    async def dependencies(self, root: str, depth: int, apis: bool = True) -> Dependencies:
        return await run_blocking(
            self.pool, graph.dependencies, self.reader.rows, root, depth, apis
        )

    async def owned(self, who: str, include_children: bool) -> Owned:
        return await run_blocking(self.pool, graph.owned, self.reader.rows, who, include_children)

    async def descendants(self, group: str, limit_depth: int = 50) -> list[tuple[str, str]]:
        return await run_blocking(
            self.pool, graph.descendants, self.reader.rows, group, limit_depth
        )

    # ---------------------------------------------------------------- SearchQueries

    async def search_index(self) -> SearchIndex:
        return await run_blocking(self.pool, self.search_cache.current)

    async def search(self, query: Query, limit: int = 10, offset: int = 0) -> SearchResult:
        # Ranking on a 43,000-entity index takes up to tens of milliseconds: not on the loop;
        # the index is looked up in the same job (one pool round trip, not two).
        return await run_blocking(self.pool, self._search, query, limit, offset)

    def _search(self, query: Query, limit: int, offset: int) -> SearchResult:
        return self.search_cache.current().search(query, limit, offset)
