"""Ranked entity search: an in-memory inverted index over every entity, rebuilt per generation.

``/search`` must answer in a few milliseconds on a catalog of ~43,000 entities, so it never
scans the database on a request. ``SearchCache.current()`` builds a ``SearchIndex`` from the
``entities`` table once per catalog generation (a sync that changed something bumps it) and
every query runs on that index:

* Each entity is tokenised per field (name, title, tags, type, description, and "other":
  annotation keys and values, labels, profile email, link titles). A posting maps a token to
  the entities holding it and a bit mask of the fields it appears in.
* A query word matches a token exactly, as a prefix (``pay`` finds ``payments``), or, when
  nothing starts with it, by edit distance (``paymnts`` → ``payments``, reported back as a
  correction). Every word must match (AND); when no entity matches all words, entities
  matching most of them are shown and the result says so.
* The score of a word is the weight of the best field it is in times the token's rarity
  (idf); a full-name match and a name starting with the query get a bonus. Ties fall back to
  kind (Components first) and name, the same order filters alone list in.
* Filters (``kind:``, ``owner:``, ``tag:``, ``lifecycle:``, ``type:``) are sets of entity ids
  per value, intersected before scoring.

The index also serves as a cheap summary of every entity (``doc(ref)``): kind, name, title,
owner, lifecycle, type. ``/deps`` uses it to label the entities of a dependency tree without
loading their documents.
"""

from __future__ import annotations

import bisect
import heapq
import json
import math
import re
import sys
from array import array
from collections import defaultdict
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from operator import itemgetter
from typing import Any

from rapidfuzz import fuzz, process

from bot.catalog.model import EntityRef
from bot.catalog.read import Swapped, building_index, sorted_in_steps
from bot.catalog.rows import CatalogRows
from bot.errors import CatalogError

# Field bits of a posting, and what a match in each is worth.
NAME, TITLE, TAG, TYPE, DESCRIPTION, OTHER = 1, 2, 4, 8, 16, 32
FIELD_WEIGHTS: Mapping[int, float] = {
    NAME: 10.0,
    TITLE: 8.0,
    TAG: 6.0,
    TYPE: 3.0,
    DESCRIPTION: 3.0,
    OTHER: 1.5,
}
FIELD_NAMES: Mapping[int, str] = {
    NAME: "name",
    TITLE: "title",
    TAG: "tags",
    TYPE: "type",
    DESCRIPTION: "description",
    OTHER: "annotations",
}
PREFIX_FACTOR = 0.7  # a prefix match is worth less than the whole word
FUZZY_FACTOR = 0.5  # a corrected word is worth less still
FUZZY_CUTOFF = 75.0
MAX_PREFIX_TOKENS = 400  # "s" would expand to half the vocabulary: cap the expansion
MAX_PREFIX_POSTINGS = 20_000  # and the entities a prefix may drag in (most common tokens first)
MAX_PREFIX_BONUS = 2_000  # names starting with the query that compete for the name bonus
LOOKUP_COST = 5  # a posting's look-up by id costs about this many steps of a walk through it
NAME_EXACT_BONUS = 40.0
NAME_PREFIX_BONUS = 8.0

FILTERS = ("kind", "owner", "tag", "lifecycle", "type")

# Words that carry no meaning in a catalog search ("search for the ledger"); left out of a
# query unless it has nothing else.
STOPWORDS = frozenset(
    {"a", "an", "and", "are", "for", "from", "how", "in", "is", "it", "me", "my", "of", "on"}
    | {"or", "our", "the", "to", "what", "where", "which", "who", "with"}
)

# Kinds people usually mean come first when scores tie (and in filter-only listings).
KIND_ORDER = ("component", "api", "resource", "system", "domain", "group", "user", "template")

_TOKEN = re.compile(r"[^\W_]+")


def tokens(text: str) -> list[str]:
    """Lower-cased alphanumeric runs: ``payments-api`` → ``payments``, ``api``."""
    return _TOKEN.findall(text.lower())


def _mask_weight(mask: int) -> float:
    """The best field's weight, plus a quarter of the others' (a word in name and tags wins)."""
    weights = [w for bit, w in FIELD_WEIGHTS.items() if mask & bit]
    best = max(weights)
    return best + 0.25 * (sum(weights) - best)


_MASK_WEIGHTS: tuple[float, ...] = (0.0, *(_mask_weight(m) for m in range(1, 64)))


