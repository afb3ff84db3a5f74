"""One run of a schedule: claim it, dispatch its reports, post them, record the outcome.

A run's reports are ordinary commands: each scope's report is ``/report <name> <scope>``
through the dispatcher, as a person would ask it (the team resolved the same way, except that
an unattended request never guesses a name). A ``ReportRun`` makes every report of the run a
slice of one analysis, built for posting. The replies then go out through the platforms'
posters (``bot.reports.delivery``), and the run records digest snapshots, channel faults and
its outcome on its claim.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import logging
import shlex
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from bot.annotations import CHANNEL_ANNOTATIONS
from bot.chat import ChatUser, Reply, Request
from bot.chat import Section as ReplySection
from bot.errors import NotFound
from bot.reports.delivery import (
    FAILED,
    NO_POSTER,
    NOT_FOUND,
    POSTED,
    RATE_LIMITED,
    SKIPPED,
    Deliverer,
    Delivery,
    Sleep,
)
from bot.reports.render import ReportResult
from bot.reports.service import ReportRun, Reports
from bot.reports.store import PLATFORM_SCOPE, BrokenChannel, RunResults, Snapshot
from bot.scheduler import claims
from bot.scheduler.config import Schedule
from bot.scheduler.times import run_key

if TYPE_CHECKING:
    from bot.metrics import Metrics
    from bot.ports import ClaimStore, Dispatches, Poster

log = logging.getLogger(__name__)

SNAPSHOT_KEEP = dt.timedelta(days=90)  # digest snapshots kept (each scope's newest always)
FAULTS_TITLE = "Scheduled reports cannot reach these channels"


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
        return sum(1 for d in self.deliveries if d.status == POSTED)


@dataclass
class _Progress:
    """How far a run got (read when it is stopped half way)."""

    deliveries: list[Delivery] = field(default_factory=list)
    planned: int | None = None
    sent: bool = False


class ScheduleFailed(NotFound):
    """A schedule's own report could not be built (its ``team:`` names no group): the run
    fails, and nothing is posted in a guessed team's name."""


