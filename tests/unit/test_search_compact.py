"""The search index keeps a million entities in a few hundred megabytes: summaries as columns,
filter values as id arrays or bitmaps. It must answer exactly what a plain scan of the
entities answers, and free by reference counting alone."""

from __future__ import annotations

import gc
import random
import weakref
from array import array
from collections.abc import Mapping

import pytest

from bot.catalog import search
from bot.catalog.search import (
    DENSE,
    KIND_ORDER,
    Posting,
    SearchDoc,
    SearchIndex,
    document_texts,
    parse_query,
)

WORDS = ("alpha", "bravo", "charlie", "delta", "echo", "foxtrot")  # none starts another
KINDS = ("Component", "API", "Resource", "System", "Group")
TAGS = ("python", "golang", "rust", "kotlin")


def _catalog(count: int, seed: int = 5) -> list[tuple[dict[str, object], str, str | None]]:
    rng = random.Random(seed)
    out = []
    for i in range(count):
        kind = rng.choice(KINDS)
        # Mixed case in some names: a ref is lower case, the name as written is kept.
        name = f"{rng.choice(WORDS)}-{rng.choice(WORDS)}-{i}"
        if i % 7 == 0:
            name = name.capitalize()
        meta: dict[str, object] = {
            "name": name,
            "tags": rng.sample(TAGS, rng.randrange(3)),
            "annotations": {"acme.com/everyone": "yes"},  # a word every entity holds
        }
        if i % 3:
            meta["description"] = f"Déjà vu {rng.choice(WORDS)} ✓ {i}"
        if i % 5 == 0:
            meta["title"] = f"Title {i}"
        spec: dict[str, object] = {}
        if rng.random() < 0.8:
            spec["lifecycle"] = rng.choice(("production", "experimental", "deprecated"))
        if rng.random() < 0.7:
            spec["type"] = rng.choice(("service", "website", "library", "openapi"))
        # Many owners, each holding few entities (id arrays); kinds and lifecycles are held by
        # many (bitmaps).
        owner = None if i % 11 == 0 else f"group:default/team-{rng.randrange(150)}"
        doc: dict[str, object] = {"kind": kind, "metadata": meta, "spec": spec}
        out.append((doc, f"{kind.lower()}:default/{name.lower()}", owner))
    return out


@pytest.fixture(scope="module", params=[0, 1_000_000], ids=["arrays-and-bitmaps", "sets"])
def catalog(
    request: pytest.FixtureRequest,
) -> tuple[SearchIndex, list[SearchDoc], dict[str, set[str]]]:
    """The catalog indexed as a million entities' is (filter values as id arrays and bitmaps),
    and as a small catalog's (sets)."""
    entities = _catalog(3000)
    pairs = [document_texts(doc, ref, owner) for doc, ref, owner in entities]
    index = SearchIndex(iter(pairs), sets_below=request.param)
    words = {doc.ref: set(_words(texts)) for doc, texts in pairs}
    return index, [doc for doc, _ in pairs], words


def _words(texts: dict[int, list[str]]) -> list[str]:
    return [
        w.lower() for values in texts.values() for v in values for w in v.replace("-", " ").split()
    ]


def _order(doc: SearchDoc) -> tuple[int, str, str]:
    kind = doc.kind.lower()
    rank = KIND_ORDER.index(kind) if kind in KIND_ORDER else len(KIND_ORDER)
    return (rank, doc.name.lower(), doc.ref)


def _passes(doc: SearchDoc, filters: dict[str, tuple[str, ...]]) -> bool:
    checks = {
        "kind": doc.kind.lower(),
        "lifecycle": (doc.lifecycle or "").lower(),
        "type": (doc.spec_type or "").lower(),
        "owner": (doc.owner or "").rpartition("/")[2],
    }
    for key, wanted in filters.items():
        if key == "tag":
            if not {t.lower() for t in doc.tags} & set(wanted):
                return False
        elif checks[key] not in wanted:
            return False
    return True


def _queries(rng: random.Random) -> list[dict[str, tuple[str, ...]]]:
    choices = {
        "kind": [k.lower() for k in KINDS],
        "lifecycle": ["production", "experimental", "deprecated"],
        "type": ["service", "website", "library", "openapi"],
        "tag": list(TAGS),
        "owner": [f"team-{i}" for i in range(150)],
    }
    out = []
    for _ in range(120):
        keys = rng.sample(sorted(choices), rng.randrange(1, 4))
        out.append({k: tuple(rng.sample(choices[k], rng.randrange(1, 3))) for k in keys})
    return out


