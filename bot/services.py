"""What a handler may use: the typed record of Callboard's services, built by ``bot.bootstrap``.

``Services`` names every dependency a command, the scheduler or an adapter has, so the type
checker (and a reader) can see them. It lives here, not in ``bot.app``, so that commands and
the core can import it without importing the composition root that builds it.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import TYPE_CHECKING, ParamSpec, Protocol, TypeVar

from bot.catalog.queries import run_blocking
from bot.chat import Reply

if TYPE_CHECKING:
    from bot.attest.service import Attestations
    from bot.catalog.read import CatalogReader
    from bot.catalog.updates import CatalogUpdates
    from bot.config import Settings
    from bot.docs.service import DocsService
    from bot.metrics import Metrics
    from bot.notify.service import Notifier
    from bot.ports import (
        AuditLog,
        CatalogGraph,
        CatalogQueries,
        DeliveryClaims,
        OnCallDirectory,
        Pager,
        RuntimeLocationStore,
        SearchQueries,
        SourceStatusReads,
        SubscriptionStore,
    )
    from bot.reports.service import Reports
    from bot.scaffold.service import Scaffolder

P = ParamSpec("P")
T = TypeVar("T")

Clock = Callable[[], dt.datetime]
Interpreter = Callable[[str], str | None]  # plain language → a command line, or None


def system_clock() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


class Poster(Protocol):
    """Something that can post a reply into a channel of its platform (for scheduled reports)."""

    platform: str

    async def post(self, channel: str, reply: Reply) -> None: ...


# Platform name → its poster. Filled by ``bot.bootstrap.build_app`` (the console's, and each
# configured platform's); the scheduler posts through it.
Posters = dict[str, Poster]


@dataclass(frozen=True)
class Services:
    """Callboard's services, wired once by ``bot.bootstrap.build_app``.

    ``reader`` is the blocking catalog reader, for code that already runs in a worker thread
    (``offload``); everything else reaches the catalog through the awaitable ``catalog``. No
    service here is the database: ``bot.bootstrap.build_services`` composes them from a
    ``Stores`` record, SQL (``sql_stores``) or in memory (``memory_stores``).
    """

    settings: Settings
    clock: Clock
    catalog: CatalogQueries  # awaitable reads; they run in ``pool``
    reader: CatalogReader  # the same reads, blocking (inside ``offload``)
    graph: CatalogGraph  # relation walks (/owns, /deps), awaited
    search: SearchQueries  # the entity search index (/search, /owns, /deps), awaited
    sync: CatalogUpdates  # sync now (blocking or awaited), refresh the indexes
    status: SourceStatusReads  # each source's last sync and problems, awaited
    docs: DocsService
    reports: Reports
    audit: AuditLog
    scaffolder: Scaffolder
    locations: RuntimeLocationStore  # repositories registered at run time (the scaffolder)
    posters: Posters
    # Bounded pool for the blocking work requests cause (see ``offload``).
    pool: ThreadPoolExecutor
    # --- ops ---
    metrics: Metrics | None = None  # None when ``metrics.enabled`` is false: nothing recorded
    deliveries: DeliveryClaims | None = None  # chat retries answered once across replicas
    oncall: OnCallDirectory | None = None  # who is on call (PagerDuty, Opsgenie); None: not wired
    pager: Pager | None = None  # /page: PagerDuty Events v2, Opsgenie alerts; None: not wired
    # --- change notifications ---
    notifier: Notifier | None = None  # None: the notifications section is off
    subscriptions: SubscriptionStore | None = None  # /subscribe's follows; None: not wired
    attest: Attestations | None = None  # /attest campaigns; None: the store has no attest port

    async def offload(self, fn: Callable[P, T], /, *args: P.args, **kwargs: P.kwargs) -> T:
        """Run blocking ``fn`` (database reads, an index build, git) in the services' pool."""
        return await run_blocking(self.pool, fn, *args, **kwargs)
