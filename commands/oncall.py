"""/oncall: who is on call now for an entity or team (PagerDuty, Opsgenie), and who is next.

An entity without its own on-call annotation uses its owning group's, then that group's
parents'. A person is shown as a chat mention when their email maps to a chat user on the
asker's platform (the adapter's ``ChatPeople``: Slack's ``users.lookupByEmail``; else the
catalog User with that email and the platform's user-id annotation, as on Discord), else by
name and email.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import logging
from dataclasses import dataclass

from bot.annotations import (
    OPSGENIE_SCHEDULE,
    OPSGENIE_TEAM,
    PAGERDUTY_SERVICE_ID,
    USER_ID_ANNOTATIONS,
)
from bot.catalog.model import Entity
from bot.chat import Button, Mention, MentionText, Reply, Section
from bot.dispatch import Arg, Args, CommandSpec, Context
from bot.identity import Identity
from bot.oncall.model import OnCallAnswer, OnCallPerson, OnCallShift, OnCallTarget, targets_of
from bot.ports import CatalogQueries
from commands.common import parent_chain

log = logging.getLogger(__name__)

MENTION_SECONDS = 0.5  # a chat user lookup by email that takes longer shows name and email


async def responsible_chain(catalog: CatalogQueries, entity: Entity) -> list[Entity]:
    """The entity, its owning group, then that group's parents, nearest first: where on-call
    annotations are looked for."""
    chain: list[Entity] = [entity]
    group: Entity | None = entity if entity.ref.kind == "group" else None
    if group is None and entity.ref.kind != "user":
        owners = await catalog.related(entity.ref, "ownedBy")
        owner = await catalog.get(owners[0]) if owners else None
        if owner is not None:
            chain.append(owner)
            group = owner if owner.ref.kind == "group" else None
    if group is not None:
        for ref in await parent_chain(catalog, group.ref):
            parent = await catalog.get(ref)
            if parent is not None:
                chain.append(parent)
    return chain


async def oncall_source(
    catalog: CatalogQueries, entity: Entity
) -> tuple[Entity, list[OnCallTarget]]:
    """The entity whose on-call annotations apply (see ``responsible_chain``) and its targets;
    ``(entity, [])`` when none has any."""
    for candidate in await responsible_chain(catalog, entity):
        found = targets_of(candidate.annotations)
        if found:
            return candidate, found
    return entity, []


async def lookups(ctx: Context, targets: list[OnCallTarget]) -> list[OnCallAnswer]:
    """Every target looked up at once (each within the directory's budget)."""
    directory = ctx.services.oncall
    if directory is None:
        return [OnCallAnswer(t, error=f"{t.provider} is not configured") for t in targets]
    return list(await asyncio.gather(*(directory.lookup(t) for t in targets)))


def name_and_email(person: OnCallPerson) -> str:
    if person.email and person.email != person.name:
        return f"{person.name} <{person.email}>"
    return person.name


async def chat_id_for(ctx: Context, email: str) -> str | None:
    """The asker's platform's user id for ``email``: the adapter's lookup (Slack
    ``users.lookupByEmail``), else the one catalog User with that email and the platform's
    user-id annotation; None when neither knows it (or the lookup is slow)."""
    platform = ctx.request.platform
    people = ctx.request.people
    if people is not None:
        try:
            found = await asyncio.wait_for(people.user_id_for_email(email), MENTION_SECONDS)
        except TimeoutError:
            found = None
        if found:
            return found
    users = await ctx.catalog.users_by_email(email)
    return Identity.chat_id(users[0], platform) if len(users) == 1 else None


async def person_shown(ctx: Context, person: OnCallPerson) -> str | Mention:
    """A mention of the person on the asker's platform when their email maps to a chat user
    there, else their name and email."""
    shown = name_and_email(person)
    platform = ctx.request.platform
    if platform not in USER_ID_ANNOTATIONS or not person.email:
        return shown
    try:
        user_id = await chat_id_for(ctx, person.email)
    except Exception:  # a mention must never cost the answer
        log.exception("finding the %s user for an on-call person failed", platform)
        user_id = None
    return Mention(platform, user_id, shown) if user_id else shown


def joined(*parts: str | Mention) -> str:
    """The parts as one text: a ``MentionText`` when one of them is a mention."""
    if any(isinstance(p, Mention) for p in parts):
        return MentionText(*parts)
    return "".join(p for p in parts if isinstance(p, str))


def when(t: dt.datetime | None) -> str:
    return t.astimezone(dt.UTC).strftime("%a %d %b %H:%M UTC") if t else "—"


async def shift_line(ctx: Context, shift: OnCallShift, *, upcoming: bool = False) -> str:
    who = await person_shown(ctx, shift.person)
    parts = []
    if upcoming:
        if shift.start:
            parts.append(f"from {when(shift.start)}")
    elif shift.start or shift.end:
        parts.append(f"since {when(shift.start)} until {when(shift.end)}")
    if shift.schedule:
        parts.append(f"({shift.schedule})")
    return joined(f"Level {shift.level}: ", who, "".join(" " + p for p in parts))


def target_label(target: OnCallTarget) -> str:
    return f"{target.provider} {target.kind} {target.id}"


async def oncall(ctx: Context, args: Args) -> Reply:
    """Who is on call now for an entity or a team, at each escalation level, and who is next."""
    entity = args.entity("entity")
    title = f"On call for {entity.display_name}"
    whose, targets = await oncall_source(ctx.catalog, entity)
    buttons = (Button("Who owns it", command=f"/whoowns {entity.ref}"),)
    if not targets:
        keys = ", ".join((PAGERDUTY_SERVICE_ID, OPSGENIE_SCHEDULE, OPSGENIE_TEAM))
        text = (
            f"No on-call is recorded for {entity.ref}, its owner or the owner's parent groups "
            f"(annotations read: {keys})."
        )
        return Reply(title=title, text=text, buttons=buttons)
    answers = await lookups(ctx, targets)
    sections: list[Section] = []
    notes: list[str] = []
    for answer in answers:
        label = target_label(answer.target)
        if answer.error:
            notes.append(answer.error)
            continue
        now = [await shift_line(ctx, s) for s in answer.now]
        sections.append(
            Section(title=f"On call now ({label})", items=tuple(now) or ("nobody is on call",))
        )
        if answer.next:
            upcoming = [await shift_line(ctx, s, upcoming=True) for s in answer.next]
            sections.append(Section(title="Next", items=tuple(upcoming)))
    via = "" if whose is entity else f", from {whose.ref}"
    text = f"On call for {entity.ref}{via}."
    if not sections:
        text = f"On call for {entity.ref}{via}: no provider answered."
    return Reply(
        title=title, text=text, sections=tuple(sections), notes=tuple(notes), buttons=buttons
    )


@dataclass(frozen=True)
class OnCallNow:
    """For /whoowns: who is on call at the first level now (one line, mentions where the
    asker's platform has them), a note per provider that did not answer, and every answer
    (those marked ``late`` are still coming: ``on_call_finished``)."""

    line: str | None = None
    notes: tuple[str, ...] = ()
    answers: tuple[OnCallAnswer, ...] = ()

    @property
    def late(self) -> bool:
        return any(a.late for a in self.answers)


async def on_call_now(ctx: Context, entity: Entity) -> OnCallNow:
    """The entity's on-call now, within the lookup budget; empty when no on-call is recorded
    or no provider is wired."""
    configured = set(ctx.services.oncall.providers()) if ctx.services.oncall else set()
    if not configured:  # nothing to ask: the card costs what it cost before
        return OnCallNow()
    _whose, targets = await oncall_source(ctx.catalog, entity)
    targets = [t for t in targets if t.provider in configured]
    if not targets:
        return OnCallNow()
    return await _summary(ctx, await lookups(ctx, targets))


async def on_call_finished(ctx: Context, now: OnCallNow) -> OnCallNow:
    """``now`` with its late lookups' answers in (each bounded by the provider's timeout)."""
    directory = ctx.services.oncall
    if directory is None or not now.late:
        return now
    late = [a for a in now.answers if a.late]
    finished = iter(await asyncio.gather(*(directory.finish(a.target) for a in late)))
    return await _summary(ctx, [next(finished) if a.late else a for a in now.answers])


async def _summary(ctx: Context, answers: list[OnCallAnswer]) -> OnCallNow:
    parts: list[str | Mention] = []
    notes: list[str] = []
    for answer in answers:
        if answer.error:
            notes.append(answer.error)
            continue
        first = min((s.level for s in answer.now), default=None)
        for s in answer.now:
            if s.level == first:
                if parts:
                    parts.append("; ")
                parts.append(await person_shown(ctx, s.person))
                until = f", until {when(s.end)}" if s.end else ""
                parts.append(f" ({answer.target.provider}{until})")
    return OnCallNow(joined(*parts) or None, tuple(notes), tuple(answers))


SPEC = CommandSpec(
    name="oncall",
    summary="Who is on call now for an entity or team (PagerDuty, Opsgenie), and who is next.",
    handler=oncall,
    args=(
        Arg("entity", help="a name, title or ref (component:payments-api, group:team-payments)"),
    ),
    examples=("/oncall payments-api", "/oncall group:team-payments"),
)
