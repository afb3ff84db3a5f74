"""The one composition root: ``build_app`` wires store, catalog, sync and dispatcher.

Adapters and the CLI call ``build_app`` with the command registry; tests call it with a temp
database. Nothing here does I/O at import time.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import logging
import time
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any, ParamSpec, Protocol, TypeVar

from bot.catalog import backstage_source, git_source
from bot.catalog.locations import RUNTIME_SOURCE, has_locations, runtime_source
from bot.catalog.queries import OffloadedCatalog, run_blocking
from bot.catalog.read import CatalogReader
from bot.catalog.rules import catalog_rules
from bot.catalog.search import SearchCache
from bot.catalog.sources import CatalogSource, FileSource
from bot.catalog.sync import CatalogSync, SyncReport
from bot.chat import Reply
from bot.config import Settings, SourceSettings
from bot.dispatch import CommandSpec, Dispatcher
from bot.docs.index import DocsIndexer
from bot.docs.service import EXTENSION_KEY as DOCS_KEY
from bot.docs.service import DocsService
from bot.docs.settings import DocsSettings
from bot.errors import ConfigError
from bot.store.db import Database
from bot.store.sql.catalog import SqlCatalogRows

log = logging.getLogger(__name__)

P = ParamSpec("P")
T = TypeVar("T")

# Threads for the blocking work chat requests cause (database reads, index builds): enough
# for a few requests at once; more would only queue on the database and the GIL.
IO_WORKERS = 4

Clock = Callable[[], dt.datetime]
Interpreter = Callable[[str], str | None]  # plain language → a command line, or None


def system_clock() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


class Poster(Protocol):
    """Something that can post a reply into a channel of its platform (for scheduled reports)."""

    platform: str

    async def post(self, channel: str, reply: Reply) -> None: ...


SourceFactory = Callable[[SourceSettings, Settings, Database], CatalogSource]
_SOURCE_FACTORIES: dict[str, SourceFactory] = {
    "git": git_source.from_settings,
    "backstage": backstage_source.from_settings,
}


def register_source_factory(type_: str, factory: SourceFactory) -> None:
    """Let a source type (git, backstage...) build its ``CatalogSource`` from settings."""
    _SOURCE_FACTORIES[type_] = factory


def build_source(cfg: SourceSettings, settings: Settings, db: Database) -> CatalogSource:
    if cfg.type == "file":
        assert cfg.target is not None and cfg.root is not None
        return FileSource(
            cfg.name,
            cfg.target,
            cfg.root,
            max_file_bytes=settings.catalog.max_file_mb * 2**20,
            parse_workers=settings.catalog.workers,
            placeholder_file_bytes=settings.catalog.placeholder_file_mb * 2**20,
            placeholder_sync_bytes=settings.catalog.placeholder_sync_mb * 2**20,
            relative_placeholders=settings.catalog.relative_placeholders,
            max_glob_matches=settings.catalog.max_glob_matches,
        )
    factory = _SOURCE_FACTORIES.get(cfg.type)
    if factory is None:
        raise ConfigError(f"catalog source {cfg.name}: unknown type {cfg.type}")
    return factory(cfg, settings, db)


@dataclass
class App:
    """Callboard's services, wired once. Commands reach them through ``ctx.app``."""

    settings: Settings
    db: Database
    catalog: CatalogReader
    sync: CatalogSync
    clock: Clock = system_clock
    posters: dict[str, Poster] = field(default_factory=dict)
    extensions: dict[str, Any] = field(default_factory=dict)
    dispatcher: Dispatcher = field(init=False)
    # The app's own bounded pool for blocking work that requests cause, so it never runs on
    # the event loop (see ``offload``); made on first use, shut down by ``close``.
    _pool: ThreadPoolExecutor | None = field(default=None, init=False)
    # The catalog read ports (CatalogQueries, CatalogGraph, SearchQueries), off the loop.
    queries: OffloadedCatalog = field(init=False)
    search: SearchCache = field(init=False)  # /search, /owns and /deps answer from it
    _sync_lock: asyncio.Lock | None = field(default=None, init=False)

    def __post_init__(self) -> None:
        self.search = SearchCache(self.catalog.rows)
        self.queries = OffloadedCatalog(self.catalog, self.pool, self.search)

    @property
    def pool(self) -> ThreadPoolExecutor:
        if self._pool is None:
            self._pool = ThreadPoolExecutor(IO_WORKERS, thread_name_prefix="callboard-io")
        return self._pool

    async def offload(self, fn: Callable[P, T], /, *args: P.args, **kwargs: P.kwargs) -> T:
        """Run blocking ``fn`` (database reads, an index build, git) in the app's pool."""
        return await run_blocking(self.pool, fn, *args, **kwargs)

    def sync_now(self, only: str | None = None, force: bool = False) -> SyncReport:
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
        for refresh in (self.catalog.refresh, self.search.refresh):
            try:
                refresh()
            except Exception:  # the sync is done; a failed rebuild leaves the old index
                log.exception("rebuilding an index after a sync failed")

    async def sync_async(self, only: str | None = None, force: bool = False) -> SyncReport:
        """Sync in a worker thread, one sync at a time per process."""
        if self._sync_lock is None:
            self._sync_lock = asyncio.Lock()
        async with self._sync_lock:
            return await asyncio.to_thread(self.sync_now, only, force)

    async def refresh_forever(self, tick_seconds: float = 30.0) -> None:
        """Re-sync each source every ``refresh_minutes`` (its own, or the catalog's).

        Sources added while running (registered locations) are picked up at the next tick.
        """
        configured = {s.name: s.refresh_minutes for s in self.settings.catalog.sources}

        def interval(name: str) -> float:
            return 60.0 * (configured.get(name) or self.settings.catalog.refresh_minutes)

        start = time.monotonic()
        due: dict[str, float] = {name: start + interval(name) for name in self.sync.source_names()}
        while True:
            await asyncio.sleep(tick_seconds)
            now = time.monotonic()
            for name in self.sync.source_names():
                at = due.setdefault(name, now + interval(name))
                if now < at:
                    continue
                try:
                    report = await self.sync_async(only=name)
                    log.info("refresh: %s", report.summary())
                except Exception:
                    log.exception("refresh of %s failed", name)
                due[name] = time.monotonic() + interval(name)

    def close(self) -> None:
        if self._pool is not None:
            self._pool.shutdown(wait=False, cancel_futures=True)
        self.db.dispose()