class Posting:
    """The entities holding one token and the fields it is in, compact: their ids ascending
    (4 bytes each) and a byte of field bits per id. A million entities hold tens of millions
    of these; as ``dict[int, int]`` each was about 100 bytes."""

    __slots__ = ("ids", "masks")

    def __init__(self) -> None:
        self.ids = array("I")
        self.masks = bytearray()

    def add(self, doc_id: int, bit: int) -> None:
        """Record ``doc_id`` (never below the last one added) holding the token in ``bit``."""
        ids = self.ids
        if ids and ids[-1] == doc_id:
            self.masks[-1] |= bit
        else:
            ids.append(doc_id)
            self.masks.append(bit)

    def get(self, doc_id: int, default: int = 0) -> int:
        """The field bits of ``doc_id``, or ``default`` when it does not hold the token."""
        at = bisect.bisect_left(self.ids, doc_id)
        if at < len(self.ids) and self.ids[at] == doc_id:
            return self.masks[at]
        return default

    def items(self) -> Iterator[tuple[int, int]]:
        return zip(self.ids, self.masks, strict=True)

    def __len__(self) -> int:
        return len(self.ids)


_Tokens = tuple[tuple[str, ...], bytes]
"""An entity's distinct tokens (interned: one string per word of the vocabulary) and the
field bits of each."""


def _field_tokens(doc: SearchDoc, texts: Mapping[int, Sequence[str]]) -> tuple[SearchDoc, _Tokens]:
    fields: dict[str, int] = {}
    get = fields.get
    for bit, values in texts.items():
        for token in _TOKEN.findall(" ".join(values).lower()):
            fields[token] = get(token, 0) | bit
    return doc, (tuple(map(sys.intern, fields)), bytes(fields.values()))


@dataclass(frozen=True, slots=True)
class SearchDoc:
    """What search and dependency trees show of an entity, without loading its document."""

    ref: str  # lower-cased kind:namespace/name
    kind: str  # as written: Component
    namespace: str
    name: str
    title: str | None
    description: str | None
    owner: str | None  # lower-cased ref
    lifecycle: str | None
    spec_type: str | None
    tags: tuple[str, ...]

    @property
    def kind_key(self) -> str:
        return self.kind.lower()

    @property
    def short_ref(self) -> str:
        return EntityRef.parse(self.ref).short()


@dataclass(frozen=True)
class Query:
    """Parsed ``/search`` text: the words, and filter values (alternatives within a filter)."""

    words: tuple[str, ...] = ()
    kinds: tuple[str, ...] = ()
    owners: tuple[str, ...] = ()
    tags: tuple[str, ...] = ()
    lifecycles: tuple[str, ...] = ()
    types: tuple[str, ...] = ()
    ignored: tuple[str, ...] = ()  # "foo:bar" with an unknown filter key, searched as text

    @property
    def filtered(self) -> bool:
        return bool(self.kinds or self.owners or self.tags or self.lifecycles or self.types)


def parse_query(text: str) -> Query:
    """Split ``kind:api owner:team-a payments`` into words and filters.

    A filter may list alternatives (``kind:api,component``). A ``key:value`` whose key is not
    a filter is searched as text and reported in ``ignored``.
    """
    words: list[str] = []
    found: dict[str, list[str]] = {name: [] for name in FILTERS}
    ignored: list[str] = []
    for word in text.split():
        key, colon, value = word.partition(":")
        if colon and key.lower() in found:
            values = [v.strip().lower() for v in value.split(",") if v.strip()]
            if not values:
                raise ValueError(f"the filter {key.lower()}: needs a value, e.g. {key.lower()}:x")
            found[key.lower()].extend(values)
            continue
        if colon and key and value and not key.isdigit():
            ignored.append(word)
        words.append(word)
    return Query(
        words=tuple(words),
        kinds=tuple(found["kind"]),
        owners=tuple(found["owner"]),
        tags=tuple(found["tag"]),
        lifecycles=tuple(found["lifecycle"]),
        types=tuple(found["type"]),
        ignored=tuple(ignored),
    )


@dataclass(frozen=True)
class Hit:
    """One ranked result and the fields its words matched in (best first)."""

    doc: SearchDoc
    score: float
    fields: tuple[str, ...]


