"""/describe: an entity card: what it is, who owns it, where it lives, its docs and relations."""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass

from bot.catalog.model import DEFAULT_NAMESPACE, Entity, EntityRef
from bot.chat import Button, Field, Link, Reply, Section
from bot.dispatch import Arg, Args, CommandSpec, Context
from commands.common import (
    channel_fields,
    command_line,
    docs_url,
    has_docs,
    oncall_fields,
    ref_label,
    source_links,
)

# Relation counts shown on the card, in this order.
COUNTED = (
    ("dependsOn", "Depends on"),
    ("dependencyOf", "Depended on by"),
    ("providesApi", "Provides APIs"),
    ("consumesApi", "Consumes APIs"),
    ("apiProvidedBy", "Provided by"),
    ("apiConsumedBy", "Consumed by"),
    ("hasPart", "Has parts"),
    ("ownerOf", "Owns"),
    ("parentOf", "Child groups"),
)
# Kinds whose card lists what is missing from the catalog entry (owned, deployable things).
GAP_KINDS = ("component", "api", "resource", "system")
DEPENDENCY_KINDS = ("component", "api", "resource")


async def describe(ctx: Context, args: Args) -> Reply:
    """The entity's card: kind, type, lifecycle, owner, system, domain, docs and relations."""
    entity = args.entity("entity")
    catalog = ctx.catalog
    settings = ctx.services.settings
    related: dict[str, list[EntityRef]] = defaultdict(list)
    for rel in await catalog.relations(entity.ref):
        related[rel.type].append(rel.target)
    place = _Place.of(entity, related)
    if place.domain is None and place.system is not None:
        place.domain = next(iter(await catalog.related(place.system, "partOf")), None)
    known = await catalog.get_many(place.refs())

    sections = [Section(fields=tuple(_fields(entity, related, place, known)))]
    oncall = oncall_fields(entity)
    if oncall:
        sections.append(Section(title="On call", fields=tuple(oncall)))
    sections.append(_relations(related))
    links = source_links(entity)
    url = docs_url(settings, entity)
    if url:
        links.insert(0, Link("Docs", url))
    if settings.backstage_url:
        ref = entity.ref
        page = f"{settings.backstage_url}/catalog/{ref.namespace}/{ref.kind}/{ref.name}"
        links.append(Link("Backstage", page))
    missing = _missing(entity, place.owner, place.system, links, bool(oncall))
    if missing:
        sections.append(Section(title="Not in the catalog", items=tuple(missing)))
    return Reply(
        title=_title(entity),
        text=_text(entity),
        sections=tuple(sections),
        links=tuple(links),
        buttons=tuple(_buttons(ctx, entity, place.owner, related, url)),
    )


@dataclass
class _Place:
    """Where the entity sits: its owner, system, domain and parent (of its own kind)."""

    owner: EntityRef | None
    system: EntityRef | None
    domain: EntityRef | None
    parent: EntityRef | None

    @classmethod
    def of(cls, entity: Entity, related: dict[str, list[EntityRef]]) -> _Place:
        part_of = related["partOf"]
        return cls(
            owner=related["ownedBy"][0] if related["ownedBy"] else None,
            system=next((r for r in part_of if r.kind == "system"), None),
            domain=next((r for r in part_of if r.kind == "domain"), None),
            parent=next((r for r in part_of if r.kind == entity.ref.kind), None),
        )

    def refs(self) -> list[EntityRef]:
        return [r for r in (self.owner, self.system, self.domain, self.parent) if r is not None]


def _shown(ref: EntityRef, known: dict[str, Entity]) -> str:
    """A related entity as the card names it: its title and name, or that it is missing."""
    # The field says the kind (System, Domain), so only an owner keeps a "user:" prefix.
    name = ref_label(str(ref)) if ref.kind in ("group", "user") else ref.short(ref.kind)
    found = known.get(str(ref))
    if found is None:
        return f"{name} (not in the catalog)"
    return f"{found.display_name} ({name})" if found.display_name != found.name else name


