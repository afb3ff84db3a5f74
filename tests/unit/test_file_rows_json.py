"""A file's children and refs are stored as JSON lists; a long one (a Location globbing every
repository) is encoded a slice at a time (``json_list``) and must read back as the same text
``json.dumps`` writes, so that stored rows do not change with the encoding."""

from __future__ import annotations

import json

import pytest

from bot.store.sql.sync import JSON_STEP, _json_tuple, json_list


@pytest.mark.parametrize(
    "size", [0, 1, JSON_STEP - 1, JSON_STEP, JSON_STEP + 1, 2 * JSON_STEP, 3 * JSON_STEP + 7]
)
def test_a_list_encoded_in_slices_is_the_text_json_dumps_writes(size: int) -> None:
    items = tuple(f'repos/sërvice-{i}/"catalog"\\info.yaml' for i in range(size))
    text = json_list(items)
    assert text == json.dumps(list(items))
    assert _json_tuple(text) == items