@dataclass(frozen=True)
class SearchResult:
    """A page of hits, the total that matched, and what the query was understood as."""

    hits: tuple[Hit, ...]
    total: int
    corrections: Mapping[str, str] = field(default_factory=dict)  # typed word → used token
    unmatched: tuple[str, ...] = ()  # words nothing was found for
    partial: bool = False  # no entity matched every word; these match some
    unknown_filters: Mapping[str, tuple[str, ...]] = field(default_factory=dict)
    suggestions: Mapping[str, tuple[str, ...]] = field(default_factory=dict)  # per filter
    dropped: tuple[str, ...] = ()  # common words left out of the query


@dataclass
class _Term:
    """One query token resolved against the vocabulary: entity id → score, and the vocabulary
    tokens (with their factor) it matched through."""

    word: str
    scores: dict[int, float]
    sources: tuple[str, ...] = ()
    correction: str | None = None


class SearchIndex:
    """Every entity's searchable text as postings, plus per-value filter sets."""

    def __init__(self, docs: Iterable[tuple[SearchDoc, Mapping[int, Sequence[str]]]]) -> None:
        """Index ``(doc, {field bit: texts})`` pairs; ids follow kind order, then name."""

        def order(pair: tuple[SearchDoc, _Tokens]) -> tuple[int, str, str]:
            doc = pair[0]
            kind = doc.kind_key
            rank = KIND_ORDER.index(kind) if kind in KIND_ORDER else len(KIND_ORDER)
            return (rank, doc.name.lower(), doc.ref)

        # Each entity's texts become its tokens as they arrive (the texts are dropped: at a
        # million entities they were gigabytes held until the index was built).
        compact = (_field_tokens(doc, texts) for doc, texts in docs)
        ordered = sorted_in_steps(compact, key=order)  # every sort here: 43,000 items or more
        self.docs: list[SearchDoc] = []
        self.by_ref: dict[str, int] = {}
        postings: dict[str, Posting] = defaultdict(Posting)
        self.by_kind: dict[str, set[int]] = defaultdict(set)
        self.by_owner: dict[str, set[int]] = defaultdict(set)
        self.by_tag: dict[str, set[int]] = defaultdict(set)
        self.by_lifecycle: dict[str, set[int]] = defaultdict(set)
        self.by_type: dict[str, set[int]] = defaultdict(set)
        # The name as its tokens joined by "-" (Payments_API → payments-api), for name bonuses.
        self.by_norm_name: dict[str, list[int]] = defaultdict(list)
        norm_names: list[tuple[str, int]] = []
        for doc_id, (doc, (words, bits)) in enumerate(ordered):
            self.docs.append(doc)
            self.by_ref[doc.ref] = doc_id
            for token, bit in zip(words, bits, strict=True):
                post = postings[token]  # an entity's tokens are distinct: ids stay ascending
                post.ids.append(doc_id)
                post.masks.append(bit)
            norm = "-".join(tokens(doc.name))
            self.by_norm_name[norm].append(doc_id)
            norm_names.append((norm, doc_id))
            self.by_kind[doc.kind_key].add(doc_id)
            if doc.owner:
                self.by_owner[doc.owner].add(doc_id)
            for tag in doc.tags:
                self.by_tag[tag.lower()].add(doc_id)
            if doc.lifecycle:
                self.by_lifecycle[doc.lifecycle.lower()].add(doc_id)
            if doc.spec_type:
                self.by_type[doc.spec_type.lower()].add(doc_id)
        norm_names = sorted_in_steps(norm_names)
        self.norm_names = [n for n, _ in norm_names]
        self.norm_ids = [i for _, i in norm_names]
        self.postings: dict[str, Posting] = dict(postings)
        self.vocab: list[str] = sorted_in_steps(self.postings)
        count = max(1, len(self.docs))
        self.idf: dict[str, float] = {
            t: math.log(1.0 + count / len(p)) for t, p in self.postings.items()
        }
        self.owner_names: dict[str, set[str]] = defaultdict(set)  # name → owner refs
        for owner in self.by_owner:
            self.owner_names[owner.rpartition("/")[2]].add(owner)

    def __len__(self) -> int:
        return len(self.docs)

    def doc(self, ref: EntityRef | str) -> SearchDoc | None:
        """The summary of ``ref``, or None when it is not in the catalog."""
        doc_id = self.by_ref.get(str(ref).lower())
        return None if doc_id is None else self.docs[doc_id]

    # ------------------------------------------------------------------ filters

    def owner_refs(self, value: str) -> set[str]:
        """Owner refs ``value`` names: a full ref, ``namespace/name``, or a bare name."""
        value = value.strip().lower()
        if ":" in value:
            try:
                ref = EntityRef.parse(value)
            except CatalogError:
                return set()
            return {str(ref)} if str(ref) in self.by_owner else set()
        if "/" in value:
            ns, _, name = value.partition("/")
            return {o for o in self.owner_names.get(name, ()) if f":{ns}/" in o}
        return set(self.owner_names.get(value, ()))

    def _filter(self, query: Query) -> tuple[set[int] | None, dict[str, tuple[str, ...]]]:
        """Entity ids passing every filter (None: no filter), and filter values that matched
        nothing."""
        unknown: dict[str, list[str]] = defaultdict(list)
        # One set of ids per filter, intersected smallest first at the end; a filter of one
        # value is its set as indexed, not a copy (at a million entities `kind:component`
        # alone is 300,000 ids).
        passing: list[set[int]] = []
        narrow = passing.append

        simple = (
            ("kind", query.kinds, self.by_kind),
            ("tag", query.tags, self.by_tag),
            ("lifecycle", query.lifecycles, self.by_lifecycle),
            ("type", query.types, self.by_type),
        )
        for name, values, table in simple:
            if not values:
                continue
            hits = []
            for value in values:
                hit = table.get(value)
                if hit is None:
                    unknown[name].append(value)
                else:
                    hits.append(hit)
            narrow(_union(hits))
        if query.owners:
            hits = []
            for value in query.owners:
                refs = self.owner_refs(value)
                if not refs:
                    unknown["owner"].append(value)
                hits.extend(self.by_owner[ref] for ref in refs)
            narrow(_union(hits))
        unknown_values = {k: tuple(v) for k, v in unknown.items()}
        if not passing:
            return None, unknown_values
        passing.sort(key=len)
        allowed = passing[0].intersection(*passing[1:]) if len(passing) > 1 else passing[0]
        return allowed, unknown_values

    def filter_values(self, name: str) -> list[str]:
        """The known values of a filter (for "did you mean" on a value that matched nothing)."""
        if name == "owner":
            return sorted(self.owner_names)
        table: Mapping[str, set[int]] = {
            "kind": self.by_kind,
            "tag": self.by_tag,
            "lifecycle": self.by_lifecycle,
            "type": self.by_type,
        }.get(name, {})
        return sorted(table)

    def _suggest_values(self, name: str, values: Sequence[str]) -> tuple[str, ...]:
        """Known values close to ``values`` (all of them when there are few), and the same
        value under another filter (``kind:service`` → ``type:service``)."""
        known = self.filter_values(name)
        out: list[str] = []
        for value in values:
            for other in FILTERS:
                if other != name and value in self.filter_values(other):
                    out.append(f"{other}:{value}")
            for match, _score, _ in process.extract(
                value, known, scorer=fuzz.ratio, limit=3, score_cutoff=70
            ):
                if f"{name}:{match}" not in out:
                    out.append(f"{name}:{match}")
        if len(known) <= 12:
            out.extend(f"{name}:{k}" for k in known if f"{name}:{k}" not in out)
        return tuple(out[:12])

    # ------------------------------------------------------------------ terms

    def _scores(self, token: str, factor: float, allowed: set[int] | None) -> dict[int, float]:
        post = self.postings[token]
        weight = self.idf[token] * factor
        w = _MASK_WEIGHTS
        if allowed is None:
            return {d: w[m] * weight for d, m in post.items()}
        if len(allowed) * LOOKUP_COST < len(post):  # each look-up is a bisection
            return {d: w[m] * weight for d in allowed if (m := post.get(d))}
        return {d: w[m] * weight for d, m in post.items() if d in allowed}

    def _term(self, token: str, allowed: set[int] | None) -> _Term:
        """Entities matching ``token`` exactly, as a prefix, or (failing both) by spelling."""
        sources: list[tuple[str, float]] = []
        if token in self.postings:
            sources.append((token, 1.0))
        sources.extend((t, PREFIX_FACTOR) for t in self._prefixed(token))
        correction = None
        if not sources and len(token) >= 4 and not token.isdigit():
            # Nothing starts with it: the closest spelling that exists (only for real words).
            best = process.extractOne(
                token, self.vocab, scorer=fuzz.ratio, score_cutoff=FUZZY_CUTOFF
            )
            if best is not None:
                sources.append((best[0], FUZZY_FACTOR * best[1] / 100.0))
                correction = best[0]
        scores: dict[int, float] = {}
        for vocab_token, factor in sources:
            found = self._scores(vocab_token, factor, allowed)
            if not scores:
                scores = found
            else:
                scores.update({d: s for d, s in found.items() if s > scores.get(d, 0.0)})
        return _Term(token, scores, tuple(t for t, _ in sources), correction if scores else None)

    def _prefixed(self, token: str) -> list[str]:
        """Vocabulary tokens that start with ``token`` (not itself), the most common first,
        capped so that a one-letter prefix does not drag in the whole index."""
        if len(token) < 2:
            return []
        start = bisect.bisect_right(self.vocab, token)
        found: list[str] = []
        for i in range(start, min(start + MAX_PREFIX_TOKENS, len(self.vocab))):
            if not self.vocab[i].startswith(token):
                break
            found.append(self.vocab[i])
        found.sort(key=lambda t: -len(self.postings[t]))
        out: list[str] = []
        budget = MAX_PREFIX_POSTINGS
        for candidate in found:
            budget -= len(self.postings[candidate])
            if budget < 0 and out:
                break
            out.append(candidate)
        return out

    def _mask(self, doc_id: int, terms: Sequence[_Term]) -> int:
        mask = 0
        for term in terms:
            for token in term.sources:
                mask |= self.postings[token].get(doc_id, 0)
        return mask

    # ------------------------------------------------------------------ search

    def search(self, query: Query, limit: int = 10, offset: int = 0) -> SearchResult:
        """Rank entities for ``query``; ``offset``/``limit`` select a page."""
        allowed, unknown = self._filter(query)
        suggestions = {k: self._suggest_values(k, v) for k, v in unknown.items()}
        query_tokens = list(dict.fromkeys(t for word in query.words for t in tokens(word)))
        dropped = tuple(t for t in query_tokens if t in STOPWORDS)
        if len(dropped) < len(query_tokens):
            query_tokens = [t for t in query_tokens if t not in STOPWORDS]
        else:
            dropped = ()
        if not query_tokens and query.words and not query.filtered:
            # Only punctuation ("/search ---"): nothing to look for, not everything.
            return SearchResult(hits=(), total=0, unmatched=query.words)
        if not query_tokens:
            ids = sorted(allowed) if allowed is not None else range(len(self.docs))
            page = ids[offset : offset + limit]
            return SearchResult(
                hits=tuple(Hit(self.docs[i], 0.0, ()) for i in page),
                total=len(ids),
                unknown_filters=unknown,
                suggestions=suggestions,
            )
        terms = [self._term(t, allowed) for t in query_tokens]
        corrections = {t.word: t.correction for t in terms if t.correction}
        unmatched = tuple(t.word for t in terms if not t.scores)
        live = sorted((t for t in terms if t.scores), key=lambda t: len(t.scores))
        scores: dict[int, float] = {}
        partial = False
        if len(live) == 1 and not unmatched:
            scores = live[0].scores
        elif live and not unmatched:
            common = set(live[0].scores).intersection(*(t.scores for t in live[1:]))
            scores = {d: sum(t.scores[d] for t in live) for d in common}
        if not scores and live and len(terms) > 1:
            # Nobody matches every word: rank by how many words match, then by score.
            partial = True
            counts: dict[int, int] = defaultdict(int)
            for term in live:
                for doc_id, score in term.scores.items():
                    scores[doc_id] = scores.get(doc_id, 0.0) + score
                    counts[doc_id] += 1
            scores = {d: s + 1000.0 * counts[d] for d, s in scores.items()}
        phrase = "-".join(query_tokens)
        need = offset + limit
        candidates = {d for d, _ in heapq.nlargest(need, scores.items(), key=itemgetter(1))}
        bonus: dict[int, float] = {}
        for doc_id in self.by_norm_name.get(phrase, ()):
            bonus[doc_id] = NAME_EXACT_BONUS
        start = bisect.bisect_right(self.norm_names, phrase)
        for i in range(start, min(start + MAX_PREFIX_BONUS, len(self.norm_names))):
            if not self.norm_names[i].startswith(phrase):
                break
            bonus.setdefault(self.norm_ids[i], NAME_PREFIX_BONUS)
        candidates.update(d for d in bonus if d in scores)
        ranked = sorted(candidates, key=lambda d: (-(scores[d] + bonus.get(d, 0.0)), d))
        hits = tuple(
            Hit(
                self.docs[d],
                scores[d] + bonus.get(d, 0.0),
                _field_names(self._mask(d, terms)),
            )
            for d in ranked[offset:need]
        )
        return SearchResult(
            hits=hits,
            total=len(scores),
            corrections=corrections,
            unmatched=unmatched,
            partial=partial,
            unknown_filters=unknown,
            suggestions=suggestions,
            dropped=dropped,
        )


