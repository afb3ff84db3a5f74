"""Reading the synced catalog: entities, relations, and name resolution with "did you mean".

Name resolution runs on an in-memory index of every entity's ref, name and title, brought up to
date when the catalog generation changes (updated from what this process's sync changed, else
rebuilt): full ref, exact name (case-insensitive), title, then rapidfuzz.
"""

from __future__ import annotations

import bisect
import contextlib
import dataclasses
import functools
import gc
import heapq
import itertools
import json
import re
import sys
import threading
import time
from array import array
from collections import defaultdict
from collections.abc import Callable, Iterable, Iterator, Mapping, MutableMapping, Sequence
from dataclasses import dataclass
from typing import Any, Generic, TypeVar

from rapidfuzz import fuzz, process, utils

from bot.annotations import USER_ID_ANNOTATIONS
from bot.catalog.model import Entity, EntityRef, Relation
from bot.catalog.rows import (
    CatalogChange,
    CatalogRows,
    DocumentRow,
    ListedEntity,
    NameRow,
    NamesSnapshot,
)
from bot.errors import Ambiguous, CatalogError, NotFound
from bot.identity import as_email, mentioned_id
from bot.suggest import FULL_SCAN_MAX, NearNames

MAX_SUGGESTIONS = 5
AUTO_PICK_SCORE = 85.0  # a fuzzy match at least this good, and clearly ahead, is taken
CLEAR_LEAD = 6.0
SUGGEST_SCORE = 60.0
SHORTLIST = 64
MIN_GUESS_LENGTH = 3  # shorter text is never resolved by a fuzzy guess alone
CLOSE_RATIO = 80.0  # a whole-string likeness this good is a typo, not another name
CLOSE_LIMIT = 200  # fuzzy candidates looked at to count the close ones
# Fuzzy matching looks at this much of what was typed: no name or title is longer that matters,
# and a 40 KB message (a type-ahead box, a DM) must cost no more than a name.
MAX_QUERY_CHARS = 256

# When one exact name is shared by several kinds, the entity people usually mean comes first.
KIND_PRIORITY = ("component", "api", "resource", "system", "domain", "group", "user", "template")


class IndexEntry:
    """One entity in the name index (a million of them at Spotify's scale: four slots).

    No ref string is kept: ``ref`` is derived from the kind, the namespace (one interned string
    per namespace) and the name, lower-cased, as the store writes it. Users and Groups carry
    their profile too (``PersonEntry``); every other entity answers ``None`` and ``()`` for it.
    ``IndexEntry.of`` makes the most compact entry for a name (``SpokenName``).
    Read-only by convention; equal and hashed by value, like the frozen record it replaces.
    """

    __slots__ = ("_text", "kind", "namespace", "title")
    email: str | None = None  # spec.profile.email, lower-cased (Users and Groups)
    display: str | None = None  # spec.profile.displayName, when there is no title
    chat_ids: tuple[str, ...] = ()  # a User's chat user ids (slack.com/user-id...)

    def __init__(self, ref: str, kind: str, name: str, title: str | None) -> None:
        kind_part, colon, rest = ref.partition(":")
        namespace, slash, lowered = rest.rpartition("/")
        if kind_part != kind or not colon or not slash or not namespace or lowered != name.lower():
            raise ValueError(f"{ref!r} is not the ref of {kind} {name!r}")
        namespace = sys.intern(namespace)  # one string per namespace, not one per entity
        self.namespace = namespace
        self.kind = kind
        self._text = name
        self.title = title

    @staticmethod
    def of(ref: str, kind: str, name: str, title: str | None) -> IndexEntry:
        """The entry for a name, as compact as it can be: a lower-case name of words joined by
        single dashes (most of a catalog's) is held as its fuzzy choice (``SpokenName``)."""
        spoken = utils.default_process(name)
        if spoken.replace(" ", "-") != name:
            return IndexEntry(ref, kind, name, title)
        entry = SpokenName(ref, kind, name, title)
        entry._text = spoken
        return entry

    @property
    def name(self) -> str:
        """The name as written."""
        return self._text

    @property
    def ref(self) -> str:
        """The lower-cased ``kind:namespace/name``."""
        return f"{self.kind}:{self.namespace}/{self.name.lower()}"

    def _key(self) -> tuple[object, ...]:
        return (self.ref, self.kind, self.name, self.title, self.email, self.display, self.chat_ids)

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, IndexEntry):
            return NotImplemented
        return self is other or self._key() == other._key()

    def __hash__(self) -> int:
        return hash(self._key())

    def __repr__(self) -> str:
        person = (
            f", {self.email!r}, {self.display!r}, {self.chat_ids!r}"
            if self.email or self.display or self.chat_ids
            else ""
        )
        shown = f"{self.ref!r}, {self.kind!r}, {self.name!r}, {self.title!r}{person}"
        return f"{type(self).__name__}({shown})"


class SpokenName(IndexEntry):
    """An entry whose name is its fuzzy choice (``utils.default_process``) with dashes for the
    spaces: ``payments-api`` is held as ``payments api``, one string for the name, its fuzzy
    choice and its key in ``NameIndex.by_name`` (a million names at Spotify's scale)."""

    __slots__ = ()

    @property
    def name(self) -> str:
        return self._text.replace(" ", "-")


class PersonEntry(IndexEntry):
    """A User or Group in the name index: its profile's email and display name, and a User's
    chat user ids."""

    __slots__ = ("chat_ids", "display", "email")

    def __init__(
        self,
        ref: str,
        kind: str,
        name: str,
        title: str | None,
        email: str | None = None,
        display: str | None = None,
        chat_ids: tuple[str, ...] = (),
    ) -> None:
        super().__init__(ref, kind, name, title)
        self.email = email
        self.display = display
        self.chat_ids = chat_ids


@dataclass(frozen=True)
class Resolution:
    """A resolved name: the ref, and how it was found (for a "showing closest match" note)."""

    ref: EntityRef
    how: str  # "ref" | "name" | "title" | "fuzzy"
    query: str


@dataclass(frozen=True)
class Ownership:
    """Who owns an entity, read in one go: all that ``/whoowns`` shows of its owner.

    ``owner_ref`` is the entity's first ``ownedBy`` target (None: no owner recorded) and
    ``owner`` that entity (None also when the ref is not in the catalog). For a Group owner,
    ``parents`` is its chain of parents, nearest first (it stops at a cycle), and ``members``
    its members by display name; for a User owner, ``groups`` the groups it is a member of.
    """

    owner_ref: EntityRef | None = None
    owner: Entity | None = None
    parents: tuple[EntityRef, ...] = ()
    members: tuple[Entity, ...] = ()
    groups: tuple[EntityRef, ...] = ()


