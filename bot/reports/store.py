"""Report state in the database: digest snapshots (for trends) and channel faults.

Every write that decides "who does it" is a single statement whose row count answers:
``INSERT ... ON CONFLICT DO NOTHING`` and ``UPDATE ... WHERE reported_at IS NULL``. Both behave
the same on SQLite and PostgreSQL, so several replicas need no other coordination.
"""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from sqlalchemy import Connection, Table, delete, func, insert, select, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.exc import IntegrityError

from bot.store.schema import channel_faults, report_snapshots

PLATFORM_SCOPE = "platform"


def insert_ignore(
    conn: Connection, table: Table, values: Mapping[str, Any], keys: Iterable[str]
) -> bool:
    """Insert a row unless one with the same unique ``keys`` exists; True when inserted."""
    # RETURNING says whether the row went in (psycopg reports no row count for it).
    name = conn.dialect.name
    keys = list(keys)
    key_column = table.c[keys[0]]
    if name == "postgresql":
        pg = postgresql.insert(table).values(**values)
        pg_stmt = pg.on_conflict_do_nothing(index_elements=keys).returning(key_column)
        return conn.execute(pg_stmt).first() is not None
    if name == "sqlite":
        lite = sqlite.insert(table).values(**values)
        lite_stmt = lite.on_conflict_do_nothing(index_elements=keys).returning(key_column)
        return conn.execute(lite_stmt).first() is not None
    try:  # any other database: the unique key refuses the second insert
        with conn.begin_nested():
            conn.execute(insert(table).values(**values))
    except IntegrityError:
        return False
    return True


def utc(value: dt.datetime | None) -> dt.datetime | None:
    """Datetimes from SQLite come back naive; every time Callboard stores is UTC."""
    if value is None:
        return None
    return value if value.tzinfo else value.replace(tzinfo=dt.UTC)


@dataclass(frozen=True)
class Snapshot:
    """What one posted digest counted for one scope."""

    scope: str
    schedule_id: str
    scheduled_for: str
    taken_at: dt.datetime
    last_change_id: int
    metrics: Mapping[str, Any]


def latest_snapshots(conn: Connection, scopes: Iterable[str] | None = None) -> dict[str, Snapshot]:
    """The newest snapshot of each scope (of ``scopes``, or of all)."""
    newest = select(func.max(report_snapshots.c.id)).group_by(report_snapshots.c.scope)
    stmt = select(report_snapshots).where(report_snapshots.c.id.in_(newest.scalar_subquery()))
    wanted = set(scopes) if scopes is not None else None
    out: dict[str, Snapshot] = {}
    for row in conn.execute(stmt):
        if wanted is not None and row.scope not in wanted:
            continue
        taken = utc(row.taken_at)
        assert taken is not None
        out[row.scope] = Snapshot(
            row.scope,
            row.schedule_id,
            row.scheduled_for,
            taken,
            int(row.last_change_id),
            json.loads(row.metrics),
        )
    return out


def write_snapshot(conn: Connection, snapshot: Snapshot) -> bool:
    """Store a snapshot once per (scope, run); False when this run already stored one."""
    return insert_ignore(
        conn,
        report_snapshots,
        {
            "scope": snapshot.scope,
            "schedule_id": snapshot.schedule_id,
            "scheduled_for": snapshot.scheduled_for,
            "taken_at": snapshot.taken_at,
            "last_change_id": snapshot.last_change_id,
            "metrics": json.dumps(dict(snapshot.metrics), sort_keys=True),
        },
        ("scope", "schedule_id", "scheduled_for"),
    )


def prune_snapshots(conn: Connection, before: dt.datetime) -> None:
    """Forget snapshots older than ``before``, except each scope's newest (the trend's base)."""
    newest = select(func.max(report_snapshots.c.id)).group_by(report_snapshots.c.scope)
    conn.execute(
        delete(report_snapshots).where(
            report_snapshots.c.taken_at < before,
            report_snapshots.c.id.not_in(newest.scalar_subquery()),
        )
    )


@dataclass(frozen=True)
class Fault:
    """A channel posts cannot reach."""

    platform: str
    channel: str
    scope: str | None
    error: str
    first_seen: dt.datetime
    last_seen: dt.datetime
    reported_at: dt.datetime | None

    def line_text(self) -> str:
        from bot.reports.facts import short_ref

        whose = f" ({short_ref(self.scope)})" if self.scope and self.scope != PLATFORM_SCOPE else ""
        return (
            f"{self.platform} channel {self.channel}{whose}: {self.error} "
            f"(since {self.first_seen.date().isoformat()})"
        )

    def to_dict(self) -> dict[str, Any]:
        return {
            "platform": self.platform,
            "channel": self.channel,
            "scope": self.scope,
            "error": self.error,
            "first_seen": self.first_seen.isoformat(),
            "last_seen": self.last_seen.isoformat(),
        }


def record_fault(
    conn: Connection, platform: str, channel: str, scope: str | None, error: str, now: dt.datetime
) -> bool:
    """Remember that ``channel`` cannot be reached; True when it is newly broken."""
    inserted = insert_ignore(
        conn,
        channel_faults,
        {
            "platform": platform,
            "channel": channel,
            "scope": scope,
            "error": error[:2000],
            "first_seen": now,
            "last_seen": now,
        },
        ("platform", "channel"),
    )
    if not inserted:
        conn.execute(
            update(channel_faults)
            .where(channel_faults.c.platform == platform, channel_faults.c.channel == channel)
            .values(last_seen=now, error=error[:2000], scope=scope)
        )
    return inserted


def clear_fault(conn: Connection, platform: str, channel: str) -> None:
    """The channel took a post again: forget the fault (a new one is reported anew)."""
    conn.execute(
        delete(channel_faults).where(
            channel_faults.c.platform == platform, channel_faults.c.channel == channel
        )
    )


def claim_fault_report(conn: Connection, fault: Fault, now: dt.datetime) -> bool:
    """Take the one right to report ``fault``; False when someone already has."""
    result = conn.execute(
        update(channel_faults)
        .where(
            channel_faults.c.platform == fault.platform,
            channel_faults.c.channel == fault.channel,
            channel_faults.c.reported_at.is_(None),
        )
        .values(reported_at=now)
        .returning(channel_faults.c.channel)
    )
    return result.first() is not None


def release_fault_report(conn: Connection, fault: Fault) -> None:
    """The notice could not be posted (nothing went out): let a later run report it."""
    conn.execute(
        update(channel_faults)
        .where(
            channel_faults.c.platform == fault.platform, channel_faults.c.channel == fault.channel
        )
        .values(reported_at=None)
    )


def open_faults(conn: Connection, unreported_only: bool = False) -> list[Fault]:
    stmt = select(channel_faults).order_by(channel_faults.c.platform, channel_faults.c.channel)
    if unreported_only:
        stmt = stmt.where(channel_faults.c.reported_at.is_(None))
    out = []
    for row in conn.execute(stmt):
        first, last = utc(row.first_seen), utc(row.last_seen)
        assert first is not None and last is not None
        out.append(
            Fault(
                row.platform, row.channel, row.scope, row.error, first, last, utc(row.reported_at)
            )
        )
    return out
