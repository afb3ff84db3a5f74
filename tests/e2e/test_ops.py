"""Operating Callboard: metrics counted as it works and served on the Slack HTTP server."""

from __future__ import annotations

import logging
import re
from pathlib import Path
from typing import Any

import pytest

from bot.app import App
from bot.chat import Reply
from bot.dispatch import Args, CommandSpec, Context
from bot.logcontext import hash_user
from commands import COMMANDS
from tests.conftest import DEMO, AppFactory, aask
from tests.e2e.slack_fake import BOT_USER_ID, FakeSlack
from tests.e2e.test_slack import (  # noqa: F401 (fixtures)
    Starter,
    fake,
    mention,
    start_slack,
)


def sample(text: str, name: str, **labels: str) -> float | None:
    """The value of one sample in a Prometheus text exposition (None when absent)."""
    for line in text.splitlines():
        if line.startswith("#"):
            continue
        m = re.fullmatch(r"([a-zA-Z_:][\w:]*)(?:\{(.*)\})? (\S+)", line)
        if m is None or m.group(1) != name:
            continue
        found = dict(re.findall(r'(\w+)="((?:[^"\\]|\\.)*)"', m.group(2) or ""))
        if found == labels:
            return float(m.group(3))
    return None


async def test_slack_http_server_serves_metrics_of_commands_and_syncs(
    start_slack: Starter,  # noqa: F811 (the fixture imported above)
) -> None:
    slack = await start_slack()
    status, _ = await slack.command("/whoowns", "payments-api")
    assert status == 200
    status, _ = await slack.command("/whoowns", "no-such-thing-anywhere")
    assert status == 200
    async with slack.http.get(f"http://127.0.0.1:{slack.port}/metrics") as resp:
        assert resp.status == 200
        assert resp.headers["Content-Type"].startswith("text/plain")
        text = await resp.text()
    count = "callboard_command_duration_seconds_count"
    assert sample(text, count, command="whoowns", platform="slack", outcome="ok") == 1.0
    assert sample(text, count, command="whoowns", platform="slack", outcome="not_found") == 1.0
    assert sample(text, "callboard_sync_duration_seconds_count", source="demo", outcome="ok") == 1
    entities = sample(text, "callboard_sync_entities", source="demo")
    assert entities is not None and entities > 0
    assert sample(text, "callboard_sync_last_success_timestamp_seconds", source="demo")
    assert sample(text, "callboard_docs_index_sites") is not None


def test_metrics_disabled_records_nothing(make_app: AppFactory) -> None:
    app = make_app(
        sources=[{"type": "file", "name": "demo", "target": str(DEMO)}], metrics={"enabled": False}
    )
    assert app.services.metrics is None


def _logging_command(seen: list[dict[str, str]]) -> CommandSpec:
    async def handler(ctx: Context, args: Args) -> Reply:
        from bot import logcontext

        seen.append(logcontext.current())
        logging.getLogger("tests.ops").info("handling")
        return Reply(text="done")

    return CommandSpec("logged", "A test command that reports its log context.", handler)


async def test_dispatch_binds_the_log_context_and_counts_the_command(
    make_app: AppFactory, caplog: pytest.LogCaptureFixture
) -> None:
    seen: list[dict[str, str]] = []
    app: App = make_app(
        sources=[{"type": "file", "name": "demo", "target": str(DEMO)}],
        commands=[*COMMANDS, _logging_command(seen)],
    )
    reply = await aask(app, "/logged")
    assert reply.text == "done"
    (fields,) = seen
    assert fields["command"] == "logged"
    assert fields["platform"] == "console"
    assert len(fields["request_id"]) == 12
    assert fields["user_id"] == hash_user("tester")
    assert app.services.metrics is not None
    text = app.services.metrics.exposition().decode()
    assert (
        sample(
            text,
            "callboard_command_duration_seconds_count",
            command="logged",
            platform="console",
            outcome="ok",
        )
        == 1.0
    )
    await aask(app, "/nosuchcommand")
    text = app.services.metrics.exposition().decode()
    assert (
        sample(
            text,
            "callboard_command_duration_seconds_count",
            command="unknown",
            platform="console",
            outcome="user_error",
        )
        == 1.0
    )


async def _readyz(slack: Any) -> tuple[int, dict[str, Any]]:
    async with slack.http.get(f"http://127.0.0.1:{slack.port}/readyz") as resp:
        return resp.status, await resp.json()


def _pg_admin(sql: str) -> None:
    import psycopg

    with psycopg.connect(
        host="127.0.0.1", port=5432, user="postgres", dbname="postgres", autocommit=True
    ) as conn:
        conn.execute(sql)


