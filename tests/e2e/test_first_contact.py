"""A new user's first minutes: the bundled config, `callboard run` on a pipe, the CLI's shape.

These run the real `callboard` program with the config shipped in config/ (only the database is
moved, through CALLBOARD_DATABASE_URL, onto SQLite in a temp folder or PostgreSQL).
"""

from __future__ import annotations

from pathlib import Path

from tests.conftest import REPO
from tests.e2e.test_cli import run


def test_the_demo_knows_who_the_console_user_is(db_url: str, tmp_path: Path) -> None:
    lines = [
        "/owns me",
        "/whoowns ana.silva@acme-rides.example",
        "what do I own",
        "/scaffold python-service",
    ]
    result = run(
        "run", cwd=tmp_path, stdin="\n".join(lines) + "\n", env={"CALLBOARD_DATABASE_URL": db_url}
    )
    assert result.returncode == 0, result.stderr
    out = result.stdout
    assert "don't know who you are" not in out and "could mean" not in out
    assert out.count("(you are user:default/ana.silva (matched by email") == 2  # /owns me twice
    assert "Their groups (team-payments, team-risk) own 22 entities." in out
    assert "Payments API (payments-api) — service · via team-payments" in out
    # The email names the user, exactly.
    assert "What Ana Silva owns\n===================\nAna Silva (user:default/ana.silva)" in out
    # The scaffolder knows the requester and opens its form (cancelled at the end of input).
    assert "New Python service" in out
    assert "Dialog cancelled." in out


def test_callboard_user_email_makes_the_console_someone_else(tmp_path: Path) -> None:
    result = run(
        "run",
        cwd=tmp_path,
        stdin="/owns me\n",
        env={
            "CALLBOARD_DATABASE_URL": f"sqlite:///{tmp_path / 'cb.db'}",
            "CALLBOARD_USER_EMAIL": "tom.becker@acme-rides.example",
        },
    )
    assert result.returncode == 0, result.stderr
    assert "(you are user:default/tom.becker (matched by email" in result.stdout


def test_the_readme_says_how_to_be_someone_and_how_to_reach_the_cli() -> None:
    readme = (REPO / "README.md").read_text()
    assert "CALLBOARD_USER_EMAIL" in readme
    assert "console.user_email" in readme
    assert ".venv/bin/callboard" in readme
    config = (REPO / "config" / "callboard.yaml").read_text()
    assert "${CALLBOARD_USER_EMAIL:-ana.silva@acme-rides.example}" in config
