"""What an attestation campaign is made of, and how its options are read.

A campaign asks each owning team about the entities in its scope; every answer is kept (who,
when, on which platform, and the entity's version then), and an item's state is its newest
answer. Everything here is pure: no store, no clock of its own.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from bot.catalog.model import Entity, EntityRef
from bot.catalog.search import SearchDoc
from bot.errors import BadArguments, CatalogError

CONFIRMED = "confirmed"
NOT_OURS = "not-ours"
NEEDS_CHANGES = "needs-changes"
ANSWERS = (CONFIRMED, NOT_OURS, NEEDS_CHANGES)
PENDING = "pending"

# The kinds a campaign asks about when no ``kind:`` is given: those that must have an owner.
DEFAULT_KINDS = ("component", "api", "resource", "system", "domain")
SCOPE_KEYS = ("kind", "type", "lifecycle", "owner", "system", "namespace", "tag")
MAX_SCOPE_CHARS = 500
MAX_NOTE_CHARS = 1000
MAX_ITEMS = 20_000  # entities one campaign may ask about (a bound on its work and posts)

MIN_DUE = dt.timedelta(hours=1)
MAX_DUE = dt.timedelta(days=365)
MIN_REMINDER = dt.timedelta(hours=1)
DEFAULT_DUE = "14d"
DEFAULT_REMINDERS = "3d"

_DURATION = re.compile(r"(\d{1,4})([hdw])")
_UNITS = {"h": dt.timedelta(hours=1), "d": dt.timedelta(days=1), "w": dt.timedelta(weeks=1)}


def parse_duration(text: str, option: str) -> dt.timedelta:
    """``14d``, ``36h`` or ``2w``; ``BadArguments`` naming ``--option`` otherwise."""
    match = _DURATION.fullmatch(text.strip().lower())
    if not match:
        raise BadArguments(f"--{option} takes a duration such as 14d, 36h or 2w, not “{text}”.")
    return int(match.group(1)) * _UNITS[match.group(2)]


def shown_duration(value: dt.timedelta) -> str:
    """``3d``, ``36h``: the shortest exact form."""
    hours = int(value.total_seconds() // 3600)
    if hours % 24 == 0:
        return f"{hours // 24}d"
    return f"{hours}h"


def campaign_times(due: str, reminders: str) -> tuple[dt.timedelta, dt.timedelta | None]:
    """``--due`` and ``--reminders`` checked together (``none`` or ``0``: no reminders)."""
    until = parse_duration(due, "due")
    if not MIN_DUE <= until <= MAX_DUE:
        raise BadArguments(f"--due must be between 1h and 365d, not {due}.")
    if reminders.strip().lower() in ("none", "0", "off"):
        return until, None
    every = parse_duration(reminders, "reminders")
    if every < MIN_REMINDER:
        raise BadArguments(f"--reminders must be at least 1h, not {reminders}.")
    if every >= until:
        raise BadArguments(
            f"--reminders {reminders} is not shorter than --due {due}: no reminder would go "
            "out. Shorten it, or say --reminders none."
        )
    return until, every


@dataclass(frozen=True)
class Scope:
    """Which entities a campaign asks about: ``kind:component,lifecycle:production``.

    The same key twice is either value; different keys must all match. Values are compared
    case-insensitively; ``owner:`` and ``system:`` take a name or a ref.
    """

    terms: Mapping[str, frozenset[str]] = field(default_factory=dict)

    @property
    def text(self) -> str:
        if not self.terms:
            return f"kind:{','.join(DEFAULT_KINDS)} (every kind that needs an owner)"
        return ",".join(f"{k}:{v}" for k in SCOPE_KEYS for v in sorted(self.terms.get(k, ())))

    @property
    def stored(self) -> str:
        """The form kept with the campaign (``parse_scope`` reads it back)."""
        return ",".join(f"{k}:{v}" for k in SCOPE_KEYS for v in sorted(self.terms.get(k, ())))

    @property
    def kinds(self) -> tuple[str, ...]:
        return tuple(sorted(self.terms.get("kind", DEFAULT_KINDS)))

    def matches(self, entity: Entity, owner: str | None) -> bool:
        """Whether ``entity`` (whose owner ref is ``owner``) is in scope."""
        if "kind" not in self.terms and entity.ref.kind not in DEFAULT_KINDS:
            return False
        return all(_values(key, entity, owner) & wanted for key, wanted in self.terms.items())

    def may_match(self, doc: SearchDoc) -> bool:
        """Whether an entity with this search summary can be in scope (every term but
        ``system:``, which the summary lacks): a cheap test before its document is read."""
        kind = doc.kind.lower()
        if "kind" not in self.terms and kind not in DEFAULT_KINDS:
            return False
        values = {
            "kind": {kind},
            "type": {(doc.spec_type or "").lower()},
            "lifecycle": {(doc.lifecycle or "").lower()},
            "owner": {doc.owner or ""},
            "namespace": {doc.namespace.lower()},
            "tag": {t.lower() for t in doc.tags},
        }
        return all(values[key] & wanted for key, wanted in self.terms.items() if key in values)


def _values(key: str, entity: Entity, owner: str | None) -> set[str]:
    """What ``entity`` has for a scope key (only the keys a scope names are worked out)."""
    if key == "kind":
        return {entity.ref.kind}
    if key == "type":
        return {(entity.spec_type or "").lower()}
    if key == "lifecycle":
        return {(entity.lifecycle or "").lower()}
    if key == "owner":
        return {owner or ""}
    if key == "system":
        return {_ref_or_blank(entity.spec.get("system"), "system", entity.namespace)}
    if key == "namespace":
        return {entity.namespace.lower()}
    return {t.lower() for t in entity.tags}


def _ref_or_blank(value: Any, kind: str, namespace: str = "default") -> str:
    if not isinstance(value, str) or not value.strip():
        return ""
    try:
        return str(EntityRef.parse(value.strip(), kind, namespace.lower()))
    except CatalogError:
        return value.strip().lower()


def parse_scope(text: str) -> Scope:
    """``kind:component,lifecycle:production`` as a ``Scope``; ``BadArguments`` naming the
    term that is wrong."""
    text = text.strip()
    if len(text) > MAX_SCOPE_CHARS:
        raise BadArguments(f"--scope is too long ({len(text)} characters; at most 500).")
    terms: dict[str, set[str]] = {}
    for raw in (t.strip() for t in text.split(",")):
        if not raw:
            continue
        key, colon, value = raw.partition(":")
        key, value = key.strip().lower(), value.strip().lower()
        if not colon or not value:
            raise BadArguments(
                f"--scope term “{raw}” needs key:value (e.g. kind:component,lifecycle:production)."
            )
        if key not in SCOPE_KEYS:
            raise BadArguments(
                f"--scope term “{raw}”: there is no key {key} (keys: {', '.join(SCOPE_KEYS)})."
            )
        if key in ("owner", "system"):
            value = _ref_or_blank(value, "group" if key == "owner" else "system")
        terms.setdefault(key, set()).add(value)
    return Scope({k: frozenset(v) for k, v in terms.items()})


def entity_version(entity: Entity) -> str:
    """The entity's version as stored: a hash of its document (an etag; any edit changes it)."""
    data = json.dumps(entity.raw, sort_keys=True, separators=(",", ":"), default=str)
    return hashlib.sha256(data.encode()).hexdigest()[:16]


