"""What readiness asks the database: reachable, migrated to the newest revisions, synced once."""

from __future__ import annotations

import functools

from alembic.config import Config as AlembicConfig
from alembic.script import ScriptDirectory
from sqlalchemy import func, select, text
from sqlalchemy.exc import SQLAlchemyError

from bot.store.db import MIGRATIONS, Database
from bot.store.schema import source_status


@functools.cache
def _known() -> tuple[frozenset[str], frozenset[str]]:
    """Every revision this version ships, and its heads (read once: they never change)."""
    scripts = _scripts()
    return frozenset(r.revision for r in scripts.walk_revisions()), frozenset(scripts.get_heads())


def _scripts() -> ScriptDirectory:
    cfg = AlembicConfig()
    cfg.set_main_option("script_location", str(MIGRATIONS))
    return ScriptDirectory.from_config(cfg)


def database_problems(db: Database) -> list[str]:
    """Why the database cannot serve yet (empty: it can). Blocking; never raises.

    Reachable (one round trip), migrated (the applied revisions are the newest heads), and at
    least one source synced successfully by any replica (its stored status).

    A database holding a revision this version does not know was migrated by a newer version:
    during a rolling upgrade the old replicas keep serving beside it (a release whose schema
    the previous version cannot run beside says so), so that is not a reason.
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
    known, heads = _known()
    newer = applied - known
    missing = set() if newer else heads - applied
    if missing:
        problems.append(
            f"database {db.safe_url} not migrated (missing {', '.join(sorted(missing))}); "
            "run callboard migrate"
        )
    if not synced:
        problems.append("no catalog source has synced successfully yet")
    return problems
