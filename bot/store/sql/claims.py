"""``ClaimStore`` on the ``report_runs`` table: a run is claimed by one INSERT only one replica
wins (``INSERT ... ON CONFLICT DO NOTHING``), on SQLite and PostgreSQL alike."""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Mapping
from concurrent.futures import Executor
from typing import Any

from sqlalchemy import func, select, update
from sqlalchemy.exc import SQLAlchemyError

from bot.errors import StoreError
from bot.scheduler.claims import CLAIMED, MISSED, RunRecord
from bot.scheduler.times import parse_run_key, run_key
from bot.store.db import Database
from bot.store.schema import report_runs
from bot.store.sql.rows import Offloaded, insert_ignore, utc

_KEY = ("schedule_id", "scheduled_for")


class SqlClaimStore(Offloaded):
    """The ``report_runs`` table; every call runs in the store's pool, off the event loop."""

    def __init__(self, db: Database, pool: Executor | None = None) -> None:
        super().__init__(pool)
        self.db = db

    @staticmethod
    def _row(
        schedule_id: str,
        report: str,
        at: dt.datetime,
        instance: str,
        now: dt.datetime,
        status: str,
        detail: Mapping[str, Any],
    ) -> dict[str, Any]:
        return {
            "schedule_id": schedule_id,
            "scheduled_for": run_key(at),
            "scheduled_at": at.astimezone(dt.UTC),
            "report": report,
            "status": status,
            "claimed_by": instance,
            "claimed_at": now,
            "finished_at": now if status == MISSED else None,
            "posts": 0,
            "detail": json.dumps(dict(detail)),
        }

    def _insert(self, row: dict[str, Any], what: str) -> bool:
        try:
            with self.db.engine.begin() as conn:
                return insert_ignore(conn, report_runs, row, _KEY)
        except SQLAlchemyError as exc:
            raise StoreError(
                f"cannot {what} {row['schedule_id']} {row['scheduled_for']}: {exc}"
            ) from exc

    async def claim(
        self, schedule_id: str, report: str, at: dt.datetime, instance: str, now: dt.datetime
    ) -> bool:
        row = self._row(schedule_id, report, at, instance, now, CLAIMED, {})
        return await self._run(self._insert, row, "claim run")

    async def record_missed(
        self,
        schedule_id: str,
        report: str,
        at: dt.datetime,
        instance: str,
        now: dt.datetime,
        reason: str,
    ) -> bool:
        row = self._row(schedule_id, report, at, instance, now, MISSED, {"reason": reason})
        return await self._run(self._insert, row, "record missed run")

    def _finish(
        self,
        schedule_id: str,
        at: dt.datetime,
        instance: str,
        now: dt.datetime,
        status: str,
        posts: int,
        detail: Mapping[str, Any],
    ) -> None:
        with self.db.engine.begin() as conn:
            conn.execute(
                update(report_runs)
                .where(
                    report_runs.c.schedule_id == schedule_id,
                    report_runs.c.scheduled_for == run_key(at),
                    report_runs.c.claimed_by == instance,
                )
                .values(
                    status=status, finished_at=now, posts=posts, detail=json.dumps(dict(detail))
                )
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
        await self._run(self._finish, schedule_id, at, instance, now, status, posts, detail)

    def _last_run(self, schedule_id: str) -> dt.datetime | None:
        with self.db.engine.connect() as conn:
            key = conn.execute(
                select(func.max(report_runs.c.scheduled_for)).where(
                    report_runs.c.schedule_id == schedule_id
                )
            ).scalar()
        return parse_run_key(key) if key else None

    async def last_run(self, schedule_id: str) -> dt.datetime | None:
        return await self._run(self._last_run, schedule_id)

    def runs_now(self, schedule_id: str | None = None) -> list[RunRecord]:
        """``runs``, blocking (for a caller already in a worker thread, or a test's check)."""
        stmt = select(report_runs).order_by(report_runs.c.scheduled_for, report_runs.c.schedule_id)
        if schedule_id is not None:
            stmt = stmt.where(report_runs.c.schedule_id == schedule_id)
        with self.db.engine.connect() as conn:
            rows = conn.execute(stmt).all()
        out = []
        for r in rows:
            claimed = utc(r.claimed_at)
            assert claimed is not None
            out.append(
                RunRecord(
                    r.schedule_id,
                    parse_run_key(r.scheduled_for),
                    r.report,
                    r.status,
                    r.claimed_by,
                    claimed,
                    utc(r.finished_at),
                    int(r.posts),
                    json.loads(r.detail),
                )
            )
        return out

    async def runs(self, schedule_id: str | None = None) -> list[RunRecord]:
        return await self._run(self.runs_now, schedule_id)
