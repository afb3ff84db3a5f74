"""Ownership checks (/attest) end to end over the demo catalog, on SQLite and PostgreSQL.

Slack: real Bolt apps receiving signed ``block_actions`` and ``view_submission`` requests, with
Slack's Web API played by tests/e2e/slack_fake.py; two of them on one database are two
replicas. Discord: the real discord.py client driven by simcord, clicking the posted buttons.
The console: the same commands typed, and ``callboard attest report`` exporting the evidence.
Time is a ``FixedClock`` the tests move.
"""

from __future__ import annotations

import asyncio
import csv
import io
import json
import shutil
import warnings
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import aiohttp
import pytest
import yaml
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from apscheduler.schedulers.asyncio import AsyncIOScheduler

from adapters import cli
from adapters.console import to_request
from adapters.discord import PLATFORM as DISCORD
from adapters.slack.runtime import SlackRuntime, read_secrets
from bot.app import App
from bot.attest.service import REMINDER_JOB, schedule_reminders
from bot.bootstrap import build_app, parse_settings
from bot.chat import Reply
from bot.platforms import SlackSettings
from bot.store.schema import metadata
from commands import COMMANDS, INTERPRETERS
from tests.conftest import DEMO, AppFactory, FixedClock
from tests.e2e.slack_fake import TEAM_ID, FakeSlack
from tests.e2e.test_slack import (
    ANA,
    ENV,
    PAYMENTS_CHANNEL,
    Slack,
    assert_every_call_valid,
    assert_valid_message,
    block_text,
    buttons,
    submit,
)

SCOPE = "--scope kind:component,lifecycle:production --due 14d --reminders 3d"
RISK_CHANNEL = "C0REK8PK3"
JULIA = "U0JULIA"  # julia.moreno: team-rider-app, not team-payments
PAYMENTS_ENTITIES = 6  # production components of team-payments in the demo catalog
ALL_ENTITIES = 28  # production components owned by a team


@dataclass
class Replica:
    """One Callboard process: its app, and its Slack adapter on a loopback port."""

    app: App
    slack: Slack


Replicas = Callable[..., Awaitable[Replica]]


@pytest.fixture
def fake() -> Iterator[FakeSlack]:
    server = FakeSlack().start()
    server.add_user(ANA, "ana.silva@acme-rides.example", "Ana Silva")
    server.add_user(JULIA, "julia.moreno@acme-rides.example", "Julia Moreno")
    yield server
    server.stop()


@pytest.fixture
async def replicas(tmp_path: Path, fake: FakeSlack) -> AsyncIterator[Replicas]:
    """Start Callboard processes (Slack served, console user ana) on one database."""
    started: list[Replica] = []

    async def start(db_url: str, clock: FixedClock) -> Replica:
        config: dict[str, Any] = {
            "data_dir": str(tmp_path / "var"),
            "database": {"url": db_url},
            "catalog": {"sources": [{"type": "file", "name": "demo", "target": str(DEMO)}]},
            "slack": {"api_url": fake.base_url, "host": "127.0.0.1", "port": 0},
            "console": {"user_email": "ana.silva@acme-rides.example"},
            "admins": ["team-infra"],
        }
        path = tmp_path / f"callboard-{len(started)}.yaml"
        path.write_text(yaml.safe_dump(config))
        settings = parse_settings(config, str(path), tmp_path, path)
        app = build_app(settings, COMMANDS, interpreters=INTERPRETERS, clock=clock)
        await asyncio.to_thread(app.services.sync.run)
        slack_settings = settings.section("slack", SlackSettings)
        runtime = SlackRuntime(app, slack_settings, read_secrets(slack_settings, ENV))
        port = await runtime.start_http(port=0)
        app.services.posters["slack"] = runtime.poster()
        replica = Replica(app, Slack(fake, port, aiohttp.ClientSession(), runtime, app))
        started.append(replica)
        return replica

    yield start
    for replica in started:
        await stop(replica)
    assert_every_call_valid(fake)


async def stop(replica: Replica) -> None:
    if replica.slack.runtime is None:
        return
    await replica.slack.http.close()
    await replica.slack.runtime.close()
    replica.slack.runtime = None
    replica.app.close()


