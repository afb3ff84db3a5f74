"""/oncall and the /whoowns "On call now" line, through the dispatcher and the console adapter,
with PagerDuty and Opsgenie served by fakes on loopback (tests.oncall_fakes)."""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
import io
import textwrap
import threading
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import discord
import pytest

from adapters.console import to_request
from bot.app import App
from bot.chat import ChatUser, Mention, MentionText, Reply, Request
from bot.oncall.model import PAGERDUTY, OnCallTarget
from tests.conftest import AppFactory
from tests.e2e.slack_fake import FakeSlack
from tests.e2e.test_slack import Slack, assert_valid_message, block_text
from tests.oncall_fakes import OG_KEY, PD_TOKEN, FakeOpsgenie, FakePagerDuty, pd_entry, serve

CATALOG = """
apiVersion: backstage.io/v1alpha1
kind: Group
metadata:
  name: platform
  annotations:
    pagerduty.com/service-id: PROOT
spec: {type: department, children: [team-search]}
---
apiVersion: backstage.io/v1alpha1
kind: Group
metadata:
  name: team-payments
  annotations:
    opsgenie.com/team: payments
spec: {type: team, children: [], members: [ana]}
---
apiVersion: backstage.io/v1alpha1
kind: Group
metadata: {name: team-search}
spec: {type: team, parent: platform, children: []}
---
apiVersion: backstage.io/v1alpha1
kind: Group
metadata: {name: team-quiet}
spec: {type: team, children: []}
---
apiVersion: backstage.io/v1alpha1
kind: User
metadata:
  name: ana
  annotations:
    slack.com/user-id: U0ANA
    discord.com/user-id: "589860739419867561"
spec: {profile: {displayName: Ana Silva, email: ana@x.example}, memberOf: [team-payments]}
---
apiVersion: backstage.io/v1alpha1
kind: User
metadata:
  name: bo
  annotations:
    slack.com/user-id: U0BO
spec: {profile: {displayName: Bo Chen, email: bo@x.example}, memberOf: [team-search]}
---
apiVersion: backstage.io/v1alpha1
kind: Component
metadata:
  name: payments-api
  annotations:
    pagerduty.com/service-id: PSVC1
    pagerduty.com/integration-key: R0UTINGKEY0000000000000000000001
spec: {type: service, lifecycle: production, owner: team-payments}
---
apiVersion: backstage.io/v1alpha1
kind: Component
metadata: {name: ledger}
spec: {type: service, lifecycle: production, owner: team-payments}
---
apiVersion: backstage.io/v1alpha1
kind: Component
metadata: {name: search-api}
spec: {type: service, lifecycle: production, owner: team-search}
---
apiVersion: backstage.io/v1alpha1
kind: Component
metadata: {name: quiet-api}
spec: {type: service, lifecycle: production, owner: team-quiet}
"""

NOW = dt.datetime.now(dt.UTC)


def iso(delta_hours: float) -> str:
    return (NOW + dt.timedelta(hours=delta_hours)).strftime("%Y-%m-%dT%H:%M:%SZ")


@pytest.fixture
def pd() -> Iterator[FakePagerDuty]:
    fake = FakePagerDuty(
        services={"PSVC1": "PPOL1", "PROOT": "PPOL2"},
        oncalls={
            "PPOL1": [
                pd_entry("P1", "Ana Silva", "ana@x.example", 1, iso(-3), iso(21)),
                pd_entry("P2", "Bo Chen", "bo@x.example", 2, None, None, schedule=None),
                pd_entry("P3", "Cy Diaz", "cy@x.example", 1, iso(21), iso(45)),
            ],
            "PPOL2": [pd_entry("P4", "Root Person", "root@x.example", 1, iso(-1), iso(5))],
        },
    )
    yield from serve(fake)  # type: ignore[misc]


@pytest.fixture
def og() -> Iterator[FakeOpsgenie]:
    fake = FakeOpsgenie(
        schedules={"payments_schedule": "payments"},
        on_call={"payments_schedule": ["ana@x.example"]},
        next_on_call={"payments_schedule": ["eve@x.example"]},
    )
    yield from serve(fake)  # type: ignore[misc]


