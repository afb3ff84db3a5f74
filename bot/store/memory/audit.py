"""The audit log and the scaffold name claims in memory, for the fast test tier.

The same answers as ``bot.store.sql.audit`` (the contract test runs one set of assertions
against both): newest first, case-insensitive substring filters, details merged on finish,
a claim older than ``CLAIM_TTL`` taken over.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import json
import threading
from collections.abc import Mapping
from typing import Any

from bot.audit import CLAIM_TTL, AuditEntry, Requester, actor_shown, matches_text


@dataclasses.dataclass
class _Row:
    entry: AuditEntry
    actor_id: str
    actor_name: str | None
    actor_ref: str | None


def _plain(details: Mapping[str, Any]) -> dict[str, Any]:
    """Details as the SQL store gives them back: through JSON (``default=str``)."""
    loaded: dict[str, Any] = json.loads(json.dumps(dict(details), default=str))
    return loaded


class MemoryAuditLog:
    """``bot.ports.AuditLog`` in a list."""

    def __init__(self) -> None:
        self._rows: list[_Row] = []
        self._lock = threading.Lock()

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
        name = (requester.name or "")[:200] or None
        ref = str(requester.user_ref) if requester.user_ref else None
        with self._lock:
            entry = AuditEntry(
                id=len(self._rows) + 1,
                at=at,
                finished_at=None if result == "running" else at,
                action=action,
                actor=actor_shown(requester.platform, requester.id[:200], name, ref),
                platform=requester.platform,
                target=target[:320],
                result=result,
                message=message,
                details=_plain(details),
            )
            self._rows.append(_Row(entry, requester.id[:200], name, ref))
        return entry.id

    async def finish(
        self,
        entry_id: int,
        at: dt.datetime,
        result: str,
        message: str | None,
        details: Mapping[str, Any] | None = None,
    ) -> None:
        with self._lock:
            row = self._rows[entry_id - 1]
            merged = row.entry.details if details is None else {**row.entry.details, **details}
            row.entry = dataclasses.replace(
                row.entry, finished_at=at, result=result, message=message, details=_plain(merged)
            )

    async def entries(
        self,
        *,
        limit: int = 50,
        action: str | None = None,
        actor: str | None = None,
        target: str | None = None,
        since: dt.datetime | None = None,
    ) -> list[AuditEntry]:
        with self._lock:
            rows = list(reversed(self._rows))
        out = []
        for row in rows:
            e = row.entry
            if action and e.action != action:
                continue
            if actor and not matches_text(actor, row.actor_ref, row.actor_name, row.actor_id):
                continue
            if target and not matches_text(target, e.target):
                continue
            if since and e.at < since:
                continue
            out.append(e)
            if len(out) >= limit:
                break
        return out


class MemoryNameClaims:
    """``bot.ports.NameClaims`` in a dict."""

    def __init__(self) -> None:
        self._held: dict[str, tuple[int, dt.datetime]] = {}
        self._lock = threading.Lock()

    async def claim(self, name: str, entry_id: int, at: dt.datetime) -> int | None:
        key = name.lower()
        with self._lock:
            held = self._held.get(key)
            if held is not None and held[1] >= at - CLAIM_TTL:
                return held[0]
            self._held[key] = (entry_id, at)
        return None

    async def release(self, name: str, entry_id: int) -> None:
        with self._lock:
            if self._held.get(name.lower(), (None,))[0] == entry_id:
                del self._held[name.lower()]
