"""Every store port in memory (``bot.stores.Stores``): the fast unit tier's Callboard.

The stores are joined as the SQL tables are: the sync writes the catalog (``MemorySyncStore``),
and the docs indexer, templates, reports and status read what it wrote.
"""

from __future__ import annotations

from bot.store.memory.attest import MemoryAttestStore
from bot.store.memory.audit import MemoryAuditLog, MemoryNameClaims
from bot.store.memory.catalog import MemoryCatalogRows
from bot.store.memory.claims import MemoryClaimStore
from bot.store.memory.docs import MemoryDocs
from bot.store.memory.locations import MemoryLocations
from bot.store.memory.notify import MemoryNotifyStore, MemorySubscriptions
from bot.store.memory.reports import CatalogReportsStore
from bot.store.memory.status import MemorySourceStatus
from bot.store.memory.sync import MemorySyncStore
from bot.store.memory.templates import CatalogTemplatesOf
from bot.stores import Stores


def memory_stores(rows: MemoryCatalogRows | None = None) -> Stores:
    """Memory stores over ``rows`` (an empty catalog when None), filled by syncing into them."""
    rows = rows if rows is not None else MemoryCatalogRows()
    status = MemorySourceStatus()
    sync = MemorySyncStore(rows, status)
    docs = MemoryDocs(catalog=rows.indexed_entities)
    return Stores(
        rows=rows,
        docs=docs,
        docs_index=docs,
        audit=MemoryAuditLog(),
        name_claims=MemoryNameClaims(),
        templates=CatalogTemplatesOf(rows),
        reports=CatalogReportsStore(rows, docs, lambda: sync.changes),
        claims=MemoryClaimStore(),
        status=status,
        locations=MemoryLocations(),
        sync=sync,
        notify=MemoryNotifyStore(rows, docs, lambda: sync.changes),
        subscriptions=MemorySubscriptions(),
        attest=MemoryAttestStore(),
    )
