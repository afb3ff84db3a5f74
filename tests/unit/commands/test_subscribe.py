"""/subscribe, /unsubscribe, /subscriptions, and the change notifications they feed, over the
memory stores (the console's poster stands for a chat platform's)."""

from __future__ import annotations

import asyncio
import io
from pathlib import Path

import pytest

from adapters.console import ConsolePoster
from bot.chat import ChatUser
from tests.unit.commands.conftest import MemoryBot, ask, covers, make_bot

SLACK = ChatUser("slack", "U0TEST", "someone", "ana.silva@acme-rides.example")
NOTIFY = {
    "notifications": {
        "routes": [{"match": {"system": "checkout"}, "channels": ["console:checkout"]}],
    },
    "reports": {"pace_ms": 0},
}


@pytest.fixture
def notified(tmp_path: Path) -> tuple[MemoryBot, io.StringIO]:
    bot = make_bot(tmp_path, **NOTIFY)
    out = io.StringIO()
    bot.services.posters["console"] = ConsolePoster(out)
    return bot, out


def move_payments_to_risk(bot: MemoryBot, tmp_path: Path, count: int = 3) -> None:
    path = tmp_path / "demo" / "services" / "payments.yaml"
    text = path.read_text()
    path.write_text(text.replace("owner: team-payments", "owner: team-risk", count))
    assert bot.services.sync.run().ok


@covers("subscribe", "subscriptions", "unsubscribe")
def test_a_channel_follows_a_team_lists_it_and_stops(
    notified: tuple[MemoryBot, io.StringIO],
) -> None:
    bot, _ = notified
    empty = ask(bot, "/subscriptions", user=SLACK, channel="C0OPS")
    assert "This channel follows nothing" in (empty.text or "")
    added = ask(bot, "/subscribe team-risk", user=SLACK, channel="C0OPS")
    assert not added.error
    assert added.text is not None and added.text.startswith(
        "This channel now follows Risk & Safety Team (group:default/team-risk)"
    )
    again = ask(bot, "/subscribe team-risk", user=SLACK, channel="C0OPS")
    assert again.text is not None and "already follows" in again.text
    system = ask(bot, "/follow system:checkout", user=SLACK, channel="C0OPS")
    assert "the changes to the system's entities" in (system.text or "")
    listing = ask(bot, "/subscriptions", user=SLACK, channel="C0OPS")
    assert listing.sections[0].items == (
        "group:default/team-risk (team), since 2026-12-01",
        "system:default/checkout (system), since 2026-12-01",
    )
    assert [b.command for b in listing.buttons] == [
        "/unsubscribe group:default/team-risk",
        "/unsubscribe system:default/checkout",
    ]
    other = ask(bot, "/subscriptions", user=SLACK, channel="C0ELSEWHERE")
    assert "follows nothing" in (other.text or "")
    gone = ask(bot, "/unsubscribe team-risk", user=SLACK, channel="C0OPS")
    assert gone.text == "This channel no longer follows group:default/team-risk."
    not_followed = ask(bot, "/unsubscribe team-risk", user=SLACK, channel="C0OPS")
    assert not_followed.error
    assert not_followed.text == (
        "This channel does not follow group:default/team-risk. It follows: system:checkout."
    )


@covers("subscribe")
def test_subscribing_needs_a_channel_and_says_when_notifications_are_off(
    bot: MemoryBot,
) -> None:
    console = ask(bot, "/subscribe team-risk")
    assert console.error
    assert console.text == (
        "/subscribe works in a channel, and this conversation has none: set console.channel "
        "in the config."
    )
    off = ask(bot, "/subscribe payments-api", user=SLACK, channel="C0OFF")
    assert not off.error
    assert off.notes == (
        "Change notifications are off here: nothing is posted until the config has a "
        "notifications: section.",
    )


def test_a_move_reaches_routes_and_followers_once_and_a_quiet_sync_nothing(
    notified: tuple[MemoryBot, io.StringIO], tmp_path: Path
) -> None:
    bot, out = notified
    follower = ChatUser("console", "tester", "tester")
    assert not ask(bot, "/subscribe team-payments", user=follower, channel="payments").error
    notifier = bot.services.notifier
    assert notifier is not None
    first = asyncio.run(notifier.notify())
    assert first.planned.status == "baseline" and first.deliveries == ()
    move_payments_to_risk(bot, tmp_path)
    done = asyncio.run(notifier.notify())
    assert done.planned.status == "committed"
    assert sorted((d.channel, d.status) for d in done.deliveries) == [
        ("checkout", "posted"),
        ("payments", "posted"),
    ]
    text = out.getvalue()
    payments = text.split("--- to payments ---")[1].split("--- to")[0]
    assert "Catalog changes for Payments Team (team-payments)" in payments
    for name in ("payments-client-lib", "payments-ui", "payments-worker"):
        assert f"moved out: {name}, now team-risk's" in payments
        assert f"{name}: https://backstage.acme-rides.example/catalog/default/component/{name}" in (
            payments
        )
    checkout = text.split("--- to checkout ---")[1]
    assert "moved in: payments-ui, from team-payments" in checkout
    out.truncate(0)
    out.seek(0)
    assert bot.services.sync.run().ok
    quiet = asyncio.run(notifier.notify())
    assert quiet.planned.status == "committed" and quiet.planned.messages == 0
    assert quiet.deliveries == () and out.getvalue() == ""
