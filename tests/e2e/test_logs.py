"""Logs of a real `callboard` process: `logging.format: json` gives one object a line, and the
platform tokens in its environment appear in none of its output."""

from __future__ import annotations

import json
from pathlib import Path

from tests.conftest import DEMO
from tests.e2e.test_cli import run

TOKENS = {
    "SLACK_BOT_TOKEN": "xoxb-e2e-logs-0123456789-abcdefghij",
    "SLACK_SIGNING_SECRET": "e2e0logs0signing0secret0123456789",
    "DISCORD_TOKEN": "e2e.logs.discord.token.0123456789",
}


def test_a_verbose_sync_logs_json_lines_without_the_tokens(tmp_path: Path) -> None:
    config = tmp_path / "callboard.yaml"
    config.write_text(
        "data_dir: ./var\n"
        "database:\n  url: sqlite:///./var/cb.db\n"
        f"catalog:\n  sources:\n    - type: file\n      name: demo\n      target: {DEMO}\n"
        "logging:\n  format: json\n"
    )
    result = run("sync", "-v", "--config", str(config), cwd=tmp_path, env=TOKENS)
    assert result.returncode == 0, result.stderr
    lines = result.stderr.splitlines()
    assert lines  # -v: the migrations and the sync log at INFO
    for line in lines:
        record = json.loads(line)
        assert {"time", "level", "logger", "message"} <= record.keys()
    for token in TOKENS.values():
        assert token not in result.stderr
        assert token not in result.stdout


def test_text_stays_the_default(tmp_path: Path) -> None:
    config = tmp_path / "callboard.yaml"
    config.write_text(
        "data_dir: ./var\n"
        "database:\n  url: sqlite:///./var/cb.db\n"
        f"catalog:\n  sources:\n    - type: file\n      name: demo\n      target: {DEMO}\n"
    )
    result = run("sync", "-v", "--config", str(config), cwd=tmp_path, env=TOKENS)
    assert result.returncode == 0, result.stderr
    assert " INFO " in result.stderr
    assert not result.stderr.lstrip().startswith("{")
