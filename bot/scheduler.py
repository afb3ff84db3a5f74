"""Scheduled reports, exactly once: APScheduler cron triggers plus a run claim in the database.

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

Every replica runs an ``AsyncIOScheduler`` with one ``CronTrigger`` per schedule, and every
replica fires. Before posting, a run claims ``(schedule id, scheduled time)`` with one
``INSERT ... ON CONFLICT DO NOTHING`` into ``report_runs``; only the replica whose row went in
posts, and the row then records the outcome. A claimed run is never run again, whatever
happens to the claimer, so a post never happens twice.

At start, the newest run due while no bot was running is posted when it is within the
schedule's misfire grace time, and recorded as missed (not posted) when it is later.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import json
import logging
import os
import re
import socket
import uuid
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from apscheduler.events import EVENT_JOB_MISSED, JobExecutionEvent
from apscheduler.job import Job
from apscheduler.schedulers.asyncio import AsyncIOScheduler
from apscheduler.triggers.cron import CronTrigger
from sqlalchemy import func, select, update
from sqlalchemy.exc import SQLAlchemyError

from bot.annotations import CHANNEL_ANNOTATIONS
from bot.app import App
from bot.chat import Reply
from bot.chat import Section as ReplySection
from bot.config import Section
from bot.errors import ConfigError, NotFound, StoreError
from bot.reports.analysis import Analysis
from bot.reports.delivery import (
    NO_POSTER,
    NOT_FOUND,
    RATE_LIMITED,
    SKIPPED,
    Deliverer,
    Delivery,
    Sleep,
)
from bot.reports.delivery import POSTED as POSTED_DELIVERY
from bot.reports.render import ReportResult, build_report
from bot.reports.service import Reports
from bot.reports.settings import Target, WhenEmpty, parse_target, parse_when_empty
from bot.reports.store import (
    PLATFORM_SCOPE,
    Fault,
    Snapshot,
    claim_fault_report,
    clear_fault,
    insert_ignore,
    open_faults,
    prune_snapshots,
    record_fault,
    release_fault_report,
    utc,
    write_snapshot,
)
from bot.store.db import Database
from bot.store.schema import report_runs

log = logging.getLogger(__name__)

REPORTS = ("ownership-gaps", "stale-docs", "changes", "digest")
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


# ----------------------------------------------------------------------------- fire times


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


# ----------------------------------------------------------------------------- claims

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


class ClaimStore:
    """The ``report_runs`` table: a run is claimed by one INSERT that only one replica wins."""

    def __init__(self, db: Database) -> None:
        self.db = db

    def _row(
        self,
        schedule: Schedule,
        at: dt.datetime,
        instance: str,
        now: dt.datetime,
        status: str,
        detail: dict[str, Any],
    ) -> dict[str, Any]:
        return {
            "schedule_id": schedule.id,
            "scheduled_for": run_key(at),
            "scheduled_at": at.astimezone(dt.UTC),
            "report": schedule.report,
            "status": status,
            "claimed_by": instance,
            "claimed_at": now,
            "finished_at": now if status == MISSED else None,
            "posts": 0,
            "detail": json.dumps(detail),
        }

    def claim(self, schedule: Schedule, at: dt.datetime, instance: str, now: dt.datetime) -> bool:
        """Claim the run at ``at``; True for exactly one caller, ever."""
        try:
            with self.db.engine.begin() as conn:
                return insert_ignore(
                    conn, report_runs, self._row(schedule, at, instance, now, CLAIMED, {}), _KEY
                )
        except SQLAlchemyError as exc:
            raise StoreError(f"cannot claim run {schedule.id} {run_key(at)}: {exc}") from exc

    def record_missed(
        self, schedule: Schedule, at: dt.datetime, instance: str, now: dt.datetime, reason: str
    ) -> bool:
        """Record that the run at ``at`` was not posted in time; True when newly recorded."""
        detail = {"reason": reason}
        try:
            with self.db.engine.begin() as conn:
                return insert_ignore(
                    conn, report_runs, self._row(schedule, at, instance, now, MISSED, detail), _KEY
                )
        except SQLAlchemyError as exc:
            raise StoreError(f"cannot record missed run {schedule.id}: {exc}") from exc

    def finish(
        self,
        schedule: Schedule,
        at: dt.datetime,
        instance: str,
        now: dt.datetime,
        status: str,
        posts: int,
        detail: dict[str, Any],
    ) -> None:
        with self.db.engine.begin() as conn:
            conn.execute(
                update(report_runs)
                .where(
                    report_runs.c.schedule_id == schedule.id,
                    report_runs.c.scheduled_for == run_key(at),
                    report_runs.c.claimed_by == instance,
                )
                .values(status=status, finished_at=now, posts=posts, detail=json.dumps(detail))
            )

    def last_run(self, schedule_id: str) -> dt.datetime | None:
        """The newest scheduled time recorded for a schedule (claimed, posted or missed)."""
        with self.db.engine.connect() as conn:
            key = conn.execute(
                select(func.max(report_runs.c.scheduled_for)).where(
                    report_runs.c.schedule_id == schedule_id
                )
            ).scalar()
        return parse_run_key(key) if key else None

    def runs(self, schedule_id: str | None = None) -> list[RunRecord]:
        """Stored runs, oldest first."""
        stmt = select(report_runs).order_by(report_runs.c.scheduled_for, report_runs.c.schedule_id)
        if schedule_id is not None:
            stmt = stmt.where(report_runs.c.schedule_id == schedule_id)
        with self.db.engine.connect() as conn:
            rows = conn.execute(stmt).all()
        out = []
        for r in rows:
            claimed = utc(r.claimed_at)
            assert claimed is not None
            out.append(
                RunRecord(
                    r.schedule_id,
                    parse_run_key(r.scheduled_for),
                    r.report,
                    r.status,
                    r.claimed_by,
                    claimed,
                    utc(r.finished_at),
                    int(r.posts),
                    json.loads(r.detail),
                )
            )
        return out


_KEY = ("schedule_id", "scheduled_for")


# ----------------------------------------------------------------------------- the scheduler


@dataclass(frozen=True)
class RunOutcome:
    """What one firing of a schedule did."""

    schedule_id: str
    scheduled_at: dt.datetime
    status: str  # posted | partial | failed | nothing | missed | taken
    deliveries: tuple[Delivery, ...] = ()
    note: str | None = None

    @property
    def posts(self) -> int:
        return sum(1 for d in self.deliveries if d.status == POSTED_DELIVERY)


@dataclass
class _Progress:
    """How far a run got (read when it is stopped half way)."""

    deliveries: list[Delivery] = field(default_factory=list)
    planned: int | None = None
    sent: bool = False


def instance_id() -> str:
    """Who claims: host, process and a random part (two bots in one process differ too)."""
    return f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:8]}"


class ReportScheduler:
    """Runs the configured schedules with APScheduler; every run is claimed before it posts.

    ``start()`` (inside a running event loop) adds one cron job per schedule to an
    ``AsyncIOScheduler`` and catches up: the newest run due before now is posted when it is
    within the schedule's misfire grace time, and recorded as missed when it is older. Every
    replica may fire; only the one whose claim INSERT wins posts.
    """

    def __init__(
        self,
        app: App,
        schedules: Sequence[Schedule],
        *,
        instance: str | None = None,
        sleep: Sleep = asyncio.sleep,
    ) -> None:
        self.app = app
        self.schedules = {s.id: s for s in schedules if s.enabled}
        self.instance = instance or instance_id()
        self.sleep = sleep
        self.reports = Reports.of(app)
        self.claims = ClaimStore(app.db)
        self._aps: AsyncIOScheduler | None = None
        self._stopped = asyncio.Event()
        self._tasks: set[asyncio.Task[Any]] = set()
        self.catching_up: asyncio.Task[list[RunOutcome]] | None = None

    @classmethod
    def for_app(cls, app: App, **kwargs: Any) -> ReportScheduler:
        settings = app.settings.optional_section("schedules", SchedulesSettings)
        return cls(app, settings.schedules if settings else (), **kwargs)

    @property
    def active(self) -> bool:
        return bool(self.schedules)

    # --- running with APScheduler ----------------------------------------------------------

    async def start(self) -> None:
        """Add the cron jobs, start APScheduler, and catch up on runs due before now.

        Must be awaited inside the running event loop. Catching up runs in the background
        (``self.catching_up``), so that serving chat is not held up by it.
        """
        if not self.schedules:
            return
        aps = AsyncIOScheduler(timezone=dt.UTC)
        for schedule in self.schedules.values():
            aps.add_job(
                self.on_fire,
                trigger=schedule.trigger(),
                args=(schedule.id,),
                id=schedule.id,
                name=f"{schedule.report} ({schedule.cron} {schedule.timezone})",
                misfire_grace_time=schedule.misfire_grace_s,
                coalesce=True,
                max_instances=1,
                replace_existing=True,
            )
        aps.add_listener(self._on_missed, EVENT_JOB_MISSED)
        aps.start()
        self._aps = aps
        log.info(
            "scheduler %s: %s",
            self.instance,
            ", ".join(f"{s.id} next {self.next_run(s.id)}" for s in self.schedules.values()),
        )
        self.catching_up = asyncio.get_running_loop().create_task(self.catch_up())

    def next_run(self, schedule_id: str) -> dt.datetime | None:
        job = self._aps.get_job(schedule_id) if self._aps else None
        return job.next_run_time if job is not None else None

    def job(self, schedule_id: str) -> Job | None:
        return self._aps.get_job(schedule_id) if self._aps else None

    def shutdown(self) -> None:
        """Stop firing; a run in progress is cancelled (its claim stays, so no replica
        posts it again)."""
        if self._aps is not None and self._aps.running:
            self._aps.shutdown(wait=False)
        self._aps = None
        if self.catching_up is not None:
            self.catching_up.cancel()
        for task in list(self._tasks):
            task.cancel()
        self._stopped.set()

    async def wait(self) -> None:
        """Until ``shutdown``."""
        await self._stopped.wait()

    def _on_missed(self, event: JobExecutionEvent) -> None:
        """APScheduler skipped a run (the loop was busy past the grace time): record it."""
        schedule = self.schedules.get(event.job_id)
        if schedule is None:
            return
        task = asyncio.get_running_loop().create_task(self.run(schedule, event.scheduled_run_time))
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def on_fire(self, schedule_id: str) -> RunOutcome | None:
        """The job APScheduler runs: the run due now (the newest fire time before now)."""
        schedule = self.schedules[schedule_id]
        now = self.app.clock()
        lookback = dt.timedelta(seconds=schedule.misfire_grace_s) + dt.timedelta(days=1)
        at = last_fire_time(schedule.trigger(), now, lookback)
        if at is None:
            log.warning("schedule %s fired at %s with no run due", schedule_id, now)
            return None
        return await self.run(schedule, at)

    async def catch_up(self) -> list[RunOutcome]:
        """Runs due while no bot ran: post those within the grace time, record the rest."""
        now = self.app.clock()
        outcomes = []
        for schedule in self.schedules.values():
            trigger = schedule.trigger()
            last = await asyncio.to_thread(self.claims.last_run, schedule.id)
            if last is None:
                newest = last_fire_time(trigger, now, CATCH_UP_LOOKBACK)
                due = [newest] if newest else []
            else:
                due = fire_times(trigger, last, now)
            for at in due:
                try:
                    outcomes.append(await self.run(schedule, at))
                except Exception:  # one schedule's trouble (the database) spares the others
                    log.exception("schedule %s: catching up on %s failed", schedule.id, at)
        return outcomes

    # --- one run ---------------------------------------------------------------------------

    async def run(self, schedule: Schedule, at: dt.datetime) -> RunOutcome:
        """Claim, build, post and record one run of ``schedule`` scheduled for ``at``."""
        now = self.app.clock()
        late = (now - at).total_seconds()
        if late > schedule.misfire_grace_s:
            reason = (
                f"the run of {at.astimezone(schedule.zone):%a %d %b %Y %H:%M %Z} was not "
                f"started in time: {late / 60:.0f} minutes late is past the grace time of "
                f"{schedule.misfire_grace_s // 60} minutes (no bot was running, or it was stalled)"
            )
            recorded = await asyncio.to_thread(
                self.claims.record_missed, schedule, at, self.instance, now, reason
            )
            if recorded:
                log.warning("schedule %s: run %s missed: %s", schedule.id, run_key(at), reason)
            return RunOutcome(schedule.id, at, MISSED if recorded else TAKEN, note=reason)
        claimed = await asyncio.to_thread(self.claims.claim, schedule, at, self.instance, now)
        if not claimed:
            return RunOutcome(schedule.id, at, TAKEN)
        progress = _Progress()
        deliveries = progress.deliveries
        notice: Delivery | None = None
        note = None
        stopped = False
        try:
            notice = await self._execute(schedule, at, progress)
            status = _status(deliveries)
            if not deliveries:
                note = (
                    "no channel to post to: to: teams needs a Slack or Discord poster and "
                    "Groups with its channel annotation"
                )
        except asyncio.CancelledError:  # shutting down: record how far it got, then stop
            stopped = True
            posted = any(d.status == POSTED_DELIVERY for d in deliveries)
            status = _status(deliveries) if progress.sent else PARTIAL if posted else FAILED
            note = (
                f"stopped when the bot shut down, after {len(deliveries)} of "
                f"{progress.planned if progress.planned is not None else '?'} deliveries"
            )
        except Exception as exc:  # recorded on the claim; the claim is never run again
            log.exception("schedule %s: run %s failed", schedule.id, run_key(at))
            status, note = FAILED, f"{type(exc).__name__}: {exc}"
        detail: dict[str, Any] = {"deliveries": [d.to_dict() for d in deliveries]}
        if notice is not None:
            detail["fault_notice"] = notice.to_dict()
        if note:
            detail["note"] = note
        posts = sum(1 for d in deliveries if d.status == POSTED_DELIVERY)
        finish = asyncio.to_thread(
            self.claims.finish,
            schedule,
            at,
            self.instance,
            self.app.clock(),
            status,
            posts,
            detail,
        )
        await asyncio.shield(finish)  # the outcome is written even while shutting down
        log.info("schedule %s: run %s %s (%d posts)", schedule.id, run_key(at), status, posts)
        if stopped:
            raise asyncio.CancelledError
        return RunOutcome(schedule.id, at, status, tuple(deliveries), note)

    async def _execute(
        self, schedule: Schedule, at: dt.datetime, progress: _Progress
    ) -> Delivery | None:
        deliveries = progress.deliveries
        settings = self.reports.settings
        analysis = await self.reports.analyse_async(self.app.clock())
        deliverer = Deliverer(self.app.posters, settings, self.sleep)
        when_empty = schedule.when_empty or settings.when_empty
        jobs: list[tuple[str, str, str]] = []  # (scope, platform, channel)
        if schedule.teams:
            platforms = [p for p in self.app.posters if p in CHANNEL_ANNOTATIONS]
            for group, channels in analysis.team_scopes(platforms):
                jobs.extend((group.ref, p, c) for p, c in sorted(channels.items()))
        if schedule.targets:
            scope = PLATFORM_SCOPE
            if schedule.team:
                resolved = await self.app.offload(
                    self.app.catalog.resolve, schedule.team, ("group",)
                )
                if resolved.how == "fuzzy":  # never post a guessed team's report to a channel
                    raise NotFound(
                        f"team: {schedule.team} names no group (the closest is {resolved.ref})"
                    )
                scope = str(resolved.ref)
            jobs.extend((scope, t.platform, t.channel) for t in schedule.targets)
        progress.planned = len(jobs)
        built: dict[str, ReportResult] = {}
        for scope, platform, channel in jobs:
            result = built.get(scope)
            if result is None:
                result = build_report(analysis, schedule.report, scope, posted=True)
                built[scope] = result
            if result.empty and when_empty == "skip":
                deliveries.append(Delivery(platform, channel, scope, SKIPPED))
                continue
            deliveries.append(await deliverer.post(platform, channel, scope, result.reply))
        progress.sent = True
        await asyncio.to_thread(self._record, schedule, at, analysis, built, deliveries)
        return await self._report_faults(deliverer)

    def _record(
        self,
        schedule: Schedule,
        at: dt.datetime,
        analysis: Analysis,
        built: dict[str, ReportResult],
        deliveries: list[Delivery],
    ) -> None:
        """Digest snapshots for the scopes that got their digest; channel faults."""
        now = self.app.clock()
        reached = {d.scope for d in deliveries if d.ok}
        with self.app.db.engine.begin() as conn:
            for scope, result in built.items():
                if result.metrics is None or scope not in reached:
                    continue
                write_snapshot(
                    conn,
                    Snapshot(
                        scope,
                        schedule.id,
                        run_key(at),
                        now,
                        analysis.facts.last_change_id,
                        result.metrics.to_dict(),
                    ),
                )
            prune_snapshots(conn, now - SNAPSHOT_KEEP)
            for d in deliveries:
                if d.status == NOT_FOUND:
                    record_fault(conn, d.platform, d.channel, d.scope, d.error or d.status, now)
                elif d.status == POSTED_DELIVERY:
                    clear_fault(conn, d.platform, d.channel)

    async def _report_faults(self, deliverer: Deliverer) -> Delivery | None:
        """Tell the platform channel, once per fault, about channels posts cannot reach."""
        target = self.reports.settings.platform_channel
        if target is None:
            return None
        now = self.app.clock()

        def claim() -> list[Fault]:
            with self.app.db.engine.begin() as conn:
                return [
                    f
                    for f in open_faults(conn, unreported_only=True)
                    if claim_fault_report(conn, f, now)
                ]

        faults = await asyncio.to_thread(claim)
        if not faults:
            return None
        reply = Reply(
            title="Scheduled reports cannot reach these channels",
            text="Fix the Group's channel annotation, unarchive the channel, or invite the bot. "
            "Each channel is reported once; it is tried again at every run.",
            sections=(ReplySection(items=tuple(f.line_text() for f in faults)),),
            ephemeral=False,
        )
        delivery = await deliverer.post(target.platform, target.channel, PLATFORM_SCOPE, reply)
        if delivery.status in (NOT_FOUND, RATE_LIMITED, NO_POSTER):  # nothing went out

            def release() -> None:
                with self.app.db.engine.begin() as conn:
                    for f in faults:
                        release_fault_report(conn, f)

            await asyncio.to_thread(release)
        return delivery


CATCH_UP_LOOKBACK = dt.timedelta(days=7)
SNAPSHOT_KEEP = dt.timedelta(days=90)  # digest snapshots kept (each scope's newest always)


def _status(deliveries: Sequence[Delivery]) -> str:
    posted = sum(1 for d in deliveries if d.status == POSTED_DELIVERY)
    failed = sum(1 for d in deliveries if not d.ok)
    if failed:
        return PARTIAL if posted else FAILED
    return POSTED if posted else NOTHING
