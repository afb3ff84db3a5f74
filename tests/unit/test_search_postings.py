"""A search posting is compact (an id array and a byte of field bits each) and answers as the
``dict[int, int]`` it replaced did."""

from __future__ import annotations

from bot.catalog.search import DESCRIPTION, NAME, TITLE, Posting


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
