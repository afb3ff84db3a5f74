"""Reading the synced catalog: entities, relations, and name resolution with "did you mean".

Name resolution runs on an in-memory index of every entity's ref, name and title, rebuilt when
the catalog generation changes: full ref, exact name (case-insensitive), title, then rapidfuzz.
"""

from __future__ import annotations

import bisect
import json
import re
import threading
from collections import defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from rapidfuzz import fuzz, process, utils
from sqlalchemy import select

from bot.catalog.model import Entity, EntityRef, Relation
from bot.errors import Ambiguous, CatalogError, NotFound
from bot.store.db import Database
from bot.store.schema import entities, relations

MAX_SUGGESTIONS = 5
AUTO_PICK_SCORE = 85.0  # a fuzzy match at least this good, and clearly ahead, is taken
CLEAR_LEAD = 6.0
SUGGEST_SCORE = 60.0
SHORTLIST = 64
MIN_GUESS_LENGTH = 3  # shorter text is never resolved by a fuzzy guess alone

# When one exact name is shared by several kinds, the entity people usually mean comes first.
KIND_PRIORITY = ("component", "api", "resource", "system", "domain", "group", "user", "template")


@dataclass(frozen=True)
class IndexEntry:
    ref: str
    kind: str
    name: str
    title: str | None


@dataclass(frozen=True)
class Resolution:
    """A resolved name: the ref, and how it was found (for a "showing closest match" note)."""

    ref: EntityRef
    how: str  # "ref" | "name" | "title" | "fuzzy"
    query: str


def _norm(text: str) -> str:
    return re.sub(r"[\s_]+", "-", text.strip().lower())


