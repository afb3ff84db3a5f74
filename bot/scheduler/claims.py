"""What a run of a schedule is in the claim store: its statuses and its stored record.

A run is claimed by ``(schedule id, scheduled time)`` with one insert only one replica wins
(``bot.ports.ClaimStore``; ``bot.store.sql.claims`` on SQLite and PostgreSQL). A claimed run is
never run again, whatever happens to the claimer, so a post never happens twice.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import Any

CLAIMED = "claimed"
POSTED = "posted"
PARTIAL = "partial"
FAILED = "failed"
NOTHING = "nothing"
MISSED = "missed"
TAKEN = "taken"  # not a stored status: another replica claimed (or recorded) this run


@dataclass(frozen=True)
class RunRecord:
    """One stored run of a schedule."""

    schedule_id: str
    scheduled_at: dt.datetime
    report: str
    status: str
    claimed_by: str
    claimed_at: dt.datetime
    finished_at: dt.datetime | None
    posts: int
    detail: dict[str, Any]
