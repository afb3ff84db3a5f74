"""Plain language for docs and on-call, and bounded work for any message (SQLite, PostgreSQL).

"docs for X" and "X docs" show X's docs; "who is on call for X" answers the on-call part of
/whoowns X. A message of any size costs bounded, linear work on the event loop.
"""

from __future__ import annotations

import asyncio

import pytest

from adapters.console import to_request
from bot.app import App
from bot.chat import Reply
from commands.docs import _leading_entity
from tests.conftest import DEMO, AppFactory, ask


@pytest.fixture
def demo(make_app: AppFactory, db_url: str) -> App:
    return make_app(
        sources=[{"type": "file", "name": "demo", "target": str(DEMO)}],
        db_url=db_url,
        console={"user_email": "ana.silva@acme-rides.example"},
    )


def console(app: App, line: str) -> Reply:
    """A line typed at the console prompt, as the console adapter sends it."""
    return asyncio.run(app.dispatcher.dispatch(to_request(app, line)))


@pytest.mark.parametrize(
    "line",
    [
        "docs for payments-api",
        "docs for the Payments API",
        "payments-api docs",
        "Payments API documentation?",
        "@callboard docs for payments-api",
        "where are the docs for payments-api",
    ],
)
def test_docs_for_an_entity_shows_its_docs_home_and_sections(demo: App, line: str) -> None:
    reply = console(demo, line)
    assert not reply.error, reply.to_text()
    assert reply.title == "Payments API docs"
    fields = {f.label: f.value for s in reply.sections for f in s.fields}
    assert fields["Entity"] == "component:default/payments-api"
    contents = next(s for s in reply.sections if s.title == "Contents")
    assert any(item.startswith("Overview: What it does") for item in contents.items)
    assert any(link.title == "Docs home" for link in reply.links)


def test_docs_for_words_that_are_no_entity_still_searches(demo: App) -> None:
    reply = console(demo, "docs for idempotency key")
    assert not reply.error
    assert (reply.title or "").startswith("Docs matching")


@pytest.mark.parametrize(
    "line",
    [
        "who is on call for payments-api",
        "who's on call for the Payments API?",
        "@callboard who is on-call for payments-api",
        "on call for payments-api",
    ],
)
def test_who_is_on_call_answers_the_on_call_part_of_whoowns(demo: App, line: str) -> None:
    reply = console(demo, line)
    assert not reply.error, reply.to_text()
    assert reply.title == "On call for Payments API"
    oncall = next(s for s in reply.sections if s.title == "On call")
    assert {(f.label, f.value) for f in oncall.fields} == {
        ("PagerDuty service", "P1W103D"),
        ("Opsgenie team", "payments"),
    }
    # The same facts /whoowns shows, and no member list: only the on-call part.
    full = ask(demo, "/whoowns payments-api")
    full_oncall = next(s for s in full.sections if s.title == "On call")
    assert full_oncall.fields == oncall.fields
    assert not any((s.title or "").startswith("Members") for s in reply.sections)


def test_on_call_falls_back_to_the_owner_and_says_when_there_is_none(demo: App) -> None:
    gap = console(demo, "who is on call for legacy-dispatch-monolith")
    assert not gap.error
    assert (gap.text or "").startswith(
        "No on-call is recorded for component:default/legacy-dispatch-monolith"
    )


def test_a_huge_message_is_refused_at_once(demo: App) -> None:
    # Issue 14, finding 4: "docs for " + 8,000 x "a OR " (40 KB) took 15-18 s on the loop.
    # Refused before anything parses it (no timing here: the refusal is the behaviour).
    line = "docs for " + "a OR " * 8000
    reply = asyncio.run(demo.dispatcher.dispatch(to_request(demo, line)))
    assert reply.error and "too long" in (reply.text or "")


def test_a_leading_entity_scan_is_linear_in_the_words(demo: App) -> None:
    # The scan itself, below every cap: 8,000 words used to cost a quadratic number of joins.
    ctx = demo.dispatcher.context(to_request(demo, "/docs x"))
    index = ctx.services.reader.index()
    text = "a OR " * 8000
    entity, words = asyncio.run(_leading_entity(ctx, text))
    assert entity is None and words == text
    # Only as many leading words as the longest name has can name an entity: the words past
    # them are never looked at, so an entity named first is found whatever follows it.
    tail = " zz" * 8000
    found, rest = asyncio.run(_leading_entity(ctx, "payments-api" + tail))
    assert found is not None and found.name == "payments-api" and rest == tail.strip()
    assert 1 <= index.max_words <= 16


def test_a_docs_query_has_a_word_limit(demo: App) -> None:
    reply = ask(demo, "/docs " + "refund " * 40)
    assert reply.error and "at most 32 words" in (reply.text or "")


def test_fuzzy_matching_of_a_huge_text_is_bounded() -> None:
    # Type-ahead pickers (Slack options, Discord autocomplete) hand what was typed to suggest().
    from bot.catalog.read import IndexEntry, NameIndex

    index = NameIndex(
        IndexEntry(f"component:default/svc-{i}", "component", f"svc-{i}", f"Service {i}")
        for i in range(40_000)
    )
    # Only the first MAX_QUERY_CHARS characters are matched: what follows changes nothing.
    from bot.catalog.read import MAX_QUERY_CHARS

    head = "q" * MAX_QUERY_CHARS
    assert index.suggest(head + " svc-12" * 5000, limit=25) == index.suggest(head, limit=25)
