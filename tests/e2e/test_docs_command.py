"""/docs as users meet it: typed at the console, and as a signed Slack slash command.

Runs on the demo catalog's TechDocs (seven components with docs, two deliberate gaps).
"""

from __future__ import annotations

import asyncio
import io
from pathlib import Path

import pytest

from adapters.console import Console, to_request
from bot.app import App
from bot.chat import MARK_CLOSE, MARK_OPEN, Reply
from tests.conftest import DEMO, AppFactory
from tests.e2e.test_slack import (  # noqa: F401 - pytest fixtures used by name
    Starter,
    block_text,
    fake,
    start_slack,
)

BACKSTAGE = "https://backstage.acme-rides.example"


def say(app: App, line: str) -> Reply:
    """A line typed at the console, answered as the console answers it."""
    return asyncio.run(app.dispatcher.dispatch(to_request(app, line)))


def titles(reply: Reply) -> list[str]:
    return [s.title or "" for s in reply.sections]


@pytest.fixture
def docs_app(make_app: AppFactory, db_url: str) -> App:
    """The demo catalog with Backstage configured, on SQLite and PostgreSQL."""
    return make_app(
        sources=[{"type": "file", "name": "demo", "target": str(DEMO)}],
        db_url=db_url,
        backstage={"url": BACKSTAGE},
    )


def test_docs_for_an_entity_shows_its_home_contents_and_freshness(docs_app: App) -> None:
    reply = say(docs_app, "/docs payments-api")
    text = reply.to_text()
    assert not reply.error
    assert reply.title == "Payments API docs"
    assert "How the Acme Rides Payments API works" in text
    contents = next(s for s in reply.sections if s.title == "Contents").items
    assert [line.split(":")[0] for line in contents] == [
        "Overview",
        "Architecture",
        "API usage",
        "Runbook",
        "FAQ",
    ]
    assert any(
        "Before you touch anything" in line
        and line.endswith(f"{BACKSTAGE}/docs/default/component/payments-api/runbook/")
        for line in contents
    )
    assert reply.links[0].url == f"{BACKSTAGE}/docs/default/component/payments-api/"
    fields = {f.label: f.value for s in reply.sections for f in s.fields}
    assert fields["Pages"].startswith("5 (")
    assert fields["Docs updated"] != "unknown"


def test_docs_search_within_an_entity_marks_the_words_and_links_the_section(
    docs_app: App,
) -> None:
    reply = say(docs_app, "/docs payments-api refund")
    assert reply.title == "Docs matching “refund” (payments-api)"
    heads = titles(reply)
    assert heads and all(h.split(". ", 1)[1].startswith("payments-api › ") for h in heads)
    assert any("Runbook › " in h for h in heads)
    pages = [h.split(" › ")[1] for h in heads]
    assert len(pages) == len(set(pages))  # each page once
    for section in reply.sections:
        assert section.text is not None
        snippet, url = section.text.rsplit("\n", 1)
        assert url.startswith(f"{BACKSTAGE}/docs/default/component/payments-api/")
        assert "#" in url
        assert f"{MARK_OPEN}" in snippet or "Overview" in (section.title or "")


def test_docs_search_across_entities_pages_without_repeating_a_page(docs_app: App) -> None:
    reply = say(docs_app, "/docs idempotency key")
    seen: list[str] = []
    pages = 0
    while True:
        pages += 1
        assert pages < 20
        seen += [(s.title or "").split(". ", 1)[1].rsplit(" › ", 1)[0] for s in reply.sections]
        if not reply.more:
            break
        reply = say(docs_app, reply.more)
    assert len(seen) == len(set(seen)) > 5
    entities = {s.split(" › ")[0] for s in seen}
    assert {"payments-api", "rider-bff"} <= entities


def test_phrases_and_prefixes(docs_app: App) -> None:
    phrase = say(docs_app, '/docs "roll back"')
    assert phrase.sections
    assert all(
        f"{MARK_OPEN}roll{MARK_CLOSE} {MARK_OPEN}back{MARK_CLOSE}" in (s.text or "")
        or f"{MARK_OPEN}roll back{MARK_CLOSE}" in (s.text or "")
        or "rolled" in (s.text or "")
        for s in phrase.sections
    )
    prefix = say(docs_app, "/docs refu")
    assert any("start with" in note for note in prefix.notes)
    assert any("refund" in (s.title or "").lower() for s in prefix.sections)


