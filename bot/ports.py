"""Small async ports the commands use: what they may ask, not how it is stored.

A port's methods are coroutines, so an implementation over a blocking store runs its work off
the event loop (``bot.catalog.queries.OffloadedCatalog`` runs ``CatalogReader`` in the app's
worker threads) and a handler that awaits it never holds the loop for a database read or an
index build. Discord's heartbeat, Slack's 3-second ack and the scheduler share that loop.
"""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Collection, Iterable, Mapping, Sequence
from contextlib import AbstractContextManager
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Protocol

from bot.audit import AuditEntry, Requester
from bot.catalog.graph import Dependencies, DependencyTree, Direction, Owned
from bot.catalog.model import Entity, EntityRef, Relation
from bot.catalog.problems import Problem
from bot.catalog.read import Holdings, NameIndex, Ownership, Resolution
from bot.catalog.reconcile import Plan, StoredEntity
from bot.catalog.rows import ListedEntity
from bot.catalog.search import Query, SearchIndex, SearchResult
from bot.docs.model import (
    DocPage,
    DocsFreshness,
    DocSite,
    DocsWrites,
    IndexedEntity,
    StoredPage,
    StoredSite,
)
from bot.docs.search import DocQuery, SearchPage
from bot.oncall.model import OnCallAnswer, OnCallTarget, ScheduleGaps
from bot.oncall.paging import Page, PageTarget, Sent
from bot.scaffold.model import TemplateEntity

if TYPE_CHECKING:  # data types only: the scheduler package imports no port at run time
    from bot.attest.model import Answer, Campaign, Item
    from bot.catalog.locations import RuntimeLocation
    from bot.catalog.status import SourceStatus
    from bot.chat import Reply, Request
    from bot.notify.model import Batch, Held, NotifyInputs, OutboxRow, Subscription
    from bot.reports.settings import Target
    from bot.reports.store import Fault, ReportInputs, RunResults
    from bot.scheduler.claims import RunRecord


class CatalogQueries(Protocol):
    """Read access to the synced catalog: name resolution, entities and relations."""

    async def resolve(self, text: str, kinds: Sequence[str] = ()) -> Resolution:
        """The one entity ``text`` names, or ``NotFound``/``Ambiguous`` with suggestions."""
        ...

    async def resolve_entity(
        self, text: str, kinds: Sequence[str] = ()
    ) -> tuple[Resolution, Entity | None]:
        """``resolve`` and ``get`` of what it names, in one read (None: removed by a sync
        since the name index was built)."""
        ...

    async def get(self, ref: EntityRef | str) -> Entity | None: ...

    async def get_many(self, refs: Iterable[EntityRef | str]) -> dict[str, Entity]: ...

    async def relations(self, ref: EntityRef | str, types: Sequence[str] = ()) -> list[Relation]:
        """Relations on ``ref`` (its own and those others emitted toward it), deduplicated."""
        ...

    async def related(self, ref: EntityRef | str, rel_type: str) -> list[EntityRef]: ...

    async def ownership(self, ref: EntityRef | str) -> Ownership:
        """Who owns ``ref`` and all that ``/whoowns`` shows of the owner, in one read (one
        hop off the loop, however many rows it takes)."""
        ...

    async def holdings(self, ref: EntityRef | str) -> Holdings:
        """What a Group or User owns directly, with its members or groups, in one read."""
        ...

    async def users_by_email(self, email: str) -> list[Entity]: ...

    async def with_annotation(self, kind: str, key: str, value: str) -> list[Entity]: ...

    async def names(self) -> NameIndex:
        """The current name index (refs, names, titles), built off the loop when stale."""
        ...

    async def count(self) -> int:
        """How many entities the catalog holds."""
        ...

    async def kinds(self) -> list[str]:
        """The kinds the catalog holds, sorted."""
        ...

    async def listing(self, kind: str | None = None) -> list[ListedEntity]:
        """Every entity (of ``kind`` when given) with its owner, source and file, by ref."""
        ...


# --- catalog read ---


