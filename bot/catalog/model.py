"""Entity refs, entities and relations, with Backstage's parsing and derivation rules.

Sources: ``@backstage/catalog-model`` 1.10.1 (``parseEntityRef``, ``stringifyEntityRef``) and
``BuiltinKindsEntityProcessor`` in ``@backstage/plugin-catalog-backend`` 4.0.0.
"""

from __future__ import annotations

import functools
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any

from bot.errors import CatalogError

DEFAULT_NAMESPACE = "default"


@dataclass(frozen=True, order=True)
class EntityRef:
    """``kind:namespace/name``; always stored lower-cased, so equality is Backstage's."""

    kind: str
    namespace: str
    name: str

    def __str__(self) -> str:
        return f"{self.kind}:{self.namespace}/{self.name}"

    @classmethod
    def make(cls, kind: str, namespace: str, name: str) -> EntityRef:
        return cls(kind.lower(), namespace.lower(), name.lower())

    @classmethod
    def parse(
        cls,
        ref: str,
        default_kind: str | None = None,
        default_namespace: str = DEFAULT_NAMESPACE,
    ) -> EntityRef:
        """Parse ``[<kind>:][<namespace>/]<name>`` exactly as Backstage's ``parseEntityRef``.

        The kind is the text before the first ``:`` unless a ``/`` comes first; the namespace
        the text before the first ``/`` after that. Raises ``CatalogError`` on an empty part
        or a missing kind with no default.
        """
        if not isinstance(ref, str):
            raise CatalogError(f"Entity reference must be a string, got {type(ref).__name__}")
        colon = ref.find(":")
        slash = ref.find("/")
        kind: str | None = None
        namespace: str | None = None
        rest = ref
        if colon >= 0 and (slash < 0 or colon < slash):
            kind, rest = ref[:colon], ref[colon + 1 :]
            slash = rest.find("/")
        if slash >= 0:
            namespace, rest = rest[:slash], rest[slash + 1 :]
        if kind == "" or namespace == "" or rest == "":
            raise CatalogError(
                f'Entity reference "{ref}" was not on the form [<kind>:][<namespace>/]<name>'
            )
        if kind is None:
            if not default_kind:
                raise CatalogError(
                    f'Entity reference "{ref}" had missing or empty kind '
                    '(e.g. did not start with "component:" or similar)'
                )
            kind = default_kind
        return cls.make(kind, namespace or default_namespace, rest)

    def short(self, default_kind: str | None = None) -> str:
        """The shortest form that still parses back to this ref (for display)."""
        ns = "" if self.namespace == DEFAULT_NAMESPACE else f"{self.namespace}/"
        kind = "" if default_kind and self.kind == default_kind.lower() else f"{self.kind}:"
        return f"{kind}{ns}{self.name}"


@dataclass(frozen=True)
class Link:
    """An entry of ``metadata.links``."""

    url: str
    title: str | None = None
    icon: str | None = None
    type: str | None = None


@dataclass(frozen=True)
class Relation:
    """A directed relation as Backstage stores it: on ``source``, pointing to ``target``."""

    source: EntityRef
    type: str
    target: EntityRef