@dataclass(frozen=True)
class Campaign:
    """One campaign: its scope, who started it, when it is due and how often it reminds."""

    id: int
    scope: str
    created_by: str
    created_at: dt.datetime
    due_at: dt.datetime
    remind_every: dt.timedelta | None
    closed_at: dt.datetime | None = None

    def open_at(self, now: dt.datetime) -> bool:
        return self.closed_at is None and now < self.due_at

    def reminder_due(self, now: dt.datetime) -> dt.datetime | None:
        """The newest reminder time at or before ``now`` (reminders run from the start, every
        ``remind_every``, before the due date); None when none is due yet, or any more."""
        if self.remind_every is None or not self.open_at(now):
            return None
        elapsed = now - self.created_at
        count = int(elapsed / self.remind_every)
        if count < 1:
            return None
        at = self.created_at + count * self.remind_every
        return at if at < self.due_at else None

    @property
    def schedule_id(self) -> str:
        """The id its reminders are claimed under in the claim store."""
        return f"attest:{self.id}"

    def to_dict(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "scope": self.scope,
            "created_by": self.created_by,
            "created_at": self.created_at.isoformat(),
            "due_at": self.due_at.isoformat(),
            "reminders": shown_duration(self.remind_every) if self.remind_every else None,
            "closed_at": self.closed_at.isoformat() if self.closed_at else None,
        }


@dataclass(frozen=True)
class Item:
    """An entity a campaign asks its owning team about, with its version when asked."""

    campaign_id: int
    entity_ref: str
    team_ref: str
    version: str
    title: str


@dataclass(frozen=True)
class Answer:
    """One answer: what, by whom (chat id and catalog User), when, and the entity's version."""

    campaign_id: int
    entity_ref: str
    team_ref: str
    answer: str
    actor: str  # "slack:U0ANA (Ana Silva)"
    user_ref: str | None
    platform: str
    at: dt.datetime
    version: str
    note: str | None = None
    named_team: str | None = None  # "not ours": the team the answerer says owns it

    def to_dict(self) -> dict[str, Any]:
        return {
            "campaign": self.campaign_id,
            "entity": self.entity_ref,
            "team": self.team_ref,
            "answer": self.answer,
            "by": self.actor,
            "user": self.user_ref,
            "platform": self.platform,
            "at": self.at.isoformat(),
            "version": self.version,
            "note": self.note,
            "named_team": self.named_team,
        }


def latest(answers: Iterable[Answer]) -> dict[str, Answer]:
    """Each entity's newest answer (answers come oldest first)."""
    out: dict[str, Answer] = {}
    for answer in answers:
        out[answer.entity_ref] = answer
    return out


@dataclass(frozen=True)
class TeamProgress:
    """How far one team got."""

    team: str
    total: int
    confirmed: int = 0
    not_ours: int = 0
    needs_changes: int = 0

    @property
    def answered(self) -> int:
        return self.confirmed + self.not_ours + self.needs_changes

    @property
    def pending(self) -> int:
        return self.total - self.answered

    def to_dict(self) -> dict[str, Any]:
        return {
            "team": self.team,
            "total": self.total,
            "confirmed": self.confirmed,
            "not_ours": self.not_ours,
            "needs_changes": self.needs_changes,
            "pending": self.pending,
        }


def progress(items: Sequence[Item], answers: Iterable[Answer]) -> list[TeamProgress]:
    """Per team (by ref), how many of its items were answered, and how."""
    newest = latest(answers)
    counts: dict[str, dict[str, int]] = {}
    for item in items:
        team = counts.setdefault(item.team_ref, {"total": 0, **{a: 0 for a in ANSWERS}})
        team["total"] += 1
        found = newest.get(item.entity_ref)
        if found is not None:
            team[found.answer] += 1
    return [
        TeamProgress(
            team,
            c["total"],
            c[CONFIRMED],
            c[NOT_OURS],
            c[NEEDS_CHANGES],
        )
        for team, c in sorted(counts.items())
    ]
