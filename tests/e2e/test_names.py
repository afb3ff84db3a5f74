"""Names people type: emails, chat mentions and ids, not found versus ambiguous, hidden choices.

Through the dispatcher on the demo catalog (config/demo), on SQLite and PostgreSQL. Ana Silva
(`user:default/ana.silva`) has the email ana.silva@acme-rides.example, Slack id U0JK1EYY3 and
Discord id 589860739419867561; team-payments' email is team-payments@acme-rides.example.
"""

from __future__ import annotations

import pytest

from bot.app import App
from bot.chat import Reply
from tests.conftest import DEMO, AppFactory, ask

ANA = "user:default/ana.silva"


@pytest.fixture
def demo(make_app: AppFactory, db_url: str) -> App:
    return make_app(
        sources=[{"type": "file", "name": "demo", "target": str(DEMO)}],
        db_url=db_url,
        console={"user_email": "ana.silva@acme-rides.example"},
    )


def _fields(reply: Reply) -> dict[str, str]:
    return {f.label: f.value for s in reply.sections for f in s.fields}


@pytest.mark.parametrize(
    "text",
    [
        "ana.silva@acme-rides.example",
        "Ana.Silva@ACME-rides.example",
        "<mailto:ana.silva@acme-rides.example|ana.silva@acme-rides.example>",
    ],
)
def test_an_email_finds_its_user_exactly(demo: App, text: str) -> None:
    reply = ask(demo, f"/whoowns {text}")
    assert not reply.error, reply.to_text()
    assert reply.title == "What Ana Silva owns"
    assert reply.notes == ()  # not a guess
    assert _fields(reply)["Email"] == "ana.silva@acme-rides.example"


def test_a_team_email_finds_the_team_not_its_components(demo: App) -> None:
    reply = ask(demo, "/whoowns team-payments@acme-rides.example")
    assert not reply.error, reply.to_text()
    assert reply.title == "What Payments Team owns"
    assert reply.notes == ()


def test_an_email_nobody_has_is_not_found_and_not_a_guess(demo: App) -> None:
    reply = ask(demo, "/whoowns ana.silvia@acme-rides.example")
    assert reply.error
    assert reply.text == (
        "No user or group in the catalog has the email ana.silvia@acme-rides.example "
        "(spec.profile.email)."
    )
    assert "could mean" not in reply.to_text()


@pytest.mark.parametrize(
    "text",
    [
        "<@U0JK1EYY3>",
        "<@U0JK1EYY3|ana>",
        "U0JK1EYY3",
        "<@!589860739419867561>",
        "<@589860739419867561>",
    ],
)
def test_a_chat_mention_or_user_id_finds_its_user(demo: App, text: str) -> None:
    reply = ask(demo, f"/describe {text}")
    assert not reply.error, reply.to_text()
    assert ANA in reply.to_text()
    assert reply.notes == ()


@pytest.mark.parametrize("text", ["@ana.silva", "@Ana Silva", "@ANA.SILVA"])
def test_a_mention_as_typed_finds_the_user(demo: App, text: str) -> None:
    # Slack sends a slash command's text unescaped: "@ana.silva", as the person typed it.
    reply = ask(demo, f"/whoowns {text}")
    assert not reply.error, reply.to_text()
    assert reply.title == "What Ana Silva owns" and reply.notes == ()


def test_a_mention_of_nobody_in_the_catalog_says_which_annotation(demo: App) -> None:
    reply = ask(demo, "/whoowns <@U0NOBODY>")
    assert reply.error
    assert "No User in the catalog has the chat id U0NOBODY" in (reply.text or "")
    assert "slack.com/user-id" in (reply.text or "")


def test_nothing_close_is_not_found_not_ambiguous(demo: App) -> None:
    reply = ask(demo, "/whoowns team-nope")
    assert reply.error
    assert reply.text == "Nothing named “team-nope”."
    assert "could mean" not in reply.to_text()


def test_several_close_names_are_ambiguous_and_say_how_many_more(demo: App) -> None:
    reply = ask(demo, "/whoowns payments")
    assert reply.error and reply.text == "“payments” could mean several entities:"
    (section,) = reply.sections
    assert section.title == "Which one?"
    assert len(section.items) == 6
    assert section.items[-1] == "… and 4 more: /search payments"
    assert reply.more == "/search payments"
    # The way to see them all works and lists them.
    listed = ask(demo, reply.more).to_text()
    for name in ("payments-worker", "payments-rest-api", "team-payments", "payments-db"):
        assert name in listed


def test_a_list_that_shows_every_choice_says_nothing_more(demo: App) -> None:
    reply = ask(demo, "/whoowns fraud")
    assert reply.error and "could mean" in (reply.text or "")
    assert not any("more" in item for s in reply.sections for item in s.items)
    assert reply.more is None


@pytest.mark.parametrize(
    ("text", "title"),
    [
        ("Ana Silva", "What Ana Silva owns"),
        ("ana silva", "What Ana Silva owns"),
        ("Risk & Safety Team", "What Risk & Safety Team owns"),
    ],
)
def test_an_exact_display_name_is_not_called_a_typo(demo: App, text: str, title: str) -> None:
    reply = ask(demo, f"/whoowns {text}")
    assert not reply.error, reply.to_text()
    assert reply.title == title
    assert reply.notes == ()


def test_a_typo_of_one_name_is_still_taken_with_a_note(demo: App) -> None:
    reply = ask(demo, "/whoowns team-paymnets")
    assert not reply.error
    assert reply.notes and "closest match, group:default/team-payments" in reply.notes[0]