def test_filters_answer_what_a_scan_of_every_entity_answers(
    catalog: tuple[SearchIndex, list[SearchDoc], dict[str, set[str]]],
) -> None:
    index, docs, words = catalog
    representations = {type(ids).__name__ for ids in index.by_owner.values()} | {
        type(ids).__name__ for ids in index.by_kind.values()
    }
    # Both kinds of filter value of a large catalog are exercised; a small one's are sets.
    assert representations in ({"array", "_Bits"}, {"set"})
    rng = random.Random(11)
    ordered = sorted(docs, key=_order)
    for filters in _queries(rng):
        text = " ".join(f"{k}:{','.join(v)}" for k, v in filters.items())
        expected = [d.ref for d in ordered if _passes(d, filters)]
        result = index.search(parse_query(text), limit=7, offset=3)
        assert result.total == len(expected), text
        assert [h.doc.ref for h in result.hits] == expected[3:10], text
        word = rng.choice(WORDS)
        with_word = [r for r in expected if word in words[r]]
        found = index.search(parse_query(f"{word} {text}"), limit=len(docs))
        assert sorted(h.doc.ref for h in found.hits) == sorted(with_word), f"{word} {text}"


def test_a_filter_value_is_stored_no_larger_than_its_id_array(
    catalog: tuple[SearchIndex, list[SearchDoc], dict[str, set[str]]],
) -> None:
    index, docs, _ = catalog
    for table in (index.by_kind, index.by_owner, index.by_tag, index.by_lifecycle):
        for ids in table.values():
            if isinstance(ids, set):
                assert len(docs) < index._sets_below  # a small catalog: sets
            elif isinstance(ids, array):
                assert len(ids) * DENSE <= len(docs)
            else:  # a bitmap
                assert len(ids) * DENSE > len(docs)
                assert len(ids.data) <= 4 * len(ids)


def test_every_summary_comes_back_as_it_was_given(
    catalog: tuple[SearchIndex, list[SearchDoc], dict[str, set[str]]],
) -> None:
    index, docs, _ = catalog
    for doc in docs:
        assert index.doc(doc.ref) == doc
        assert index.doc(doc.ref.upper()) == doc  # refs are looked up case-insensitively
    assert index.doc("component:default/nothing-here") is None
    assert len(index.docs) == len(docs)
    assert [d.ref for d in index.docs[:3]] == [d.ref for d in sorted(docs, key=_order)[:3]]


def test_a_replaced_index_is_freed_by_reference_counting_alone() -> None:
    """Large indexes are taken out of the cyclic collector's sight (``gc.freeze``): one that
    only the collector could free would never be freed."""
    entities = _catalog(200)
    index = SearchIndex(document_texts(doc, ref, owner) for doc, ref, owner in entities)
    index.search(parse_query("kind:component alpha"))
    assert index.docs[0].ref
    watch = weakref.ref(index)
    was = gc.isenabled()
    gc.disable()
    try:
        del index
        assert watch() is None
    finally:
        if was:
            gc.enable()


def test_one_word_ranks_from_its_posting_as_every_entity_scored_ranks(
    catalog: tuple[SearchIndex, list[SearchDoc], dict[str, set[str]]],
) -> None:
    """A word alone is ranked from its postings' mask counts, narrowed to the filters' entities
    (no score per entity); scoring every entity it matches (``_term``) and ranking them all
    with the name bonuses gives the same page."""
    index, docs, _ = catalog
    words = [*WORDS, "alp", "brav", "python", "déjà", "vu", "title", "eho", "2", "1"]
    for word in words:
        for filters in ("", "kind:component,api", "owner:team-3,team-4 lifecycle:production"):
            query = parse_query(f"{word} {filters}")
            allowed, _ = index._filter(query)
            scores = index._term(word, allowed).scores
            bonus = index._name_bonus(word)
            ranked = sorted(scores, key=lambda d: (-(scores[d] + bonus.get(d, 0.0)), d))
            for offset, limit in ((0, 10), (5, 20), (0, len(docs))):
                found = index.search(query, limit=limit, offset=offset)
                case = (word, filters, offset)
                assert found.total == len(scores), case
                expected = ranked[offset : offset + limit]
                assert [h.doc.ref for h in found.hits] == [index.refs[d] for d in expected], case
                assert [h.score for h in found.hits] == [
                    scores[d] + bonus.get(d, 0.0) for d in expected
                ], case


def test_a_postings_best_are_the_top_scores_lower_ids_first_among_equals() -> None:
    rng = random.Random(3)
    for _ in range(200):
        posting = Posting()
        for doc_id in sorted(rng.sample(range(5000), rng.randrange(1, 400))):
            posting.add(doc_id, rng.choice((1, 2, 3, 16, 32, 33, 45, 63)))
        scaled = [round(rng.random() * 4) / 2 for _ in range(64)]  # many equal scores
        need = rng.randrange(1, 30)
        ranked = sorted(posting.items(), key=lambda pair: (-scaled[pair[1]], pair[0]))
        assert posting.best(scaled, need) == {d for d, _ in ranked[:need]}