@pytest.fixture
def app(
    make_app: AppFactory,
    tmp_path: Path,
    pd: FakePagerDuty,
    og: FakeOpsgenie,
    monkeypatch: pytest.MonkeyPatch,
) -> App:
    monkeypatch.setenv("PAGERDUTY_TOKEN", PD_TOKEN)
    monkeypatch.setenv("OPSGENIE_API_KEY", OG_KEY)
    path = tmp_path / "all.yaml"
    path.write_text(textwrap.dedent(CATALOG))
    return make_app(
        sources=[{"type": "file", "name": "t", "target": str(path)}],
        oncall={
            "pagerduty": {"url": pd.url, "events_url": pd.url},
            "opsgenie": {"url": og.url},
        },
    )


def say(app: App, line: str) -> Reply:
    """A line typed at the console, answered as the console answers it."""
    return asyncio.run(app.dispatcher.dispatch(to_request(app, line)))


def chat(app: App, text: str, platform: str, user_id: str) -> Reply:
    user = ChatUser(platform, user_id, "someone", None)
    return asyncio.run(app.dispatcher.dispatch(Request(text=text, user=user, platform=platform)))


def items(reply: Reply, title_start: str) -> list[str]:
    return [i for s in reply.sections if (s.title or "").startswith(title_start) for i in s.items]


def field(reply: Reply, label: str) -> str | None:
    return next((f.value for s in reply.sections for f in s.fields if f.label == label), None)


def test_oncall_levels_since_until_and_next_at_the_console(app: App, pd: FakePagerDuty) -> None:
    reply = say(app, "/oncall payments-api")
    text = reply.to_text()
    assert not reply.error, text
    now = items(reply, "On call now (PagerDuty service PSVC1)")
    assert now[0].startswith("Level 1: Ana Silva <ana@x.example> since ")
    assert "(Primary)" in now[0]
    assert now[1] == "Level 2: Bo Chen <bo@x.example>"
    assert items(reply, "Next")[0].startswith("Level 1: Cy Diaz <cy@x.example> from ")
    assert pd.requests[-1].headers["Authorization"] == f"Token token={PD_TOKEN}"


def test_oncall_from_slack_and_discord_users(app: App) -> None:
    slack = chat(app, "/oncall payments-api", "slack", "U0OTHER")
    assert items(slack, "On call now")[0].startswith("Level 1: Ana Silva <ana@x.example> since ")
    discord = chat(app, "/oncall payments-api", "discord", "1234")
    assert items(discord, "On call now") == items(slack, "On call now")


def test_console_shows_name_and_email_never_a_mention(app: App) -> None:
    reply = say(app, "/whoowns payments-api")
    live = field(reply, "On call now")
    assert live is not None and live.startswith("Ana Silva <ana@x.example> (PagerDuty, until ")
    assert not isinstance(live, MentionText)
    assert "<@" not in reply.to_text()


def test_mentions_on_slack_and_discord_come_from_the_user_annotations(app: App) -> None:
    """Without the adapter's email lookup, the catalog User with that email and the
    platform's user-id annotation is the mention; the plain form stays name and email."""
    for platform, user_id in (("slack", "U0ANA"), ("discord", "589860739419867561")):
        reply = chat(app, "/whoowns payments-api", platform, "U0OTHER")
        live = field(reply, "On call now")
        assert isinstance(live, MentionText), platform
        assert live.parts[0] == Mention(platform, user_id, "Ana Silva <ana@x.example>")
        assert live.startswith("Ana Silva <ana@x.example> (PagerDuty, until ")


def test_entity_without_annotation_uses_owner_then_parent_group(app: App) -> None:
    ledger = say(app, "/oncall ledger")
    assert "from group:default/team-payments" in (ledger.text or "")
    assert items(ledger, "On call now (Opsgenie team payments)") == [
        "Level 1: ana@x.example (payments_schedule)"
    ]
    assert items(ledger, "Next") == ["Level 1: eve@x.example (payments_schedule)"]
    search = say(app, "/oncall search-api")
    assert "from group:default/platform" in (search.text or "")
    assert items(search, "On call now")[0].startswith("Level 1: Root Person <root@x.example>")
    group = say(app, "/oncall group:team-search")
    assert "from group:default/platform" in (group.text or "")


def test_no_oncall_anywhere_says_which_annotations_were_read(app: App) -> None:
    reply = say(app, "/oncall quiet-api")
    assert "No on-call is recorded for component:default/quiet-api" in (reply.text or "")
    assert "pagerduty.com/service-id" in (reply.text or "")


def test_provider_down_is_one_line_and_the_rest_answers(app: App, pd: FakePagerDuty) -> None:
    pd.fail_status = 500
    reply = say(app, "/oncall payments-api")
    assert not reply.error
    assert reply.notes == ("PagerDuty did not answer: HTTP 500: Internal Server Error",)
    card = say(app, "/whoowns ledger")  # Opsgenie still answers for the owner's team
    assert field(card, "On call now") == "ana@x.example (Opsgenie)"


