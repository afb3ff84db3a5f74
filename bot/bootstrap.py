"""The one composition root: ``build_app`` constructs every service, the dispatcher, the
platforms' parts and the scheduler, from settings.

Only entry points (``adapters/cli.py``, an adapter's own CLI) and tests import this module.
Nothing here does I/O at import time.
"""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from apscheduler.schedulers.asyncio import AsyncIOScheduler

from bot import config
from bot.app import App, Platform
from bot.attest.service import Attestations
from bot.catalog import backstage_source, git_source
from bot.catalog.locations import RUNTIME_SOURCE, has_locations, runtime_source
from bot.catalog.queries import OffloadedCatalog
from bot.catalog.read import CatalogReader
from bot.catalog.rules import catalog_rules
from bot.catalog.search import SearchCache
from bot.catalog.sources import CatalogSource, FileSource
from bot.catalog.sync import CatalogSync
from bot.catalog.updates import CatalogUpdates
from bot.config import (
    ConfigSchema,
    ConfigSection,
    Settings,
    SourceSettings,
    SourceType,
    parse_file_source,
)
from bot.dispatch import CommandSpec, Dispatcher
from bot.docs.index import DocsIndexer
from bot.docs.service import DocsService
from bot.docs.settings import DocsSettings, parse_docs_settings
from bot.errors import ConfigError
from bot.hardening import secret_environ
from bot.logsetup import parse_logging
from bot.metrics_settings import MetricsSettings, parse_metrics
from bot.notify.service import Notifier
from bot.notify.settings import NotificationsSettings, parse_notifications
from bot.oncall.directory import build_directory
from bot.oncall.paging import ProviderPager
from bot.oncall.settings import OnCallSettings, parse_oncall
from bot.platforms import parse_discord, parse_slack
from bot.ports import ClaimStore
from bot.reports.delivery import Sleep
from bot.reports.service import Reports
from bot.reports.settings import ReportsSettings, parse_reports
from bot.scaffold.service import Scaffolder
from bot.scaffold.settings import parse_scaffold
from bot.scheduler import (
    ReportRuns,
    ReportScheduler,
    Schedule,
    SchedulesSettings,
    instance_id,
    parse_schedules,
)
from bot.services import Clock, Interpreter, Poster, Services, system_clock
from bot.shutdown import parse_shutdown
from bot.store.db import Database
from bot.store.sql.stores import sql_stores
from bot.stores import Stores

if TYPE_CHECKING:
    from bot.metrics import Metrics

# Threads for the blocking work chat requests cause (database reads, index builds): enough
# for a few requests at once; more would only queue on the database and the GIL.
IO_WORKERS = 4


def file_source(cfg: SourceSettings, settings: Settings, db: Database) -> CatalogSource:
    """A ``type: file`` source: a catalog file and what it references, on this machine."""
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


# Every config section and catalog source type Callboard knows: typed objects, so mypy and
# import-linter see the wiring (``bot.config`` reads a file against this).
CONFIG = ConfigSchema(
    sections=(
        ConfigSection("slack", parse_slack),
        ConfigSection("discord", parse_discord),
        ConfigSection("docs", parse_docs_settings),
        ConfigSection("reports", parse_reports),
        ConfigSection("schedules", parse_schedules),
        ConfigSection("git", git_source.parse_git_settings),
        ConfigSection("scaffold", parse_scaffold),
        ConfigSection("logging", parse_logging),
        ConfigSection("metrics", parse_metrics),
        ConfigSection("shutdown", parse_shutdown),
        ConfigSection("oncall", parse_oncall),
        ConfigSection("notifications", parse_notifications),
    ),
    source_types=(
        SourceType("file", parse_file_source, file_source),
        SourceType("git", git_source.parse_git_source, git_source.from_settings),
        SourceType(
            "backstage", backstage_source.parse_backstage_source, backstage_source.from_settings
        ),
    ),
)


def load_settings(path: Path | None = None) -> Settings:
    """Read and validate a config file (``CALLBOARD_CONFIG`` or the default when ``path`` is
    None) against ``CONFIG``; every problem is a ``ConfigError`` naming the file."""
    return config.load_settings(path, schema=CONFIG)