@dataclass(frozen=True)
class Holdings:
    """What a Group or User owns directly (by ref), read in one go with its people: a
    Group's ``members`` by display name, a User's ``groups``."""

    owned: dict[str, Entity]
    members: tuple[Entity, ...] = ()
    groups: tuple[EntityRef, ...] = ()


def _norm(text: str) -> str:
    return re.sub(r"[\s_]+", "-", text.strip().lower())


_TOKEN = re.compile(r"[a-z0-9]+")


def _likeness(query: str, entry: IndexEntry) -> float:
    """How alike ``query`` and the entry's name or title are as whole strings (0-100)."""
    q = utils.default_process(query)
    return max(
        fuzz.ratio(q, utils.default_process(text))
        for text in (entry.name, entry.title, entry.display)
        if text
    )


def _close(query: str, entry: IndexEntry) -> bool:
    """Is ``entry`` a name the user may have meant: a near spelling of it (a typo), or every
    word typed starts a word of its name or title (``payments`` → ``payments-api``)?"""
    words = _TOKEN.findall(query.lower())
    for text in (entry.name, entry.title, entry.display):
        if not text or not words:
            continue
        tokens = _TOKEN.findall(text.lower())
        if all(any(t.startswith(w) for t in tokens) for w in words):
            return True
    return _likeness(query, entry) >= CLOSE_RATIO


def _kind_then_name(e: IndexEntry) -> tuple[int, str]:
    return (KIND_PRIORITY.index(e.kind) if e.kind in KIND_PRIORITY else 99, e.name)


Held = IndexEntry | list[IndexEntry]  # one entry, or the several that share a key


def _add(table: dict[str, Held], key: str, entry: IndexEntry) -> None:
    held = table.get(key)
    if held is None:
        table[key] = entry  # most keys name one entity: no list for it
    elif isinstance(held, list):
        held.append(entry)
    else:
        table[key] = [held, entry]


def _held(table: Mapping[str, Held], key: str) -> list[IndexEntry]:
    held = table.get(key)
    if held is None:
        return []
    return list(held) if isinstance(held, list) else [held]


def _put(table: MutableMapping[str, Held], key: str, entry: IndexEntry) -> None:
    """``_add`` on a table shared with another index: a list held is replaced, not changed."""
    held = table.get(key)
    if held is None:
        table[key] = entry
    elif isinstance(held, list):
        table[key] = [*held, entry]
    else:
        table[key] = [held, entry]


def _drop(table: MutableMapping[str, Held], key: str, entry: IndexEntry) -> None:
    """``entry`` taken from what ``key`` holds (a list held is replaced, not changed); one
    entry left is held alone, as a build holds it."""
    held = table.get(key)
    if held is entry:
        del table[key]
    elif isinstance(held, list):
        rest = [e for e in held if e is not entry]
        if not rest:
            del table[key]
        else:
            table[key] = rest[0] if len(rest) == 1 else rest


def _listed_put(table: dict[str, list[IndexEntry]], key: str, entry: IndexEntry) -> None:
    table[key] = [*table.get(key, ()), entry]


def _listed_drop(table: dict[str, list[IndexEntry]], key: str, entry: IndexEntry) -> None:
    rest = [e for e in table.get(key, ()) if e is not entry]
    if rest:
        table[key] = rest
    else:
        table.pop(key, None)


_ABSENT: Any = object()


class Layered(MutableMapping[str, Held]):
    """A large table of the name index shared with the indexes it was updated from (``base``,
    never changed) under the keys changed since (``top``: what each holds now, None when
    removed). An update copies ``top`` alone: a million keys copied, or a dict grown to
    them, is one C call of 20-40 ms with the GIL held. Changed only while the index that
    holds it is made (``NameIndex.updated``)."""

    def __init__(self, base: dict[str, Held], top: dict[str, Held | None], size: int) -> None:
        self.base = base
        self.top = top
        self._size = size

    @staticmethod
    def over(table: Mapping[str, Held]) -> Layered:
        """A new table over ``table`` (a built index's dict, or another ``Layered``: its top
        copied; folded into a new base in slices when it has grown to a quarter of it)."""
        if not isinstance(table, Layered):
            return Layered(table, {}, len(table))  # type: ignore[arg-type]
        if len(table.top) * 4 <= len(table.base) + FOLD_MIN:
            return Layered(table.base, _copied(table.top, {}), table._size)
        base = _copied(table.base, {})  # grown in slices (its last resize one call)
        for key, held in table.top.items():
            if held is None:
                base.pop(key, None)
            else:
                base[key] = held
        return Layered(base, {}, len(base))

    def get(self, key: str, default: Any = None) -> Any:
        held = self.top.get(key, _ABSENT)
        if held is _ABSENT:
            return self.base.get(key, default)
        return default if held is None else held

    def __getitem__(self, key: str) -> Held:
        held = self.get(key, _ABSENT)
        if held is _ABSENT:
            raise KeyError(key)
        return held  # type: ignore[no-any-return]

    def __setitem__(self, key: str, held: Held) -> None:
        if self.get(key, _ABSENT) is _ABSENT:
            self._size += 1
        self.top[key] = held

    def __delitem__(self, key: str) -> None:
        if self.get(key, _ABSENT) is _ABSENT:
            raise KeyError(key)
        self._size -= 1
        if key in self.base:
            self.top[key] = None
        else:
            del self.top[key]

    def __iter__(self) -> Iterator[str]:
        top = self.top
        yield from (key for key in self.base if key not in top)
        yield from (key for key, held in top.items() if held is not None)

    def __len__(self) -> int:
        return self._size


FOLD_MIN = 4096  # keys changed that a ``Layered`` table keeps on top of any base
COPY_STEP = 8_192  # items of a table copied in one C call by ``_copied`` (a few ms)
K = TypeVar("K")
V = TypeVar("V")


def _copied(table: dict[K, V], into: dict[K, V]) -> dict[K, V]:
    """``into`` updated with ``table``'s items, a slice at a time: ``dict.copy`` of a million
    keys is one C call (20-40 ms, the GIL held)."""
    items = iter(table.items())
    while chunk := list(itertools.islice(items, COPY_STEP)):
        into.update(chunk)
    return into


