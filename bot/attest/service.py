"""``Attestations``: start a campaign, post to each owning team, record answers, remind.

Posting goes through the platforms' posters (``Services.posters``) with the reports'
``Deliverer`` (paced, rate limits waited out, a missing channel reported, never a post twice).
Reminders are a periodic job (``schedule_reminders``): every replica runs it, and each
reminder of a campaign is claimed in the claim store under ``attest:<id>`` before it is
posted, so exactly one replica posts it; a campaign's state lives in the store, so a restart
loses nothing.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import logging
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from apscheduler.schedulers.asyncio import AsyncIOScheduler
from apscheduler.triggers.interval import IntervalTrigger

from bot.annotations import CHANNEL_ANNOTATIONS
from bot.attest.messages import named_team_message, team_messages
from bot.attest.model import (
    ANSWERS,
    MAX_ITEMS,
    NOT_OURS,
    PENDING,
    Answer,
    Campaign,
    Item,
    Scope,
    TeamProgress,
    entity_version,
    latest,
    progress,
)
from bot.catalog.model import Entity
from bot.catalog.rows import ListedEntity
from bot.catalog.search import SearchIndex
from bot.errors import BadArguments
from bot.reports.delivery import POSTED, Deliverer, Delivery, Sleep
from bot.reports.findings import Finding, disputed_ownership
from bot.reports.settings import ReportsSettings

if TYPE_CHECKING:
    from bot.ports import AttestStore, CatalogQueries, ClaimStore, Poster, SearchQueries

log = logging.getLogger(__name__)

REMINDER = "attest-reminder"  # the "report" its reminder claims are recorded as
REMINDER_JOB = "attest-reminders"
REMINDER_CHECK_SECONDS = 60.0
GET_BATCH = 500


@dataclass(frozen=True)
class Plan:
    """What a campaign over a scope would ask: items per owning team, and what it cannot ask."""

    items: list[Item]
    unowned: list[str]  # in scope, but the owner is not a Group in the catalog
    teams: dict[str, Entity]  # the owning teams, by ref


@dataclass(frozen=True)
class Started:
    """A campaign just started, and where its requests went."""

    campaign: Campaign
    plan: Plan
    deliveries: list[Delivery] = field(default_factory=list)
    no_channel: list[str] = field(default_factory=list)  # teams with no channel to post to


@dataclass(frozen=True)
class Reminded:
    """A reminder one replica claimed and posted."""

    campaign: int
    at: dt.datetime
    deliveries: list[Delivery]


def _may_match(scope: Scope, listed: list[ListedEntity], index: SearchIndex) -> list[ListedEntity]:
    """The listed entities whose summary may be in scope (blocking: CPU work)."""
    out = []
    for row in listed:
        doc = index.doc(row.ref)
        if doc is None or scope.may_match(doc):
            out.append(row)
    return out


def _select(
    scope: Scope,
    refs: Sequence[str],
    found: Mapping[str, Entity],
    owner_of: Mapping[str, str | None],
    teams: set[str],
) -> tuple[list[Item], list[str]]:
    """Of ``refs``, the items in scope owned by one of ``teams``, and those in scope whose owner
    is not a team (blocking: CPU work)."""
    items: list[Item] = []
    unowned: list[str] = []
    for ref in refs:
        entity = found.get(ref)
        owner = owner_of.get(ref)
        if entity is None or not scope.matches(entity, owner):
            continue
        if owner is None or owner not in teams:
            unowned.append(ref)
            continue
        items.append(Item(0, ref, owner, entity_version(entity), entity.display_name))
    return items, unowned


def evidence_data(
    campaign: Campaign, items: Sequence[Item], answers: Sequence[Answer]
) -> dict[str, Any]:
    """The export of a campaign (``Attestations.evidence``)."""
    newest = latest(answers)
    history: dict[str, list[Answer]] = {}
    for answer in answers:
        history.setdefault(answer.entity_ref, []).append(answer)
    return {
        "campaign": campaign.to_dict(),
        "progress": [p.to_dict() for p in progress(items, answers)],
        "items": [
            {
                "entity": i.entity_ref,
                "title": i.title,
                "team": i.team_ref,
                "version_asked": i.version,
                "state": newest[i.entity_ref].answer if i.entity_ref in newest else PENDING,
                "answers": [a.to_dict() for a in history.get(i.entity_ref, [])],
            }
            for i in items
        ],
        "findings": [f.to_dict() for f in Attestations.disputes(items, answers)],
    }


def channels_of(group: Entity, platforms: Iterable[str]) -> dict[str, str]:
    """The team's channel per platform (of those with a poster), from its annotations."""
    out: dict[str, str] = {}
    for platform in platforms:
        for key in CHANNEL_ANNOTATIONS.get(platform, ()):
            value = group.annotations.get(key, "").strip()
            if value:
                out[platform] = value
                break
    return out


