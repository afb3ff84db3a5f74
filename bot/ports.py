"""Small async ports the commands use: what they may ask, not how it is stored.

A port's methods are coroutines, so an implementation over a blocking store runs its work off
the event loop (``bot.catalog.queries.OffloadedCatalog`` runs ``CatalogReader`` in the app's
worker threads) and a handler that awaits it never holds the loop for a database read or an
index build. Discord's heartbeat, Slack's 3-second ack and the scheduler share that loop.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable, Mapping, Sequence
from typing import TYPE_CHECKING, Any, Protocol

from bot.catalog.model import Entity, EntityRef, Relation
from bot.catalog.read import Resolution

if TYPE_CHECKING:  # data types only: the scheduler package imports no port at run time
    from bot.chat import Reply, Request
    from bot.reports.store import Fault, ReportInputs, RunResults
    from bot.scheduler.claims import RunRecord


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


# --- scheduler ---


class Poster(Protocol):
    """Something that can post a reply into a channel of its platform (for scheduled reports)."""

    platform: str

    async def post(self, channel: str, reply: Reply) -> None: ...


class Dispatches(Protocol):
    """The dispatcher as the scheduler uses it: a request in, a reply out (never raises)."""

    async def dispatch(self, request: Request) -> Reply: ...


class ClaimStore(Protocol):
    """Runs of scheduled reports, each claimed once: exactly one replica posts a run.

    ``claim`` and ``record_missed`` are one insert-or-nothing each; True for exactly one
    caller, ever, per ``(schedule_id, at)``.
    """

    async def claim(
        self, schedule_id: str, report: str, at: dt.datetime, instance: str, now: dt.datetime
    ) -> bool: ...

    async def record_missed(
        self,
        schedule_id: str,
        report: str,
        at: dt.datetime,
        instance: str,
        now: dt.datetime,
        reason: str,
    ) -> bool: ...

    async def finish(
        self,
        schedule_id: str,
        at: dt.datetime,
        instance: str,
        now: dt.datetime,
        status: str,
        posts: int,
        detail: Mapping[str, Any],
    ) -> None:
        """Record how the claimed run at ``at`` ended (only the claimer's row changes)."""
        ...

    async def last_run(self, schedule_id: str) -> dt.datetime | None:
        """The newest scheduled time recorded for a schedule (claimed, posted or missed)."""
        ...

    async def runs(self, schedule_id: str | None = None) -> list[RunRecord]:
        """Stored runs, oldest first."""
        ...


# --- reports ---


class ReportsStore(Protocol):
    """What reports read and keep: the catalog read once per run, digest snapshots, faults."""

    async def read(self, changes_since: dt.datetime) -> ReportInputs:
        """Everything an analysis needs, read together (changes back to ``changes_since`` at
        least, and back to the oldest scope's last digest)."""
        ...

    async def record_run(self, results: RunResults, now: dt.datetime) -> None:
        """Keep a scheduled run's digest snapshots and what it learnt about channels."""
        ...

    async def claim_fault_notices(self, now: dt.datetime) -> list[Fault]:
        """The unreported channel faults this caller may report; each goes to one caller."""
        ...

    async def release_fault_notices(self, faults: Sequence[Fault]) -> None:
        """The notice was not posted: let a later run report these faults."""
        ...

    async def faults(self, unreported_only: bool = False) -> list[Fault]: ...