class CatalogGraph(Protocol):
    """Walks over the relation graph in bulk: ownership, dependency and group trees."""

    async def relations_many(
        self, refs: Iterable[str], types: Sequence[str]
    ) -> dict[str, list[tuple[str, str]]]:
        """``(type, target)`` pairs on each of ``refs`` (lower-cased), sorted, deduplicated;
        a ref with none is left out."""
        ...

    async def dependency_tree(self, root: str, direction: Direction, depth: int) -> DependencyTree:
        """What ``root`` depends on (``down``) or what depends on it (``up``), APIs folded
        into the services behind them."""
        ...

    async def dependencies(self, root: str, depth: int, apis: bool = True) -> Dependencies:
        """Both dependency trees of ``root`` to ``depth`` and (``apis``) the APIs it provides
        and consumes, with their consumers and providers: one blocking read, one connection."""
        ...

    async def owned(self, who: str, include_children: bool) -> Owned:
        """What the group or user ``who`` owns (and its groups, and with ``include_children``
        the groups below), with a group's members and parents: one blocking read."""
        ...

    async def descendants(self, group: str, limit_depth: int = 50) -> list[tuple[str, str]]:
        """Every group below ``group`` as ``(group, parent)`` pairs, nearest first."""
        ...


class SearchQueries(Protocol):
    """Ranked entity search over an index rebuilt off the loop per catalog generation."""

    async def search_index(self) -> SearchIndex:
        """The current search index (also a cheap summary of every entity: ``doc(ref)``)."""
        ...

    async def search(self, query: Query, limit: int = 10, offset: int = 0) -> SearchResult:
        """One page of ranked hits for ``query``."""


# --- scheduler ---


class Poster(Protocol):
    """Something that can post a reply into a channel of its platform (for scheduled reports)."""

    platform: str

    async def post(self, channel: str, reply: Reply) -> None: ...


class Dispatches(Protocol):
    """The dispatcher as the scheduler uses it: a request in, a reply out (never raises)."""

    async def dispatch(self, request: Request) -> Reply: ...


class ClaimStore(Protocol):
    """Runs of scheduled reports, each claimed once: exactly one replica posts a run.

    ``claim`` and ``record_missed`` are one insert-or-nothing each; True for exactly one
    caller, ever, per ``(schedule_id, at)``.
    """

    async def claim(
        self, schedule_id: str, report: str, at: dt.datetime, instance: str, now: dt.datetime
    ) -> bool: ...

    async def record_missed(
        self,
        schedule_id: str,
        report: str,
        at: dt.datetime,
        instance: str,
        now: dt.datetime,
        reason: str,
    ) -> bool: ...

    async def finish(
        self,
        schedule_id: str,
        at: dt.datetime,
        instance: str,
        now: dt.datetime,
        status: str,
        posts: int,
        detail: Mapping[str, Any],
    ) -> None:
        """Record how the claimed run at ``at`` ended (only the claimer's row changes)."""
        ...

    async def last_run(self, schedule_id: str) -> dt.datetime | None:
        """The newest scheduled time recorded for a schedule (claimed, posted or missed)."""
        ...

    async def runs(self, schedule_id: str | None = None) -> list[RunRecord]:
        """Stored runs, oldest first."""
        ...


# --- reports ---


class ReportsStore(Protocol):
    """What reports read and keep: the catalog read once per run, digest snapshots, faults."""

    async def read(self, changes_since: dt.datetime) -> ReportInputs:
        """Everything an analysis needs, read together (changes back to ``changes_since`` at
        least, and back to the oldest scope's last digest)."""
        ...

    async def record_run(self, results: RunResults, now: dt.datetime) -> None:
        """Keep a scheduled run's digest snapshots and what it learnt about channels."""
        ...

    async def claim_fault_notices(self, now: dt.datetime) -> list[Fault]:
        """The unreported channel faults this caller may report; each goes to one caller."""
        ...

    async def release_fault_notices(self, faults: Sequence[Fault]) -> None:
        """The notice was not posted: let a later run report these faults."""
        ...

    async def faults(self, unreported_only: bool = False) -> list[Fault]: ...


# --- docs and scaffold ---


class AuditLog(Protocol):
    """Who did what, when, with which values, and how it ended (``bot.audit``)."""

    async def start(
        self,
        at: dt.datetime,
        action: str,
        requester: Requester,
        target: str,
        details: Mapping[str, Any],
        result: str = "running",
        message: str | None = None,
    ) -> int:
        """Write an entry (``running``, or already ended: ``refused``/``invalid``); its id."""
        ...

    async def finish(
        self,
        entry_id: int,
        at: dt.datetime,
        result: str,
        message: str | None,
        details: Mapping[str, Any] | None = None,
    ) -> None:
        """End an entry; ``details`` are merged into the ones it was started with."""
        ...

    async def entries(
        self,
        *,
        limit: int = 50,
        action: str | None = None,
        actor: str | None = None,
        target: str | None = None,
        since: dt.datetime | None = None,
    ) -> list[AuditEntry]:
        """Newest first; ``actor`` and ``target`` match case-insensitive substrings."""
        ...


