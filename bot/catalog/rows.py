"""What the catalog's read side needs from a store: stored rows, read blocking.

``CatalogReader``, ``SearchCache`` and the graph walks (``bot.catalog.graph``) build their
answers and indexes from these rows; how the rows are stored is the store's business
(``bot.store.sql.catalog`` over the database tables, ``bot.store.memory.catalog`` in dicts).
Every method blocks: the event loop reaches them through the async ports in ``bot.ports``
(``bot.catalog.queries.OffloadedCatalog`` runs them in worker threads).

An entity's ``data`` is its document as JSON text, exactly as the sync stores it: parsing it is
the reader's work, so that every store hands over the same thing.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from contextlib import AbstractContextManager
from dataclasses import dataclass
from typing import NamedTuple, Protocol


class NameRow(NamedTuple):
    """What the name index holds of an entity."""

    ref: str  # lower-cased kind:namespace/name
    kind: str  # lower-cased
    name: str  # as written
    title: str | None


class DocumentRow(NamedTuple):
    """An entity's stored document (JSON text) and where it was read from."""

    ref: str
    data: str
    file: str | None
    line: int | None


class SearchRow(NamedTuple):
    """What the search index is built from: the document and its owner (lower-cased ref)."""

    ref: str
    owner_ref: str | None
    data: str


@dataclass(frozen=True)
class NamesSnapshot:
    """Every entity's names, and the documents of Users and Groups (profiles, chat ids), read
    at catalog ``generation``.

    ``names`` is streamed (read once, inside the ``with`` that ``CatalogRows.names`` opens): a
    million rows held in a list would cost the name index's build more than the index.
    """

    generation: int
    names: Iterator[NameRow]
    people: list[DocumentRow]


@dataclass(frozen=True)
class ListedEntity:
    """One stored entity as ``callboard list`` shows it."""

    ref: str
    kind: str
    owner_ref: str | None
    source: str
    file: str | None


@dataclass(frozen=True)
class CatalogChange:
    """What one sync in this process changed: the refs whose stored document or owner it
    added, changed or removed, and how many times it bumped the catalog generation (once per
    source that changed). An index built just before it can be updated from these refs alone
    when the generation is now exactly its own plus ``bumps`` (no other writer came between)."""

    refs: frozenset[str]
    bumps: int

    def small_for(self, entities: int) -> bool:
        """Is this change small enough, for an index of ``entities``, to update the index
        rather than rebuild it (``MAX_UPDATE_SHARE``)?"""
        return len(self.refs) <= entities * MAX_UPDATE_SHARE + UPDATE_ANYWAY

    def is_all_since(self, built_at: int, read_at: int) -> bool:
        """Is this change all that happened between an index built at generation ``built_at``
        and rows read at ``read_at`` (no other writer came between)?"""
        return read_at == built_at + self.bumps


MAX_UPDATE_SHARE = 0.05
UPDATE_ANYWAY = 1000
"""A sync that changed more than this share of the entities (and more than ``UPDATE_ANYWAY``)
rebuilds an index whole: an update costs a pass over every entity's columns and postings (or
names), plus reading and indexing the changed ones."""


class CatalogRows(Protocol):
    """Blocking reads of the stored catalog (call from a worker thread)."""

    def generation(self) -> int:
        """The catalog generation: changes whenever a sync changed what is stored."""
        ...

    def names(self) -> AbstractContextManager[NamesSnapshot]:
        """Every entity's names (and the Users' and Groups' documents), at one generation:
        ``with rows.names() as snapshot:`` (the names are read while it is open)."""
        ...

    def reading(self) -> AbstractContextManager[None]:
        """``with rows.reading(): ...``: the reads inside, in this thread, share one connection
        (one answer's several reads pay for one, not one each)."""
        ...

    def exact_names(self, names: Sequence[str], ref: str | None) -> list[NameRow]:
        """Entities whose lower-cased name is one of ``names`` (lower-cased), or whose ref is
        ``ref``."""
        ...

    def documents(self, refs: Sequence[str]) -> list[DocumentRow]:
        """The stored documents of ``refs`` (lower-cased); refs not stored are left out."""
        ...

    def documents_of_kind(self, kind: str, containing: str) -> list[DocumentRow]:
        """Documents of ``kind`` (lower-cased) whose JSON text may contain ``containing``: a
        pre-filter that may return more (the caller checks the parsed document), never less."""
        ...

    def relation_pairs(
        self, refs: Sequence[str], types: Sequence[str] = ()
    ) -> list[tuple[str, str, str]]:
        """``(source, type, target)`` of the relations on ``refs`` (lower-cased), of ``types``
        (every type when empty); duplicates may repeat."""
        ...

    def names_of(self, refs: Sequence[str]) -> NamesSnapshot:
        """The names of the stored entities among ``refs`` (lower-cased) and the documents of
        the Users and Groups among them, and the catalog generation they were read at (one
        snapshot): what a name index update reads. ``names`` is read already (few rows)."""
        ...

    def search_rows(self) -> Iterator[SearchRow]:
        """Every stored entity, for the search index."""
        ...

    def search_rows_of(self, refs: Sequence[str]) -> tuple[int, list[SearchRow]]:
        """The stored entities among ``refs`` (lower-cased), and the catalog generation they
        were read at (one snapshot): what a search index update reads."""
        ...

    def listing(self, kind: str | None = None) -> list[ListedEntity]:
        """Every stored entity (of ``kind``, lower-cased, when given), ordered by ref."""
        ...

    def kinds(self) -> list[str]:
        """The kinds the catalog holds, sorted."""
        ...

    def count(self) -> int:
        """How many entities are stored."""
        ...
