"""/oncall and /page over the memory stores, with no on-call provider configured (no token).

The providers themselves (PagerDuty, Opsgenie) are tested against fake HTTP servers on
loopback in tests/e2e/test_oncall.py; here, what a bot without them answers.
"""

from __future__ import annotations

from tests.unit.commands.conftest import MemoryBot, ask, covers


@covers("oncall")
def test_oncall_without_providers_says_which_are_not_configured(bot: MemoryBot) -> None:
    reply = ask(bot, "/oncall payments-api")
    assert not reply.error
    assert reply.title == "On call for Payments API"
    assert "PagerDuty is not configured (no API token set)" in reply.notes
    assert "Opsgenie is not configured (no API token set)" in reply.notes
    assert "no provider answered" in reply.to_text()


@covers("oncall")
def test_oncall_of_a_team_and_of_nothing(bot: MemoryBot) -> None:
    team = ask(bot, "/oncall team-payments")
    assert not team.error and team.title == "On call for Payments Team"
    missing = ask(bot, "/oncall nosuchthing")
    assert missing.error and "nosuchthing" in missing.text


@covers("page")
def test_page_needs_an_exact_name_a_summary_and_a_configured_provider(bot: MemoryBot) -> None:
    typo = ask(bot, "/page paymnts-api checkout is down")
    assert typo.error
    assert "a page needs the exact name: /page component:default/payments-api" in typo.text
    bare = ask(bot, "/page payments-api")
    assert bare.error and "/page needs <summary>" in bare.text
    unconfigured = ask(bot, "/page payments-api checkout is down")
    assert unconfigured.error
    assert unconfigured.text.startswith("Cannot page component:default/payments-api:")
    assert "set OPSGENIE_API_KEY" in unconfigured.text