def _union(sets: Sequence[set[int]]) -> set[int]:
    """The ids in any of ``sets``: the one set itself (not a copy) when there is one."""
    if len(sets) == 1:
        return sets[0]
    return set().union(*sets)


def _field_names(mask: int) -> tuple[str, ...]:
    bits = sorted((b for b in FIELD_WEIGHTS if mask & b), key=lambda b: -FIELD_WEIGHTS[b])
    return tuple(FIELD_NAMES[b] for b in bits)


def document_texts(
    doc: Mapping[str, Any], ref: str, owner: str | None = None
) -> tuple[SearchDoc, dict[int, list[str]]]:
    """The summary and the searchable text per field of one stored entity document."""
    meta: Mapping[str, Any] = doc.get("metadata") or {}
    spec = doc.get("spec")
    spec = spec if isinstance(spec, Mapping) else {}
    kind = str(doc.get("kind") or "")
    namespace = str(meta.get("namespace") or "default")
    name = str(meta.get("name") or "")
    title = meta.get("title") if isinstance(meta.get("title"), str) else None
    profile = spec.get("profile")
    profile = profile if isinstance(profile, Mapping) else {}
    shown = profile.get("displayName")
    description = meta.get("description")
    description = description if isinstance(description, str) else None
    tags = tuple(str(t) for t in meta.get("tags") or () if isinstance(t, str | int))
    lifecycle = spec.get("lifecycle") if isinstance(spec.get("lifecycle"), str) else None
    spec_type = spec.get("type") if isinstance(spec.get("type"), str) else None
    texts: dict[int, list[str]] = {NAME: [name], TAG: list(tags)}
    titles = [t for t in (title, shown) if isinstance(t, str) and t]
    if titles:
        texts[TITLE] = titles
    if spec_type:
        texts[TYPE] = [spec_type]
    if description:
        texts[DESCRIPTION] = [description]
    other: list[str] = []
    annotations = meta.get("annotations")
    if isinstance(annotations, Mapping):
        for key, value in annotations.items():
            other.append(str(key))
            other.append(str(value))
    labels = meta.get("labels")
    if isinstance(labels, Mapping):
        other.extend(f"{k} {v}" for k, v in labels.items())
    if isinstance(profile.get("email"), str):
        other.append(profile["email"])
    for link in meta.get("links") or ():
        if isinstance(link, Mapping) and isinstance(link.get("title"), str):
            other.append(link["title"])
    if other:
        texts[OTHER] = other
    summary = SearchDoc(
        ref=ref,
        kind=kind,
        namespace=namespace,
        name=name,
        title=title or (shown if isinstance(shown, str) and shown.strip() else None),
        description=description,
        owner=owner,
        lifecycle=lifecycle,
        spec_type=spec_type,
        tags=tags,
    )
    return summary, texts


