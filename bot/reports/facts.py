"""What reports know about the catalog, read once: entities, owners, teams, members, docs.

The reports store (``bot.ports.ReportsStore``) reads every entity's columns, the membership and
parent relations, and the docs index's freshness facts at once, so that a thousand team digests
are slices of one read.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field

from bot.catalog.model import DEFAULT_NAMESPACE, REF_FIELDS
from bot.docs.model import DocsFreshness
from bot.oncall.model import OnCallTarget

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
    # The on-call its annotations name (``pagerduty.com/service-id``, ``opsgenie.com/...``).
    oncall: tuple[OnCallTarget, ...] = ()

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
    _parent_of: dict[str, str] | None = field(default=None, repr=False)  # child → parent

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

    def parents(self, group: str) -> list[str]:
        """The group's parent groups, nearest first, all the way up (cycles stop)."""
        if self._parent_of is None:
            self._parent_of = {c: p for p, kids in self.children.items() for c in kids}
        out: list[str] = []
        current = self._parent_of.get(group)
        while current is not None and current not in out and current != group:
            out.append(current)
            current = self._parent_of.get(current)
        return out

    def owned_by(self, owner: str) -> list[Item]:
        return [self.items[r] for r in self.owned.get(owner, ())]
