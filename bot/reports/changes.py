"""Catalog changes since the last digest: added, removed, and owner changed, net per entity.

Sync records every change in the ``changes`` table with an increasing id; a digest remembers
the last id it covered, so "since the last digest" is exact whatever the clocks say. An entity
added and removed again in between is no change; an owner changed twice shows first to last.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any

from bot.reports.facts import short_ref

CHANGE_KINDS = ("added", "removed", "owner-changed")


@dataclass(frozen=True)
class ChangeRow:
    """One row of the ``changes`` table."""

    id: int
    at: dt.datetime
    ref: str
    change: str  # added | removed | modified | owner_changed
    old_owner: str | None
    new_owner: str | None


@dataclass(frozen=True)
class NetChange:
    """What changed for one entity over a window."""

    ref: str
    change: str  # added | removed | owner-changed
    old_owner: str | None
    new_owner: str | None
    at: dt.datetime  # the last change in the window

    @property
    def owners(self) -> tuple[str, ...]:
        return tuple(o for o in (self.old_owner, self.new_owner) if o)

    def line_text(self) -> str:
        name = short_ref(self.ref)
        if self.change == "added":
            owner = f", owned by {short_ref(self.new_owner)}" if self.new_owner else ""
            return f"added {name}{owner}"
        if self.change == "removed":
            owner = f" (was {short_ref(self.old_owner)}'s)" if self.old_owner else ""
            return f"removed {name}{owner}"
        old = short_ref(self.old_owner) if self.old_owner else "nobody"
        new = short_ref(self.new_owner) if self.new_owner else "nobody"
        return f"{name} moved from {old} to {new}"

    def to_dict(self) -> dict[str, Any]:
        return {
            "ref": self.ref,
            "change": self.change,
            "old_owner": self.old_owner,
            "new_owner": self.new_owner,
            "at": self.at.isoformat(),
        }


def net_changes(rows: Iterable[ChangeRow]) -> list[NetChange]:
    """Fold rows (oldest first) into one net change per entity; no-ops drop out."""
    first: dict[str, ChangeRow] = {}
    last: dict[str, ChangeRow] = {}
    for row in rows:
        first.setdefault(row.ref, row)
        last[row.ref] = row
    out: list[NetChange] = []
    for ref, start in first.items():
        end = last[ref]
        existed = start.change != "added"
        exists = end.change != "removed"
        before = start.old_owner
        after = end.new_owner
        if not existed and exists:
            out.append(NetChange(ref, "added", None, after, end.at))
        elif existed and not exists:
            out.append(NetChange(ref, "removed", before, None, end.at))
        elif existed and exists and before != after:
            out.append(NetChange(ref, "owner-changed", before, after, end.at))
    order = {kind: i for i, kind in enumerate(CHANGE_KINDS)}
    out.sort(key=lambda c: (order[c.change], c.ref))
    return out


def window(
    rows: Sequence[ChangeRow], after_id: int | None, since: dt.datetime | None, upto_id: int
) -> list[ChangeRow]:
    """The rows of one scope's window: after its last digest's id, else since a time."""
    if after_id is not None:
        return [r for r in rows if after_id < r.id <= upto_id]
    if since is not None:
        return [r for r in rows if r.at >= since and r.id <= upto_id]
    return [r for r in rows if r.id <= upto_id]