def api_calls(app: App, api: str, endpoint: str, outcome: str = "ok") -> float | None:
    """How many requests to ``api``'s ``endpoint`` the app's metrics counted with ``outcome``."""
    from tests.e2e.test_ops import sample

    assert app.services.metrics is not None
    return sample(
        app.services.metrics.exposition().decode(),
        "callboard_api_call_duration_seconds_count",
        api=api,
        endpoint=endpoint,
        outcome=outcome,
    )


def api_errors(app: App, api: str, endpoint: str, error: str) -> float | None:
    from tests.e2e.test_ops import sample

    assert app.services.metrics is not None
    return sample(
        app.services.metrics.exposition().decode(),
        "callboard_api_call_errors_total",
        api=api,
        endpoint=endpoint,
        error=error,
    )


def test_on_call_requests_are_counted_by_provider_endpoint_and_error(
    app: App, pd: FakePagerDuty, og: FakeOpsgenie
) -> None:
    say(app, "/oncall payments-api")  # PagerDuty: the service's policy, then its on-calls
    say(app, "/oncall ledger")  # Opsgenie: the team's schedules, on-calls, next on-calls
    assert api_calls(app, "pagerduty", "services") == 1
    assert api_calls(app, "pagerduty", "oncalls") == 1
    assert api_calls(app, "opsgenie", "schedules") == 1
    assert api_calls(app, "opsgenie", "on-calls") == 1
    assert api_calls(app, "opsgenie", "next-on-calls") == 1
    pd.fail_status = 503
    reply = say(app, "/oncall search-api")  # PROOT: its policy is not known yet
    assert "PagerDuty did not answer: HTTP 503" in " ".join(reply.notes)
    assert api_calls(app, "pagerduty", "services", "error") == 1
    assert api_errors(app, "pagerduty", "services", "http_503") == 1
    done = submit(app, say(app, "/page ledger ledger is behind"), severity="warning")
    assert done.title == "Paged Opsgenie team payments", done.to_text()
    assert api_calls(app, "opsgenie", "alerts") == 1
    ask = say(app, "/page payments-api checkout is down")
    failed = submit(app, ask, severity="critical")
    assert failed.error
    assert api_errors(app, "pagerduty", "events", "http_503") == 1


def test_whoowns_card_gains_on_call_now(app: App, pd: FakePagerDuty) -> None:
    card = say(app, "/whoowns payments-api")
    live = field(card, "On call now")
    assert live is not None and live.startswith("Ana Silva <ana@x.example> (PagerDuty, until ")
    assert field(card, "PagerDuty service") == "PSVC1"  # the annotation is still shown


def test_whoowns_without_the_line_when_provider_is_rate_limiting(
    app: App, pd: FakePagerDuty
) -> None:
    pd.rate_limit_times, pd.retry_after = 10, "60"
    card = say(app, "/whoowns payments-api")
    assert field(card, "On call now") is None
    assert card.notes == ("PagerDuty is rate limiting us; retry after 60 s",)
    assert "Owner" in [s.title for s in card.sections]


