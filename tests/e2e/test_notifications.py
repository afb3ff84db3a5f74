"""Change notifications through the real adapters, on SQLite and PostgreSQL: a sync that moves
entities between teams posts one message to each team's channel (Slack's Web API faked on
loopback; Discord driven by simcord), a sync that changes nothing posts nothing, two replicas
on one database post each message once, and routes and quiet hours (held in the database,
through a restart) are honoured, with a clock the test moves.
"""

from __future__ import annotations

import asyncio
import datetime as dt
from collections import Counter
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
import simcord
import yaml

from adapters.discord import PLATFORM as DISCORD
from adapters.slack import PLATFORM as SLACK
from bot.app import App
from bot.notify.service import Notifier
from bot.store.sql.notify import SqlNotifyStore
from tests.conftest import AppFactory, FixedClock
from tests.e2e.slack_fake import BOT_TOKEN, SIGNING_SECRET, FakeSlack

NOW = dt.datetime(2026, 11, 2, 10, 0, tzinfo=dt.UTC)  # Monday, 11:00 in Rome
SERVICES = ("svc-1", "svc-2", "svc-3", "svc-4")


def catalog(path: Path, owners: dict[str, str], channels: dict[str, dict[str, str]]) -> None:
    """Teams with chat channels, a member each, and services owned as ``owners`` says."""
    docs: list[dict[str, Any]] = []
    for team, chat in channels.items():
        docs.append(
            {
                "apiVersion": "backstage.io/v1alpha1",
                "kind": "Group",
                "metadata": {"name": team, "annotations": chat},
                "spec": {"type": "team", "children": []},
            }
        )
        docs.append(
            {
                "apiVersion": "backstage.io/v1alpha1",
                "kind": "User",
                "metadata": {"name": f"{team}-lead"},
                "spec": {"memberOf": [team]},
            }
        )
    docs.append(
        {
            "apiVersion": "backstage.io/v1alpha1",
            "kind": "System",
            "metadata": {"name": "shop"},
            "spec": {"owner": "team-a"},
        }
    )
    for name, owner in owners.items():
        docs.append(
            {
                "apiVersion": "backstage.io/v1alpha1",
                "kind": "Component",
                "metadata": {"name": name, "tags": ["pci"] if name == "svc-1" else []},
                "spec": {
                    "type": "service",
                    "lifecycle": "production",
                    "owner": owner,
                    "system": "shop",
                },
            }
        )
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(yaml.safe_dump_all(docs))


SLACK_TEAMS = {
    "team-a": {"slack.com/channel-id": "C0TEAMA"},
    "team-b": {"slack.com/channel-id": "C0TEAMB"},
}


@pytest.fixture
async def fake(monkeypatch: pytest.MonkeyPatch) -> AsyncIterator[FakeSlack]:
    monkeypatch.setenv("SLACK_BOT_TOKEN", BOT_TOKEN)
    monkeypatch.setenv("SLACK_SIGNING_SECRET", SIGNING_SECRET)
    server = FakeSlack().start()
    yield server
    server.stop()


def slack_app(
    make_app: AppFactory,
    location: Path,
    db_url: str,
    clock: FixedClock,
    fake: FakeSlack,
    sync: bool = True,
    **notifications: Any,
) -> App:
    return make_app(
        sources=[{"type": "file", "name": "teams", "target": str(location)}],
        db_url=db_url,
        clock=clock,
        sync=sync,
        slack={"api_url": fake.base_url},
        reports={"pace_ms": 0},
        notifications=notifications,
        backstage={"url": "https://backstage.example"},
        platforms=[SLACK],
    )


def notifier(app: App) -> Notifier:
    found = app.services.notifier
    assert found is not None
    return found


def posts(fake: FakeSlack) -> Counter[str]:
    return Counter(c.args["channel"] for c in fake.calls_to("chat.postMessage"))


async def close(*apps: App) -> None:
    for app in apps:
        await app.platforms["slack"].runtime.close()


