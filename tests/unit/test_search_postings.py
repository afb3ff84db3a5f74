"""A search posting is compact (an id array and a byte of field bits each) and answers as the
``dict[int, int]`` it replaced did."""

from __future__ import annotations

import weakref
from collections.abc import Iterator, Sequence

from bot.catalog.search import (
    DESCRIPTION,
    NAME,
    TITLE,
    Posting,
    SearchDoc,
    SearchIndex,
    document_texts,
)


def test_a_token_in_several_fields_of_one_entity_is_one_id_with_their_bits() -> None:
    posting = Posting()
    for doc_id, bit in ((3, NAME), (3, TITLE), (7, DESCRIPTION), (1_000_000, NAME)):
        posting.add(doc_id, bit)
    assert len(posting) == 3
    assert list(posting.items()) == [(3, NAME | TITLE), (7, DESCRIPTION), (1_000_000, NAME)]
    assert posting.get(3) == NAME | TITLE
    assert posting.get(1_000_000) == NAME
    assert posting.get(4) == 0 and posting.get(0) == 0 and posting.get(2_000_000, -1) == -1
    assert posting.ids.itemsize == 4 and len(posting.masks) == 3


class _Texts(list[str]):
    """A field's texts that a weak reference can watch."""


def test_the_index_keeps_no_entitys_texts_while_it_reads_the_next() -> None:
    """Each entity's texts are reduced to its tokens as they arrive: at a million entities,
    holding every description and annotation until the build ended took gigabytes."""
    alive: list[weakref.ref[_Texts]] = []
    held: list[int] = []

    def documents() -> Iterator[tuple[SearchDoc, dict[int, Sequence[str]]]]:
        for i in range(200):
            held.append(sum(1 for ref in alive if ref() is not None))
            name = f"payments-{i}"
            doc, texts = document_texts(
                {"kind": "Component", "metadata": {"name": name, "description": "Pays"}},
                f"component:default/{name}",
            )
            watched = _Texts(texts[DESCRIPTION])
            alive.append(weakref.ref(watched))
            yield doc, {**texts, DESCRIPTION: watched}

    index = SearchIndex(documents())
    assert max(held) <= 1
    assert len(index) == 200
    assert index.postings["pays"].get(index.by_ref["component:default/payments-7"]) == DESCRIPTION
    assert index.vocab.count("pays") == 1