def _filed(row: IndexEntry) -> tuple[str, list[str], list[str], int]:
    """Where ``NameIndex`` files ``row``, as its build does: its ``by_name`` key, its fuzzy
    choices (the name's first), its ``by_title`` keys, and the most words in its name or
    titles."""
    process_text = utils.default_process
    name = row.name
    if type(row) is SpokenName:
        name_key = key = row._text
    else:
        name_key = process_text(name)
        key = process_text(name.lower())
        if key == name_key:
            key = name_key  # one string for both, as the build keeps it
    choices = [name_key]
    titles: list[str] = []
    width = len(name.split())
    title, display = row.title, row.display
    if title is not None or display is not None:
        for text in (title,) if display == title else (title, display):
            if not text:
                continue
            width = max(width, len(text.split()))
            titles.append(_norm(text))
            title_key = process_text(text)
            if title_key not in choices:
                choices.append(title_key)
    return key, choices, titles, width


_FLIP = bytes([1, 0]) + bytes(254)  # bytes.translate: 0 <-> 1


class NameIndex:
    """Every entity's ref, name and title, for resolution and suggestions.

    Compact for a million entities: an entity is one ``IndexEntry`` (no ref string), found by
    its lower-cased name through ``by_name``, keyed by the name's fuzzy choice (one string for
    both, and for a ``SpokenName`` its name too), which holds the entry itself unless several
    entities share the key (``named`` keeps those of the exact name); a ref is looked up
    through its name (``entry``, ``in``). Every table hangs from an attribute, so that a
    replaced index is freed in steps (``release_in_steps``).
    """

    def __init__(self, rows: Iterable[IndexEntry], full_scan_max: int = FULL_SCAN_MAX) -> None:
        by_name: dict[str, Held] = {}
        by_title: dict[str, Held] = {}
        # Dicts when built, ``Layered`` when updated (no copy of a million keys).
        self.by_name: Mapping[str, Held] = by_name
        self.by_title: Mapping[str, Held] = by_title
        # Fuzzy choices are processed once here (not on every query) and deduplicated: a title
        # is usually the name in other clothes ("Payments API" ~ "payments-api").
        self.choices: list[str] = []
        self.choice_entries: list[IndexEntry] = []
        self.by_email: dict[str, list[IndexEntry]] = defaultdict(list)
        self.by_chat_id: dict[str, list[IndexEntry]] = defaultdict(list)
        self.max_words = 1  # the most words in one name or title (bounds a leading-name scan)
        choices, choice_entries = self.choices, self.choice_entries
        process_text = utils.default_process
        count = 0
        max_words = 1
        widths: dict[int, int] = {}  # entities by the most words in their name or titles
        for row in rows:
            count += 1
            name = row.name
            if type(row) is SpokenName:
                name_key = key = row._text  # one string: the name, its choice, its key
            else:
                name_key = process_text(name)
                key = process_text(name.lower())
                if key == name_key:
                    key = name_key
            _add(by_name, key, row)
            if row.email:
                self.by_email[row.email.lower()].append(row)
            for chat_id in row.chat_ids:
                self.by_chat_id[chat_id].append(row)
            width = len(name.split())
            choices.append(name_key)
            choice_entries.append(row)
            title, display = row.title, row.display
            if title is not None or display is not None:
                keys = [name_key]
                for text in (title,) if display == title else (title, display):
                    if not text:
                        continue
                    width = max(width, len(text.split()))
                    title_norm = _norm(text)
                    _add(by_title, title_norm, row)
                    title_key = process_text(text)
                    if title_key not in keys:
                        keys.append(title_key)
                        choices.append(title_key)
                        choice_entries.append(row)
            widths[width] = widths.get(width, 0) + 1
            max_words = max(max_words, width)
        self.max_words = max_words
        self._widths = widths
        self._count = count
        self._full_scan_max = full_scan_max
        self._kind_choices: dict[tuple[str, ...], tuple[list[str], list[IndexEntry]]] = {}
        self._sorted: dict[tuple[str, ...], list[tuple[str, int]]] = {}
        # Too many choices to score each for a misspelt name: where to look, built here (in
        # the index's build, off the event loop).
        self._near = (
            NearNames(self.choices, _sort_indexes) if len(self.choices) > full_scan_max else None
        )

    def updated(self, gone: Iterable[str], rows: Iterable[IndexEntry]) -> NameIndex:
        """This index without the entities ``gone`` (lower-cased refs) and with ``rows`` (a
        changed entity is in both, or in ``rows`` alone): a new index, left as it was.

        Equal to a build from scratch on the survivors in their order, then ``rows`` in
        theirs: every table, the fuzzy choices and ``NearNames``'s sorted orders (merged, not
        sorted again). Large tables are copied and remapped in slices (no C call holds the
        GIL for long at a million entities); a list shared with this index is replaced, never
        changed, so the answers under way on this one see it as it was.
        """
        added = list(rows)
        refs = {ref.lower() for ref in gone}
        for row in added:
            refs.add(row.ref)
        dropped: dict[int, IndexEntry] = {}  # by id: entries are equal by value
        for ref in refs:
            entry = self.entry(ref)
            if entry is not None:
                dropped[id(entry)] = entry
        index = NameIndex.__new__(NameIndex)
        by_name = Layered.over(self.by_name)
        by_title = Layered.over(self.by_title)
        by_email: dict[str, list[IndexEntry]] = _copied(self.by_email, defaultdict(list))
        by_chat_id: dict[str, list[IndexEntry]] = _copied(self.by_chat_id, defaultdict(list))
        widths = dict(self._widths)  # a few keys
        gone_texts: list[str] = []
        for entry in dropped.values():
            key, texts, titles, width = _filed(entry)
            gone_texts.extend(texts)
            _drop(by_name, key, entry)
            for title in dict.fromkeys(titles):
                _drop(by_title, title, entry)
            if entry.email:
                _listed_drop(by_email, entry.email.lower(), entry)
            for chat_id in dict.fromkeys(entry.chat_ids):
                _listed_drop(by_chat_id, chat_id, entry)
            widths[width] -= 1
            if not widths[width]:
                del widths[width]
        # The survivors' choices in their order, and where each old choice now is.
        choices: list[str] = []
        entries: list[IndexEntry] = []
        kept = bytearray()
        moved = array("I")
        for at in range(0, len(self.choices), COPY_STEP):  # in slices: each one C call
            part = self.choice_entries[at : at + COPY_STEP]
            live = bytes(map(dropped.__contains__, map(id, part))).translate(_FLIP)
            moved.extend(
                itertools.islice(itertools.accumulate(live, initial=len(choices)), len(live))
            )
            kept += live
            choices.extend(itertools.compress(self.choices[at : at + COPY_STEP], live))
            entries.extend(itertools.compress(part, live))
        start = len(choices)
        for entry in added:
            key, texts, titles, width = _filed(entry)
            _put(by_name, key, entry)
            for title in titles:
                _put(by_title, title, entry)
            if entry.email:
                _listed_put(by_email, entry.email.lower(), entry)
            for chat_id in entry.chat_ids:
                _listed_put(by_chat_id, chat_id, entry)
            widths[width] = widths.get(width, 0) + 1
            choices.extend(texts)
            entries.extend([entry] * len(texts))
        index.by_name = by_name
        index.by_title = by_title
        index.choices = choices
        index.choice_entries = entries
        index.by_email = by_email
        index.by_chat_id = by_chat_id
        index._widths = widths
        index.max_words = max(1, max(widths, default=1))
        index._count = self._count - len(dropped) + len(added)
        index._full_scan_max = self._full_scan_max
        index._kind_choices = {}
        index._sorted = {}
        if len(choices) <= self._full_scan_max:
            index._near = None
        elif self._near is None:
            index._near = NearNames(choices, _sort_indexes)
        else:
            index._near = self._near.updated(
                choices, bytes(kept), moved, start, gone_texts, _sort_indexes
            )
        return index

    def __len__(self) -> int:
        return self._count

    def __contains__(self, ref: object) -> bool:
        """Is ``ref`` (a lower-cased ``kind:namespace/name``) in the index?"""
        return isinstance(ref, str) and self.entry(ref) is not None

    def entry(self, ref: str) -> IndexEntry | None:
        """The entity whose lower-cased ref is ``ref``; None if there is none."""
        name = ref.rpartition("/")[2]
        for entry in self.named(name):
            if entry.ref == ref:
                return entry
        return None

    def entries(self) -> Iterator[IndexEntry]:
        """Every entity, each once, in the order they were indexed."""
        last: IndexEntry | None = None
        for entry in self.choice_entries:  # an entity's name, then its titles, side by side
            if entry is not last:
                last = entry
                yield entry

    def named(self, name: str) -> list[IndexEntry]:
        """The entities whose name, lower-cased, is ``name``."""
        held = self.by_name.get(utils.default_process(name))
        if held is None:
            return []
        if not isinstance(held, list):
            return [held] if held.name.lower() == name else []
        return [e for e in held if e.name.lower() == name]

    def titled(self, title: str) -> list[IndexEntry]:
        """The entities with the title or display name ``title`` (as ``_norm`` writes it)."""
        return _held(self.by_title, title)

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
        person = self._person(query, wanted)
        if person is not None:
            return person
        query = query.lstrip("@").strip() or query
        # 1. a full or partial ref with an explicit kind: component:payments-api
        missing_ref: EntityRef | None = None
        if ":" in query and " " not in query:
            try:
                ref = EntityRef.parse(query)
            except CatalogError:
                ref = None
            missing_ref = ref
            if ref is not None and str(ref) in self:
                if wanted and ref.kind not in wanted:
                    raise NotFound(
                        f"{query} is a {ref.kind}, but this command takes {' or '.join(wanted)}"
                    )
                return Resolution(ref, "ref", query)
        # namespace/name without kind
        if "/" in query and ":" not in query and " " not in query:
            ns, _, name = query.lower().partition("/")
            hits = [e for e in self.named(name) if e.ref.split(":", 1)[1] == f"{ns}/{name}"]
            picked = self._pick(hits, wanted, query)
            if picked is not None:
                return Resolution(EntityRef.parse(picked.ref), "name", query)
        # 2. exact name, 3. title (or the name with spaces for dashes)
        for how, table, key in (
            ("name", self.named, query.lower()),
            ("title", self.titled, _norm(query)),
            ("name", self.named, _norm(query)),
        ):
            picked = self._pick(table(key), wanted, query)
            if picked is not None:
                return Resolution(EntityRef.parse(picked.ref), how, query)
        if missing_ref is not None:
            # A ref names one entity exactly; nearby names, not a fuzzy match on "kind:ns/".
            same = [e.ref for e in self.named(missing_ref.name) if not wanted or e.kind in wanted]
            near = [e.ref for e, _ in self.suggest(missing_ref.name, wanted)]
            raise NotFound(
                f"There is no {missing_ref} in the catalog.",
                tuple(dict.fromkeys(same + near))[:MAX_SUGGESTIONS],
            )
        # 4. fuzzy: a typo of one name is taken (with a note); several close names are
        # ambiguous; names only loosely alike are "not found", with the nearest as suggestions.
        ranked = self.suggest(query, wanted, limit=CLOSE_LIMIT)
        if not ranked:
            raise NotFound(f"Nothing like “{query}” in the catalog.")
        close = [e for e, _ in ranked if _close(query, e)]
        best_score = ranked[0][1]
        second = ranked[1][1] if len(ranked) > 1 else 0.0
        # A guess from one or two characters is no guess a person would make: suggest instead.
        confident = len(query) >= MIN_GUESS_LENGTH
        best = ranked[0][0]
        clear_typo = (
            best_score >= AUTO_PICK_SCORE
            and best_score - second >= CLEAR_LEAD
            and _likeness(query, best) >= CLOSE_RATIO
        )
        if confident and best in close and (len(close) == 1 or clear_typo):
            return Resolution(EntityRef.parse(best.ref), "fuzzy", query)
        if len(close) > 1:
            close.sort(key=_kind_then_name)
            raise Ambiguous(
                f"“{query}” could mean several entities:",
                tuple(e.ref for e in close[:MAX_SUGGESTIONS]),
                total=len(close),
            )
        raise NotFound(
            f"Nothing named “{query}”.",
            tuple(e.ref for e, _ in ranked[:MAX_SUGGESTIONS]),
        )

    def _person(self, query: str, wanted: tuple[str, ...]) -> Resolution | None:
        """An email (a User's or Group's ``spec.profile.email``, exactly), a chat mention or
        a User's chat user id; None when ``query`` is none of them."""
        email = as_email(query)
        if email is not None:
            hits = [e for e in self.by_email.get(email, []) if not wanted or e.kind in wanted]
            if not hits:
                who = " or ".join(k for k in ("user", "group") if not wanted or k in wanted)
                raise NotFound(
                    f"No {who or 'entity'} in the catalog has the email {email} "
                    "(spec.profile.email)."
                )
            return self._one(hits, query, "email")
        mentioned = mentioned_id(query)
        chat_id = mentioned or query
        hits = [e for e in self.by_chat_id.get(chat_id, []) if not wanted or e.kind in wanted]
        if hits:
            return self._one(hits, query, "chat id")
        if mentioned is not None:
            keys = " or ".join(USER_ID_ANNOTATIONS.values())
            raise NotFound(
                f"No User in the catalog has the chat id {mentioned} ({keys} annotation)."
            )
        if query.startswith("@") and len(query) > 1 and (not wanted or "user" in wanted):
            # A mention as typed where the platform does not escape it (`@ana.silva`, `@Ana
            # Silva`): the User by name or display name; anything else resolves without the @.
            handle = query[1:].strip()
            users = [
                e
                for e in (
                    *self.named(handle.lower()),
                    *self.titled(_norm(handle)),
                )
                if e.kind == "user"
            ]
            if users:
                return self._one(list(dict.fromkeys(users)), query, "mention")
        return None

    def _one(self, hits: list[IndexEntry], query: str, how: str) -> Resolution:
        if len(hits) > 1:
            hits = sorted(hits, key=_kind_then_name)
            raise Ambiguous(
                f"Several entities have {query}; it should name one:",
                tuple(h.ref for h in hits[:MAX_SUGGESTIONS]),
                total=len(hits),
            )
        return Resolution(EntityRef.parse(hits[0].ref), how, query)

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
            ordered = sorted_in_steps((c, i) for i, c in enumerate(choices))
            self._sorted[kinds_key] = ordered
        start = bisect.bisect_left(ordered, (query, -1))
        out = []
        for choice, idx in ordered[start : start + SHORTLIST]:
            if not choice.startswith(query):
                break
            out.append(idx)
        return out

    def _near_shortlist(
        self, near: NearNames, query: str, wanted: tuple[str, ...]
    ) -> dict[int, str]:
        """The shortlist of a large index: the best by plain ratio of the choices ``near``
        picks, and those starting with ``query`` (of the wanted kinds)."""
        entries = self.choice_entries

        def keep(idx: int) -> bool:
            return not wanted or entries[idx].kind in wanted

        picked = [idx for idx in near.candidates(query) if keep(idx)]
        texts = [self.choices[idx] for idx in picked]
        shortlist: dict[int, str] = {}
        for choice, _score, at in process.extract(
            query, texts, scorer=fuzz.ratio, processor=None, limit=SHORTLIST, score_cutoff=30
        ):
            shortlist[picked[at]] = choice
        for idx in near.starting(query, SHORTLIST, keep):
            shortlist.setdefault(idx, self.choices[idx])
        return shortlist

    def suggest(
        self, text: str, kinds: Sequence[str] = (), limit: int = MAX_SUGGESTIONS
    ) -> list[tuple[IndexEntry, float]]:
        """The best fuzzy matches for ``text`` (each entity once), best first."""
        wanted = tuple(k.lower() for k in kinds)
        text = text[:MAX_QUERY_CHARS]
        if not text.strip():
            return []
        query = utils.default_process(text)
        if not query:
            return []
        # Two stages keep a 40,000-entity catalog fast: plain edit-distance ratio (cheap,
        # bit-parallel) and prefix hits pick a shortlist; WRatio ranks only the shortlist.
        # A larger catalog scores only the choices ``NearNames`` picks (sublinear).
        if self._near is not None:
            choices, entries = self.choices, self.choice_entries
            shortlist = self._near_shortlist(self._near, query, wanted)
        else:
            choices, entries = self._filtered(wanted)
            shortlist = {}
            for choice, _score, idx in process.extract(
                query, choices, scorer=fuzz.ratio, processor=None, limit=SHORTLIST, score_cutoff=30
            ):
                shortlist[idx] = choice
            for idx in self._prefixed(query, choices, kinds_key=wanted):
                shortlist.setdefault(idx, choices[idx])
        if not choices:
            return []
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