def _fields(
    entity: Entity,
    related: dict[str, list[EntityRef]],
    place: _Place,
    known: dict[str, Entity],
) -> list[Field]:
    """The card's head: what the entity is, where it sits, who it is (groups and users)."""
    fields = [Field("Kind", entity.kind)]
    if entity.spec_type:
        fields.append(Field("Type", entity.spec_type))
    if entity.lifecycle:
        fields.append(Field("Lifecycle", entity.lifecycle))
    if place.owner is not None:
        fields.append(Field("Owner", _shown(place.owner, known)))
    elif entity.ref.kind in GAP_KINDS or "owner" in entity.spec:
        fields.append(Field("Owner", "none: an ownership gap"))
    if place.parent is not None:
        fields.append(Field("Part of", _shown(place.parent, known)))
    if place.system is not None:
        fields.append(Field("System", _shown(place.system, known)))
    if place.domain is not None:
        label = "Subdomain of" if entity.ref.kind == "domain" else "Domain"
        fields.append(Field(label, _shown(place.domain, known)))
    if entity.namespace.lower() != DEFAULT_NAMESPACE:
        fields.append(Field("Namespace", entity.namespace))
    if entity.email:
        fields.append(Field("Email", entity.email))
    if entity.tags:
        fields.append(Field("Tags", ", ".join(entity.tags)))
    fields.extend(_people_fields(entity, related))
    if entity.source_file:
        where = entity.source_file + (f":{entity.source_line}" if entity.source_line else "")
        fields.append(Field("Defined in", where, inline=False))
    return fields


def _people_fields(entity: Entity, related: dict[str, list[EntityRef]]) -> list[Field]:
    """A group's members, parents and channels; a user's groups."""
    fields: list[Field] = []
    if entity.ref.kind == "group":
        members = len(related["hasMember"])
        fields.append(Field("Members", str(members) if members else "none"))
        parents = related["childOf"]
        if parents:
            fields.append(Field("Parent", ", ".join(ref_label(str(p)) for p in parents)))
        fields.extend(channel_fields(entity))
    if entity.ref.kind == "user":
        groups = ", ".join(ref_label(str(g)) for g in related["memberOf"])
        fields.append(Field("Member of", groups or "no group"))
    return fields


def _relations(related: dict[str, list[EntityRef]]) -> Section:
    counts = [
        Field(label, str(len(related[rel_type])))
        for rel_type, label in COUNTED
        if related.get(rel_type)
    ]
    if counts:
        return Section(title="Relations", fields=tuple(counts))
    return Section(title="Relations", text="No relations to other entities.")


def _title(entity: Entity) -> str:
    title = entity.display_name
    if title.lower() != entity.name.lower():
        title += f" ({entity.name})"
    return f"{title} · {entity.ref}"


def _text(entity: Entity) -> str | None:
    if entity.description:
        return " ".join(entity.description.split())
    return "No description." if entity.ref.kind in GAP_KINDS else None


def _missing(
    entity: Entity,
    owner: EntityRef | None,
    system: EntityRef | None,
    links: list[Link],
    oncall: bool,
) -> list[str]:
    """What a platform team expects on this kind of entry and it lacks (hints to fix it)."""
    kind = entity.ref.kind
    if kind not in GAP_KINDS:
        return []
    out = []
    if not entity.description:
        out.append("description (metadata.description)")
    if owner is None:
        out.append("owner (spec.owner)")
    if kind != "system" and system is None:
        out.append("system (spec.system)")
    if kind in ("component", "system") and not has_docs(entity):
        out.append("docs (backstage.io/techdocs-ref annotation)")
    if kind == "component" and not any(link.title in ("Source", "GitHub") for link in links):
        out.append("source repository (backstage.io/source-location or github.com/project-slug)")
    if kind == "component" and entity.lifecycle == "production" and not oncall:
        out.append("on-call (pagerduty.com/service-id or opsgenie.com/team)")
    return out


def _buttons(
    ctx: Context,
    entity: Entity,
    owner: EntityRef | None,
    related: dict[str, list[EntityRef]],
    url: str | None,
) -> list[Button]:
    ref = str(entity.ref)
    buttons: list[Button] = []
    if owner is not None:
        buttons.append(Button("Owner", command=command_line("whoowns", ref)))
    if entity.ref.kind in ("group", "user"):
        buttons.append(Button("What it owns", command=command_line("owns", ref)))
    deps = ("dependsOn", "dependencyOf", "providesApi", "consumesApi", "apiConsumedBy")
    if entity.ref.kind in DEPENDENCY_KINDS or any(related.get(t) for t in deps):
        buttons.append(Button("Dependencies", command=command_line("deps", ref)))
    if has_docs(entity):
        if ctx.dispatcher.command("docs") is not None:
            buttons.append(Button("Docs", command=command_line("docs", ref)))
        elif url:
            buttons.append(Button("Docs", url=url))
    return buttons


SPEC = CommandSpec(
    name="describe",
    summary="An entity card: kind, owner, system, docs, on-call and relations.",
    handler=describe,
    args=(Arg("entity", help="a name, title or ref (component:payments-api)"),),
    examples=("/describe payments-api", "/describe group:team-payments", "/describe Payments API"),
)
