"""Fire times of a cron trigger, and the claim key of a run (its scheduled instant in UTC)."""

from __future__ import annotations

import datetime as dt

from apscheduler.triggers.cron import CronTrigger


def run_key(at: dt.datetime) -> str:
    """The claim key of a run: its scheduled instant in UTC, ``2026-11-02T08:00:00Z``."""
    return at.astimezone(dt.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def parse_run_key(key: str) -> dt.datetime:
    return dt.datetime.strptime(key, "%Y-%m-%dT%H:%M:%SZ").replace(tzinfo=dt.UTC)


_TICK = dt.timedelta(microseconds=1)


def fire_times(
    trigger: CronTrigger, after: dt.datetime, until: dt.datetime, limit: int = 100
) -> list[dt.datetime]:
    """Fire times ``t`` with ``after < t <= until``, oldest first (at most the newest ``limit``).

    ``CronTrigger.get_next_fire_time`` is deterministic, so this is what the trigger would
    have fired had the bot been running all along.
    """
    out: list[dt.datetime] = []
    previous: dt.datetime | None = None
    current = trigger.get_next_fire_time(None, after + _TICK)
    while current is not None and current <= until:
        out.append(current)
        if len(out) > limit:
            out.pop(0)
        previous = current
        current = trigger.get_next_fire_time(previous, previous + _TICK)
    return out


def last_fire_time(
    trigger: CronTrigger, now: dt.datetime, lookback: dt.timedelta
) -> dt.datetime | None:
    """The newest fire time at or before ``now`` (looking back at most ``lookback``)."""
    found = fire_times(trigger, now - lookback, now, limit=1)
    return found[-1] if found else None
