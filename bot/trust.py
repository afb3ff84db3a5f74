"""Whether the catalog can be trusted: sources that never synced, or whose last sync failed.

An answer that finds nothing is only as good as the catalog behind it: "nothing owns X" from a
catalog whose source failed an hour ago may be wrong. ``catalog_warnings`` gives one line per
such source, for answers that found nothing to carry as notes.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence

from sqlalchemy import select

from bot.catalog.remote import scrub
from bot.store.db import Database
from bot.store.schema import source_status

MAX_ERROR_CHARS = 200


def ago(value: dt.datetime, now: dt.datetime) -> str:
    """``3 h ago``, ``12 min ago``, ``2 days ago``."""
    seconds = max(0, int((now - value).total_seconds()))
    if seconds < 90:
        return f"{seconds} s ago"
    if seconds < 90 * 60:
        return f"{seconds // 60} min ago"
    if seconds < 48 * 3600:
        return f"{seconds // 3600} h ago"
    return f"{seconds // 86400} days ago"


def _utc(value: dt.datetime | None) -> dt.datetime | None:
    if value is not None and value.tzinfo is None:  # SQLite keeps no zone; Callboard writes UTC
        return value.replace(tzinfo=dt.UTC)
    return value


def catalog_warnings(db: Database, sources: Sequence[str], now: dt.datetime) -> tuple[str, ...]:
    """One line per configured source that never synced or whose last sync failed."""
    if not sources:
        return ()
    with db.engine.connect() as conn:
        rows = {
            r.name: r
            for r in conn.execute(
                select(
                    source_status.c.name,
                    source_status.c.last_attempt,
                    source_status.c.last_success,
                    source_status.c.last_error,
                ).where(source_status.c.name.in_(list(sources)))
            )
        }
    out: list[str] = []
    for name in sources:
        row = rows.get(name)
        if row is None or (row.last_error is None and row.last_success is None):
            out.append(
                f"source {name} has never synced: nothing from it is in the catalog yet "
                "(callboard sync)"
            )
            continue
        if not row.last_error:
            continue
        error = " ".join(scrub(row.last_error).split())
        if len(error) > MAX_ERROR_CHARS:
            error = error[: MAX_ERROR_CHARS - 1] + "…"
        attempt = _utc(row.last_attempt)
        when = f" {ago(attempt, now)}" if attempt is not None else ""
        success = _utc(row.last_success)
        if success is None:
            out.append(
                f"source {name} failed{when}: {error}; it has never synced, so nothing from it "
                "is in the catalog"
            )
        else:
            out.append(
                f"source {name} failed{when}: {error}; answers come from its last good sync "
                f"({ago(success, now)})"
            )
    return tuple(out)


def never_attempted(db: Database, sources: Sequence[str]) -> list[str]:
    """The sources (of ``sources``) no sync has ever tried, in order."""
    if not sources:
        return []
    with db.engine.connect() as conn:
        tried = set(
            conn.execute(
                select(source_status.c.name).where(
                    source_status.c.name.in_(list(sources)),
                    source_status.c.last_attempt.is_not(None),
                )
            ).scalars()
        )
    return [name for name in sources if name not in tried]