class NameClaims(Protocol):
    """Names being scaffolded right now, so two runs (or replicas) never make one name twice."""

    async def claim(self, name: str, entry_id: int, at: dt.datetime) -> int | None:
        """Claim ``name`` for the run of audit entry ``entry_id``; ``None`` when it is now
        held, else the audit id of the run holding it (a claim older than ``CLAIM_TTL`` is
        taken over)."""
        ...

    async def release(self, name: str, entry_id: int) -> None: ...


class DocsQueries(Protocol):
    """The docs index, read side: sites, their pages and headings, freshness, search."""

    @property
    def searchable(self) -> bool:
        """Whether this store has full-text search (SQLite, PostgreSQL, memory)."""
        ...

    async def site(self, ref: str) -> DocSite | None: ...

    async def sites(self, refs: Iterable[str] | None = None) -> dict[str, DocSite]:
        """Every entity's docs site by ref (ordered by ref), or just those of ``refs``."""
        ...

    async def pages(self, ref: str, max_level: int = 2) -> list[DocPage]:
        """The entity's pages in nav order, each with its headings up to ``max_level``."""
        ...

    async def freshness(self, refs: Iterable[str] | None = None) -> dict[str, DocsFreshness]:
        """Freshness facts per entity ref (every entity with a techdocs-ref, or ``refs``)."""
        ...

    async def search(
        self, query: DocQuery, entity_ref: str | None = None, limit: int = 5, offset: int = 0
    ) -> SearchPage:
        """Pages matching ``query`` (each once, with its best section), best first."""
        ...


class DocsIndexStore(Protocol):
    """What the docs indexer (a blocking post-sync step, run off the loop) reads and writes."""

    def unsupported(self) -> str | None:
        """Why docs cannot be indexed in this store (no full-text search), or ``None``."""
        ...

    def annotated_entities(self, annotation: str) -> list[IndexedEntity]:
        """Entities whose stored JSON mentions ``annotation``, by ref."""
        ...

    def entity_documents(self, refs: Sequence[str]) -> list[tuple[str, str, str]]:
        """(ref, content hash, entity JSON) of ``refs``."""
        ...

    def stored(self) -> tuple[dict[str, StoredSite], dict[str, dict[str, StoredPage]]]:
        """Every stored site by ref, and every stored page by ref and path."""
        ...

    def remove_sites(self, refs: Sequence[str]) -> None: ...

    def section_counts(self, refs: Sequence[str]) -> dict[int, int]:
        """Sections per stored page id of the sites in ``refs``."""
        ...

    def site_text(self, ref: str) -> str | None:
        """The entity names stored with the site's sections (``None``: no sections)."""
        ...

    def write(self, writes: DocsWrites) -> None:
        """One batch of sites, pages and sections, in one transaction."""
        ...

    def section_total(self) -> int: ...

    def after_index(self, pages_indexed: int) -> None:
        """After a pass that split ``pages_indexed`` pages (PostgreSQL refreshes statistics)."""
        ...


class CatalogTemplates(Protocol):
    """Backstage ``Template`` entities of the synced catalog (blocking: read in a worker)."""

    def template_entities(self) -> list[TemplateEntity]:
        """Every entity of kind ``template``, by ref."""
        ...


# --- sync ---
# The sync runs in a worker thread (``CatalogSync.run`` is blocking by design), so its store
# ports are plain methods; ``SourceStatusReads`` is async, for the commands on the loop.


@dataclass(frozen=True)
class KnownFileRow:
    """A file of a source as the last sync stored it."""

    path: str
    sha256: str
    children: tuple[str, ...]
    refs_json: str  # JSON list: parsed only when a sync writes (``refs``), not on a no-change run
    position: int
    stat: str | None = None  # its stat when read with ``sha256`` (``files.StatKey``)

    @property
    def refs(self) -> tuple[str, ...]:
        """The refs the file holds."""
        return tuple(json.loads(self.refs_json))


