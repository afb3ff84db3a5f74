"""`callboard migrate`: the deploy's one-shot job brings the schema up to date and exits."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import sqlalchemy as sa

from tests.e2e.test_cli import run


def test_migrate_creates_the_schema_once_and_again_finds_nothing_to_do(tmp_path: Path) -> None:
    db = tmp_path / "var" / "callboard.db"
    config = tmp_path / "callboard.yaml"
    config.write_text(f"database:\n  url: sqlite:///{db}\ncatalog: {{}}\n")
    first = run("migrate", "--config", str(config), cwd=tmp_path)
    assert first.returncode == 0, first.stderr
    assert "is migrated" in first.stderr
    with sqlite3.connect(db) as conn:
        tables = {r[0] for r in conn.execute("SELECT name FROM sqlite_master WHERE type='table'")}
        heads = {r[0] for r in conn.execute("SELECT version_num FROM alembic_version")}
    assert {"entities", "alembic_version"} <= tables
    assert heads
    again = run("migrate", "--config", str(config), cwd=tmp_path)
    assert again.returncode == 0, again.stderr
    with sqlite3.connect(db) as conn:
        assert {r[0] for r in conn.execute("SELECT version_num FROM alembic_version")} == heads


def test_migrate_on_postgresql_from_the_environment_url(tmp_path: Path, pg_url: str) -> None:
    config = tmp_path / "callboard.yaml"
    config.write_text("catalog: {}\n")
    result = run(
        "migrate", "--config", str(config), cwd=tmp_path, env={"CALLBOARD_DATABASE_URL": pg_url}
    )
    assert result.returncode == 0, result.stderr
    assert pg_url.rsplit("/", 1)[1] in result.stderr  # the database it migrated
    engine = sa.create_engine(pg_url)
    try:
        with engine.connect() as conn:
            assert conn.execute(sa.text("SELECT count(*) FROM alembic_version")).scalar()
            assert conn.execute(sa.text("SELECT to_regclass('entities')")).scalar()
    finally:
        engine.dispose()


def test_migrate_fails_on_an_unreachable_database(tmp_path: Path) -> None:
    config = tmp_path / "callboard.yaml"
    config.write_text("catalog: {}\n")
    url = "postgresql://callboard:pw@127.0.0.1:1/callboard"  # nothing listens on port 1
    result = run(
        "migrate", "--config", str(config), cwd=tmp_path, env={"CALLBOARD_DATABASE_URL": url}
    )
    assert result.returncode == 1
    assert "cannot migrate database" in result.stderr
    assert ":pw@" not in result.stderr
