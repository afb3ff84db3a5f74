"""Reports for one app: settings read once, analysis in a worker thread, replies per scope."""

from __future__ import annotations

import asyncio
import datetime as dt

from bot.docs.settings import DocsSettings
from bot.reports.analysis import Analysis, analyse
from bot.reports.render import REPORTS, ReportResult, build_report
from bot.reports.settings import ReportsSettings
from bot.reports.store import PLATFORM_SCOPE
from bot.store.db import Database


class Reports:
    """Builds reports from the synced catalog and the docs index."""

    def __init__(self, db: Database, settings: ReportsSettings, thresholds: DocsSettings) -> None:
        self.db = db
        self.settings = settings
        self.thresholds = thresholds

    def analyse(self, now: dt.datetime) -> Analysis:
        """Read everything reports need (blocking)."""
        return analyse(self.db, now, self.settings, self.thresholds)

    async def analyse_async(self, now: dt.datetime) -> Analysis:
        return await asyncio.to_thread(self.analyse, now)

    def build(
        self, report: str, scope: str = PLATFORM_SCOPE, now: dt.datetime | None = None
    ) -> ReportResult:
        """One report on demand (blocking): full lists, for ``/report`` and the CLI."""
        if report not in REPORTS:
            raise ValueError(f"unknown report {report!r}")
        analysis = self.analyse(now or dt.datetime.now(dt.UTC))
        return build_report(analysis, report, scope)

    async def build_async(
        self, report: str, scope: str = PLATFORM_SCOPE, now: dt.datetime | None = None
    ) -> ReportResult:
        return await asyncio.to_thread(self.build, report, scope, now)