@dataclass(frozen=True)
class SourceStatusRow:
    """A source's status as stored: its last attempt, last success, error, count, duration."""

    name: str
    type: str
    location: str | None
    last_attempt: dt.datetime | None  # aware (UTC)
    last_success: dt.datetime | None  # aware (UTC)
    last_error: str | None  # as written: scrub before showing
    entity_count: int
    duration_ms: int | None


class SourceMoved(Exception):
    """Another sync of the source committed after this one read its known files."""


class SourceWriter(Protocol):
    """One source's write transaction, under its sync lock (``SyncStore.writing``)."""

    def stored_entities(self, refs: Collection[str]) -> Mapping[str, StoredEntity]:
        """The stored entities (of any source) among ``refs``, as this transaction sees them."""
        ...

    def stored_problems(self) -> list[Problem]: ...

    def execute(self, plan: Plan, now: dt.datetime) -> Plan:
        """Write ``plan``; the plan as written (without the entities the database refused)."""
        ...

    def replace_drop_notes(self, notes: Sequence[Problem] | None, now: dt.datetime) -> None:
        """Replace the source's Backstage drop warnings (None: work them out from the store)."""
        ...

    def nothing_changed(
        self, fresh: Sequence[Problem], now: dt.datetime, stats: Mapping[str, str | None]
    ) -> None:
        """No file changed: replace the problems of no file with ``fresh``, and store the
        ``stats`` (path -> stat text) of files whose stat changed with the same content."""
        ...

    def succeeded(
        self, source_type: str, location: str | None, now: dt.datetime
    ) -> tuple[list[Problem], int]:
        """Record a successful run; the source's stored problems and entity count."""
        ...

    def finish(self, changed: bool) -> None:
        """Count this sync of the source, and a new catalog generation when it changed."""
        ...


class SyncStore(Protocol):
    """Where the sync reads what is stored and writes what it decided."""

    @property
    def read_only(self) -> bool: ...

    def known_files(self, source: str) -> tuple[int, list[KnownFileRow]]:
        """The source's version (syncs that wrote it) and its files as stored."""
        ...

    def writing(self, source: str, version: int) -> AbstractContextManager[SourceWriter]:
        """The source's write transaction; ``SourceMoved`` if another sync wrote it since
        ``version``; ``StoreError`` (rolled back) if the database refused."""
        ...

    def failed(
        self,
        source: str,
        source_type: str,
        location: str | None,
        error: str | None,
        found: Sequence[Problem],
        duration_ms: int,
        now: dt.datetime,
    ) -> None:
        """Record a failed run: its error, and the problems of no file replaced by ``found``."""
        ...

    def took(self, source: str, duration_ms: int) -> None: ...


class SourceStatusReads(Protocol):
    """Each source's status: rows for the notes on answers that found nothing (``bot.trust``),
    and the full view with problems for ``/callboard status`` and ``callboard status``."""

    async def status_rows(self, names: Sequence[str]) -> dict[str, SourceStatusRow]:
        """The rows of those of ``names`` that have one."""
        ...

    async def statuses(
        self,
        order: Sequence[str] = (),
        *,
        only: str | None = None,
        problem_limit: int = 5,
        problem_offset: int = 0,
    ) -> list[SourceStatus]:
        """Each source's status (``bot.catalog.status.compose_statuses``): the configured ones
        in ``order`` first, then any left in the store; ``problem_limit`` problems each."""
        ...


class RuntimeLocationStore(Protocol):
    """The repositories registered at runtime (``bot.catalog.locations``), called from worker
    threads: the scaffolder offloads registering, the sync's source lists them."""

    def all(self) -> list[RuntimeLocation]: ...

    def find(self, url: str, ref: str | None, path: str) -> RuntimeLocation | None: ...

    def add(
        self, url: str, ref: str | None, path: str, added_at: dt.datetime, added_by: str | None
    ) -> None:
        """Store a location; one registered at the same moment elsewhere is kept, no error."""
        ...

    def remove(self, location_id: int) -> RuntimeLocation | None: ...

    def any(self) -> bool: ...


# --- ops ---


class DeliveryClaims(Protocol):
    """Chat deliveries claimed once across replicas: a platform's retry of a delivery that any
    replica already took is not processed again."""

    async def claim(self, key: str, now: dt.datetime) -> bool:
        """True when this replica took ``key`` now (no replica had it before)."""


# --- notifications ---