SORT_STEP = 2048  # items sorted in one call by ``sorted_in_steps``
S = TypeVar("S")


def _itself(item: Any) -> Any:
    return item


def sorted_in_steps(items: Iterable[S], key: Callable[[S], Any] | None = None) -> list[S]:
    """``sorted(items, key=key)``, without holding the GIL for the whole sort.

    ``list.sort`` compares in C and never lets another thread run: sorting the 86,000 names
    and titles of a 43,000-entity catalog takes 50-200 ms, a stall of the event loop however
    far from it the sort runs. Sorted in runs of ``SORT_STEP`` (a few milliseconds each) and
    merged by ``heapq.merge``, whose Python loop hands the GIL over like any other code. Stable,
    like ``sorted``.
    """
    pending = list(items)
    by: Callable[[S], Any] = key if key is not None else _itself
    if len(pending) <= SORT_STEP:
        return sorted(pending, key=by)
    runs = [
        sorted(pending[start : start + SORT_STEP], key=by)
        for start in range(0, len(pending), SORT_STEP)
    ]
    clear_in_steps(pending)  # a million ints freed at the return: one C call, ~30 ms
    merged = list(heapq.merge(*runs, key=by))
    for run in runs:
        run.clear()
    return merged


def _sort_indexes(indexes: Iterable[int], key: Callable[[int], str]) -> array[int]:
    return as_array_in_steps(sorted_in_steps(indexes, key), "I")