def parse_settings(data: Any, file: str, base: Path, path: Path | None = None) -> Settings:
    """Validate an already parsed config (a dict) against ``CONFIG``."""
    return config.parse_settings(data, file, base, path, schema=CONFIG)


def build_source(cfg: SourceSettings, settings: Settings, db: Database) -> CatalogSource:
    found = CONFIG.source_type(cfg.type)
    if found is None:
        raise ConfigError(f"catalog source {cfg.name}: unknown type {cfg.type}")
    return found.build(cfg, settings, db)


def build_services(
    settings: Settings,
    stores: Stores,
    commands: Sequence[CommandSpec],
    *,
    sources: Sequence[CatalogSource] = (),
    clock: Clock = system_clock,
    posters: Sequence[Poster] = (),
    pool: ThreadPoolExecutor | None = None,
) -> Services:
    """Compose every service from ``stores`` (SQL or in memory) and the catalog ``sources``.

    ``pool`` runs the blocking work requests cause (a new one of ``IO_WORKERS`` when None).
    """
    if pool is None:
        pool = ThreadPoolExecutor(IO_WORKERS, thread_name_prefix="callboard-io")
    metrics_settings = settings.optional_section("metrics", MetricsSettings) or MetricsSettings()
    metrics: Metrics | None = None
    if metrics_settings.enabled:  # one registry per app; prometheus_client imported only now
        from bot.metrics import Metrics

        metrics = Metrics()
    for source in sources:  # a Backstage source counts its requests in the app's metrics
        if isinstance(source, backstage_source.BackstageSource):
            source.calls = metrics
    docs_settings = settings.optional_section("docs", DocsSettings) or DocsSettings()
    reader = CatalogReader(stores.rows)
    search = SearchCache(reader.rows)
    sync = CatalogSync(
        stores.sync,
        sources,
        steps=[DocsIndexer(stores.docs_index, docs_settings, sources, metrics)],
        clock=clock,
        rules=catalog_rules(
            settings.catalog.rules,
            {s.name: s.rules for s in settings.catalog.sources},
            settings.catalog.model_layers,
        ),
        fidelity=settings.catalog.fidelity,
    )
    updates = CatalogUpdates(
        sync,
        (reader.refresh, search.refresh),
        metrics,
    )
    oncall_settings = settings.optional_section("oncall", OnCallSettings) or OnCallSettings()
    oncall = build_directory(oncall_settings, secret_environ(), pool, metrics)
    reports_settings = settings.optional_section("reports", ReportsSettings) or ReportsSettings()
    catalog = OffloadedCatalog(reader, pool, search)
    posters_by_platform = {p.platform: p for p in posters}  # platforms started later add theirs
    notify_settings = (
        settings.optional_section("notifications", NotificationsSettings) or NotificationsSettings()
    )
    notifier = None
    if notify_settings.enabled and stores.notify is not None and stores.subscriptions is not None:
        notifier = Notifier(
            store=stores.notify,
            subscriptions=stores.subscriptions,
            catalog=catalog,
            posters=posters_by_platform,
            settings=notify_settings,
            delivery=reports_settings,
            thresholds=docs_settings,
            clock=clock,
            instance=instance_id(),
            backstage_url=settings.backstage_url,
            metrics=metrics,
            faults=stores.reports,
        )
        updates.after.append(notifier.sync_finished)
    attest = None
    if stores.attest is not None:
        attest = Attestations(
            stores.attest,
            stores.claims,
            catalog,
            catalog,
            posters_by_platform,
            clock,
            reports_settings,
            instance_id(),
        )
    reports = Reports(
        stores.reports,
        reports_settings,
        docs_settings,
        disputes=attest.standing_disputes if attest is not None else None,
        oncall=oncall,
    )
    names = frozenset(n for spec in commands for n in (spec.name, *spec.aliases))
    return Services(
        settings=settings,
        clock=clock,
        catalog=catalog,
        reader=reader,
        graph=catalog,
        search=catalog,
        sync=updates,
        status=stores.status,
        docs=DocsService(stores.docs, docs_settings, settings.backstage_url),
        reports=reports,
        audit=stores.audit,
        scaffolder=Scaffolder(
            settings,
            stores.locations,
            reader,
            catalog,
            updates,
            stores.audit,
            stores.name_claims,
            stores.templates,
            pool,
            clock=clock,
            commands=names,
        ),
        locations=stores.locations,
        posters=posters_by_platform,
        pool=pool,
        metrics=metrics,
        deliveries=stores.deliveries,
        oncall=oncall,
        pager=ProviderPager(oncall_settings, secret_environ(), pool, metrics),
        notifier=notifier,
        subscriptions=stores.subscriptions,
        attest=attest,
    )


