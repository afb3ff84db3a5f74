"""Pieces several commands share: annotation keys, owner facts, links, and list paging."""

from __future__ import annotations

import shlex
from collections.abc import Iterable, Sequence

from bot.annotations import (
    CHANNEL_ANNOTATIONS,
    CONSOLE_CHANNEL_ANNOTATIONS,
    DISCORD_CHANNEL_ID,
    GITHUB_PROJECT_SLUG,
    ONCALL_ANNOTATIONS,
    SLACK_BOT_NOTIFY,
    SLACK_CHANNEL_ID,
    SLACK_CHANNEL_NAME,
    SOURCE_LOCATION,
    TECHDOCS_ENTITY,
    TECHDOCS_REF,
    VIEW_URL,
)
from bot.audit import Requester
from bot.catalog.model import DEFAULT_NAMESPACE, Entity, EntityRef
from bot.catalog.search import SearchDoc
from bot.chat import Field, Link, Section
from bot.config import Settings
from bot.dispatch import Context
from bot.errors import CatalogError, UserError
from bot.identity import Identity
from bot.paging import page_sections
from bot.permissions import requester_for
from bot.ports import CatalogQueries

PAGE_SIZE = 25


def channel_fields(group: Entity) -> list[Field]:
    """A group's chat channels, from Callboard's annotations."""
    ann = group.annotations
    fields: list[Field] = []
    slack_name = ann.get(SLACK_CHANNEL_NAME)
    slack_id = ann.get(SLACK_CHANNEL_ID) or ann.get(SLACK_BOT_NOTIFY)
    if slack_name or slack_id:
        shown = f"#{slack_name.lstrip('#')}" if slack_name else ""
        if slack_id:
            shown = f"{shown} ({slack_id})" if shown else slack_id
        fields.append(Field("Slack", shown))
    if ann.get(DISCORD_CHANNEL_ID):
        fields.append(Field("Discord", f"channel {ann[DISCORD_CHANNEL_ID]}"))
    return fields


def oncall_fields(entity: Entity) -> list[Field]:
    return [
        Field(label, entity.annotations[key])
        for key, label in ONCALL_ANNOTATIONS
        if entity.annotations.get(key)
    ]


def source_links(entity: Entity) -> list[Link]:
    """Where the entity's code lives: source-location, GitHub slug, view URL, metadata links."""
    links: list[Link] = []
    ann = entity.annotations
    source = ann.get(SOURCE_LOCATION)
    if source:
        kind, _, target = source.partition(":")
        if kind in ("url", "file") and target:
            links.append(Link("Source", target))
    slug = ann.get(GITHUB_PROJECT_SLUG)
    if slug and not any("github.com" in link.url for link in links):
        links.append(Link("GitHub", f"https://github.com/{slug}"))
    if ann.get(VIEW_URL):
        links.append(Link("View", ann[VIEW_URL]))
    for link in entity.links:
        links.append(Link(link.title or link.url, link.url))
    return links


def entity_line(entity: Entity) -> str:
    """One line naming an entity: ``Title (kind:ns/name) — description``."""
    shown = entity.display_name
    head = f"{shown} ({entity.ref})" if shown.lower() != entity.name.lower() else str(entity.ref)
    if entity.description:
        desc = " ".join(entity.description.split())
        head += f" — {desc[:120]}{'…' if len(desc) > 120 else ''}"
    return head


def person_line(user: Entity) -> str:
    name = user.display_name
    return f"{name} <{user.email}>" if user.email else name


async def parent_chain(catalog: CatalogQueries, group: EntityRef) -> list[EntityRef]:
    """The group's parents, nearest first; stops at a cycle."""
    chain: list[EntityRef] = []
    seen = {group}
    current = group
    while True:
        parents = await catalog.related(current, "childOf")
        if not parents or parents[0] in seen:
            return chain
        current = parents[0]
        seen.add(current)
        chain.append(current)


def missing_refs(refs: Iterable[EntityRef], found: dict[str, Entity]) -> list[EntityRef]:
    return [r for r in refs if str(r) not in found]


def paged_sections(
    sections: Sequence[Section], page: int, size: int = PAGE_SIZE
) -> tuple[list[Section], int]:
    """Page ``size`` list items across sections (``bot.paging``); the count left after it."""
    return page_sections(sections, page, size)


def grouped_by_kind(entities: Iterable[Entity]) -> list[Section]:
    """Sections per kind (Components first), lines sorted by name, lifecycle shown."""
    order = ["component", "api", "resource", "system", "domain", "template", "group", "user"]
    buckets: dict[str, list[Entity]] = {}
    for e in entities:
        buckets.setdefault(e.ref.kind, []).append(e)
    sections = []
    for kind in sorted(buckets, key=lambda k: (order.index(k) if k in order else 99, k)):
        items = tuple(
            f"{e.name}"
            + (f" [{e.lifecycle}]" if e.lifecycle else "")
            + (f" — {e.spec_type}" if e.spec_type else "")
            for e in sorted(buckets[kind], key=lambda x: x.name.lower())
        )
        label = buckets[kind][0].kind
        sections.append(Section(title=f"{label} ({len(items)})", items=items))
    return sections


