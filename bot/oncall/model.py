"""What an on-call lookup answers: who is on call at each level, since and until when, and next."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

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


class ProviderError(Exception):
    """The provider refused or failed (its message, said to the user in one line)."""


class RateLimited(ProviderError):
    def __init__(self, message: str, retry_after: float) -> None:
        super().__init__(message)
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
