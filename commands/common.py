"""Pieces several commands share: annotation keys, owner facts, links, and list paging."""

from __future__ import annotations

from collections.abc import Iterable, Sequence

from bot.catalog.model import Entity, EntityRef
from bot.catalog.read import CatalogReader
from bot.chat import Field, Link, Section

# Callboard's own annotation keys (Backstage has no core chat annotation).
SLACK_CHANNEL_ID = "slack.com/channel-id"
SLACK_CHANNEL_NAME = "slack.com/channel-name"
SLACK_BOT_NOTIFY = "slack.com/bot-notify"  # read by Backstage's Slack notifications module
DISCORD_CHANNEL_ID = "discord.com/channel-id"
SLACK_USER_ID = "slack.com/user-id"
DISCORD_USER_ID = "discord.com/user-id"

ONCALL_ANNOTATIONS = (
    ("pagerduty.com/service-id", "PagerDuty service"),
    ("pagerduty.com/integration-key", "PagerDuty integration"),
    ("opsgenie.com/team", "Opsgenie team"),
    ("opsgenie.com/component-selector", "Opsgenie selector"),
)

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
    source = ann.get("backstage.io/source-location")
    if source:
        kind, _, target = source.partition(":")
        if kind in ("url", "file") and target:
            links.append(Link("Source", target))
    slug = ann.get("github.com/project-slug")
    if slug and not any("github.com" in link.url for link in links):
        links.append(Link("GitHub", f"https://github.com/{slug}"))
    if ann.get("backstage.io/view-url"):
        links.append(Link("View", ann["backstage.io/view-url"]))
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


def group_members(catalog: CatalogReader, group: EntityRef | str) -> list[Entity]:
    refs = catalog.related(group, "hasMember")
    found = catalog.get_many(refs)
    return sorted(found.values(), key=lambda u: u.display_name.lower())


def parent_chain(catalog: CatalogReader, group: EntityRef) -> list[EntityRef]:
    """The group's parents, nearest first; stops at a cycle."""
    chain: list[EntityRef] = []
    seen = {group}
    current = group
    while True:
        parents = catalog.related(current, "childOf")
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
    """Page ``size`` list items across sections (headers repeat); the count left after it."""
    flat = [(s.title, item) for s in sections for item in s.items]
    start = (page - 1) * size
    chunk = flat[start : start + size]
    out: list[Section] = []
    for title, item in chunk:
        if out and out[-1].title == title:
            out[-1] = Section(title=title, items=(*out[-1].items, item))
        else:
            out.append(Section(title=title, items=(item,)))
    return out, max(0, len(flat) - start - size)


def grouped_by_kind(entities: Iterable[Entity]) -> list[Section]:
    """Sections per kind (Components first), lines sorted by name, lifecycle shown."""
    order = ["component", "api", "resource", "system", "domain", "template", "group", "user"]
    buckets: dict[str, list[Entity]] = {}
    for e in entities:
        buckets.setdefault(e.ref.kind, []).append(e)
    sections = []
    for kind in sorted(buckets, key=lambda k: (order.index(k) if k in order else 99, k)):
        items = tuple(
            f"{e.name}" + (f" [{e.lifecycle}]" if e.lifecycle else "")
            + (f" — {e.spec_type}" if e.spec_type else "")
            for e in sorted(buckets[kind], key=lambda x: x.name.lower())
        )
        label = buckets[kind][0].kind
        sections.append(Section(title=f"{label} ({len(items)})", items=items))
    return sections
