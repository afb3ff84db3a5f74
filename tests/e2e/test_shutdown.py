"""SIGTERM to ``callboard run``: stop accepting, finish the answer in flight, exit 0."""

from __future__ import annotations

import asyncio
import os
import signal
import sys
from pathlib import Path

import aiohttp
import yaml

from tests.conftest import DEMO
from tests.e2e.slack_fake import FakeSlack
from tests.e2e.test_slack import (  # noqa: F401 (fixtures)
    ENV,
    Slack,
    block_text,
    fake,
    free_port,
)

# ``callboard run`` with one more command: ``/slowpoke`` says it started (a file), then waits
# until the test releases it (another file) and answers.
DRIVER = """
import asyncio, pathlib, sys

import adapters.cli as cli
from bot.chat import Reply
from bot.dispatch import CommandSpec

started, release = pathlib.Path(sys.argv[1]), pathlib.Path(sys.argv[2])


async def slow(ctx, args):
    started.touch()
    while not release.exists():
        await asyncio.sleep(0.02)
    return Reply(title="Slow answer", text="Finished after SIGTERM.")


cli.COMMANDS = [*cli.COMMANDS, CommandSpec("slowpoke", "Waits to be released.", slow)]
sys.argv = ["callboard", *sys.argv[3:]]
cli.entry()
"""


async def _line_with(stream: asyncio.StreamReader, text: str, seen: list[str]) -> str:
    while True:
        line = (await asyncio.wait_for(stream.readline(), 60)).decode()  # hang guard
        assert line, f"callboard run stopped: {''.join(seen)}"
        seen.append(line)
        if text in line:
            return line


async def test_sigterm_during_a_slow_command_delivers_the_answer_and_exits_0(
    tmp_path: Path,
    fake: FakeSlack,  # noqa: F811 (the fixture imported above)
) -> None:
    port = free_port()
    config = tmp_path / "callboard.yaml"
    config.write_text(
        yaml.safe_dump(
            {
                "data_dir": str(tmp_path / "var"),
                "database": {"url": f"sqlite:///{tmp_path / 'callboard.db'}"},
                "catalog": {"sources": [{"type": "file", "name": "demo", "target": str(DEMO)}]},
                "slack": {
                    "api_url": fake.base_url,
                    "host": "127.0.0.1",
                    "port": port,
                    "ack_ms": 200,
                },
                "shutdown": {"grace_seconds": 60},
            }
        )
    )
    driver = tmp_path / "driver.py"
    driver.write_text(DRIVER)
    started, release = tmp_path / "started", tmp_path / "release"
    env = {k: v for k, v in os.environ.items() if not k.startswith("SLACK_")}
    proc = await asyncio.create_subprocess_exec(
        sys.executable,
        str(driver),
        str(started),
        str(release),
        "--config",
        str(config),
        "run",
        stdin=asyncio.subprocess.DEVNULL,
        stdout=asyncio.subprocess.DEVNULL,
        stderr=asyncio.subprocess.PIPE,
        env={**env, **ENV, "PYTHONPATH": str(Path(__file__).parents[2])},
    )
    assert proc.stderr is not None
    seen: list[str] = []
    harness = Slack(fake=fake, port=port, http=aiohttp.ClientSession())
    try:
        await _line_with(proc.stderr, "Slack: listening on", seen)
        status, body = await harness.command("/slowpoke", response="slow")
        assert (status, body) == (200, "")  # acked; the answer comes through response_url
        assert started.exists()
        proc.send_signal(signal.SIGTERM)
        await _line_with(proc.stderr, "callboard: stopping", seen)
        # Stopped accepting: the listener is closed.
        async with harness.http.get(f"http://127.0.0.1:{port}/readyz") as resp:
            refused = resp.status
    except aiohttp.ClientConnectionError:
        refused = 0
    finally:
        release.touch()
        await harness.http.close()
        rest = await asyncio.wait_for(proc.stderr.read(), 60)  # hang guard
        code = await asyncio.wait_for(proc.wait(), 60)
    assert code == 0, "".join(seen) + rest.decode()
    assert refused in (0, 503)
    [answer] = harness.webhooks("slow")
    assert "Finished after SIGTERM." in block_text(answer.args)
