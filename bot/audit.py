"""The audit log's domain: who asked (``Requester``) and what was recorded (``AuditEntry``).

One entry per action (``scaffold``, ``callboard sync``, a refused admin command, ...): written
when the action starts (``running``) and completed when it ends (``succeeded``, ``failed``), or
written once for a refusal (``refused``) or rejected values (``invalid``). ``callboard audit``
reads it. The ports that store it are ``bot.ports.AuditLog`` and ``bot.ports.NameClaims``;
``bot.store.sql.audit`` and ``bot.store.memory.audit`` implement them.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from bot.catalog.model import EntityRef

# A name claimed for a scaffold run longer ago than this is stale (the run died): taken over.
CLAIM_TTL = dt.timedelta(hours=1)


@dataclass(frozen=True)
class Requester:
    """Who asked for an action, as the chat platform and the catalog know them."""

    platform: str
    id: str
    name: str | None = None
    user_ref: EntityRef | None = None
    groups: tuple[EntityRef, ...] = ()  # direct memberships (spec.memberOf and members)
    unknown_reason: str | None = None  # why the user could not be found in the catalog

    @property
    def shown(self) -> str:
        if self.user_ref is not None:
            return str(self.user_ref)
        return f"{self.platform} user {self.name or self.id}"


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


def actor_shown(platform: str, actor_id: str, actor_name: str | None, actor_ref: str | None) -> str:
    """How an entry names its actor: the catalog User, else the chat user."""
    return actor_ref or f"{platform} user {actor_name or actor_id}"


def matches_text(needle: str, *fields: str | None) -> bool:
    """The ``actor``/``target`` filters of ``entries``: a case-insensitive substring of any."""
    low = needle.lower()
    return any(f is not None and low in f.lower() for f in fields)
