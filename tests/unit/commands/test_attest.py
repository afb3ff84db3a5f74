"""/attest over the memory stores: start, status, confirm, not ours, needs changes, reminders.

The campaign's posts go to a recording poster standing in for a chat platform (the real Slack
and Discord adapters are driven in tests/e2e/test_attest.py).
"""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest

from bot.attest.model import parse_scope
from bot.chat import ChatUser, Reply
from bot.errors import BadArguments
from tests.unit.commands.conftest import MemoryBot, ask, covers, make_bot

ANA = ChatUser("slack", "U0JK1EYY3", "ana", "ana.silva@acme-rides.example")  # team-payments
JULIA = ChatUser("slack", "U01N8MTZX27", "julia", "julia.moreno@acme-rides.example")  # rider-app
PAYMENTS = "C0FOGYR3XK"
RISK = "C0REK8PK3"


class Recorder:
    """A platform's poster as the core sees it: the replies posted, by channel."""

    platform = "slack"

    def __init__(self) -> None:
        self.posts: list[tuple[str, Reply]] = []

    async def post(self, channel: str, reply: Reply) -> None:
        self.posts.append((channel, reply))

    def to(self, channel: str) -> list[Reply]:
        return [r for c, r in self.posts if c == channel]


@pytest.fixture
def fresh(tmp_path: Path) -> tuple[MemoryBot, Recorder]:
    bot = make_bot(tmp_path, admins=["team-infra"])
    recorder = Recorder()
    bot.services.posters["slack"] = recorder
    return bot, recorder


def start(bot: MemoryBot) -> Reply:
    reply = ask(bot, "/attest start --scope kind:component,lifecycle:production --due 14d")
    assert not reply.error, reply.to_text()
    return reply


@covers("attest")
def test_attest_alone_lists_its_subcommands_and_refuses_others(bot: MemoryBot) -> None:
    reply = ask(bot, "/attest")
    assert not reply.error
    assert any("confirm" in item for s in reply.sections for item in s.items)
    wrong = ask(bot, "/attest confrim x")
    assert wrong.error and "no subcommand confrim" in wrong.text


@covers("attest start")
def test_start_posts_each_team_its_entities_with_buttons(fresh: tuple[MemoryBot, Recorder]) -> None:
    bot, recorder = fresh
    reply = start(bot)
    assert reply.title == "Ownership check 1 started"
    [message] = recorder.to(PAYMENTS)
    assert message.title == "Ownership check 1 for Payments Team"
    assert not message.ephemeral
    commands = [b.command for b in message.buttons]
    assert "/attest confirm component:payments-api --campaign 1" in commands
    assert "/attest notours component:payments-api --campaign 1" in commands
    assert "/attest confirm --all group:team-payments --campaign 1" in commands
    assert len(message.buttons) <= 25
    text = message.to_text()
    assert "component:default/payments-api" in text
    assert "component:default/legacy-payments" not in text  # deprecated: out of scope


@covers("attest start")
def test_a_scope_by_owner_and_kind_asks_only_those(fresh: tuple[MemoryBot, Recorder]) -> None:
    bot, recorder = fresh
    reply = ask(bot, "/attest start --scope kind:api,owner:team-payments,lifecycle:production")
    assert not reply.error, reply.to_text()
    assert reply.text is not None and reply.text.startswith("2 entities of 1 teams")
    [message] = recorder.to(PAYMENTS)
    assert all("(api:default/" in line for line in message.sections[0].items)
    assert [c for c, _ in recorder.posts] == [PAYMENTS]


@covers("attest start")
def test_start_refuses_bad_options_and_non_admins(fresh: tuple[MemoryBot, Recorder]) -> None:
    bot, recorder = fresh
    bad = ask(bot, "/attest start --scope colour:blue")
    assert bad.error and "there is no key colour" in bad.text
    due = ask(bot, "/attest start --due soon")
    assert due.error and "--due takes a duration" in due.text
    slow = ask(bot, "/attest start --due 2d --reminders 3d")
    assert slow.error and "not shorter than --due 2d" in slow.text
    refused = ask(bot, "/attest start", ANA)
    assert refused.error and "Only Callboard admins may run /attest start" in refused.text
    assert recorder.posts == []


@covers("attest confirm", "attest status")
def test_confirm_one_and_all_then_status(fresh: tuple[MemoryBot, Recorder]) -> None:
    bot, _ = fresh
    start(bot)
    one = ask(bot, "/attest confirm component:payments-api --campaign 1", ANA)
    assert not one.error, one.text
    assert "confirmed" in one.text and "team-payments" in one.text
    everything = ask(bot, "/attest confirm --all team-payments", ANA)
    assert not everything.error, everything.text
    again = ask(bot, "/attest confirm --all team-payments", ANA)
    assert "already has an answer" in again.text
    status = ask(bot, "/attest status")
    per_team = next(s.items for s in status.sections if s.title == "Per team")
    payments = next(line for line in per_team if line.startswith("team-payments:"))
    assert payments.startswith("team-payments: 6 of 6 answered (6 confirmed")
    answers = asyncio.run(bot.services.attest.store.answers(1))  # type: ignore[union-attr]
    assert answers[0].actor == "user:default/ana.silva (slack ana)"
    assert answers[0].version and answers[0].user_ref == "user:default/ana.silva"


