"""The scheduler: schedules in config, cron with day names and a timezone, exactly once with
several replicas (PostgreSQL, and two processes on one SQLite file), misfires, APScheduler
itself, and delivery faults. Simulated days move a controllable clock; nothing sleeps.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import multiprocessing
from collections import Counter
from dataclasses import replace
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import pytest
import yaml
from apscheduler.triggers.cron import CronTrigger

from bot.bootstrap import build_scheduler, parse_settings
from bot.errors import ConfigError
from bot.reports.settings import ReportsSettings, Target
from bot.scheduler import (
    ReportScheduler,
    Schedule,
    SchedulesSettings,
    cron_trigger,
    fire_times,
    run_key,
)
from bot.store.sql.claims import SqlClaimStore
from bot.store.sql.reports import SqlReportsStore
from tests.conftest import AppFactory, FixedClock
from tests.integration.planted import (
    NOW,
    TEAM_CHANNELS,
    ChatPlatform,
    build_planted,
    simulate_replica,
    source,
)

ROME = ZoneInfo("Europe/Rome")
TEAM_SLACK = sorted(slack for slack, _ in TEAM_CHANNELS.values())
TEAM_DISCORD = sorted(discord for _, discord in TEAM_CHANNELS.values())


class Sleeps:
    """An injected ``sleep`` that records what it was asked to wait, and does not wait."""

    def __init__(self) -> None:
        self.waits: list[float] = []

    async def __call__(self, seconds: float) -> None:
        self.waits.append(seconds)


def schedule(**kw: Any) -> Schedule:
    values: dict[str, Any] = {
        "id": "daily",
        "cron": "0 9 * * *",
        "timezone": "UTC",
        "report": "digest",
        "teams": True,
        "targets": (Target("slack", "C0PLATFORM"),),
        "misfire_grace_s": 3600,
    }
    values.update(kw)
    return Schedule(**values)


@pytest.fixture
def planted(tmp_path: Path) -> Path:
    return build_planted(tmp_path / "repo")


def settings_of(tmp_path: Path, **top: Any) -> Any:
    config = {"data_dir": str(tmp_path / "var"), **top}
    path = tmp_path / "cfg.yaml"
    return parse_settings(config, str(path), tmp_path, path)


# ----------------------------------------------------------------------------- configuration


def test_the_issues_schedules_parse(tmp_path: Path) -> None:
    settings = settings_of(
        tmp_path,
        schedules=[
            {
                "id": "team-digests",
                "cron": "0 9 * * mon-fri",
                "timezone": "Europe/Rome",
                "report": "digest",
                "to": "teams",
            },
            {
                "id": "platform-weekly",
                "cron": "30 9 * * mon",
                "report": "ownership-gaps",
                "to": "slack:C0PLATFORM",
            },
            {
                "id": "both",
                "cron": "0 8 1 * *",
                "report": "changes",
                "to": ["teams", "discord:100000000000000009"],
                "when_empty": "skip",
                "misfire_grace_minutes": 15,
                "enabled": False,
            },
        ],
        reports={"platform_channel": "slack:C0PLATFORM", "when_empty": "skip", "pace_ms": 0},
    )
    found = settings.section("schedules", SchedulesSettings)
    digests, weekly, both = found.schedules
    assert (digests.teams, digests.targets, digests.timezone) == (True, (), "Europe/Rome")
    assert (weekly.teams, weekly.targets, weekly.timezone) == (
        False,
        (Target("slack", "C0PLATFORM"),),
        "UTC",
    )
    assert both.targets == (Target("discord", "100000000000000009"),) and both.teams
    assert (both.when_empty, both.misfire_grace_s, both.enabled) == ("skip", 900, False)
    reports = settings.section("reports", ReportsSettings)
    assert reports.platform_channel == Target("slack", "C0PLATFORM")
    assert (reports.when_empty, reports.pace_ms) == ("skip", 0)
    # Absent sections give defaults.
    assert settings_of(tmp_path).section("schedules", SchedulesSettings).schedules == ()


@pytest.mark.parametrize(
    ("entry", "message"),
    [
        (
            {"cron": "0 9 * * 1-5"},
            "schedules[0].cron uses a numeric day of week ('1-5'); write day names such as mon-fri",
        ),
        ({"cron": "0 9 * * 0"}, "APScheduler 3 counts 0 as Monday"),
        ({"cron": "0 9 * *"}, "schedules[0].cron must have five fields"),
        ({"cron": "0 0 9 * * mon"}, "must have five fields (minute hour day month day-of-week)"),
        ({"cron": "61 9 * * mon"}, "schedules[0].cron is not a valid cron expression"),
        ({"cron": "0 9 31 2 *"}, "schedules[0].cron never fires ('0 9 31 2 *')"),
        ({"timezone": "Europe/Rom"}, "schedules[0].timezone is 'Europe/Rom', which is not an IANA"),
        ({"report": "gaps"}, "schedules[0].report must be one of ownership-gaps, stale-docs"),
        ({"to": "slack"}, "schedules[0].to must be platform:channel"),
        ({"to": "teams:C0X"}, "schedules[0].to must be platform:channel"),
        ({"to": "discord:general"}, "names a Discord channel by its id"),
        ({"to": None}, "schedules[0].to is required"),
        ({"to": []}, "schedules[0].to is required"),
        ({"misfire_grace_minutes": 10**17}, "schedules[0].misfire_grace_minutes must be at most"),
        ({"id": "Team Digests"}, "schedules[0].id must be lower-case letters"),
        ({"crons": "x"}, "unknown key schedules[0].crons"),
        ({"team": "team-a"}, "schedules[0].team cannot go with to: teams"),
    ],
)
def test_bad_schedules_are_refused_naming_the_key_and_file(
    tmp_path: Path, entry: dict[str, Any], message: str
) -> None:
    item = {"id": "x", "cron": "0 9 * * mon", "report": "digest", "to": "teams", **entry}
    item = {k: v for k, v in item.items() if v is not None}
    with pytest.raises(ConfigError) as err:
        settings_of(tmp_path, schedules=[item])
    assert str(err.value).startswith(f"{tmp_path / 'cfg.yaml'}: ")
    assert message in str(err.value)


def test_section_shapes_and_duplicates_are_refused(tmp_path: Path) -> None:
    one = {"id": "x", "cron": "0 9 * * mon", "report": "digest", "to": "teams"}
    with pytest.raises(ConfigError, match=r"schedules\[1\]\.id repeats the schedule id 'x'"):
        settings_of(tmp_path, schedules=[one, one])
    with pytest.raises(ConfigError, match="schedules must be a list"):
        settings_of(tmp_path, schedules=one)
    with pytest.raises(ConfigError, match="slack must be a mapping"):
        settings_of(tmp_path, slack=[{"mode": "http"}])  # a list where a mapping belongs
    with pytest.raises(ConfigError, match=r"reports\.when_empty must be all-clear or skip"):
        settings_of(tmp_path, reports={"when_empty": "never"})
    with pytest.raises(ConfigError, match=r"reports\.platform_channel must be platform:channel"):
        settings_of(tmp_path, reports={"platform_channel": "C0PLATFORM"})
    with pytest.raises(ConfigError, match=r"reports\.changes_days must be at most 3650"):
        settings_of(tmp_path, reports={"changes_days": 10**10})
    # A digest run waits through these: each has a ceiling, so a run always ends.
    for key, ceiling in (("pace_ms", 60_000), ("backoff_ms", 300_000), ("retries", 20)):
        with pytest.raises(ConfigError, match=rf"reports\.{key} must be at most {ceiling}, found"):
            settings_of(tmp_path, reports={key: 10**9})


def test_mon_fri_at_nine_in_rome_across_the_clock_change() -> None:
    trigger = cron_trigger("0 9 * * mon-fri", ROME)
    # Summer time ends in Italy on Sunday 25 October 2026.
    times = fire_times(
        trigger, dt.datetime(2026, 10, 18, tzinfo=dt.UTC), dt.datetime(2026, 11, 1, tzinfo=dt.UTC)
    )
    local = [t.astimezone(ROME) for t in times]
    assert [t.strftime("%a %d") for t in local] == [
        "Mon 19",
        "Tue 20",
        "Wed 21",
        "Thu 22",
        "Fri 23",
        "Mon 26",
        "Tue 27",
        "Wed 28",
        "Thu 29",
        "Fri 30",
    ]
    assert {(t.hour, t.minute) for t in local} == {(9, 0)}
    assert [t.astimezone(dt.UTC).hour for t in times] == [7] * 5 + [8] * 5
    # The trap this guards against: cron's 1-5 in APScheduler 3 is Tuesday to Saturday.
    numeric = CronTrigger.from_crontab("0 9 * * 1-5", timezone=ROME)
    days = {
        t.strftime("%a") for t in fire_times(numeric, times[0] - dt.timedelta(days=1), times[-1])
    }
    assert days == {"Tue", "Wed", "Thu", "Fri", "Sat"}


# ----------------------------------------------------------------------------- exactly once


def sim_days(trigger: CronTrigger, days: int = 50) -> list[dt.datetime]:
    start = dt.datetime(2026, 10, 1, tzinfo=dt.UTC)
    return fire_times(trigger, start, start + dt.timedelta(days=days), limit=1000)


async def test_three_replicas_on_one_postgres_post_every_run_exactly_once(
    make_app: AppFactory, planted: Path, pg_url: str
) -> None:
    slack, discord = ChatPlatform("slack"), ChatPlatform("discord")
    weekdays = schedule(id="team-digests", cron="0 9 * * mon-fri", timezone="Europe/Rome")
    replicas: list[tuple[FixedClock, ReportScheduler]] = []
    apps = []
    for i in range(3):
        clock = FixedClock(NOW)
        app = make_app(sources=source(planted), db_url=pg_url, clock=clock)
        apps.append(app)
        app.services.posters.update(slack=slack, discord=discord)
        replicas.append(
            (
                clock,
                build_scheduler(
                    app,
                    [weekdays],
                    instance=f"replica-{i}",
                    sleep=Sleeps(),
                ),
            )
        )
    runs = sim_days(weekdays.trigger())
    assert len(runs) == 36  # 50 days from Thursday 1 October: 36 weekdays, no weekends
    expected = Counter(
        [("slack", c) for c in [*TEAM_SLACK, "C0PLATFORM"]] + [("discord", c) for c in TEAM_DISCORD]
    )
    for day, at in enumerate(runs):
        before = (len(slack.posts), len(discord.posts))
        for i, (clock, _) in enumerate(replicas):
            clock.now = at + dt.timedelta(seconds=2 * i)  # each replica's cron fires a bit apart
        restarting = day % 7 == 3  # replica 2 is restarting then and catches up 15 minutes late
        firing = replicas[:2] if restarting else replicas
        outcomes = await asyncio.gather(*(s.on_fire("team-digests") for _, s in firing))
        if restarting:
            replicas[2][0].now = at + dt.timedelta(minutes=15)
            assert await replicas[2][1].catch_up() == []  # already posted: nothing due
        statuses = sorted(o.status for o in outcomes if o is not None)
        assert statuses == ["posted"] + ["taken"] * (len(firing) - 1)
        new = [
            (p.platform, p.channel)
            for p in (*slack.posts[before[0] :], *discord.posts[before[1] :])
        ]
        assert Counter(new) == expected, f"run {run_key(at)}"
    stored = SqlClaimStore(apps[0].db).runs_now("team-digests")
    assert [r.scheduled_at for r in stored] == runs
    assert {r.status for r in stored} == {"posted"}
    assert all(r.posts == 11 and r.claimed_by.startswith("replica-") for r in stored)
    assert len(slack.posts) + len(discord.posts) == 36 * 11


def test_two_processes_on_one_sqlite_file_post_every_run_exactly_once(
    tmp_path: Path, planted: Path, make_app: AppFactory
) -> None:
    db = tmp_path / "shared.db"
    entry = {
        "id": "team-digests",
        "cron": "0 9 * * mon-fri",
        "timezone": "Europe/Rome",
        "report": "digest",
        "to": ["teams", "slack:C0PLATFORM"],
    }
    config = tmp_path / "replica.yaml"
    config.write_text(
        yaml.safe_dump(
            {
                "data_dir": str(tmp_path / "var"),
                "database": {"url": f"sqlite:///{db}"},
                "catalog": {"sources": source(planted)},
                "schedules": [entry],
                "reports": {"pace_ms": 0},
            }
        )
    )
    make_app(sources=source(planted), db_url=f"sqlite:///{db}")  # synced once, up front
    runs = sim_days(cron_trigger(entry["cron"], ROME))
    stamps = [t.isoformat() for t in runs]
    spawn = multiprocessing.get_context("spawn")
    barrier = spawn.Barrier(2)
    outs = [tmp_path / f"posts-{i}.jsonl" for i in range(2)]
    procs = [
        spawn.Process(
            target=simulate_replica,
            args=(str(config), "team-digests", str(outs[i]), stamps, 1.0 * i, barrier),
        )
        for i in range(2)
    ]
    for p in procs:
        p.start()
    for p in procs:
        p.join(timeout=300)
    assert [p.exitcode for p in procs] == [0, 0]
    import json

    posts = [
        json.loads(line) for out in outs if out.exists() for line in out.read_text().splitlines()
    ]
    per_run = 2 * len(TEAM_CHANNELS) + 1
    assert len(posts) == len(runs) * per_run
    assert Counter((p["platform"], p["channel"]) for p in posts) == Counter(
        {("slack", c): len(runs) for c in [*TEAM_SLACK, "C0PLATFORM"]}
        | {("discord", c): len(runs) for c in TEAM_DISCORD}
    )
    with_claims = make_app(sources=source(planted), db_url=f"sqlite:///{db}", sync=False)
    stored = SqlClaimStore(with_claims.db).runs_now("team-digests")
    assert [r.scheduled_at for r in stored] == runs
    assert {r.status for r in stored} == {"posted"}
    assert {r.posts for r in stored} == {per_run}


# ----------------------------------------------------------------------------- misfires


async def test_misfires_post_within_the_grace_time_and_are_recorded_after_it(
    make_app: AppFactory, planted: Path
) -> None:
    clock = FixedClock(NOW.replace(hour=9, minute=20))  # the bot starts 20 minutes late
    app = make_app(sources=source(planted), clock=clock)
    slack = ChatPlatform("slack")
    app.services.posters["slack"] = slack
    daily = schedule(teams=False)  # the platform digest only: one post per run

    def bot() -> ReportScheduler:  # a fresh process: nothing in memory, only the database
        return build_scheduler(app, [daily], sleep=Sleeps())

    [caught] = await bot().catch_up()
    assert (caught.status, caught.scheduled_at, caught.posts) == ("posted", NOW, 1)
    clock.now = NOW.replace(hour=9, minute=25)  # a second replica starting a bit later
    assert await bot().catch_up() == []
    assert len(slack.posts) == 1

    # Day 2: nobody runs at 09:00; a bot starting at 11:00 is past the hour of grace.
    clock.now = NOW + dt.timedelta(days=1, hours=2)
    [missed] = await bot().catch_up()
    assert missed.status == "missed" and missed.posts == 0
    assert "past the grace time of 60 minutes" in (missed.note or "")
    clock.advance(minutes=30)
    assert await bot().catch_up() == []  # recorded once, posted never
    assert len(slack.posts) == 1

    # Wednesday 4 and Thursday 5 pass with no bot; it starts on Friday 6 at 09:10.
    clock.now = NOW + dt.timedelta(days=4, minutes=10)
    outcomes = await bot().catch_up()
    assert [(o.scheduled_at.day, o.status) for o in outcomes] == [
        (4, "missed"),
        (5, "missed"),
        (6, "posted"),
    ]
    assert len(slack.posts) == 2

    # Saturday 7: APScheduler calls the job late (the loop was busy for 90 minutes).
    clock.now = NOW + dt.timedelta(days=5, minutes=90)
    late = await bot().on_fire("daily")
    assert late is not None and late.status == "missed"
    stored = SqlClaimStore(app.db).runs_now("daily")
    assert [(r.scheduled_at.day, r.status) for r in stored] == [
        (2, "posted"),
        (3, "missed"),
        (4, "missed"),
        (5, "missed"),
        (6, "posted"),
        (7, "missed"),
    ]
    assert (
        stored[1]
        .detail["reason"]
        .startswith(
            "the run of Tue 03 Nov 2026 09:00 UTC was not started in time: 120 minutes late"
        )
    )


async def test_a_new_install_posts_the_run_due_within_grace_or_records_it_missed(
    make_app: AppFactory, planted: Path, tmp_path: Path
) -> None:
    slack = ChatPlatform("slack")
    daily = schedule(teams=False)
    early = make_app(sources=source(planted), clock=FixedClock(NOW + dt.timedelta(minutes=59)))
    early.services.posters["slack"] = slack
    [posted] = await build_scheduler(early, [daily], sleep=Sleeps()).catch_up()
    assert posted.status == "posted"
    late = make_app(
        sources=source(planted),
        clock=FixedClock(NOW + dt.timedelta(hours=3)),
        db_url=f"sqlite:///{tmp_path / 'other.db'}",
    )
    late.services.posters["slack"] = slack
    [missed] = await build_scheduler(late, [daily], sleep=Sleeps()).catch_up()
    assert missed.status == "missed" and len(slack.posts) == 1


# ----------------------------------------------------------------------------- APScheduler


async def wait_until(check: Any, what: str) -> None:
    """Wait (without a timed assertion) until ``check()`` holds; fail after a generous limit."""
    for _ in range(400):
        if check():
            return
        await asyncio.sleep(0.025)
    raise AssertionError(f"still waiting for {what}")


async def test_apscheduler_runs_the_cron_job_in_its_timezone(
    make_app: AppFactory, planted: Path
) -> None:
    clock = FixedClock(dt.datetime(2026, 11, 2, 8, 0, 3, tzinfo=dt.UTC))  # 09:00:03 in Rome
    app = make_app(sources=source(planted), clock=clock)
    slack = ChatPlatform("slack")
    app.services.posters["slack"] = slack
    rome = schedule(id="rome", cron="0 9 * * mon-fri", timezone="Europe/Rome", teams=False)
    scheduler = build_scheduler(app, [rome], sleep=Sleeps())
    real_now = dt.datetime.now(dt.UTC)
    await scheduler.start()
    try:
        job = scheduler.job("rome")
        assert job is not None
        assert isinstance(job.trigger, CronTrigger) and str(job.trigger.timezone) == "Europe/Rome"
        assert (
            str(job.trigger)
            == "cron[month='*', day='*', day_of_week='mon-fri', hour='9', minute='0']"
        )
        assert (job.misfire_grace_time, job.coalesce, job.max_instances) == (3600, True, 1)
        assert job.next_run_time == rome.trigger().get_next_fire_time(None, real_now)
        # Starting caught up on this morning's run (its clock says 09:00:03 in Rome).
        assert scheduler.catching_up is not None
        [caught] = await scheduler.catching_up
        assert caught.status == "posted" and len(slack.posts) == 1

        # Tomorrow at 09:00:02: APScheduler itself runs the job (told to run it now).
        clock.now = dt.datetime(2026, 11, 3, 8, 0, 2, tzinfo=dt.UTC)
        job.modify(next_run_time=dt.datetime.now(dt.UTC))
        await wait_until(lambda: len(slack.posts) == 2, "APScheduler to run the job")
        await wait_until(
            lambda: (
                [r.status for r in SqlClaimStore(app.db).runs_now("rome")] == ["posted", "posted"]
            ),
            "the run to be recorded",
        )
    finally:
        scheduler.shutdown()
    await scheduler.wait()


async def test_a_run_apscheduler_skips_as_missed_is_recorded(
    make_app: AppFactory, planted: Path
) -> None:
    real_now = dt.datetime.now(dt.UTC).replace(microsecond=0)
    clock = FixedClock(real_now)  # APScheduler judges misfires by the real clock
    app = make_app(sources=source(planted), clock=clock)
    slack = ChatPlatform("slack")
    app.services.posters["slack"] = slack
    hour = (real_now + dt.timedelta(hours=6)).hour  # no run due in the last 18 hours
    daily = schedule(cron=f"0 {hour} * * *", teams=False)
    scheduler = build_scheduler(app, [daily], sleep=Sleeps())
    await scheduler.start()
    try:
        assert scheduler.catching_up is not None
        await scheduler.catching_up
        start = len(SqlClaimStore(app.db).runs_now("daily"))
        job = scheduler.job("daily")
        assert job is not None
        two_hours_ago = real_now - dt.timedelta(hours=2)
        job.modify(next_run_time=two_hours_ago)  # as if the loop had been stuck for two hours
        await wait_until(
            lambda: len(SqlClaimStore(app.db).runs_now("daily")) == start + 1,
            "the missed run to be recorded",
        )
        [record] = [
            r for r in SqlClaimStore(app.db).runs_now("daily") if r.scheduled_at == two_hours_ago
        ]
        assert record.status == "missed" and record.posts == 0
    finally:
        scheduler.shutdown()
    assert slack.posts == []


# ----------------------------------------------------------------------------- delivery faults


async def test_an_unknown_channel_is_recorded_and_reported_once(
    make_app: AppFactory, planted: Path
) -> None:
    clock = FixedClock(NOW)
    app = make_app(
        sources=source(planted),
        clock=clock,
        reports={"platform_channel": "slack:C0PLATFORM", "pace_ms": 0},
    )
    slack = ChatPlatform("slack", gone={"C0GHOST"})
    app.services.posters["slack"] = slack
    scheduler = build_scheduler(app, [], sleep=Sleeps())

    def notices() -> list[str]:
        return [
            p.reply.to_text()
            for p in slack.posts
            if p.reply.title == "Scheduled reports cannot reach these channels"
        ]

    first = await scheduler.run(schedule(), NOW)
    assert first.status == "partial"
    [gone] = [d for d in first.deliveries if d.status == "channel-not-found"]
    assert (gone.channel, gone.scope) == ("C0GHOST", "group:default/team-ghost")
    [notice] = notices()
    assert "slack channel C0GHOST (team-ghost): slack channel C0GHOST: channel_not_found" in notice
    [fault] = SqlReportsStore(app.db).faults_now()
    assert fault.reported_at is not None

    clock.advance(days=1)
    again = await scheduler.run(schedule(), clock.now)
    assert again.status == "partial" and len(notices()) == 1  # reported once, tried every day
    [fault] = SqlReportsStore(app.db).faults_now()
    assert (fault.first_seen, fault.last_seen) == (NOW, clock.now)
    digest = [p for p in slack.posts if p.channel == "C0PLATFORM"][-1]
    assert "Channels posts cannot reach (1)" in digest.reply.to_text()

    slack.gone.clear()  # someone fixed it
    clock.advance(days=1)
    fixed = await scheduler.run(schedule(), clock.now)
    assert fixed.status == "posted" and "C0GHOST" in slack.channels()
    assert SqlReportsStore(app.db).faults_now() == []
    slack.gone.add("C0GHOST")  # broken again: a new fault, reported again
    clock.advance(days=1)
    await scheduler.run(schedule(), clock.now)
    assert len(notices()) == 2


async def test_two_replicas_report_a_fault_once(
    make_app: AppFactory, planted: Path, tmp_path: Path
) -> None:
    url = f"sqlite:///{tmp_path / 'faults.db'}"
    slack = ChatPlatform("slack", gone={"C0GHOST"})
    schedulers = []
    for i, sid in enumerate(("morning", "evening")):
        app = make_app(
            sources=source(planted),
            db_url=url,
            clock=FixedClock(NOW),
            reports={"platform_channel": "slack:C0PLATFORM", "pace_ms": 0},
        )
        app.services.posters["slack"] = slack
        schedulers.append(
            (
                sid,
                build_scheduler(app, [], instance=f"r{i}", sleep=Sleeps()),
            )
        )
    await asyncio.gather(*(s.run(schedule(id=sid), NOW) for sid, s in schedulers))
    titles = [p.reply.title for p in slack.posts]
    assert titles.count("Scheduled reports cannot reach these channels") == 1


async def test_rate_limits_are_retried_with_backoff_and_post_once(
    make_app: AppFactory, planted: Path
) -> None:
    app = make_app(
        sources=source(planted),
        clock=FixedClock(NOW),
        reports={"backoff_ms": 1000, "retries": 3, "pace_ms": 0},
    )
    slack = ChatPlatform("slack", limits={"C0TEAMA": 2}, retry_after=1.5)
    app.services.posters["slack"] = slack
    sleeps = Sleeps()
    outcome = await build_scheduler(app, [], sleep=sleeps).run(schedule(), NOW)
    assert outcome.status == "posted"
    assert slack.channels().count("C0TEAMA") == 1 and slack.attempts.count("C0TEAMA") == 3
    assert sleeps.waits == [1.5, 2.0]  # Retry-After, then the doubled backoff when longer
    [team_a] = [d for d in outcome.deliveries if d.channel == "C0TEAMA"]
    assert (team_a.status, team_a.attempts) == ("posted", 3)

    slack.limits["C0TEAMA"] = 10  # the platform keeps refusing: give up after 3 retries
    sleeps.waits.clear()
    worse = await build_scheduler(app, [], sleep=sleeps).run(schedule(), NOW + dt.timedelta(days=1))
    assert worse.status == "partial"
    [team_a] = [d for d in worse.deliveries if d.channel == "C0TEAMA"]
    assert (team_a.status, team_a.attempts) == ("rate-limited", 4)
    assert sleeps.waits == [1.5, 2.0, 4.0]
    assert slack.channels().count("C0TEAMA") == 1
    assert SqlReportsStore(app.db).faults_now() == []  # busy is not broken

    # A platform asking for a pause longer than five minutes is not waited for.
    slack.limits["C0TEAMA"], slack.retry_after = 1, 600.0
    sleeps.waits.clear()
    patient = await build_scheduler(app, [], sleep=sleeps).run(
        schedule(), NOW + dt.timedelta(days=2)
    )
    [team_a] = [d for d in patient.deliveries if d.channel == "C0TEAMA"]
    assert (team_a.status, team_a.attempts, sleeps.waits) == ("rate-limited", 1, [])


async def test_old_digest_snapshots_are_pruned_but_each_scopes_newest_is_kept(
    make_app: AppFactory, planted: Path
) -> None:
    from sqlalchemy import select

    from bot.store.schema import report_snapshots

    clock = FixedClock(NOW)
    app = make_app(sources=source(planted), clock=clock)
    app.services.posters["slack"] = ChatPlatform("slack")
    scheduler = build_scheduler(app, [], sleep=Sleeps())
    for days in (0, 50, 100):
        clock.now = NOW + dt.timedelta(days=days)
        await scheduler.run(schedule(teams=False), clock.now)
    with app.db.engine.connect() as conn:
        taken = conn.execute(select(report_snapshots.c.taken_at)).scalars().all()
    assert sorted(t.replace(tzinfo=dt.UTC) for t in taken) == [
        NOW + dt.timedelta(days=50),
        NOW + dt.timedelta(days=100),
    ]


async def test_posts_are_paced_per_platform(make_app: AppFactory, planted: Path) -> None:
    app = make_app(sources=source(planted), clock=FixedClock(NOW), reports={"pace_ms": 250})
    slack, discord = ChatPlatform("slack"), ChatPlatform("discord")
    app.services.posters.update(slack=slack, discord=discord)
    sleeps = Sleeps()
    await build_scheduler(app, [], sleep=sleeps).run(schedule(), NOW)
    posts = len(slack.posts) + len(discord.posts)
    assert posts == 11
    assert sleeps.waits == [0.25] * (posts - 2)  # none before each platform's first post


async def test_a_failed_post_is_never_retried_nor_posted_by_another_replica(
    make_app: AppFactory, planted: Path, tmp_path: Path
) -> None:
    url = f"sqlite:///{tmp_path / 'fail.db'}"
    slack = ChatPlatform("slack", broken={"C0TEAMB"})
    first = make_app(
        sources=source(planted), db_url=url, clock=FixedClock(NOW), reports={"pace_ms": 0}
    )
    first.services.posters["slack"] = slack
    outcome = await build_scheduler(first, [], sleep=Sleeps()).run(schedule(), NOW)
    assert outcome.status == "partial"
    [broken] = [d for d in outcome.deliveries if d.channel == "C0TEAMB"]
    assert (broken.status, broken.attempts) == ("failed", 1)
    assert broken.error == "slack channel C0TEAMB: msg_too_long"

    class Exploding:
        platform = "discord"

        async def post(self, channel: str, reply: Any) -> None:
            raise RuntimeError("socket closed mid-post")

    first.services.posters["discord"] = Exploding()
    crashed = await build_scheduler(first, [], sleep=Sleeps()).run(schedule(id="other"), NOW)
    discord_results = {d.status for d in crashed.deliveries if d.platform == "discord"}
    assert discord_results == {"failed"}
    assert all(
        "RuntimeError: socket closed mid-post" in (d.error or "")
        for d in crashed.deliveries
        if d.platform == "discord"
    )

    # Another replica starting within the grace time finds the runs claimed: no second post.
    second = make_app(
        sources=source(planted), db_url=url, clock=FixedClock(NOW + dt.timedelta(minutes=5))
    )
    second.services.posters["slack"] = slack
    before = len(slack.posts)
    again = build_scheduler(second, [schedule(), schedule(id="other")], sleep=Sleeps())
    assert await again.catch_up() == []
    assert len(slack.posts) == before
    stored = {r.schedule_id: r for r in SqlClaimStore(second.db).runs_now()}
    assert stored["daily"].status == "partial"
    assert {d["status"] for d in stored["daily"].detail["deliveries"]} == {"posted", "failed"}


async def test_targets_without_a_poster_are_recorded(make_app: AppFactory, planted: Path) -> None:
    app = make_app(sources=source(planted), clock=FixedClock(NOW))
    outcome = await build_scheduler(app, [], sleep=Sleeps()).run(
        schedule(teams=False, targets=(Target("discord", "100000000000000009"),)), NOW
    )
    [delivery] = outcome.deliveries
    assert delivery.status == "no-poster" and outcome.status == "failed"
    assert "no discord poster is running" in (delivery.error or "")
    nowhere = await build_scheduler(app, [], sleep=Sleeps()).run(
        schedule(id="teams", targets=()), NOW
    )
    assert (nowhere.status, nowhere.deliveries) == ("nothing", ())
    assert "no channel to post to" in (nowhere.note or "")
    [record] = SqlClaimStore(app.db).runs_now("teams")
    assert record.status == "nothing" and "no channel to post to" in record.detail["note"]
    # A schedule for one team's channel scopes the report to that team.
    slack = ChatPlatform("slack")
    app.services.posters["slack"] = slack
    scoped = schedule(
        id="team-b",
        teams=False,
        team="team-b",
        report="stale-docs",
        targets=(Target("slack", "C0TEAMB"),),
    )
    await build_scheduler(app, [], sleep=Sleeps()).run(scoped, NOW)
    [post] = slack.posts
    assert post.reply.title == "Docs to fix: Team B (team-b)"
    # A misspelt team is a failed run, never a guessed team's report in that channel.
    typo = await build_scheduler(app, [], sleep=Sleeps()).run(
        replace(scoped, id="team-typo", team="team-bb"), NOW
    )
    assert typo.status == "failed" and "team: team-bb names no group" in (typo.note or "")
    assert len(slack.posts) == 1


async def test_callboard_run_starts_the_schedules_and_serves_them_until_stopped(
    tmp_path: Path, planted: Path
) -> None:
    import argparse
    import io

    from adapters.cli import _app, _serve
    from adapters.console import ConsolePoster

    config = tmp_path / "run.yaml"
    config.write_text(
        yaml.safe_dump(
            {
                "data_dir": str(tmp_path / "var"),
                "database": {"url": f"sqlite:///{tmp_path / 'run.db'}"},
                "catalog": {"sources": source(planted)},
                "schedules": [
                    {
                        "id": "gaps",
                        "cron": "* * * * *",
                        "report": "ownership-gaps",
                        "to": "console:ops",
                        "misfire_grace_minutes": 5,
                    }
                ],
            }
        )
    )
    ns = argparse.Namespace(config=str(config))
    app = _app(ns)
    out = io.StringIO()
    app.services.posters["console"] = ConsolePoster(out)
    try:
        app.services.sync.run()
        serving = asyncio.create_task(_serve(app, ns))
        # Started with no chat platform and no terminal, it keeps running for the schedule,
        # and catches up on this minute's run at once.
        # (A run of the next minute may follow when the minute turns meanwhile: a slow machine.)
        await wait_until(
            lambda: (
                (runs := [r.status for r in SqlClaimStore(app.db).runs_now("gaps")])
                and set(runs) == {"posted"}
            ),
            "the first scheduled run",
        )
        assert "--- to ops ---" in out.getvalue()
        assert "8 ownership gaps in 31 entities" in out.getvalue()
        assert not serving.done()
        serving.cancel()  # Ctrl-C / SIGTERM
        with pytest.raises(asyncio.CancelledError):
            await serving
    finally:
        app.close()


async def test_a_run_stopped_by_shutdown_records_how_far_it_got(
    make_app: AppFactory, planted: Path
) -> None:
    app = make_app(sources=source(planted), clock=FixedClock(NOW), reports={"pace_ms": 0})
    slack = ChatPlatform("slack")
    released = asyncio.Event()
    blocked = asyncio.Event()

    class Stuck:
        """A platform that takes two posts and then hangs (a network stall at shutdown)."""

        platform = "slack"

        async def post(self, channel: str, reply: Any) -> None:
            if len(slack.posts) == 2:
                blocked.set()
                await released.wait()
            await slack.post(channel, reply)

    app.services.posters["slack"] = Stuck()
    scheduler = build_scheduler(app, [schedule()], sleep=Sleeps())
    running = asyncio.create_task(scheduler.run(schedule(), NOW))
    await blocked.wait()
    running.cancel()
    with pytest.raises(asyncio.CancelledError):
        await running
    [run] = SqlClaimStore(app.db).runs_now("daily")
    assert (run.status, run.posts) == ("partial", 2)
    assert run.detail["note"] == "stopped when the bot shut down, after 2 of 6 deliveries"
    # Restarted within the grace time, no replica posts this run again.
    assert await build_scheduler(app, [schedule()], sleep=Sleeps()).catch_up() == []
    assert len(slack.posts) == 2


async def test_finish_lets_the_run_apscheduler_fired_complete_before_shutdown(
    make_app: AppFactory, planted: Path
) -> None:
    """SIGTERM during a scheduled run (``App.stop`` calls ``finish``): the run goes on to its
    last delivery, and only then is the scheduler shut down."""
    clock = FixedClock(dt.datetime(2026, 11, 2, 12, 0, tzinfo=dt.UTC))  # nothing due now
    app = make_app(sources=source(planted), clock=clock, reports={"pace_ms": 0})
    slack = ChatPlatform("slack")
    blocked, released = asyncio.Event(), asyncio.Event()

    class Stalling:
        """Slack taking its time over the second post (while SIGTERM arrives)."""

        platform = "slack"

        async def post(self, channel: str, reply: Any) -> None:
            if len(slack.posts) == 1:
                blocked.set()
                await released.wait()
            await slack.post(channel, reply)

    app.services.posters["slack"] = Stalling()
    daily = schedule(misfire_grace_s=60)
    scheduler = build_scheduler(app, [daily], sleep=Sleeps())
    await scheduler.start()
    try:
        assert scheduler.catching_up is not None
        await scheduler.catching_up  # nothing was due within its grace
        clock.now = dt.datetime(2026, 11, 3, 9, 0, 1, tzinfo=dt.UTC)
        job = scheduler.job("daily")
        assert job is not None
        job.modify(next_run_time=dt.datetime.now(dt.UTC))  # APScheduler runs it now
        await asyncio.wait_for(blocked.wait(), 60)  # a hang guard, not a timing
        finishing = asyncio.create_task(scheduler.finish(60))
        for _ in range(20):
            await asyncio.sleep(0)
        assert not finishing.done()  # it waits for the run in progress
        released.set()
        await asyncio.wait_for(finishing, 60)
    finally:
        scheduler.shutdown()
    await scheduler.wait()
    runs = SqlClaimStore(app.db).runs_now("daily")
    assert [(r.status, r.posts) for r in runs if r.posts] == [("posted", 6)]
    assert len(slack.posts) == 6


async def test_runs_and_deliveries_are_counted_in_the_metrics(
    make_app: AppFactory, planted: Path
) -> None:
    app = make_app(
        sources=source(planted),
        clock=FixedClock(NOW),
        reports={"platform_channel": "slack:C0PLATFORM", "pace_ms": 0},
    )
    app.services.posters["slack"] = ChatPlatform("slack", gone={"C0GHOST"})
    scheduler = build_scheduler(app, [], sleep=Sleeps())
    first = await scheduler.run(schedule(), NOW)
    assert first.status == "partial"
    assert app.services.metrics is not None
    text = app.services.metrics.exposition().decode()
    sid = schedule().id
    assert f'callboard_scheduled_runs_total{{schedule="{sid}",status="partial"}} 1.0' in text
    assert (
        'callboard_scheduled_deliveries_total{platform="slack",status="channel-not-found"} 1.0'
        in text
    )
    posted = sum(1 for d in first.deliveries if d.status == "posted")
    delivered = 'callboard_scheduled_deliveries_total{platform="slack",status="posted"}'
    assert f"{delivered} {posted}.0" in text