class ReportRuns:
    """Runs schedules: claim, dispatch, post, record. ``run`` is all a caller needs."""

    def __init__(
        self,
        *,
        dispatcher: Dispatches,
        reports: Reports,
        claims: ClaimStore,
        posters: Mapping[str, Poster],
        clock: Callable[[], dt.datetime],
        instance: str,
        sleep: Sleep = asyncio.sleep,
        metrics: Metrics | None = None,
    ) -> None:
        self.dispatcher = dispatcher
        self.reports = reports
        self.claims = claims
        self.posters = posters
        self.clock = clock
        self.instance = instance
        self.sleep = sleep
        self.metrics = metrics  # each run and delivery counted there

    def record(self, outcome: RunOutcome) -> RunOutcome:
        """Count ``outcome`` (its status, and each delivery's) in ``metrics``."""
        if self.metrics is not None:
            self.metrics.scheduled_run(outcome.schedule_id, outcome.status)
            for delivery in outcome.deliveries:
                self.metrics.delivery(delivery.platform, delivery.status)
        return outcome

    async def run(self, schedule: Schedule, at: dt.datetime) -> RunOutcome:
        """Claim, build, post and record one run of ``schedule`` scheduled for ``at``."""
        now = self.clock()
        late = (now - at).total_seconds()
        if late > schedule.misfire_grace_s:
            reason = (
                f"the run of {at.astimezone(schedule.zone):%a %d %b %Y %H:%M %Z} was not "
                f"started in time: {late / 60:.0f} minutes late is past the grace time of "
                f"{schedule.misfire_grace_s // 60} minutes (no bot was running, or it was stalled)"
            )
            recorded = await self.claims.record_missed(
                schedule.id, schedule.report, at, self.instance, now, reason
            )
            if recorded:
                log.warning("schedule %s: run %s missed: %s", schedule.id, run_key(at), reason)
            status = claims.MISSED if recorded else claims.TAKEN
            return RunOutcome(schedule.id, at, status, note=reason)
        if not await self.claims.claim(schedule.id, schedule.report, at, self.instance, now):
            return RunOutcome(schedule.id, at, claims.TAKEN)
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
            posted = any(d.status == POSTED for d in deliveries)
            if progress.sent:
                status = _status(deliveries)
            else:
                status = claims.PARTIAL if posted else claims.FAILED
            note = (
                f"stopped when the bot shut down, after {len(deliveries)} of "
                f"{progress.planned if progress.planned is not None else '?'} deliveries"
            )
        except Exception as exc:  # recorded on the claim; the claim is never run again
            if not isinstance(exc, ScheduleFailed):
                log.exception("schedule %s: run %s failed", schedule.id, run_key(at))
            status, note = claims.FAILED, f"{type(exc).__name__}: {exc}"
        detail: dict[str, Any] = {"deliveries": [d.to_dict() for d in deliveries]}
        if notice is not None:
            detail["fault_notice"] = notice.to_dict()
        if note:
            detail["note"] = note
        posts = sum(1 for d in deliveries if d.status == POSTED)
        finish = self.claims.finish(
            schedule.id, at, self.instance, self.clock(), status, posts, detail
        )
        await asyncio.shield(finish)  # the outcome is written even while shutting down
        log.info("schedule %s: run %s %s (%d posts)", schedule.id, run_key(at), status, posts)
        if stopped:
            raise asyncio.CancelledError
        return RunOutcome(schedule.id, at, status, tuple(deliveries), note)

    def _jobs(self, schedule: Schedule, run: ReportRun) -> list[tuple[str, str, str]]:
        """(scope, platform, channel) for every post of the run."""
        jobs: list[tuple[str, str, str]] = []
        if schedule.teams:
            platforms = [p for p in self.posters if p in CHANNEL_ANNOTATIONS]
            for group, channels in run.analysis.team_scopes(platforms):
                jobs.extend((group.ref, p, c) for p, c in sorted(channels.items()))
        if schedule.targets:
            scope = schedule.team or PLATFORM_SCOPE  # the team as written; resolved on dispatch
            jobs.extend((scope, t.platform, t.channel) for t in schedule.targets)
        return jobs

    async def _report(
        self, schedule: Schedule, run: ReportRun, scope: str
    ) -> tuple[ReportResult, Reply]:
        """``/report <name> [scope]`` through the dispatcher, as any command is asked."""
        words = ["/report", schedule.report] + ([] if scope == PLATFORM_SCOPE else [scope])
        line = shlex.join(words)  # a team as written may have spaces ("Team B")
        request = Request(
            text=line,
            user=ChatUser("scheduler", schedule.id, name=f"schedule {schedule.id}"),
            platform="scheduler",
            unattended=True,
        )
        run.last = None
        reply = await self.dispatcher.dispatch(request)
        if reply.error:
            raise ScheduleFailed(reply.text or f"{line} failed")
        result = run.last
        if result is None:
            raise ScheduleFailed(f"{line} built no report")
        return result, reply

    async def _execute(
        self, schedule: Schedule, at: dt.datetime, progress: _Progress
    ) -> Delivery | None:
        deliveries = progress.deliveries
        settings = self.reports.settings
        run = await self.reports.run(self.clock())
        deliverer = Deliverer(self.posters, settings, self.sleep)
        when_empty = schedule.when_empty or settings.when_empty
        jobs = self._jobs(schedule, run)
        progress.planned = len(jobs)
        built: dict[str, tuple[ReportResult, Reply]] = {}
        refused: dict[str, str] = {}  # a team gone since the analysis: its posts fail alone
        with run.active():
            for scope, _, _ in jobs:
                if scope in built or scope in refused:
                    continue
                try:
                    built[scope] = await self._report(schedule, run, scope)
                except ScheduleFailed as exc:
                    if not schedule.teams or scope == PLATFORM_SCOPE:
                        raise  # the schedule's own scope: the whole run fails
                    refused[scope] = str(exc)
        for scope, platform, channel in jobs:
            if scope in refused:
                deliveries.append(Delivery(platform, channel, scope, FAILED, refused[scope]))
                continue
            result, reply = built[scope]
            if result.empty and when_empty == "skip":
                deliveries.append(Delivery(platform, channel, result.scope, SKIPPED))
                continue
            deliveries.append(await deliverer.post(platform, channel, result.scope, reply))
        progress.sent = True
        await self.reports.store.record_run(
            self._results(schedule, at, run, [r for r, _ in built.values()], deliveries),
            self.clock(),
        )
        return await self._report_faults(deliverer)

    def _results(
        self,
        schedule: Schedule,
        at: dt.datetime,
        run: ReportRun,
        built: Sequence[ReportResult],
        deliveries: Sequence[Delivery],
    ) -> RunResults:
        """Digest snapshots for the scopes that got their digest; channel faults."""
        now = self.clock()
        reached = {d.scope for d in deliveries if d.ok}
        snapshots = [
            Snapshot(
                result.scope,
                schedule.id,
                run_key(at),
                now,
                run.analysis.facts.last_change_id,
                result.metrics.to_dict(),
            )
            for result in built
            if result.metrics is not None and result.scope in reached
        ]
        return RunResults(
            snapshots=snapshots,
            broken=[
                BrokenChannel(d.platform, d.channel, d.scope, d.error or d.status)
                for d in deliveries
                if d.status == NOT_FOUND
            ],
            reached=[(d.platform, d.channel) for d in deliveries if d.status == POSTED],
            prune_before=now - SNAPSHOT_KEEP,
        )

    async def _report_faults(self, deliverer: Deliverer) -> Delivery | None:
        """Tell the platform channel, once per fault, about channels posts cannot reach."""
        target = self.reports.settings.platform_channel
        if target is None:
            return None
        faults = await self.reports.store.claim_fault_notices(self.clock())
        if not faults:
            return None
        reply = Reply(
            title=FAULTS_TITLE,
            text="Fix the Group's channel annotation, unarchive the channel, or invite the bot. "
            "Each channel is reported once; it is tried again at every run.",
            sections=(ReplySection(items=tuple(f.line_text() for f in faults)),),
            ephemeral=False,
        )
        delivery = await deliverer.post(target.platform, target.channel, PLATFORM_SCOPE, reply)
        if delivery.status in (NOT_FOUND, RATE_LIMITED, NO_POSTER):  # nothing went out
            await self.reports.store.release_fault_notices(faults)
        return delivery


def _status(deliveries: Sequence[Delivery]) -> str:
    posted = sum(1 for d in deliveries if d.status == POSTED)
    failed = sum(1 for d in deliveries if not d.ok)
    if failed:
        return claims.PARTIAL if posted else claims.FAILED
    return claims.POSTED if posted else claims.NOTHING
