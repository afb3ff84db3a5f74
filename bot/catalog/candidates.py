"""What the sync stores of an entity document: validated, normalised, with its relations.

A ``Candidate`` holds plain values only (strings and tuples, no model objects), so a parse
worker can compute it next to the parse and hand it over cheaply. This module needs no
database: the workers import it.
"""

from __future__ import annotations

import hashlib
import json
import sys
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from bot.catalog.model import Entity, Relation, canonical, derive_relations
from bot.catalog.problems import Problem
from bot.catalog.validation import validate_entity
from bot.catalog.yamlload import Document

MAX_TITLE_CHARS = 500
"""A longer ``metadata.title`` is cut (with a warning): names in chat, not documents."""
MAX_DESCRIPTION_CHARS = 20_000
"""A longer ``metadata.description`` is cut (with a warning)."""


@dataclass(slots=True)
class Candidate:
    """One valid entity as the store will hold it, before duplicates are settled.

    A sync of a million entities holds one each: slots (no per-instance dict), and its
    repeated strings (refs, kinds, owners, relation types) interned by ``make_candidate``, so
    a ref named by every relation toward it is one string, also across the parse workers'
    pickles (which keep one object per identical object).
    """

    ref: str
    line: int | None
    kind: str
    namespace: str
    name: str
    title: str | None
    description: str | None
    spec_type: str | None
    lifecycle: str | None
    data: str  # the document as JSON, keys in the file's order
    content_hash: str
    owner: str | None
    relations: list[tuple[str, str, str]]  # (source ref, type, target ref), canonical direction
    file: str
    data_hash: str | None = None  # prebuilt only: content_hash starts with the document's hash


Prepared = tuple[list[Candidate], bool, list[Problem]]
"""A file's candidates, whether every document was good, and the problems found."""


def make_candidate(
    entity: Entity,
    data: str,
    content_hash: str,
    rels: Iterable[Relation],
    file: str,
    data_hash: str | None = None,
) -> Candidate:
    intern = sys.intern
    # Stored once, in the canonical direction (the reverse is derived when read); a relation
    # one entity states twice (a ref repeated in a list, a self-relation served both ways by
    # Backstage) is one row.
    triples = list(
        dict.fromkeys(
            canonical(intern(str(r.source)), intern(r.type), intern(str(r.target))) for r in rels
        )
    )
    ref = intern(str(entity.ref))
    owner = next((t for s, kind, t in triples if kind == "ownedBy" and s == ref), None)
    return Candidate(
        ref,
        entity.source_line,
        intern(entity.ref.kind),
        intern(entity.ref.namespace),
        entity.name,
        # Text only: an unresolved placeholder stays in ``data``, the column holds nothing.
        entity.title if isinstance(entity.title, str) else None,
        entity.description if isinstance(entity.description, str) else None,
        _interned(entity.spec_type),
        _interned(entity.lifecycle),
        data,
        content_hash,
        owner,
        triples,
        intern(file),
        data_hash,
    )


def _interned(text: str | None) -> str | None:
    return sys.intern(text) if type(text) is str else text


def entity_candidates(
    documents: Iterable[Document], path: str, complete: bool, problems_out: list[Problem]
) -> tuple[list[Candidate], bool]:
    """Validated entities of one parsed file; the flag says whether every document was good."""
    out: list[Candidate] = []
    all_good = complete
    for doc in documents:
        fixes = fit_for_store(doc.data)
        if fixes:
            ref_text = ref_text_of(doc.data)
            problems_out.extend(Problem("warning", m, path, doc.line, ref_text) for m in fixes)
        errors = validate_entity(doc.data)
        if errors:
            all_good = False
            ref_text = ref_text_of(doc.data)
            problems_out.extend(Problem("error", m, path, doc.line, ref_text) for m in errors)
            continue
        entity = Entity.from_document(doc.data, path, doc.line)
        rels, ref_problems = derive_relations(entity)
        if ref_problems:
            all_good = False
            problems_out.extend(
                Problem("error", m, path, doc.line, str(entity.ref)) for m in ref_problems
            )
            continue
        # Key order is the file's, so an unchanged document always gives the same text.
        data = json.dumps(doc.data, separators=(",", ":"), default=str)
        digest = hashlib.sha1(data.encode(), usedforsecurity=False).hexdigest()
        out.append(make_candidate(entity, data, digest, rels, path))
    return last_of_each_ref(out), all_good


