"""Docs search in the database's own engine: SQLite FTS5, or PostgreSQL ``tsvector``.

The query language and the answers are ``bot.docs.search``'s; see its docstring for how
both engines rank. ``search`` is the one entry point ``bot.store.sql.docs`` calls.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, Protocol

from sqlalchemy import Connection, bindparam, text

from bot.chat import MARK_CLOSE, MARK_OPEN
from bot.docs.search import MAX_RANKED, SNIPPET_WORDS, DocQuery, SearchHit, SearchPage, lead
from bot.store.db import Database


class DocsSearch(Protocol):
    """A full-text engine over ``docs_sections``."""

    name: str

    def ranked(
        self,
        conn: Connection,
        query: DocQuery,
        entity_ref: str | None,
        limit: int,
        titles_only: bool = False,
    ) -> tuple[list[tuple[int, int, float]], bool]:
        """Up to ``limit`` matching sections as (section id, page id, score), best first;
        with ``titles_only``, sections whose section or page title holds every term. The flag
        says ``MAX_RANKED`` was reached: the best of the first ``MAX_RANKED`` matches (in
        index order) were ranked, not of all."""
        ...

    def snippets(self, conn: Connection, query: DocQuery, ids: Sequence[int]) -> dict[int, str]:
        """Marked snippets of the body of the given sections."""
        ...


class SqliteSearch:
    """SQLite FTS5 with bm25."""

    name = "sqlite-fts5"
    RANK = "bm25(10.0, 5.0, 2.0, 1.0)"  # title, page_title, site, body

    @staticmethod
    def match(query: DocQuery) -> str:
        parts = []
        for term in query.terms:
            phrase = " ".join(term.tokens)
            parts.append(f'"{phrase}"' + ("*" if term.prefix else ""))
        return " ".join(parts)

    def ranked(
        self,
        conn: Connection,
        query: DocQuery,
        entity_ref: str | None,
        limit: int,
        titles_only: bool = False,
    ) -> tuple[list[tuple[int, int, float]], bool]:
        # ``ORDER BY rank`` lets FTS5 sort inside the virtual table, so only the top rows are
        # read from docs_sections; the weights are set per query with ``rank MATCH``.
        where = "docs_fts MATCH :q AND rank MATCH :rank"
        match = self.match(query)
        if titles_only:
            match = f"{{title page_title}}: ({match})"
        params: dict[str, Any] = {"q": match, "k": limit, "rank": self.RANK, "cap": MAX_RANKED}
        if entity_ref is not None:
            where += " AND rowid IN (SELECT id FROM docs_sections WHERE entity_ref = :e)"
            params["e"] = entity_ref
        top = conn.execute(
            text(
                "SELECT rowid, rank, count(*) OVER () FROM ("
                f"SELECT rowid, rank FROM docs_fts WHERE {where} LIMIT :cap"
                ") ORDER BY rank LIMIT :k"
            ),
            params,
        ).all()
        if not top:
            return [], False
        pages: dict[int, int] = dict(
            conn.execute(
                text("SELECT id, page_id FROM docs_sections WHERE id IN :ids").bindparams(
                    bindparam("ids", expanding=True)
                ),
                {"ids": [int(r[0]) for r in top]},
            ).all()
        )
        rows = [(int(r[0]), int(pages[r[0]]), -float(r[1])) for r in top if r[0] in pages]
        return rows, int(top[0][2]) >= MAX_RANKED

    def snippets(self, conn: Connection, query: DocQuery, ids: Sequence[int]) -> dict[int, str]:
        if not ids:
            return {}
        rows = conn.execute(
            text(
                "SELECT rowid, snippet(docs_fts, 3, :o, :c, '…', :n) FROM docs_fts "
                "WHERE docs_fts MATCH :q AND rowid IN :ids"
            ).bindparams(bindparam("ids", expanding=True)),
            {
                "q": self.match(query),
                "o": MARK_OPEN,
                "c": MARK_CLOSE,
                "n": SNIPPET_WORDS,
                "ids": list(ids),
            },
        ).all()
        return {int(r[0]): str(r[1] or "") for r in rows}


class PostgresSearch:
    """PostgreSQL ``tsvector`` + GIN, ranked by ``ts_rank`` (length-normalised)."""

    name = "postgresql-tsvector"
    CONFIG = "english"

    @staticmethod
    def tsquery(query: DocQuery) -> str:
        parts = []
        for term in query.terms:
            words = list(term.tokens)
            if term.prefix:
                words[-1] += ":*"
            parts.append("(" + " <-> ".join(words) + ")")
        return " & ".join(parts)

    def ranked(
        self,
        conn: Connection,
        query: DocQuery,
        entity_ref: str | None,
        limit: int,
        titles_only: bool = False,
    ) -> tuple[list[tuple[int, int, float]], bool]:
        column = "title_tsv" if titles_only else "tsv"  # titles have their own GIN index
        where = f"s.{column} @@ q.query"
        params: dict[str, Any] = {"q": self.tsquery(query), "k": limit, "cap": MAX_RANKED}
        if entity_ref is not None:
            where += " AND s.entity_ref = :e"
            params["e"] = entity_ref
        rows = conn.execute(
            text(
                f"WITH c AS MATERIALIZED (SELECT s.id, s.page_id, s.{column} AS v, q.query "
                f"FROM docs_sections s, to_tsquery('{self.CONFIG}', :q) AS q(query) "
                f"WHERE {where} LIMIT :cap) "
                "SELECT id, page_id, ts_rank(v, query, 1) AS score, count(*) OVER () "
                "FROM c ORDER BY score DESC, id LIMIT :k"
            ),
            params,
        ).all()
        capped = bool(rows) and int(rows[0][3]) >= MAX_RANKED
        return [(int(r[0]), int(r[1]), float(r[2])) for r in rows], capped

    def snippets(self, conn: Connection, query: DocQuery, ids: Sequence[int]) -> dict[int, str]:
        if not ids:
            return {}
        options = (
            f'StartSel="{MARK_OPEN}", StopSel="{MARK_CLOSE}", MaxWords={SNIPPET_WORDS // 2}, '
            'MinWords=6, ShortWord=2, MaxFragments=2, FragmentDelimiter=" … "'
        )
        rows = conn.execute(
            text(
                f"SELECT s.id, ts_headline('{self.CONFIG}', s.body, q.query, :opts) "
                f"FROM docs_sections s, to_tsquery('{self.CONFIG}', :q) AS q(query) "
                f"WHERE s.id IN :ids"
            ).bindparams(bindparam("ids", expanding=True)),
            {"q": self.tsquery(query), "opts": options, "ids": list(ids)},
        ).all()
        return {int(r[0]): str(r[1] or "") for r in rows}


def search_engine(db: Database) -> DocsSearch | None:
    """The engine for this database, or ``None`` when it has no supported full-text search."""
    if db.is_sqlite:
        return SqliteSearch()
    if db.is_postgres:
        return PostgresSearch()
    return None


def search(
    conn: Connection,
    engine: DocsSearch,
    query: DocQuery,
    entity_ref: str | None = None,
    limit: int = 5,
    offset: int = 0,
) -> SearchPage:
    """Pages matching ``query`` (each once, with its best section), best first."""
    if query.empty:
        return SearchPage((), False)
    wanted = offset + limit + 1  # one more page than shown tells whether more follow
    # Pages whose section or page titles hold the words come first (ranked among themselves),
    # then the rest by rank: the order Backstage users ask for, and cheap, because a common
    # word's title matches are few while its body matches can be thousands.
    # Within one entity the sections are few and the weights order them well enough.
    best: dict[int, tuple[int, float]] = {}
    broad = False
    if entity_ref is None:
        best, broad = _best_sections(conn, engine, query, None, wanted, titles_only=True)
    if len(best) < wanted:
        rest, broad = _best_sections(conn, engine, query, entity_ref, wanted + len(best))
        for page_id, hit in rest.items():
            best.setdefault(page_id, hit)
    ordered = list(best.items())[offset : offset + limit]
    more = len(best) > offset + limit
    ids = [section_id for _page, (section_id, _score) in ordered]
    if not ids:
        return SearchPage((), more, broad)
    details = {
        int(r.id): r
        for r in conn.execute(
            text(
                "SELECT s.id, s.entity_ref, s.title, s.anchor, s.level, p.path, p.title AS ptitle, "
                "s.body FROM docs_sections s JOIN docs_pages p ON p.id = s.page_id "
                "WHERE s.id IN :ids"
            ).bindparams(bindparam("ids", expanding=True)),
            {"ids": ids},
        )
    }
    snippets = engine.snippets(conn, query, ids)
    hits = []
    for _page, (section_id, score) in ordered:
        row = details.get(section_id)
        if row is None:  # removed by a concurrent re-index
            continue
        snippet = snippets.get(section_id) or lead(row.body)
        hits.append(
            SearchHit(
                section_id,
                row.entity_ref,
                row.path,
                row.ptitle,
                row.title,
                row.anchor,
                int(row.level),
                " ".join(snippet.split()),
                score,
            )
        )
    return SearchPage(tuple(hits), more, broad)


def _best_sections(
    conn: Connection,
    engine: DocsSearch,
    query: DocQuery,
    entity_ref: str | None,
    wanted: int,
    titles_only: bool = False,
) -> tuple[dict[int, tuple[int, float]], bool]:
    """Page id → (best section id, score) for at least ``wanted`` pages when there are, and
    whether the ranking stopped at ``MAX_RANKED`` matches."""
    # Engines rank at most MAX_RANKED rows, so asking for one more than that ends the loop and
    # keeps a far page (``/docs --page 10**20``) from overflowing the database's LIMIT.
    most = MAX_RANKED + 1
    fetch = min(max(wanted * 4, 20), most)
    while True:
        rows, capped = engine.ranked(conn, query, entity_ref, fetch, titles_only)
        best: dict[int, tuple[int, float]] = {}
        for section_id, page_id, score in rows:
            if page_id not in best:
                best[page_id] = (section_id, score)
        if len(best) >= wanted or len(rows) < fetch:
            return best, capped
        fetch = min(fetch * 4, most)
