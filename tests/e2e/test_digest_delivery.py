"""Scheduled digests delivered through the real adapters: Slack (its Web API faked on loopback,
with a 429 on the way and a channel that is gone) and Discord (discord.py against simcord).
"""

from __future__ import annotations

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
from adapters.slack.runtime import SlackRuntime
from bot.bootstrap import build_scheduler
from bot.reports.settings import Target
from bot.scheduler import Schedule
from bot.store.sql.claims import SqlClaimStore
from bot.store.sql.reports import SqlReportsStore
from tests.conftest import DEMO, AppFactory, FixedClock
from tests.e2e.slack_fake import BOT_TOKEN, SIGNING_SECRET, FakeSlack

NOW = dt.datetime(2026, 11, 2, 8, 0, tzinfo=dt.UTC)  # Monday, 09:00 in Rome

# The demo's team channels (config/demo/README.md, "Team chat channels").
DEMO_SLACK = {
    "team-rider-app": "C0HBRPOIG8F",
    "team-driver-app": "C0BFNO6B9",
    "team-dispatch": "C02RAK1VR",
    "team-pricing": "C0GFYGWWQC",
    "team-loyalty": "C0HYF9SXMEC",
    "team-payments": "C0FOGYR3XK",
    "team-risk": "C0REK8PK3",
    "team-infra": "C09OUDOCUZR",
    "team-data": "C0UN5Z3JQIP",
    "team-mapping": "C0Q1ZXOI65F",
}


async def no_sleep(_: float) -> None:
    return None


def digests(*targets: Target, teams: bool = True) -> Schedule:
    return Schedule(
        id="team-digests",
        cron="0 9 * * mon-fri",
        timezone="Europe/Rome",
        report="digest",
        teams=teams,
        targets=targets,
    )


# ----------------------------------------------------------------------------- Slack


@pytest.fixture
async def fake() -> AsyncIterator[FakeSlack]:
    server = FakeSlack().start()
    yield server
    server.stop()


def parents(fake: FakeSlack) -> list[Any]:
    """Top-level messages (a long digest's details go in its thread)."""
    return [c for c in fake.calls_to("chat.postMessage") if "thread_ts" not in c.args]


