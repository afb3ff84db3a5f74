"""Keeping the stored catalog current: sync now (blocking or awaited), then swap the indexes.

``CatalogUpdates`` is what ``/callboard sync``, the CLI, the scaffolder and the periodic refresh
call; it owns the one-sync-at-a-time lock and rebuilds the indexes answers are built from
(names, search) after a sync that changed the catalog.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable, Mapping, Sequence

from bot.catalog.sources import CatalogSource
from bot.catalog.sync import CatalogSync, SyncReport

log = logging.getLogger(__name__)


class CatalogUpdates:
    """Runs ``CatalogSync`` and refreshes the built indexes after it."""

    def __init__(
        self,
        sync: CatalogSync,
        indexes: Sequence[Callable[[], None]],
        *,
        refresh_minutes: float,
        source_minutes: Mapping[str, float | None] | None = None,
    ) -> None:
        self.sync = sync
        self.indexes = tuple(indexes)  # each rebuilds one index when the catalog changed
        self.refresh_minutes = refresh_minutes
        self.source_minutes = dict(source_minutes or {})
        self._lock: asyncio.Lock | None = None

    @property
    def sources(self) -> list[CatalogSource]:
        return self.sync.sources

    def source_names(self) -> list[str]:
        return self.sync.source_names()

    def run(self, only: str | None = None, force: bool = False) -> SyncReport:
        """Sync every source (or one) now; blocking.

        When the sync changed the catalog, the indexes answers are built from (names, search)
        are rebuilt here too, in the sync's thread, and swapped in when ready; until then the
        previous ones answer. An index nothing has asked for yet is not built.
        """
        report = self.sync.run(only=only, force=force)
        self.refresh_indexes()
        return report

    def refresh_indexes(self) -> None:
        """Rebuild the built indexes that no longer match the stored catalog; blocking."""
        for refresh in self.indexes:
            try:
                refresh()
            except Exception:  # the sync is done; a failed rebuild leaves the old index
                log.exception("rebuilding an index after a sync failed")

    async def run_async(self, only: str | None = None, force: bool = False) -> SyncReport:
        """Sync in a worker thread, one sync at a time per process."""
        if self._lock is None:
            self._lock = asyncio.Lock()
        async with self._lock:
            return await asyncio.to_thread(self.run, only, force)

    async def refresh_forever(self, tick_seconds: float = 30.0) -> None:
        """Re-sync each source every ``refresh_minutes`` (its own, or the catalog's).

        Sources added while running (registered locations) are picked up at the next tick.
        """

        def interval(name: str) -> float:
            return 60.0 * (self.source_minutes.get(name) or self.refresh_minutes)

        start = time.monotonic()
        due: dict[str, float] = {name: start + interval(name) for name in self.source_names()}
        while True:
            await asyncio.sleep(tick_seconds)
            now = time.monotonic()
            for name in self.source_names():
                at = due.setdefault(name, now + interval(name))
                if now < at:
                    continue
                try:
                    report = await self.run_async(only=name)
                    log.info("refresh: %s", report.summary())
                except Exception:
                    log.exception("refresh of %s failed", name)
                due[name] = time.monotonic() + interval(name)
