"""Full-text search over docs sections: the query language, and what a search answers.

The engines live with the stores (``bot.store.sql.docs_search``: SQLite FTS5 and PostgreSQL
``tsvector``; ``bot.store.memory.docs``: a plain scan for tests).

The query language is the same on both engines: words must all match (stemmed: ``refunds``
finds ``refund``), ``"quoted words"`` match as a phrase, ``word*`` matches by prefix, and a
hyphenated or dotted name (``payments-api``, ``foo.example``) matches as a phrase of its
parts, the way both engines split it in the text. English stop words outside phrases are
left out, the same list on both engines, so both answer alike.

- SQLite: FTS5 ranked by ``bm25`` (section title 10, page title 5, entity names 2, body 1);
  snippets from ``snippet()``.
- PostgreSQL: the ``tsvector`` column with a GIN index, ranked by ``ts_rank`` (weights
  A titles, B body, C entity names); a second, titles-only ``tsvector`` with its own GIN
  index; snippets from ``ts_headline`` on the shown rows only.

Across all docs, pages whose section or page titles hold every term come first, then the
others, each group by rank; within one entity's docs, by rank alone. Results are
de-duplicated per page: each page appears once, with its best section.
Matched words in snippets sit between ``MARK_OPEN`` and ``MARK_CLOSE`` (see ``bot.chat``).
"""

from __future__ import annotations

import re
from dataclasses import dataclass, replace

# The Snowball English stop words (PostgreSQL's ``english`` dictionary drops exactly these).
_STOP_WORDS_TEXT = """
    i me my myself we our ours ourselves you your yours yourself yourselves he him his
    himself she her hers herself it its itself they them their theirs themselves what which who
    whom this that these those am is are was were be been being have has had having do does did
    doing a an the and but if or because as until while of at by for with about against between
    into through during before after above below to from up down in out on off over under again
    further then once here there when where why how all any both each few more most other some
    such no nor not only own same so than too very s t can will just don should now"""
STOP_WORDS = frozenset(_STOP_WORDS_TEXT.split())

_TOKEN = re.compile(r"[^\W_]+")
_PART = re.compile(r'"([^"]*)"(\*?)|(\S+)')
SNIPPET_WORDS = 24
# A search ranks at most this many matching sections (per pass: titles, then all text). A word
# in more sections than this says little about any of them; the reply says to add words.
MAX_RANKED = 2000
MAX_TERMS = 16  # words and phrases a query keeps
MAX_TOKEN = 64  # characters of one word


@dataclass(frozen=True)
class Term:
    """One thing every hit must contain: a word, or a phrase of adjacent words."""

    tokens: tuple[str, ...]
    prefix: bool = False  # the last token matches by prefix


@dataclass(frozen=True)
class DocQuery:
    """A parsed search: the terms, and the stop words left out (to say so)."""

    text: str
    terms: tuple[Term, ...]
    dropped: tuple[str, ...] = ()

    @property
    def empty(self) -> bool:
        return not self.terms

    def as_prefixes(self) -> DocQuery:
        """The same search with every term's last word matched by prefix (a second try)."""
        return replace(self, terms=tuple(Term(t.tokens, True) for t in self.terms))

    @property
    def has_exact(self) -> bool:
        return any(not t.prefix for t in self.terms)


def parse_query(text_: str) -> DocQuery:
    """Words, ``"phrases"``, ``prefix*``; hyphenated names become phrases; stop words drop."""
    terms: list[Term] = []
    dropped: list[str] = []
    for m in _PART.finditer(text_):
        if m.group(3) is not None:
            word = m.group(3)
            tokens = tuple(t.lower()[:MAX_TOKEN] for t in _TOKEN.findall(word))
            prefix = word.endswith("*")
            if len(tokens) == 1 and tokens[0] in STOP_WORDS and not prefix:
                dropped.append(tokens[0])
                continue
        else:
            tokens = tuple(t.lower()[:MAX_TOKEN] for t in _TOKEN.findall(m.group(1)))
            prefix = bool(m.group(2))
        if tokens:
            terms.append(Term(tokens, prefix))
    unique = tuple(dict.fromkeys(terms))[:MAX_TERMS]  # a pasted paragraph is not a query
    return DocQuery(text_, unique, tuple(dict.fromkeys(dropped)))


@dataclass(frozen=True)
class SearchHit:
    """The best section of one page that matched."""

    section_id: int
    entity_ref: str
    page_path: str
    page_title: str
    section_title: str
    anchor: str
    level: int
    snippet: str  # matched words between MARK_OPEN and MARK_CLOSE
    score: float  # higher is better, comparable within one result list only


@dataclass(frozen=True)
class SearchPage:
    """One page of results, and whether more follow."""

    hits: tuple[SearchHit, ...]
    more: bool
    broad: bool = False  # more than MAX_RANKED sections matched: add words to narrow it


def lead(body: str, words: int = SNIPPET_WORDS) -> str:
    parts = body.split()
    return " ".join(parts[:words]) + (" …" if len(parts) > words else "")
