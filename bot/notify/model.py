"""What notifications are made of: lines, messages, subscriptions, and a batch to commit."""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from bot.notify.settings import CHANGE_TYPES
from bot.reports.changes import ChangeRow
from bot.reports.facts import CatalogFacts, short_ref
from bot.reports.settings import Target

# The conditions a sync can make true of an entity; each is told once, when it becomes true.
OWNER_UNKNOWN = "owner-unknown"
DOCS_STALE = "docs-stale"
CONDITIONS = (OWNER_UNKNOWN, DOCS_STALE)

# Outbox statuses.
PENDING = "pending"  # waiting (quiet hours), or not yet sent
SENDING = "sending"  # claimed by one replica: never sent again, whatever happens to it

# What a subscription follows.
TEAM, SYSTEM, ENTITY = "team", "system", "entity"

# Lines one message keeps (a message shows at most ``notifications.max_items`` of them, and
# counts the rest); past this, only counted, so one huge sync cannot make huge rows.
MAX_LINES = 500

_ORDER = {change: i for i, change in enumerate(CHANGE_TYPES)}


@dataclass(frozen=True)
class Line:
    """One thing to tell: a change to an entity, from one team's point of view."""

    change: str  # one of CHANGE_TYPES
    ref: str
    team: str | None  # the owner it concerns (the heading it goes under); None: no owner
    old_owner: str | None = None
    new_owner: str | None = None
    detail: str | None = None  # docs-stale: what is stale
    url: str | None = None  # where to look at it

    @property
    def sort_key(self) -> tuple[str, int, str]:
        return (self.team or "~", _ORDER.get(self.change, 99), self.ref)

    def text(self) -> str:
        name = short_ref(self.ref)
        old = short_ref(self.old_owner) if self.old_owner else "nobody"
        new = short_ref(self.new_owner) if self.new_owner else "nobody"
        if self.change == "added":
            return f"added: {name}"
        if self.change == "moved-in":
            return f"moved in: {name}, from {old}"
        if self.change == "moved-out":
            return f"moved out: {name}, now {new}'s"
        if self.change == "removed":
            return f"removed: {name}"
        if self.change == OWNER_UNKNOWN:
            return f"owner unknown: {name}: its owner {new} is not in the catalog"
        return f"docs stale: {name}: {self.detail or 'its docs are stale'}"

    def to_dict(self) -> dict[str, Any]:
        out = {"change": self.change, "ref": self.ref, "team": self.team}
        for key in ("old_owner", "new_owner", "detail", "url"):
            value = getattr(self, key)
            if value is not None:
                out[key] = value
        return out

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> Line:
        return cls(
            str(data["change"]),
            str(data["ref"]),
            data.get("team"),
            data.get("old_owner"),
            data.get("new_owner"),
            data.get("detail"),
            data.get("url"),
        )


@dataclass(frozen=True)
class Message:
    """One message for one channel: its lines, the teams' names, and when it may go."""

    target: Target
    lines: tuple[Line, ...]
    teams: Mapping[str, str] = field(default_factory=dict)  # team ref → label
    not_before: dt.datetime | None = None  # held (quiet hours) until then
    omitted: int = 0  # lines past ``MAX_LINES``, counted only

    def payload(self) -> dict[str, Any]:
        return {
            "lines": [line.to_dict() for line in self.lines],
            "teams": dict(self.teams),
            "omitted": self.omitted,
        }


@dataclass(frozen=True)
class Held:
    """A message as the outbox keeps it (claimed for sending)."""

    id: int
    batch: int
    target: Target
    lines: tuple[Line, ...]
    teams: Mapping[str, str]
    created_at: dt.datetime
    omitted: int = 0

    @classmethod
    def from_payload(
        cls, id: int, batch: int, target: Target, payload: Mapping[str, Any], at: dt.datetime
    ) -> Held:
        lines = tuple(Line.from_dict(x) for x in payload.get("lines", ()))
        teams = {str(k): str(v) for k, v in (payload.get("teams") or {}).items()}
        return cls(id, batch, target, lines, teams, at, int(payload.get("omitted") or 0))


@dataclass(frozen=True)
class OutboxRow:
    """A message in the outbox and how it ended (for status and tests)."""

    id: int
    batch: int
    target: Target
    status: str
    lines: int
    not_before: dt.datetime | None
    created_at: dt.datetime
    finished_at: dt.datetime | None
    error: str | None


@dataclass(frozen=True)
class Cursor:
    """How far notifications went: the last change id told, and the cursor's version (each
    committed batch adds one; a batch is committed only over the version it was planned on)."""

    last_change_id: int
    version: int


@dataclass(frozen=True)
class NotifyInputs:
    """What one planning pass reads, together: the cursor, the catalog, the change rows after
    the cursor, and the conditions already told."""

    cursor: Cursor | None
    facts: CatalogFacts
    rows: Sequence[ChangeRow]
    conditions: frozenset[tuple[str, str]]  # (ref, condition)


@dataclass(frozen=True)
class Batch:
    """What one planning pass commits at once: the cursor moved (from ``base`` to ``upto``),
    the conditions now told, and the messages to send."""

    base: Cursor | None  # None: no cursor yet (the first pass records the baseline only)
    upto: int
    added: frozenset[tuple[str, str]]
    dropped: frozenset[tuple[str, str]]
    messages: tuple[Message, ...]


@dataclass(frozen=True)
class Subscription:
    """A channel following an entity, a system, or a team."""

    platform: str
    channel: str
    target: str  # the followed entity's ref
    kind: str  # team | system | entity
    created_by: str
    created_at: dt.datetime

    @property
    def label(self) -> str:
        return short_ref(self.target)