async def test_readyz_flips_to_503_while_postgresql_refuses_and_back(
    start_slack: Starter,  # noqa: F811 (the fixture imported above)
    pg_url: str,
) -> None:
    slack = await start_slack(db_url=pg_url)
    name = pg_url.rsplit("/", 1)[1]
    status, body = await _readyz(slack)
    assert (status, body) == (200, {"ready": True, "reasons": []})
    async with slack.http.get(f"http://127.0.0.1:{slack.port}/healthz") as resp:
        assert resp.status == 200
    # The database stops taking connections, and the ones open are cut.
    _pg_admin(f'ALTER DATABASE "{name}" ALLOW_CONNECTIONS false')
    _pg_admin(
        "SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
        f"WHERE datname = '{name}' AND pid <> pg_backend_pid()"
    )
    try:
        status, body = await _readyz(slack)
        assert status == 503
        assert body["ready"] is False
        assert "unreachable" in body["reasons"][0]
    finally:
        _pg_admin(f'ALTER DATABASE "{name}" ALLOW_CONNECTIONS true')
    status, body = await _readyz(slack)
    assert (status, body) == (200, {"ready": True, "reasons": []})


async def test_readyz_names_a_database_never_synced(
    start_slack: Starter,  # noqa: F811 (the fixture imported above)
) -> None:
    slack = await start_slack(sources=[])
    status, body = await _readyz(slack)
    assert status == 503
    assert body["reasons"] == ["no catalog source has synced successfully yet"]


async def test_a_retry_delivered_to_another_replica_is_answered_once(
    start_slack: Starter,  # noqa: F811 (the fixture imported above)
    fake: FakeSlack,  # noqa: F811 (the fixture imported above)
    db_url: str,
) -> None:
    """Two Slack HTTP replicas on one database; Slack retries an event on the other one."""
    first = await start_slack(db_url=db_url)
    second = await start_slack(db_url=db_url)
    second.triggers = 1000  # Slack's trigger ids are unique; the harnesses' counters are not
    event = mention(f"<@{BOT_USER_ID}> whoowns payments-api")
    status, _ = await first.event(event, event_id="Ev0REPLICA1")
    assert status == 200
    await first.settle()
    status, _ = await second.event(
        event,
        event_id="Ev0REPLICA1",
        headers={"x-slack-retry-num": "1", "x-slack-retry-reason": "http_timeout"},
    )
    assert status == 200
    await second.settle()
    assert len(fake.calls_to("chat.postMessage")) == 1
    # Commands spread across both: each counts its own.
    assert (await second.command("/whoowns", "payments-api"))[0] == 200
    assert (await first.command("/whoowns", "payments-api"))[0] == 200
    for replica, answered in ((first, 2.0), (second, 1.0)):
        async with replica.http.get(f"http://127.0.0.1:{replica.port}/metrics") as resp:
            text = await resp.text()
        assert (
            sample(
                text,
                "callboard_command_duration_seconds_count",
                command="whoowns",
                platform="slack",
                outcome="ok",
            )
            == answered
        )
    # A new event id is a new question, whichever replica gets it.
    await second.event(event, event_id="Ev0REPLICA2")
    await second.settle()
    assert len(fake.calls_to("chat.postMessage")) == 2


async def test_callboard_run_with_only_the_scheduler_serves_the_standalone_port(
    tmp_path: Path,
) -> None:
    """No Slack HTTP server: ``metrics.port`` serves /healthz, /readyz and /metrics (the same
    routes), scraped while it runs; SIGTERM turns /readyz to 503 and exits 0."""
    import asyncio
    import os
    import signal
    import sys

    import aiohttp
    import yaml

    from tests.e2e.test_slack import free_port

    port = free_port()
    config = tmp_path / "callboard.yaml"
    config.write_text(
        yaml.safe_dump(
            {
                "data_dir": str(tmp_path / "var"),
                "database": {"url": f"sqlite:///{tmp_path / 'callboard.db'}"},
                "catalog": {"sources": [{"type": "file", "name": "demo", "target": str(DEMO)}]},
                "schedules": [
                    {"id": "weekly", "cron": "0 9 * * mon", "report": "digest", "to": "teams"}
                ],
                "metrics": {"port": port, "host": "127.0.0.1"},
                "shutdown": {"grace_seconds": 30},
            }
        )
    )
    env = {k: v for k, v in os.environ.items() if not k.startswith(("SLACK_", "DISCORD_"))}
    proc = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "adapters.cli",
        "--config",
        str(config),
        "run",
        stdin=asyncio.subprocess.DEVNULL,
        stdout=asyncio.subprocess.DEVNULL,
        stderr=asyncio.subprocess.PIPE,
        env=env,
    )
    assert proc.stderr is not None
    seen: list[str] = []
    base = f"http://127.0.0.1:{port}"
    try:
        while not any("Health and metrics:" in line for line in seen):
            line = (await asyncio.wait_for(proc.stderr.readline(), 60)).decode()  # hang guard
            assert line, f"callboard run stopped: {''.join(seen)}"
            seen.append(line)
        async with aiohttp.ClientSession() as http:
            async with http.get(f"{base}/healthz") as resp:
                assert resp.status == 200
                assert (await resp.json())["entities"] > 0
            async with http.get(f"{base}/readyz") as resp:
                assert (resp.status, await resp.json()) == (200, {"ready": True, "reasons": []})
            text = ""
            async with asyncio.timeout(60):  # a hang guard: the lag sampler's first tick
                while not sample(text, "callboard_event_loop_lag_seconds_count"):
                    async with http.get(f"{base}/metrics") as resp:
                        assert resp.status == 200
                        text = await resp.text()
                    await asyncio.sleep(0.2)
            count = "callboard_sync_duration_seconds_count"
            assert sample(text, count, source="demo", outcome="ok") == 1
            proc.send_signal(signal.SIGTERM)
            while not any("callboard: stopping" in line for line in seen):
                line = (await asyncio.wait_for(proc.stderr.readline(), 60)).decode()
                assert line, f"callboard run stopped: {''.join(seen)}"
                seen.append(line)
        code = await asyncio.wait_for(proc.wait(), 60)
    finally:
        if proc.returncode is None:
            proc.kill()
            await proc.wait()
    rest = (await proc.stderr.read()).decode()
    assert code == 0, "".join(seen) + rest


