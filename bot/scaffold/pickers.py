"""Backstage's catalog pickers in chat: what a field may hold, offered from the catalog and
checked on submit.

``EntityPicker``, ``OwnerPicker``, ``OwnedEntityPicker``, ``MyGroupsPicker`` and
``MultiEntityPicker`` take entity refs from the catalog, narrowed by their ``ui:options``:
``allowedKinds``, ``catalogFilter`` (one filter object or a list of them: any of the objects,
all keys of one; a key is a dotted path into the entity such as ``kind``, ``spec.type`` or
``metadata.tags``, its value one string or a list), ``defaultKind`` and ``defaultNamespace``
for short names. ``OwnedEntityPicker`` offers what the requester or their groups own,
``MyGroupsPicker`` the requester's groups. A value outside that set is refused on its field
unless the template says ``allowArbitraryValues: true``. ``EntityTagsPicker`` takes tags
(Backstage's tag rule), offering the catalog's tags as a hint; ``RepoUrlPicker``'s
``allowedHosts`` limits the repository's host.

All of it is blocking (catalog reads): call from a worker thread.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any
from urllib.parse import parse_qs

from bot.catalog.model import Entity, EntityRef
from bot.errors import CatalogError
from bot.scaffold.model import Picker, as_mapping

if TYPE_CHECKING:
    from bot.catalog.read import CatalogReader

ENTITY_PICKERS = (
    "EntityPicker",
    "OwnerPicker",
    "OwnedEntityPicker",
    "MyGroupsPicker",
    "MultiEntityPicker",
    "OwnershipEntityRefPicker",
)
OFFERED = 100  # at most this many entities become a choice list; more: a catalog search
SCANNED = 20_000  # entities read to apply a filter beyond kinds
TAG = re.compile(r"^[a-z0-9:+#]+(-[a-z0-9:+#]+)*$")  # Backstage's isValidTag
TAG_LENGTH = 63


def picker_of(ui_field: str, options: Mapping[str, Any]) -> Picker | None:
    """The picker a field's ``ui:field`` and ``ui:options`` describe, or None."""
    if ui_field == "RepoUrlPicker":
        hosts = options.get("allowedHosts")
        return Picker(ui_field, hosts=_strings(hosts))
    if ui_field == "EntityTagsPicker":
        return Picker(ui_field, kinds=tuple(k.lower() for k in _strings(options.get("kinds"))))
    if ui_field not in ENTITY_PICKERS:
        return None
    kinds = [k.lower() for k in _strings(options.get("allowedKinds"))]
    filters: list[tuple[tuple[str, tuple[str, ...]], ...]] = []
    raw = options.get("catalogFilter")
    for item in raw if isinstance(raw, list) else [raw] if raw is not None else []:
        if isinstance(item, Mapping):
            filters.append(
                tuple((str(k), _strings(v)) for k, v in item.items() if _strings(v) or v is True)
            )
    if ui_field in ("OwnerPicker", "MyGroupsPicker") and not kinds and not filters:
        kinds = ["group", "user"] if ui_field == "OwnerPicker" else ["group"]
    default_kind = options.get("defaultKind")
    namespace = options.get("defaultNamespace")
    return Picker(
        ui_field,
        kinds=tuple(kinds),
        filters=tuple(filters),
        arbitrary=options.get("allowArbitraryValues") is True,
        default_kind=str(default_kind).lower() if isinstance(default_kind, str) else None,
        default_namespace=str(namespace) if isinstance(namespace, str) else None,
    )


def _strings(value: Any) -> tuple[str, ...]:
    if isinstance(value, str):
        return (value,)
    if isinstance(value, list):
        return tuple(str(v) for v in value if isinstance(v, str | int | float))
    return ()


def describe(picker: Picker) -> str:
    """What the field takes, for its hint."""
    if picker.field == "EntityTagsPicker":
        return "Tags: lower-case letters, digits and : + # between dashes."
    if picker.field == "RepoUrlPicker":
        return f"A repository on {' or '.join(picker.hosts)}." if picker.hosts else ""
    if picker.field == "OwnedEntityPicker":
        what = "An entity you or your groups own"
    elif picker.field == "MyGroupsPicker":
        what = "One of your groups"
    else:
        what = "A catalog entity"
    kinds = kinds_of(picker)
    if kinds:
        what += f" ({' or '.join(kinds)})"
    for flt in picker.filters[:1]:
        shown = [f"{k} {'/'.join(v)}" for k, v in flt if k.lower() != "kind" and v]
        if shown:
            what += f" with {', '.join(shown)}"
    return what + "."


def kinds_of(picker: Picker) -> tuple[str, ...]:
    """The kinds a picker may hold (empty: any), from allowedKinds and the filters' kind."""
    kinds = list(picker.kinds)
    filter_kinds = [
        v.lower() for flt in picker.filters for k, vs in flt if k.lower() == "kind" for v in vs
    ]
    if filter_kinds and all(any(k.lower() == "kind" for k, _ in f) for f in picker.filters):
        kinds = [k for k in kinds if k in filter_kinds] if kinds else filter_kinds
    return tuple(dict.fromkeys(kinds))


