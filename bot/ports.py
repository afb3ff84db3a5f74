"""Small async ports the commands use: what they may ask, not how it is stored.

A port's methods are coroutines, so an implementation over a blocking store runs its work off
the event loop (``bot.catalog.queries.OffloadedCatalog`` runs ``CatalogReader`` in the app's
worker threads) and a handler that awaits it never holds the loop for a database read or an
index build. Discord's heartbeat, Slack's 3-second ack and the scheduler share that loop.
"""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Iterable, Sequence
from contextlib import AbstractContextManager
from dataclasses import dataclass
from typing import TYPE_CHECKING, Protocol

from bot.catalog.model import Entity, EntityRef, Relation
from bot.catalog.problems import Problem
from bot.catalog.read import Resolution
from bot.catalog.reconcile import Plan, StoredEntity

if TYPE_CHECKING:
    from bot.catalog.locations import RuntimeLocation


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


# --- sync ---
# The sync runs in a worker thread (``CatalogSync.run`` is blocking by design), so its store
# ports are plain methods; ``SourceStatusReads`` is async, for the commands on the loop.


@dataclass(frozen=True)
class KnownFileRow:
    """A file of a source as the last sync stored it."""

    path: str
    sha256: str
    children: tuple[str, ...]
    refs_json: str  # JSON list: parsed only when a sync writes (``refs``), not on a no-change run
    position: int

    @property
    def refs(self) -> tuple[str, ...]:
        """The refs the file holds."""
        return tuple(json.loads(self.refs_json))


@dataclass(frozen=True)
class SourceStatusRow:
    """A source's status as stored: its last attempt, last success, error, count, duration."""

    name: str
    type: str
    location: str | None
    last_attempt: dt.datetime | None  # aware (UTC)
    last_success: dt.datetime | None  # aware (UTC)
    last_error: str | None  # as written: scrub before showing
    entity_count: int
    duration_ms: int | None


class SourceMoved(Exception):
    """Another sync of the source committed after this one read its known files."""


class SourceWriter(Protocol):
    """One source's write transaction, under its sync lock (``SyncStore.writing``)."""

    def stored_entities(self) -> dict[str, StoredEntity]: ...

    def stored_problems(self) -> list[Problem]: ...

    def execute(self, plan: Plan, now: dt.datetime) -> Plan:
        """Write ``plan``; the plan as written (without the entities the database refused)."""
        ...

    def replace_drop_notes(self, notes: Sequence[Problem] | None, now: dt.datetime) -> None:
        """Replace the source's Backstage drop warnings (None: work them out from the store)."""
        ...

    def nothing_changed(self, fresh: Sequence[Problem], now: dt.datetime) -> None: ...

    def succeeded(
        self, source_type: str, location: str | None, now: dt.datetime
    ) -> tuple[list[Problem], int]:
        """Record a successful run; the source's stored problems and entity count."""
        ...

    def finish(self, changed: bool) -> None:
        """Count this sync of the source, and a new catalog generation when it changed."""
        ...


class SyncStore(Protocol):
    """Where the sync reads what is stored and writes what it decided."""

    @property
    def read_only(self) -> bool: ...

    def known_files(self, source: str) -> tuple[int, list[KnownFileRow]]:
        """The source's version (syncs that wrote it) and its files as stored."""
        ...

    def writing(self, source: str, version: int) -> AbstractContextManager[SourceWriter]:
        """The source's write transaction; ``SourceMoved`` if another sync wrote it since
        ``version``; ``StoreError`` (rolled back) if the database refused."""
        ...

    def failed(
        self,
        source: str,
        source_type: str,
        location: str | None,
        error: str | None,
        found: Sequence[Problem],
        duration_ms: int,
        now: dt.datetime,
    ) -> None:
        """Record a failed run: its error, and the problems of no file replaced by ``found``."""
        ...

    def took(self, source: str, duration_ms: int) -> None: ...


class SourceStatusReads(Protocol):
    """Each source's status row, for the notes on answers that found nothing (``bot.trust``)."""

    async def status_rows(self, names: Sequence[str]) -> dict[str, SourceStatusRow]:
        """The rows of those of ``names`` that have one."""
        ...


class RuntimeLocationStore(Protocol):
    """The repositories registered at runtime (``bot.catalog.locations``), called from worker
    threads: the scaffolder offloads registering, the sync's source lists them."""

    def all(self) -> list[RuntimeLocation]: ...

    def find(self, url: str, ref: str | None, path: str) -> RuntimeLocation | None: ...

    def add(
        self, url: str, ref: str | None, path: str, added_at: dt.datetime, added_by: str | None
    ) -> None:
        """Store a location; one registered at the same moment elsewhere is kept, no error."""
        ...

    def remove(self, location_id: int) -> RuntimeLocation | None: ...

    def any(self) -> bool: ...
