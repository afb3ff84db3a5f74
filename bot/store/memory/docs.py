"""The docs index in memory: ``DocsQueries`` and ``DocsIndexStore`` over dicts, for the fast
test tier (the indexer can write into it as it writes into SQL).

Search follows the same query language (``bot.docs.search``: every term must match, quoted
phrases, ``word*`` prefixes, stop words dropped) and the same order (title matches first
across all docs, then the rest; each page once, with its best section), scored by where the
words are (section title 10, page title 5, entity names 2, body 1). It does not stem:
``refunds`` does not find ``refund`` here, as it does in SQLite and PostgreSQL.
"""

from __future__ import annotations

import datetime as dt
import json
import re
import threading
from collections.abc import Callable, Iterable, Mapping, Sequence
from typing import Any

from bot.catalog.problems import Problem
from bot.chat import MARK_CLOSE, MARK_OPEN
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
from bot.docs.search import (
    MAX_RANKED,
    SNIPPET_WORDS,
    DocQuery,
    SearchHit,
    SearchPage,
    Term,
    lead,
)

_TOKEN = re.compile(r"[^\W_]+")
WEIGHTS = {"title": 10.0, "page_title": 5.0, "site": 2.0, "body": 1.0}


def _tokens(text: str) -> list[str]:
    return [t.lower() for t in _TOKEN.findall(text)]


def _has(term: Term, words: Sequence[str]) -> bool:
    n = len(term.tokens)
    for i in range(len(words) - n + 1):
        window = words[i : i + n]
        if list(window[:-1]) != list(term.tokens[:-1]):
            continue
        last, want = window[-1], term.tokens[-1]
        if last == want or (term.prefix and last.startswith(want)):
            return True
    return False


def _utc(value: Any) -> dt.datetime | None:
    if isinstance(value, dt.datetime):
        return value if value.tzinfo else value.replace(tzinfo=dt.UTC)
    return None


def _freshness(site: Mapping[str, Any]) -> DocsFreshness:
    return DocsFreshness(
        entity_ref=site["entity_ref"],
        techdocs_ref=site["techdocs_ref"],
        site_name=site["site_name"],
        pages=int(site["pages"]),
        sections=int(site["sections"]),
        words=int(site["words"]),
        docs_updated=_utc(site["docs_updated"]),
        code_updated=_utc(site["code_updated"]),
        dates_from=site["dates_from"],
        nav_missing=tuple(json.loads(site["nav_missing"])),
        folder_missing=bool(site["folder_missing"]),
        problems=tuple(Problem.from_dict(p) for p in json.loads(site["problems"])),
    )


def _site(site: Mapping[str, Any]) -> DocSite:
    return DocSite(
        entity_ref=site["entity_ref"],
        techdocs_ref=site["techdocs_ref"],
        site_name=site["site_name"],
        site_description=site["site_description"],
        site_dir=site["site_dir"],
        repo_path=site["repo_path"],
        docs_dir=site["docs_dir"],
        freshness=_freshness(site),
    )