def _matches(entity: Entity, flt: tuple[tuple[str, tuple[str, ...]], ...]) -> bool:
    for key, wanted in flt:
        found = _field(entity.raw, key)
        if not wanted:  # a key that must exist (catalogFilter: {key: true})
            if not found:
                return False
            continue
        lowered = {w.lower() for w in wanted}
        if not any(str(f).lower() in lowered for f in found):
            return False
    return True


def _field(raw: Mapping[str, Any], key: str) -> list[Any]:
    node: Any = raw
    for part in key.split("."):
        node = as_mapping(node).get(part)
        if node is None:
            return []
    return node if isinstance(node, list) else [node]


def allowed(
    picker: Picker, catalog: CatalogReader, who: Sequence[str]
) -> list[tuple[str, str]] | None:
    """The (ref, label) pairs the picker may hold, when they can be listed (at most
    ``SCANNED`` read); None when any entity of its kinds may be given (no filter)."""
    kinds = kinds_of(picker)
    refs = _candidates(picker, kinds, catalog, who)
    if refs is None:
        return None
    found = catalog.get_many(refs[:SCANNED])
    out: list[tuple[str, str]] = []
    for ref in refs:
        entity = found.get(ref)
        if entity is None or (kinds and entity.ref.kind not in kinds):
            continue
        if picker.filters and not any(_matches(entity, f) for f in picker.filters):
            continue
        out.append((str(entity.ref), entity.display_name))
    return out


def catalog_tags(picker: Picker, catalog: CatalogReader, limit: int = 12) -> list[str]:
    """The tags the catalog's entities (of the picker's ``kinds``) carry, most used first:
    what an ``EntityTagsPicker`` suggests."""
    counts: dict[str, int] = {}
    refs: list[str] = []
    for kind in picker.kinds or (None,):
        refs += [e.ref for e in catalog.listing(kind)[:SCANNED]]
    for entity in catalog.get_many(refs[:SCANNED]).values():
        for tag in entity.tags:
            counts[tag] = counts.get(tag, 0) + 1
    return sorted(counts, key=lambda t: (-counts[t], t))[:limit]


def _candidates(
    picker: Picker, kinds: tuple[str, ...], catalog: CatalogReader, who: Sequence[str]
) -> list[str] | None:
    """The refs a picker chooses from, before its filters (None: any of its kinds)."""
    if picker.field in ("EntityTagsPicker", "RepoUrlPicker"):
        return None
    if picker.field == "MyGroupsPicker":
        return [r for r in who if r.startswith("group:")]
    refs: list[str] = []
    if picker.field == "OwnedEntityPicker":
        owners = {r.lower() for r in who}
        for kind in kinds or (None,):
            refs += [e.ref for e in catalog.listing(kind) if (e.owner_ref or "").lower() in owners]
        return refs
    if not picker.filters:
        return None
    for kind in kinds or (None,):
        refs += [e.ref for e in catalog.listing(kind)[:SCANNED]]
    return refs


def check(picker: Picker, given: str, catalog: CatalogReader, who: Sequence[str]) -> str:
    """The value for one item of a picker field (a full entity ref, a tag, a repository
    URL), or ``ValueError`` saying what the field takes."""
    text = given.strip()
    if picker.field == "EntityTagsPicker":
        if len(text) > TAG_LENGTH or not TAG.fullmatch(text):
            raise ValueError(
                f"“{text}” is not a tag: up to {TAG_LENGTH} lower-case letters, digits and "
                ": + # between dashes"
            )
        return text
    if picker.field == "RepoUrlPicker":
        host, _, query = text.partition("?")
        args = parse_qs(query)
        if (
            not host
            or "/" in host
            or not (("owner" in args and "repo" in args) or "project" in args)
        ):
            raise ValueError(
                f"“{text[:200]}” is not a repository: give host?owner=...&repo=... "
                "(e.g. github.com?owner=acme&repo=service)"
            )
        if picker.hosts and host not in picker.hosts:
            raise ValueError(f"must be a repository on {' or '.join(picker.hosts)}, not {host}")
        return text
    kinds = kinds_of(picker)
    try:
        ref = EntityRef.parse(
            text,
            picker.default_kind or (kinds[0] if len(kinds) == 1 else None),
            picker.default_namespace or "default",
        )
    except (CatalogError, TypeError, ValueError):
        raise ValueError(f"“{text}” is not an entity reference (kind:namespace/name)") from None
    if picker.arbitrary:
        return str(ref)
    listed = allowed(picker, catalog, who)
    if listed is None:  # any entity of its kinds: it must exist
        if kinds and ref.kind not in kinds:
            raise ValueError(f"must be a {' or '.join(kinds)}, not {ref}")
        if catalog.get(ref) is None:
            raise ValueError(f"{ref} is not in the catalog")
        return str(ref)
    if str(ref) not in {r for r, _ in listed}:
        raise ValueError(f"{ref} is not one of the entities this field allows ({describe(picker)})")
    return str(ref)
