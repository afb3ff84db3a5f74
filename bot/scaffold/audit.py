"""The audit log: who did what, when, with which values, and how it ended.

One row per action (``scaffold`` here; admin actions may use the same table): written when the
action starts (``running``) and completed when it ends (``succeeded``, ``failed``), or written
once for a refusal (``refused``) or rejected values (``invalid``). ``callboard audit`` reads it.

``scaffold_claims`` holds the names being scaffolded right now, so two people (or two
replicas) cannot make the same component at once; a claim older than an hour is stale.
"""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from sqlalchemy import delete, insert, select, update
from sqlalchemy.exc import IntegrityError

from bot.scaffold.model import Requester
from bot.store.db import Database
from bot.store.schema import audit_log, scaffold_claims

CLAIM_TTL = dt.timedelta(hours=1)


@dataclass(frozen=True)
class AuditEntry:
    id: int
    at: dt.datetime
    finished_at: dt.datetime | None
    action: str
    actor: str  # user ref, or "<platform> user <name>"
    platform: str
    target: str
    result: str
    message: str | None
    details: Mapping[str, Any]

    def to_dict(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "at": self.at.isoformat(),
            "finished_at": self.finished_at.isoformat() if self.finished_at else None,
            "action": self.action,
            "actor": self.actor,
            "platform": self.platform,
            "target": self.target,
            "result": self.result,
            "message": self.message,
            "details": dict(self.details),
        }


class AuditLog:
    """Writes and reads the audit log; blocking (short statements)."""

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
                actor=r.actor_ref or f"{r.platform} user {r.actor_name or r.actor_id}",
                platform=r.platform,
                target=r.target,
                result=r.result,
                message=r.message,
                details=json.loads(r.details or "{}"),
            )
            for r in rows
        ]

    # ------------------------------------------------------------------ claims

    def claim(self, name: str, entry_id: int, at: dt.datetime) -> int | None:
        """Claim ``name`` for this run; the audit id of the run holding it when it is taken."""
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


def _aware(value: dt.datetime) -> dt.datetime:
    return value if value.tzinfo else value.replace(tzinfo=dt.UTC)
