"""The name index updated from what a sync changed (``NameIndex.updated``) equals one built
from scratch on the same entities, and leaves the index it came from as it was.

Catalogs here mix every kind of entry (``SpokenName``, a name in other case, Users and
Groups with emails, display names and chat ids), names shared across kinds and namespaces,
and titles shared between entities; each change set removes some, changes some (renamed
titles, emails, chat ids, display names), adds some. Both paths are checked: scoring every
name, and ``NearNames`` (``full_scan_max=0``).
"""

from __future__ import annotations

import random
from typing import Any

import pytest

from bot.catalog import read
from bot.catalog.read import MAX_SUGGESTIONS, IndexEntry, NameIndex, PersonEntry
from bot.errors import Ambiguous, NotFound
from bot.suggest import NearNames

WORDS = ("payments", "billing", "ledger", "search", "api", "gateway", "worker", "edge", "ops")
NAMESPACES = ("default", "ops", "eu")
KINDS = ("component", "api", "resource", "system")


def _name(rng: random.Random) -> str:
    name = "-".join(rng.sample(WORDS, rng.randint(1, 3)))
    if rng.random() < 0.15:
        name = name.replace("-", "_").title()  # not a SpokenName: a name in other clothes
    return name


def _title(rng: random.Random) -> str | None:
    roll = rng.random()
    if roll < 0.5:
        return None
    if roll < 0.7:
        return "Shared Title"  # several entities, one title
    return " ".join(w.title() for w in rng.sample(WORDS, rng.randint(1, 4)))


def _entry(ref: str, name: str, rng: random.Random) -> IndexEntry:
    kind = ref.partition(":")[0]
    if kind in ("user", "group"):
        title = _title(rng) if kind == "group" else None
        display = None if title else rng.choice((None, f"{name.title()} Person", "Same Person"))
        email = rng.choice((None, f"{name}@example.com", "shared@example.com"))
        ids = tuple(rng.sample(("U1", "U2", f"U{name}"), rng.randint(0, 2)))
        return PersonEntry(ref, kind, name, title, email, display, ids if kind == "user" else ())
    return IndexEntry.of(ref, kind, name, _title(rng))


def _new(rng: random.Random, taken: set[str]) -> IndexEntry:
    """A new entity whose ref is not in ``taken`` (added to it)."""
    while True:
        kind = rng.choice((*KINDS, "user", "group"))
        person = kind in ("user", "group")
        name = f"{rng.choice(WORDS)}{rng.randrange(30)}" if person else _name(rng)
        ref = f"{kind}:{rng.choice(NAMESPACES)}/{name.lower()}"
        if ref not in taken:
            taken.add(ref)
            return _entry(ref, name, rng)


def _catalog(rng: random.Random, size: int) -> list[IndexEntry]:
    taken: set[str] = set()
    return [_new(rng, taken) for _ in range(size)]


def _tables(index: NameIndex) -> dict[str, Any]:
    """Every structure of ``index``, as plain values (lists of entries compare by value)."""
    near = index._near
    return {
        "by_name": dict(index.by_name),
        "by_title": dict(index.by_title),
        "choices": list(index.choices),
        "choice_entries": list(index.choice_entries),
        "by_email": dict(index.by_email),
        "by_chat_id": dict(index.by_chat_id),
        "max_words": index.max_words,
        "widths": dict(index._widths),
        "len": len(index),
        "entries": list(index.entries()),
        "near": None
        if near is None
        else (list(near.forward), list(near.backward), list(near.vocabulary)),
    }


def _counts(index: NameIndex) -> dict[str, int] | None:
    """How many choices hold each word, as ``NearNames`` counts them for its next update."""
    return None if index._near is None else index._near._counts


def _frozen(index: NameIndex) -> dict[str, Any]:
    """``_tables`` with every held list copied and every entry by identity: what the index
    holds now, to tell later whether anything of it changed."""
    tables = _tables(index)
    for name in ("by_name", "by_title", "by_email", "by_chat_id"):
        tables[name] = {
            k: [id(e) for e in v] if isinstance(v, list) else id(v) for k, v in tables[name].items()
        }
    tables["choice_entries"] = [id(e) for e in tables["choice_entries"]]
    tables["entries"] = [id(e) for e in tables["entries"]]
    return tables


