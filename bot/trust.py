"""Whether the catalog can be trusted: sources that never synced, or whose last sync failed.

An answer that finds nothing is only as good as the catalog behind it: "nothing owns X" from a
catalog whose source failed an hour ago may be wrong. ``catalog_notes`` gives one line per
such source, for answers that found nothing to carry as notes.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping, Sequence

from bot.catalog.remote import scrub
from bot.ports import SourceStatusReads, SourceStatusRow

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


def warnings_for(
    rows: Mapping[str, SourceStatusRow], sources: Sequence[str], now: dt.datetime
) -> tuple[str, ...]:
    """One line per source of ``sources`` that never synced or whose last sync failed."""
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
        when = f" {ago(row.last_attempt, now)}" if row.last_attempt is not None else ""
        if row.last_success is None:
            out.append(
                f"source {name} failed{when}: {error}; it has never synced, so nothing from it "
                "is in the catalog"
            )
        else:
            out.append(
                f"source {name} failed{when}: {error}; answers come from its last good sync "
                f"({ago(row.last_success, now)})"
            )
    return tuple(out)


async def catalog_notes(
    statuses: SourceStatusReads, sources: Sequence[str], now: dt.datetime
) -> tuple[str, ...]:
    """``catalog_warnings`` through the async port (from the event loop)."""
    if not sources:
        return ()
    return warnings_for(await statuses.status_rows(sources), sources, now)


async def never_attempted(statuses: SourceStatusReads, sources: Sequence[str]) -> list[str]:
    """The sources (of ``sources``) no sync has ever tried, in order."""
    if not sources:
        return []
    rows = await statuses.status_rows(sources)
    return [name for name in sources if name not in rows or rows[name].last_attempt is None]


async def last_attempt(statuses: SourceStatusReads, source: str) -> dt.datetime | None:
    """When any replica last tried to sync ``source`` (its stored status)."""
    row = (await statuses.status_rows([source])).get(source)
    return row.last_attempt if row is not None else None
