"""Reading the docs index: sites, tables of contents, search, freshness facts and problems.

``DocsService`` is what commands use (``ctx.services.docs``); ``read_freshness`` is the
plain function reports use for the freshness facts of many entities at once.
"""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from sqlalchemy import Connection, select

from bot.catalog.model import Entity
from bot.catalog.problems import Problem
from bot.docs.links import docs_link
from bot.docs.search import DocQuery, DocsSearch, SearchHit, parse_query, search, search_engine
from bot.docs.settings import DocsSettings
from bot.store.db import Database
from bot.store.schema import docs_pages, docs_sections, docs_sites


@dataclass(frozen=True)
class DocsFreshness:
    """How fresh one entity's docs are: the facts the stale-docs report and ``/docs`` show."""

    entity_ref: str
    techdocs_ref: str
    site_name: str | None
    pages: int
    sections: int
    words: int
    docs_updated: dt.datetime | None  # newest page (or mkdocs.yml) change
    code_updated: dt.datetime | None  # newest commit beside the docs, outside the docs folder
    dates_from: str | None  # "git", "shallow" (a shallow clone: too new) or "file" (no git)
    nav_missing: tuple[str, ...]  # pages listed in nav that do not exist
    folder_missing: bool  # the annotation is set but there is no docs folder
    problems: tuple[Problem, ...]

    def stale_reasons(self, now: dt.datetime, settings: DocsSettings) -> tuple[str, ...]:
        """Why these docs count as stale: too old, or too far behind the code (or empty)."""
        reasons: list[str] = []
        if self.docs_updated is not None:
            age = (now - self.docs_updated).days
            if age >= settings.stale_days:
                reasons.append(f"not updated for {age} days")
            if self.code_updated is not None:
                behind = (self.code_updated - self.docs_updated).days
                if behind >= settings.behind_code_days:
                    reasons.append(f"{behind} days behind the code")
        return tuple(reasons)


@dataclass(frozen=True)
class DocSection:
    """A heading of a page, for tables of contents."""

    title: str
    anchor: str
    level: int


@dataclass(frozen=True)
class DocPage:
    """One indexed page."""

    path: str  # inside the docs folder
    title: str
    in_nav: bool
    word_count: int
    last_updated: dt.datetime | None
    updated_from: str | None
    sections: tuple[DocSection, ...] = ()


@dataclass(frozen=True)
class DocSite:
    """An entity's docs site and where it lives."""

    entity_ref: str
    techdocs_ref: str
    site_name: str | None
    site_description: str | None
    site_dir: str | None
    repo_path: str | None
    docs_dir: str | None
    freshness: DocsFreshness


@dataclass(frozen=True)
class DocsResults:
    """A page of search results, and how the query was read."""

    query: DocQuery
    hits: tuple[SearchHit, ...]
    more: bool
    by_prefix: bool = False  # nothing matched whole words; these match word prefixes
    broad: bool = False  # so many sections matched that only the first MAX_RANKED were ranked


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


def read_freshness(
    db: Database | Connection, refs: Iterable[str] | None = None
) -> dict[str, DocsFreshness]:
    """Freshness facts per entity ref (every entity with a techdocs-ref, or just ``refs``)."""
    stmt = select(docs_sites).order_by(docs_sites.c.entity_ref)
    if refs is not None:
        wanted = sorted({r.lower() for r in refs})
        if not wanted:
            return {}
        stmt = stmt.where(docs_sites.c.entity_ref.in_(wanted))
    if isinstance(db, Database):
        with db.engine.connect() as conn:
            rows = conn.execute(stmt).all()
    else:
        rows = db.execute(stmt).all()
    return {r.entity_ref: _freshness(r) for r in rows}


class DocsService:
    """The docs index, read side."""

    def __init__(
        self, db: Database, settings: DocsSettings, backstage_url: str | None = None
    ) -> None:
        self.db = db
        self.settings = settings
        self.backstage_url = backstage_url
        self.engine: DocsSearch | None = search_engine(db)

    def site(self, ref: str) -> DocSite | None:
        with self.db.engine.connect() as conn:
            row = conn.execute(
                select(docs_sites).where(docs_sites.c.entity_ref == ref.lower())
            ).first()
        if row is None:
            return None
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

    def sites(self) -> list[DocSite]:
        """Every entity with a techdocs-ref, by ref."""
        found = []
        for ref in read_freshness(self.db):
            site = self.site(ref)
            if site is not None:
                found.append(site)
        return found

    def pages(self, ref: str, max_level: int = 2) -> list[DocPage]:
        """The entity's pages in nav order, each with its headings up to ``max_level``."""
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
        self, text: str, entity_ref: str | None = None, limit: int = 5, offset: int = 0
    ) -> DocsResults:
        """Search the docs; when whole words find nothing, try them as prefixes."""
        query = parse_query(text)
        if self.engine is None or query.empty:
            return DocsResults(query, (), False)
        ref = entity_ref.lower() if entity_ref else None
        with self.db.engine.connect() as conn:
            found = search(conn, self.engine, query, ref, limit, offset)
            if found.hits or not query.has_exact or offset:
                return DocsResults(query, found.hits, found.more, broad=found.broad)
            prefixed = query.as_prefixes()
            retry = search(conn, self.engine, prefixed, ref, limit, offset)
        return DocsResults(
            prefixed, retry.hits, retry.more, by_prefix=bool(retry.hits), broad=retry.broad
        )

    def problems(self, ref: str | None = None) -> list[Problem]:
        """Docs problems of one entity, or of all."""
        facts = read_freshness(self.db, [ref] if ref else None)
        return [p for f in facts.values() for p in f.problems]

    def link(
        self, entity: Entity, site: DocSite, page: str, anchor: str = "", heading: str | None = None
    ) -> str | None:
        """Where a page (and section) of ``entity``'s docs can be read."""
        return docs_link(
            entity,
            pattern=self.settings.url_pattern,
            backstage_url=self.backstage_url,
            techdocs_ref=site.techdocs_ref,
            repo_path=site.repo_path,
            docs_dir=site.docs_dir,
            page=page,
            anchor=anchor,
            heading=heading,
        )

    def sites_by_ref(self, refs: Iterable[str]) -> Mapping[str, DocSite]:
        out = {}
        for ref in refs:
            site = self.site(ref)
            if site is not None:
                out[ref] = site
        return out
