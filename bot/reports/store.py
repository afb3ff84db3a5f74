"""Report state kept between runs: digest snapshots (for trends) and channel faults.

These are the values the reports store (``bot.ports.ReportsStore``) reads and writes; the SQL
lives in ``bot.store.sql.reports``. Every write there that decides "who does it" is a single
statement whose outcome answers, so several replicas need no other coordination.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from bot.reports.changes import ChangeRow
from bot.reports.facts import CatalogFacts, short_ref

PLATFORM_SCOPE = "platform"


@dataclass(frozen=True)
class Snapshot:
    """What one posted digest counted for one scope."""

    scope: str
    schedule_id: str
    scheduled_for: str
    taken_at: dt.datetime
    last_change_id: int
    metrics: Mapping[str, Any]


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


@dataclass(frozen=True)
class BrokenChannel:
    """A channel a post could not reach in a run (``ChannelNotFound``)."""

    platform: str
    channel: str
    scope: str | None
    error: str


@dataclass(frozen=True)
class ReportInputs:
    """Everything one analysis reads, in one go: the catalog, digest snapshots (each scope's
    newest), the change rows any scope's window may need, and open channel faults."""

    facts: CatalogFacts
    snapshots: dict[str, Snapshot]
    change_rows: list[ChangeRow]
    faults: list[Fault]


@dataclass(frozen=True)
class RunResults:
    """What a scheduled run leaves behind: snapshots of the digests that reached their scope,
    the channels that could not be reached, and those reached again."""

    snapshots: Sequence[Snapshot]
    broken: Sequence[BrokenChannel]
    reached: Sequence[tuple[str, str]]  # (platform, channel)
    prune_before: dt.datetime  # snapshots older are forgotten (each scope's newest is kept)
