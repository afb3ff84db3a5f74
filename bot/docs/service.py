"""Reading the docs index: sites, tables of contents, search, freshness facts and problems.

``DocsService`` is what commands use (``ctx.services.docs``); it asks a ``DocsQueries``
store (``bot.store.sql.docs.SqlDocs``, or ``bot.store.memory.docs.MemoryDocs``), so every
read is awaited and none runs on the event loop.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping

from bot.catalog.model import Entity
from bot.catalog.problems import Problem
from bot.docs.links import docs_link
from bot.docs.model import DocPage, DocSection, DocsFreshness, DocSite, DocsResults
from bot.docs.search import parse_query
from bot.docs.settings import DocsSettings
from bot.ports import DocsQueries

__all__ = [
    "DocPage",
    "DocSection",
    "DocSite",
    "DocsFreshness",
    "DocsResults",
    "DocsService",
]


class DocsService:
    """The docs index, read side."""

    def __init__(
        self, store: DocsQueries, settings: DocsSettings, backstage_url: str | None = None
    ) -> None:
        self.store = store
        self.settings = settings
        self.backstage_url = backstage_url

    async def site(self, ref: str) -> DocSite | None:
        return await self.store.site(ref)

    async def sites(self) -> list[DocSite]:
        """Every entity with a techdocs-ref, by ref."""
        return list((await self.store.sites()).values())

    async def sites_by_ref(self, refs: Iterable[str]) -> Mapping[str, DocSite]:
        """The sites of ``refs`` that have one, under the refs as given."""
        wanted = list(refs)
        found = await self.store.sites(wanted)
        return {ref: found[ref.lower()] for ref in wanted if ref.lower() in found}

    async def pages(self, ref: str, max_level: int = 2) -> list[DocPage]:
        """The entity's pages in nav order, each with its headings up to ``max_level``."""
        return await self.store.pages(ref, max_level)

    async def search(
        self, text: str, entity_ref: str | None = None, limit: int = 5, offset: int = 0
    ) -> DocsResults:
        """Search the docs; when whole words find nothing, try them as prefixes."""
        query = parse_query(text)
        if not self.store.searchable or query.empty:
            return DocsResults(query, (), False)
        found = await self.store.search(query, entity_ref, limit, offset)
        if found.hits or not query.has_exact or offset:
            return DocsResults(query, found.hits, found.more, broad=found.broad)
        prefixed = query.as_prefixes()
        retry = await self.store.search(prefixed, entity_ref, limit, offset)
        return DocsResults(
            prefixed, retry.hits, retry.more, by_prefix=bool(retry.hits), broad=retry.broad
        )

    async def problems(self, ref: str | None = None) -> list[Problem]:
        """Docs problems of one entity, or of all."""
        facts = await self.store.freshness([ref] if ref else None)
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
