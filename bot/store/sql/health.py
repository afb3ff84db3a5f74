"""What readiness asks the database: reachable, migrated to the newest revisions, synced once."""

from __future__ import annotations

from alembic.config import Config as AlembicConfig
from alembic.script import ScriptDirectory
from sqlalchemy import func, select, text
from sqlalchemy.exc import SQLAlchemyError

from bot.store.db import MIGRATIONS, Database
from bot.store.schema import source_status


def _heads() -> set[str]:
    cfg = AlembicConfig()
    cfg.set_main_option("script_location", str(MIGRATIONS))
    return set(ScriptDirectory.from_config(cfg).get_heads())


def database_problems(db: Database) -> list[str]:
    """Why the database cannot serve yet (empty: it can). Blocking; never raises.

    Reachable (one round trip), migrated (the applied revisions are the newest heads), and at
    least one source synced successfully by any replica (its stored status).
    """
    try:
        with db.engine.connect() as conn:
            conn.execute(text("SELECT 1"))
            applied = set(conn.execute(text("SELECT version_num FROM alembic_version")).scalars())
            synced = conn.execute(
                select(func.count())
                .select_from(source_status)
                .where(source_status.c.last_success.is_not(None))
            ).scalar_one()
    except SQLAlchemyError as exc:
        cause = getattr(exc, "orig", None)
        first = str(cause if cause is not None else exc).splitlines()
        reason = first[0] if first else type(exc).__name__
        return [f"database {db.safe_url} unreachable or unreadable: {reason}"]
    problems = []
    missing = _heads() - applied
    if missing:
        problems.append(
            f"database {db.safe_url} not migrated (missing {', '.join(sorted(missing))}); "
            "run callboard migrate"
        )
    if not synced:
        problems.append("no catalog source has synced successfully yet")
    return problems
