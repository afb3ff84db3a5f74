"""/owns: what a team or a person owns, grouped by kind and lifecycle.

``/owns team-payments`` lists what the group owns directly; ``--all`` adds what its child
groups own (all the way down, cycle-safe). ``/owns ana.silva`` lists what the person owns and
what each of their groups owns. ``/owns me`` finds the chat user in the catalog; ``/owns``
alone uses the group the channel belongs to (``/here`` shows which).
"""

from __future__ import annotations

import functools
from collections import defaultdict

from bot.annotations import DISCORD_CHANNEL_ID, SLACK_CHANNEL_ID
from bot.catalog.graph import Owned
from bot.catalog.model import Entity
from bot.catalog.search import KIND_ORDER, SearchDoc, SearchIndex
from bot.chat import Button, Field, Reply, Section
from bot.dispatch import Arg, Args, CommandSpec, Context, Option
from bot.errors import Ambiguous, BadArguments, NotFound
from bot.paging import page_lines
from commands.common import (
    ME_WORDS,
    channel_fields,
    channel_groups,
    command_line,
    identify_user,
    ref_label,
)

PAGE_SIZE = 40
# Up to this many owned entities are looked up and sorted on the event loop (300 take about
# 0.5 ms at 43k entities, measured); more go to a worker, where the hop costs less than the work.
GATHER_ON_LOOP_UP_TO = 300
LIFECYCLE_ORDER = ("production", "experimental", "deprecated")


async def owns(ctx: Context, args: Args) -> Reply:
    """What a group or user owns; ``--all`` includes child groups."""
    who, notes = await _who(ctx, args.text("who"))
    include_children: bool = args.options["all"]
    page: int = args.options["page"]
    index = await ctx.search.search_index()

    # Owners in display order: the group (or user and their groups), then descendants.
    found = await ctx.graph.owned(str(who.ref), include_children)
    groups, children = list(found.groups), list(found.children)
    listed = sum(len(found.owned.get(owner, ())) for owner in found.owners)
    if listed > GATHER_ON_LOOP_UP_TO:
        # A department at a million entities owns thousands: looked up and sorted off the loop.
        lines, per_owner = await ctx.offload(_gathered, index, found)
    else:
        lines, per_owner = _gathered(index, found)

    header = _header(who, found, per_owner)
    summary = _summary(who, groups, children, per_owner, include_children)
    title = f"What {who.display_name} owns" + (" (with child groups)" if include_children else "")
    more_words = {"all": include_children}
    could_include = not include_children and who.ref.kind == "group" and found.has_children
    if not lines:
        hint = ""
        if could_include:
            hint = f" Its child groups may: {command_line('owns', str(who.ref), all=True)}"
        return await ctx.found_nothing_async(
            Reply(
                title=title,
                text=f"{summary}{hint}",
                sections=tuple(header),
                notes=tuple(notes),
            )
        )
    shown, left = page_lines(lines, page, PAGE_SIZE, functools.partial(_line, who=str(who.ref)))
    if not shown:
        raise BadArguments(
            f"There is no page {page}: {who.display_name}'s list has "
            f"{len(lines)} entries ({PAGE_SIZE} a page)."
        )
    more = command_line("owns", str(who.ref), page=page + 1, **more_words) if left else None
    if left:
        notes.append(f"{left} more not shown")
    buttons = []
    if could_include:
        buttons.append(
            Button("Include child groups", command=command_line("owns", str(who.ref), all=True))
        )
    return Reply(
        title=title + (f" (page {page})" if page > 1 else ""),
        text=summary,
        sections=(*header, *shown) if page == 1 else tuple(shown),
        notes=tuple(notes),
        more=more,
        buttons=tuple(buttons),
    )


async def _who(ctx: Context, text: str) -> tuple[Entity, list[str]]:
    """The group or user asked about, and notes on how it was found."""
    text = text.strip()
    catalog = ctx.catalog
    if not text:
        groups, _key = await channel_groups(ctx)
        if len(groups) == 1:
            return groups[0], [f"this channel belongs to {groups[0].ref}"]
        if len(groups) > 1:
            raise Ambiguous(
                "This channel is mapped to several groups; say which one:",
                tuple(str(g.ref) for g in groups),
            )
        where = (
            f"This channel ({ctx.request.channel}) is not mapped to a group"
            if ctx.request.channel
            else "This conversation has no channel to take the group from"
        )
        raise BadArguments(
            f"Whose? Give a team or a person, or me: /owns team-payments, /owns me. {where} "
            f"(a Group's {SLACK_CHANNEL_ID} or {DISCORD_CHANNEL_ID} annotation maps a "
            "channel; /here shows the mapping)."
        )
    if text.lower() in ME_WORDS:
        user, how = await identify_user(ctx)
        return user, [f"you are {user.ref} (matched by {how})"]
    found, entity = await catalog.resolve_entity(text, ("group", "user"))
    if entity is None:
        raise NotFound(f"{found.ref} is no longer in the catalog.")
    notes = []
    if found.how == "fuzzy":
        notes.append(f"nothing is named “{text}”; showing the closest match, {found.ref}")
    return entity, notes


