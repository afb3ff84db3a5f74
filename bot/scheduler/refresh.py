"""Catalog refresh as APScheduler jobs: each source re-synced every ``refresh_minutes``.

One interval job per source (its own ``refresh_minutes``, else the catalog's), with
``max_instances=1`` and ``coalesce``: a refresh still running when the next is due is not
started twice, and refreshes missed meanwhile collapse into one. A watcher job adds the jobs of
sources registered while running (the scaffolder's locations) and drops those gone. Each
refresh goes through the app's sync, which runs one sync at a time per process and, in the
store, holds the source's cross-process sync lock (a PostgreSQL advisory lock; SQLite's one
write lock), so replicas on one database never sync a source at the same time; and a source
another replica has just refreshed (its last attempt is within half an interval) is skipped.
"""

from __future__ import annotations

import datetime as dt
import logging
from collections.abc import Awaitable, Callable, Sequence
from typing import Any, Protocol

from apscheduler.schedulers.asyncio import AsyncIOScheduler
from apscheduler.triggers.interval import IntervalTrigger

log = logging.getLogger(__name__)

JOB_PREFIX = "refresh:"
WATCH_JOB = "refresh-sources"
WATCH_SECONDS = 30.0  # how soon a source registered at run time gets its refresh job


class Summarised(Protocol):
    def summary(self) -> str: ...


SyncOne = Callable[..., Awaitable[Summarised]]  # ``sync_async(only=name)``
LastAttempt = Callable[[str], Awaitable[dt.datetime | None]]  # any replica's, from the store


class CatalogRefresh(Protocol):
    """The catalog settings a refresh schedule reads."""

    @property
    def refresh_minutes(self) -> int: ...

    @property
    def sources(self) -> Sequence[Any]: ...  # each with ``name`` and ``refresh_minutes``


class RefreshJobs:
    """The refresh jobs of one scheduler; ``sync()`` adds and removes them to match sources."""

    def __init__(
        self,
        scheduler: AsyncIOScheduler,
        sync_async: SyncOne,
        sources: Callable[[], Sequence[str]],
        catalog: CatalogRefresh,
        last_attempt: LastAttempt | None = None,
        clock: Callable[[], dt.datetime] = lambda: dt.datetime.now(dt.UTC),
    ) -> None:
        self.scheduler = scheduler
        self.sync_async = sync_async
        self.sources = sources
        self.last_attempt = last_attempt
        self.clock = clock
        self.configured = {s.name: s.refresh_minutes for s in catalog.sources}
        self.default_minutes = catalog.refresh_minutes

    def minutes(self, name: str) -> int:
        return int(self.configured.get(name) or self.default_minutes)

    def job_ids(self) -> list[str]:
        return sorted(j.id for j in self.scheduler.get_jobs() if j.id.startswith(JOB_PREFIX))

    def sync(self) -> None:
        """One refresh job per current source: new sources get one, removed ones lose it."""
        wanted = {f"{JOB_PREFIX}{name}": name for name in self.sources()}
        for job_id in self.job_ids():
            if job_id not in wanted:
                self.scheduler.remove_job(job_id)
        for job_id, name in wanted.items():
            if self.scheduler.get_job(job_id) is not None:
                continue
            minutes = self.minutes(name)
            self.scheduler.add_job(
                self.refresh,
                trigger=IntervalTrigger(minutes=minutes, timezone=dt.UTC),
                args=(name,),
                id=job_id,
                name=f"refresh {name} every {minutes} min",
                max_instances=1,
                coalesce=True,
                misfire_grace_time=minutes * 60,
                replace_existing=True,
            )

    async def refresh(self, name: str) -> bool:
        """Re-sync one source unless another replica just did; False when skipped.

        A failure is logged, and the next interval tries again.
        """
        try:
            if self.last_attempt is not None:
                last = await self.last_attempt(name)
                half = dt.timedelta(minutes=self.minutes(name) / 2)
                if last is not None and self.clock() - last < half:
                    log.debug("refresh of %s skipped: synced at %s", name, last)
                    return False
            report = await self.sync_async(only=name)
            log.info("refresh: %s", report.summary())
        except Exception:
            log.exception("refresh of %s failed", name)
        return True

    async def _watch(self) -> None:
        self.sync()


def schedule_refresh(
    scheduler: AsyncIOScheduler,
    sync_async: SyncOne,
    sources: Callable[[], Sequence[str]],
    catalog: CatalogRefresh,
    *,
    last_attempt: LastAttempt | None = None,
    clock: Callable[[], dt.datetime] = lambda: dt.datetime.now(dt.UTC),
    watch_seconds: float = WATCH_SECONDS,
) -> RefreshJobs:
    """Add the catalog's refresh jobs to ``scheduler`` (started or not) and return them.

    ``sync_async(only=name)`` syncs one source (``App.sync_async``); ``sources()`` names the
    current sources (``CatalogSync.source_names``), asked again every ``watch_seconds``;
    ``last_attempt(name)``, when given, is when any replica last synced that source.
    """
    jobs = RefreshJobs(scheduler, sync_async, sources, catalog, last_attempt, clock)
    jobs.sync()
    scheduler.add_job(
        jobs._watch,
        trigger=IntervalTrigger(seconds=watch_seconds, timezone=dt.UTC),
        id=WATCH_JOB,
        name="pick up catalog sources registered at run time",
        max_instances=1,
        coalesce=True,
        replace_existing=True,
    )
    return jobs