def as_array_in_steps(values: list[int], typecode: str = "i") -> array[int]:
    """``values`` as an array, the list emptied: both a slice at a time (a million ints
    converted, or freed, in one C call hold the GIL for tens of milliseconds)."""
    out = array(typecode)
    for start in range(0, len(values), RELEASE_STEP * 16):
        out.extend(values[start : start + RELEASE_STEP * 16])
    clear_in_steps(values)
    return out


RELEASE_STEP = 2048  # items of a container freed in one go by ``release_in_steps``


def clear_in_steps(items: list[Any] | dict[Any, Any] | set[Any]) -> None:
    """Empty ``items`` (a container only the caller holds) a slice or an item at a time.

    Freeing a large structure is one C call, however it happens (the last reference going,
    ``list.clear``): the 43,000 documents' texts a search index is built from take 20-25 ms
    to free, the GIL held throughout, a stall of the event loop however far from it. Emptied
    in steps, with Python code between them that hands the GIL over like any other.
    """
    if isinstance(items, list):
        while items:
            del items[-RELEASE_STEP:]
    elif isinstance(items, dict):
        while items:
            items.popitem()
    else:
        while items:
            items.pop()


def release_in_steps(holder: list[Any]) -> None:
    """Free each item of ``holder`` (an index just replaced, a sync's working state) a few
    thousand objects at a time, if nothing else refers to it; ``holder`` is left empty.

    A 43,000-entity search index is over a million objects: dropped whole, the last
    reference frees them all in one C call (30-40 ms, the GIL held; the name index 11 ms).
    Here a container, or each container hanging from an object's attributes, is emptied in
    steps instead (``clear_in_steps``), each item freeing only what hangs from it. A value
    that another thread still holds (an index a search uses between its two hops) is left
    alone and freed, whole, by its last user: emptying it would change an answer under way.
    """
    while holder:
        value = holder.pop()
        if sys.getrefcount(value) > 2:  # this name and the call's argument: someone has it
            continue
        if isinstance(value, tuple):
            # A tuple cannot be emptied: its items move to a list that can (the tuple itself
            # then frees nothing but its slots).
            value = list(value)
        if isinstance(value, list | dict | set):
            clear_in_steps(value)
            continue
        attributes = getattr(value, "__dict__", None)
        while isinstance(attributes, dict) and attributes:
            _name, part = attributes.popitem()
            if sys.getrefcount(part) <= 2 and _freed_in_steps(part):
                holder.append(part)
            del part