def test_readiness_names_a_missing_migration_but_not_a_newer_schema(
    make_app: AppFactory,
) -> None:
    """An old replica beside a newer one during a rolling upgrade stays ready; a database
    behind this version is not."""
    from sqlalchemy import text

    app = make_app(sources=[{"type": "file", "name": "demo", "target": str(DEMO)}])
    assert app.not_ready() == []
    with app.db.engine.begin() as conn:
        # the newest migration (revisions are numbered; some early ones are parallel heads)
        head = conn.execute(text("SELECT max(version_num) FROM alembic_version")).scalar_one()
        conn.execute(text("DELETE FROM alembic_version WHERE version_num = :v"), {"v": head})
    (reason,) = app.not_ready()
    assert f"not migrated (missing {head}); run callboard migrate" in reason
    with app.db.engine.begin() as conn:  # a newer version's migration, on top of the head
        conn.execute(
            text("INSERT INTO alembic_version (version_num) VALUES (:head)"), {"head": head}
        )
        conn.execute(text("INSERT INTO alembic_version (version_num) VALUES ('0999')"))
    assert app.not_ready() == []


async def test_two_replicas_on_postgresql_go_unready_together_and_come_back(
    start_slack: Starter,  # noqa: F811 (the fixture imported above)
    pg_url: str,
) -> None:
    """The acceptance topology: two Slack HTTP replicas on one PostgreSQL; while the database
    refuses connections both say 503 on /readyz, and both are ready again once it is back."""
    first = await start_slack(db_url=pg_url)
    second = await start_slack(db_url=pg_url)
    second.triggers = 1000
    name = pg_url.rsplit("/", 1)[1]
    for replica in (first, second):
        assert await _readyz(replica) == (200, {"ready": True, "reasons": []})
    _pg_admin(f'ALTER DATABASE "{name}" ALLOW_CONNECTIONS false')
    _pg_admin(
        "SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
        f"WHERE datname = '{name}' AND pid <> pg_backend_pid()"
    )
    try:
        for replica in (first, second):
            status, body = await _readyz(replica)
            assert status == 503 and "unreachable" in body["reasons"][0]
    finally:
        _pg_admin(f'ALTER DATABASE "{name}" ALLOW_CONNECTIONS true')
    for replica in (first, second):
        assert await _readyz(replica) == (200, {"ready": True, "reasons": []})
        assert (await replica.command("/whoowns", "payments-api"))[0] == 200
        async with replica.http.get(f"http://127.0.0.1:{replica.port}/metrics") as resp:
            text = await resp.text()
        count = "callboard_command_duration_seconds_count"
        assert sample(text, count, command="whoowns", platform="slack", outcome="ok") == 1.0


def test_a_metrics_port_already_taken_is_a_configuration_error(tmp_path: Path) -> None:
    import os
    import socket
    import subprocess
    import sys

    import yaml

    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        config = tmp_path / "callboard.yaml"
        config.write_text(
            yaml.safe_dump(
                {
                    "data_dir": str(tmp_path / "var"),
                    "catalog": {"sources": [{"type": "file", "name": "demo", "target": str(DEMO)}]},
                    "schedules": [
                        {"id": "weekly", "cron": "0 9 * * mon", "report": "digest", "to": "teams"}
                    ],
                    "metrics": {"port": port, "host": "127.0.0.1"},
                }
            )
        )
        env = {k: v for k, v in os.environ.items() if not k.startswith(("SLACK_", "DISCORD_"))}
        done = subprocess.run(
            [sys.executable, "-m", "adapters.cli", "--config", str(config), "run"],
            stdin=subprocess.DEVNULL,
            capture_output=True,
            text=True,
            env=env,
            timeout=120,  # a hang guard
        )
    assert done.returncode == 2, done.stderr
    assert f"metrics.port {port} on 127.0.0.1 cannot be served" in done.stderr