class Attestations:
    """Attestation campaigns over one catalog, store and set of posters."""

    def __init__(
        self,
        store: AttestStore,
        claims: ClaimStore,
        catalog: CatalogQueries,
        search: SearchQueries,
        posters: Mapping[str, Poster],
        clock: Callable[[], dt.datetime],
        settings: ReportsSettings,
        instance: str,
        sleep: Sleep = asyncio.sleep,
    ) -> None:
        self.store = store
        self.claims = claims
        self.catalog = catalog
        self.search = search
        self.posters = posters  # the app's: platforms add theirs after this is built
        self.clock = clock
        self.settings = settings
        self.instance = instance
        self.sleep = sleep

    # ------------------------------------------------------------------ starting

    async def plan(self, scope: Scope) -> Plan:
        """The entities in ``scope`` and the team owning each (off the loop: catalog reads)."""
        listed = [row for kind in scope.kinds for row in await self.catalog.listing(kind)]
        # The search index's summaries rule most entities out without reading their documents.
        index = await self.search.search_index()
        listed = await asyncio.to_thread(_may_match, scope, listed, index)
        owners = {row.owner_ref for row in listed if row.owner_ref}
        groups = {
            ref: group
            for ref, group in (
                await self._get_many(sorted(o for o in owners if o.startswith("group:")))
            ).items()
        }
        items: list[Item] = []
        unowned: list[str] = []
        refs = [row.ref for row in listed]
        owner_of = {row.ref: row.owner_ref for row in listed}
        for start in range(0, len(refs), GET_BATCH):
            batch = refs[start : start + GET_BATCH]
            found = await self._get_many(batch)
            # Matching and hashing thousands of documents is CPU work: off the event loop.
            chosen, skipped = await asyncio.to_thread(
                _select, scope, batch, found, owner_of, set(groups)
            )
            items += chosen
            unowned += skipped
            if len(items) > MAX_ITEMS:
                raise BadArguments(
                    f"More than {MAX_ITEMS:,} entities are in scope ({scope.text}); narrow "
                    "--scope (kind:, lifecycle:, owner:, system:)."
                )
        used = {i.team_ref for i in items}
        return Plan(items, sorted(unowned), {r: g for r, g in groups.items() if r in used})

    async def _get_many(self, refs: Sequence[str]) -> dict[str, Entity]:
        return await self.catalog.get_many(refs) if refs else {}

    async def start(
        self,
        scope: Scope,
        due: dt.timedelta,
        remind_every: dt.timedelta | None,
        created_by: str,
    ) -> Started:
        """Store a campaign over ``scope`` and post each owning team its request."""
        plan = await self.plan(scope)
        if not plan.items:
            raise BadArguments(
                f"No entity owned by a team is in scope ({scope.text}): nothing to ask."
                + (f" {len(plan.unowned)} in scope have no team as owner." if plan.unowned else "")
            )
        now = self.clock()
        campaign = await self.store.create(
            scope.stored, created_by, now, now + due, remind_every, plan.items
        )
        by_team: dict[str, list[Item]] = {}
        for item in plan.items:
            by_team.setdefault(item.team_ref, []).append(item)
        deliveries, no_channel = await self._post_teams(campaign, plan.teams, by_team, False)
        return Started(campaign, plan, deliveries, no_channel)

    async def _post_teams(
        self,
        campaign: Campaign,
        teams: Mapping[str, Entity],
        by_team: Mapping[str, Sequence[Item]],
        reminder: bool,
    ) -> tuple[list[Delivery], list[str]]:
        deliverer = Deliverer(self.posters, self.settings, self.sleep)
        deliveries: list[Delivery] = []
        no_channel: list[str] = []
        for team_ref in sorted(by_team):
            group = teams.get(team_ref)
            channels = channels_of(group, self.posters) if group is not None else {}
            if not channels:
                no_channel.append(team_ref)
                continue
            label = group.display_name if group is not None else team_ref
            replies = team_messages(campaign, team_ref, label, by_team[team_ref], reminder=reminder)
            for platform, channel in sorted(channels.items()):
                for reply in replies:
                    sent = await deliverer.post(platform, channel, team_ref, reply)
                    deliveries.append(sent)
                    if sent.status != POSTED:
                        log.warning(
                            "attestation %s: %s %s:%s: %s",
                            campaign.id,
                            team_ref,
                            platform,
                            channel,
                            sent.error,
                        )
                        break  # the rest would fail the same way
        return deliveries, no_channel

    # ------------------------------------------------------------------ reading

    async def campaign(self, campaign_id: int | None = None) -> Campaign | None:
        """Campaign ``campaign_id``, or the newest one."""
        if campaign_id is not None:
            return await self.store.campaign(campaign_id)
        found = await self.store.campaigns()
        return found[0] if found else None

    async def state(self, campaign: Campaign) -> tuple[list[Item], list[Answer]]:
        return await self.store.items(campaign.id), await self.store.answers(campaign.id)

    async def progress(self, campaign: Campaign) -> list[TeamProgress]:
        items, answers = await self.state(campaign)
        return await asyncio.to_thread(progress, items, answers)

    @staticmethod
    def disputes(items: Sequence[Item], answers: Sequence[Answer]) -> list[Finding]:
        """The ownership gaps "not ours" answers made (each item's newest answer counts)."""
        team_of = {i.entity_ref: i.team_ref for i in items}
        out = []
        for answer in latest(answers).values():
            if answer.answer != NOT_OURS:
                continue
            out.append(
                disputed_ownership(
                    answer.entity_ref,
                    team_of.get(answer.entity_ref, answer.team_ref),
                    answer.actor,
                    answer.campaign_id,
                    answer.named_team,
                    answer.note,
                )
            )
        return sorted(out, key=lambda f: f.entity)

    async def standing_disputes(self) -> list[Finding]:
        """The "not ours" answers of the newest ownership check, as ownership gaps (the
        reports keep those whose entity still has the owner that disputed it)."""
        campaigns = await self.store.campaigns()
        if not campaigns:
            return []
        items, answers = await self.state(campaigns[0])
        return self.disputes(items, answers)

    async def evidence(self, campaign: Campaign) -> dict[str, Any]:
        """Everything a campaign recorded, for export: each item with its state and every
        answer, progress per team, and the ownership gaps it found (built off the loop)."""
        items, answers = await self.state(campaign)
        return await asyncio.to_thread(evidence_data, campaign, items, answers)

    # ------------------------------------------------------------------ answering

    async def record(self, answers: Sequence[Answer]) -> None:
        if any(a.answer not in ANSWERS for a in answers):
            raise ValueError("unknown attestation answer")
        await self.store.record(answers)

    async def notify_named(self, findings: Sequence[Finding], campaign: int) -> list[Delivery]:
        """Tell each team "not ours" answers named that these entities may be theirs (one
        message per team)."""
        by_named: dict[str, list[Finding]] = {}
        for finding in findings:
            named = finding.teams[1] if len(finding.teams) > 1 else None
            if named is not None:
                by_named.setdefault(named, []).append(finding)
        if not by_named:
            return []
        owners = {f.owner for f in findings if f.owner}
        found = await self._get_many(sorted(set(by_named) | owners))
        deliverer = Deliverer(self.posters, self.settings, self.sleep)
        out: list[Delivery] = []
        for named, listed in sorted(by_named.items()):
            group = found.get(named)
            if group is None:
                continue
            owner_ref = listed[0].owner or ""
            owner = found.get(owner_ref)
            reply = named_team_message(
                listed,
                campaign,
                group.display_name,
                owner.display_name if owner is not None else owner_ref,
            )
            for platform, channel in sorted(channels_of(group, self.posters).items()):
                out.append(await deliverer.post(platform, channel, named, reply))
        return out

    # ------------------------------------------------------------------ reminders

    async def remind_due(self) -> list[Reminded]:
        """Post the reminder due now of every open campaign, to each team with items still
        pending; each reminder claimed first, so one replica posts it. A campaign past its
        due date is closed."""
        now = self.clock()
        done: list[Reminded] = []
        for campaign in await self.store.campaigns():
            if campaign.closed_at is not None:
                continue
            if now >= campaign.due_at:
                if await self.store.close(campaign.id, now):
                    log.info("attestation %s closed: due %s", campaign.id, campaign.due_at)
                continue
            at = campaign.reminder_due(now)
            if at is None:
                continue
            claimed = await self.claims.claim(
                campaign.schedule_id, REMINDER, at, self.instance, now
            )
            if not claimed:
                continue
            deliveries: list[Delivery] = []
            status = "failed"
            try:
                deliveries = await self._remind(campaign)
                status = "posted" if all(d.ok for d in deliveries) else "partial"
                if not deliveries:
                    status = "nothing"
            finally:
                await asyncio.shield(
                    self.claims.finish(
                        campaign.schedule_id,
                        at,
                        self.instance,
                        self.clock(),
                        status,
                        sum(1 for d in deliveries if d.status == POSTED),
                        {"deliveries": [d.to_dict() for d in deliveries]},
                    )
                )
            done.append(Reminded(campaign.id, at, deliveries))
        return done

    async def _remind(self, campaign: Campaign) -> list[Delivery]:
        items, answers = await self.state(campaign)
        answered = latest(answers)
        pending: dict[str, list[Item]] = {}
        for item in items:
            if item.entity_ref not in answered:
                pending.setdefault(item.team_ref, []).append(item)
        teams = await self._get_many(sorted(pending))
        deliveries, _ = await self._post_teams(campaign, teams, pending, True)
        return deliveries


def schedule_reminders(
    scheduler: AsyncIOScheduler,
    attestations: Attestations,
    seconds: float = REMINDER_CHECK_SECONDS,
) -> None:
    """Check for due reminders every ``seconds`` (an APScheduler interval job)."""

    async def check() -> None:
        try:
            await attestations.remind_due()
        except Exception:  # the next check tries again
            log.exception("attestation reminders failed")

    scheduler.add_job(
        check,
        trigger=IntervalTrigger(seconds=seconds, timezone=dt.UTC),
        id=REMINDER_JOB,
        name="attestation campaign reminders",
        max_instances=1,
        coalesce=True,
        replace_existing=True,
    )
