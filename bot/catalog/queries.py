"""``CatalogQueries`` over the synced store: ``CatalogReader`` run in the app's worker threads.

Every call is one hop to a worker thread of the app's bounded pool and back; the database
read, and a name-index rebuild after a catalog change, happen there and never on the event
loop.
"""

from __future__ import annotations

import asyncio
import contextvars
import functools
from collections.abc import Callable, Iterable, Sequence
from concurrent.futures import Executor
from typing import ParamSpec, TypeVar

from bot.catalog.model import Entity, EntityRef, Relation
from bot.catalog.read import CatalogReader, Resolution

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
    """The catalog's read API as coroutines; the blocking reads run in ``pool``."""

    def __init__(self, reader: CatalogReader, pool: Executor) -> None:
        self.reader = reader
        self.pool = pool

    async def resolve(self, text: str, kinds: Sequence[str] = ()) -> Resolution:
        return await run_blocking(self.pool, self.reader.resolve, text, tuple(kinds))

    async def get(self, ref: EntityRef | str) -> Entity | None:
        return await run_blocking(self.pool, self.reader.get, ref)

    async def get_many(self, refs: Iterable[EntityRef | str]) -> dict[str, Entity]:
        return await run_blocking(self.pool, self.reader.get_many, list(refs))

    async def relations(self, ref: EntityRef | str, types: Sequence[str] = ()) -> list[Relation]:
        return await run_blocking(self.pool, self.reader.relations, ref, tuple(types))

    async def related(self, ref: EntityRef | str, rel_type: str) -> list[EntityRef]:
        return await run_blocking(self.pool, self.reader.related, ref, rel_type)

    async def users_by_email(self, email: str) -> list[Entity]:
        return await run_blocking(self.pool, self.reader.users_by_email, email)

    async def with_annotation(self, kind: str, key: str, value: str) -> list[Entity]:
        return await run_blocking(self.pool, self.reader.with_annotation, kind, key, value)