def _freed_in_steps(value: object) -> bool:
    """Whether ``release_in_steps`` frees ``value`` in steps: a container, or an object whose
    attributes may hold large ones (an index, a name index's base and top, ``NearNames``'
    choices and vocabulary, a sync's working state and plan: a million strings or records
    each, tens of milliseconds apiece to free in one go)."""
    return isinstance(value, list | dict | set | tuple | Layered | NearNames) or (
        dataclasses.is_dataclass(value) and not isinstance(value, type)
    )


PersonFacts = tuple[str | None, str | None, tuple[str, ...]]  # display name, email, chat ids


def _person_facts(data: str) -> PersonFacts:
    """A User's or Group's display name, email and chat user ids, from its stored document."""
    try:
        doc = json.loads(data)
    except ValueError:
        return None, None, ()
    spec = doc.get("spec") if isinstance(doc, dict) else None
    profile = spec.get("profile") if isinstance(spec, dict) else None
    shown = email = None
    if isinstance(profile, dict):
        value = profile.get("displayName")
        shown = value.strip() if isinstance(value, str) and value.strip() else None
        value = profile.get("email")
        email = value.strip().lower() if isinstance(value, str) and value.strip() else None
    meta = doc.get("metadata") if isinstance(doc, dict) else None
    annotations = meta.get("annotations") if isinstance(meta, dict) else None
    ids: tuple[str, ...] = ()
    if isinstance(annotations, dict) and doc.get("kind", "").lower() == "user":
        ids = tuple(
            str(annotations[key]).strip()
            for key in USER_ID_ANNOTATIONS.values()
            if isinstance(annotations.get(key), str | int) and str(annotations[key]).strip()
        )
    return shown, email, ids


def _entries(snapshot: NamesSnapshot) -> Iterator[IndexEntry]:
    """The index entries of ``snapshot``'s names, Users and Groups with their profiles."""
    people = {r.ref: _person_facts(r.data) for r in snapshot.people}
    del snapshot.people[:]  # the documents are read: free them before the names come
    for row in snapshot.names:
        yield _entry(row, people.get(row.ref))


def _entry(row: NameRow, facts: PersonFacts | None) -> IndexEntry:
    kind = sys.intern(row.kind)  # one string per kind, not one per entity
    if facts is None:
        return IndexEntry.of(row.ref, kind, row.name, row.title)
    shown, email, ids = facts
    # The profile's display name is the name shown when there is no title: typed exactly, it
    # names the entity; behind a title ("Payments" for "Payments Team") it is not a name.
    display = None if row.title else shown
    return PersonEntry(row.ref, kind, row.name, row.title, email, display, ids)


# A catalog this large makes an index worth taking out of the cyclic collector's sight.
FREEZE_MIN_ENTITIES = 1000


T = TypeVar("T")


def settle_heap(entities: int) -> None:
    """After building an index of ``entities``, take what is alive out of the cyclic
    collector's sight (``gc.freeze``) when the index is large.

    An index of a 43,000-entity catalog is over a million small objects. Left in the
    collector's oldest generation, every full collection walks all of them, 60-300 ms with
    the GIL held, in whichever thread allocates: the event loop stalls (measured: 84 ms on
    10,800 entities, 14 ms frozen). Index objects hold no reference cycles, so reference
    counting still frees a replaced index; what the freeze costs is that cyclic garbage not
    yet collected at that moment is never collected, once per catalog change.
    """
    if entities >= FREEZE_MIN_ENTITIES:
        gc.freeze()


# CPython asks the thread holding the GIL to hand it over after this long when another thread
# waits for it (its default is 5 ms). While a sync or an index build runs in a worker thread,
# every time the event loop's thread (or a request's worker) comes back from a blocking call
# (its select, a socket write, each SQLite step) it waits that long, and with several threads
# waiting it can lose the hand-over to another one and wait again.
BACKGROUND_SWITCH_INTERVAL = 0.001


class _BackgroundWork:
    """While any sync or index build (in any thread) is under way: the cyclic collector paused
    and the GIL's switch interval shortened (``BACKGROUND_SWITCH_INTERVAL``)."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._builds = 0
        self._was_enabled = True
        self._interval = sys.getswitchinterval()

    def __enter__(self) -> None:
        with self._lock:
            self._builds += 1
            if self._builds == 1:
                self._was_enabled = gc.isenabled()
                gc.disable()
                self._interval = sys.getswitchinterval()
                sys.setswitchinterval(min(self._interval, BACKGROUND_SWITCH_INTERVAL))

    def __exit__(self, *exc: object) -> None:
        with self._lock:
            self._builds -= 1
            if self._builds == 0:
                sys.setswitchinterval(self._interval)
                if self._was_enabled:
                    gc.enable()


_BACKGROUND_WORK = _BackgroundWork()


def building_index() -> _BackgroundWork:
    """Pause the cyclic collector and shorten the GIL's switch interval while a sync or an
    index is built (``with building_index(): ...``).

    An index is hundreds of thousands of small containers, none in a cycle: collections
    during the build rescan them many times over, each one a pause of every thread that
    wants the GIL, the event loop's included (a 36 ms generation-1 pass was measured in a
    21,600-entity rebuild).
    """
    return _BACKGROUND_WORK


class _IndexesFollow:
    """Counts the syncs under way in this process that rebuild the indexes when they end."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._syncs = 0

    @property
    def active(self) -> bool:
        return self._syncs > 0

    def __enter__(self) -> None:
        with self._lock:
            self._syncs += 1

    def __exit__(self, *exc: object) -> None:
        with self._lock:
            self._syncs -= 1


