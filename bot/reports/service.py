"""Reports for one app: the store read once per analysis, the analysis in a worker thread.

``/report`` (and through it the scheduler and ``callboard report``) calls ``Reports.build``. A
scheduled run opens a ``ReportRun`` first: while it is active (in the run's own task, by a
context variable), every report built is built for posting from the run's one analysis, and
kept in the run, so a run that dispatches a thousand team digests reads the store once and
still learns what each digest counted (its snapshot) and whether it was empty.
"""

from __future__ import annotations

import asyncio
import contextlib
import contextvars
import datetime as dt
from collections.abc import Awaitable, Callable, Iterator
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from bot.docs.settings import DocsSettings
from bot.reports.analysis import Analysis, analyse
from bot.reports.findings import Finding
from bot.reports.oncall import check_schedules
from bot.reports.render import REPORTS, ReportResult, build_report
from bot.reports.settings import ReportsSettings
from bot.reports.store import PLATFORM_SCOPE

if TYPE_CHECKING:
    from bot.ports import OnCallDirectory, ReportsStore


@dataclass
class ReportRun:
    """One analysis and the reports built from it (by report and scope): a scheduled run's
    (``posted``: capped lists, posted whole), or a caller's that wants a report's data too."""

    analysis: Analysis
    posted: bool = True
    results: dict[tuple[str, str], ReportResult] = field(default_factory=dict)
    last: ReportResult | None = None  # the report the latest request built

    @contextlib.contextmanager
    def active(self) -> Iterator[ReportRun]:
        """Reports built in this task (and the threads it starts) until the block ends come
        from this run."""
        token = _RUN.set(self)
        try:
            yield self
        finally:
            _RUN.reset(token)


_RUN: contextvars.ContextVar[ReportRun | None] = contextvars.ContextVar("report_run", default=None)


class Reports:
    """Builds reports from the synced catalog and the docs index."""

    def __init__(
        self,
        store: ReportsStore,
        settings: ReportsSettings,
        thresholds: DocsSettings,
        disputes: Callable[[], Awaitable[list[Finding]]] | None = None,
        oncall: OnCallDirectory | None = None,
    ) -> None:
        self.store = store
        self.settings = settings
        self.thresholds = thresholds
        # Ownership gaps owners reported ("not ours" in an ownership check, ``bot.attest``).
        self.disputes = disputes
        self.oncall = oncall  # asked for on-call schedule gaps (None: not checked)

    async def analyse(self, now: dt.datetime) -> Analysis:
        """Read everything reports need (in the store's threads), check the on-call schedules
        it names (within a budget), then analyse it all in one thread."""
        inputs = await self.store.read(now - dt.timedelta(days=self.settings.changes_days))
        disputes = await self.disputes() if self.disputes is not None else []
        checked = await check_schedules(self.oncall, inputs.facts, now)
        return await asyncio.to_thread(
            analyse, inputs, now, self.settings, self.thresholds, disputes, checked
        )

    async def run(self, now: dt.datetime, posted: bool = True) -> ReportRun:
        """A run's analysis; activate it (``with run.active():``) around the ``/report``
        requests it dispatches."""
        return ReportRun(await self.analyse(now), posted)

    async def build(
        self, report: str, scope: str = PLATFORM_SCOPE, now: dt.datetime | None = None
    ) -> ReportResult:
        """One report: in full (on demand), or from the active ``ReportRun`` (for posting when
        the run is a scheduled one)."""
        if report not in REPORTS:
            raise ValueError(f"unknown report {report!r}")
        run = _RUN.get()
        if run is not None:
            result = run.results.get((report, scope))
            if result is None:
                result = await asyncio.to_thread(
                    build_report, run.analysis, report, scope, run.posted
                )
                run.results[(report, scope)] = result
            run.last = result
            return result
        analysis = await self.analyse(now or dt.datetime.now(dt.UTC))
        return await asyncio.to_thread(build_report, analysis, report, scope)
