"""The search index's ranking rules, dependency-tree flattening, and the phrase table."""

from __future__ import annotations

from collections.abc import Sequence

import pytest

from bot.catalog.graph import DependencyTree, Edge
from bot.catalog.search import (
    Query,
    SearchIndex,
    document_texts,
    parse_query,
)
from bot.dispatch import CommandSpec
from commands import COMMANDS
from commands.help import help_command
from commands.phrases import PHRASES, PhraseInterpreter


def entity(
    name: str,
    kind: str = "Component",
    *,
    description: str | None = None,
    title: str | None = None,
    tags: Sequence[str] = (),
    annotations: dict[str, str] | None = None,
    owner: str | None = "group:default/team-a",
    **spec: str,
) -> tuple[dict[str, object], str, str | None]:
    meta: dict[str, object] = {"name": name, "tags": list(tags)}
    if description:
        meta["description"] = description
    if title:
        meta["title"] = title
    if annotations:
        meta["annotations"] = annotations
    doc = {"apiVersion": "backstage.io/v1alpha1", "kind": kind, "metadata": meta, "spec": spec}
    return doc, f"{kind.lower()}:default/{name}", owner


def index(*entities: tuple[dict[str, object], str, str | None]) -> SearchIndex:
    return SearchIndex(document_texts(doc, ref, owner) for doc, ref, owner in entities)


def names(idx: SearchIndex, text: str, limit: int = 10) -> list[str]:
    return [hit.doc.name for hit in idx.search(parse_query(text), limit=limit).hits]


@pytest.fixture
def idx() -> SearchIndex:
    return index(
        entity(
            "payments-api",
            description="Charges riders",
            tags=["python"],
            type="service",
            lifecycle="production",
        ),
        entity(
            "ledger",
            description="Double-entry ledger for payments",
            type="service",
            lifecycle="production",
        ),
        entity(
            "payments-api",
            kind="API",
            description="REST API of payments",
            type="openapi",
            lifecycle="production",
        ),
        entity(
            "payouts",
            description="Sends money",
            tags=["payments"],
            type="service",
            lifecycle="deprecated",
            owner="group:default/team-b",
        ),
        entity(
            "rider-app",
            title="Rider App",
            type="website",
            lifecycle="experimental",
            annotations={"pagerduty.com/service-id": "PXYZ123"},
        ),
        entity("team-a", kind="Group", owner=None, type="team"),
    )


def test_name_beats_tag_beats_description(idx: SearchIndex) -> None:
    assert names(idx, "payments") == ["payments-api", "payments-api", "payouts", "ledger"]


def test_equal_scores_list_components_first() -> None:
    same = index(
        entity("ledger", kind="Resource"),
        entity("ledger", kind="System"),
        entity("ledger"),
        entity("ledger", kind="API"),
    )
    hits = same.search(parse_query("ledger")).hits
    assert [h.doc.kind for h in hits] == ["Component", "API", "Resource", "System"]


def test_every_word_must_match_else_partial(idx: SearchIndex) -> None:
    assert names(idx, "payments ledger") == ["ledger"]
    result = idx.search(parse_query("payments qqqq"))
    assert result.unmatched == ("qqqq",)
    assert result.partial
    assert [h.doc.name for h in result.hits][:2] == ["payments-api", "payments-api"]


def test_prefix_and_spelling(idx: SearchIndex) -> None:
    assert names(idx, "led") == ["ledger"]
    result = idx.search(parse_query("ledgr"))
    assert result.corrections == {"ledgr": "ledger"}
    assert [h.doc.name for h in result.hits] == ["ledger"]


def test_titles_and_annotations_are_searched(idx: SearchIndex) -> None:
    assert names(idx, "rider app") == ["rider-app"]
    (hit,) = idx.search(parse_query("pxyz123")).hits
    assert hit.doc.name == "rider-app" and hit.fields == ("annotations",)


def test_filters_narrow_and_list_alone(idx: SearchIndex) -> None:
    assert names(idx, "payments kind:api") == ["payments-api"]
    assert names(idx, "owner:team-b") == ["payouts"]
    assert names(idx, "owner:group:default/team-b") == ["payouts"]
    assert names(idx, "lifecycle:production,experimental type:service") == [
        "ledger",
        "payments-api",
    ]
    assert names(idx, "tag:python") == ["payments-api"]
    result = idx.search(parse_query("kind:service"))
    assert result.total == 0
    assert result.unknown_filters == {"kind": ("service",)}
    assert result.suggestions["kind"][0] == "type:service"