@covers("attest confirm")
def test_a_non_member_is_refused_and_told_why(fresh: tuple[MemoryBot, Recorder]) -> None:
    bot, _ = fresh
    start(bot)
    refused = ask(bot, "/attest confirm payments-api", JULIA)
    assert refused.error
    assert "Only members of team-payments (or of a team below it)" in refused.text
    assert "You are user:default/julia.moreno, a member of team-rider-app." in refused.text
    status = ask(bot, "/attest status")
    assert status.title == "Ownership check 1: 0 of 28 answered"


@covers("attest notours")
def test_not_ours_opens_a_dialog_or_records_a_gap_and_tells_the_named_team(
    fresh: tuple[MemoryBot, Recorder],
) -> None:
    bot, recorder = fresh
    start(bot)
    asking = ask(bot, "/attest notours fraud-scorer", ANA)
    assert not asking.error and asking.dialog is not None
    assert asking.dialog.state == {
        "campaign": "1",
        "entity": "component:default/fraud-scorer",
        "all": "",
    }
    every = ask(bot, "/attest notours --all team-payments", ANA)
    assert every.dialog is not None and every.dialog.state["all"] == "group:default/team-payments"
    both = ask(bot, "/attest notours payments-api --all team-payments", ANA)
    assert both.error and both.text.startswith("Name one entity, or all of a team's")
    unknown = ask(bot, "/attest notours payments-api --owner team-nobody", ANA)
    assert unknown.error and "team-nobody" in unknown.text
    done = ask(bot, "/attest notours payments-api --owner team-risk --reason 'moved'", ANA)
    assert not done.error, done.text
    gaps = next(s.items for s in done.sections if s.title == "Recorded as ownership gaps")
    assert gaps[0].startswith("payments-api: team-payments says it is not theirs (moved)")
    [told] = recorder.to(RISK)[-1:]
    assert told.title == "Is payments-api yours?"
    assert any((s.title or "") == "team-risk was told in slack C0REK8PK3" for s in done.sections)
    status = ask(bot, "/attest status")
    assert any(s.title == "Ownership gaps (not ours)" for s in status.sections)
    # An ownership gap in the reports too, for both teams, while the owner stays the same.
    for team in ("team-payments", "team-risk"):
        report = ask(bot, f"/report ownership-gaps {team}")
        disputed = next(
            s.items for s in report.sections if (s.title or "").startswith("Owner says it is not")
        )
        assert disputed[0].startswith("payments-api: team-payments says it is not theirs")


@covers("attest changes")
def test_needs_changes_asks_for_a_note_and_records_it(fresh: tuple[MemoryBot, Recorder]) -> None:
    bot, _ = fresh
    start(bot)
    asking = ask(bot, "/attest changes payments-api", ANA)
    assert asking.dialog is not None and asking.dialog.fields[0].name == "note"
    done = ask(bot, "/attest changes payments-api --note 'lifecycle is wrong'", ANA)
    assert not done.error and "asked changes to" in done.text
    status = ask(bot, "/attest status")
    changes = next(s.items for s in status.sections if s.title == "Needs changes")
    assert changes[0].startswith("payments-api: lifecycle is wrong")


def test_reminders_go_out_at_the_cadence_once_each(fresh: tuple[MemoryBot, Recorder]) -> None:
    bot, recorder = fresh
    start(bot)
    attest = bot.services.attest
    assert attest is not None
    ask(bot, "/attest confirm --all team-payments", ANA)
    before = len(recorder.posts)
    bot.clock.advance(days=2, hours=23)
    assert asyncio.run(attest.remind_due()) == []
    bot.clock.advance(hours=1)
    [first] = asyncio.run(attest.remind_due())
    assert first.campaign == 1 and first.deliveries and all(d.ok for d in first.deliveries)
    assert asyncio.run(attest.remind_due()) == []  # claimed: never twice
    reminders = [r for _, r in recorder.posts[before:]]
    assert reminders and all((r.title or "").startswith("Reminder:") for r in reminders)
    assert not recorder.to(PAYMENTS)[1:]  # every payments entity answered: not reminded
    bot.clock.advance(days=3)
    assert len(asyncio.run(attest.remind_due())) == 1
    bot.clock.advance(days=9)  # past due: closed, no reminder
    assert asyncio.run(attest.remind_due()) == []
    late = ask(bot, "/attest confirm fraud-scorer --campaign 1", ANA)
    assert late.error and "takes no more answers" in late.text


def test_scope_terms() -> None:
    scope = parse_scope("kind:component, lifecycle:production,kind:api,owner:team-payments")
    assert scope.terms["kind"] == {"component", "api"}
    assert scope.terms["owner"] == {"group:default/team-payments"}
    with pytest.raises(BadArguments, match="needs key:value"):
        parse_scope("component")
