"""/whoowns: who owns an entity, how to reach them, and who is on call."""

from __future__ import annotations

from dataclasses import replace

from bot.annotations import ONCALL_ANNOTATIONS
from bot.catalog.model import Entity
from bot.chat import Button, Field, MentionText, Reply, Section, Update
from bot.dispatch import Arg, Args, CommandSpec, Context, Option
from commands.common import (
    channel_fields,
    entity_line,
    grouped_by_kind,
    oncall_fields,
    paged_sections,
    person_line,
    source_links,
)
from commands.oncall import OnCallNow, on_call_finished, on_call_now

MAX_OWNED_SHOWN = 40


async def whoowns(ctx: Context, args: Args) -> Reply:
    """The owning team (or person), its members, channel, parents, on-call and source."""
    entity = args.entity("entity")
    if args.options["oncall"]:
        return await _oncall(ctx, entity)
    if entity.ref.kind in ("group", "user"):
        return await _owned_by(ctx, entity, args.options["page"])
    found = await ctx.catalog.ownership(entity.ref)  # one read, however many rows
    sections: list[Section] = []
    buttons: list[Button] = []
    title = f"Who owns {entity.display_name}"
    summary_fields = [Field("Entity", str(entity.ref))]
    if entity.spec_type or entity.lifecycle:
        summary_fields.append(
            Field("Type", " / ".join(x for x in (entity.spec_type, entity.lifecycle) if x))
        )
    oncall = oncall_fields(entity)
    if found.owner_ref is None:
        text = (
            f"{entity.ref} has no owner in the catalog (spec.owner is missing): an ownership gap."
        )
        return Reply(title=title, text=text, sections=(Section(fields=tuple(summary_fields)),))
    owner_ref, owner = found.owner_ref, found.owner
    if owner is None:
        text = (
            f"{entity.ref} is owned by {owner_ref}, which is not in the catalog: an ownership gap. "
            f"Fix spec.owner in {entity.source_file or 'its catalog file'} or add the "
            f"{owner_ref.kind} to the catalog."
        )
        sections.append(Section(fields=tuple(summary_fields + oncall)))
        return Reply(
            title=title, text=text, sections=tuple(sections), links=tuple(source_links(entity))
        )

    text = f"{entity.display_name} is owned by {owner.display_name} ({owner.ref})."
    owner_fields = [Field("Owner", f"{owner.display_name} ({owner.ref})")]
    if owner.description:
        owner_fields.append(Field("About", owner.description, inline=False))
    if owner.email:
        owner_fields.append(Field("Email", owner.email))
    if owner.ref.kind == "group":
        owner_fields.extend(channel_fields(owner))
        if found.parents:
            owner_fields.append(Field("Part of", " › ".join(r.name for r in found.parents)))
    sections.append(Section(title="Owner", fields=tuple(owner_fields)))

    if owner.ref.kind == "group":
        members = found.members
        if members:
            sections.append(
                Section(
                    title=f"Members ({len(members)})", items=tuple(person_line(m) for m in members)
                )
            )
        else:
            sections.append(
                Section(title="Members", text=f"{owner.ref} has no members in the catalog.")
            )
    elif found.groups:
        sections.append(Section(title="Member of", items=tuple(str(g) for g in found.groups)))

    now = await on_call_now(ctx, entity)
    buttons.append(Button(f"What {owner.name} owns", command=f"/whoowns {owner.ref}"))
    buttons.append(Button("Details", command=f"/describe {entity.ref}"))

    def card(now: OnCallNow) -> Reply:
        fields = [Field("On call now", now.line), *oncall] if now.line else oncall
        on_call = (Section(title="On call", fields=tuple(fields)),) if fields else ()
        return Reply(
            title=title,
            text=text,
            sections=(Section(fields=tuple(summary_fields)), *sections, *on_call),
            links=tuple(source_links(entity)),
            buttons=tuple(buttons),
            notes=now.notes,
        )

    if not now.late:
        return card(now)

    async def later() -> Update | None:
        """The card again once the late on-call lookups are in (None: nothing to add)."""
        done = await on_call_finished(ctx, now)
        if done.line is None and done.notes == now.notes:
            return None
        if done.line is None:
            added = "; ".join(done.notes)
        elif isinstance(done.line, MentionText):  # keeps its mentions
            added = MentionText("On call now: ", *done.line.parts)
        else:
            added = f"On call now: {done.line}"
        return Update(card(done), added)

    return replace(card(now), later=later)