class MemoryDocs:
    """``bot.ports.DocsQueries`` and ``bot.ports.DocsIndexStore`` in memory."""

    def __init__(
        self,
        entities: Iterable[tuple[IndexedEntity, str]] = (),
        catalog: Callable[[], Iterable[tuple[IndexedEntity, str]]] | None = None,
    ) -> None:
        """``entities`` are the catalog the indexer reads; or ``catalog``, read at each pass
        (a memory catalog's ``indexed_entities``, as the SQL store reads its tables)."""
        self._catalog = catalog
        self._lock = threading.Lock()
        self._entities: dict[str, tuple[IndexedEntity, str]] = {}
        self._sites: dict[str, dict[str, Any]] = {}
        self._pages: dict[int, dict[str, Any]] = {}
        self._sections: dict[int, dict[str, Any]] = {}
        self._next_page = 1
        self._next_section = 1
        self.set_entities(entities)

    def set_entities(self, entities: Iterable[tuple[IndexedEntity, str]]) -> None:
        """The catalog the indexer reads: each entity with its JSON."""
        with self._lock:
            self._entities = {e.ref: (e, data) for e, data in entities}

    # --- DocsQueries ---------------------------------------------------------------------------

    @property
    def searchable(self) -> bool:
        return True

    async def site(self, ref: str) -> DocSite | None:
        with self._lock:
            found = self._sites.get(ref.lower())
            return None if found is None else _site(found)

    async def sites(self, refs: Iterable[str] | None = None) -> dict[str, DocSite]:
        with self._lock:
            wanted = sorted(self._sites if refs is None else {r.lower() for r in refs})
            return {r: _site(self._sites[r]) for r in wanted if r in self._sites}

    async def freshness(self, refs: Iterable[str] | None = None) -> dict[str, DocsFreshness]:
        return {ref: site.freshness for ref, site in (await self.sites(refs)).items()}

    async def pages(self, ref: str, max_level: int = 2) -> list[DocPage]:
        ref = ref.lower()
        with self._lock:
            pages = sorted(
                (p for p in self._pages.values() if p["entity_ref"] == ref),
                key=lambda p: (p["position"], p["path"]),
            )
            sections = sorted(
                (
                    s
                    for s in self._sections.values()
                    if s["entity_ref"] == ref and s["level"] <= max_level
                ),
                key=lambda s: (s["page_id"], s["position"]),
            )
        by_page: dict[int, list[DocSection]] = {}
        for s in sections:
            by_page.setdefault(s["page_id"], []).append(
                DocSection(s["title"], s["anchor"], s["level"])
            )
        return [
            DocPage(
                path=p["path"],
                title=p["title"],
                in_nav=bool(p["in_nav"]),
                word_count=int(p["word_count"]),
                last_updated=_utc(p["last_updated"]),
                updated_from=p["updated_from"],
                sections=tuple(by_page.get(p["id"], ())),
            )
            for p in pages
        ]

    async def search(
        self, query: DocQuery, entity_ref: str | None = None, limit: int = 5, offset: int = 0
    ) -> SearchPage:
        if query.empty:
            return SearchPage((), False)
        ref = entity_ref.lower() if entity_ref else None
        with self._lock:
            sections = [s for s in self._sections.values() if ref is None or s["entity_ref"] == ref]
            pages = dict(self._pages)
        matched: list[tuple[float, int, dict[str, Any], bool]] = []
        for s in sections:
            words = {f: _tokens(s[f]) for f in WEIGHTS}
            score = 0.0
            in_titles = True
            for term in query.terms:
                where = [f for f in WEIGHTS if _has(term, words[f])]
                if not where:
                    break
                score += sum(WEIGHTS[f] for f in where)
                in_titles = in_titles and bool({"title", "page_title"} & set(where))
            else:
                matched.append((score, s["id"], s, in_titles))
        broad = len(matched) > MAX_RANKED
        # Across all docs, pages whose titles hold every term come first; then by score.
        matched.sort(key=lambda m: (not (ref is None and m[3]), -m[0], m[1]))
        best: dict[int, tuple[float, dict[str, Any]]] = {}
        for score, _id, s, _titles in matched:
            best.setdefault(s["page_id"], (score, s))
        ordered = list(best.values())
        shown = ordered[offset : offset + limit]
        hits = tuple(
            SearchHit(
                s["id"],
                s["entity_ref"],
                pages[s["page_id"]]["path"],
                pages[s["page_id"]]["title"],
                s["title"],
                s["anchor"],
                int(s["level"]),
                _snippet(s["body"], query),
                score,
            )
            for score, s in shown
        )
        return SearchPage(hits, len(ordered) > offset + limit, broad)

    # --- DocsIndexStore ------------------------------------------------------------------------

    def unsupported(self) -> str | None:
        return None

    def _catalog_entities(self) -> dict[str, tuple[IndexedEntity, str]]:
        if self._catalog is not None:
            return {e.ref: (e, data) for e, data in self._catalog()}
        with self._lock:
            return dict(self._entities)

    def annotated_entities(self, annotation: str) -> list[IndexedEntity]:
        found = self._catalog_entities()
        return [e for ref, (e, data) in sorted(found.items()) if f'"{annotation}"' in data]

    def entity_documents(self, refs: Sequence[str]) -> list[tuple[str, str, str]]:
        found = self._catalog_entities()
        return [(r, found[r][0].content_hash, found[r][1]) for r in refs if r in found]

    def stored(self) -> tuple[dict[str, StoredSite], dict[str, dict[str, StoredPage]]]:
        with self._lock:
            sites = {
                ref: StoredSite(
                    entity_ref=ref,
                    source=s["source"],
                    techdocs_ref=s["techdocs_ref"],
                    input_hash=s["input_hash"],
                    nav=s["nav"],
                    site_name=s["site_name"],
                    git_head=s["git_head"],
                    pages=int(s["pages"]),
                    sections=int(s["sections"]),
                    words=int(s["words"]),
                    problems=s["problems"],
                    indexed_at=s["indexed_at"],
                    docs_updated=s["docs_updated"],
                    code_updated=s["code_updated"],
                    dates_from=s["dates_from"],
                    docs_dir=s.get("docs_dir"),
                    entity_hash=s.get("entity_hash"),
                    stat=s.get("stat"),
                )
                for ref, s in self._sites.items()
            }
            pages: dict[str, dict[str, StoredPage]] = {}
            for p in self._pages.values():
                pages.setdefault(p["entity_ref"], {})[p["path"]] = StoredPage(
                    id=p["id"],
                    entity_ref=p["entity_ref"],
                    path=p["path"],
                    sha256=p["sha256"],
                    title=p["title"],
                    position=int(p["position"]),
                    in_nav=bool(p["in_nav"]),
                    word_count=int(p["word_count"]),
                    last_updated=p["last_updated"],
                    updated_from=p["updated_from"],
                )
        return sites, pages

    def remove_sites(self, refs: Sequence[str]) -> None:
        gone = set(refs)
        with self._lock:
            self._sections = {
                k: s for k, s in self._sections.items() if s["entity_ref"] not in gone
            }
            self._pages = {k: p for k, p in self._pages.items() if p["entity_ref"] not in gone}
            for ref in gone:
                self._sites.pop(ref, None)

    def section_counts(self, refs: Sequence[str]) -> dict[int, int]:
        wanted = set(refs)
        counts: dict[int, int] = {}
        with self._lock:
            for s in self._sections.values():
                if s["entity_ref"] in wanted:
                    counts[s["page_id"]] = counts.get(s["page_id"], 0) + 1
        return counts

    def site_text(self, ref: str) -> str | None:
        with self._lock:
            for s in self._sections.values():
                if s["entity_ref"] == ref:
                    return str(s["site"])
        return None

    def write(self, writes: DocsWrites) -> None:
        with self._lock:
            stale = {u["_id"] for u in writes.full_updates} | set(writes.removed_pages)
            self._sections = {k: s for k, s in self._sections.items() if s["page_id"] not in stale}
            for page_id in writes.removed_pages:
                self._pages.pop(page_id, None)
            for update in (*writes.light_updates, *writes.full_updates):
                values = {k: v for k, v in update.items() if k != "_id"}
                self._pages[update["_id"]].update(values)
            sections = list(writes.sections)
            for values, rows in writes.new_pages:
                page_id = self._next_page
                self._next_page += 1
                self._pages[page_id] = {"id": page_id, **values}
                sections.extend({"page_id": page_id, **r} for r in rows)
            for row in sections:
                section_id = self._next_section
                self._next_section += 1
                self._sections[section_id] = {"id": section_id, **row}
            for site in writes.site_inserts:
                self._sites[site["entity_ref"]] = dict(site)
            for update in writes.site_updates:
                values = {k: v for k, v in update.items() if k != "_ref"}
                self._sites[update["_ref"]].update(values)

    def section_total(self) -> int:
        with self._lock:
            return len(self._sections)

    def after_index(self, pages_indexed: int) -> None:
        return None


def _snippet(body: str, query: DocQuery) -> str:
    """Up to ``SNIPPET_WORDS`` words of ``body`` around the first match, matches marked."""
    words = body.split()

    def hit(word: str) -> bool:
        tokens = _tokens(word)
        for term in query.terms:
            for i, want in enumerate(term.tokens):
                last = i == len(term.tokens) - 1
                if any(t == want or (last and term.prefix and t.startswith(want)) for t in tokens):
                    return True
        return False

    marks = [hit(w) for w in words]
    if not any(marks):
        return lead(body)
    first = marks.index(True)
    start = max(0, first - SNIPPET_WORDS // 4)
    shown = [
        f"{MARK_OPEN}{w}{MARK_CLOSE}" if marked else w
        for w, marked in zip(
            words[start : start + SNIPPET_WORDS], marks[start : start + SNIPPET_WORDS], strict=True
        )
    ]
    text = " ".join(shown)
    return ("… " if start else "") + text + (" …" if start + SNIPPET_WORDS < len(words) else "")
