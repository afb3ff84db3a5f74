"""``ReportsStore`` in memory: catalog facts and change rows given, snapshots and faults kept.

The same rules as ``bot.store.sql.reports`` for one process: a snapshot once per (scope,
schedule, run), each scope's newest kept when pruning, a fault reported by one caller.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from dataclasses import replace

from bot.reports.changes import ChangeRow
from bot.reports.facts import CatalogFacts
from bot.reports.store import Fault, ReportInputs, RunResults, Snapshot


class MemoryReportsStore:
    """Reports' state for tests of handlers and runs without a database."""

    def __init__(self, facts: CatalogFacts, change_rows: Sequence[ChangeRow] = ()) -> None:
        self.facts = facts
        self.change_rows = list(change_rows)
        self.snapshots: list[Snapshot] = []  # oldest first
        self._faults: dict[tuple[str, str], Fault] = {}

    async def read(self, changes_since: dt.datetime) -> ReportInputs:
        newest: dict[str, Snapshot] = {}
        for snapshot in self.snapshots:
            newest[snapshot.scope] = snapshot
        after = min((s.last_change_id for s in newest.values()), default=None)
        rows = [
            r
            for r in self.change_rows
            if r.at >= changes_since or (after is not None and r.id > after)
        ]
        return ReportInputs(self.facts, newest, rows, await self.faults())

    async def record_run(self, results: RunResults, now: dt.datetime) -> None:
        for snapshot in results.snapshots:
            run = (snapshot.scope, snapshot.schedule_id, snapshot.scheduled_for)
            if all((s.scope, s.schedule_id, s.scheduled_for) != run for s in self.snapshots):
                self.snapshots.append(snapshot)
        newest = {s.scope: s for s in self.snapshots}
        self.snapshots = [
            s for s in self.snapshots if s.taken_at >= results.prune_before or newest[s.scope] is s
        ]
        for b in results.broken:
            key = (b.platform, b.channel)
            found = self._faults.get(key)
            error = b.error[:2000]
            if found is None:
                self._faults[key] = Fault(b.platform, b.channel, b.scope, error, now, now, None)
            else:
                self._faults[key] = replace(found, scope=b.scope, error=error, last_seen=now)
        for platform, channel in results.reached:
            self._faults.pop((platform, channel), None)

    async def claim_fault_notices(self, now: dt.datetime) -> list[Fault]:
        claimed = []
        for key, fault in sorted(self._faults.items()):
            if fault.reported_at is None:
                self._faults[key] = replace(fault, reported_at=now)
                claimed.append(self._faults[key])
        return claimed

    async def release_fault_notices(self, faults: Sequence[Fault]) -> None:
        for f in faults:
            key = (f.platform, f.channel)
            if key in self._faults:
                self._faults[key] = replace(self._faults[key], reported_at=None)

    async def faults(self, unreported_only: bool = False) -> list[Fault]:
        return [
            f
            for _, f in sorted(self._faults.items())
            if not unreported_only or f.reported_at is None
        ]
