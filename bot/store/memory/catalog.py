"""The catalog read ports in memory: entities and relations in dicts, no database.

``MemoryCatalog`` answers ``CatalogQueries``, ``CatalogGraph`` and ``SearchQueries`` from
``Entity`` objects, with the same readers as the SQL store (``CatalogReader``, the graph walks,
``SearchCache``) over ``MemoryCatalogRows``. What it holds of an entity is what the sync stores:
the document as JSON text, and the relations ``derive_relations`` gives, stored once each as
``make_candidate`` keeps them (the same the sync's parse workers use) and indexed both ways.
``tests/unit/test_catalog_ports.py`` runs the same assertions against both stores.

For handler tests (a fast unit tier): by default the reads run inline on the caller's thread,
the event loop's included; there is no I/O to wait for, and a test catalog is small. Give a
``pool`` to run them in worker threads as the SQL store does.
"""

from __future__ import annotations

import hashlib
import json
import threading
from collections import defaultdict
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from concurrent.futures import Executor, Future
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any, ParamSpec, TypeVar

from bot.catalog.candidates import Candidate, make_candidate
from bot.catalog.model import CANONICAL, REVERSE, Entity, EntityRef, derive_relations
from bot.catalog.queries import OffloadedCatalog
from bot.catalog.read import CatalogReader
from bot.catalog.reconcile import StoredEntity
from bot.catalog.rows import DocumentRow, ListedEntity, NameRow, NamesSnapshot, SearchRow
from bot.catalog.validation import validate_entity
from bot.docs.model import IndexedEntity
from bot.errors import CatalogError

P = ParamSpec("P")
T = TypeVar("T")

DEFAULT_SOURCE = "memory"


@dataclass(frozen=True)
class _Stored:
    candidate: Candidate
    source: str
    file: str | None


@dataclass(frozen=True)
class _State:
    """One generation of the catalog, replaced whole on a change (readers never lock)."""

    generation: int = 0
    entities: dict[str, _Stored] = field(default_factory=dict)
    # ref → (type, target), relations emitted by any entity, the canonical ones both ways (as
    # the SQL store reads its relations table)
    relations: dict[str, list[tuple[str, str]]] = field(default_factory=dict)


def _relations(stored: Iterable[_Stored]) -> dict[str, list[tuple[str, str]]]:
    out: dict[str, list[tuple[str, str]]] = defaultdict(list)
    for item in stored:
        for source, rel_type, target in item.candidate.relations:
            out[source].append((rel_type, target))
            if rel_type in CANONICAL:  # stored one way, as the SQL store; read both ways
                out[target].append((REVERSE[rel_type], source))
    return dict(out)