def _header(who: Entity, found: Owned, per_owner: dict[str, int]) -> list[Section]:
    fields: list[Field] = []
    sections: list[Section] = []
    if who.ref.kind == "group":
        if who.spec_type:
            fields.append(Field("Type", who.spec_type))
        members = found.members
        fields.append(Field("Members", str(len(members)) if members else "none"))
        if found.parents:
            fields.append(Field("Part of", ", ".join(ref_label(p) for p in found.parents)))
        fields.extend(channel_fields(who))
        sections.append(Section(fields=tuple(fields)))
        if not members and not found.has_children:
            sections.append(
                Section(
                    text=(
                        f"{ref_label(str(who.ref))} has no members and no child groups in "
                        "the catalog: no User lists it in spec.memberOf and it has no "
                        "spec.members. Nobody answers for what it owns."
                    )
                )
            )
    else:
        fields.append(Field("Email", who.email or "—"))
        groups = ", ".join(ref_label(g) for g in found.groups)
        fields.append(Field("Member of", groups or "no group"))
        sections.append(Section(fields=tuple(fields)))
    if found.children:
        items = tuple(
            f"{ref_label(child)} (child of {ref_label(parent)}): owns {per_owner.get(child, 0)}"
            for child, parent in found.children
        )
        sections.append(Section(title=f"Child groups ({len(found.children)})", items=items))
    return sections


def _summary(
    who: Entity,
    groups: list[str],
    children: list[tuple[str, str]],
    per_owner: dict[str, int],
    include_children: bool,
) -> str:
    name = who.display_name
    own = per_owner.get(str(who.ref), 0)
    text = f"{name} owns {_count(own)} directly."
    if who.ref.kind == "user":
        if groups:
            through = sum(per_owner.get(g, 0) for g in groups)
            names = ", ".join(ref_label(g) for g in groups)
            text += f" Their groups ({names}) own {_count(through)}."
        else:
            text += " They are in no group."
    if include_children:
        through = sum(per_owner.get(c, 0) for c, _ in children)
        text += (
            f" Child groups ({len(children)}) own {_count(through)}."
            if children
            else " There are no child groups."
        )
    return text


def _count(n: int) -> str:
    return "nothing" if n == 0 else f"{n} {'entity' if n == 1 else 'entities'}"


def _gathered(
    index: SearchIndex, found: Owned
) -> tuple[list[tuple[str | None, SearchDoc]], dict[str, int]]:
    """Every entity the owners own, under its heading (``_grouped``), and how many each owner
    owns (an entity gone from the search index since is left out of both)."""
    docs: list[SearchDoc] = []
    per_owner: dict[str, int] = defaultdict(int)
    for owner in found.owners:
        for _type, ref in found.owned.get(owner, ()):
            doc = index.doc(ref)
            if doc is not None:
                docs.append(doc)
                per_owner[owner] += 1
    return _grouped(docs), per_owner


def _grouped(docs: list[SearchDoc]) -> list[tuple[str | None, SearchDoc]]:
    """Each entity under its heading: per kind and lifecycle, by name (rendered by ``_line``
    only when on the page shown)."""
    buckets: dict[tuple[str, str], list[SearchDoc]] = defaultdict(list)
    for doc in docs:
        buckets[(doc.kind, doc.lifecycle or "")].append(doc)

    def order(key: tuple[str, str]) -> tuple[int, str, int, str]:
        kind, lifecycle = key
        k = kind.lower()
        life = LIFECYCLE_ORDER.index(lifecycle) if lifecycle in LIFECYCLE_ORDER else 9
        return (KIND_ORDER.index(k) if k in KIND_ORDER else 99, k, life, lifecycle)

    lines: list[tuple[str | None, SearchDoc]] = []
    for key in sorted(buckets, key=order):
        kind, lifecycle = key
        plural = f"{kind}s"
        title = f"{plural} · {lifecycle}" if lifecycle else plural
        heading = f"{title} ({len(buckets[key])})"
        lines.extend((heading, doc) for doc in sorted(buckets[key], key=lambda d: d.name.lower()))
    return lines


def _line(doc: SearchDoc, who: str) -> str:
    """An owned entity's line; it names the owner when that is not ``who``."""
    line = doc.name
    if doc.title and doc.title.lower() != doc.name.lower():
        line = f"{doc.title} ({doc.name})"
    extra = [x for x in (doc.spec_type,) if x]
    if doc.owner and doc.owner != who:
        extra.append(f"via {ref_label(doc.owner)}")
    if extra:
        line += " — " + " · ".join(extra)
    return line


SPEC = CommandSpec(
    name="owns",
    summary="What a team or person owns, by kind and lifecycle (me: you; none: this channel's).",
    handler=owns,
    args=(
        Arg(
            "who",
            kind="words",
            required=False,
            help="a group or user name, or me; default: the group mapped to this channel",
        ),
    ),
    options=(
        Option("all", "flag", "include what child groups own"),
        Option("page", "int", "page of a long list", default=1, minimum=1),
    ),
    examples=("/owns team-payments", "/owns team-payments --all", "/owns me", "/owns"),
)
