"""What the sync stores of an entity document: validated, normalised, with its relations.

A ``Candidate`` holds plain values only (strings and tuples, no model objects), so a parse
worker can compute it next to the parse and hand it over cheaply. This module needs no
database: the workers import it.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from bot.catalog.model import Entity, Relation, derive_relations
from bot.catalog.problems import Problem
from bot.catalog.validation import validate_entity
from bot.catalog.yamlload import Document


@dataclass
class Candidate:
    """One valid entity as the store will hold it, before duplicates are settled."""

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
    relations: list[tuple[str, str, str]]  # (source ref, type, target ref), both directions
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
    triples = [(str(r.source), r.type, str(r.target)) for r in rels]
    ref = str(entity.ref)
    owner = next((t for s, kind, t in triples if kind == "ownedBy" and s == ref), None)
    return Candidate(
        ref,
        entity.source_line,
        entity.ref.kind,
        entity.ref.namespace,
        entity.name,
        entity.title,
        entity.description,
        entity.spec_type,
        entity.lifecycle,
        data,
        content_hash,
        owner,
        triples,
        file,
        data_hash,
    )


def entity_candidates(
    documents: Iterable[Document], path: str, complete: bool, problems_out: list[Problem]
) -> tuple[list[Candidate], bool]:
    """Validated entities of one parsed file; the flag says whether every document was good."""
    out: list[Candidate] = []
    all_good = complete
    for doc in documents:
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
