"""What reports know about the catalog, read once: entities, owners, teams, members, docs.

One ``load_facts`` reads every entity's columns, the membership and parent relations, and the
docs index's freshness facts, so that a thousand team digests are slices of one read.
"""

from __future__ import annotations

import json
from collections import defaultdict
from collections.abc import Mapping
from dataclasses import dataclass, field

from sqlalchemy import Connection, func, select

from bot.annotations import CHANNEL_ANNOTATIONS, TECHDOCS_ENTITY, TECHDOCS_PREFIX, TECHDOCS_REF
from bot.catalog.model import DEFAULT_NAMESPACE, REF_FIELDS
from bot.docs.service import DocsFreshness, read_freshness
from bot.store.db import Database
from bot.store.schema import changes, entities, relations

# Kinds whose entities have a ``spec.owner`` (Backstage requires it on all of them).
OWNED_KINDS = frozenset(
    kind for kind, fields in REF_FIELDS.items() if any(f[0] == "owner" for f in fields)
)


def short_ref(ref: str) -> str:
    """The shortest readable form: ``payments-api``, ``team-payments``, ``user:devon.price``."""
    kind, _, rest = ref.partition(":")
    namespace, _, name = rest.partition("/")
    shown = name if namespace == DEFAULT_NAMESPACE else rest
    return shown if kind in ("component", "group") else f"{kind}:{shown}"


@dataclass(frozen=True, slots=True)
class Item:
    """One entity as reports see it."""

    ref: str
    kind: str  # lower-cased
    name: str
    title: str | None
    owner: str | None  # the owner ref (resolved or not), None when spec.owner is missing
    lifecycle: str | None
    spec_type: str | None
    file: str | None
    line: int | None
    documented: bool = False  # has a techdocs-ref or techdocs-entity annotation
    channels: Mapping[str, str] = field(default_factory=dict)  # groups: platform → channel

    @property
    def label(self) -> str:
        return short_ref(self.ref)

    @property
    def where(self) -> str:
        """``services/misc.yaml:12`` (or "its catalog file")."""
        if not self.file:
            return "its catalog file"
        return f"{self.file}:{self.line}" if self.line else self.file


@dataclass
class CatalogFacts:
    """The whole catalog as reports need it."""

    items: dict[str, Item]
    members: dict[str, set[str]]  # group ref → refs of Users in the catalog who are members
    groups_of: dict[str, set[str]]  # user ref → refs of Groups in the catalog it is in
    children: dict[str, set[str]]  # group ref → child group refs in the catalog
    owned: dict[str, list[str]]  # owner ref (as written) → refs of what it owns, sorted
    freshness: dict[str, DocsFreshness]
    last_change_id: int
    generation: int

    def groups(self) -> list[Item]:
        return [i for i in self.items.values() if i.kind == "group"]

    def effective_members(self, group: str) -> set[str]:
        """Members of the group and of its child groups, all the way down (cycles stop)."""
        seen: set[str] = set()
        people: set[str] = set()
        stack = [group]
        while stack:
            current = stack.pop()
            if current in seen:
                continue
            seen.add(current)
            people |= self.members.get(current, set())
            stack.extend(self.children.get(current, ()))
        return people

    def owned_by(self, owner: str) -> list[Item]:
        return [self.items[r] for r in self.owned.get(owner, ())]


def load_facts(db: Database) -> CatalogFacts:
    """Read the catalog for reports (blocking; run it in a worker thread from async code)."""
    with db.engine.connect() as conn:
        return _load(conn, db.generation(conn))


def _load(conn: Connection, generation: int) -> CatalogFacts:
    items: dict[str, Item] = {}
    annotated: dict[str, Mapping[str, str]] = {}
    # Annotations are only needed for Groups (channels) and for entities with docs, so only
    # their JSON documents are read and parsed.
    for doc in conn.execute(
        select(entities.c.ref, entities.c.data).where(
            (entities.c.kind == "group") | entities.c.data.contains(TECHDOCS_PREFIX)
        )
    ):
        meta = json.loads(doc.data).get("metadata") or {}
        ann = meta.get("annotations") or {}
        annotated[doc.ref] = {str(k): str(v) for k, v in ann.items() if isinstance(v, str)}
    for row in conn.execute(
        select(
            entities.c.ref,
            entities.c.kind,
            entities.c.name,
            entities.c.title,
            entities.c.owner_ref,
            entities.c.lifecycle,
            entities.c.spec_type,
            entities.c.file,
            entities.c.line,
        )
    ):
        ann = annotated.get(row.ref, {})
        channels: dict[str, str] = {}
        if row.kind == "group":
            for platform, keys in CHANNEL_ANNOTATIONS.items():
                value = next((ann[k].strip() for k in keys if ann.get(k, "").strip()), None)
                if value:
                    channels[platform] = value
        items[row.ref] = Item(
            ref=row.ref,
            kind=row.kind,
            name=row.name,
            title=row.title,
            owner=row.owner_ref,
            lifecycle=row.lifecycle.lower() if row.lifecycle else None,
            spec_type=row.spec_type,
            file=row.file,
            line=row.line,
            documented=bool(
                ann.get(TECHDOCS_REF, "").strip() or ann.get(TECHDOCS_ENTITY, "").strip()
            ),
            channels=channels,
        )
    members: dict[str, set[str]] = defaultdict(set)
    groups_of: dict[str, set[str]] = defaultdict(set)
    children: dict[str, set[str]] = defaultdict(set)
    for rel in conn.execute(
        select(relations.c.source_ref, relations.c.type, relations.c.target_ref).where(
            relations.c.type.in_(("memberOf", "childOf"))
        )
    ):
        source, target = rel.source_ref, rel.target_ref
        if source not in items or target not in items:
            continue  # a dangling ref: the user (or group) is not in the catalog
        if rel.type == "memberOf" and items[source].kind == "user":
            members[target].add(source)
            groups_of[source].add(target)
        elif rel.type == "childOf" and items[target].kind == "group":
            children[target].add(source)
    owned: dict[str, list[str]] = defaultdict(list)
    for item in sorted(items.values(), key=lambda i: i.ref):
        if item.owner:
            owned[item.owner].append(item.ref)
    last_change = conn.execute(select(func.max(changes.c.id))).scalar()
    return CatalogFacts(
        items=items,
        members=dict(members),
        groups_of=dict(groups_of),
        children=dict(children),
        owned=dict(owned),
        freshness=read_freshness(conn),
        last_change_id=int(last_change or 0),
        generation=generation,
    )
