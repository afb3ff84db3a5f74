"""The name index of a large catalog: a misspelt name scores only the names ``NearNames``
picks, not every one, and finds what the whole scan finds.

Every index here is forced onto that path (``full_scan_max=0``) beside the same index
scoring every name (a catalog of up to 100,000 names and titles does).
"""

from __future__ import annotations

import itertools
import random

import pytest
from rapidfuzz import utils

from bot.catalog.read import IndexEntry, NameIndex, sorted_in_steps
from bot.errors import Ambiguous, NotFound
from bot.suggest import MAX_CANDIDATES, NearNames

AREAS = ("payments", "billing", "checkout", "identity", "search", "messaging", "playback")
CORES = ("api", "gateway", "ledger", "worker", "scheduler", "indexer", "router", "store")
QUALIFIERS = ("", "fast", "legacy", "edge", "batch")


def _names() -> list[str]:
    out = []
    for area, qualifier, core in itertools.product(AREAS, QUALIFIERS, CORES):
        base = "-".join(w for w in (area, qualifier, core) if w)
        out += [base, f"{base}-2", f"{base}-17"]
    return out


NAMES = _names()
ROWS = [
    *(IndexEntry(f"component:default/{n}", "component", n, None) for n in NAMES),
    *(
        IndexEntry(f"group:default/team-{a}", "group", f"team-{a}", f"{a.title()} Team")
        for a in AREAS
    ),
]
FULL = NameIndex(ROWS)
NEAR = NameIndex(ROWS, full_scan_max=0)


def _outcome(index: NameIndex, text: str) -> str:
    """What the person is told: the entity found, or that the name is ambiguous or unknown
    (which close names are listed may differ: many tie, and each path sees others)."""
    try:
        found = index.resolve(text)
    except Ambiguous:
        return "ambiguous"
    except NotFound:
        return "not found"
    return f"{found.how} {found.ref}"


def _typos(name: str, rng: random.Random) -> dict[str, str]:
    i = rng.randrange(1, len(name) - 2)
    letter = rng.choice("abcdefghijklmnopqrstuvwxyz")
    return {
        "dropped": name[:i] + name[i + 1 :],
        "added": name[:i] + letter + name[i:],
        "changed": name[:i] + letter + name[i + 1 :],
        "swapped": name[:i] + name[i + 1] + name[i] + name[i + 2 :],
    }


def test_a_large_index_looks_near_and_a_small_one_scores_every_name() -> None:
    assert FULL._near is None
    assert NEAR._near is not None


@pytest.mark.parametrize("how", ["dropped", "added", "changed", "swapped"])
def test_a_one_letter_typo_resolves_as_the_whole_scan_does(how: str) -> None:
    rng = random.Random(how)
    found = 0
    for name in rng.sample(NAMES, 60):
        typo = _typos(name, rng)[how]
        assert _outcome(NEAR, typo) == _outcome(FULL, typo), typo
        near = [e.ref for e, _ in NEAR.suggest(typo)]
        full = [e.ref for e, _ in FULL.suggest(typo)]
        assert near[:1] == full[:1], typo
        found += near[0] == f"component:default/{name}"
    assert found >= 50  # the typo undone is the best match (not a test of the scorer)


def test_a_typo_in_each_of_two_words_is_found_through_the_vocabulary() -> None:
    # Two edits apart: no one-edit variant is a name, both words are misspelt.
    assert NEAR.suggest("paymnts-ledgre")[0][0].ref == ("component:default/payments-ledger")
    assert _outcome(NEAR, "paymnts-ledgre") == _outcome(FULL, "paymnts-ledgre")


def test_the_resolution_table_is_the_same_on_the_near_path() -> None:
    for text in (
        "payments-ledger",  # exact
        "Payments Team",  # title
        "team-paymnets",  # a typo of one group
        "payments",  # several start with it
        "ledger",  # a word inside many names
        "zzzzzz",  # nothing like it
        "pa",  # too short to guess
    ):
        assert _outcome(NEAR, text) == _outcome(FULL, text), text


def test_kinds_narrow_the_near_path_too() -> None:
    assert {e.kind for e, _ in NEAR.suggest("team-paymnts", ["group"], limit=10)} == {"group"}
    assert [e.ref for e, _ in NEAR.suggest("payments-ledgr", ["group"])] == [
        e.ref for e, _ in FULL.suggest("payments-ledgr", ["group"])
    ]
    assert str(NEAR.resolve("billing-ledgr", ["component"]).ref) == (
        "component:default/billing-ledger"
    )


def test_the_names_looked_at_are_bounded_however_long_or_odd_the_text() -> None:
    choices = [utils.default_process(n) for n in NAMES]
    near = NearNames(choices, lambda items, key: sorted_in_steps(items, key))
    for text in ("a" * 256, "payments " * 30, "p", "é" * 40, "payments ledger 17"):
        picked = near.candidates(text)
        assert len(picked) <= MAX_CANDIDATES
        assert len(set(picked)) == len(picked)
        assert all(0 <= i < len(choices) for i in picked)
    assert choices.index("payments ledger 17") in near.candidates("payments ledgr 17")
