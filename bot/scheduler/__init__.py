"""Scheduled reports, exactly once, and the catalog refresh: APScheduler jobs in the one loop.

    config.py    the ``schedules`` section: ``Schedule``, ``parse_schedules``, ``cron_trigger``
    times.py     fire times of a trigger; the claim key of a run
    claims.py    run statuses and ``RunRecord`` (the ``ClaimStore`` port is in ``bot.ports``)
    runs.py      one run: claim, ``/report`` through the dispatcher, post, record
    service.py   ``ReportScheduler``: cron jobs, catching up at start, missed runs
    refresh.py   ``schedule_refresh``: each catalog source re-synced as an interval job

Every replica runs an ``AsyncIOScheduler`` with one ``CronTrigger`` per schedule, and every
replica fires. Before posting, a run claims ``(schedule id, scheduled time)`` with one
``INSERT ... ON CONFLICT DO NOTHING`` (``bot.store.sql.claims``); only the replica whose row
went in posts, and the row then records the outcome. A claimed run is never run again,
whatever happens to the claimer, so a post never happens twice.
"""

from bot.scheduler.claims import RunRecord
from bot.scheduler.config import (
    CronError,
    Schedule,
    SchedulesSettings,
    cron_trigger,
    parse_schedules,
)
from bot.scheduler.refresh import RefreshJobs, schedule_refresh
from bot.scheduler.runs import ReportRuns, RunOutcome
from bot.scheduler.service import ReportScheduler, instance_id, new_scheduler
from bot.scheduler.times import fire_times, last_fire_time, parse_run_key, run_key

__all__ = [
    "CronError",
    "RefreshJobs",
    "ReportRuns",
    "ReportScheduler",
    "RunOutcome",
    "RunRecord",
    "Schedule",
    "SchedulesSettings",
    "cron_trigger",
    "fire_times",
    "instance_id",
    "last_fire_time",
    "new_scheduler",
    "parse_run_key",
    "parse_schedules",
    "run_key",
    "schedule_refresh",
]