def build_app(
    settings: Settings,
    commands: Sequence[CommandSpec],
    *,
    clock: Clock = system_clock,
    migrate: bool = True,
    interpreters: Sequence[Interpreter] = (),
    posters: Sequence[Poster] = (),
    platforms: Sequence[Platform] = (),
) -> App:
    """Wire Callboard from settings: the SQL stores, every service, the dispatcher, platforms
    and scheduler.

    ``posters`` are registered as given (the console's); each of ``platforms`` that is
    configured adds its poster and its server.
    """
    db = Database(settings.database_url)
    if migrate:
        db.migrate()
    sources = [build_source(s, settings, db) for s in settings.catalog.sources]
    if RUNTIME_SOURCE in (s.name for s in sources):
        raise ConfigError(f"catalog source name {RUNTIME_SOURCE} is reserved; rename that source")
    pool = ThreadPoolExecutor(IO_WORKERS, thread_name_prefix="callboard-io")
    stores = sql_stores(db, pool)
    if has_locations(stores.locations):  # registered at runtime (the scaffolder); synced last
        sources.append(runtime_source(settings, stores.locations))
    services = build_services(
        settings, stores, commands, sources=sources, clock=clock, posters=posters, pool=pool
    )
    dispatcher = Dispatcher(services, commands)
    dispatcher.interpreters.extend(interpreters)
    app = App(
        db=db,
        stores=stores,
        services=services,
        dispatcher=dispatcher,
        scheduler=scheduler_for(services, dispatcher, stores.claims),
    )
    for platform in platforms:
        parts = platform.start(app)
        if parts is None:
            continue
        app.platforms[platform.name] = parts
        if parts.poster is not None:
            services.posters[parts.poster.platform] = parts.poster
    return app


def build_scheduler(
    app: App,
    schedules: Sequence[Schedule] | None = None,
    *,
    instance: str | None = None,
    sleep: Sleep = asyncio.sleep,
    aps: AsyncIOScheduler | None = None,
) -> ReportScheduler:
    """A report scheduler over ``app`` (the ``schedules:`` section unless ``schedules`` are
    given); runs dispatch ``/report`` through its dispatcher and claim in its claim store."""
    return scheduler_for(
        app.services,
        app.dispatcher,
        app.stores.claims,
        schedules,
        instance=instance,
        sleep=sleep,
        aps=aps,
    )


def scheduler_for(
    services: Services,
    dispatcher: Dispatcher,
    claims: ClaimStore,
    schedules: Sequence[Schedule] | None = None,
    *,
    instance: str | None = None,
    sleep: Sleep = asyncio.sleep,
    aps: AsyncIOScheduler | None = None,
) -> ReportScheduler:
    """The report scheduler over ``services``, claiming runs in ``claims``."""
    if schedules is None:
        found = services.settings.optional_section("schedules", SchedulesSettings)
        schedules = found.schedules if found else ()
    runs = ReportRuns(
        dispatcher=dispatcher,
        reports=services.reports,
        claims=claims,
        posters=services.posters,
        clock=services.clock,
        instance=instance or instance_id(),
        sleep=sleep,
        metrics=services.metrics,
    )
    return ReportScheduler(schedules, runs, aps=aps)


@dataclass(frozen=True)
class Migrated:
    """What ``migrate_database`` did: the database (password hidden) and whether it was
    read-only (then nothing was migrated)."""

    url: str
    read_only: bool


def migrate_database(settings: Settings) -> Migrated:
    """Bring the configured database to this version's schema (under the migration lock)."""
    db = Database(settings.database_url)
    try:
        db.migrate()
        return Migrated(db.safe_url, db.read_only)
    finally:
        db.dispose()
