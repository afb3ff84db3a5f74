"""The sync's store: what a source's sync reads of the store, and the writing of its ``Plan``.

The decisions are ``bot.catalog.reconcile``'s; this module only reads the facts they need and
executes the plan in the source's write transaction: updates and inserts of entities (all at
once, else row by row in savepoints, so a row the database refuses costs only that entity),
relations, the change log, the source's files and problems, its status row and version.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import hashlib
import json
import logging
from collections.abc import Collection, Iterable, Iterator, Mapping, Sequence
from typing import Any

from sqlalchemy import Connection, bindparam, delete, func, insert, select, update
from sqlalchemy.exc import SQLAlchemyError

from bot.catalog import fidelity
from bot.catalog.candidates import Candidate
from bot.catalog.problems import Problem
from bot.catalog.reconcile import FileRow, Plan, StoredEntity
from bot.errors import StoreError
from bot.ports import KnownFileRow, SourceMoved
from bot.store.db import Database, bulk_insert, bump_generation
from bot.store.schema import (
    PROBLEM_COLUMNS,
    catalog_files,
    changes,
    entities,
    meta,
    problems,
    relations,
    source_status,
)

log = logging.getLogger(__name__)

_CHUNK = 500  # refs in one IN (...) list
_WRITE_BATCH = 5000  # rows built and written at a time


JSON_STEP = 2048  # strings of a list encoded by one ``json.dumps`` call in ``json_list``


def json_list(items: Sequence[str]) -> str:
    """``json.dumps(list(items))``, the same text, encoded a slice at a time: a Location that
    globs a catalog's repositories names tens of thousands of files, megabytes of JSON that one
    call encodes with the GIL held (18 ms for 50,000 paths on an idle machine, 47 ms measured
    as an event-loop stall during a sync)."""
    if len(items) <= JSON_STEP:
        return json.dumps(list(items))
    parts = [
        json.dumps(list(items[start : start + JSON_STEP]))[1:-1]
        for start in range(0, len(items), JSON_STEP)
    ]
    return "[" + ", ".join(parts) + "]"


def _json_tuple(text: str) -> tuple[str, ...]:
    return () if text == "[]" else tuple(json.loads(text))  # most files have no children


def _chunks(items: Sequence[Any], size: int = _CHUNK) -> Iterable[Sequence[Any]]:
    for start in range(0, len(items), size):
        yield items[start : start + size]


def _clean(text: str | None) -> str | None:
    """Text as the store can hold it (PostgreSQL refuses NUL characters)."""
    return text.replace("\0", "") if text and "\0" in text else text


def _reason(exc: Exception) -> str:
    orig = getattr(exc, "orig", None)
    return (str(orig or exc).strip().splitlines() or [type(exc).__name__])[0][:300]


def _version_key(source_name: str) -> str:
    return "source-version:" + hashlib.sha256(source_name.encode()).hexdigest()[:40]


def source_version(conn: Connection, source_name: str) -> int:
    """How many syncs have written this source (compared before and after reading it)."""
    value = conn.execute(
        select(meta.c.value).where(meta.c.key == _version_key(source_name))
    ).scalar()
    return int(value) if value else 0


def _bump_source_version(conn: Connection, source_name: str) -> None:
    key = _version_key(source_name)
    current = conn.execute(select(meta.c.value).where(meta.c.key == key)).scalar()
    if current is None:
        conn.execute(insert(meta).values(key=key, value="1"))
    else:
        conn.execute(update(meta).where(meta.c.key == key).values(value=str(int(current) + 1)))


def problem_row(source: str, p: Problem, now: Any) -> dict[str, Any]:
    return {
        "source": source,
        "file": _clean(p.file[:1024] if p.file else p.file),
        "line": p.line,
        "entity": _clean(p.entity[:320] if p.entity else p.entity),  # an invalid one's name
        "level": p.level,
        "message": _clean(p.message[:4000]),
        "created_at": now,
    }


def _entity_row(cand: Candidate, source_name: str, now: Any) -> dict[str, Any]:
    return {
        "ref": cand.ref,
        "kind": cand.kind,
        "namespace": cand.namespace,
        "name": cand.name,
        "title": cand.title,
        "description": cand.description,
        "owner_ref": cand.owner,
        # Free text in Backstage; the columns are for display and filters, the data keeps all.
        "spec_type": cand.spec_type[:255] if cand.spec_type else cand.spec_type,
        "lifecycle": cand.lifecycle[:255] if cand.lifecycle else cand.lifecycle,
        "source": source_name,
        "file": cand.file,
        "line": cand.line,
        "data": cand.data,
        "content_hash": cand.content_hash,
        "created_at": now,
        "updated_at": now,
    }


def _stored_problems(conn: Connection, source_name: str) -> list[Problem]:
    return [
        Problem.from_dict(dict(r._mapping))
        for r in conn.execute(
            select(*PROBLEM_COLUMNS).where(problems.c.source == source_name).order_by(problems.c.id)
        )
    ]


def _upsert_status(conn: Connection, name: str, **values: Any) -> None:
    found = conn.execute(select(source_status.c.name).where(source_status.c.name == name)).first()
    if found is None:
        values.setdefault("entity_count", 0)
        conn.execute(insert(source_status).values(name=name, **values))
    else:
        conn.execute(update(source_status).where(source_status.c.name == name).values(**values))


def _write_entities(
    conn: Connection, inserts: list[dict[str, Any]], updates: list[dict[str, Any]]
) -> dict[str, str]:
    """Write the entity rows; the refs the database refused, with its reason.

    All at once first (the fast path); when that fails, row by row, each in a savepoint,
    so one row the database cannot hold never costs the rest of the source.
    """
    statement = update(entities).where(entities.c.ref == bindparam("_ref"))
    try:
        with conn.begin_nested():
            if updates:
                conn.execute(statement, updates)
            bulk_insert(conn, entities, inserts)
        return {}
    except (SQLAlchemyError, TypeError, ValueError) as exc:
        log.warning("writing entities failed (%s); trying them one by one", _reason(exc))
    refused: dict[str, str] = {}
    for row in updates:
        try:
            with conn.begin_nested():
                conn.execute(statement, [row])
        except (SQLAlchemyError, TypeError, ValueError) as exc:
            refused[row["_ref"]] = _reason(exc)
    for row in inserts:
        try:
            with conn.begin_nested():
                bulk_insert(conn, entities, [row])
        except (SQLAlchemyError, TypeError, ValueError) as exc:
            refused[row["ref"]] = _reason(exc)
    return refused


class SqlSourceWriter:
    """One source's write transaction (``SourceWriter``), on a SQLAlchemy connection."""

    def __init__(self, conn: Connection, source: str) -> None:
        self.conn = conn
        self.source = source
        self._none_stored: bool | None = None  # the entities table was empty when first asked
        self._shared: dict[str, str] = {}
        self._files: tuple[FileRow, ...] | None = None  # as the last plan wrote them
        self.written = 0  # entities written or removed (``ANALYZE_AFTER_ROWS``)

    def stored_entities(self, refs: Collection[str]) -> dict[str, StoredEntity]:
        """The stored entities among ``refs``, in chunks (a streamed sync asks a batch's)."""
        if self._none_stored is None:  # asked before this transaction writes any entity
            self._none_stored = self.conn.execute(select(entities.c.ref).limit(1)).first() is None
        if self._none_stored:
            return {}  # a cold sync: nothing to look up, a million times
        # One string per distinct source, file and owner (the driver makes one per row).
        one = self._shared.setdefault
        columns = (
            entities.c.ref,
            entities.c.source,
            entities.c.file,
            entities.c.owner_ref,
            entities.c.content_hash,
        )
        found: dict[str, StoredEntity] = {}
        for chunk in _chunks(list(refs)):
            for ref, source, file, owner, content_hash in self.conn.execute(
                select(*columns).where(entities.c.ref.in_(chunk))
            ):
                found[ref] = StoredEntity(
                    one(source, source),
                    file if file is None else one(file, file),
                    owner if owner is None else one(owner, owner),
                    content_hash,
                )
        return found

    def stored_problems(self) -> list[Problem]:
        return _stored_problems(self.conn, self.source)

    def execute(self, plan: Plan, now: dt.datetime) -> Plan:
        """Write ``plan``; the plan as written (without the entities the database refused)."""
        conn, source = self.conn, self.source
        # Rows are built and written a batch at a time: a cold sync of a million entities
        # must not hold a million row dicts (and the relations' several million) at once.
        refused: dict[str, str] = {}
        for batch in _chunks(plan.upserts, _WRITE_BATCH):
            inserts: list[dict[str, Any]] = []
            updates: list[dict[str, Any]] = []
            for u in batch:
                values = _entity_row(u.candidate, source, now)
                if u.before is None:
                    inserts.append(values)
                else:
                    values["_ref"] = values.pop("ref")
                    del values["created_at"]  # an entity keeps the time it first appeared
                    updates.append(values)
            refused.update(_write_entities(conn, inserts, updates))
        plan = plan.refused(refused)
        self.written += len(plan.upserts) + len(plan.removals)
        relinked = [u for u in plan.upserts if u.relink]
        gone = [*plan.removals, *(u.candidate.ref for u in relinked if u.before is not None)]
        for chunk in _chunks(gone):
            conn.execute(delete(relations).where(relations.c.emitter_ref.in_(chunk)))
        for chunk in _chunks(plan.removals):
            conn.execute(delete(entities).where(entities.c.ref.in_(chunk)))
        rel_rows: list[dict[str, Any]] = []
        for u in relinked:
            ref = u.candidate.ref
            rel_rows.extend(
                {"source_ref": s, "type": t, "target_ref": target, "emitter_ref": ref}
                for s, t, target in u.candidate.relations
            )
            if len(rel_rows) >= _WRITE_BATCH:
                bulk_insert(conn, relations, rel_rows)
                rel_rows = []
        bulk_insert(conn, relations, rel_rows)
        logged = [c for c in plan.changes if c.logged]
        for batch in _chunks(logged, _WRITE_BATCH):
            change_rows = [
                {
                    "at": now,
                    "source": source,
                    "ref": c.ref,
                    "change": c.kind,
                    "old_owner": c.old_owner,
                    "new_owner": c.new_owner,
                }
                for c in batch
            ]
            bulk_insert(conn, changes, change_rows)
        if plan.partial:
            return plan  # the source's files and problems come with the last part

        # Files: positions, hashes, children, and which refs each holds now.
        conn.execute(delete(catalog_files).where(catalog_files.c.source == source))
        for batch in _chunks(plan.files, _WRITE_BATCH):  # not a row per file held at once
            file_rows = [
                {
                    "source": source,
                    "path": f.path,
                    "sha256": f.sha256,
                    "position": f.position,
                    "children": json_list(f.children),
                    "entity_refs": json_list(f.refs),
                    "stat": f.stat,
                }
                for f in batch
            ]
            bulk_insert(conn, catalog_files, file_rows)
        self._files = plan.files

        # Problems: replace those of every file read again, and of files that left.
        conn.execute(delete(problems).where(problems.c.source == source, problems.c.file.is_(None)))
        for chunk in _chunks(plan.stale_problem_files):
            conn.execute(
                delete(problems).where(problems.c.source == source, problems.c.file.in_(chunk))
            )
        bulk_insert(conn, problems, [problem_row(source, p, now) for p in plan.problems])
        return plan

    def replace_drop_notes(self, notes: Sequence[Problem] | None, now: dt.datetime) -> None:
        """Replace the source's warnings of what a default Backstage would not show.

        Callboard keeps the good siblings of a broken target; Backstage drops every entity its
        Location step emitted (``bot.catalog.fidelity``). Derived from the whole tree as
        stored, so they are replaced on every sync that writes.
        """
        conn, source = self.conn, self.source
        conn.execute(
            delete(problems).where(
                problems.c.source == source,
                problems.c.message.like(f"{fidelity.DROP_PREFIX}%"),
            )
        )
        if notes is None and self._files is not None:
            # The files as this transaction just wrote them, in walk order: not read back (a
            # million refs of JSON at a million entities).
            files = self._files
            facts = fidelity.file_facts(
                ((f.path, f.children, f.refs) for f in files), _stored_problems(conn, source)
            )
            notes = fidelity.drop_problems(facts, [f.path for f in files])
        elif notes is None:
            rows = conn.execution_options(yield_per=_WRITE_BATCH).execute(
                select(catalog_files.c.path, catalog_files.c.children, catalog_files.c.entity_refs)
                .where(catalog_files.c.source == source)
                .order_by(catalog_files.c.position)
            )
            stored = [
                (path, _json_tuple(children), tuple(json.loads(refs)))
                for path, children, refs in rows
            ]
            facts = fidelity.file_facts(stored, _stored_problems(conn, source))
            notes = fidelity.drop_problems(facts, [path for path, _children, _refs in stored])
        bulk_insert(conn, problems, [problem_row(source, p, now) for p in notes])

    def nothing_changed(
        self, fresh: Sequence[Problem], now: dt.datetime, stats: Mapping[str, str | None]
    ) -> None:
        """Every file is as last time: replace the problems of no file, store the new stats
        of files read again with the same content, rewrite nothing else."""
        if stats:
            statement = (
                update(catalog_files)
                .where(
                    catalog_files.c.source == self.source,
                    catalog_files.c.path == bindparam("_path"),
                )
                .values(stat=bindparam("_stat"))
            )
            params = [{"_path": path, "_stat": text} for path, text in stats.items()]
            for chunk in _chunks(params, _WRITE_BATCH):
                self.conn.execute(statement, list(chunk))
        # Problems of no file describe the last run (a failure this run recovered from).
        self.conn.execute(
            delete(problems).where(problems.c.source == self.source, problems.c.file.is_(None))
        )
        if fresh:
            self.conn.execute(insert(problems), [problem_row(self.source, p, now) for p in fresh])

    def succeeded(
        self, source_type: str, location: str | None, now: dt.datetime
    ) -> tuple[list[Problem], int]:
        """Record a successful run; the source's stored problems and entity count."""
        found = _stored_problems(self.conn, self.source)
        count = int(
            self.conn.execute(
                select(func.count()).select_from(entities).where(entities.c.source == self.source)
            ).scalar_one()
        )
        _upsert_status(
            self.conn,
            self.source,
            type=source_type,
            location=location,
            last_attempt=now,
            last_success=now,
            last_error=None,
            entity_count=count,
        )
        return found, count

    def finish(self, changed: bool) -> None:
        self._files = None  # the caller frees the plan's files in steps (``release_in_steps``)
        _bump_source_version(self.conn, self.source)
        if changed:
            bump_generation(self.conn)


