"""The notifier: after each sync, plan one batch of notifications, then post what is due.

``plan`` reads the cursor, the catalog and the change rows after the cursor (through the
``NotifyStore`` port, in its threads), works out the lines and their channels in a worker
thread, and commits the batch over the cursor version it read: when another replica committed
first, it reads again. The very first pass records where the change log and the conditions
stand and tells nothing (a new install does not announce the whole catalog).

``flush`` claims each channel's due messages (one replica gets them) and posts them, merged
into one message, through ``bot.reports.delivery.Deliverer``: paced per platform, rate limits
waited out. A message held through quiet hours stays in the database until it is due, so a
restart loses nothing; a claimed message is never posted again, whatever happens to it.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import logging
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from apscheduler.schedulers.asyncio import AsyncIOScheduler
from apscheduler.triggers.interval import IntervalTrigger

from bot.annotations import VIEW_URL
from bot.catalog.model import EntityRef
from bot.docs.settings import DocsSettings
from bot.errors import CatalogError
from bot.notify.model import Batch, Held, Line, Message, NotifyInputs, Subscription
from bot.notify.plan import (
    EntityFacts,
    address,
    conditions_now,
    lines_of,
    needs_details,
)
from bot.notify.render import notification_reply
from bot.notify.settings import NotificationsSettings
from bot.reports.delivery import NOT_FOUND, POSTED, Deliverer, Delivery, Sleep
from bot.reports.settings import ReportsSettings, Target
from bot.reports.store import BrokenChannel, RunResults

if TYPE_CHECKING:
    from bot.catalog.model import Entity
    from bot.metrics import Metrics
    from bot.ports import CatalogQueries, NotifyStore, Poster, ReportsStore, SubscriptionStore

log = logging.getLogger(__name__)

ATTEMPTS = 5  # planning passes when other replicas keep committing first
JOB_ID = "notify-flush"
# Channels whose due messages are claimed at once: a replica stopped half way loses at most
# these (a claimed message is never posted twice), and claiming costs one statement each.
CLAIM_CHUNK = 100
MAX_DETAILS = 20_000  # entities read for routes in one batch (bounded by what a sync changed)


@dataclass(frozen=True)
class Planned:
    """What one planning pass did."""

    status: str  # baseline | committed | taken | disabled
    messages: int = 0
    lines: int = 0
    upto: int = 0


@dataclass(frozen=True)
class Notified:
    """What ``notify`` did: the batch planned, and the deliveries of what was due."""

    planned: Planned
    deliveries: tuple[Delivery, ...] = ()


def _details(entity: Entity) -> EntityFacts:
    system = entity.spec.get("system")
    system_ref = None
    if isinstance(system, str) and system.strip():
        try:
            system_ref = str(EntityRef.parse(system.strip(), "system", entity.ref.namespace))
        except CatalogError:
            system_ref = None
    view = entity.annotations.get(VIEW_URL, "")
    return EntityFacts(
        system=system_ref,
        tags=frozenset(t.lower() for t in entity.tags),
        view_url=view if view.startswith(("https://", "http://")) else None,
    )


class Notifier:
    """Change notifications for one app (``bot.bootstrap.build_services`` makes it)."""

    def __init__(
        self,
        *,
        store: NotifyStore,
        subscriptions: SubscriptionStore,
        catalog: CatalogQueries,
        posters: Mapping[str, Poster],
        settings: NotificationsSettings,
        delivery: ReportsSettings,
        thresholds: DocsSettings,
        clock: Callable[[], dt.datetime],
        instance: str,
        backstage_url: str | None = None,
        sleep: Sleep = asyncio.sleep,
        metrics: Metrics | None = None,
        faults: ReportsStore | None = None,
    ) -> None:
        self.store = store
        self.subscriptions = subscriptions
        self.catalog = catalog
        self.posters = posters  # the app's: platforms started later are seen too
        self.settings = settings
        self.delivery = delivery
        self.thresholds = thresholds
        self.clock = clock
        self.instance = instance
        self.backstage_url = backstage_url
        self.sleep = sleep
        self.metrics = metrics  # each delivery counted there, as the digests' are
        # Channels posts cannot reach go to the reports' channel faults (reported once to
        # ``reports.platform_channel`` by the next scheduled run), and reached ones are cleared.
        self.faults = faults
        self._task: asyncio.Task[Any] | None = None
        self._again = False

    # --- planning --------------------------------------------------------------------------

    async def plan(self) -> Planned:
        """Commit one batch: the changes since the last one, to their channels."""
        if not self.settings.enabled:
            return Planned("disabled")
        for _ in range(ATTEMPTS):
            inputs = await self.store.read()
            now = self.clock()
            batch = await self._batch(inputs, now)
            if await self.store.commit(batch, now):
                if batch.base is None:
                    log.info("notifications: baseline at change %d", batch.upto)
                    return Planned("baseline", upto=batch.upto)
                lines = sum(len(m.lines) for m in batch.messages)
                if batch.messages:
                    log.info(
                        "notifications: changes %d-%d, %d messages",
                        batch.base.last_change_id + 1,
                        batch.upto,
                        len(batch.messages),
                    )
                return Planned("committed", len(batch.messages), lines, batch.upto)
        return Planned("taken")

    async def _batch(self, inputs: NotifyInputs, now: dt.datetime) -> Batch:
        facts = inputs.facts
        current = await asyncio.to_thread(conditions_now, facts, now, self.thresholds)
        told = inputs.conditions
        added = frozenset(current) - told
        dropped = told - frozenset(current)
        # Never backwards: the cursor only moves on.
        base = inputs.cursor.last_change_id if inputs.cursor is not None else 0
        upto = max([base, facts.last_change_id, *(r.id for r in inputs.rows)])
        if inputs.cursor is None:  # the baseline: nothing is told
            return Batch(None, upto, added, dropped, ())
        lines = await asyncio.to_thread(lines_of, inputs.rows, facts, current, told)
        messages: tuple[Message, ...] = ()
        if lines:
            subscriptions = await self.subscriptions.all()
            details = await self._entity_details(lines, subscriptions)
            messages = tuple(
                await asyncio.to_thread(
                    address,
                    lines,
                    facts,
                    details,
                    subscriptions,
                    self.settings,
                    set(self.posters),
                    now,
                    self.backstage_url,
                )
            )
        return Batch(inputs.cursor, upto, added, dropped, messages)

    async def _entity_details(
        self, lines: list[Line], subscriptions: list[Subscription]
    ) -> dict[str, EntityFacts]:
        if not needs_details(self.settings, subscriptions, self.backstage_url):
            return {}
        refs = list(dict.fromkeys(x.ref for x in lines if x.change != "removed"))[:MAX_DETAILS]
        entities = await self.catalog.get_many(refs)
        return {ref: _details(entity) for ref, entity in entities.items()}

    # --- posting ---------------------------------------------------------------------------

    async def flush(self) -> list[Delivery]:
        """Post every channel's due messages (one message per channel), once across replicas."""
        if not self.settings.enabled:
            return []
        deliverer = Deliverer(self.posters, self.delivery, self.sleep)
        out: list[Delivery] = []
        due = await self.store.due(self.clock())
        for start in range(0, len(due), CLAIM_CHUNK):
            now = self.clock()
            claimed = await self.store.claim(due[start : start + CLAIM_CHUNK], now, self.instance)
            by_target: dict[Target, list[Held]] = {}
            for h in claimed:  # none of a channel another replica took
                by_target.setdefault(h.target, []).append(h)
            ended: dict[tuple[str, str | None], list[int]] = {}
            try:
                for target, held in by_target.items():
                    delivery = await self._post(deliverer, target, held, now)
                    ended.setdefault((delivery.status, delivery.error), []).extend(
                        h.id for h in held
                    )
                    out.append(delivery)
            finally:  # recorded even while shutting down (what was not posted stays claimed)
                for (status, error), ids in ended.items():
                    await asyncio.shield(self.store.finish(ids, status, error, self.clock()))
        await self._record_faults(out)
        return out

    async def _record_faults(self, deliveries: list[Delivery]) -> None:
        broken = [
            BrokenChannel(d.platform, d.channel, None, d.error or d.status)
            for d in deliveries
            if d.status == NOT_FOUND
        ]
        reached = [(d.platform, d.channel) for d in deliveries if d.status == POSTED]
        if self.faults is None or not (broken or reached):
            return
        keep_every_snapshot = dt.datetime.min.replace(tzinfo=dt.UTC)
        results = RunResults((), broken, reached, keep_every_snapshot)
        await self.faults.record_run(results, self.clock())

    async def _post(
        self, deliverer: Deliverer, target: Target, held: list[Held], now: dt.datetime
    ) -> Delivery:
        """One channel's claimed messages, merged into one post."""
        lines = tuple(dict.fromkeys(line for h in held for line in h.lines))
        teams: dict[str, str] = {}
        for h in held:
            teams.update(h.teams)
        late = any(h.created_at < now - dt.timedelta(minutes=5) for h in held)
        omitted = sum(h.omitted for h in held)
        reply = notification_reply(lines, teams, self.settings.max_items, late, omitted)
        scope = "notifications:" + ",".join(str(h.batch) for h in held)
        delivery = await deliverer.post(target.platform, target.channel, scope, reply)
        if self.metrics is not None:
            self.metrics.delivery(delivery.platform, delivery.status)
        if delivery.status != POSTED:
            log.warning(
                "notification to %s:%s: %s %s",
                target.platform,
                target.channel,
                delivery.status,
                delivery.error or "",
            )
        return delivery

    async def notify(self) -> Notified:
        """Plan a batch, then post what is due."""
        planned = await self.plan()
        return Notified(planned, tuple(await self.flush()))

    # --- in the background -----------------------------------------------------------------

    def sync_finished(self, _report: object = None) -> None:
        """After a sync in this process: notify in the background (never holding the sync's
        caller); syncs that finish meanwhile are folded into one more pass."""
        if not self.settings.enabled:
            return
        if self._task is not None and not self._task.done():
            self._again = True
            return
        self._task = asyncio.get_running_loop().create_task(self._passes())

    async def _passes(self) -> None:
        while True:
            self._again = False
            try:
                await self.notify()
            except Exception:  # the next sync (or check) tries again; nothing is lost
                log.exception("change notifications failed")
            if not self._again:
                return

    async def idle(self) -> None:
        """Until the background passes started so far are done."""
        while self._task is not None and not self._task.done():
            await asyncio.shield(self._task)

    async def check(self) -> None:
        """The periodic job: post what quiet hours held and is now due."""
        try:
            await self.flush()
        except Exception:
            log.exception("posting held notifications failed")


def schedule_notifier(aps: AsyncIOScheduler, notifier: Notifier) -> None:
    """Add the notifier's periodic check to ``aps``, and a first pass now (the sync that ran
    before serving, or one by ``callboard sync``)."""
    if not notifier.settings.enabled:
        return
    aps.add_job(
        notifier.check,
        trigger=IntervalTrigger(seconds=notifier.settings.check_seconds, timezone=dt.UTC),
        id=JOB_ID,
        name="post change notifications held through quiet hours",
        max_instances=1,
        coalesce=True,
        replace_existing=True,
    )
    notifier.sync_finished()