def test_paging_is_stable(idx: SearchIndex) -> None:
    query = parse_query("payments")
    everything = [h.doc.ref for h in idx.search(query, limit=10).hits]
    pages = [h.doc.ref for o in (0, 2) for h in idx.search(query, limit=2, offset=o).hits]
    assert pages == everything
    assert idx.search(query, limit=2).total == 4


def test_common_words_and_punctuation(idx: SearchIndex) -> None:
    result = idx.search(parse_query("the ledger for payments"))
    assert result.dropped == ("the", "for")
    assert [h.doc.name for h in result.hits] == ["ledger"]
    assert idx.search(parse_query("---")).total == 0


def test_parse_query_splits_filters_and_keeps_other_colons() -> None:
    query = parse_query("kind:API,Resource ledger url:https://x owner:me")
    assert query == Query(
        words=("ledger", "url:https://x"),
        kinds=("api", "resource"),
        owners=("me",),
        ignored=("url:https://x",),
    )
    with pytest.raises(ValueError, match="the filter tag: needs a value"):
        parse_query("tag:")


def test_dependency_tree_marks_cycles_repeats_and_what_lies_beyond() -> None:
    tree = DependencyTree(
        "a",
        "down",
        depth=2,
        children={
            "a": [Edge("b"), Edge("c", via=("api:default/x",))],
            "b": [Edge("c"), Edge("a")],
            "c": [Edge("d"), Edge("b")],
            "d": [Edge("e")],
        },
        level={"a": 0, "b": 1, "c": 1, "d": 2, "e": 3},
    )
    rows = [(line.depth, line.edge.target, line.mark, line.beyond) for line in tree.lines()]
    assert rows == [
        (1, "b", None, 0),
        (2, "c", "seen", 0),  # c is expanded at depth 1, below
        (2, "a", "cycle", 0),
        (1, "c", None, 0),
        (2, "d", None, 1),  # d's own edge to e is past depth 2: counted
        (2, "b", "seen", 0),
    ]
    assert tree.reached == {"b", "c", "d"}
    assert tree.cycles() == [("a", "b", "a")]


@pytest.mark.parametrize(
    ("text", "command"),
    [
        ("who owns payments-api?", "/whoowns payments-api"),
        ("Who's the owner of the Payments API", "/whoowns Payments API"),
        ("what does team-payments own", "/owns team-payments"),
        ("what is owned by team-risk", "/owns team-risk"),
        ("what do I own?", "/owns me"),
        ("what do we own", "/owns"),
        ("what depends on fraud-scorer", "/deps fraud-scorer"),
        ("what does payments-api depend on", "/deps payments-api"),
        ("what breaks if payments-db goes down?", "/deps payments-db"),
        ("what is payments-api", "/describe payments-api"),
        ("tell me about rider-bff please", "/describe rider-bff"),
        ("search for ledger kind:api", "/search ledger kind:api"),
        ("where is the ledger", "/search ledger"),
        ("<@U0BOT> hey, who owns x", "/whoowns x"),
        ("help", "/help"),
        ("hi", "/help"),
        ("find bob's thing", "/search 'bob'\"'\"'s' thing"),
        ("/whoowns x", None),
        ("whoowns x", None),
        ("how are you", None),
    ],
)
def test_phrases(text: str, command: str | None) -> None:
    assert PhraseInterpreter(COMMANDS)(text) == command


def test_docs_phrase_goes_to_docs_or_else_describe() -> None:
    docs = CommandSpec("docs", "TechDocs", help_command)
    with_docs = [*(spec for spec in COMMANDS if spec.name != "docs"), docs]
    assert PhraseInterpreter(with_docs)("docs for checkout") == "/docs checkout"
    without_docs = [spec for spec in COMMANDS if spec.name != "docs"]
    assert PhraseInterpreter(without_docs)("docs for checkout") == "/describe checkout"


def test_every_phrase_example_maps() -> None:
    interpret = PhraseInterpreter(COMMANDS)
    for phrase in PHRASES:
        assert interpret(phrase.example), phrase.example
