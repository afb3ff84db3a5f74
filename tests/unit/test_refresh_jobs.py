"""The catalog refresh as APScheduler jobs: one per source at its own interval, sources added
at run time picked up, never two refreshes of a source at once."""

from __future__ import annotations

import asyncio
import datetime as dt
from dataclasses import dataclass, field
from typing import Any

from bot.scheduler import new_scheduler, schedule_refresh
from bot.scheduler.refresh import JOB_PREFIX


@dataclass
class Src:
    name: str
    refresh_minutes: int | None = None


@dataclass
class Catalog:
    refresh_minutes: int = 15
    sources: list[Src] = field(default_factory=list)


@dataclass
class Report:
    name: str

    def summary(self) -> str:
        return f"synced {self.name}"


class Syncs:
    """Records each sync; a sync may be held open to see what overlapping ticks do."""

    def __init__(self) -> None:
        self.calls: list[str] = []
        self.running = 0
        self.most = 0
        self.release = asyncio.Event()
        self.release.set()

    async def __call__(self, only: str | None = None, force: bool = False) -> Report:
        assert only is not None
        self.calls.append(only)
        self.running += 1
        self.most = max(self.most, self.running)
        try:
            await self.release.wait()
        finally:
            self.running -= 1
        return Report(only)


async def wait_until(check: Any, what: str) -> None:
    async with asyncio.timeout(30):  # a hang guard, not a timing assertion
        while not check():
            await asyncio.sleep(0.01)
    assert check(), what


async def test_one_job_per_source_at_its_own_interval_and_new_sources_picked_up() -> None:
    names = ["main", "git-repos"]
    aps = new_scheduler()
    syncs = Syncs()
    catalog = Catalog(15, [Src("main"), Src("git-repos", 5)])
    jobs = schedule_refresh(aps, syncs, lambda: list(names), catalog, watch_seconds=3600)
    aps.start()
    try:
        assert jobs.job_ids() == [f"{JOB_PREFIX}git-repos", f"{JOB_PREFIX}main"]
        main, git = aps.get_job(f"{JOB_PREFIX}main"), aps.get_job(f"{JOB_PREFIX}git-repos")
        assert main is not None and git is not None
        assert main.trigger.interval == dt.timedelta(minutes=15)
        assert git.trigger.interval == dt.timedelta(minutes=5)
        assert (main.max_instances, main.coalesce) == (1, True)
        # A source registered while running (the scaffolder's locations) gets its job at the
        # next watch; a source gone loses it.
        names.append("runtime-locations")
        names.remove("git-repos")
        watcher = aps.get_job("refresh-sources")
        assert watcher is not None
        watcher.modify(next_run_time=dt.datetime.now(dt.UTC))
        await wait_until(
            lambda: jobs.job_ids() == [f"{JOB_PREFIX}main", f"{JOB_PREFIX}runtime-locations"],
            "the watcher to add the new source's job",
        )
        added = aps.get_job(f"{JOB_PREFIX}runtime-locations")
        assert added is not None and added.trigger.interval == dt.timedelta(minutes=15)
        # Due now, the job syncs that source alone.
        added.modify(next_run_time=dt.datetime.now(dt.UTC))
        await wait_until(lambda: syncs.calls == ["runtime-locations"], "the refresh to run")
    finally:
        aps.shutdown(wait=False)


async def test_a_refresh_still_running_is_not_started_again() -> None:
    aps = new_scheduler()
    syncs = Syncs()
    syncs.release.clear()  # the first refresh hangs (a slow git clone)
    schedule_refresh(aps, syncs, lambda: ["main"], Catalog(1, [Src("main")]), watch_seconds=3600)
    aps.start()
    try:
        job = aps.get_job(f"{JOB_PREFIX}main")
        assert job is not None
        job.modify(next_run_time=dt.datetime.now(dt.UTC))
        await wait_until(lambda: syncs.calls == ["main"], "the first refresh to start")
        job.modify(next_run_time=dt.datetime.now(dt.UTC))  # due again while it runs
        await wait_until(lambda: job.next_run_time is not None, "the scheduler to move on")
        await asyncio.sleep(0.2)  # let APScheduler try (and skip) the overlapping run
        assert syncs.calls == ["main"] and syncs.most == 1
        syncs.release.set()
        await wait_until(lambda: syncs.running == 0, "the refresh to finish")
    finally:
        aps.shutdown(wait=False)


async def test_a_failed_refresh_is_logged_and_the_job_stays() -> None:
    aps = new_scheduler()

    async def broken(only: str | None = None, force: bool = False) -> Report:
        raise RuntimeError("git host down")

    jobs = schedule_refresh(aps, broken, lambda: ["main"], Catalog(), watch_seconds=3600)
    await jobs.refresh("main")  # logged, not raised
    assert jobs.job_ids() == [f"{JOB_PREFIX}main"]


async def test_a_source_another_replica_just_refreshed_is_skipped() -> None:
    now = dt.datetime(2026, 11, 2, 8, 0, tzinfo=dt.UTC)
    attempts: dict[str, dt.datetime] = {"main": now - dt.timedelta(minutes=3)}

    async def last_attempt(name: str) -> dt.datetime | None:
        return attempts.get(name)

    syncs = Syncs()
    jobs = schedule_refresh(
        new_scheduler(),
        syncs,
        lambda: ["main", "new"],
        Catalog(10, [Src("main"), Src("new")]),
        last_attempt=last_attempt,
        clock=lambda: now,
    )
    assert await jobs.refresh("main") is False  # 3 of 10 minutes ago: another replica's
    assert await jobs.refresh("new") is True  # never synced
    attempts["main"] = now - dt.timedelta(minutes=6)
    assert await jobs.refresh("main") is True
    assert syncs.calls == ["new", "main"]
