"""What an on-call lookup answers: who is on call at each level, since and until when, and next."""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping
from dataclasses import dataclass

from bot.annotations import OPSGENIE_SCHEDULE, OPSGENIE_TEAM, PAGERDUTY_SERVICE_ID

PAGERDUTY = "PagerDuty"
OPSGENIE = "Opsgenie"


@dataclass(frozen=True)
class OnCallTarget:
    """What to look up: a provider, the kind of id (``service``, ``team``, ``schedule``), the id."""

    provider: str  # PAGERDUTY or OPSGENIE
    kind: str
    id: str

    @property
    def key(self) -> str:
        return f"{self.provider}:{self.kind}:{self.id}"


def targets_of(annotations: Mapping[str, str]) -> list[OnCallTarget]:
    """The on-call targets an entity's annotations name (PagerDuty service, Opsgenie schedule
    or team), in that order."""
    out: list[OnCallTarget] = []
    for key, provider, kind in (
        (PAGERDUTY_SERVICE_ID, PAGERDUTY, "service"),
        (OPSGENIE_SCHEDULE, OPSGENIE, "schedule"),
        (OPSGENIE_TEAM, OPSGENIE, "team"),
    ):
        value = (annotations.get(key) or "").strip()
        if value:
            out.append(OnCallTarget(provider, kind, value))
    return out


@dataclass(frozen=True)
class OnCallPerson:
    name: str
    email: str | None = None


@dataclass(frozen=True)
class OnCallShift:
    """One person on call at an escalation level, with the schedule and the shift's bounds."""

    level: int
    person: OnCallPerson
    start: dt.datetime | None = None
    end: dt.datetime | None = None
    schedule: str | None = None


@dataclass(frozen=True)
class OnCallAnswer:
    """The provider's answer for a target: on call now and next, or ``error`` said in one line."""

    target: OnCallTarget
    now: tuple[OnCallShift, ...] = ()
    next: tuple[OnCallShift, ...] = ()
    error: str | None = None
    # The budget ran out with the lookup still going on: ``OnCallDirectory.finish`` has it.
    late: bool = False


@dataclass(frozen=True)
class ScheduleGaps:
    """Where a target's first level has nobody on call in a window (each gap: the schedule as
    shown, its start and end), or ``error`` said in one line (the schedule was not checked)."""

    target: OnCallTarget
    gaps: tuple[tuple[str, dt.datetime, dt.datetime], ...] = ()
    error: str | None = None


Interval = tuple[dt.datetime | None, dt.datetime | None]  # None: open (on call since/until ever)
MIN_GAP = dt.timedelta(minutes=1)  # shorter holes are rounding between shifts, not gaps


def uncovered(
    covered: list[Interval], start: dt.datetime, end: dt.datetime
) -> list[tuple[dt.datetime, dt.datetime]]:
    """The parts of ``[start, end)`` no interval covers (gaps of at least ``MIN_GAP``)."""
    spans = sorted(
        (max(a or start, start), min(b or end, end))
        for a, b in covered
        if (a is None or a < end) and (b is None or b > start)
    )
    gaps: list[tuple[dt.datetime, dt.datetime]] = []
    at = start
    for a, b in spans:
        if a - at >= MIN_GAP:
            gaps.append((at, a))
        at = max(at, b)
    if end - at >= MIN_GAP:
        gaps.append((at, end))
    return gaps


class ProviderError(Exception):
    """The provider refused or failed (its message, said to the user in one line); ``kind`` is
    the bounded word the metrics count it by (``bot.apicalls``: ``http_503``, ``timeout``...)."""

    def __init__(self, message: str, kind: str = "error") -> None:
        super().__init__(message)
        self.kind = kind


class RateLimited(ProviderError):
    def __init__(self, message: str, retry_after: float) -> None:
        super().__init__(message, "http_429")
        self.retry_after = retry_after


def parse_time(value: object) -> dt.datetime | None:
    """An ISO 8601 time from a provider (``Z`` accepted), or None."""
    if not isinstance(value, str) or not value:
        return None
    try:
        parsed = dt.datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        return None
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=dt.UTC)