_INDEXES_FOLLOW = _IndexesFollow()


def indexes_follow() -> _IndexesFollow:
    """Mark a sync that rebuilds the built indexes when it ends (``CatalogUpdates.run``):
    until then an index already built answers as it is, without asking the store whether the
    catalog changed, and a request never builds it itself.

    Without it, a request that came after the sync's commit and before its index rebuild
    found the index stale with no rebuild under way and rebuilt it itself, in its worker
    thread: that answer, and every one queued behind it, waited a whole build (over a second
    for 43,000 entities during a sync).
    """
    return _INDEXES_FOLLOW


@dataclass(frozen=True)
class _Built(Generic[T]):
    """A value and the catalog generation it was built from (swapped as one)."""

    generation: int
    value: T


class Swapped(Generic[T]):
    """A value built from the whole stored catalog (an index), kept for one catalog
    generation and swapped whole when rebuilt: readers see the old value or the new one.

    While a rebuild, or a sync of this process that rebuilds it when it ends
    (``indexes_follow``), is under way the previous value answers; a caller that finds it
    stale with neither under way builds it (blocking: call from a worker thread), as does the
    first (a sync by another process, or a rebuild that failed).
    ``build`` returns the generation it read and the value; ``size`` says how many entities it
    holds, so that a large one is kept out of the cyclic collector's scans (``settle_heap``).
    """

    def __init__(
        self,
        generation: Callable[[], int],
        build: Callable[[], tuple[int, T]],
        size: Callable[[T], int],
    ) -> None:
        self._generation = generation
        self._build = build
        self._size = size
        self._built: _Built[T] | None = None
        self._lock = threading.Lock()  # one build at a time
        self.last_build_seconds = 0.0

    def peek(self) -> T | None:
        """The value as built last, stale or not; None before the first build."""
        built = self._built
        return built.value if built is not None else None

    def current(self) -> T:
        built = self._built
        if built is not None and (_INDEXES_FOLLOW.active or self._lock.locked()):
            return built.value  # a sync under way rebuilds it when it ends, or a rebuild is
        generation = self._generation()
        if built is not None and built.generation == generation:
            return built.value
        del built  # held here, the value replaced could not be freed in steps
        return self._rebuild(generation).value

    def fresh(self) -> T | None:
        """The value if it matches the stored catalog, else None (``current()`` rebuilds)."""
        built = self._built
        if built is not None and self._generation() == built.generation:
            return built.value
        return None

    def refresh(self, update: Callable[[int, T], tuple[int, T] | None] | None = None) -> None:
        """Rebuild if a value was built and the catalog changed since (after a sync).

        ``update(generation, value)``, when given, is tried first: the value for the stored
        catalog made from the one built at ``generation`` (and the generation it matches), or
        None when it cannot be (then the value is rebuilt whole)."""
        built = self._built
        if built is not None:
            generation = self._generation()
            if built.generation != generation:
                del built  # held here, the value replaced could not be freed in steps
                self._rebuild(generation, update)

    def _rebuild(
        self, generation: int, update: Callable[[int, T], tuple[int, T] | None] | None = None
    ) -> _Built[T]:
        with self._lock:
            built = self._built
            if built is not None and built.generation >= generation:
                return built  # built by another thread while this one waited
            started = time.perf_counter()
            with building_index():
                made = update(built.generation, built.value) if update and built else None
                read_at, value = made if made is not None else self._build()
                # Frozen before the collector runs again: its first pass would scan it all.
                settle_heap(self._size(value))
            new = _Built(read_at, value)
            self._built = new  # one assignment: readers see the old value or the new one
            self.last_build_seconds = time.perf_counter() - started
            if built is not None:  # the replaced value, freed in steps (not in one C call)
                holder: list[Any] = [built.value]
                del built
                release_in_steps(holder)
            return new


