"""/callboard (sync, status, here) and /help over the memory stores."""

from __future__ import annotations

import asyncio
import textwrap
from pathlib import Path

import pytest

from bot.chat import ChatUser
from tests.unit.commands.conftest import MemoryBot, ask, covers, make_bot, seal


def slack(email: str | None) -> ChatUser:
    return ChatUser("slack", "U0TEST", "someone", email)


@covers("callboard")
def test_callboard_alone_lists_subcommands_and_suggests_for_a_typo(bot: MemoryBot) -> None:
    menu = ask(bot, "/callboard")
    text = menu.to_text()
    assert "/callboard sync [source] [--force] — sync now and show what changed" in text
    assert [b.command for b in menu.buttons] == ["/callboard status"]
    typo = ask(bot, "/callboard stauts")
    assert typo.error
    assert typo.text == (
        "/callboard has no subcommand stauts. Did you mean /callboard status? "
        "Subcommands: sync, status, here."
    )


@covers("callboard status")
def test_status_overview_and_one_source(bot: MemoryBot) -> None:
    overview = ask(bot, "/callboard status")
    assert not overview.error
    assert overview.text == "1 source, all ok."
    demo = overview.sections[0]
    assert demo.title == "demo"
    fields = {f.label: f.value for f in demo.fields}
    assert fields["State"] == "ok" and fields["Entities"] == "105"
    assert fields["Problems"] == "0 errors, 0 warnings"
    one = ask(bot, "/callboard status demo")
    assert one.title == "Catalog source demo" and one.text == "demo is ok."
    assert [b.command for b in one.buttons] == ["/callboard sync demo"]
    assert ask(bot, "/callboard status demo --force").text == (
        "--force is for /callboard sync. Usage: /callboard status [source]"
    )


@covers("callboard sync")
def test_sync_reports_what_changed_in_memory(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    seal(monkeypatch)
    own = make_bot(tmp_path)
    try:
        same = asyncio.run(own.ask("/callboard sync"))
        assert same.text == "1 source synced: 1 ok."
        assert {f.label: f.value for f in same.sections[0].fields}["Changes"] == "none"
        misc = tmp_path / "demo" / "services" / "misc.yaml"
        misc.write_text(
            misc.read_text()
            + textwrap.dedent(
                """\
                ---
                apiVersion: backstage.io/v1alpha1
                kind: Component
                metadata:
                  name: fare-estimator
                spec:
                  type: service
                  lifecycle: experimental
                  owner: group:default/team-pricing
                """
            )
        )
        changed = asyncio.run(own.ask("/callboard sync demo"))
        assert not changed.error
        fields = {f.label: f.value for f in changed.sections[0].fields}
        assert fields["Entities"] == "106"
        assert fields["Changes"].startswith("1 added, 0 removed")
        assert "+ component:default/fare-estimator" in changed.sections[0].items
        who = asyncio.run(own.ask("/whoowns fare-estimator"))
        assert "group:default/team-pricing" in (who.text or "")
        unknown = asyncio.run(own.ask("/callboard sync nope"))
        assert unknown.error
        assert unknown.text == "There is no catalog source named nope (sources: demo)."
    finally:
        own.services.pool.shutdown(wait=False, cancel_futures=True)


@covers("callboard sync", "callboard status")
def test_admin_subcommands_are_refused_to_non_admins_on_chat(bot: MemoryBot) -> None:
    refused = ask(bot, "/callboard sync", user=slack("ana.silva@acme-rides.example"))
    assert refused.error
    assert "none are configured: list catalog groups or users under `admins:`" in (
        refused.text or ""
    )
    stranger = ask(bot, "/callboard status", user=slack("who@example.com"))
    assert stranger.error


@covers("callboard here")
def test_callboard_here_is_for_everyone(bot: MemoryBot) -> None:
    here = ask(bot, "/callboard here", user=slack("who@example.com"))
    assert not here.error
    assert "Platform" in here.to_text()


@covers("help")
def test_help_lists_commands_details_one_and_suggests(bot: MemoryBot) -> None:
    overview = ask(bot, "/help")
    assert overview.title == "Callboard"
    assert "/whoowns <entity> [--page N] [--oncall]" in overview.to_text()
    one = ask(bot, "/help whoowns")
    assert one.title == "/whoowns"
    assert "/whoowns payments-api --oncall" in one.to_text()
    nope = ask(bot, "/help nope")
    assert nope.error and (nope.text or "").startswith("There is no /nope command.")
    typo = ask(bot, "/whosowns x")
    assert typo.error
    assert typo.text == "There is no /whosowns command. Did you mean /whoowns or /owns?"
