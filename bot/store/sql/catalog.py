"""The catalog's read SQL: the one place the ``entities`` and ``relations`` tables are read for
answers (``CatalogRows`` over a ``Database``).

Blocking, like every SQLAlchemy call: the readers built on it (``CatalogReader``,
``SearchCache``, the graph walks) run in worker threads, reached through the async ports.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from typing import Any

from sqlalchemy import (
    ARRAY,
    ColumnElement,
    CompoundSelect,
    Connection,
    String,
    any_,
    bindparam,
    func,
    literal_column,
    or_,
    select,
    union_all,
)

from bot.catalog.model import CANONICAL, DERIVED, REVERSE
from bot.catalog.rows import DocumentRow, ListedEntity, NameRow, NamesSnapshot, SearchRow
from bot.store.db import Database
from bot.store.schema import entities, relations

CHUNK = 500  # refs per IN (...) list: far below every database's parameter limit
NAME_BATCH = 10_000  # name rows fetched at a time while the name index is built


def _relations_of(
    one_of: Callable[[ColumnElement[str], str], ColumnElement[bool]], typed: bool
) -> CompoundSelect[Any]:
    """The relations on some refs, as one statement: those stored with a ref as source
    (``ix_relations_source_type``) and, swapped, those of a canonical type stored with it as
    target (``ix_relations_target_type``). Each relation is stored once, in its canonical
    direction (``bot.catalog.model.canonical``). ``one_of(column, name)``: the column is one
    of the values of the parameter ``name``; ``typed``: of the types ``types`` (stored) and
    ``derived`` (read swapped), else of every type."""
    source = [one_of(relations.c.source_ref, "refs")]
    target = [one_of(relations.c.target_ref, "refs")]
    if typed:
        source.append(one_of(relations.c.type, "types"))
        target.append(one_of(relations.c.type, "derived"))
    else:
        target.append(relations.c.type.in_(sorted(CANONICAL)))
    return union_all(
        select(
            relations.c.source_ref.label("ref"),
            relations.c.type,
            relations.c.target_ref.label("other"),
            literal_column("0").label("swapped"),
        ).where(*source),
        select(
            relations.c.target_ref, relations.c.type, relations.c.source_ref, literal_column("1")
        ).where(*target),
    )


def _in_list(column: ColumnElement[str], name: str) -> ColumnElement[bool]:
    return column.in_(bindparam(name, expanding=True))


def _in_array(column: ColumnElement[str], name: str) -> ColumnElement[bool]:
    return column == any_(bindparam(name, type_=ARRAY(String)))


# Compiled once: expanding parameters take each chunk's refs.
_RELATIONS_OF = _relations_of(_in_list, typed=True)
_ALL_RELATIONS_OF = _relations_of(_in_list, typed=False)
# PostgreSQL: the same reads with array parameters (``= ANY(:refs)``), one SQL text whatever
# the number of refs, so the driver prepares it once per connection and the server plans it
# once (an expanded IN list is a new statement for every length: parsed and planned each time,
# twice per hop since the reverse look-up).
_PG_RELATIONS_OF = _relations_of(_in_array, typed=True)
_PG_ALL_RELATIONS_OF = _relations_of(_in_array, typed=False)
_NAMES = select(entities.c.ref, entities.c.kind, entities.c.name, entities.c.title)
_DOCUMENTS = select(entities.c.ref, entities.c.data, entities.c.file, entities.c.line)
_DOCUMENTS_OF = _DOCUMENTS.where(entities.c.ref.in_(bindparam("refs", expanding=True)))


class SqlCatalogRows:
    """``CatalogRows`` over the database's ``entities`` and ``relations`` tables."""

    def __init__(self, db: Database) -> None:
        self.db = db
        self._held = threading.local()  # the connection of a ``reading()`` in this thread

    @contextmanager
    def reading(self) -> Iterator[None]:
        if getattr(self._held, "conn", None) is not None:
            yield  # already inside one: the outer one's connection serves
            return
        with self.db.engine.connect() as conn:
            self._held.conn = conn
            try:
                yield
            finally:
                self._held.conn = None

    @contextmanager
    def _connect(self) -> Iterator[Connection]:
        """The connection of this thread's ``reading()``, else one of its own."""
        held: Connection | None = getattr(self._held, "conn", None)
        if held is not None:
            yield held
            return
        with self.db.engine.connect() as conn:
            yield conn

    def generation(self) -> int:
        with self._connect() as conn:
            return self.db.generation(conn)

    @contextmanager
    def names(self) -> Iterator[NamesSnapshot]:
        with self.db.engine.connect() as conn:
            generation = self.db.generation(conn)
            people = [
                DocumentRow(*r)
                for r in conn.execute(_DOCUMENTS.where(entities.c.kind.in_(("user", "group"))))
            ]
            # Streamed in batches (a server-side cursor on PostgreSQL), not a list of a
            # million rows; the people are read first, so one connection reads both.
            result = conn.execution_options(yield_per=NAME_BATCH).execute(_NAMES)
            yield NamesSnapshot(generation, (NameRow(*r) for r in result), people)

    def names_of(self, refs: Sequence[str]) -> NamesSnapshot:
        wanted = sorted(set(refs))
        names: list[NameRow] = []
        people: list[DocumentRow] = []
        person = entities.c.kind.in_(("user", "group"))
        with self._snapshot() as conn:
            generation = self.db.generation(conn)
            for start in range(0, len(wanted), CHUNK):
                chunk = wanted[start : start + CHUNK]
                names.extend(
                    NameRow(*r) for r in conn.execute(_NAMES.where(entities.c.ref.in_(chunk)))
                )
                people.extend(
                    DocumentRow(*r)
                    for r in conn.execute(_DOCUMENTS.where(entities.c.ref.in_(chunk), person))
                )
        return NamesSnapshot(generation, iter(names), people)

    @contextmanager
    def _snapshot(self) -> Iterator[Connection]:
        """A connection whose reads all see one committed state: a read transaction on
        SQLite (its reads otherwise run each on its own), repeatable read on PostgreSQL (read
        committed takes a snapshot per statement)."""
        with self.db.engine.connect() as conn:
            if self.db.is_sqlite:
                conn = conn.execution_options(sqlite_begin="DEFERRED")
            else:
                conn = conn.execution_options(isolation_level="REPEATABLE READ")
            with conn.begin():
                yield conn

    def exact_names(self, names: Sequence[str], ref: str | None) -> list[NameRow]:
        wanted: list[ColumnElement[bool]] = [func.lower(entities.c.name).in_(sorted(names))]
        if ref is not None:
            wanted.append(entities.c.ref == ref)
        with self._connect() as conn:
            return [NameRow(*r) for r in conn.execute(_NAMES.where(or_(*wanted)))]

    def documents(self, refs: Sequence[str]) -> list[DocumentRow]:
        wanted = sorted(set(refs))
        out: list[DocumentRow] = []
        with self._connect() as conn:
            for start in range(0, len(wanted), CHUNK):
                chunk = wanted[start : start + CHUNK]
                out.extend(DocumentRow(*r) for r in conn.execute(_DOCUMENTS_OF, {"refs": chunk}))
        return out

    def documents_of_kind(self, kind: str, containing: str) -> list[DocumentRow]:
        # Case-insensitive on every database (PostgreSQL's LIKE is not): a pre-filter only.
        text = func.lower(entities.c.data)
        stmt = _DOCUMENTS.where(
            entities.c.kind == kind, text.contains(containing.lower(), autoescape=True)
        )
        with self.db.engine.connect() as conn:
            return [DocumentRow(*r) for r in conn.execute(stmt)]

    def relation_pairs(
        self, refs: Sequence[str], types: Sequence[str] = ()
    ) -> list[tuple[str, str, str]]:
        wanted = sorted(set(refs))
        asked = set(types)
        # A reverse type is read as its canonical pair, swapped; a canonical type as stored.
        stored = sorted(t for t in asked if t not in DERIVED)
        derived = sorted(DERIVED[t] for t in asked if t in DERIVED)
        out: list[tuple[str, str, str]] = []
        pg = self.db.is_postgres
        typed, every = (
            (_PG_RELATIONS_OF, _PG_ALL_RELATIONS_OF) if pg else (_RELATIONS_OF, _ALL_RELATIONS_OF)
        )
        with self._connect() as conn:
            for start in range(0, len(wanted), CHUNK):
                chunk = wanted[start : start + CHUNK]
                if types:
                    params = {"refs": chunk, "types": stored, "derived": derived}
                    rows = conn.execute(typed, params)
                else:
                    rows = conn.execute(every, {"refs": chunk})
                out.extend(
                    (ref, REVERSE[rel_type], other) if swapped else (ref, rel_type, other)
                    for ref, rel_type, other, swapped in rows
                )
        return out

    def search_rows_of(self, refs: Sequence[str]) -> tuple[int, list[SearchRow]]:
        wanted = sorted(set(refs))
        out: list[SearchRow] = []
        stmt = select(entities.c.ref, entities.c.owner_ref, entities.c.data)
        with self._snapshot() as conn:
            generation = self.db.generation(conn)
            for start in range(0, len(wanted), CHUNK):
                chunk = wanted[start : start + CHUNK]
                out.extend(
                    SearchRow(*r) for r in conn.execute(stmt.where(entities.c.ref.in_(chunk)))
                )
        return generation, out

    def search_rows(self) -> Iterator[SearchRow]:
        stmt = select(entities.c.ref, entities.c.owner_ref, entities.c.data)
        with self.db.engine.connect() as conn:
            for row in conn.execute(stmt):
                yield SearchRow(*row)

    def listing(self, kind: str | None = None) -> list[ListedEntity]:
        columns = (entities.c.ref, entities.c.kind, entities.c.owner_ref, entities.c.source)
        stmt = select(*columns, entities.c.file).order_by(entities.c.ref)
        if kind:
            stmt = stmt.where(entities.c.kind == kind)
        with self.db.engine.connect() as conn:
            return [ListedEntity(*r) for r in conn.execute(stmt)]

    def kinds(self) -> list[str]:
        with self.db.engine.connect() as conn:
            return sorted(conn.execute(select(entities.c.kind).distinct()).scalars())

    def count(self) -> int:
        with self.db.engine.connect() as conn:
            return int(conn.execute(select(func.count()).select_from(entities)).scalar() or 0)