class CatalogReader:
    """Read access to the synced catalog, from a store's ``CatalogRows``. Blocking: the event
    loop reaches it through ``CatalogQueries`` (``bot.catalog.queries``), which runs it in
    worker threads."""

    def __init__(self, rows: CatalogRows) -> None:
        self.rows = rows
        self._names: Swapped[NameIndex] = Swapped(rows.generation, self._build, len)
        self._exact_tried = False

    @property
    def _index(self) -> NameIndex | None:
        return self._names.peek()

    def index(self) -> NameIndex:
        """The name index. After a catalog change, while another thread rebuilds it, the
        previous index answers; a caller that finds it stale with no rebuild under way builds
        it (blocking: about a second for 43,000 entities), as does the first one of all."""
        return self._names.current()

    def refresh(self, change: CatalogChange | None = None) -> None:
        """Bring the index up to date if one was built and the catalog changed since (after a
        sync): updated from ``change`` (what this process's sync changed) when that is all
        that changed and it is a small part of the catalog, else rebuilt whole (about 9 s at
        a million entities)."""
        self._names.refresh(None if change is None else functools.partial(self._update, change))

    def _update(
        self, change: CatalogChange, generation: int, index: NameIndex
    ) -> tuple[int, NameIndex] | None:
        """``index`` (built at ``generation``) updated by ``change``, or None when the stored
        catalog is not exactly that (another writer came between) or the change is large."""
        if not change.small_for(len(index)):
            return None
        snapshot = self.rows.names_of(sorted(change.refs))
        if not change.is_all_since(generation, snapshot.generation):
            return None
        return snapshot.generation, index.updated(change.refs, _entries(snapshot))

    def _build(self) -> tuple[int, NameIndex]:
        with self.rows.names() as snapshot:
            return snapshot.generation, NameIndex(_entries(snapshot))

    def resolve(self, text: str, kinds: Sequence[str] = ()) -> Resolution:
        if self._index is None and not self._exact_tried:
            # The first name in a process (all that `callboard ask` resolves) needs no index
            # when it is exact; later ones build it (a name scan per query would not scale).
            self._exact_tried = True
            exact = self._exact(text, kinds)
            if exact is not None:
                return exact
        return self.index().resolve(text, kinds)

    def resolve_entity(
        self, text: str, kinds: Sequence[str] = ()
    ) -> tuple[Resolution, Entity | None]:
        """``resolve``, and the entity it names (None: removed by a sync since the index)."""
        with self.rows.reading():  # the generation check and the document: one connection
            found = self.resolve(text, kinds)
            return found, self.get(found.ref)

    def _exact(self, text: str, kinds: Sequence[str]) -> Resolution | None:
        """An exact ref or name, from the store without building the name index (about a
        second for 43,000 entities); None when only the index can tell."""
        query = text.strip()
        if not query or as_email(query) is not None or mentioned_id(query) is not None:
            return None
        names = {query.lower(), _norm(query), query.lower().rpartition("/")[2]}
        ref = None
        if ":" in query and " " not in query:
            with contextlib.suppress(CatalogError):
                ref = str(EntityRef.parse(query))
        rows = self.rows.exact_names(sorted(names), ref)
        if not rows:
            return None
        try:
            found = NameIndex(IndexEntry(r.ref, r.kind, r.name, r.title) for r in rows).resolve(
                query, kinds
            )
        except (NotFound, Ambiguous):
            return None
        return found if found.how in ("ref", "name") else None

    def get(self, ref: EntityRef | str) -> Entity | None:
        rows = self.rows.documents([str(ref).lower()])
        return _entity(rows[0]) if rows else None

    def get_many(self, refs: Iterable[EntityRef | str]) -> dict[str, Entity]:
        wanted = sorted({str(r).lower() for r in refs})
        return {row.ref: _entity(row) for row in self.rows.documents(wanted)}

    def relations(self, ref: EntityRef | str, types: Sequence[str] = ()) -> list[Relation]:
        """Relations on ``ref`` (its own and those others emitted toward it), deduplicated."""
        rows = self.rows.relation_pairs([str(ref).lower()], tuple(types))
        source = EntityRef.parse(str(ref))
        seen = {(t, target) for _, t, target in rows}
        return [Relation(source, t, EntityRef.parse(target)) for t, target in sorted(seen)]

    def related(self, ref: EntityRef | str, rel_type: str) -> list[EntityRef]:
        return [r.target for r in self.relations(ref, (rel_type,))]

    def parent_chain(self, group: EntityRef | str) -> list[EntityRef]:
        """The group's parents, nearest first; stops at a cycle."""
        current = EntityRef.parse(str(group))
        chain: list[EntityRef] = []
        seen = {current}
        while True:
            parents = self.related(current, "childOf")
            if not parents or parents[0] in seen:
                return chain
            current = parents[0]
            seen.add(current)
            chain.append(current)

    def members(self, group: EntityRef | str) -> list[Entity]:
        """The group's members, by display name."""
        found = self.get_many(self.related(group, "hasMember"))
        return sorted(found.values(), key=lambda u: u.display_name.lower())

    def ownership(self, ref: EntityRef | str) -> Ownership:
        """Who owns ``ref``: its owner, and the owner's parents and members or groups.

        Read on one connection: the owner's relations (parents, members or groups) before its
        document, so that the owner and a Group's members come in one read; then one read per
        level of parents above the first.
        """
        with self.rows.reading():
            owners = self.related(ref, "ownedBy")
            if not owners:
                return Ownership()
            owner_ref = owners[0]
            key = str(owner_ref).lower()
            wanted = ("childOf", "hasMember") if owner_ref.kind == "group" else ("memberOf",)
            pairs = self.rows.relation_pairs([key], wanted)
            targets: dict[str, set[str]] = {t: set() for t in wanted}
            for _source, rel_type, target in pairs:
                targets[rel_type].add(target)
            members = sorted(
                {str(EntityRef.parse(t)).lower() for t in targets.get("hasMember", ())}
            )
            docs = {row.ref: row for row in self.rows.documents([key, *members])}
            row = docs.get(key)
            if row is None:
                return Ownership(owner_ref)
            owner = _entity(row)
            if owner.ref.kind != owner_ref.kind:  # a stored ref unlike its document's
                return self._ownership_of(owner_ref, owner)
            if owner.ref.kind == "group":
                parents = [EntityRef.parse(t) for t in sorted(targets["childOf"])]
                chain = self._chain(owner.ref, parents)
                people = [_entity(docs[m]) for m in members if m in docs]
                people.sort(key=lambda u: u.display_name.lower())
                return Ownership(owner_ref, owner, tuple(chain), tuple(people))
            groups = tuple(EntityRef.parse(t) for t in sorted(targets["memberOf"]))
            return Ownership(owner_ref, owner, groups=groups)

    def _ownership_of(self, owner_ref: EntityRef, owner: Entity) -> Ownership:
        if owner.ref.kind == "group":
            chain, members = self.parent_chain(owner.ref), self.members(owner.ref)
            return Ownership(owner_ref, owner, tuple(chain), tuple(members))
        return Ownership(owner_ref, owner, groups=tuple(self.related(owner.ref, "memberOf")))

    def _chain(self, group: EntityRef, parents: list[EntityRef]) -> list[EntityRef]:
        """``parent_chain(group)``, its nearest ``parents`` already read."""
        chain: list[EntityRef] = []
        seen = {group}
        while parents and parents[0] not in seen:
            current = parents[0]
            seen.add(current)
            chain.append(current)
            parents = self.related(current, "childOf")
        return chain

    def holdings(self, ref: EntityRef | str) -> Holdings:
        """What ``ref`` owns directly, and its members (a Group) or groups (a User)."""
        with self.rows.reading():
            owned = self.get_many(self.related(ref, "ownerOf"))
            if EntityRef.parse(str(ref)).kind == "group":
                return Holdings(owned, members=tuple(self.members(ref)))
            return Holdings(owned, groups=tuple(self.related(ref, "memberOf")))

    def users_by_email(self, email: str) -> list[Entity]:
        """Users whose ``spec.profile.email`` is ``email`` (case-insensitive)."""
        needle = email.strip().lower()
        found = []
        for row in self.rows.documents_of_kind("user", needle.split("@")[0]):
            entity = _entity(row)
            if entity.email and entity.email.lower() == needle:
                found.append(entity)
        return found

    def with_annotation(self, kind: str, key: str, value: str) -> list[Entity]:
        """Entities of ``kind`` whose annotation ``key`` equals ``value``."""
        found = []
        for row in self.rows.documents_of_kind(kind.lower(), value):
            entity = _entity(row)
            if entity.annotations.get(key) == value:
                found.append(entity)
        return found

    def listing(self, kind: str | None = None) -> list[ListedEntity]:
        """Every stored entity (of ``kind`` when given), ordered by ref."""
        return self.rows.listing(kind.lower() if kind else None)

    def kinds(self) -> list[str]:
        """The kinds the catalog holds, sorted."""
        return self.rows.kinds()

    def count(self) -> int:
        return len(self.index())


def _entity(row: DocumentRow) -> Entity:
    return Entity.from_document(json.loads(row.data), row.file, row.line)