class NotifyStore(Protocol):
    """What change notifications read and keep (``bot.notify``): the cursor over the change
    log, the conditions already told, and the outbox of messages (held through quiet hours).

    ``commit`` moves the cursor only from the version it was planned on, in one transaction
    with the conditions and the messages, so one replica commits each batch; ``claim`` takes
    channels' due messages in one statement, so one replica posts each.
    """

    async def read(self) -> NotifyInputs:
        """The cursor, the catalog, the change rows after the cursor, the conditions told."""
        ...

    async def commit(self, batch: Batch, now: dt.datetime) -> bool:
        """Commit ``batch``; False (nothing written) when another pass moved the cursor."""
        ...

    async def due(self, now: dt.datetime) -> list[Target]:
        """The channels with messages due (not held past ``now``), not yet claimed."""
        ...

    async def claim(self, targets: Sequence[Target], now: dt.datetime, instance: str) -> list[Held]:
        """Take the due messages of ``targets`` (in one statement: each channel's together);
        none of a channel whose messages another replica took."""
        ...

    async def finish(
        self, ids: Sequence[int], status: str, error: str | None, now: dt.datetime
    ) -> None:
        """Record how claimed messages ended (posted, or the delivery's status)."""
        ...

    async def outbox(self) -> list[OutboxRow]:
        """Every message kept, oldest first."""
        ...


class SubscriptionStore(Protocol):
    """Channels following an entity, a system or a team (``/subscribe``)."""

    async def subscribe(self, subscription: Subscription) -> bool:
        """Add it; False when the channel already follows that target."""
        ...

    async def unsubscribe(self, platform: str, channel: str, target: str) -> bool:
        """Remove it; False when the channel did not follow that target."""
        ...

    async def of_channel(self, platform: str, channel: str) -> list[Subscription]:
        """The channel's subscriptions, by target."""
        ...

    async def all(self) -> list[Subscription]: ...


# --- on call ---


class OnCallDirectory(Protocol):
    """Who is on call for a PagerDuty service or an Opsgenie schedule or team
    (``bot.oncall.directory.ProviderDirectory``)."""

    def providers(self) -> tuple[str, ...]:
        """The providers configured (their token is set)."""
        ...

    async def lookup(self, target: OnCallTarget) -> OnCallAnswer:
        """The answer within the lookup budget; never raises: a provider that is down, slow or
        rate limiting is the answer's ``error``; ``late`` when the budget ran out first."""
        ...

    async def finish(self, target: OnCallTarget) -> OnCallAnswer:
        """The answer of a lookup that came back ``late``, once it is in; never raises."""
        ...

    async def gaps(
        self, target: OnCallTarget, since: dt.datetime, until: dt.datetime
    ) -> ScheduleGaps:
        """When nobody is on call at the target's first level in the window (reports); never
        raises: a provider that cannot say is the answer's ``error``."""
        ...


class Pager(Protocol):
    """Pages a team: a PagerDuty Events API v2 trigger or an Opsgenie alert
    (``bot.oncall.paging.ProviderPager``)."""

    def can_send(self, target: PageTarget) -> str | None:
        """Why ``target`` cannot be paged here (its provider is not configured), or None."""
        ...

    async def send(self, target: PageTarget, page: Page) -> Sent:
        """Send the page; ``ProviderError`` says why the provider refused or did not answer."""
        ...


# --- attestation ---


class AttestStore(Protocol):
    """Attestation campaigns, the entities each asks about, and every answer given
    (``bot.attest``). Campaign ids come from the store; answers are only ever added."""

    async def create(
        self,
        scope: str,
        created_by: str,
        created_at: dt.datetime,
        due_at: dt.datetime,
        remind_every: dt.timedelta | None,
        items: Sequence[Item],
    ) -> Campaign:
        """Store a campaign and its items (their ``campaign_id`` is set here), in one go."""
        ...

    async def campaign(self, campaign_id: int) -> Campaign | None: ...

    async def campaigns(self) -> list[Campaign]:
        """Every campaign, newest first."""
        ...

    async def items(
        self, campaign_id: int, *, team: str | None = None, entity: str | None = None
    ) -> list[Item]:
        """The campaign's items (only ``team``'s, or ``entity``'s, when given), by team then
        entity."""
        ...

    async def record(self, answers: Sequence[Answer]) -> None:
        """Add answers (one transaction)."""
        ...

    async def answers(self, campaign_id: int) -> list[Answer]:
        """The campaign's answers, oldest first."""
        ...

    async def close(self, campaign_id: int, at: dt.datetime) -> bool:
        """Close an open campaign; False when it was closed already."""
        ...