def _outcome(index: NameIndex, text: str, kinds: tuple[str, ...] = ()) -> object:
    """What resolving ``text`` tells: the entity and how it was found, or an ambiguity
    (how many, and the refs it lists), or not found (whose suggestions are fuzzy ties)."""
    try:
        found = index.resolve(text, kinds)
    except Ambiguous as exc:
        # Those listed, as a set, when every one is (a list cut short may end in a tie).
        listed = exc.candidates
        return ("ambiguous", frozenset(listed) if len(listed) < MAX_SUGGESTIONS else 0, exc.total)
    except NotFound:
        return "not found"
    return (found.how, str(found.ref))


def _queries(entries: list[IndexEntry], rng: random.Random) -> list[str]:
    out = ["shared@example.com", "U1", "U2", "<@U1>", "Shared Title", "shared title"]
    for entry in rng.sample(entries, min(40, len(entries))):
        out += [entry.ref, entry.name, entry.name.upper(), f"{entry.namespace}/{entry.name}"]
        out += [t for t in (entry.title, entry.display, entry.email) if t]
        out += list(entry.chat_ids)
    return out


def _change(
    rng: random.Random, before: list[IndexEntry]
) -> tuple[set[str], list[IndexEntry], list[IndexEntry]]:
    """Refs a sync changed, the rows read for them (the stored ones), and the catalog after,
    in the order an update lays it out: the survivors as they were, then the rows read."""
    taken = {e.ref for e in before}
    picked = rng.sample(before, rng.randint(0, len(before) // 4))
    cut = len(picked) // 2
    changed = picked[cut:]  # and the first ones removed
    refs = {e.ref for e in picked}
    rows = []
    for old in changed:
        # A new title, email, chat ids, display name (or the same), sometimes the name
        # written in other case (the same ref).
        name = old.name.upper() if rng.random() < 0.2 else old.name
        new = _entry(old.ref, name, rng)
        if isinstance(new, PersonEntry) and rng.random() < 0.5:
            new.email = "moved@example.com"
            new.chat_ids = ("U1",)
        rows.append(new)
    for _ in range(rng.randint(0, 30)):
        new = _new(rng, taken)
        refs.add(new.ref)
        rows.append(new)
    rng.shuffle(rows)
    after = [e for e in before if e.ref not in refs] + rows
    return refs, rows, after


@pytest.mark.parametrize("full_scan_max", [100_000, 0])
@pytest.mark.parametrize("seed", range(12))
def test_an_update_equals_a_build_from_scratch(seed: int, full_scan_max: int) -> None:
    rng = random.Random(seed)
    before = _catalog(rng, rng.randint(20, 300))
    old = NameIndex(before, full_scan_max=full_scan_max)
    held = _frozen(old)
    refs, rows, after = _change(rng, before)

    new = old.updated(refs, rows)

    scratch = NameIndex(after, full_scan_max=full_scan_max)
    assert _tables(new) == _tables(scratch) and _counts(new) == _counts(scratch)
    # Laid out as a build in that order, so even fuzzy ties come out the same.
    for entry in rng.sample(after, min(20, len(after))):
        typo = entry.name[1:] + "x"
        assert new.suggest(typo, limit=10) == scratch.suggest(typo, limit=10)
        assert _outcome(new, typo) == _outcome(scratch, typo)
    # Order-free answers equal a build in any order of rows (the store's is its own).
    shuffled = NameIndex(rng.sample(after, len(after)), full_scan_max=full_scan_max)
    assert set(new.entries()) == set(shuffled.entries()) and len(new) == len(shuffled)
    for text in _queries(after, rng) + _queries(before, rng):
        assert _outcome(new, text) == _outcome(shuffled, text), text
        assert _outcome(new, text, ("user",)) == _outcome(shuffled, text, ("user",)), text
    assert _frozen(old) == held  # the old index, as it was


@pytest.mark.parametrize("fold_min", [read.FOLD_MIN, 0])
def test_updates_in_a_row_equal_a_build_from_scratch(
    fold_min: int, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Each update layers its changed keys over the tables it shares with the older indexes
    (``Layered``), folded into new tables when they grow (at once with ``fold_min`` 0)."""
    monkeypatch.setattr(read, "FOLD_MIN", fold_min)
    rng = random.Random(99)
    entries = _catalog(rng, 200)
    index = NameIndex(entries, full_scan_max=0)
    bases = [index.by_name]  # held: ids stay theirs
    for _ in range(8):
        refs, rows, entries = _change(rng, entries)
        previous, held = index, _frozen(index)
        index = index.updated(refs, rows)
        scratch = NameIndex(entries, full_scan_max=0)
        assert _tables(index) == _tables(scratch) and _counts(index) == _counts(scratch)
        assert _frozen(previous) == held
        assert isinstance(index.by_name, read.Layered)
        bases.append(index.by_name.base)
    assert (len({id(b) for b in bases}) > 1) == (fold_min == 0)  # folded into a new base, or never


def test_an_update_crossing_the_full_scan_size_builds_or_drops_near_names() -> None:
    rng = random.Random(7)
    entries = _catalog(rng, 50)
    small = NameIndex(entries, full_scan_max=len(entries) * 2)
    assert small._near is None
    added = _catalog(random.Random(8), 120)
    added = [e for e in added if e.ref not in {x.ref for x in entries}]
    grown = small.updated((), added)
    assert grown._near is not None
    assert _tables(grown) == _tables(NameIndex(entries + added, full_scan_max=len(entries) * 2))
    shrunk = grown.updated({e.ref for e in added}, ())
    assert shrunk._near is None
    assert _tables(shrunk) == _tables(small)


def test_a_name_gone_and_a_word_gone_leave_no_trace() -> None:
    """The last entity with a name (or a word, for ``NearNames``'s vocabulary) removed: its
    keys and its words are gone, as in a build without it."""
    lone = IndexEntry.of("component:default/zebra-quokka", "component", "zebra-quokka", "Zed Q")
    rest = [IndexEntry.of(f"component:default/c{i}", "component", f"c{i}", None) for i in range(9)]
    index = NameIndex([*rest, lone], full_scan_max=0)
    new = index.updated({lone.ref}, ())
    assert "zebra" not in _counts(new) and "zebra" not in new._near.vocabulary  # type: ignore[operator, union-attr]
    assert "zebra quokka" not in new.by_name and "zed-q" not in new.by_title
    assert "zebra" in index._near.vocabulary  # type: ignore[union-attr]
    assert _tables(new) == _tables(NameIndex(rest, full_scan_max=0))


class Popped(dict[str, Any]):
    """A dict that logs each item popped (``clear_in_steps`` empties a dict that way)."""

    def __init__(self, n: int, log: list[int]) -> None:
        super().__init__((f"k{i}", None) for i in range(n))
        self.log = log

    def popitem(self) -> tuple[str, Any]:
        self.log.append(len(self))
        return super().popitem()


class Updated:
    """An updated index's shape: a ``Layered`` table hanging from an attribute."""

    def __init__(self, base: dict[str, Any], top: dict[str, Any]) -> None:
        self.by_name = read.Layered(base, top, len(base))


def test_a_replaced_updated_index_frees_its_layered_tables_in_steps() -> None:
    """An updated index's ``Layered`` tables are emptied an item at a time when it is
    released and nothing else holds them; a base another index shares is left whole."""
    base_log: list[int] = []
    top_log: list[int] = []
    holder: list[Any] = [Updated(Popped(50, base_log), Popped(5, top_log))]
    read.release_in_steps(holder)
    assert len(base_log) == 50 and len(top_log) == 5
    shared = Popped(50, base_log := [])
    holder = [Updated(shared, Popped(5, top_log := []))]
    read.release_in_steps(holder)
    assert base_log == [] and len(shared) == 50 and len(top_log) == 5


class Sliced(list[str]):
    """A list that logs each slice deleted (``clear_in_steps`` empties a list that way)."""

    def __init__(self, items: list[str], log: list[int]) -> None:
        super().__init__(items)
        self.log = log

    def __delitem__(self, key: Any) -> None:
        self.log.append(len(self))
        super().__delitem__(key)


class Near:
    """An index's shape: ``NearNames`` hanging from an attribute."""

    def __init__(self, choices: list[str]) -> None:
        self._near = NearNames(choices, read._sort_indexes)


def test_a_replaced_index_frees_its_near_names_in_steps() -> None:
    """The ``NearNames`` of a replaced index (a million choices and words at Spotify's
    scale) is emptied in steps too when nothing else holds it."""
    log: list[int] = []
    choices = [f"name {i}" for i in range(3 * read.RELEASE_STEP)]
    holder: list[Any] = [Near(Sliced(choices, log))]
    read.release_in_steps(holder)
    assert len(log) == 3  # its choices, three slices
