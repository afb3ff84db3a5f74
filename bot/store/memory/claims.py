"""``ClaimStore`` in memory: the same exactly-once rules for one process (tests, one bot)."""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping
from dataclasses import replace
from typing import Any

from bot.scheduler.claims import CLAIMED, MISSED, RunRecord
from bot.scheduler.times import run_key


class MemoryClaimStore:
    """Runs keyed by ``(schedule id, scheduled time)``; the first insert of a key wins."""

    def __init__(self) -> None:
        self._runs: dict[tuple[str, str], RunRecord] = {}

    def _insert(self, record: RunRecord) -> bool:
        key = (record.schedule_id, run_key(record.scheduled_at))
        if key in self._runs:
            return False
        self._runs[key] = record
        return True

    async def claim(
        self, schedule_id: str, report: str, at: dt.datetime, instance: str, now: dt.datetime
    ) -> bool:
        at = at.astimezone(dt.UTC)
        return self._insert(RunRecord(schedule_id, at, report, CLAIMED, instance, now, None, 0, {}))

    async def record_missed(
        self,
        schedule_id: str,
        report: str,
        at: dt.datetime,
        instance: str,
        now: dt.datetime,
        reason: str,
    ) -> bool:
        at = at.astimezone(dt.UTC)
        detail = {"reason": reason}
        return self._insert(
            RunRecord(schedule_id, at, report, MISSED, instance, now, now, 0, detail)
        )

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
        key = (schedule_id, run_key(at))
        found = self._runs.get(key)
        if found is None or found.claimed_by != instance:
            return
        self._runs[key] = replace(
            found, status=status, finished_at=now, posts=posts, detail=dict(detail)
        )

    async def last_run(self, schedule_id: str) -> dt.datetime | None:
        times = [r.scheduled_at for (sid, _), r in self._runs.items() if sid == schedule_id]
        return max(times, default=None)

    async def runs(self, schedule_id: str | None = None) -> list[RunRecord]:
        found = [r for r in self._runs.values() if schedule_id in (None, r.schedule_id)]
        return sorted(found, key=lambda r: (run_key(r.scheduled_at), r.schedule_id))
