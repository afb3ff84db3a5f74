"""The APScheduler side of scheduled reports: one cron job per schedule, catching up at start.

Every replica runs the jobs and every replica fires; ``ReportRuns`` claims each run before it
posts, so exactly one replica posts it. At start, the newest run due while no bot was running
is posted when it is within the schedule's misfire grace time, and recorded as missed (not
posted) when it is later.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import logging
import os
import socket
import uuid
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, Any

from apscheduler.events import EVENT_JOB_MISSED, JobExecutionEvent
from apscheduler.job import Job
from apscheduler.schedulers.asyncio import AsyncIOScheduler

from bot.scheduler.config import Schedule
from bot.scheduler.runs import ReportRuns, RunOutcome
from bot.scheduler.times import fire_times, last_fire_time

if TYPE_CHECKING:
    from bot.ports import ClaimStore

log = logging.getLogger(__name__)

CATCH_UP_LOOKBACK = dt.timedelta(days=7)


def instance_id() -> str:
    """Who claims: host, process and a random part (two bots in one process differ too)."""
    return f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:8]}"


def new_scheduler() -> AsyncIOScheduler:
    """The process's one APScheduler (report jobs and catalog refreshes); start it in the loop."""
    return AsyncIOScheduler(timezone=dt.UTC)


class ReportScheduler:
    """Runs the configured schedules with APScheduler; every run is claimed before it posts.

    ``start()`` (inside a running event loop) adds one cron job per schedule to the
    ``AsyncIOScheduler`` and catches up: the newest run due before now is posted when it is
    within the schedule's misfire grace time, and recorded as missed when it is older.
    """

    def __init__(
        self,
        schedules: Sequence[Schedule],
        runs: ReportRuns,
        *,
        aps: AsyncIOScheduler | None = None,
    ) -> None:
        self.schedules = {s.id: s for s in schedules if s.enabled}
        self.runs = runs
        self._aps = aps
        self._own_aps = aps is None  # made here: started and shut down here too
        self._started = False
        self._stopped = asyncio.Event()
        self._tasks: set[asyncio.Task[Any]] = set()
        self.catching_up: asyncio.Task[list[RunOutcome]] | None = None

    @property
    def aps(self) -> AsyncIOScheduler:
        """The APScheduler its report jobs run in (made on first use, shut down with this
        scheduler); the catalog refresh jobs share it."""
        if self._aps is None:
            self._aps = new_scheduler()
        return self._aps

    @property
    def active(self) -> bool:
        return bool(self.schedules)

    @property
    def instance(self) -> str:
        return self.runs.instance

    @property
    def claims(self) -> ClaimStore:
        return self.runs.claims

    @property
    def clock(self) -> Callable[[], dt.datetime]:
        return self.runs.clock

    async def run(self, schedule: Schedule, at: dt.datetime) -> RunOutcome:
        """Claim, build, post and record one run of ``schedule`` scheduled for ``at``."""
        return self.runs.record(await self.runs.run(schedule, at))

    # --- running with APScheduler ----------------------------------------------------------

    async def start(self) -> None:
        """Add the cron jobs, start APScheduler, and catch up on runs due before now.

        Must be awaited inside the running event loop. Catching up runs in the background
        (``self.catching_up``), so that serving chat is not held up by it.
        """
        if not self.schedules:
            return
        if self._aps is None:
            self._aps = new_scheduler()
        aps = self._aps
        for schedule in self.schedules.values():
            aps.add_job(
                self.on_fire,
                trigger=schedule.trigger(),
                args=(schedule.id,),
                id=f"report:{schedule.id}",
                name=f"{schedule.report} ({schedule.cron} {schedule.timezone})",
                misfire_grace_time=schedule.misfire_grace_s,
                coalesce=True,
                max_instances=1,
                replace_existing=True,
            )
        aps.add_listener(self._on_missed, EVENT_JOB_MISSED)
        self._started = True
        if not aps.running:
            aps.start()
        log.info(
            "scheduler %s: %s",
            self.instance,
            ", ".join(f"{s.id} next {self.next_run(s.id)}" for s in self.schedules.values()),
        )
        self.catching_up = asyncio.get_running_loop().create_task(self.catch_up())

    def job(self, schedule_id: str) -> Job | None:
        return self._aps.get_job(f"report:{schedule_id}") if self._aps else None

    def next_run(self, schedule_id: str) -> dt.datetime | None:
        job = self.job(schedule_id)
        return job.next_run_time if job is not None else None

    async def finish(self, grace_seconds: float) -> None:
        """Fire nothing new, and let runs in progress finish (up to ``grace_seconds``): those
        APScheduler fired, missed runs recorded, the start-up catch-up; ``shutdown`` then
        cancels what is left."""
        if self._aps is not None and self._aps.running:
            self._aps.pause()
        running = set(self._tasks)
        if self.catching_up is not None and not self.catching_up.done():
            running.add(self.catching_up)
        if running:
            await asyncio.wait(running, timeout=grace_seconds)

    def shutdown(self) -> None:
        """Stop firing; a run in progress is cancelled (its claim stays, so no replica
        posts it again)."""
        if self._aps is not None:
            if self._own_aps and self._aps.running:
                self._aps.shutdown(wait=False)
            elif self._aps.running and self._started:
                for schedule_id in self.schedules:
                    if self.job(schedule_id) is not None:
                        self._aps.remove_job(f"report:{schedule_id}")
                self._aps.remove_listener(self._on_missed)
        if self._own_aps:
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
        schedule = self.schedules.get(event.job_id.removeprefix("report:"))
        if schedule is None or not event.job_id.startswith("report:"):
            return
        task = asyncio.get_running_loop().create_task(self.run(schedule, event.scheduled_run_time))
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def on_fire(self, schedule_id: str) -> RunOutcome | None:
        """The job APScheduler runs: the run due now (the newest fire time before now). Its
        task is tracked, so ``finish`` waits for it (APScheduler's own shutdown would cancel
        it)."""
        task = asyncio.current_task()
        if task is not None:
            self._tasks.add(task)
        try:
            return await self._fire(schedule_id)
        finally:
            if task is not None:
                self._tasks.discard(task)

    async def _fire(self, schedule_id: str) -> RunOutcome | None:
        schedule = self.schedules[schedule_id]
        now = self.clock()
        lookback = dt.timedelta(seconds=schedule.misfire_grace_s) + dt.timedelta(days=1)
        at = last_fire_time(schedule.trigger(), now, lookback)
        if at is None:
            log.warning("schedule %s fired at %s with no run due", schedule_id, now)
            return None
        return await self.run(schedule, at)

    async def catch_up(self) -> list[RunOutcome]:
        """Runs due while no bot ran: post those within the grace time, record the rest."""
        now = self.clock()
        outcomes = []
        for schedule in self.schedules.values():
            trigger = schedule.trigger()
            last = await self.claims.last_run(schedule.id)
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
