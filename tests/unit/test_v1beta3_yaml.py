"""catalog:write's YAML, as the ``yaml`` package Backstage uses writes it (the expected texts
are what Backstage's scaffolder 4.2.0 wrote for the same entity)."""

from __future__ import annotations

from bot.scaffold.v1beta3.yamlout import dump

LONG = "x" * 100 + " tail words here and there " + "y" * 30


def test_quoting_sequences_and_empty_collections() -> None:
    entity = {
        "metadata": {
            "labels": {"a": "true", "b": "123", "c": "yes", "d": "x: y", "e": "#x", "f": "- x"},
            "more": {"g": "", "h": "null"},
            "links": [{"url": "https://example.com", "title": "Home page"}],
        },
        "spec": {"dependsOn": [], "n": 3, "ok": True},
    }
    assert dump(entity) == (
        'metadata:\n  labels:\n    a: "true"\n    b: "123"\n    c: yes\n    d: "x: y"\n'
        '    e: "#x"\n    f: "- x"\n  more:\n    g: ""\n    h: "null"\n  links:\n'
        "    - url: https://example.com\n      title: Home page\n"
        "spec:\n  dependsOn: []\n  n: 3\n  ok: true\n"
    )


def test_long_plain_text_folds_at_eighty_columns() -> None:
    words = " ".join(f"word{i}" for i in range(60))
    assert dump({"metadata": {"description": words}}) == (
        "metadata:\n"
        "  description: word0 word1 word2 word3 word4 word5 word6 word7 word8 word9 word10\n"
        "    word11 word12 word13 word14 word15 word16 word17 word18 word19 word20 word21\n"
        "    word22 word23 word24 word25 word26 word27 word28 word29 word30 word31 word32\n"
        "    word33 word34 word35 word36 word37 word38 word39 word40 word41 word42 word43\n"
        "    word44 word45 word46 word47 word48 word49 word50 word51 word52 word53 word54\n"
        "    word55 word56 word57 word58 word59\n"
    )
    assert dump({"metadata": {"tags": [LONG]}}) == (
        f"metadata:\n  tags:\n    - {'x' * 100}\n      tail words here and there {'y' * 30}\n"
    )
