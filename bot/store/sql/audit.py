"""The audit log and the scaffold name claims in SQL (``audit_log``, ``scaffold_claims``).

``SqlAuditLog`` implements ``bot.ports.AuditLog`` and ``SqlNameClaims`` ``bot.ports.NameClaims``;
their statements are short, and each runs in the store's worker threads, never on the loop.
``SqlAuditReader`` is the blocking read, for the CLI.
"""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Mapping
from concurrent.futures import Executor
from typing import Any

from sqlalchemy import delete, insert, select, update
from sqlalchemy.exc import IntegrityError

from bot.audit import CLAIM_TTL, AuditEntry, Requester, actor_shown
from bot.catalog.queries import run_blocking
from bot.store.db import Database
from bot.store.schema import audit_log, scaffold_claims


def _aware(value: dt.datetime) -> dt.datetime:
    return value if value.tzinfo else value.replace(tzinfo=dt.UTC)


class SqlAuditReader:
    """The audit log's blocking statements."""

    def __init__(self, db: Database) -> None:
        self.db = db

    def start(
        self,
        at: dt.datetime,
        action: str,
        requester: Requester,
        target: str,
        details: Mapping[str, Any],
        result: str = "running",
        message: str | None = None,
    ) -> int:
        finished = None if result == "running" else at
        with self.db.engine.begin() as conn:
            row = conn.execute(
                insert(audit_log)
                .values(
                    at=at,
                    finished_at=finished,
                    action=action,
                    platform=requester.platform,
                    actor_id=requester.id[:200],
                    actor_name=(requester.name or "")[:200] or None,
                    actor_ref=str(requester.user_ref) if requester.user_ref else None,
                    target=target[:320],
                    result=result,
                    message=message,
                    details=json.dumps(details, default=str),
                )
                .returning(audit_log.c.id)
            ).scalar_one()
        return int(row)

    def finish(
        self,
        entry_id: int,
        at: dt.datetime,
        result: str,
        message: str | None,
        details: Mapping[str, Any] | None = None,
    ) -> None:
        values: dict[str, Any] = {"finished_at": at, "result": result, "message": message}
        with self.db.engine.begin() as conn:
            if details is not None:
                old = conn.execute(
                    select(audit_log.c.details).where(audit_log.c.id == entry_id)
                ).scalar_one()
                merged = {**json.loads(old), **details}
                values["details"] = json.dumps(merged, default=str)
            conn.execute(update(audit_log).where(audit_log.c.id == entry_id).values(**values))

    def entries(
        self,
        *,
        limit: int = 50,
        action: str | None = None,
        actor: str | None = None,
        target: str | None = None,
        since: dt.datetime | None = None,
    ) -> list[AuditEntry]:
        """Newest first."""
        stmt = select(audit_log).order_by(audit_log.c.id.desc()).limit(limit)
        if action:
            stmt = stmt.where(audit_log.c.action == action)
        if actor:
            needle = f"%{actor.lower()}%"
            stmt = stmt.where(
                audit_log.c.actor_ref.ilike(needle)
                | audit_log.c.actor_name.ilike(needle)
                | audit_log.c.actor_id.ilike(needle)
            )
        if target:
            stmt = stmt.where(audit_log.c.target.ilike(f"%{target.lower()}%"))
        if since:
            stmt = stmt.where(audit_log.c.at >= since)
        with self.db.engine.connect() as conn:
            rows = conn.execute(stmt).all()
        return [
            AuditEntry(
                id=r.id,
                at=_aware(r.at),
                finished_at=_aware(r.finished_at) if r.finished_at else None,
                action=r.action,
                actor=actor_shown(r.platform, r.actor_id, r.actor_name, r.actor_ref),
                platform=r.platform,
                target=r.target,
                result=r.result,
                message=r.message,
                details=json.loads(r.details or "{}"),
            )
            for r in rows
        ]

    def claim(self, name: str, entry_id: int, at: dt.datetime) -> int | None:
        key = name.lower()
        with self.db.engine.begin() as conn:
            conn.execute(
                delete(scaffold_claims).where(
                    scaffold_claims.c.name == key, scaffold_claims.c.claimed_at < at - CLAIM_TTL
                )
            )
        try:
            with self.db.engine.begin() as conn:
                conn.execute(
                    insert(scaffold_claims).values(name=key, audit_id=entry_id, claimed_at=at)
                )
        except IntegrityError:
            with self.db.engine.connect() as conn:
                holder = conn.execute(
                    select(scaffold_claims.c.audit_id).where(scaffold_claims.c.name == key)
                ).scalar()
            return int(holder) if holder is not None else -1
        return None

    def release(self, name: str, entry_id: int) -> None:
        with self.db.engine.begin() as conn:
            conn.execute(
                delete(scaffold_claims).where(
                    scaffold_claims.c.name == name.lower(), scaffold_claims.c.audit_id == entry_id
                )
            )


class SqlAuditLog:
    """``bot.ports.AuditLog`` over the database; the statements run in ``pool``."""

    def __init__(self, db: Database, pool: Executor) -> None:
        self.store = SqlAuditReader(db)
        self.pool = pool

    async def start(
        self,
        at: dt.datetime,
        action: str,
        requester: Requester,
        target: str,
        details: Mapping[str, Any],
        result: str = "running",
        message: str | None = None,
    ) -> int:
        return await run_blocking(
            self.pool, self.store.start, at, action, requester, target, details, result, message
        )

    async def finish(
        self,
        entry_id: int,
        at: dt.datetime,
        result: str,
        message: str | None,
        details: Mapping[str, Any] | None = None,
    ) -> None:
        await run_blocking(self.pool, self.store.finish, entry_id, at, result, message, details)

    async def entries(
        self,
        *,
        limit: int = 50,
        action: str | None = None,
        actor: str | None = None,
        target: str | None = None,
        since: dt.datetime | None = None,
    ) -> list[AuditEntry]:
        return await run_blocking(
            self.pool,
            self.store.entries,
            limit=limit,
            action=action,
            actor=actor,
            target=target,
            since=since,
        )


class SqlNameClaims:
    """``bot.ports.NameClaims`` over ``scaffold_claims``; the statements run in ``pool``."""

    def __init__(self, db: Database, pool: Executor) -> None:
        self.store = SqlAuditReader(db)
        self.pool = pool

    async def claim(self, name: str, entry_id: int, at: dt.datetime) -> int | None:
        return await run_blocking(self.pool, self.store.claim, name, entry_id, at)

    async def release(self, name: str, entry_id: int) -> None:
        await run_blocking(self.pool, self.store.release, name, entry_id)