def test_whoowns_never_waits_past_the_budget(
    make_app: AppFactory, tmp_path: Path, pd: FakePagerDuty, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("PAGERDUTY_TOKEN", PD_TOKEN)
    path = tmp_path / "all.yaml"
    path.write_text(textwrap.dedent(CATALOG))
    slow = make_app(
        sources=[{"type": "file", "name": "t", "target": str(path)}],
        oncall={"pagerduty": {"url": pd.url}, "budget_ms": 100},
    )
    pd.delay = 0.3
    card = say(slow, "/whoowns payments-api")
    assert field(card, "On call now") is None
    assert card.notes == ("PagerDuty did not answer within 0.1 s",)
    # Opsgenie has no token here: the owner's team annotation is not looked up, not an error
    ledger = say(slow, "/whoowns ledger")
    assert field(ledger, "On call now") is None and ledger.notes == ()


def test_token_in_config_is_refused(make_app: AppFactory) -> None:
    from bot.config import ConfigError

    with pytest.raises(ConfigError, match="PAGERDUTY_TOKEN"):
        make_app(oncall={"pagerduty": {"token": "x"}})


@contextlib.asynccontextmanager
async def slack_world(
    tmp_path: Path, oncall: dict[str, Any], monkeypatch: pytest.MonkeyPatch
) -> AsyncIterator[tuple[Slack, FakeSlack]]:
    """The real Slack adapter on loopback (signed HTTP in, the fake Slack Web API out), with
    the catalog above and ``oncall`` as the config section; tokens from the environment."""
    import aiohttp
    import yaml

    from adapters.slack.runtime import SlackRuntime, read_secrets
    from bot.bootstrap import build_app, parse_settings
    from bot.platforms import SlackSettings
    from commands import COMMANDS, INTERPRETERS
    from tests.e2e.test_slack import ENV

    monkeypatch.setenv("PAGERDUTY_TOKEN", PD_TOKEN)
    monkeypatch.setenv("OPSGENIE_API_KEY", OG_KEY)
    catalog = tmp_path / "all.yaml"
    catalog.write_text(textwrap.dedent(CATALOG))
    fake = FakeSlack().start()
    fake.add_user("U0ANA", "ana@x.example", "Ana Silva")
    config = {
        "data_dir": str(tmp_path / "var"),
        "database": {"url": f"sqlite:///{tmp_path / 'callboard.db'}"},
        "catalog": {"sources": [{"type": "file", "name": "t", "target": str(catalog)}]},
        "slack": {"api_url": fake.base_url, "host": "127.0.0.1", "port": 0},
        "oncall": oncall,
    }
    path = tmp_path / "callboard.yaml"
    path.write_text(yaml.safe_dump(config))
    settings = parse_settings(config, str(path), tmp_path, path)
    app = build_app(settings, COMMANDS, interpreters=INTERPRETERS)
    runtime: SlackRuntime | None = None
    slack: Slack | None = None
    try:
        await asyncio.to_thread(app.services.sync.run)
        slack_settings = settings.section("slack", SlackSettings)
        runtime = SlackRuntime(app, slack_settings, read_secrets(slack_settings, ENV))
        port = await runtime.start_http(port=0)
        slack = Slack(fake, port, aiohttp.ClientSession(), runtime, app)
        yield slack, fake
    finally:
        if slack is not None:
            await slack.http.close()
        if runtime is not None:
            await runtime.close()
        app.close()
        fake.stop()


async def test_whoowns_card_with_on_call_through_slack_signed_http(
    tmp_path: Path, pd: FakePagerDuty, og: FakeOpsgenie, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A signed slash command to the real Slack adapter on loopback: the ack carries the card
    with "On call now", looked up in the fake PagerDuty with the token from the environment."""
    oncall = {"pagerduty": {"url": pd.url}, "opsgenie": {"url": og.url}}
    async with slack_world(tmp_path, oncall, monkeypatch) as (slack, fake):
        status, body = await slack.command("/whoowns", "payments-api", user="U0ANA")
        assert status == 200
        assert_valid_message(body)
        shown = block_text(body)
        assert "On call now" in shown
        # the person on call as a Slack mention: their email looked up with users.lookupByEmail
        assert "*On call now*\n<@U0ANA> (PagerDuty, until " in shown
        assert [c.args["email"] for c in fake.calls_to("users.lookupByEmail")] == ["ana@x.example"]
        assert pd.requests[-1].headers["Authorization"] == f"Token token={PD_TOKEN}"
        # asked again: the cached answer, nothing more sent to PagerDuty
        sent = len(pd.requests)
        status, body = await slack.command("/oncall", "ledger", user="U0ANA")
        assert status == 200 and "Level 1: <@U0ANA> (payments_schedule)" in block_text(body)
        # eve has no Slack user and no catalog User: name and email, asked once
        assert "Level 1: eve@x.example (payments_schedule)" in block_text(body)
        status, body = await slack.command("/whoowns", "payments-api", user="U0ANA")
        assert "<@U0ANA> (PagerDuty, until " in block_text(body)
        assert len(pd.requests) == sent
        # each email asked of Slack once: the answers (a "users_not_found" too) are cached
        assert sorted(c.args["email"] for c in fake.calls_to("users.lookupByEmail")) == [
            "ana@x.example",
            "eve@x.example",
        ]
        # The Slack server's /metrics counts the provider requests, by provider and endpoint.
        from tests.e2e.test_ops import sample

        async with slack.http.get(f"http://127.0.0.1:{slack.port}/metrics") as resp:
            scraped = await resp.text()
        count = "callboard_api_call_duration_seconds_count"
        for api, endpoint in (("pagerduty", "services"), ("pagerduty", "oncalls")):
            assert sample(scraped, count, api=api, endpoint=endpoint, outcome="ok") == 1
        assert sample(scraped, count, api="opsgenie", endpoint="on-calls", outcome="ok") == 1


async def test_without_the_email_scope_slack_mentions_come_from_the_user_annotation(
    tmp_path: Path, pd: FakePagerDuty, monkeypatch: pytest.MonkeyPatch
) -> None:
    """users.lookupByEmail answers missing_scope: the catalog User's slack.com/user-id is the
    mention, and the answer (a settled "no") is not asked again."""
    oncall = {"pagerduty": {"url": pd.url}}
    async with slack_world(tmp_path, oncall, monkeypatch) as (slack, fake):
        fake.scopes.remove("users:read.email")
        for _ in range(2):
            status, body = await slack.command("/whoowns", "payments-api", user="U0BO")
            assert status == 200
            assert "*On call now*\n<@U0ANA> (PagerDuty, until " in block_text(body)
        assert len(fake.calls_to("users.lookupByEmail")) == 1


async def test_late_on_call_updates_the_slack_card_in_place(
    tmp_path: Path, pd: FakePagerDuty, monkeypatch: pytest.MonkeyPatch
) -> None:
    """PagerDuty slower than the budget: the ack is the card without the line (and a note),
    then the same card with "On call now" replaces it through the response_url."""
    pd.delay = 0.5  # never within the 100 ms budget
    oncall = {"pagerduty": {"url": pd.url}, "budget_ms": 100}
    async with slack_world(tmp_path, oncall, monkeypatch) as (slack, fake):
        status, body = await slack.command("/whoowns", "payments-api", user="U0ANA")
        assert status == 200
        first = block_text(body)
        assert "Who owns payments-api" in first and "On call now" not in first
        assert "PagerDuty did not answer within 0.1 s" in first
        await slack.adapter.drain()  # the late part has been delivered
        updates = fake.calls_to("webhook")
        assert len(updates) == 1
        update = updates[0].args
        assert update["replace_original"] is True and update["response_type"] == "ephemeral"
        assert_valid_message(update)
        again = block_text(update)
        assert "Who owns payments-api" in again
        assert "*On call now*\n<@U0ANA> (PagerDuty, until " in again
        assert "did not answer" not in again


# ----------------------------------------------------------------------------- /page


def submit(
    app: App, reply: Reply, platform: str = "console", user_id: str = "tester", **values: str
) -> Reply:
    from bot.chat import DialogSubmission

    assert reply.dialog is not None, reply.to_text()
    user = ChatUser(platform, user_id, "someone", None)
    sub = DialogSubmission(
        reply.dialog.id, values, user, platform=platform, state=reply.dialog.state
    )
    got = asyncio.run(app.dispatcher.submit(sub))
    assert isinstance(got, Reply), got
    return got


def audit(app: App) -> list[tuple[str, str, str | None]]:
    entries = asyncio.run(app.services.audit.entries(action="page"))
    return [(e.target, e.result, e.message) for e in reversed(entries)]


def test_page_confirms_then_triggers_pagerduty_once_and_audits(app: App, pd: FakePagerDuty) -> None:
    ask = say(app, '/page payments-api "checkout fails for every card"')
    assert ask.dialog is not None and ask.dialog.id == "page:confirm"
    assert "Page PagerDuty for component:default/payments-api" in (ask.text or "")
    assert [r for r in pd.requests if r.method == "POST"] == []  # nothing sent before confirming
    done = submit(app, ask, severity="critical", details="since 10:02")
    assert not done.error, done.to_text()
    assert done.title == "Paged PagerDuty"
    posts = [r for r in pd.requests if r.method == "POST"]
    assert [p.path for p in posts] == ["/v2/enqueue"]
    event = posts[0].body
    assert event["routing_key"] == "R0UTINGKEY0000000000000000000001"
    assert event["event_action"] == "trigger"
    assert event["payload"]["summary"] == "checkout fails for every card"
    assert event["payload"]["severity"] == "critical"
    assert event["payload"]["source"] == "component:default/payments-api"
    assert event["dedup_key"].startswith("callboard-")
    again = submit(
        app, say(app, '/page payments-api "Checkout fails  for every card"'), severity="critical"
    )
    assert (again.text or "").startswith("Already paged: ")
    assert len([r for r in pd.requests if r.method == "POST"]) == 1
    assert audit(app) == [("component:default/payments-api", "sent", event["dedup_key"])]


def test_page_to_opsgenie_team_of_the_owner(app: App, og: FakeOpsgenie) -> None:
    done = submit(app, say(app, "/page ledger ledger is behind by an hour"), severity="warning")
    assert done.title == "Paged Opsgenie team payments", done.to_text()
    post = next(r for r in og.requests if r.method == "POST")
    assert post.path == "/v2/alerts"
    assert post.headers["Authorization"] == f"GenieKey {OG_KEY}"
    assert post.body["message"] == "ledger is behind by an hour"
    assert post.body["responders"] == [{"name": "payments", "type": "team"}]
    assert post.body["priority"] == "P3"


def test_page_permission_rules_refuse_and_audit(
    make_app: AppFactory, tmp_path: Path, pd: FakePagerDuty, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = tmp_path / "all.yaml"
    path.write_text(textwrap.dedent(CATALOG))
    strict = make_app(
        sources=[{"type": "file", "name": "t", "target": str(path)}],
        oncall={
            "opsgenie": {"url": pd.url},
            "pagerduty": {"events_url": pd.url},
            "page": {"allowed": ["team-payments"]},
        },
    )
    refused = chat(strict, "/page payments-api it is down", "slack", "U0BO")
    assert refused.error and "user:default/bo may not page: only team-payments may" in (
        refused.text or ""
    )
    stranger = chat(strict, "/page payments-api it is down", "slack", "U0NOBODY")
    assert stranger.error and "Only people known to the catalog may page" in (stranger.text or "")
    ana = chat(strict, "/page payments-api it is down", "slack", "U0ANA")
    assert ana.dialog is not None
    done = submit(strict, ana, platform="slack", user_id="U0ANA", severity="error")
    assert done.title == "Paged PagerDuty"
    assert [(t, r) for t, r, _m in audit(strict)] == [
        ("component:default/payments-api", "refused"),
        ("component:default/payments-api", "refused"),
        ("component:default/payments-api", "sent"),
    ]


def test_page_provider_down_is_said_and_audited_as_failed(app: App, pd: FakePagerDuty) -> None:
    ask = say(app, "/page payments-api checkout is down")
    pd.fail_status = 500
    done = submit(app, ask, severity="critical")
    assert done.error
    assert (done.text or "").startswith("PagerDuty did not take the page: HTTP 500: ")
    assert [(t, r) for t, r, _m in audit(app)] == [("component:default/payments-api", "failed")]


def test_page_needs_an_exact_name_and_a_target(app: App) -> None:
    fuzzy = say(app, "/page paymnts-api down")
    assert fuzzy.error and "a page needs the exact name" in (fuzzy.text or "")
    quiet = say(app, "/page quiet-api down")
    assert quiet.error and "Nobody can be paged for component:default/quiet-api" in (
        quiet.text or ""
    )


async def test_whoowns_card_with_on_call_through_discord(
    make_app: AppFactory,
    tmp_path: Path,
    pd: FakePagerDuty,
    og: FakeOpsgenie,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """The real discord.py client against simcord: the /whoowns embeds carry "On call now"."""
    from adapters.discord import PLATFORM
    from tests.e2e.test_discord import discord_world, embed_text

    monkeypatch.setenv("PAGERDUTY_TOKEN", PD_TOKEN)
    monkeypatch.setenv("OPSGENIE_API_KEY", OG_KEY)
    path = tmp_path / "all.yaml"
    path.write_text(textwrap.dedent(CATALOG))
    app = make_app(
        sources=[{"type": "file", "name": "t", "target": str(path)}],
        platforms=[PLATFORM],
        discord={},
        oncall={"pagerduty": {"url": pd.url}, "opsgenie": {"url": og.url}},
    )
    async with discord_world(app) as w:
        result = await w.ana.slash(w.channel, "whoowns", entity="payments-api")
        assert result.acknowledged
        text = embed_text(result.response.embeds)
        assert "On call now" in text
        # a Discord mention, by the catalog User's discord.com/user-id annotation
        assert "<@589860739419867561> (PagerDuty, until " in text
        result = await w.ana.slash(w.channel, "oncall", entity="ledger")
        text = embed_text(result.response.embeds)
        assert "On call now (Opsgenie team payments)" in text
        assert "Level 1: <@589860739419867561> (payments_schedule)" in text
        assert "Level 1: eve@x.example (payments_schedule)" in text  # no User: name, email


async def test_late_on_call_in_a_slack_thread_and_after_a_click(
    tmp_path: Path, pd: FakePagerDuty, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A mention's answer is a message of the bot's own: chat.update puts the card with the
    line in its place. A click's response_url would replace the clicked message, so there the
    addition follows the card as a message of its own, mention included."""
    from tests.e2e.slack_fake import BOT_USER_ID

    pd.delay = 0.5  # never within the 100 ms budget
    oncall = {"pagerduty": {"url": pd.url}, "budget_ms": 100, "cache_seconds": 0}
    async with slack_world(tmp_path, oncall, monkeypatch) as (slack, fake):
        event = {
            "type": "app_mention",
            "user": "U0ANA",
            "text": f"<@{BOT_USER_ID}> /whoowns payments-api",
            "channel": "C0PAYMENTS",
            "ts": "1700000100.000100",
        }
        status, _ = await slack.event(event)
        assert status == 200
        await slack.adapter.drain()
        [posted] = fake.calls_to("chat.postMessage")
        assert "On call now" not in block_text(posted.args)
        [updated] = fake.calls_to("chat.update")
        assert updated.args["channel"] == "C0PAYMENTS"
        assert updated.args["ts"] == "1700000000.000001"  # the answer the bot posted
        assert "*On call now*\n<@U0ANA> (PagerDuty, until " in block_text(updated.args)

        button = {
            "action_id": "callboard:run:0",
            "value": "/whoowns payments-api",
            "text": {"type": "plain_text", "text": "Who owns it"},
        }
        status, _ = await slack.click(button)
        assert status == 200
        await slack.adapter.drain()
        card, addition = [c.args for c in fake.calls_to("webhook") if c.path.endswith("/click")]
        assert "Who owns payments-api" in block_text(card) and "On call now" not in block_text(card)
        assert addition["replace_original"] is False
        assert block_text(addition).startswith("• On call now: <@U0ANA> (PagerDuty, until ")


async def test_late_on_call_edits_the_discord_response_in_place(
    make_app: AppFactory, tmp_path: Path, pd: FakePagerDuty, monkeypatch: pytest.MonkeyPatch
) -> None:
    """PagerDuty slower than the budget: the interaction response is the card without the line,
    then it is edited (PATCH of the original response) into the card with the mention."""
    from adapters.discord import PLATFORM
    from tests.e2e.test_discord import discord_world, embed_text

    monkeypatch.setenv("PAGERDUTY_TOKEN", PD_TOKEN)
    path = tmp_path / "all.yaml"
    path.write_text(textwrap.dedent(CATALOG))
    app = make_app(
        sources=[{"type": "file", "name": "t", "target": str(path)}],
        platforms=[PLATFORM],
        discord={},
        oncall={"pagerduty": {"url": pd.url}, "budget_ms": 100},
    )
    # simcord runs the bot on virtual time: a budget cannot run out while the bot waits. So
    # the lookup starts first, outside the bot, and is held past its budget in real time; the
    # bot's ask then finds it running past its budget and sends the card without waiting, and
    # PagerDuty answers once that card is out.
    directory = app.services.oncall
    assert directory is not None
    pd.hold = threading.Event()
    async with discord_world(app) as w:

        def answer_after_the_card() -> None:
            while not any(r.path.endswith("/callback") for r in list(w.env.http_requests)):
                if pd.hold is None or pd.hold.wait(0.01):
                    return
            pd.hold.set()

        target = OnCallTarget(PAGERDUTY, "service", "PSVC1")
        early = await directory.lookup(target)
        assert early.late  # its own asker got no answer within the budget either
        watcher = threading.Thread(target=answer_after_the_card, daemon=True)
        watcher.start()
        try:
            result = await w.ana.slash(w.channel, "whoowns", entity="payments-api")
        finally:
            pd.hold.set()  # never leave the fake's threads waiting
        assert result.acknowledged
        callbacks = [r for r in w.env.http_requests if r.path.endswith("/callback")]
        first = embed_text(discord.Embed.from_dict(e) for e in callbacks[0].json["data"]["embeds"])
        assert "Who owns payments-api" in first and "On call now" not in first
        assert "PagerDuty did not answer within 0.1 s" in first
        edits = [r for r in w.env.http_requests if r.method == "PATCH"]
        assert [r.path.endswith("/messages/@original") for r in edits] == [True]
        now = embed_text(result.response.embeds)  # the original response, as edited
        assert "Who owns payments-api" in now
        assert "<@589860739419867561> (PagerDuty, until " in now
        assert "did not answer" not in now
        assert result.followups == []


def test_late_on_call_is_printed_below_the_console_answer(
    make_app: AppFactory, tmp_path: Path, pd: FakePagerDuty, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The console cannot change what it printed: the addition follows the card."""
    from adapters.console import Console

    monkeypatch.setenv("PAGERDUTY_TOKEN", PD_TOKEN)
    path = tmp_path / "all.yaml"
    path.write_text(textwrap.dedent(CATALOG))
    app = make_app(
        sources=[{"type": "file", "name": "t", "target": str(path)}],
        oncall={"pagerduty": {"url": pd.url}, "budget_ms": 100},
    )
    pd.delay = 0.5  # never within the 100 ms budget
    out = io.StringIO()
    asyncio.run(Console(app, io.StringIO("/whoowns payments-api\n"), out).loop())
    card, _, later = out.getvalue().partition("(update to /whoowns payments-api) ")
    assert "Who owns payments-api" in card and "On call now" not in card
    assert "(PagerDuty did not answer within 0.1 s)" in card
    assert later.startswith("On call now: Ana Silva <ana@x.example> (PagerDuty, until ")


# ----------------------------------------------------------------------------- reports


def gap_lines(reply: Reply, title_start: str) -> list[str]:
    return [i for s in reply.sections if (s.title or "").startswith(title_start) for i in s.items]


def test_ownership_report_names_teams_without_on_call_and_schedule_gaps(
    app: App, pd: FakePagerDuty, og: FakeOpsgenie
) -> None:
    og.timeline = {"payments_schedule": [("ana@x.example", iso(-24), iso(24 * 8))]}  # all week
    report = say(app, "/report ownership-gaps")
    assert not report.error, report.to_text()
    assert report.notes == ()  # every schedule was checked
    [missing] = gap_lines(report, "Owning team has no on-call")
    assert missing.startswith("team-quiet: runs 1 entity (quiet-api) and has no on-call")
    gaps = gap_lines(report, "On-call schedule has gaps in the next 7 days")
    # PSVC1: Ana then Cy at level 1 until +45 h, nobody after (Bo at level 2 does not count);
    # PROOT: Root until +5 h. Opsgenie's schedule is covered all week.
    assert [g.split(":")[0] for g in gaps] == ["payments-api", "platform"]
    assert "nobody is on call in PagerDuty service PSVC1 " in gaps[0]
    assert when_text(NOW + dt.timedelta(hours=45)) in gaps[0]
    assert "nobody is on call in PagerDuty service PROOT " in gaps[1]
    oncalls = [r for r in pd.requests if r.path == "/oncalls"]
    assert {(r.query["since"][0], r.query["until"][0]) for r in oncalls} == {
        (iso_at(r.query["since"][0]), iso_at(r.query["since"][0], days=7)) for r in oncalls
    }
    timeline = next(r for r in og.requests if r.path.endswith("/timeline"))
    assert timeline.path == "/v2/schedules/payments_schedule/timeline"
    assert timeline.query["identifierType"] == ["name"]
    assert timeline.query["intervalUnit"] == ["weeks"]
    # the team's own digest shows its gap; another team's does not
    team = say(app, "/report digest team-quiet")
    assert any("has no on-call" in line for line in gap_lines(team, "Ownership gaps"))
    payments = gap_lines(say(app, "/report ownership-gaps team-payments"), "")
    assert any(line.startswith("payments-api: nobody is on call") for line in payments)
    assert not any("team-quiet" in line or "platform" in line for line in payments)


def test_a_provider_down_never_fails_the_report_it_is_not_checked(
    app: App, pd: FakePagerDuty, og: FakeOpsgenie
) -> None:
    pd.fail_status = 500
    report = say(app, "/report ownership-gaps")
    assert not report.error, report.to_text()
    assert report.notes == (
        "On-call schedules not checked (PagerDuty did not answer: HTTP 500: Internal Server "
        "Error): PagerDuty service PROOT, PagerDuty service PSVC1",
    )
    # Opsgenie still answered: its schedule has no one on call all week (an empty timeline)
    [gap] = gap_lines(report, "On-call schedule has gaps")
    assert gap.startswith("team-payments: nobody is on call in Opsgenie schedule payments_schedule")
    assert gap_lines(report, "Owning team has no on-call")  # found from the catalog alone
    digest = say(app, "/report digest")
    assert digest.notes == report.notes
    data = asyncio.run(app.services.reports.build("ownership-gaps")).data
    assert data["not_checked"] == list(report.notes)


def when_text(t: dt.datetime) -> str:
    return t.astimezone(dt.UTC).strftime("%a %d %b %H:%M")


def iso_at(value: str, days: int = 0) -> str:
    t = dt.datetime.fromisoformat(value.replace("Z", "+00:00")) + dt.timedelta(days=days)
    return t.strftime("%Y-%m-%dT%H:%M:%SZ")