async def test_a_move_posts_once_per_team_channel_across_two_replicas(
    make_app: AppFactory, fake: FakeSlack, db_url: str, tmp_path: Path
) -> None:
    location = tmp_path / "catalog" / "catalog.yaml"
    catalog(location, dict.fromkeys(SERVICES, "team-a"), SLACK_TEAMS)
    clock = FixedClock(NOW)
    first = slack_app(make_app, location, db_url, clock, fake)
    second = slack_app(make_app, location, db_url, clock, fake, sync=False)
    try:
        baseline = await notifier(first).notify()
        assert baseline.planned.status == "baseline" and fake.calls_to("chat.postMessage") == []

        owners = dict.fromkeys(SERVICES, "team-a") | dict.fromkeys(SERVICES[:3], "team-b")
        catalog(location, owners, SLACK_TEAMS)
        clock.advance(minutes=15)
        # The first replica's sync notifies in the background; the second replica's pass runs
        # at the same time.
        await first.services.sync.run_async()
        await asyncio.gather(notifier(first).idle(), notifier(second).notify())
        await notifier(second).notify()
        assert posts(fake) == Counter({"C0TEAMA": 1, "C0TEAMB": 1})
        by_channel = {c.args["channel"]: c for c in fake.calls_to("chat.postMessage")}
        team_a = by_channel["C0TEAMA"].args
        assert "Catalog changes for team-a" in team_a["text"]
        blocks = str(team_a["blocks"])
        for name in SERVICES[:3]:
            assert f"moved out: {name}, now team-b's" in blocks
            assert f"https://backstage.example/catalog/default/component/{name}" in blocks
        assert "svc-4" not in blocks
        assert "moved in: svc-2, from team-a" in str(by_channel["C0TEAMB"].args["blocks"])
        outbox = SqlNotifyStore(first.db).outbox_now()
        assert sorted((r.target.channel, r.status, r.lines) for r in outbox) == [
            ("C0TEAMA", "posted", 3),
            ("C0TEAMB", "posted", 3),
        ]

        # A sync that changes nothing, on either replica, posts nothing.
        fake.clear()
        clock.advance(minutes=15)
        await first.services.sync.run_async()
        await notifier(first).idle()
        second.services.sync.run()
        await notifier(second).notify()
        assert fake.calls_to("chat.postMessage") == []
    finally:
        await close(first, second)


async def test_routes_and_quiet_hours_held_through_a_restart(
    make_app: AppFactory, fake: FakeSlack, db_url: str, tmp_path: Path
) -> None:
    location = tmp_path / "catalog" / "catalog.yaml"
    catalog(location, dict.fromkeys(SERVICES, "team-a"), SLACK_TEAMS)
    evening = dt.datetime(2026, 11, 2, 20, 30, tzinfo=dt.UTC)  # 21:30 in Rome
    clock = FixedClock(evening)
    config: dict[str, Any] = {
        "routes": [
            {"match": {"system": "shop", "tag": "pci"}, "channels": ["slack:C0PCI"]},
            {"match": {"kind": "api"}, "channels": ["slack:C0APIS"]},
        ],
        "quiet_hours": [
            {
                "timezone": "Europe/Rome",
                "start": "20:00",
                "end": "08:00",
                "channels": ["slack:C0TEAMB"],
            }
        ],
    }
    app = slack_app(make_app, location, db_url, clock, fake, **config)
    try:
        await notifier(app).notify()  # the baseline
        catalog(location, dict.fromkeys(SERVICES, "team-b"), SLACK_TEAMS)
        app.services.sync.run()
        done = await notifier(app).notify()
        assert done.planned.messages == 3
        assert posts(fake) == Counter({"C0TEAMA": 1, "C0PCI": 1})  # team-b's is held
        pci = next(c for c in fake.calls_to("chat.postMessage") if c.args["channel"] == "C0PCI")
        assert "svc-1" in str(pci.args["blocks"]) and "svc-2" not in str(pci.args["blocks"])
        [held] = [r for r in SqlNotifyStore(app.db).outbox_now() if r.status == "pending"]
        assert held.target.channel == "C0TEAMB"
        assert held.not_before == dt.datetime(2026, 11, 3, 7, 0, tzinfo=dt.UTC)  # 08:00 Rome
        clock.now = dt.datetime(2026, 11, 3, 6, 59, tzinfo=dt.UTC)
        await notifier(app).check()
        assert posts(fake)["C0TEAMB"] == 0
    finally:
        await close(app)
    app.close()

    # A restart: the held message is in the database, and goes out once quiet hours end.
    fake.clear()
    clock.now = dt.datetime(2026, 11, 3, 7, 1, tzinfo=dt.UTC)
    again = slack_app(make_app, location, db_url, clock, fake, sync=False, **config)
    try:
        await notifier(again).check()
        await notifier(again).check()
        assert posts(fake) == Counter({"C0TEAMB": 1})
        [call] = fake.calls_to("chat.postMessage")
        assert "4 changes held through quiet hours." in str(call.args["blocks"])
        for name in SERVICES:
            assert f"moved in: {name}, from team-a" in str(call.args["blocks"])
        statuses = sorted(r.status for r in SqlNotifyStore(again.db).outbox_now())
        assert statuses == ["posted", "posted", "posted"]
    finally:
        await close(again)