class NameIndex:
    """Every entity's ref, name and title, for resolution and suggestions."""

    def __init__(self, rows: Iterable[IndexEntry]) -> None:
        self.by_ref: dict[str, IndexEntry] = {}
        self.by_name: dict[str, list[IndexEntry]] = defaultdict(list)
        self.by_title: dict[str, list[IndexEntry]] = defaultdict(list)
        # Fuzzy choices are processed once here (not on every query) and deduplicated: a title
        # is usually the name in other clothes ("Payments API" ~ "payments-api").
        self.choices: list[str] = []
        self.choice_entries: list[IndexEntry] = []
        for row in rows:
            self.by_ref[row.ref] = row
            self.by_name[row.name.lower()].append(row)
            name_key = utils.default_process(row.name)
            self.choices.append(name_key)
            self.choice_entries.append(row)
            if row.title:
                self.by_title[_norm(row.title)].append(row)
                title_key = utils.default_process(row.title)
                if title_key != name_key:
                    self.choices.append(title_key)
                    self.choice_entries.append(row)
        self._kind_choices: dict[tuple[str, ...], tuple[list[str], list[IndexEntry]]] = {}
        self._sorted: dict[tuple[str, ...], list[tuple[str, int]]] = {}

    def __len__(self) -> int:
        return len(self.by_ref)

    def _filtered(self, kinds: tuple[str, ...]) -> tuple[list[str], list[IndexEntry]]:
        if not kinds:
            return self.choices, self.choice_entries
        cached = self._kind_choices.get(kinds)
        if cached is None:
            pairs = [
                (c, e)
                for c, e in zip(self.choices, self.choice_entries, strict=True)
                if e.kind in kinds
            ]
            cached = ([c for c, _ in pairs], [e for _, e in pairs])
            self._kind_choices[kinds] = cached
        return cached

    def resolve(self, text: str, kinds: Sequence[str] = ()) -> Resolution:
        """The one entity ``text`` names, or ``NotFound``/``Ambiguous`` with suggestions.

        The error carries ``query``, so "did you mean" can put a suggestion in its place.
        """
        try:
            return self._resolve(text, kinds)
        except (NotFound, Ambiguous) as exc:
            exc.query = text.strip()
            raise

    def _resolve(self, text: str, kinds: Sequence[str]) -> Resolution:
        query = text.strip()
        wanted = tuple(k.lower() for k in kinds)
        if not query:
            raise NotFound(
                "Which entity? Give a name, a title or a ref like component:payments-api"
            )
        # 1. a full or partial ref with an explicit kind: component:payments-api
        missing_ref: EntityRef | None = None
        if ":" in query and " " not in query:
            try:
                ref = EntityRef.parse(query)
            except CatalogError:
                ref = None
            missing_ref = ref
            if ref is not None and str(ref) in self.by_ref:
                if wanted and ref.kind not in wanted:
                    raise NotFound(
                        f"{query} is a {ref.kind}, but this command takes {' or '.join(wanted)}"
                    )
                return Resolution(ref, "ref", query)
        # namespace/name without kind
        if "/" in query and ":" not in query and " " not in query:
            ns, _, name = query.lower().partition("/")
            hits = [
                e for e in self.by_name.get(name, []) if e.ref.split(":", 1)[1] == f"{ns}/{name}"
            ]
            picked = self._pick(hits, wanted, query)
            if picked is not None:
                return Resolution(EntityRef.parse(picked.ref), "name", query)
        # 2. exact name, 3. title (or the name with spaces for dashes)
        for how, table, key in (
            ("name", self.by_name, query.lower()),
            ("title", self.by_title, _norm(query)),
            ("name", self.by_name, _norm(query)),
        ):
            picked = self._pick(table.get(key, []), wanted, query)
            if picked is not None:
                return Resolution(EntityRef.parse(picked.ref), how, query)
        if missing_ref is not None:
            # A ref names one entity exactly; nearby names, not a fuzzy match on "kind:ns/".
            same = [
                e.ref
                for e in self.by_name.get(missing_ref.name, [])
                if not wanted or e.kind in wanted
            ]
            near = [e.ref for e, _ in self.suggest(missing_ref.name, wanted)]
            raise NotFound(
                f"There is no {missing_ref} in the catalog.",
                tuple(dict.fromkeys(same + near))[:MAX_SUGGESTIONS],
            )
        # 4. fuzzy
        ranked = self.suggest(query, wanted, limit=MAX_SUGGESTIONS * 2)
        if not ranked:
            raise NotFound(f"Nothing like “{query}” in the catalog.")
        best_score = ranked[0][1]
        second = ranked[1][1] if len(ranked) > 1 else 0.0
        # A guess from one or two characters is no guess a person would make: suggest instead.
        confident = len(query) >= MIN_GUESS_LENGTH
        if confident and best_score >= AUTO_PICK_SCORE and best_score - second >= CLEAR_LEAD:
            return Resolution(EntityRef.parse(ranked[0][0].ref), "fuzzy", query)
        close_entries = [e for e, score in ranked if score >= best_score - CLEAR_LEAD]
        close_entries.sort(
            key=lambda e: (KIND_PRIORITY.index(e.kind) if e.kind in KIND_PRIORITY else 99, e.name)
        )
        close = [e.ref for e in close_entries]
        if best_score >= AUTO_PICK_SCORE and len(close) > 1:
            raise Ambiguous(
                f"“{query}” could mean several entities:", tuple(close[:MAX_SUGGESTIONS])
            )
        raise NotFound(
            f"Nothing named “{query}”.",
            tuple(e.ref for e, _ in ranked[:MAX_SUGGESTIONS]),
        )

    def _pick(
        self, hits: list[IndexEntry], wanted: tuple[str, ...], query: str
    ) -> IndexEntry | None:
        if wanted:
            hits = [h for h in hits if h.kind in wanted]
        if not hits:
            return None
        if len(hits) == 1:
            return hits[0]

        # Several kinds share the name: prefer by kind; same kind in several namespaces prefers
        # the default namespace; otherwise it is ambiguous.
        def rank(e: IndexEntry) -> tuple[int, int]:
            kind_rank = KIND_PRIORITY.index(e.kind) if e.kind in KIND_PRIORITY else 99
            return (kind_rank, 0 if ":default/" in e.ref else 1)

        ordered = sorted(hits, key=rank)
        if rank(ordered[0]) < rank(ordered[1]):
            return ordered[0]
        raise Ambiguous(
            f"“{query}” could mean several entities:",
            tuple(h.ref for h in ordered[:MAX_SUGGESTIONS]),
        )

    def _prefixed(self, query: str, choices: list[str], kinds_key: tuple[str, ...]) -> list[int]:
        """Indexes of up to SHORTLIST choices that start with ``query`` (sorted-list bisect)."""
        ordered = self._sorted.get(kinds_key)
        if ordered is None:
            ordered = sorted((c, i) for i, c in enumerate(choices))
            self._sorted[kinds_key] = ordered
        start = bisect.bisect_left(ordered, (query, -1))
        out = []
        for choice, idx in ordered[start : start + SHORTLIST]:
            if not choice.startswith(query):
                break
            out.append(idx)
        return out

    def suggest(
        self, text: str, kinds: Sequence[str] = (), limit: int = MAX_SUGGESTIONS
    ) -> list[tuple[IndexEntry, float]]:
        """The best fuzzy matches for ``text`` (each entity once), best first."""
        choices, entries = self._filtered(tuple(k.lower() for k in kinds))
        if not choices or not text.strip():
            return []
        query = utils.default_process(text)
        if not query:
            return []
        # Two stages keep a 40,000-entity catalog fast: plain edit-distance ratio (cheap,
        # bit-parallel) and prefix hits pick a shortlist; WRatio ranks only the shortlist.
        shortlist: dict[int, str] = {}
        for choice, _score, idx in process.extract(
            query, choices, scorer=fuzz.ratio, processor=None, limit=SHORTLIST, score_cutoff=30
        ):
            shortlist[idx] = choice
        for idx in self._prefixed(query, choices, kinds_key=tuple(k.lower() for k in kinds)):
            shortlist.setdefault(idx, choices[idx])
        found = [
            (choice, score, idx)
            for idx, choice in shortlist.items()
            if (score := fuzz.WRatio(query, choice, score_cutoff=SUGGEST_SCORE)) >= SUGGEST_SCORE
        ]
        found.sort(key=lambda hit: -hit[1])
        out: list[tuple[IndexEntry, float]] = []
        seen: set[str] = set()
        for _choice, score, idx in found:
            entry = entries[idx]
            if entry.ref in seen:
                continue
            seen.add(entry.ref)
            out.append((entry, float(score)))
            if len(out) >= limit:
                break
        # Prefer names that start with the query when scores tie (autocomplete feel).
        lowered = text.lower()

        def order(pair: tuple[IndexEntry, float]) -> tuple[float, bool, int, int]:
            entry, score = pair
            kind_rank = KIND_PRIORITY.index(entry.kind) if entry.kind in KIND_PRIORITY else 99
            return (-score, not entry.name.lower().startswith(lowered), kind_rank, len(entry.name))

        out.sort(key=order)
        return out