def test_the_deliberate_docs_gaps_are_shown(docs_app: App) -> None:
    auth = say(docs_app, "/docs auth-service")
    assert "docs folder is missing" in auth.to_text()
    problems = next(s for s in auth.sections if s.title == "Problems").items
    assert "no mkdocs.yml and no docs/ folder" in problems[0]
    dispatch = say(docs_app, "/docs dispatch-service")
    problems = next(s for s in dispatch.sections if s.title == "Problems").items
    assert problems == (
        "nav entry “Capacity planning” points to capacity-planning.md, which does not exist in "
        "docs/ (services/dispatch-service/mkdocs.yml)",
    )


def test_docs_overview_and_entities_without_docs(docs_app: App) -> None:
    overview = say(docs_app, "/docs")
    lines = overview.sections[0].items
    assert len(lines) == 8
    assert "auth-service: no docs folder" in lines
    assert overview.notes == ("2 docs problems: /docs --problems",)
    problems = say(docs_app, "/docs --problems")
    assert problems.text == "1 error and 1 warning, found by the last docs index."
    assert [s.title for s in problems.sections] == [
        "component:default/auth-service",
        "component:default/dispatch-service",
    ]
    assert "capacity-planning.md" in problems.sections[1].items[0]

    worker = say(docs_app, "/docs payments-worker")
    assert "has no TechDocs" in (worker.text or "")
    mentioned = next(s for s in worker.sections if s.title == "Mentioned in").items
    assert mentioned and mentioned[0].startswith("payments-api › ")

    # An entity without docs followed by words: the words (and its name) are searched.
    db = say(docs_app, "/docs payments-db replicas")
    assert db.title == "Docs matching “payments-db replicas”"
    assert any("payments-api › Architecture" in (s.title or "") for s in db.sections)


def test_unhelpful_queries_get_clear_answers(docs_app: App) -> None:
    stop = say(docs_app, "/docs the of")
    assert stop.error and "add a more specific word" in (stop.text or "")
    nothing = say(docs_app, "/docs payments-api zebra")
    assert nothing.text == "Nothing in payments-api docs matches “zebra”."
    assert nothing.buttons[0].command == "/docs component:default/payments-api"
    beyond = say(docs_app, "/docs payments-api refund --page 9")
    assert "There is no page 9" in (beyond.text or "")
    for query in ("refund", "payments-api refund"):  # both searches, past any database LIMIT
        far = say(docs_app, f"/docs {query} --page 99999999999999999999")
        assert "There is no page 99999999999999999999" in (far.text or "")


def test_a_very_broad_search_says_to_add_words(make_app: AppFactory, tmp_path: Path) -> None:
    from bot.docs.search import MAX_RANKED

    folder = tmp_path / "big"
    (folder / "docs").mkdir(parents=True)
    (folder / "mkdocs.yml").write_text("site_name: big\n")
    body = "".join(
        f"## Item {i}\n\nEvery item mentions widgets.\n\n" for i in range(MAX_RANKED + 1)
    )
    (folder / "docs" / "index.md").write_text("# Big\n\n" + body)
    (folder / "catalog-info.yaml").write_text(
        "apiVersion: backstage.io/v1alpha1\nkind: Component\nmetadata:\n  name: big\n"
        "  annotations:\n    backstage.io/techdocs-ref: dir:.\n"
        "spec: {type: service, lifecycle: production, owner: team-a}\n"
    )
    app = make_app(sources=[{"type": "file", "target": str(folder / "catalog-info.yaml")}])
    reply = say(app, "/docs widgets")
    assert any("add words to narrow the search" in note for note in reply.notes)


def test_the_console_prints_marks_readably(docs_app: App) -> None:
    # Not a terminal here: matches are *starred*, and no raw mark is left.
    console = Console(docs_app, out=io.StringIO())
    printed = asyncio.run(console.answer("/docs payments-api refund"))
    assert "*refund" in printed.lower()
    assert MARK_OPEN not in printed and MARK_CLOSE not in printed
    assert "1. payments-api › " in printed


async def test_docs_through_slack_renders_marks_as_bold(
    start_slack: Starter,  # noqa: F811 - the fixture imported above
) -> None:
    slack = await start_slack()
    status, body = await slack.command("/docs", "payments-api refund")
    assert status == 200
    shown = block_text(body)
    assert "payments-api › Runbook › " in shown
    assert MARK_OPEN not in shown and MARK_CLOSE not in shown
    assert "*refund*" in shown.lower()
    assert "https://github.com/acme-rides/payments-api/blob/HEAD/docs/runbook.md#" in shown