ANALYZE_AFTER_ROWS = 10_000
"""Entities written or removed by one source's sync, on PostgreSQL, before the catalog tables'
statistics are refreshed (``ANALYZE``: about a second at a million entities)."""

SYNC_CACHE_KIB = 131_072
"""SQLite's page cache for a sync's write transaction, in KiB (the default is 2 MB): a cold
sync of a million entities inserts into indexes far larger than that, and each miss is a
read of the file (about a quarter of the insert time at 1.5M relation rows)."""


@contextlib.contextmanager
def _large_page_cache(conn: Connection) -> Iterator[None]:
    """On SQLite, a larger page cache while the sync writes; the connection's own after."""
    if conn.dialect.name != "sqlite":
        yield
        return
    before = conn.exec_driver_sql("PRAGMA cache_size").scalar()
    conn.exec_driver_sql(f"PRAGMA cache_size = -{SYNC_CACHE_KIB}")
    try:
        yield
    finally:
        conn.exec_driver_sql(f"PRAGMA cache_size = {int(before or -2000)}")


class SqlSyncStore:
    """The sync's store (``SyncStore``) over a SQLAlchemy database."""

    def __init__(self, db: Database) -> None:
        self.db = db

    @property
    def read_only(self) -> bool:
        return self.db.read_only

    def known_files(self, source: str) -> tuple[int, list[KnownFileRow]]:
        with self.db.engine.connect() as conn:
            version = source_version(conn, source)
            # Streamed: ``all()`` makes every row object in one C call (a file per repository:
            # tens of milliseconds at a million entities, the GIL held).
            rows = conn.execution_options(yield_per=_WRITE_BATCH).execute(
                select(
                    catalog_files.c.path,
                    catalog_files.c.sha256,
                    catalog_files.c.children,
                    catalog_files.c.entity_refs,
                    catalog_files.c.position,
                    catalog_files.c.stat,
                ).where(catalog_files.c.source == source)
            )
            known = [
                KnownFileRow(path, sha256 or "", _json_tuple(children), refs_json, position, stat)
                for path, sha256, children, refs_json, position, stat in rows
            ]
        return version, known

    @contextlib.contextmanager
    def writing(self, source: str, version: int) -> Iterator[SqlSourceWriter]:
        """The source's write transaction, under its sync lock; ``SourceMoved`` if another sync
        wrote the source since ``version``; ``StoreError`` (rolled back) if the database
        refused."""
        try:
            with self.db.write_transaction() as conn:
                # One sync of a source at a time, across processes; and none on stale reads.
                self.db.lock_source(conn, source)
                if source_version(conn, source) != version:
                    raise SourceMoved
                with _large_page_cache(conn):
                    writer = SqlSourceWriter(conn, source)
                    yield writer
            if self.db.is_postgres and writer.written >= ANALYZE_AFTER_ROWS:
                # Fresh statistics once committed: after a cold sync of a million entities
                # the planner knew none and chose scans for the relation look-ups (/deps p99
                # 41 ms; autovacuum would get there, minutes later).
                with self.db.engine.begin() as conn:
                    conn.exec_driver_sql("ANALYZE entities")
                    conn.exec_driver_sql("ANALYZE relations")
        except SQLAlchemyError as exc:
            log.exception("source %s: writing the catalog failed", source)
            reason = str(getattr(exc, "orig", None) or exc).strip().splitlines()[0]
            raise StoreError(reason) from exc

    def failed(
        self,
        source: str,
        source_type: str,
        location: str | None,
        error: str | None,
        found: Sequence[Problem],
        duration_ms: int,
        now: dt.datetime,
    ) -> None:
        """Record a failed run: its error, and the problems of no file replaced by ``found``."""
        try:
            with self.db.engine.begin() as conn:
                _upsert_status(
                    conn,
                    source,
                    type=source_type,
                    location=location,
                    last_attempt=now,
                    last_error=_clean(error),
                    duration_ms=duration_ms,
                )
                conn.execute(
                    delete(problems).where(problems.c.source == source, problems.c.file.is_(None))
                )
                conn.execute(insert(problems), [problem_row(source, p, now) for p in found])
        except SQLAlchemyError as exc:
            raise StoreError(str(exc)) from exc

    def took(self, source: str, duration_ms: int) -> None:
        with self.db.engine.begin() as conn:
            conn.execute(
                update(source_status)
                .where(source_status.c.name == source)
                .values(duration_ms=duration_ms)
            )