def last_of_each_ref(candidates: list[Candidate]) -> list[Candidate]:
    """One candidate per ref: the file's last document of it, as Backstage keeps (its later
    document overwrites the earlier one of the same location, without a warning)."""
    if len({c.ref for c in candidates}) == len(candidates):
        return candidates
    last = {c.ref: c for c in candidates}
    return [c for c in candidates if last[c.ref] is c]


def _has_nul(value: Any) -> bool:
    """Whether any string in ``value`` (keys too) holds a NUL (the fast check: no paths)."""
    stack = [value]
    while stack:
        item = stack.pop()
        kind = type(item)
        if kind is str:
            if "\0" in item:
                return True
        elif kind is dict:
            for key, sub in item.items():
                if type(key) is str and "\0" in key:
                    return True
                stack.append(sub)
        elif kind is list:
            stack.extend(item)
    return False


def _without_nul(value: Any, path: str, found: list[str]) -> Any:
    """``value`` with every NUL character removed from its strings (keys too); ``found`` gets
    the path of each string that held one. PostgreSQL text cannot hold NUL."""
    if isinstance(value, str):
        if "\0" in value:
            found.append(path)
            return value.replace("\0", "")
        return value
    if isinstance(value, dict):
        if not any(isinstance(k, str) and "\0" in k for k in value):
            for key, item in value.items():
                fixed = _without_nul(item, f"{path}.{key}" if path else str(key), found)
                if fixed is not item:
                    value[key] = fixed
            return value
        rebuilt: dict[Any, Any] = {}
        for key, item in value.items():
            new_key = key.replace("\0", "") if isinstance(key, str) else key
            where = f"{path}.{new_key}" if path else str(new_key)
            if new_key != key:
                found.append(where)
            rebuilt[new_key] = _without_nul(item, where, found)
        value.clear()  # in place: the document is the caller's
        value.update(rebuilt)
        return value
    if isinstance(value, list):
        for i, item in enumerate(value):
            fixed = _without_nul(item, f"{path}[{i}]", found)
            if fixed is not item:
                value[i] = fixed
    return value


def fit_for_store(doc: Any) -> list[str]:
    """Make one raw entity document fit the store, in place; a warning per change made.

    NUL characters are removed from every string (PostgreSQL refuses them in text), and an
    over-long ``metadata.title`` or ``metadata.description`` is cut. A title or description
    that is not text (an unresolved placeholder, kept with its own warning, or what a remote
    source served, which validation reports) stays in the document, but is neither stored in
    the title/description columns nor shown (``make_candidate``, ``Entity.from_document``).
    """
    if not isinstance(doc, dict):
        return []
    out: list[str] = []
    nul: list[str] = []
    if _has_nul(doc):
        _without_nul(doc, "", nul)
    if nul:
        nul = list(dict.fromkeys(nul))
        shown = ", ".join(nul[:5]) + (f" and {len(nul) - 5} more" if len(nul) > 5 else "")
        out.append(f"NUL characters removed from {shown} (the store cannot hold them)")
    meta = doc.get("metadata")
    if not isinstance(meta, dict):
        return out
    for key, cap in (("title", MAX_TITLE_CHARS), ("description", MAX_DESCRIPTION_CHARS)):
        if key not in meta:
            continue
        value = meta[key]
        if isinstance(value, str) and len(value) > cap:
            meta[key] = value[: cap - 1] + "…"
            out.append(
                f'"metadata.{key}" has {len(value):,} characters; cut to {cap:,} '
                "(the most Callboard keeps)"
            )
    return out


def prepare_documents(documents: Iterable[Document], path: str, complete: bool) -> Prepared:
    found: list[Problem] = []
    candidates, clean = entity_candidates(documents, path, complete, found)
    return candidates, clean, found


def is_location(doc: Document) -> bool:
    return str(doc.data.get("kind", "")).lower() == "location"


def ref_text_of(doc: dict[str, Any]) -> str | None:
    """The lower-cased ref a document names, as far as it can be made out (for problems)."""
    meta = doc.get("metadata")
    kind = doc.get("kind")
    if isinstance(meta, dict) and isinstance(kind, str) and isinstance(meta.get("name"), str):
        ns = meta.get("namespace") if isinstance(meta.get("namespace"), str) else "default"
        return f"{kind.lower()}:{str(ns).lower()}/{meta['name'].lower()}"
    return None