# ----------------------------------------------------------------- search index, identity, channel

ME_WORDS = ("me", "myself", "mine", "i")


def ref_label(ref: str) -> str:
    """The shortest readable form of a ref: ``payments-api``, ``user:guest``, ``ns/name``."""
    try:
        parsed = EntityRef.parse(ref)
    except CatalogError:
        return ref
    default = parsed.kind if parsed.kind in ("component", "group") else None
    return parsed.short(default)


def summary_line(doc: SearchDoc, *, owner: bool = True, description: bool = False) -> str:
    """``payments-api (component · service · production) · team-payments``; with
    ``description``, the title and description follow (`` — Payments API: Public …``)."""
    default = doc.namespace.lower() == DEFAULT_NAMESPACE
    name = doc.name if default else f"{doc.namespace}/{doc.name}"
    meta = " · ".join(x for x in (doc.kind.lower(), doc.spec_type, doc.lifecycle) if x)
    line = f"{name} ({meta})"
    if owner and doc.owner:
        line += f" · {ref_label(doc.owner)}"
    if description:
        about = []
        if doc.title and doc.title.lower() != doc.name.lower():
            about.append(doc.title)
        if doc.description:
            desc = " ".join(doc.description.split())
            about.append(f"{desc[:100]}{'…' if len(desc) > 100 else ''}")
        if about:
            line += " — " + ": ".join(about)
    return line


def command_line(name: str, *words: str, **options: object) -> str:
    """A command as the user would type it (for buttons and ``more``), words quoted as needed."""
    parts = [f"/{name}", *(shlex.quote(w) for w in words if w)]
    for key, value in options.items():
        if value is True:
            parts.append(f"--{key}")
        elif value not in (None, False):
            parts.append(f"--{key} {shlex.quote(str(value))}")
    return " ".join(parts)


def docs_url(settings: Settings, entity: Entity) -> str | None:
    """The entity's TechDocs page in Backstage (``{backstage}/docs/{ns}/{kind}/{name}/``)."""
    if not settings.backstage_url:
        return None
    target: EntityRef | None = None
    external = entity.annotations.get(TECHDOCS_ENTITY)
    if external:
        try:
            target = EntityRef.parse(external, entity.ref.kind, entity.ref.namespace)
        except CatalogError:
            target = None
    elif entity.annotations.get(TECHDOCS_REF):
        target = entity.ref
    if target is None:
        return None
    return f"{settings.backstage_url}/docs/{target.namespace}/{target.kind}/{target.name}/"


def has_docs(entity: Entity) -> bool:
    return bool(entity.annotations.get(TECHDOCS_REF) or entity.annotations.get(TECHDOCS_ENTITY))


async def requester_of(ctx: Context) -> Requester:
    """Who asked, for permission checks and the audit log (``bot.permissions.requester_for``)."""
    s = ctx.services
    return await requester_for(ctx.request.user, s.catalog, s.reader, s.offload, s.settings.path)


async def identify_user(ctx: Context) -> tuple[Entity, str]:
    """The catalog User behind the chat user, and how they were matched (``bot.identity``)."""
    match = await Identity(ctx.catalog).catalog_user(ctx.request.user, ctx.services.settings.path)
    return match.user, match.shown_how


async def channel_groups(ctx: Context) -> tuple[list[Entity], str | None]:
    """The Groups the request's channel belongs to, and the annotation that matched.

    Slack channels match ``slack.com/channel-id`` (or ``slack.com/bot-notify``), Discord
    channels ``discord.com/channel-id``. The console's ``console.channel`` may name any of
    those, a Slack channel name (``#team-payments``), or the group itself.
    """
    channel = (ctx.request.channel or "").strip()
    if not channel:
        return [], None
    catalog = ctx.catalog
    platform = ctx.request.platform
    keys = (
        CONSOLE_CHANNEL_ANNOTATIONS
        if platform == "console"
        else CHANNEL_ANNOTATIONS.get(platform, ())
    )
    for key in keys:
        value = channel.lstrip("#") if key == SLACK_CHANNEL_NAME else channel
        found = await catalog.with_annotation("group", key, value)
        if found:
            return sorted(found, key=lambda g: str(g.ref)), key
    if ctx.request.platform == "console":
        try:
            resolved = await catalog.resolve(channel, ("group",))
        except UserError:
            return [], None
        if resolved.how != "fuzzy":
            group = await catalog.get(resolved.ref)
            if group is not None:
                return [group], "group name"
    return [], None