def _state(index: SearchIndex) -> dict[str, object]:
    """Everything an index answers from, comparable across two indexes."""

    def ids(table: Mapping[str, object]) -> dict[str, list[int]]:
        return {value: sorted(found) for value, found in table.items()}  # type: ignore[call-overload]

    return {
        "refs": list(index.refs),
        "docs": [index.docs[i] for i in range(len(index))],
        "postings": {t: (list(p.ids), bytes(p.masks)) for t, p in index.postings.items()},
        "vocab": list(index.vocab),
        "idf": dict(index.idf),
        "filters": [
            ids(t)
            for t in (
                index.by_kind,
                index.by_owner,
                index.by_tag,
                index.by_lifecycle,
                index.by_type,
            )
        ],
        "norm order": [index._norm(i) for i in index._norm_order],
        "norm ties": list(index._norm_order),
    }


@pytest.mark.parametrize("sets_below", [0, 1_000_000])
@pytest.mark.parametrize("seed", range(12))
def test_an_updated_index_equals_one_built_from_scratch(seed: int, sets_below: int) -> None:
    """Removing, changing and adding entities through ``updated`` gives the index a build of
    the resulting catalog gives, and leaves the index it started from as it was."""
    rng = random.Random(seed)
    before = {ref: (doc, owner) for doc, ref, owner in _catalog(400, seed)}
    after = dict(before)
    refs = sorted(before)
    gone = rng.sample(refs, rng.randrange(0, 40))
    for ref in gone:
        del after[ref]
    changed = rng.sample([r for r in refs if r not in gone], rng.randrange(0, 40))
    for ref in changed:
        doc, _owner = before[ref]
        meta = dict(doc["metadata"])  # type: ignore[call-overload]
        meta["description"] = f"now {rng.choice(WORDS)} zulu"  # a word no entity had
        if rng.random() < 0.5:
            meta["tags"] = ["brandnew"]
        after[ref] = ({**doc, "metadata": meta}, f"group:default/team-{rng.randrange(200)}")
    added = {
        ref: (doc, owner)
        for doc, ref, owner in _catalog(30, seed + 100)
        if ref not in after and rng.random() < 0.8
    }
    after.update(added)
    if seed == 0:  # every entity changed: the whole index from its own update
        gone, changed, added = refs, [], {}
        after = {}

    def pairs(entities: dict[str, tuple[dict[str, object], str | None]], refs: list[str]):  # type: ignore[no-untyped-def]
        return (document_texts(entities[r][0], r, entities[r][1]) for r in refs)

    old = SearchIndex(pairs(before, sorted(before)), sets_below=sets_below)
    old_state = _state(old)
    old_page = [h.doc.ref for h in old.search(parse_query("alpha"), limit=50).hits]
    fresh = [*changed, *added]
    rng.shuffle(fresh)
    updated = old.updated([*gone, *changed], pairs(after, fresh))
    scratch = SearchIndex(pairs(after, sorted(after)), sets_below=sets_below)
    assert _state(updated) == _state(scratch)
    for text in (
        "alpha",
        "zulu",
        "brandnew",
        "tag:brandnew",
        "kind:api bravo",
        "owner:team-7",
        "déjà",
    ):
        for limit, offset in ((10, 0), (500, 0), (5, 7)):
            got = updated.search(parse_query(text), limit=limit, offset=offset)
            want = scratch.search(parse_query(text), limit=limit, offset=offset)
            assert got == want, text
    assert _state(old) == old_state  # readers of the old index saw nothing change
    assert [h.doc.ref for h in old.search(parse_query("alpha"), limit=50).hits] == old_page


def test_descriptions_are_packed_in_bounded_buffers_and_read_back_whole(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Texts are packed in buffers of about ``TEXT_BLOCK`` bytes (one buffer of a million
    descriptions grew, and copied itself, in one C call); none is split between two."""
    monkeypatch.setattr(search, "TEXT_BLOCK", 64)
    texts: list[str | None] = []
    for i in range(300):
        texts.append(None if i % 7 == 0 else "" if i % 11 == 0 else f"Sërvice {i} " * (i % 5))
    texts.append("x" * 200)  # longer than a buffer: a buffer of its own
    texts.append("after the long one")
    packed = search._Texts()
    for text in texts:
        packed.append(text)
    assert [packed[i] for i in range(len(texts))] == texts
    assert len(packed.blocks) > 10
    assert all(len(block) <= 64 for block in packed.blocks if b"x" * 200 not in block)
