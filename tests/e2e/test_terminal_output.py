"""Catalog text printed by `callboard` (ask, sync problems, list) carries no terminal controls."""

from __future__ import annotations

import re
from pathlib import Path

import yaml

from tests.e2e.test_cli import V1, component, dump, run

ESC = "\x1b"
SPOOF = f"Term {ESC}]8;;http://evil.example{ESC}\\click here{ESC}]8;;{ESC}\\"
CONTROLS = re.compile(r"[\x00-\x08\x0b-\x1f\x7f-\x9f\u202a-\u202e\u2066-\u2069\u200b]")


def test_ask_sync_and_list_strip_control_characters(tmp_path: Path) -> None:
    repo = tmp_path / "repo"
    repo.mkdir()
    hostile = component(
        "srcinj",
        title=SPOOF,
        description=f"wipe {ESC}[2J{ESC}[H bell\x07 back\x08\x08 rtl \u202etxt.exe",
        annotations={"backstage.io/source-location": f"url:https://ok.example/{ESC}[2J"},
        links=[{"url": "https://ok.example/", "title": f"Runbook{ESC}[8m hidden"}],
    )
    broken = {"apiVersion": V1, "kind": "Component", "metadata": {"name": f"bad{ESC}[2Jname"}}
    (repo / "all.yaml").write_text(dump(hostile, broken))
    assert "\\e" in (repo / "all.yaml").read_text()  # YAML carries the ESC characters
    config = tmp_path / "callboard.yaml"
    config.write_text(
        yaml.safe_dump(
            {"catalog": {"sources": [{"type": "file", "name": "r", "target": "./repo/all.yaml"}]}}
        )
    )
    synced = run("--config", str(config), "sync", cwd=tmp_path)
    assert synced.returncode == 0, synced.stderr
    assert "[2Jname" in synced.stdout  # the problem is reported, its controls are not
    asked = run("--config", str(config), "ask", "/describe srcinj", "--no-sync", cwd=tmp_path)
    assert asked.returncode == 0, asked.stderr
    assert "]8;;http://evil.example" in asked.stdout and "txt.exe" in asked.stdout
    listed = run("--config", str(config), "list", "--no-sync", cwd=tmp_path)
    for result in (synced, asked, listed):
        assert not CONTROLS.search(result.stdout), repr(result.stdout)
        assert not CONTROLS.search(result.stderr), repr(result.stderr)
