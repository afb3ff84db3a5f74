"""/oncall: who is on call now for an entity or team (PagerDuty, Opsgenie), and who is next.

An entity without its own on-call annotation uses its owning group's, then that group's
parents'. A person is shown by name and email.
"""

from __future__ import annotations

import asyncio
import datetime as dt

from bot.annotations import OPSGENIE_SCHEDULE, OPSGENIE_TEAM, PAGERDUTY_SERVICE_ID
from bot.catalog.model import Entity
from bot.chat import Button, Reply, Section
from bot.dispatch import Arg, Args, CommandSpec, Context
from bot.oncall.directory import targets_of
from bot.oncall.model import OnCallAnswer, OnCallPerson, OnCallShift, OnCallTarget
from bot.ports import CatalogQueries
from commands.common import parent_chain


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


async def person_text(ctx: Context, person: OnCallPerson) -> str:
    """Name and email. (A chat mention needs a mention the renderers emit themselves: they
    escape ``<@id>`` in reply text, rightly, so catalog text cannot ping anyone.)"""
    if person.email and person.email != person.name:
        return f"{person.name} <{person.email}>"
    return person.name


def when(t: dt.datetime | None) -> str:
    return t.astimezone(dt.UTC).strftime("%a %d %b %H:%M UTC") if t else "—"


async def shift_line(ctx: Context, shift: OnCallShift, *, upcoming: bool = False) -> str:
    who = await person_text(ctx, shift.person)
    parts = [f"Level {shift.level}: {who}"]
    if upcoming:
        if shift.start:
            parts.append(f"from {when(shift.start)}")
    elif shift.start or shift.end:
        parts.append(f"since {when(shift.start)} until {when(shift.end)}")
    if shift.schedule:
        parts.append(f"({shift.schedule})")
    return " ".join(parts)


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


async def on_call_now(ctx: Context, entity: Entity) -> tuple[str | None, tuple[str, ...]]:
    """For /whoowns: the people on call at the first level now (one line), and a note per
    provider that did not answer; (None, ()) when no on-call is recorded or none is wired."""
    configured = set(ctx.services.oncall.providers()) if ctx.services.oncall else set()
    if not configured:  # nothing to ask: the card costs what it cost before
        return None, ()
    _whose, targets = await oncall_source(ctx.catalog, entity)
    targets = [t for t in targets if t.provider in configured]
    if not targets:
        return None, ()
    answers = await lookups(ctx, targets)
    people: list[str] = []
    notes: list[str] = []
    for answer in answers:
        if answer.error:
            notes.append(answer.error)
            continue
        first = min((s.level for s in answer.now), default=None)
        for s in answer.now:
            if s.level == first:
                shown = f"{await person_text(ctx, s.person)} ({answer.target.provider}"
                people.append(shown + (f", until {when(s.end)})" if s.end else ")"))
    return ("; ".join(people) or None), tuple(notes)


SPEC = CommandSpec(
    name="oncall",
    summary="Who is on call now for an entity or team (PagerDuty, Opsgenie), and who is next.",
    handler=oncall,
    args=(
        Arg("entity", help="a name, title or ref (component:payments-api, group:team-payments)"),
    ),
    examples=("/oncall payments-api", "/oncall group:team-payments"),
)
