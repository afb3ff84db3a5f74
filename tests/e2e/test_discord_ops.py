"""Operating Callboard on Discord: readiness (``/readyz`` on the standalone port) and graceful
shutdown, with the real discord.py client driven by simcord (tests/e2e/test_discord.py)."""

from __future__ import annotations

import asyncio
import datetime as dt
from typing import Any

import aiohttp

from adapters.discord import PLATFORM
from adapters.discord.client import NOT_CONNECTED, RESTARTING
from adapters.metrics_http import OpsServer
from bot.app import App
from bot.chat import Reply
from bot.dispatch import Args, CommandSpec, Context
from commands import COMMANDS
from tests.conftest import AppFactory
from tests.e2e.test_discord import DEMO_SOURCES, discord_world, embed_text


async def _readyz(http: aiohttp.ClientSession, port: int | None) -> tuple[int, dict[str, Any]]:
    async with http.get(f"http://127.0.0.1:{port}/readyz") as resp:
        return resp.status, await resp.json()


async def test_readyz_says_discord_is_not_connected_until_the_session_is_ready(
    make_app: AppFactory,
) -> None:
    app = make_app(sources=DEMO_SOURCES, platforms=[PLATFORM], discord={})
    server = await OpsServer(app).start("127.0.0.1", 0)
    try:
        async with aiohttp.ClientSession() as http:
            status, body = await _readyz(http, server.port)
            assert (status, body["reasons"]) == (503, [NOT_CONNECTED])
            async with discord_world(app):
                status, body = await _readyz(http, server.port)
                assert (status, body) == (200, {"ready": True, "reasons": []})
    finally:
        await server.close()


def _sigterm_during_command(app: list[App], seen: dict[str, Any]) -> CommandSpec:
    """A command during which SIGTERM arrives: it starts ``App.stop`` (as ``callboard run``
    does on SIGTERM), lets the loop run a while, notes what it saw, then answers."""

    async def slow(ctx: Context, args: Args) -> Reply:
        (running,) = app
        stop = asyncio.ensure_future(running.stop(60))
        seen["stop"] = stop
        for _ in range(50):  # the stop runs meanwhile: it must wait for this answer
            await asyncio.sleep(0)
        adapter = running.platforms["discord"].runtime
        seen["stopping"] = adapter.stopping
        seen["closed before the answer"] = adapter.client.is_closed()
        seen["reasons"] = await asyncio.to_thread(running.not_ready)
        return Reply(title="Slow answer", text="Delivered while shutting down.")

    return CommandSpec("slowpoke", "Test only: SIGTERM arrives while it runs.", slow)


async def test_stop_lets_the_interaction_in_flight_answer_then_closes_the_client(
    make_app: AppFactory,
) -> None:
    holder: list[App] = []
    seen: dict[str, Any] = {}
    app = make_app(
        sources=DEMO_SOURCES,
        commands=[*COMMANDS, _sigterm_during_command(holder, seen)],
        platforms=[PLATFORM],
        discord={},
    )
    holder.append(app)
    async with discord_world(app) as w:
        result = await w.ana.slash(w.channel, "slowpoke")
        await asyncio.wait_for(seen["stop"], 60)  # a hang guard, not a timing
        assert "Delivered while shutting down." in embed_text(result.response.embeds)
        assert seen["stopping"] is True
        assert seen["closed before the answer"] is False
        assert "shutting down" in seen["reasons"]
        assert w.adapter.client.is_closed()
        assert w.adapter.not_ready() == ["shutting down"]


async def test_while_stopping_a_new_interaction_is_told_to_ask_again(
    make_app: AppFactory,
) -> None:
    app = make_app(sources=DEMO_SOURCES, platforms=[PLATFORM], discord={})
    async with discord_world(app) as w:
        w.adapter.stopping = True  # what stop() sets first, before it waits for work in flight
        late = await w.ben.slash(w.channel, "whoowns", entity="payments-api")
        assert late.response.content == RESTARTING and late.response.ephemeral
        assert not late.response.embeds  # nothing was looked up


async def test_a_scheduled_post_going_out_at_shutdown_still_reaches_discord(
    make_app: AppFactory,
) -> None:
    """SIGTERM while a scheduled run posts to two channels: the Discord connection stays
    until the run's last post is out, then closes."""
    from bot.bootstrap import build_scheduler
    from bot.reports.settings import Target
    from bot.scheduler import Schedule
    from tests.conftest import FixedClock

    clock = FixedClock(dt.datetime(2026, 11, 2, 9, 0, 1, tzinfo=dt.UTC))
    app = make_app(sources=DEMO_SOURCES, platforms=[PLATFORM], discord={}, clock=clock, reports={})
    paced, go_on = asyncio.Event(), asyncio.Event()

    async def pace(seconds: float) -> None:  # between the two posts: SIGTERM arrives here
        paced.set()
        await go_on.wait()

    async with discord_world(app) as w:
        second = w.guild.create_text_channel("ops")
        daily = Schedule(
            id="daily",
            cron="0 9 * * *",
            timezone="UTC",
            report="digest",
            teams=False,
            targets=(Target("discord", str(w.channel.id)), Target("discord", str(second.id))),
        )
        app.scheduler = build_scheduler(app, [daily], sleep=pace)
        run = asyncio.ensure_future(app.scheduler.on_fire("daily"))  # as APScheduler fires it
        await asyncio.wait_for(paced.wait(), 60)  # a hang guard, not a timing
        stopping = asyncio.ensure_future(app.stop(60))
        for _ in range(50):
            await asyncio.sleep(0)
        assert w.adapter.stopping and not w.adapter.client.is_closed()
        go_on.set()
        outcome = await asyncio.wait_for(run, 60)
        await asyncio.wait_for(stopping, 60)
        assert outcome is not None and outcome.status == "posted", outcome
        assert [d.status for d in outcome.deliveries] == ["posted", "posted"]
        assert second.last_message is not None
        assert w.adapter.client.is_closed()