@dataclass(frozen=True)
class Entity:
    """One validated catalog entity, normalised once from its raw document."""

    ref: EntityRef
    kind: str  # as written (``Component``); ``ref.kind`` is the lower-cased form
    api_version: str
    name: str  # as written, case kept
    namespace: str
    title: str | None
    description: str | None
    spec: Mapping[str, Any]
    annotations: Mapping[str, str]
    labels: Mapping[str, str]
    tags: tuple[str, ...]
    links: tuple[Link, ...]
    raw: Mapping[str, Any] = field(repr=False, compare=False)
    source_file: str | None = None
    source_line: int | None = None

    @property
    def display_name(self) -> str:
        """Title when given, else the profile's display name, else the name."""
        if self.title:
            return self.title
        profile = self.spec.get("profile")
        if isinstance(profile, Mapping):
            shown = profile.get("displayName")
            if isinstance(shown, str) and shown.strip():
                return shown
        return self.name

    @property
    def spec_type(self) -> str | None:
        value = self.spec.get("type")
        return value if isinstance(value, str) else None

    @property
    def lifecycle(self) -> str | None:
        value = self.spec.get("lifecycle")
        return value if isinstance(value, str) else None

    @property
    def email(self) -> str | None:
        profile = self.spec.get("profile")
        if isinstance(profile, Mapping):
            value = profile.get("email")
            if isinstance(value, str) and value:
                return value
        return None

    @classmethod
    def from_document(
        cls, doc: Mapping[str, Any], source_file: str | None = None, line: int | None = None
    ) -> Entity:
        """Build an entity from a document that has already passed validation."""
        meta: Mapping[str, Any] = doc["metadata"]
        namespace = str(meta.get("namespace") or DEFAULT_NAMESPACE)
        links = tuple(
            Link(
                url=str(link["url"]),
                title=link.get("title"),
                icon=link.get("icon"),
                type=link.get("type"),
            )
            for link in meta.get("links") or ()
            if isinstance(link, Mapping) and "url" in link
        )
        return cls(
            ref=EntityRef.make(str(doc["kind"]), namespace, str(meta["name"])),
            kind=str(doc["kind"]),
            api_version=str(doc["apiVersion"]),
            name=str(meta["name"]),
            namespace=namespace,
            # Text only: an unresolved placeholder (or a remote source's odd value) stays in
            # ``raw`` but is never shown as a title.
            title=_text_or_none(meta.get("title")),
            description=_text_or_none(meta.get("description")),
            spec=doc.get("spec") or {},
            annotations=dict(meta.get("annotations") or {}),
            labels=dict(meta.get("labels") or {}),
            tags=tuple(meta.get("tags") or ()),
            links=links,
            raw=doc,
            source_file=source_file,
            source_line=line,
        )


def _text_or_none(value: Any) -> str | None:
    return value if isinstance(value, str) else None


# Relation type pairs: forward type -> reverse type.
REVERSE: Mapping[str, str] = {
    "ownedBy": "ownerOf",
    "ownerOf": "ownedBy",
    "partOf": "hasPart",
    "hasPart": "partOf",
    "providesApi": "apiProvidedBy",
    "apiProvidedBy": "providesApi",
    "consumesApi": "apiConsumedBy",
    "apiConsumedBy": "consumesApi",
    "dependsOn": "dependencyOf",
    "dependencyOf": "dependsOn",
    "memberOf": "hasMember",
    "hasMember": "memberOf",
    "childOf": "parentOf",
    "parentOf": "childOf",
}

CANONICAL: frozenset[str] = frozenset(
    ("ownedBy", "partOf", "providesApi", "consumesApi", "dependsOn", "memberOf", "childOf")
)
"""The type of each ``REVERSE`` pair that is stored; the other is derived when read."""

DERIVED: Mapping[str, str] = {REVERSE[t]: t for t in CANONICAL}
"""Reverse type -> the canonical type it is stored as (``ownerOf`` -> ``ownedBy``)."""


def canonical(source: str, rel_type: str, target: str) -> tuple[str, str, str]:
    """A relation as stored: a reverse type swapped to its canonical pair (``G ownerOf X`` is
    ``X ownedBy G``); a canonical type, or one with no known reverse, as given."""
    stored = DERIVED.get(rel_type)
    return (source, rel_type, target) if stored is None else (target, stored, source)