class CatalogReader:
    """Read access to the synced catalog; cheap to call from every command."""

    def __init__(self, db: Database) -> None:
        self.db = db
        self._index: NameIndex | None = None
        self._index_generation = -1
        self._lock = threading.Lock()

    def index(self) -> NameIndex:
        generation = self.db.generation()
        if self._index is None or generation != self._index_generation:
            with self._lock:
                if self._index is None or generation != self._index_generation:
                    with self.db.engine.connect() as conn:
                        rows = conn.execute(
                            select(
                                entities.c.ref, entities.c.kind, entities.c.name, entities.c.title
                            )
                        ).all()
                    self._index = NameIndex(
                        IndexEntry(r.ref, r.kind, r.name, r.title) for r in rows
                    )
                    self._index_generation = generation
        return self._index

    def resolve(self, text: str, kinds: Sequence[str] = ()) -> Resolution:
        return self.index().resolve(text, kinds)

    def get(self, ref: EntityRef | str) -> Entity | None:
        with self.db.engine.connect() as conn:
            row = conn.execute(
                select(entities.c.data, entities.c.file, entities.c.line).where(
                    entities.c.ref == str(ref).lower()
                )
            ).first()
        if row is None:
            return None
        return Entity.from_document(json.loads(row.data), row.file, row.line)

    def get_many(self, refs: Iterable[EntityRef | str]) -> dict[str, Entity]:
        wanted = sorted({str(r).lower() for r in refs})
        out: dict[str, Entity] = {}
        with self.db.engine.connect() as conn:
            for start in range(0, len(wanted), 500):
                chunk = wanted[start : start + 500]
                for row in conn.execute(
                    select(entities.c.ref, entities.c.data, entities.c.file, entities.c.line).where(
                        entities.c.ref.in_(chunk)
                    )
                ):
                    out[row.ref] = Entity.from_document(json.loads(row.data), row.file, row.line)
        return out

    def relations(self, ref: EntityRef | str, types: Sequence[str] = ()) -> list[Relation]:
        """Relations on ``ref`` (its own and those others emitted toward it), deduplicated."""
        stmt = select(relations.c.type, relations.c.target_ref).where(
            relations.c.source_ref == str(ref).lower()
        )
        if types:
            stmt = stmt.where(relations.c.type.in_(list(types)))
        with self.db.engine.connect() as conn:
            rows = conn.execute(stmt).all()
        source = EntityRef.parse(str(ref))
        seen = {(r.type, r.target_ref) for r in rows}
        return [Relation(source, t, EntityRef.parse(target)) for t, target in sorted(seen)]

    def related(self, ref: EntityRef | str, rel_type: str) -> list[EntityRef]:
        return [r.target for r in self.relations(ref, (rel_type,))]

    def users_by_email(self, email: str) -> list[Entity]:
        """Users whose ``spec.profile.email`` is ``email`` (case-insensitive)."""
        needle = email.strip().lower()
        with self.db.engine.connect() as conn:
            rows = conn.execute(
                select(entities.c.data, entities.c.file, entities.c.line).where(
                    entities.c.kind == "user",
                    entities.c.data.contains(needle.split("@")[0]),
                )
            ).all()
        found = []
        for row in rows:
            entity = Entity.from_document(json.loads(row.data), row.file, row.line)
            if entity.email and entity.email.lower() == needle:
                found.append(entity)
        return found

    def with_annotation(self, kind: str, key: str, value: str) -> list[Entity]:
        """Entities of ``kind`` whose annotation ``key`` equals ``value``."""
        with self.db.engine.connect() as conn:
            rows = conn.execute(
                select(entities.c.data, entities.c.file, entities.c.line).where(
                    entities.c.kind == kind.lower(), entities.c.data.contains(value)
                )
            ).all()
        found = []
        for row in rows:
            entity = Entity.from_document(json.loads(row.data), row.file, row.line)
            if entity.annotations.get(key) == value:
                found.append(entity)
        return found

    def count(self) -> int:
        return len(self.index())
