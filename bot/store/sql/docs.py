"""The docs index in SQL: ``docs_sites``, ``docs_pages`` and ``docs_sections``.

``SqlDocsIndex`` is the indexer's store (``bot.ports.DocsIndexStore``, blocking: the indexer
is a post-sync step that runs off the loop). ``SqlDocs`` answers ``bot.ports.DocsQueries``:
each call is one hop to the store's worker threads, so a ``/docs`` search never runs on the
event loop. ``read_freshness`` is the plain read reports use inside their own connection.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import logging
from collections.abc import Iterable, Iterator, Sequence
from concurrent.futures import Executor
from typing import Any, TypeVar

from sqlalchemy import BindParameter, Connection, bindparam, delete, func, insert, select, update
from sqlalchemy.exc import SQLAlchemyError

from bot.catalog.problems import Problem
from bot.catalog.queries import run_blocking
from bot.docs.model import (
    DocPage,
    DocSection,
    DocsFreshness,
    DocSite,
    DocsWrites,
    IndexedEntity,
    StoredPage,
    StoredSite,
)
from bot.docs.search import DocQuery, SearchPage
from bot.store.db import Database
from bot.store.schema import docs_pages, docs_sections, docs_sites, entities, meta
from bot.store.sql.docs_search import DocsSearch, search, search_engine

log = logging.getLogger(__name__)

T = TypeVar("T")
ANALYZE_AFTER_PAGES = 1000  # pages split again in one pass before statistics are refreshed


def _utc(value: Any) -> dt.datetime | None:
    if isinstance(value, dt.datetime):
        return value if value.tzinfo else value.replace(tzinfo=dt.UTC)
    return None


def _freshness(row: Any) -> DocsFreshness:
    return DocsFreshness(
        entity_ref=row.entity_ref,
        techdocs_ref=row.techdocs_ref,
        site_name=row.site_name,
        pages=int(row.pages),
        sections=int(row.sections),
        words=int(row.words),
        docs_updated=_utc(row.docs_updated),
        code_updated=_utc(row.code_updated),
        dates_from=row.dates_from,
        nav_missing=tuple(json.loads(row.nav_missing)),
        folder_missing=bool(row.folder_missing),
        problems=tuple(Problem.from_dict(p) for p in json.loads(row.problems)),
    )


def _site(row: Any) -> DocSite:
    return DocSite(
        entity_ref=row.entity_ref,
        techdocs_ref=row.techdocs_ref,
        site_name=row.site_name,
        site_description=row.site_description,
        site_dir=row.site_dir,
        repo_path=row.repo_path,
        docs_dir=row.docs_dir,
        freshness=_freshness(row),
    )


def _site_rows(conn: Connection, refs: Iterable[str] | None) -> list[Any]:
    stmt = select(docs_sites).order_by(docs_sites.c.entity_ref)
    if refs is not None:
        wanted = sorted({r.lower() for r in refs})
        if not wanted:
            return []
        stmt = stmt.where(docs_sites.c.entity_ref.in_(wanted))
    return list(conn.execute(stmt).all())


def read_freshness(
    db: Database | Connection, refs: Iterable[str] | None = None
) -> dict[str, DocsFreshness]:
    """Freshness facts per entity ref (every entity with a techdocs-ref, or just ``refs``)."""
    if isinstance(db, Database):
        with db.engine.connect() as conn:
            rows = _site_rows(conn, refs)
    else:
        rows = _site_rows(db, refs)
    return {r.entity_ref: _freshness(r) for r in rows}


class SqlDocsReader:
    """The read side, blocking: what ``SqlDocs`` runs in its worker threads."""

    def __init__(self, db: Database) -> None:
        self.db = db
        self.engine: DocsSearch | None = search_engine(db)

    def site(self, ref: str) -> DocSite | None:
        with self.db.engine.connect() as conn:
            row = conn.execute(
                select(docs_sites).where(docs_sites.c.entity_ref == ref.lower())
            ).first()
        return None if row is None else _site(row)

    def sites(self, refs: Iterable[str] | None = None) -> dict[str, DocSite]:
        with self.db.engine.connect() as conn:
            rows = _site_rows(conn, refs)
        return {r.entity_ref: _site(r) for r in rows}

    def freshness(self, refs: Iterable[str] | None = None) -> dict[str, DocsFreshness]:
        return read_freshness(self.db, refs)

    def pages(self, ref: str, max_level: int = 2) -> list[DocPage]:
        ref = ref.lower()
        with self.db.engine.connect() as conn:
            page_rows = conn.execute(
                select(docs_pages)
                .where(docs_pages.c.entity_ref == ref)
                .order_by(docs_pages.c.position, docs_pages.c.path)
            ).all()
            section_rows = conn.execute(
                select(
                    docs_sections.c.page_id,
                    docs_sections.c.title,
                    docs_sections.c.anchor,
                    docs_sections.c.level,
                )
                .where(docs_sections.c.entity_ref == ref, docs_sections.c.level <= max_level)
                .order_by(docs_sections.c.page_id, docs_sections.c.position)
            ).all()
        by_page: dict[int, list[DocSection]] = {}
        for s in section_rows:
            by_page.setdefault(int(s.page_id), []).append(DocSection(s.title, s.anchor, s.level))
        return [
            DocPage(
                path=p.path,
                title=p.title,
                in_nav=bool(p.in_nav),
                word_count=int(p.word_count),
                last_updated=_utc(p.last_updated),
                updated_from=p.updated_from,
                sections=tuple(by_page.get(int(p.id), ())),
            )
            for p in page_rows
        ]

    def search(
        self, query: DocQuery, entity_ref: str | None = None, limit: int = 5, offset: int = 0
    ) -> SearchPage:
        if self.engine is None or query.empty:
            return SearchPage((), False)
        ref = entity_ref.lower() if entity_ref else None
        with self.db.engine.connect() as conn:
            return search(conn, self.engine, query, ref, limit, offset)


class SqlDocs:
    """``bot.ports.DocsQueries`` over the database; the reads run in ``pool``."""

    def __init__(self, db: Database, pool: Executor) -> None:
        self.reader = SqlDocsReader(db)
        self.pool = pool

    @property
    def searchable(self) -> bool:
        return self.reader.engine is not None

    async def site(self, ref: str) -> DocSite | None:
        return await run_blocking(self.pool, self.reader.site, ref)

    async def sites(self, refs: Iterable[str] | None = None) -> dict[str, DocSite]:
        wanted = None if refs is None else list(refs)
        return await run_blocking(self.pool, self.reader.sites, wanted)

    async def pages(self, ref: str, max_level: int = 2) -> list[DocPage]:
        return await run_blocking(self.pool, self.reader.pages, ref, max_level)

    async def freshness(self, refs: Iterable[str] | None = None) -> dict[str, DocsFreshness]:
        wanted = None if refs is None else list(refs)
        return await run_blocking(self.pool, self.reader.freshness, wanted)

    async def search(
        self, query: DocQuery, entity_ref: str | None = None, limit: int = 5, offset: int = 0
    ) -> SearchPage:
        return await run_blocking(self.pool, self.reader.search, query, entity_ref, limit, offset)


# --- the indexer's store -----------------------------------------------------------------------


def _chunks(items: Sequence[T], size: int = 500) -> Iterator[Sequence[T]]:
    for start in range(0, len(items), size):
        yield items[start : start + size]


class SqlDocsIndex:
    """``bot.ports.DocsIndexStore`` over the database (blocking)."""

    def __init__(self, db: Database) -> None:
        self.db = db

    def unsupported(self) -> str | None:
        if search_engine(self.db) is None:
            return (
                f"not indexed: docs search needs SQLite or PostgreSQL, not "
                f"{self.db.url.get_backend_name()}"
            )
        return None

    def annotated_entities(self, annotation: str) -> list[IndexedEntity]:
        """The entities whose JSON names ``annotation``, by ref.

        Finding them reads every entity's JSON (seconds at a million entities), so the refs
        found are kept in ``meta`` with the catalog generation they were found at: only a sync
        that changed the catalog changes an entity's JSON, and bumps the generation. At the
        same generation (a no-change sync's docs step, in any process) those refs are looked
        up by key instead.
        """
        key = "annotated:" + hashlib.sha256(annotation.encode()).hexdigest()[:40]
        columns = (
            entities.c.ref,
            entities.c.source,
            entities.c.file,
            entities.c.name,
            entities.c.title,
            entities.c.content_hash,
        )
        with self.db.engine.connect() as conn:
            generation = self.db.generation(conn)  # before the scan: an older one is safe
            refs = _refs_at(
                conn.execute(select(meta.c.value).where(meta.c.key == key)).scalar(), generation
            )
            if refs is not None:
                rows = [
                    row
                    for chunk in _chunks(refs)
                    for row in conn.execute(select(*columns).where(entities.c.ref.in_(chunk)))
                ]
                rows.sort(key=lambda r: r.ref)
            else:
                rows = list(
                    conn.execute(
                        select(*columns)
                        .where(entities.c.data.contains(f'"{annotation}"'))
                        .order_by(entities.c.ref)
                    )
                )
        if refs is None and not self.db.read_only:
            self._keep_refs(key, generation, [r.ref for r in rows])
        return [
            IndexedEntity(r.ref, r.source, r.file, r.name, r.title, r.content_hash) for r in rows
        ]

    def _keep_refs(self, key: str, generation: int, refs: list[str]) -> None:
        value = json.dumps({"generation": generation, "refs": refs}, separators=(",", ":"))
        try:
            with self.db.engine.begin() as conn:
                done = conn.execute(update(meta).where(meta.c.key == key).values(value=value))
                if not done.rowcount:
                    conn.execute(insert(meta).values(key=key, value=value))
        except SQLAlchemyError as exc:  # another process kept them first: it is only a cache
            log.info("annotated refs not kept (%s)", exc)

    def entity_documents(self, refs: Sequence[str]) -> list[tuple[str, str, str]]:
        out: list[tuple[str, str, str]] = []
        with self.db.engine.connect() as conn:
            for chunk in _chunks(refs):
                for ref, content_hash, data in conn.execute(
                    select(entities.c.ref, entities.c.content_hash, entities.c.data).where(
                        entities.c.ref.in_(chunk)
                    )
                ):
                    out.append((ref, content_hash, data))
        return out

    def stored(self) -> tuple[dict[str, StoredSite], dict[str, dict[str, StoredPage]]]:
        with self.db.engine.connect() as conn:
            sites = {
                r.entity_ref: StoredSite(
                    entity_ref=r.entity_ref,
                    source=r.source,
                    techdocs_ref=r.techdocs_ref,
                    input_hash=r.input_hash,
                    nav=r.nav,
                    site_name=r.site_name,
                    git_head=r.git_head,
                    pages=int(r.pages),
                    sections=int(r.sections),
                    words=int(r.words),
                    problems=r.problems,
                    indexed_at=r.indexed_at,
                    docs_updated=r.docs_updated,
                    code_updated=r.code_updated,
                    dates_from=r.dates_from,
                    docs_dir=r.docs_dir,
                    entity_hash=r.entity_hash,
                    stat=r.stat,
                )
                for r in conn.execute(select(docs_sites))
            }
            pages: dict[str, dict[str, StoredPage]] = {}
            for r in conn.execute(
                select(
                    docs_pages.c.id,
                    docs_pages.c.entity_ref,
                    docs_pages.c.path,
                    docs_pages.c.sha256,
                    docs_pages.c.title,
                    docs_pages.c.position,
                    docs_pages.c.in_nav,
                    docs_pages.c.word_count,
                    docs_pages.c.last_updated,
                    docs_pages.c.updated_from,
                )
            ):
                pages.setdefault(r.entity_ref, {})[r.path] = StoredPage(
                    id=int(r.id),
                    entity_ref=r.entity_ref,
                    path=r.path,
                    sha256=r.sha256,
                    title=r.title,
                    position=int(r.position),
                    in_nav=bool(r.in_nav),
                    word_count=int(r.word_count),
                    last_updated=r.last_updated,
                    updated_from=r.updated_from,
                )
        return sites, pages

    def remove_sites(self, refs: Sequence[str]) -> None:
        ids: BindParameter[Any] = bindparam("refs", expanding=True)
        with self.db.engine.begin() as conn:
            conn.execute(
                delete(docs_sections).where(docs_sections.c.entity_ref.in_(ids)), {"refs": refs}
            )
            conn.execute(delete(docs_pages).where(docs_pages.c.entity_ref.in_(ids)), {"refs": refs})
            conn.execute(delete(docs_sites).where(docs_sites.c.entity_ref.in_(ids)), {"refs": refs})

    def section_counts(self, refs: Sequence[str]) -> dict[int, int]:
        counts: dict[int, int] = {}
        refs_param: BindParameter[Any] = bindparam("refs", expanding=True)
        with self.db.engine.connect() as conn:
            for chunk in _chunks(refs):
                for page_id, count in conn.execute(
                    select(docs_sections.c.page_id, func.count())
                    .where(docs_sections.c.entity_ref.in_(refs_param))
                    .group_by(docs_sections.c.page_id),
                    {"refs": list(chunk)},
                ):
                    counts[int(page_id)] = int(count)
        return counts

    def site_text(self, ref: str) -> str | None:
        with self.db.engine.connect() as conn:
            row = conn.execute(
                select(docs_sections.c.site).where(docs_sections.c.entity_ref == ref).limit(1)
            ).first()
        return None if row is None else str(row.site)

    def write(self, writes: DocsWrites) -> None:
        ids: BindParameter[Any] = bindparam("ids", expanding=True)
        sections = list(writes.sections)
        with self.db.engine.begin() as conn:
            stale = [u["_id"] for u in writes.full_updates] + writes.removed_pages
            for chunk in _chunks(stale):
                conn.execute(
                    delete(docs_sections).where(docs_sections.c.page_id.in_(ids)),
                    {"ids": list(chunk)},
                )
            for chunk in _chunks(writes.removed_pages):
                conn.execute(
                    delete(docs_pages).where(docs_pages.c.id.in_(ids)), {"ids": list(chunk)}
                )
            by_id = docs_pages.c.id == bindparam("_id")
            for group in (writes.light_updates, writes.full_updates):
                if group:
                    conn.execute(update(docs_pages).where(by_id), group)
            if writes.new_pages:
                inserted = conn.execute(
                    insert(docs_pages).returning(docs_pages.c.id, sort_by_parameter_order=True),
                    [values for values, _rows in writes.new_pages],
                ).all()
                for (page_id,), (_values, rows) in zip(inserted, writes.new_pages, strict=True):
                    sections.extend({"page_id": int(page_id), **r} for r in rows)
            if sections:
                conn.execute(insert(docs_sections), sections)
            if writes.site_inserts:
                conn.execute(insert(docs_sites), writes.site_inserts)
            if writes.site_updates:
                conn.execute(
                    update(docs_sites).where(docs_sites.c.entity_ref == bindparam("_ref")),
                    writes.site_updates,
                )

    def section_total(self) -> int:
        with self.db.engine.connect() as conn:
            return int(conn.execute(select(func.count()).select_from(docs_sections)).scalar_one())

    def after_index(self, pages_indexed: int) -> None:
        if self.db.is_postgres and pages_indexed >= ANALYZE_AFTER_PAGES:
            # Fresh statistics, so the planner uses the GIN indexes for rare words and not
            # for common ones (autovacuum would get there, minutes later).
            with self.db.engine.begin() as conn:
                conn.exec_driver_sql("ANALYZE docs_sections")
                conn.exec_driver_sql("ANALYZE docs_pages")


def _refs_at(saved: str | None, generation: int) -> list[str] | None:
    """The refs kept in ``saved`` if they were found at ``generation``."""
    if not saved:
        return None
    try:
        found = json.loads(saved)
    except ValueError:
        return None
    if not isinstance(found, dict) or found.get("generation") != generation:
        return None
    refs = found.get("refs")
    if not isinstance(refs, list) or not all(isinstance(r, str) for r in refs):
        return None
    return refs
