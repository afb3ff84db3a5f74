"""The headline path through the console adapter: /whoowns on the demo catalog."""

from __future__ import annotations

from bot.app import App
from tests.conftest import ask


def test_whoowns_payments_api_names_team_members_and_channel(demo_app: App) -> None:
    reply = ask(demo_app, "/whoowns payments-api")
    text = reply.to_text()
    assert not reply.error
    assert "group:default/team-payments" in text
    assert "Ana Silva <ana.silva@acme-rides.example>" in text
    assert "#team-payments (C0FOGYR3XK)" in text
    assert "P1W103D" in text  # PagerDuty on-call