async def say(app: App, line: str) -> Reply:
    """A line typed at the console (the operator, who may answer for any team)."""
    return await app.dispatcher.dispatch(to_request(app, line))


def posted(fake: FakeSlack, channel: str, since: int = 0) -> list[dict[str, Any]]:
    calls = fake.calls_to("chat.postMessage")[since:]
    return [c.args for c in calls if c.args["channel"] == channel]


def labelled(message: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {b["text"]["text"]: b for b in buttons(message)}


async def started(app: App) -> Reply:
    reply = await say(app, f"/attest start {SCOPE}")
    assert not reply.error, reply.to_text()
    return reply


# ----------------------------------------------------------------------------- Slack


async def test_a_campaign_answered_through_slack_buttons_and_forms(
    replicas: Replicas, fake: FakeSlack, db_url: str
) -> None:
    one = await replicas(db_url, FixedClock())
    reply = await started(one.app)
    assert reply.title == "Ownership check 1 started"
    assert f"{ALL_ENTITIES} entities" in (reply.text or "")
    [request] = posted(fake, PAYMENTS_CHANNEL)
    assert_valid_message(request)
    assert "Ownership check 1 for Payments Team" in block_text(request)
    actions = labelled(request)
    assert len(actions) == 3 * PAYMENTS_ENTITIES + 3

    # Confirm: a signed block_actions click runs /attest confirm as the clicking user.
    await one.slack.click(actions["Confirm payments-api"], response="confirm", ephemeral=False)
    await one.slack.settle()
    [confirmed] = one.slack.webhooks("confirm")
    assert "Ana Silva confirmed Payments API (component:default/payments-api)" in block_text(
        confirmed.args
    )
    assert confirmed.args["response_type"] == "in_channel"

    # Not ours: the click opens a form; the team picked there is told in its channel.
    risk_before = len(posted(fake, RISK_CHANNEL))
    await one.slack.click(actions["Not ours: payments-ui"], response="notours")
    await one.slack.settle()
    view = fake.calls_to("views.open")[-1].args["view"]
    blocks = {b["block_id"]: b for b in view["blocks"]}
    owner_action = blocks["field:owner"]["element"]["action_id"]
    status, body = await submit(
        one.slack,
        view,
        {
            "field:owner": {
                owner_action: {
                    "type": "external_select",
                    "selected_option": {
                        "text": {"type": "plain_text", "text": "Risk Team"},
                        "value": "group:default/team-risk",
                    },
                }
            },
            "field:reason": {"value": {"type": "plain_text_input", "value": "risk runs the UI"}},
        },
    )
    assert (status, body) == (200, "")
    await one.slack.settle()
    [told] = posted(fake, RISK_CHANNEL)[risk_before:]
    assert_valid_message(told)
    assert "Is payments-ui yours?" in block_text(told)
    assert "payments-ui: team-payments says it is not theirs (risk runs the UI)" in block_text(told)

    # Needs changes: a required note, through the form.
    await one.slack.click(actions["Needs changes: payments-ledger"], response="changes")
    await one.slack.settle()
    view = fake.calls_to("views.open")[-1].args["view"]
    status, body = await submit(
        one.slack,
        view,
        {"field:note": {"value": {"type": "plain_text_input", "value": "system is wrong"}}},
    )
    assert (status, body) == (200, "")
    await one.slack.settle()

    # A non-member is refused, and told why; nothing is recorded for them.
    payload_user = {"id": JULIA, "username": "julia.moreno", "team_id": TEAM_ID}
    await julia_click(one.slack, actions["Confirm payments-client-lib"], payload_user)
    await one.slack.settle()
    [refused] = one.slack.webhooks("refused")
    text = block_text(refused.args)
    assert "Only members of team-payments (or of a team below it)" in text
    assert "You are user:default/julia.moreno, a member of team-rider-app." in text

    # /attest status, as a slash command.
    status, body = await one.slack.command("/attest", "status")
    assert status == 200
    await one.slack.settle()
    shown = block_text(body) if isinstance(body, dict) and body.get("blocks") else ""
    if not shown:
        shown = block_text(one.slack.webhooks("r")[-1].args)
    assert "Ownership check 1: 3 of 28 answered" in shown
    assert "team-payments: 3 of 6 answered (1 confirmed, 1 not ours, 1 needs changes" in shown
    assert "payments-ledger: system is wrong" in shown

    service = one.app.services.attest
    assert service is not None
    campaign = await service.campaign(1)
    assert campaign is not None
    evidence = await service.evidence(campaign)
    answers = [a for i in evidence["items"] for a in i["answers"]]
    assert {a["user"] for a in answers} == {"user:default/ana.silva"}
    assert {a["platform"] for a in answers} == {"slack"}
    assert all(len(a["version"]) == 16 for a in answers)
    [gap] = evidence["findings"]
    assert gap["code"] == "owner-disputed" and gap["teams"] == [
        "group:default/team-payments",
        "group:default/team-risk",
    ]


async def julia_click(slack: Slack, button: dict[str, Any], user: dict[str, Any]) -> None:
    """Julia clicks a button of the payments message."""
    await slack.interaction(
        {
            "type": "block_actions",
            "user": user,
            "trigger_id": slack.trigger(),
            "response_url": slack.fake.webhook_url("refused"),
            "container": {
                "type": "message",
                "message_ts": "1700000000.000001",
                "channel_id": PAYMENTS_CHANNEL,
                "is_ephemeral": False,
            },
            "channel": {"id": PAYMENTS_CHANNEL, "name": "team-payments"},
            "actions": [
                {
                    "type": "button",
                    "action_id": button["action_id"],
                    "block_id": "b1",
                    "value": button.get("value"),
                    "text": button["text"],
                    "action_ts": "1700000001.000001",
                }
            ],
        }
    )


# ----------------------------------------------------------------- reminders, replicas


async def test_reminders_at_the_cadence_once_across_replicas_and_after_a_restart(
    replicas: Replicas, fake: FakeSlack, db_url: str
) -> None:
    clock = FixedClock()
    a = await replicas(db_url, clock)
    b = await replicas(db_url, clock)
    await started(a.app)
    await say(b.app, "/attest confirm --all team-risk")  # answered on the other replica
    risk = len(posted(fake, RISK_CHANNEL))
    payments = len(posted(fake, PAYMENTS_CHANNEL))
    attest_a, attest_b = a.app.services.attest, b.app.services.attest
    assert attest_a is not None and attest_b is not None

    clock.advance(days=2, hours=23, minutes=59)
    assert await attest_a.remind_due() == []
    clock.advance(minutes=1)  # the first reminder is due: both replicas try, one posts
    done = await asyncio.gather(attest_a.remind_due(), attest_b.remind_due())
    assert sorted(len(d) for d in done) == [0, 1]
    [reminder] = posted(fake, PAYMENTS_CHANNEL)[payments:]
    assert "Reminder: ownership check 1 for Payments Team" in block_text(reminder)
    assert len(labelled(reminder)) == 3 * PAYMENTS_ENTITIES + 3  # the same buttons
    assert posted(fake, RISK_CHANNEL)[risk:] == []  # every risk entity answered
    assert await attest_b.remind_due() == []

    # A restart mid-campaign: new processes on the same database carry on.
    await stop(a)
    await stop(b)
    clock.advance(days=1)
    c = await replicas(db_url, clock)
    attest_c = c.app.services.attest
    assert attest_c is not None
    assert await attest_c.remind_due() == []  # the 3-day reminder went out before
    answer = await c.slack.click(labelled(reminder)["Confirm all"], response="all")
    assert answer[0] == 200
    await c.slack.settle()
    [all_done] = c.slack.webhooks("all")
    assert "Ana Silva confirmed 6 entities for team-payments" in block_text(all_done.args)
    status = await say(c.app, "/attest status --campaign 1")
    assert status.title == "Ownership check 1: 9 of 28 answered"

    # Through the APScheduler job the bot runs (``callboard run``).
    clock.advance(days=2)  # day 6: the second reminder, to the teams still pending
    before = len(fake.calls_to("chat.postMessage"))
    aps = AsyncIOScheduler()
    schedule_reminders(aps, attest_c, seconds=3600)
    job = aps.get_job(REMINDER_JOB)
    assert job is not None
    await job.func()
    reminded = [c.args for c in fake.calls_to("chat.postMessage")[before:]]
    channels = {m["channel"] for m in reminded}
    assert PAYMENTS_CHANNEL not in channels and RISK_CHANNEL not in channels
    assert channels and all("Reminder: ownership check 1" in block_text(m) for m in reminded)
    await job.func()
    assert len(fake.calls_to("chat.postMessage")) == before + len(reminded)  # once

    clock.advance(days=9)  # day 15: past due, closed, nothing more
    assert await attest_c.remind_due() == []
    late = await say(c.app, "/attest confirm fraud-scorer --campaign 1")
    assert late.error and "takes no more answers" in (late.text or "")


# ----------------------------------------------------------------------------- Discord


async def test_a_campaign_answered_through_discord_components(
    make_app: AppFactory, tmp_path: Path
) -> None:
    import simcord

    demo = tmp_path / "demo"
    shutil.copytree(DEMO.parent, demo)
    app = make_app(
        sources=[{"type": "file", "name": "demo", "target": str(demo / DEMO.name)}],
        platforms=[DISCORD],
        discord={},
        sync=False,
    )
    parts = app.platforms["discord"]
    adapter = parts.runtime
    async with simcord.run(adapter.client) as env:
        guild = env.create_guild("Acme Rides")
        payments = guild.create_text_channel("team-payments")
        risk = guild.create_text_channel("team-risk")
        ana = guild.add_member(env.create_user("ana"))
        julia = guild.add_member(env.create_user("julia"))
        org = demo / "org"
        for path in org.glob("*.yaml"):  # the demo's ids, as this Discord knows them
            text = path.read_text()
            text = text.replace("941059834533996378", str(payments.id))
            text = text.replace("838732774015241103", str(risk.id))
            text = text.replace("589860739419867561", str(ana.id))
            text = text.replace("439508343668775055", str(julia.id))
            path.write_text(text)
        await asyncio.to_thread(app.services.sync.run)
        await started(app)
        message = payments.last_message
        assert (
            message is not None and "Ownership check 1 for Payments Team" in message.embeds[0].title
        )

        done = await ana.click(message, label="Confirm payments-api")
        assert "confirmed Payments API" in done.response.embeds[0].description

        form = await ana.click(message, label="Needs changes: payments-ui")
        assert form.modal is not None
        [note] = [c["component"] for c in form.modal["components"]]
        changed = await ana.submit_modal(form, {note["custom_id"]: "lifecycle is wrong"})
        assert "asked changes to Payments UI" in changed.response.embeds[0].description

        form = await ana.click(message, label="Not ours: payments-worker")
        assert form.modal is not None
        inputs = {c["label"]: c["component"] for c in form.modal["components"]}
        owner = inputs["Which team owns it?"]
        value: Any = ["group:default/team-risk"] if owner["type"] == 3 else "team-risk"
        answered = await ana.submit_modal(form, {owner["custom_id"]: value})
        assert "answered Not ours for Payments Worker" in answered.response.embeds[0].description
        told = risk.last_message
        assert told is not None and told.embeds[0].title == "Is payments-worker yours?"

        refused = await julia.click(message, label="Confirm payments-ledger")
        assert "Only members of team-payments" in refused.response.embeds[0].description

        service = app.services.attest
        assert service is not None
        teams = {p.team: p for p in await service.progress(await service.campaign(1))}  # type: ignore[arg-type]
        got = teams["group:default/team-payments"]
        assert (got.confirmed, got.needs_changes, got.not_ours) == (1, 1, 1)


# ----------------------------------------------------------------- console and export


async def test_console_answers_and_the_evidence_export(
    make_app: AppFactory, tmp_path: Path, db_url: str, capsys: pytest.CaptureFixture[str]
) -> None:
    app = make_app(
        sources=[{"type": "file", "name": "demo", "target": str(DEMO)}],
        db_url=db_url,
        console={"user_email": "ana.silva@acme-rides.example"},
    )
    await started(app)
    typed = [
        "/attest confirm payments-api",
        "/attest notours fraud-scorer --owner team-payments --reason '=HYPERLINK(\"x\")'",
        "/attest changes payments-ledger --note 'owner moved to team-data'",
    ]
    for line in typed:
        reply = await say(app, line)
        assert not reply.error, reply.to_text()
    gaps = await say(app, "/report ownership-gaps")
    assert "Owner says it is not theirs (1):" in gaps.to_text()
    assert "fraud-scorer: team-risk says it is not theirs" in gaps.to_text()
    capsys.readouterr()
    config = str(tmp_path / "callboard-0.yaml")
    code = await asyncio.to_thread(
        cli.main, ["--config", config, "attest", "report", "--format", "csv"]
    )
    assert code == 0
    rows = list(csv.DictReader(io.StringIO(capsys.readouterr().out)))
    assert len(rows) == ALL_ENTITIES
    by_entity = {r["entity"]: r for r in rows}
    confirmed = by_entity["component:default/payments-api"]
    assert confirmed["answer"] == "confirmed" and confirmed["platform"] == "console"
    assert confirmed["user"] == "user:default/ana.silva"
    assert confirmed["version_answered"] == confirmed["version_asked"]
    disputed = by_entity["component:default/fraud-scorer"]
    assert disputed["named_team"] == "group:default/team-payments"
    assert disputed["note"].startswith("'=HYPERLINK")  # never a formula in a spreadsheet
    assert by_entity["component:default/payouts-service"]["state"] == "pending"

    code = await asyncio.to_thread(
        cli.main, ["--config", config, "attest", "report", "--format", "json", "--campaign", "1"]
    )
    assert code == 0
    data = json.loads(capsys.readouterr().out)
    assert data["campaign"]["id"] == 1 and data["campaign"]["reminders"] == "3d"
    assert [f["entity"] for f in data["findings"]] == ["component:default/fraud-scorer"]
    ledger = next(i for i in data["items"] if i["entity"] == "component:default/payments-ledger")
    assert ledger["state"] == "needs-changes"
    assert ledger["answers"][0]["note"] == "owner moved to team-data"

    code = await asyncio.to_thread(
        cli.main, ["--config", config, "attest", "report", "--campaign", "7"]
    )
    assert code == 1
    assert "no ownership check 7" in capsys.readouterr().err


def test_migration_0022_builds_the_attest_tables_schema_py_describes(
    make_app: AppFactory, db_url: str
) -> None:
    app = make_app(db_url=db_url, sync=False)
    tables = {"attest_campaigns", "attest_items", "attest_answers"}

    def only(obj: Any, name: str | None, type_: str, reflected: bool, other: Any) -> bool:
        table = name if type_ == "table" else getattr(getattr(obj, "table", None), "name", None)
        return table in tables

    with app.db.engine.connect() as conn:
        context = MigrationContext.configure(conn, opts={"include_object": only})
        with warnings.catch_warnings():
            # SQLite cannot reflect the index on lower(name); PostgreSQL compares it
            warnings.filterwarnings("ignore", "Skipped unsupported reflection of expression")
            assert compare_metadata(context, metadata) == []


async def test_callboard_run_checks_for_due_reminders_every_minute(tmp_path: Path) -> None:
    import argparse
    import datetime as dt

    from adapters.console import ConsolePoster

    config = tmp_path / "run.yaml"
    config.write_text(
        yaml.safe_dump(
            {
                "data_dir": str(tmp_path / "var"),
                "database": {"url": f"sqlite:///{tmp_path / 'run.db'}"},
                "catalog": {"sources": []},
                # A schedule keeps `callboard run` serving with no chat platform and no terminal.
                "schedules": [
                    {"id": "y", "cron": "0 0 1 1 *", "report": "digest", "to": "console:ops"}
                ],
            }
        )
    )
    ns = argparse.Namespace(config=str(config))
    app = cli._app(ns)
    app.services.posters["console"] = ConsolePoster(io.StringIO())
    try:
        serving = asyncio.create_task(cli._serve(app, ns))
        job = None
        for _ in range(1000):  # bounded: the job is added before serving starts
            await asyncio.sleep(0)
            job = app.scheduler.aps.get_job(REMINDER_JOB)
            if job is not None:
                break
        assert job is not None
        assert job.trigger.interval == dt.timedelta(seconds=60)
        assert not serving.done()
        serving.cancel()
        with pytest.raises(asyncio.CancelledError):
            await serving
    finally:
        app.close()
