"""Small async ports the commands use: what they may ask, not how it is stored.

A port's methods are coroutines, so an implementation over a blocking store runs its work off
the event loop (``bot.catalog.queries.OffloadedCatalog`` runs ``CatalogReader`` in the app's
worker threads) and a handler that awaits it never holds the loop for a database read or an
index build. Discord's heartbeat, Slack's 3-second ack and the scheduler share that loop.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Protocol

from bot.catalog.model import Entity, EntityRef, Relation
from bot.catalog.read import Resolution


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
