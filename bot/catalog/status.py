"""What each catalog source did last: success, error, entity count, duration, problems.

Read by ``/callboard status`` and ``callboard status``. Every text is scrubbed of credentials
on the way out, whatever wrote it.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy import func, select

from bot.catalog.problems import Problem
from bot.catalog.remote import scrub
from bot.store.db import Database
from bot.store.schema import PROBLEM_COLUMNS, problems, source_status


@dataclass(frozen=True)
class SourceStatus:
    """One source's last sync, and the problems the catalog has from it now."""

    name: str
    type: str
    location: str | None
    last_attempt: dt.datetime | None
    last_success: dt.datetime | None
    last_error: str | None
    entity_count: int
    duration_ms: int | None
    problems: tuple[Problem, ...]  # newest first; at most the limit asked for
    problem_count: int
    error_count: int
    configured: bool = True  # False: in the database, no longer in the config

    @property
    def state(self) -> str:
        """``ok``, ``failing`` (the last attempt failed) or ``never synced``."""
        if self.last_error:
            return "failing"
        if self.last_success is None:
            return "never synced"
        return "ok"


def _utc(value: dt.datetime | None) -> dt.datetime | None:
    if value is not None and value.tzinfo is None:  # SQLite keeps no zone; Callboard writes UTC
        return value.replace(tzinfo=dt.UTC)
    return value


def source_statuses(
    db: Database,
    order: Sequence[str] = (),
    *,
    only: str | None = None,
    problem_limit: int = 5,
    problem_offset: int = 0,
) -> list[SourceStatus]:
    """Each source's status, configured ones in ``order`` first, then any left in the store.

    Problems are newest first (the latest sync's at the top), then in file order.
    """
    with db.engine.connect() as conn:
        stmt = select(source_status)
        if only is not None:
            stmt = stmt.where(source_status.c.name == only)
        rows = {r.name: r for r in conn.execute(stmt)}
        counts = {
            (r.source, r.level): int(r.n)
            for r in conn.execute(
                select(problems.c.source, problems.c.level, func.count().label("n")).group_by(
                    problems.c.source, problems.c.level
                )
            )
        }
        names = [n for n in order if only is None or n == only]
        names += sorted(n for n in rows if n not in names)
        out: list[SourceStatus] = []
        for name in names:
            row = rows.get(name)
            found = conn.execute(
                select(*PROBLEM_COLUMNS)
                .where(problems.c.source == name)
                .order_by(problems.c.created_at.desc(), problems.c.id)
                .offset(problem_offset)
                .limit(problem_limit)
            ).all()
            listed = tuple(
                Problem.from_dict(
                    {
                        **dict(p._mapping),
                        "message": scrub(p.message),
                        "file": scrub(p.file) if p.file else None,
                    }
                )
                for p in found
            )
            errors = counts.get((name, "error"), 0)
            total = errors + counts.get((name, "warning"), 0)
            out.append(
                SourceStatus(
                    name=name,
                    type=row.type if row is not None else "—",
                    location=scrub(row.location) if row is not None and row.location else None,
                    last_attempt=_utc(row.last_attempt) if row is not None else None,
                    last_success=_utc(row.last_success) if row is not None else None,
                    last_error=scrub(row.last_error)
                    if row is not None and row.last_error
                    else None,
                    entity_count=int(row.entity_count) if row is not None else 0,
                    duration_ms=row.duration_ms if row is not None else None,
                    problems=listed,
                    problem_count=total,
                    error_count=errors,
                    configured=name in order,
                )
            )
    return out


def status_data(
    db: Database, order: Sequence[str], now: dt.datetime, only: str | None = None
) -> dict[str, Any]:
    """Each source's status as data, for monitoring (``callboard status --format json``).

    ``ok`` is false when any source is failing or (configured and) never synced.
    """
    statuses = source_statuses(db, order, only=only, problem_limit=0)

    def when(value: dt.datetime | None) -> str | None:
        return value.astimezone(dt.UTC).isoformat() if value is not None else None

    sources = [
        {
            "name": s.name,
            "type": s.type,
            "location": s.location,
            "configured": s.configured,
            "state": s.state,
            "last_attempt": when(s.last_attempt),
            "last_success": when(s.last_success),
            "last_error": s.last_error,
            "entity_count": s.entity_count,
            "duration_ms": s.duration_ms,
            "problems": {
                "error": s.error_count,
                "warning": s.problem_count - s.error_count,
                "total": s.problem_count,
            },
        }
        for s in statuses
    ]
    healthy = all(s.state == "ok" for s in statuses if s.configured or s.state == "failing")
    return {"ok": healthy, "checked_at": now.astimezone(dt.UTC).isoformat(), "sources": sources}
