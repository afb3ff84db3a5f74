"""What the docs index holds, as the core sees it: sites, pages, headings, freshness facts,
and the rows the indexer compares and writes (``DocsIndexStore`` in ``bot.ports``)."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from typing import Any

from bot.catalog.problems import Problem
from bot.docs.search import DocQuery, SearchHit
from bot.docs.settings import DocsSettings


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


# --- the indexer's side ----------------------------------------------------------------------


@dataclass(frozen=True)
class IndexedEntity:
    """A catalog entity that may have docs: where it came from, and its content hash."""

    ref: str
    source: str
    file: str | None
    name: str
    title: str | None
    content_hash: str


@dataclass(frozen=True)
class StoredSite:
    """A site as the last indexing pass stored it."""

    entity_ref: str
    source: str
    techdocs_ref: str
    input_hash: str | None
    nav: str  # JSON
    site_name: str | None
    git_head: str | None
    pages: int
    sections: int
    words: int
    problems: str  # JSON
    indexed_at: dt.datetime
    docs_updated: dt.datetime | None
    code_updated: dt.datetime | None
    dates_from: str | None
    docs_dir: str | None = None
    entity_hash: str | None = None  # the entity's content hash when last indexed
    stat: str | None = None  # hash of the site's file stats then (``None``: read it)


@dataclass(frozen=True)
class StoredPage:
    """A page as the last indexing pass stored it."""

    id: int
    entity_ref: str
    path: str
    sha256: str
    title: str
    position: int
    in_nav: bool
    word_count: int
    last_updated: dt.datetime | None
    updated_from: str | None


@dataclass
class DocsWrites:
    """What one batch of sites writes (column values by name), in a few bulk statements."""

    site_inserts: list[dict[str, Any]] = field(default_factory=list)
    site_updates: list[dict[str, Any]] = field(default_factory=list)  # "_ref" names the site
    light_updates: list[dict[str, Any]] = field(default_factory=list)  # order and dates
    full_updates: list[dict[str, Any]] = field(default_factory=list)  # a page split again
    new_pages: list[tuple[dict[str, Any], list[dict[str, Any]]]] = field(default_factory=list)
    sections: list[dict[str, Any]] = field(default_factory=list)  # of pages split again
    removed_pages: list[int] = field(default_factory=list)

    def light(
        self,
        page: StoredPage,
        position: int,
        in_nav: bool,
        date: dt.datetime | None,
        source: str | None,
    ) -> None:
        self.light_updates.append(
            {
                "_id": page.id,
                "position": position,
                "in_nav": int(in_nav),
                "last_updated": date,
                "updated_from": source,
            }
        )

    def page(self, page_id: int | None, values: dict[str, Any], rows: list[dict[str, Any]]) -> None:
        if page_id is None:
            self.new_pages.append((values, rows))
            return
        self.full_updates.append({"_id": page_id, **values})
        self.sections.extend({"page_id": page_id, **r} for r in rows)