def build_app(
    settings: Settings,
    commands: Sequence[CommandSpec],
    *,
    clock: Clock = system_clock,
    migrate: bool = True,
    interpreters: Sequence[Interpreter] = (),
) -> App:
    """Wire Callboard from settings: the database (migrated), catalog, sync and dispatcher."""
    db = Database(settings.database_url)
    if migrate:
        db.migrate()
    sources = [build_source(s, settings, db) for s in settings.catalog.sources]
    if RUNTIME_SOURCE in (s.name for s in sources):
        raise ConfigError(f"catalog source name {RUNTIME_SOURCE} is reserved; rename that source")
    if has_locations(db):  # registered at runtime (the scaffolder); synced after the rest
        sources.append(runtime_source(settings, db))
    docs_settings = settings.optional_section("docs", DocsSettings) or DocsSettings()
    app = App(
        settings=settings,
        db=db,
        catalog=CatalogReader(SqlCatalogRows(db)),
        sync=CatalogSync(
            db,
            sources,
            steps=[DocsIndexer(db, docs_settings, sources)],
            clock=clock,
            rules=catalog_rules(
                settings.catalog.rules,
                {s.name: s.rules for s in settings.catalog.sources},
                settings.catalog.model_layers,
            ),
            fidelity=settings.catalog.fidelity,
        ),
        clock=clock,
    )
    app.extensions[DOCS_KEY] = DocsService(db, docs_settings, settings.backstage_url)
    app.dispatcher = Dispatcher(app, commands)
    app.dispatcher.interpreters.extend(interpreters)
    return app