async def test_discord_team_channels_hear_of_a_move_once(
    make_app: AppFactory, db_url: str, tmp_path: Path
) -> None:
    location = tmp_path / "catalog" / "catalog.yaml"
    app = make_app(
        sources=[{"type": "file", "name": "teams", "target": str(location)}],
        db_url=db_url,
        clock=FixedClock(NOW),
        sync=False,
        discord={},
        reports={"pace_ms": 0},
        notifications={},
        platforms=[DISCORD],
    )
    adapter = app.platforms["discord"].runtime
    async with simcord.run(adapter.client) as env:
        guild = env.create_guild("Acme")
        channels = {name: guild.create_text_channel(name) for name in ("team-a", "team-b")}
        teams = {n: {"discord.com/channel-id": str(ch.id)} for n, ch in channels.items()}
        catalog(location, dict.fromkeys(SERVICES, "team-a"), teams)
        app.services.sync.run()
        app.services.posters["discord"] = adapter
        assert (await notifier(app).notify()).planned.status == "baseline"
        owners = dict.fromkeys(SERVICES, "team-a") | dict.fromkeys(SERVICES[:3], "team-b")
        catalog(location, owners, teams)
        await app.services.sync.run_async()
        await notifier(app).idle()
        [to_a] = channels["team-a"].history()
        [to_b] = channels["team-b"].history()
        assert to_a.author.id == adapter.client.user.id
        assert to_a.embeds[0].title == "Catalog changes for team-a"
        assert to_b.embeds[0].title == "Catalog changes for team-b"
        text_b = " ".join(
            (e.description or "") + " ".join(f.value or "" for f in e.fields) for e in to_b.embeds
        )
        assert "moved in: svc-3, from team-a" in text_b and "svc-4" not in text_b
        app.services.sync.run()  # nothing changed
        await notifier(app).notify()
        assert len(channels["team-a"].history()) == 1 and len(channels["team-b"].history()) == 1


async def test_serving_adds_the_check_job_and_a_first_pass(
    make_app: AppFactory, tmp_path: Path
) -> None:
    from bot.notify.service import JOB_ID, schedule_notifier
    from bot.scheduler.service import new_scheduler
    from bot.store.sql.notify import read_cursor

    location = tmp_path / "catalog" / "catalog.yaml"
    catalog(location, dict.fromkeys(SERVICES, "team-a"), SLACK_TEAMS)
    app = make_app(
        sources=[{"type": "file", "name": "teams", "target": str(location)}],
        clock=FixedClock(NOW),
        notifications={"check_seconds": 30},
    )
    aps = new_scheduler()
    schedule_notifier(aps, notifier(app))  # what `callboard run` does once serving
    job = aps.get_job(JOB_ID)
    assert job is not None and job.trigger.interval == dt.timedelta(seconds=30)
    await notifier(app).idle()
    with app.db.engine.connect() as conn:
        cursor = read_cursor(conn)
    assert cursor is not None and cursor.version == 1  # the first sync is the baseline
    assert cursor.last_change_id > 0


async def test_a_channel_that_is_gone_is_a_channel_fault_until_a_post_reaches_it(
    make_app: AppFactory, fake: FakeSlack, tmp_path: Path
) -> None:
    from bot.store.sql.reports import SqlReportsStore

    location = tmp_path / "catalog" / "catalog.yaml"
    catalog(location, dict.fromkeys(SERVICES, "team-a"), SLACK_TEAMS)
    app = slack_app(
        make_app, location, f"sqlite:///{tmp_path / 'faults.db'}", FixedClock(NOW), fake
    )
    try:
        await notifier(app).notify()  # the baseline
        catalog(location, dict.fromkeys(SERVICES, "team-a") | {"svc-1": "team-b"}, SLACK_TEAMS)
        app.services.sync.run()
        fake.fail_next("chat.postMessage", 200, body={"ok": False, "error": "is_archived"})
        done = await notifier(app).notify()
        assert sorted((d.channel, d.status) for d in done.deliveries) == [
            ("C0TEAMA", "channel-not-found"),
            ("C0TEAMB", "posted"),
        ]
        [fault] = SqlReportsStore(app.db).faults_now()
        assert (fault.channel, fault.error) == (
            "C0TEAMA",
            "Slack refused the post to C0TEAMA: is_archived",
        )
        outbox = {r.target.channel: r.status for r in SqlNotifyStore(app.db).outbox_now()}
        assert outbox == {"C0TEAMA": "channel-not-found", "C0TEAMB": "posted"}
        # Unarchived: the next notification reaches it, and the fault is forgotten.
        catalog(location, dict.fromkeys(SERVICES, "team-a"), SLACK_TEAMS)
        app.services.sync.run()
        again = await notifier(app).notify()
        assert {d.status for d in again.deliveries} == {"posted"}
        assert SqlReportsStore(app.db).faults_now() == []
    finally:
        await close(app)
