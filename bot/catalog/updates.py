"""Keeping the stored catalog current: sync now (blocking or awaited), then swap the indexes.

``CatalogUpdates`` is what ``/callboard sync``, the CLI, the scaffolder and the periodic refresh
call; it owns the one-sync-at-a-time lock and rebuilds the indexes answers are built from
(names, search) after a sync that changed the catalog.
"""

from __future__ import annotations

import asyncio
import logging
from collections import Counter
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING

from bot.catalog.read import building_index, indexes_follow
from bot.catalog.rows import CatalogChange
from bot.catalog.sources import CatalogSource
from bot.catalog.sync import CatalogSync, SyncReport

if TYPE_CHECKING:
    from bot.metrics import Metrics

log = logging.getLogger(__name__)


def catalog_change(report: SyncReport) -> CatalogChange:
    """What ``report``'s sync changed in the stored entities (documents and owners; not the
    relations toward them, which no index holds), and how many generations it added."""
    refs: set[str] = set()
    bumps = 0
    for source in report.sources:
        if source.ok and source.changed:
            bumps += 1  # each source that changed something bumped the generation once
        refs.update(source.added, source.removed, source.modified)
        refs.update(ref for ref, _old, _new in source.owner_changed)
    return CatalogChange(frozenset(ref.lower() for ref in refs), bumps)


class CatalogUpdates:
    """Runs ``CatalogSync`` and refreshes the built indexes after it."""

    def __init__(
        self,
        sync: CatalogSync,
        indexes: Sequence[Callable[[CatalogChange | None], None]],
        metrics: Metrics | None = None,
    ) -> None:
        self.sync = sync
        # Each brings one index up to date when the catalog changed (from what the sync
        # changed, where it can: ``CatalogChange``).
        self.indexes = tuple(indexes)
        self.metrics = metrics  # each source's run counted there (``record``)
        self._lock: asyncio.Lock | None = None
        # Called on the loop after each awaited sync (``run_async``) with its report: the
        # change notifier. Each must return at once (start its work as a task) and not raise.
        self.after: list[Callable[[SyncReport], None]] = []

    @property
    def sources(self) -> list[CatalogSource]:
        return self.sync.sources

    def source_names(self) -> list[str]:
        return self.sync.source_names()

    def run(self, only: str | None = None, force: bool = False) -> SyncReport:
        """Sync every source (or one) now; blocking.

        When the sync changed the catalog, the indexes answers are built from (names, search)
        are rebuilt here too, in the sync's thread, and swapped in when ready; until then the
        previous ones answer (``indexes_follow``: no request rebuilds one itself meanwhile).
        An index nothing has asked for yet is not built.

        The cyclic collector is paused for the run: a sync keeps hundreds of thousands of
        objects alive at once (the stored state, parsed candidates, the plan, then the new
        indexes), and every full collection would walk them with the GIL held, in whichever
        thread allocates, the event loop's included (measured during a changing re-sync of
        43,000 entities: passes of 110-377 ms and a 138-176 ms loop stall). None of them is in
        a cycle, so reference counting frees them; what lives on is frozen by the index build
        (``settle_heap``).
        """
        with building_index(), indexes_follow():
            report = self.sync.run(only=only, force=force)
            self.record(report)
            self.refresh_indexes(catalog_change(report))
        return report

    def record(self, report: SyncReport) -> None:
        """Count each source's run in ``metrics``: duration, outcome, and on success its
        entities and problems by severity."""
        if self.metrics is None:
            return
        for source in report.sources:
            self.metrics.sync_finished(
                source.name,
                "ok" if source.ok else "error",
                source.duration_s,
                entities=source.entities,
                problems=Counter(p.level for p in source.problems),
            )

    def refresh_indexes(self, change: CatalogChange | None = None) -> None:
        """Bring the built indexes that no longer match the stored catalog up to date (from
        ``change``, what this process's sync changed, where an index can); blocking."""
        for refresh in self.indexes:
            try:
                refresh(change)
            except Exception:  # the sync is done; a failed rebuild leaves the old index
                log.exception("rebuilding an index after a sync failed")

    async def run_async(self, only: str | None = None, force: bool = False) -> SyncReport:
        """Sync in a worker thread, one sync at a time per process."""
        if self._lock is None:
            self._lock = asyncio.Lock()
        async with self._lock:
            report = await asyncio.to_thread(self.run, only, force)
        for listener in self.after:
            try:
                listener(report)
            except Exception:  # the sync is done; a listener's failure must not undo it
                log.exception("a listener after a sync failed")
        return report