async def _oncall(ctx: Context, entity: Entity) -> Reply:
    """Only the on-call part: the entity's on-call annotations, else its owner's, and the
    owner's channel to ask in."""
    owner: Entity | None = None
    if entity.ref.kind not in ("group", "user"):
        owner = (await ctx.catalog.ownership(entity.ref)).owner
    fields = oncall_fields(entity)
    whose = entity
    if not fields and owner is not None:
        fields, whose = oncall_fields(owner), owner
    title = f"On call for {entity.display_name}"
    reach: list[Field] = []
    if owner is not None:
        reach.append(Field("Owner", f"{owner.display_name} ({owner.ref})"))
        reach.extend(channel_fields(owner))
        if owner.email:
            reach.append(Field("Email", owner.email))
    elif entity.ref.kind == "group":
        reach.extend(channel_fields(entity))
    buttons = (Button("Who owns it", command=f"/whoowns {entity.ref}"),)
    if not fields:
        keys = ", ".join(key for key, _ in ONCALL_ANNOTATIONS)
        text = f"No on-call is recorded for {entity.ref} or its owner (annotations: {keys})."
        if reach:
            text += " Ask the owner:"
        sections = (Section(fields=tuple(reach)),) if reach else ()
        return Reply(title=title, text=text, sections=sections, buttons=buttons)
    via = "" if whose is entity else f", from its owner {whose.ref}"
    text = f"On call for {entity.ref}{via}: " + "; ".join(f"{f.label} {f.value}" for f in fields)
    found = [Section(title="On call", fields=tuple(fields))]
    if reach:
        found.append(Section(title="Owner", fields=tuple(reach)))
    return Reply(title=title, text=text + ".", sections=tuple(found), buttons=buttons)


async def _owned_by(ctx: Context, who: Entity, page: int) -> Reply:
    """Asked about a Group or User: what it owns (directly), and for a group, its people."""
    held = await ctx.catalog.holdings(who.ref)  # one read, however many rows
    owned = held.owned
    lines: list[Section] = []
    head = entity_line(who)
    if who.ref.kind == "group":
        fields = [Field("Members", str(len(held.members)))]
        fields.extend(channel_fields(who))
        lines.append(Section(fields=tuple(fields)))
    else:
        lines.append(
            Section(
                fields=(
                    Field("Email", who.email or "—"),
                    Field("Member of", ", ".join(g.name for g in held.groups) or "no group"),
                )
            )
        )
    if not owned:
        text = f"{head}\n{who.display_name} owns nothing in the catalog."
        return await ctx.found_nothing_async(
            Reply(title=f"What {who.display_name} owns", text=text, sections=tuple(lines))
        )
    total = len(owned)
    shown, left = paged_sections(grouped_by_kind(owned.values()), page, MAX_OWNED_SHOWN)
    if not shown:
        return Reply(
            text=f"There is no page {page}: {who.display_name} owns {total} entities.", error=True
        )
    return Reply(
        title=f"What {who.display_name} owns" + (f" (page {page})" if page > 1 else ""),
        text=f"{head}\nOwns {total} entities directly.",
        sections=(*lines, *shown) if page == 1 else tuple(shown),
        more=f"/whoowns {who.ref} --page {page + 1}" if left else None,
        notes=(f"{left} more not shown",) if left else (),
    )


SPEC = CommandSpec(
    name="whoowns",
    summary="Who owns an entity: the team, its people, its channel and on-call.",
    handler=whoowns,
    args=(Arg("entity", help="a name, title or ref (component:payments-api)"),),
    options=(
        Option("page", "int", "page of a long list", default=1, minimum=1),
        Option("oncall", "flag", "only who is on call (and the owner's channel)"),
    ),
    examples=(
        "/whoowns payments-api",
        "/whoowns Payments API",
        "/whoowns group:team-payments",
        "/whoowns payments-api --oncall",
    ),
)
