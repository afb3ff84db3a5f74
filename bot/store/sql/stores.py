"""Every store port over one database (``bot.stores.Stores``), for ``bot.bootstrap``."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor

from bot.catalog.queries import run_blocking
from bot.scheduler.service import instance_id
from bot.store.db import Database
from bot.store.sql.attest import SqlAttestStore
from bot.store.sql.audit import SqlAuditLog, SqlNameClaims
from bot.store.sql.catalog import SqlCatalogRows
from bot.store.sql.claims import SqlClaimStore
from bot.store.sql.deliveries import SqlDeliveryClaims
from bot.store.sql.docs import SqlDocs, SqlDocsIndex
from bot.store.sql.locations import SqlLocations
from bot.store.sql.notify import SqlNotifyStore, SqlSubscriptions
from bot.store.sql.reports import SqlReportsStore
from bot.store.sql.status import SqlSourceStatus
from bot.store.sql.sync import SqlSyncStore
from bot.store.sql.templates import SqlCatalogTemplates
from bot.stores import Stores


def sql_stores(db: Database, pool: ThreadPoolExecutor) -> Stores:
    """The SQL stores over ``db``; their awaitable reads run in ``pool``."""
    return Stores(
        rows=SqlCatalogRows(db),
        docs=SqlDocs(db, pool),
        docs_index=SqlDocsIndex(db),
        audit=SqlAuditLog(db, pool),
        name_claims=SqlNameClaims(db, pool),
        templates=SqlCatalogTemplates(db),
        reports=SqlReportsStore(db, pool),
        claims=SqlClaimStore(db, pool),
        status=SqlSourceStatus(db, lambda fn, *args: run_blocking(pool, fn, *args)),
        locations=SqlLocations(db),
        sync=SqlSyncStore(db),
        deliveries=SqlDeliveryClaims(db, instance_id(), pool),
        notify=SqlNotifyStore(db, pool),
        subscriptions=SqlSubscriptions(db, pool),
        attest=SqlAttestStore(db, pool),
    )