class SearchCache:
    """The current ``SearchIndex``, rebuilt when the catalog generation changes.

    Blocking (call it from a worker thread). A rebuild is swapped in whole when it is ready;
    while one is under way, the previous index answers.
    """

    def __init__(self, rows: CatalogRows) -> None:
        self.rows = rows
        self._index: Swapped[SearchIndex] = Swapped(rows.generation, self._build, len)

    @property
    def last_build_seconds(self) -> float:
        return self._index.last_build_seconds

    def current(self) -> SearchIndex:
        """The index for the stored catalog (built on first use and after each change)."""
        return self._index.current()

    def refresh(self) -> None:
        """Rebuild the index if one was built and the catalog changed since (after a sync)."""
        self._index.refresh()

    def fresh(self) -> SearchIndex | None:
        """The index if it matches the stored catalog, else None (``current()`` rebuilds)."""
        return self._index.fresh()

    def _build(self) -> tuple[int, SearchIndex]:
        generation = self.rows.generation()
        return generation, build_index(self.rows)


def build_index(rows: CatalogRows) -> SearchIndex:
    """Read every stored entity once and index it (about a second for 43,000 entities)."""
    # Hundreds of thousands of small containers: the cyclic collector would rescan them all
    # many times over while they are built, and none of them can form a cycle.
    with building_index():
        return SearchIndex(
            document_texts(json.loads(row.data), row.ref, row.owner_ref)
            for row in rows.search_rows()
        )