class MemoryCatalogRows:
    """``CatalogRows`` over entities held in memory; ``put`` and ``remove`` change them (and
    the generation, as a sync that changed something does)."""

    def __init__(self, entities: Iterable[Entity] = (), source: str = DEFAULT_SOURCE) -> None:
        self._state = _State()
        self._write = threading.Lock()
        self.put(*entities, source=source)

    def put(self, *entities: Entity, source: str = DEFAULT_SOURCE) -> None:
        """Store ``entities`` (replacing those with the same ref), with their relations.

        Raises ``CatalogError`` for an entity whose ref fields do not parse (the sync would
        report it and not store it)."""
        if not entities:
            return
        added = {}
        for entity in entities:
            rels, problems = derive_relations(entity)
            if problems:
                raise CatalogError(f"{entity.ref}: {'; '.join(problems)}")
            data = json.dumps(entity.raw, separators=(",", ":"), default=str)
            digest = hashlib.sha1(data.encode(), usedforsecurity=False).hexdigest()
            file = entity.source_file or ""
            candidate = make_candidate(entity, data, digest, rels, file)
            added[candidate.ref] = _Stored(candidate, source, entity.source_file)
        with self._write:
            state = self._state
            stored = {**state.entities, **added}
            self._state = _State(state.generation + 1, stored, _relations(stored.values()))

    def remove(self, *refs: EntityRef | str) -> None:
        """Forget the entities ``refs`` and the relations they emitted."""
        with self._write:
            state = self._state
            gone = {str(r).lower() for r in refs} & state.entities.keys()
            if not gone:
                return
            stored = {r: s for r, s in state.entities.items() if r not in gone}
            self._state = _State(state.generation + 1, stored, _relations(stored.values()))

    def apply(self, source: str, upserts: Iterable[Candidate], removals: Iterable[str]) -> None:
        """One sync's writes for ``source``, as one change (``bot.store.memory.sync``)."""
        added = {c.ref: _Stored(c, source, c.file) for c in upserts}
        gone = set(removals)
        if not added and not gone:
            return
        with self._write:
            state = self._state
            stored = {r: s for r, s in state.entities.items() if r not in gone}
            stored.update(added)
            self._state = _State(state.generation + 1, stored, _relations(stored.values()))

    def stored_entities(self, refs: Iterable[str] | None = None) -> dict[str, StoredEntity]:
        """What the sync compares a run with: each entity's source, file, owner and hash (of
        ``refs``, or of every entity)."""
        held = self._state.entities
        pairs = held.items() if refs is None else ((r, held[r]) for r in refs if r in held)
        return {
            ref: StoredEntity(s.source, s.file, s.candidate.owner, s.candidate.content_hash)
            for ref, s in pairs
        }

    def stored_candidates(self) -> dict[str, Candidate]:
        """Every stored entity as the sync wrote it, by ref."""
        return {ref: s.candidate for ref, s in self._state.entities.items()}

    def stored_documents(self, kind: str) -> list[tuple[str, str, str | None, str]]:
        """``(ref, source, file, JSON)`` of every entity of ``kind`` (lower-cased), by ref."""
        return [
            (ref, s.source, s.file, s.candidate.data)
            for ref, s in sorted(self._state.entities.items())
            if s.candidate.kind == kind
        ]

    def indexed_entities(self) -> list[tuple[IndexedEntity, str]]:
        """Every entity as the docs indexer reads it, with its JSON (``MemoryDocs``)."""
        return [
            (
                IndexedEntity(
                    ref,
                    s.source,
                    s.file,
                    s.candidate.name,
                    s.candidate.title,
                    s.candidate.content_hash,
                ),
                s.candidate.data,
            )
            for ref, s in self._state.entities.items()
        ]

    # ---------------------------------------------------------------- CatalogRows

    def generation(self) -> int:
        return self._state.generation

    @contextmanager
    def names(self) -> Iterator[NamesSnapshot]:
        state = self._state
        names = (_name_row(s.candidate) for s in list(state.entities.values()))
        people = [
            _document(s) for s in state.entities.values() if s.candidate.kind in ("user", "group")
        ]
        yield NamesSnapshot(state.generation, names, people)

    @contextmanager
    def reading(self) -> Iterator[None]:
        yield  # nothing to hold: every read is a look at the current state

    def exact_names(self, names: Sequence[str], ref: str | None) -> list[NameRow]:
        wanted = set(names)
        return [
            _name_row(s.candidate)
            for r, s in self._state.entities.items()
            if s.candidate.name.lower() in wanted or r == ref
        ]

    def documents(self, refs: Sequence[str]) -> list[DocumentRow]:
        entities = self._state.entities
        return [_document(entities[r]) for r in sorted(set(refs)) if r in entities]

    def documents_of_kind(self, kind: str, containing: str) -> list[DocumentRow]:
        # As the SQL store's LIKE on SQLite: a substring of the JSON text (ASCII only, as
        # json.dumps writes it), case-insensitive. A pre-filter: the reader checks the rest.
        needle = containing.lower()
        return [
            _document(s)
            for s in self._state.entities.values()
            if s.candidate.kind == kind and needle in s.candidate.data.lower()
        ]

    def relation_pairs(
        self, refs: Sequence[str], types: Sequence[str] = ()
    ) -> list[tuple[str, str, str]]:
        relations = self._state.relations
        wanted = set(types)
        return [
            (ref, rel_type, target)
            for ref in sorted(set(refs))
            for rel_type, target in relations.get(ref, ())
            if not wanted or rel_type in wanted
        ]

    def names_of(self, refs: Sequence[str]) -> NamesSnapshot:
        state = self._state  # one generation, replaced whole: a snapshot
        found = [s for s in (state.entities.get(r) for r in sorted(set(refs))) if s]
        people = [_document(s) for s in found if s.candidate.kind in ("user", "group")]
        return NamesSnapshot(
            state.generation, iter([_name_row(s.candidate) for s in found]), people
        )

    def search_rows_of(self, refs: Sequence[str]) -> tuple[int, list[SearchRow]]:
        state = self._state  # one generation, replaced whole: a snapshot
        found = (state.entities.get(ref) for ref in sorted(set(refs)))
        return state.generation, [
            SearchRow(s.candidate.ref, s.candidate.owner, s.candidate.data) for s in found if s
        ]

    def search_rows(self) -> Iterator[SearchRow]:
        for ref, stored in self._state.entities.items():
            yield SearchRow(ref, stored.candidate.owner, stored.candidate.data)

    def listing(self, kind: str | None = None) -> list[ListedEntity]:
        return [
            ListedEntity(ref, s.candidate.kind, s.candidate.owner, s.source, s.file)
            for ref, s in sorted(self._state.entities.items())
            if not kind or s.candidate.kind == kind
        ]

    def kinds(self) -> list[str]:
        return sorted({s.candidate.kind for s in self._state.entities.values()})

    def count(self) -> int:
        return len(self._state.entities)


def _name_row(candidate: Candidate) -> NameRow:
    return NameRow(candidate.ref, candidate.kind, candidate.name, candidate.title)


def _document(stored: _Stored) -> DocumentRow:
    candidate = stored.candidate
    return DocumentRow(candidate.ref, candidate.data, stored.file, candidate.line)


class InlineExecutor(Executor):
    """Runs each call at once on the calling thread (for stores with nothing to wait for)."""

    def submit(self, fn: Callable[P, T], /, *args: P.args, **kwargs: P.kwargs) -> Future[T]:
        future: Future[T] = Future()
        try:
            future.set_result(fn(*args, **kwargs))
        except BaseException as exc:
            future.set_exception(exc)
        return future


class MemoryCatalog(OffloadedCatalog):
    """``CatalogQueries``, ``CatalogGraph`` and ``SearchQueries`` over entities in memory."""

    def __init__(self, entities: Iterable[Entity] = (), pool: Executor | None = None) -> None:
        self.rows = MemoryCatalogRows(entities)
        super().__init__(CatalogReader(self.rows), pool if pool is not None else InlineExecutor())

    @classmethod
    def from_documents(
        cls, documents: Iterable[Mapping[str, Any]], pool: Executor | None = None
    ) -> MemoryCatalog:
        """A catalog of entity documents (as parsed from YAML); an invalid one is an error."""
        entities = []
        for doc in documents:
            errors = validate_entity(doc)
            if errors:
                raise CatalogError(f"not a valid entity: {'; '.join(errors)}")
            entities.append(Entity.from_document(doc))
        return cls(entities, pool)

    def put(self, *entities: Entity) -> None:
        """Store ``entities`` (a catalog change: indexes are rebuilt on their next use)."""
        self.rows.put(*entities)

    def remove(self, *refs: EntityRef | str) -> None:
        self.rows.remove(*refs)
