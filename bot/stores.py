"""What Callboard's services are built on: the ports of one store, SQL or in memory.

``bot.store.sql.stores.sql_stores`` makes them over a database, ``bot.store.memory.stores
.memory_stores`` in memory; ``bot.bootstrap.build_services`` composes ``Services`` from either,
so the handlers run the same over both (the fast unit tier uses memory).
"""

from __future__ import annotations

from dataclasses import dataclass

from bot.catalog.rows import CatalogRows
from bot.ports import (
    AttestStore,
    AuditLog,
    CatalogTemplates,
    ClaimStore,
    DeliveryClaims,
    DocsIndexStore,
    DocsQueries,
    NameClaims,
    NotifyStore,
    ReportsStore,
    RuntimeLocationStore,
    SourceStatusReads,
    SubscriptionStore,
    SyncStore,
)


@dataclass(frozen=True)
class Stores:
    """The store ports services are composed from (``bot.bootstrap.build_services``)."""

    rows: CatalogRows  # the catalog, read (blocking: the readers run it in the pool)
    docs: DocsQueries
    docs_index: DocsIndexStore  # the docs indexer's reads and writes (a post-sync step)
    audit: AuditLog
    name_claims: NameClaims
    templates: CatalogTemplates
    reports: ReportsStore
    claims: ClaimStore  # scheduled report runs
    status: SourceStatusReads
    locations: RuntimeLocationStore
    sync: SyncStore
    deliveries: DeliveryClaims | None = None  # chat deliveries claimed across replicas
    notify: NotifyStore | None = None  # change notifications: cursor, conditions, outbox
    subscriptions: SubscriptionStore | None = None  # channels following entities (/subscribe)
    attest: AttestStore | None = None  # attestation campaigns (None: /attest is unavailable)