async def test_slack_digests_reach_each_teams_channel_once_past_a_429_and_a_gone_channel(
    make_app: AppFactory, fake: FakeSlack, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("SLACK_BOT_TOKEN", BOT_TOKEN)
    monkeypatch.setenv("SLACK_SIGNING_SECRET", SIGNING_SECRET)
    clock = FixedClock(NOW)
    app = make_app(
        sources=[{"type": "file", "name": "demo", "target": str(DEMO)}],
        clock=clock,
        slack={"api_url": fake.base_url},
        reports={"platform_channel": "slack:C0PLATFORM", "pace_ms": 0},
        platforms=[SLACK],
    )
    poster = app.platforms["slack"].poster  # what `callboard run` registers
    assert poster is not None and poster.platform == "slack"
    app.services.posters["slack"] = poster
    runtime = app.platforms["slack"].runtime
    assert isinstance(runtime, SlackRuntime)
    schedule = digests(Target("slack", "C0PLATFORM"))
    scheduler = build_scheduler(app, [schedule], sleep=no_sleep)
    try:
        fake.fail_next("chat.postMessage", 429, {"Retry-After": "0"})
        first = await scheduler.on_fire("team-digests")
        assert first is not None and first.status == "posted"
        calls = parents(fake)
        limited, *delivered = calls
        assert limited.args == delivered[0].args  # the rate-limited post, sent again
        by_channel = Counter(c.args["channel"] for c in delivered)
        assert by_channel == Counter([*DEMO_SLACK.values(), "C0PLATFORM"])
        payments = next(c for c in delivered if c.args["channel"] == DEMO_SLACK["team-payments"])
        assert "Digest: Payments Team (team-payments)" in payments.args["text"]
        platform = next(c for c in delivered if c.args["channel"] == "C0PLATFORM")
        assert "Platform digest" in platform.args["text"]
        assert all(c.args["unfurl_links"] is False for c in delivered)
        assert all(c.token == BOT_TOKEN for c in fake.calls_to("chat.postMessage"))

        # Tuesday: the first team's channel has been archived.
        fake.clear()
        clock.advance(days=1)
        fake.fail_next("chat.postMessage", 200, body={"ok": False, "error": "is_archived"})
        second = await scheduler.on_fire("team-digests")
        assert second is not None and second.status == "partial"
        [gone] = [d for d in second.deliveries if d.status == "channel-not-found"]
        assert gone.scope == "group:default/team-data"
        notices = [c for c in parents(fake) if "cannot reach" in c.args["text"]]
        assert [c.args["channel"] for c in notices] == ["C0PLATFORM"]
        assert DEMO_SLACK["team-data"] in str(notices[0].args["blocks"])

        # Wednesday: still archived; recorded again, reported no more.
        fake.clear()
        clock.advance(days=1)
        fake.fail_next("chat.postMessage", 200, body={"ok": False, "error": "is_archived"})
        third = await scheduler.on_fire("team-digests")
        assert third is not None and third.status == "partial"
        assert [c for c in parents(fake) if "cannot reach" in c.args["text"]] == []
        [fault] = SqlReportsStore(app.db).faults_now()
        assert (fault.channel, fault.error) == (
            DEMO_SLACK["team-data"],
            f"Slack refused the post to {DEMO_SLACK['team-data']}: is_archived",
        )
        # A second replica firing the same runs posts nothing.
        again = build_scheduler(app, [schedule], instance="replica-2", sleep=no_sleep)
        fake.clear()
        assert (await again.on_fire("team-digests")).status == "taken"  # type: ignore[union-attr]
        assert fake.calls_to("chat.postMessage") == []
        runs = SqlClaimStore(app.db).runs_now("team-digests")
        assert [r.status for r in runs] == ["posted", "partial", "partial"]
        assert [r.posts for r in runs] == [11, 10, 10]
    finally:
        await runtime.close()


# ----------------------------------------------------------------------------- Discord


def discord_catalog(root: Path, channels: dict[str, int]) -> Path:
    """Two teams whose Groups carry the ids of simcord's channels, and what they own."""
    docs: list[dict[str, Any]] = []
    for team, channel in channels.items():
        docs.append(
            {
                "apiVersion": "backstage.io/v1alpha1",
                "kind": "Group",
                "metadata": {"name": team, "annotations": {"discord.com/channel-id": str(channel)}},
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
                "kind": "Component",
                "metadata": {"name": f"{team}-api"},
                "spec": {"type": "service", "lifecycle": "experimental", "owner": team},
            }
        )
    docs.append(
        {
            "apiVersion": "backstage.io/v1alpha1",
            "kind": "Component",
            "metadata": {"name": "orphan-api"},
            "spec": {"type": "service", "lifecycle": "experimental", "owner": "team-gone"},
        }
    )
    root.mkdir(parents=True, exist_ok=True)
    path = root / "catalog.yaml"
    path.write_text(yaml.safe_dump_all(docs))
    return path


def discord_digest_app(make_app: AppFactory, tmp_path: Path) -> tuple[Path, Any, Any]:
    """An app with a Discord adapter and an unsynced catalog file for ``discord_catalog``."""
    location = tmp_path / "catalog" / "catalog.yaml"
    app = make_app(
        sources=[{"type": "file", "name": "teams", "target": str(location)}],
        clock=FixedClock(NOW),
        sync=False,
        discord={},
        reports={"pace_ms": 0},
        platforms=[DISCORD],
    )
    adapter = app.platforms["discord"].runtime
    assert adapter is not None
    return location, app, adapter


async def test_discord_digests_land_in_each_teams_channel(
    make_app: AppFactory, tmp_path: Path
) -> None:
    location, app, adapter = discord_digest_app(make_app, tmp_path)
    async with simcord.run(adapter.client) as env:
        guild = env.create_guild("Acme")
        teams = {name: guild.create_text_channel(name) for name in ("team-a", "team-b")}
        platform = guild.create_text_channel("platform")
        discord_catalog(location.parent, {name: ch.id for name, ch in teams.items()})
        app.services.sync.run()
        app.services.posters["discord"] = adapter
        schedule = digests(Target("discord", str(platform.id)))
        outcome = await build_scheduler(app, [schedule], sleep=no_sleep).on_fire("team-digests")
        assert outcome is not None and outcome.status == "posted"
        assert sorted((d.channel, d.status) for d in outcome.deliveries) == sorted(
            [(str(ch.id), "posted") for ch in (*teams.values(), platform)]
        )
        for name, channel in teams.items():
            [message] = channel.history()
            assert message.author.id == adapter.client.user.id
            title = message.embeds[0].title or ""
            assert title == f"Digest: {name}"
        [summary] = platform.history()
        assert summary.embeds[0].title == "Platform digest"
        everything = " ".join(
            (e.description or "") + " ".join(f.value or "" for f in e.fields)
            for e in summary.embeds
        )
        assert "orphan-api: its owner team-gone is not in the catalog" in everything


async def test_a_discord_channel_that_does_not_exist_is_a_fault_reported_once(
    make_app: AppFactory, tmp_path: Path
) -> None:
    location, app, adapter = discord_digest_app(make_app, tmp_path)
    async with simcord.run(adapter.client) as env:
        guild = env.create_guild("Acme")
        real = guild.create_text_channel("team-a")
        platform = guild.create_text_channel("platform")
        gone = 123456789012345678  # a channel id Discord does not know
        discord_catalog(location.parent, {"team-a": real.id, "team-b": gone})
        app.services.sync.run()
        app.services.posters["discord"] = adapter
        schedule = digests(Target("discord", str(platform.id)))
        scheduler = build_scheduler(app, [schedule], sleep=no_sleep)
        outcome = await scheduler.on_fire("team-digests")
        assert outcome is not None and outcome.status == "partial"
        statuses = {d.channel: d.status for d in outcome.deliveries}
        assert statuses[str(real.id)] == "posted"
        assert statuses[str(gone)] == "channel-not-found"
        [fault] = SqlReportsStore(app.db).faults_now()
        assert fault.channel == str(gone)
        # The next day's run meets the same gone channel: still one fault, not a second.
        app.services.clock.advance(days=1)  # type: ignore[attr-defined]
        again = await scheduler.on_fire("team-digests")
        assert again is not None
        assert {d.channel: d.status for d in again.deliveries}[str(gone)] == "channel-not-found"
        assert [f.channel for f in SqlReportsStore(app.db).faults_now()] == [str(gone)]
