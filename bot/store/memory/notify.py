"""``NotifyStore`` and ``SubscriptionStore`` in memory: the same rules for one process.

The catalog facts are read from a memory catalog and docs store, the change rows from a memory
sync store's log, as ``bot.store.memory.reports.CatalogReportsStore`` does.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
from collections.abc import Callable, Sequence

from bot.notify.model import (
    PENDING,
    SENDING,
    Batch,
    Cursor,
    Held,
    NotifyInputs,
    OutboxRow,
    Subscription,
)
from bot.ports import DocsQueries
from bot.reports.changes import ChangeRow
from bot.reports.settings import Target
from bot.store.memory.catalog import MemoryCatalogRows
from bot.store.memory.reports import catalog_facts


@dataclasses.dataclass
class _Kept:
    row: OutboxRow
    held: Held


class MemoryNotifyStore:
    """Notifications' state for the fast tier and single-process runs."""

    def __init__(
        self,
        rows: MemoryCatalogRows,
        docs: DocsQueries,
        changes: Callable[[], Sequence[ChangeRow]] = list,
    ) -> None:
        self.rows = rows
        self.docs = docs
        self.changes = changes
        self.cursor: Cursor | None = None
        self.told: set[tuple[str, str]] = set()
        self._outbox: list[_Kept] = []

    async def read(self) -> NotifyInputs:
        log = list(self.changes())
        last = max((r.id for r in log), default=0)
        facts = catalog_facts(self.rows, await self.docs.freshness(), last)
        cursor = self.cursor
        rows = [r for r in log if r.id > cursor.last_change_id] if cursor is not None else []
        return NotifyInputs(cursor, facts, rows, frozenset(self.told))

    async def commit(self, batch: Batch, now: dt.datetime) -> bool:
        if batch.base != self.cursor:
            return False
        version = batch.base.version + 1 if batch.base is not None else 1
        self.cursor = Cursor(batch.upto, version)
        self.told = (self.told - batch.dropped) | batch.added
        for m in batch.messages:
            new_id = len(self._outbox) + 1
            row = OutboxRow(
                new_id, version, m.target, PENDING, len(m.lines), m.not_before, now, None, None
            )
            held = Held(new_id, version, m.target, m.lines, dict(m.teams), now, m.omitted)
            self._outbox.append(_Kept(row, held))
        return True

    def _is_due(self, kept: _Kept, now: dt.datetime) -> bool:
        row = kept.row
        return row.status == PENDING and (row.not_before is None or row.not_before <= now)

    async def due(self, now: dt.datetime) -> list[Target]:
        found = {k.row.target for k in self._outbox if self._is_due(k, now)}
        return sorted(found, key=lambda t: (t.platform, t.channel))

    async def claim(self, targets: Sequence[Target], now: dt.datetime, instance: str) -> list[Held]:
        wanted = set(targets)
        claimed = []
        for kept in self._outbox:
            if kept.row.target in wanted and self._is_due(kept, now):
                kept.row = dataclasses.replace(kept.row, status=SENDING)
                claimed.append(kept.held)
        return claimed

    async def finish(
        self, ids: Sequence[int], status: str, error: str | None, now: dt.datetime
    ) -> None:
        wanted = set(ids)
        for kept in self._outbox:
            if kept.row.id in wanted:
                kept.row = dataclasses.replace(
                    kept.row, status=status, error=error, finished_at=now
                )

    async def outbox(self) -> list[OutboxRow]:
        return [k.row for k in self._outbox]


class MemorySubscriptions:
    """Follows kept in a dict, keyed as the SQL table is."""

    def __init__(self) -> None:
        self._subs: dict[tuple[str, str, str], Subscription] = {}

    async def subscribe(self, subscription: Subscription) -> bool:
        key = (subscription.platform, subscription.channel, subscription.target)
        if key in self._subs:
            return False
        self._subs[key] = subscription
        return True

    async def unsubscribe(self, platform: str, channel: str, target: str) -> bool:
        return self._subs.pop((platform, channel, target), None) is not None

    async def of_channel(self, platform: str, channel: str) -> list[Subscription]:
        return [s for k, s in sorted(self._subs.items()) if k[:2] == (platform, channel)]

    async def all(self) -> list[Subscription]:
        return [s for _, s in sorted(self._subs.items())]