# (spec field, default kind of its refs or None when the kind must be written, relation type)
_FIELDS: Mapping[str, tuple[tuple[str, str | None, str], ...]] = {
    "component": (
        ("owner", "group", "ownedBy"),
        ("subcomponentOf", "component", "partOf"),
        ("providesApis", "api", "providesApi"),
        ("consumesApis", "api", "consumesApi"),
        ("dependsOn", None, "dependsOn"),
        ("dependencyOf", None, "dependencyOf"),
        ("system", "system", "partOf"),
    ),
    "api": (("owner", "group", "ownedBy"), ("system", "system", "partOf")),
    "resource": (
        ("owner", "group", "ownedBy"),
        ("dependsOn", None, "dependsOn"),
        ("dependencyOf", None, "dependencyOf"),
        ("system", "system", "partOf"),
    ),
    "system": (("owner", "group", "ownedBy"), ("domain", "domain", "partOf")),
    "domain": (("owner", "group", "ownedBy"), ("subdomainOf", "domain", "partOf")),
    "group": (
        ("parent", "group", "childOf"),
        ("children", "group", "parentOf"),
        ("members", "user", "hasMember"),
    ),
    "user": (("memberOf", "group", "memberOf"),),
    "template": (("owner", "group", "ownedBy"),),
    "airesource": (
        ("owner", "group", "ownedBy"),
        ("system", "system", "partOf"),
        ("dependsOn", "airesource", "dependsOn"),
        ("skills", "airesource", "hasPart"),
        ("plugins", "airesource", "hasPart"),
    ),
}

REF_FIELDS: Mapping[str, tuple[tuple[str, str | None, str], ...]] = _FIELDS
"""Per lower-cased kind, the ref-bearing spec fields: (field, default kind, relation type)."""


def _field_values(value: Any) -> Iterator[Any]:
    if value is None:
        return
    if isinstance(value, list | tuple):
        yield from value
    else:
        yield value


@functools.lru_cache(maxsize=1 << 16)
def _parse_ref(value: str, default_kind: str | None, namespace: str) -> EntityRef:
    # Owners, systems and APIs repeat across a catalog; refs are frozen, so share the parses
    # (a 43,000-entity sync parses ~100,000 refs, most of them a few hundred distinct ones).
    return EntityRef.parse(value, default_kind, namespace)


def derive_relations(entity: Entity) -> tuple[list[Relation], list[str]]:
    """Relations an entity's ref fields state (on the entity, as written: a Group's
    ``members`` give ``hasMember``), and the problems with those fields. The reverse of each is
    not listed: stores keep one direction (``canonical``) and derive the other (``REVERSE``).

    Like Backstage, a ref that points nowhere still yields a relation (a dangling ref); a ref
    that does not parse (a bare name in ``dependsOn``) is a problem on this entity, and so is
    one no entity could ever have (a part longer than 63 characters).
    """
    relations: list[Relation] = []
    problems: list[str] = []
    for spec_field, default_kind, rel_type in _FIELDS.get(entity.ref.kind, ()):
        for value in _field_values(entity.spec.get(spec_field)):
            if isinstance(value, Mapping):
                try:
                    target = EntityRef.make(
                        str(value.get("kind") or default_kind or ""),
                        str(value.get("namespace") or entity.ref.namespace),
                        str(value["name"]),
                    )
                except KeyError:
                    problems.append(f'"spec.{spec_field}" has an entity ref object with no name')
                    continue
                if not target.kind:
                    problems.append(f'"spec.{spec_field}" ref {dict(value)} has no kind')
                    continue
            elif isinstance(value, str):
                try:
                    target = _parse_ref(value, default_kind, entity.ref.namespace)
                except CatalogError as exc:
                    problems.append(f'"spec.{spec_field}": {exc}')
                    continue
            else:
                problems.append(
                    f'"spec.{spec_field}" must hold entity refs, found {type(value).__name__}'
                )
                continue
            overlong = _overlong_part(target)
            if overlong:
                shown = str(target) if len(str(target)) <= 80 else f"{str(target)[:77]}…"
                problems.append(
                    f'"spec.{spec_field}": entity reference "{shown}" cannot name any entity: '
                    f"{overlong}"
                )
                continue
            relations.append(Relation(entity.ref, rel_type, target))
    return relations, problems


MAX_REF_PART = 63
"""Kinds, namespaces and names have at most 63 characters (Backstage's validators)."""


def _overlong_part(ref: EntityRef) -> str | None:
    for part, value in (("kind", ref.kind), ("namespace", ref.namespace), ("name", ref.name)):
        if len(value) > MAX_REF_PART:
            return f"its {part} has {len(value)} characters, at most {MAX_REF_PART} are allowed"
    return None
