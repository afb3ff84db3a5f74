"""The ``schedules`` config section: when (cron with day names, in a timezone), what, where.

```yaml
schedules:
  - id: team-digests
    cron: "0 9 * * mon-fri"      # minute hour day month day-of-week, day names only
    timezone: Europe/Rome        # per schedule (default UTC)
    report: digest               # ownership-gaps | stale-docs | changes | digest
    to: teams                    # each team's own channel (its Group's chat annotation)
  - id: platform-weekly
    cron: "30 9 * * mon"
    report: ownership-gaps
    to: slack:C0PLATFORM         # platform:channel (a list of targets works too)
```
"""

from __future__ import annotations

import datetime as dt
import re
from dataclasses import dataclass
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from apscheduler.triggers.cron import CronTrigger

from bot.config import Section
from bot.errors import ConfigError
from bot.reports.render import REPORTS
from bot.reports.settings import Target, WhenEmpty, parse_target, parse_when_empty

TEAMS = "teams"

_ID = re.compile(r"^[a-z0-9][a-z0-9._-]{0,99}$")
_CRON_FIELDS = ("minute", "hour", "day", "month", "day_of_week")


@dataclass(frozen=True)
class Schedule:
    """One configured schedule: when (cron in a timezone), what (a report), where (targets)."""

    id: str
    cron: str
    timezone: str
    report: str
    teams: bool  # deliver each team's own report to its channel(s)
    targets: tuple[Target, ...]  # and/or these channels (platform-wide, or ``team``'s)
    team: str | None = None  # scope the report to this group (a ref as written)
    when_empty: WhenEmpty | None = None  # None: the reports section decides
    misfire_grace_s: int = 3600
    enabled: bool = True

    @property
    def zone(self) -> ZoneInfo:
        return ZoneInfo(self.timezone)

    def trigger(self) -> CronTrigger:
        """The APScheduler trigger (validated when the config was read)."""
        return cron_trigger(self.cron, self.zone)


@dataclass(frozen=True)
class SchedulesSettings:
    """The ``schedules`` section: a list of schedules, in the order written."""

    schedules: tuple[Schedule, ...] = ()

    def get(self, schedule_id: str) -> Schedule | None:
        return next((s for s in self.schedules if s.id == schedule_id), None)


class CronError(ValueError):
    """A cron expression Callboard refuses; the message says what to write instead."""


def cron_trigger(expr: str, zone: ZoneInfo) -> CronTrigger:
    """A ``CronTrigger`` from a five-field crontab line whose day of week uses names.

    APScheduler 3 counts a numeric day of week from 0 = Monday and ``from_crontab`` passes the
    numbers through, so cron's ``1-5`` would run Tuesday to Saturday. Numbers are refused.
    """
    fields = expr.split()
    if len(fields) != 5:
        raise CronError(
            f"must have five fields (minute hour day month day-of-week), found {len(fields)} "
            f"in {expr!r}"
        )
    dow = fields[4]
    if any(ch.isdigit() for ch in dow):
        raise CronError(
            f"uses a numeric day of week ({dow!r}); write day names such as mon-fri or sat,sun: "
            "APScheduler 3 counts 0 as Monday, so cron's 1-5 would run Tuesday to Saturday"
        )
    try:
        return CronTrigger(**dict(zip(_CRON_FIELDS, fields, strict=True)), timezone=zone)
    except ValueError as exc:
        raise CronError(f"is not a valid cron expression ({expr!r}): {exc}") from None


MAX_GRACE_MINUTES = 31 * 24 * 60


def _parse_schedule(sec: Section) -> Schedule:
    schedule_id = sec.req_str("id").strip()
    if not _ID.match(schedule_id):
        raise sec.error(
            "id", f"must be lower-case letters, digits, '.', '_' or '-' (found {schedule_id!r})"
        )
    tz_name = (sec.str("timezone", "UTC") or "UTC").strip()
    try:
        zone = ZoneInfo(tz_name)
    except (ZoneInfoNotFoundError, ValueError):
        raise sec.error(
            "timezone", f"is {tz_name!r}, which is not an IANA time zone (e.g. Europe/Rome, UTC)"
        ) from None
    cron = " ".join(sec.req_str("cron").split())
    try:
        trigger = cron_trigger(cron, zone)
    except CronError as exc:
        raise sec.error("cron", str(exc)) from None
    if trigger.get_next_fire_time(None, dt.datetime(2000, 1, 1, tzinfo=dt.UTC)) is None:
        raise sec.error("cron", f"never fires ({cron!r}): check the day and month")
    report = sec.req_str("report").strip().lower()
    if report not in REPORTS:
        raise sec.error("report", f"must be one of {', '.join(REPORTS)}, found {report!r}")
    raw_to = sec.raw("to")
    if raw_to is None or raw_to == []:  # an empty list would post nowhere, silently
        raise sec.error("to", "is required: teams, or platform:channel (e.g. slack:C0PLATFORM)")
    values = raw_to if isinstance(raw_to, list) else [raw_to]
    teams = False
    targets: list[Target] = []
    for value in values:
        if not isinstance(value, str):
            raise sec.error("to", f"must be teams or platform:channel, found {value!r}")
        if value.strip().lower() == TEAMS:
            teams = True
        else:
            targets.append(parse_target(sec, "to", value))
    team = sec.str("team")
    if team is not None and teams:
        raise sec.error("team", "cannot go with to: teams (each team gets its own report)")
    when_empty = (
        parse_when_empty(sec, "when_empty", "all-clear") if "when_empty" in sec.data else None
    )
    grace_min = sec.int("misfire_grace_minutes", 60, minimum=1)
    if grace_min > MAX_GRACE_MINUTES:  # a run due further back is stale; huge values overflow
        raise sec.error(
            "misfire_grace_minutes",
            f"must be at most {MAX_GRACE_MINUTES} (31 days), found {grace_min}",
        )
    enabled = sec.bool("enabled", True)
    sec.done()
    return Schedule(
        id=schedule_id,
        cron=cron,
        timezone=tz_name,
        report=report,
        teams=teams,
        targets=tuple(dict.fromkeys(targets)),
        team=team.strip() if team else None,
        when_empty=when_empty,
        misfire_grace_s=grace_min * 60,
        enabled=enabled,
    )


def parse_schedules(sec: Section) -> SchedulesSettings:
    """Read the ``schedules:`` list; ids must be unique."""
    schedules = [_parse_schedule(item) for item in sec.entries()]
    seen: set[str] = set()
    for index, schedule in enumerate(schedules):
        if schedule.id in seen:
            raise ConfigError(
                f"{sec.file}: {sec.where}[{index}].id repeats the schedule id {schedule.id!r}"
            )
        seen.add(schedule.id)
    return SchedulesSettings(tuple(schedules))
