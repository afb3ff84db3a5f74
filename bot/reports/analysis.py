"""One pass over the catalog for every report of a run: findings, changes, metrics per scope.

A scope is ``"platform"`` (the whole catalog) or a Group ref (that team's own entities). An
``Analysis`` is built once (CPU-bound: run it in a thread) and then sliced per scope, so a run
that posts a thousand team digests reads the database once.
"""

from __future__ import annotations

import datetime as dt
from collections import defaultdict
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import asdict, dataclass, field
from typing import Any

from bot.docs.settings import DocsSettings
from bot.reports.changes import ChangeRow, NetChange, net_changes, window
from bot.reports.facts import OWNED_KINDS, CatalogFacts, Item, short_ref
from bot.reports.findings import (
    Finding,
    docs_findings,
    ownership_gaps,
    schedule_gaps,
    sort_findings,
)
from bot.reports.oncall import OnCallCheck
from bot.reports.settings import ReportsSettings
from bot.reports.store import PLATFORM_SCOPE, Fault, ReportInputs, Snapshot


@dataclass(frozen=True)
class Metrics:
    """What a digest counts for its scope; stored with each posted digest for the trend."""

    entities: int  # every entity (platform) or every entity the team owns
    need_owner: int  # of those, the kinds that must have an owner
    well_owned: int  # owned by a Group with people, or by a User in a Group
    gaps: int
    docs: int  # docs problems, components without docs included
    undocumented: int
    added: int = 0
    removed: int = 0
    owner_changed: int = 0

    @property
    def coverage(self) -> float | None:
        """Ownership coverage in percent (None when nothing needs an owner)."""
        if not self.need_owner:
            return None
        return 100.0 * self.well_owned / self.need_owner

    @property
    def changes(self) -> int:
        return self.added + self.removed + self.owner_changed

    def to_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = asdict(self)
        out["coverage"] = None if self.coverage is None else round(self.coverage, 1)
        return out

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> Metrics:
        """Read a stored snapshot; a count it lacks (an older version's) reads as 0."""
        return cls(**{name: int(data.get(name) or 0) for name in cls.__dataclass_fields__})


@dataclass(frozen=True)
class Window:
    """The changes a scope's report covers, and where the window starts."""

    changes: tuple[NetChange, ...]
    after: Snapshot | None  # the previous digest of this scope, when there is one
    since: dt.datetime | None  # else: changes since this time


@dataclass
class Analysis:
    """Everything a run's reports need, computed once."""

    now: dt.datetime
    facts: CatalogFacts
    gaps: list[Finding]
    docs: list[Finding]
    docs_indexed: bool  # False: the docs index is off, so only undocumented components show
    thresholds: DocsSettings
    settings: ReportsSettings
    change_rows: list[ChangeRow]
    snapshots: dict[str, Snapshot]
    faults: list[Fault]
    oncall: OnCallCheck = field(default_factory=OnCallCheck)
    _by_team: dict[str, tuple[list[Finding], list[Finding]]] = field(default_factory=dict)
    _changes_by_owner: dict[str, list[ChangeRow]] = field(default_factory=dict)
    _member_cache: dict[str, set[str]] = field(default_factory=dict)

    def __post_init__(self) -> None:
        gaps: dict[str, list[Finding]] = defaultdict(list)
        docs: dict[str, list[Finding]] = defaultdict(list)
        for f in self.gaps:
            for team in f.teams:
                gaps[team].append(f)
        for f in self.docs:
            for team in f.teams:
                docs[team].append(f)
        for team in set(gaps) | set(docs):
            self._by_team[team] = (gaps.get(team, []), docs.get(team, []))
        # A team's changes are the whole history of every entity it had a hand in, so that
        # an entity handed on twice shows first owner to last.
        by_ref: dict[str, list[ChangeRow]] = defaultdict(list)
        refs_of: dict[str, set[str]] = defaultdict(set)
        for row in self.change_rows:
            by_ref[row.ref].append(row)
            for owner in (row.old_owner, row.new_owner):
                if owner:
                    refs_of[owner].add(row.ref)
        self._changes_by_owner = {
            owner: sorted((r for ref in refs for r in by_ref[ref]), key=lambda r: r.id)
            for owner, refs in refs_of.items()
        }

    # --- slicing per scope ---------------------------------------------------------------

    def is_platform(self, scope: str) -> bool:
        return scope == PLATFORM_SCOPE

    def team(self, scope: str) -> Item | None:
        item = self.facts.items.get(scope)
        return item if item is not None and item.kind == "group" else None

    def gaps_of(self, scope: str) -> list[Finding]:
        return self.gaps if self.is_platform(scope) else self._by_team.get(scope, ([], []))[0]

    def docs_of(self, scope: str) -> list[Finding]:
        return self.docs if self.is_platform(scope) else self._by_team.get(scope, ([], []))[1]

    def unchecked_of(self, scope: str) -> tuple[str, ...]:
        """Lines naming the on-call schedules of this scope that could not be checked."""
        if self.is_platform(scope):
            return self.oncall.unchecked_lines()
        items = [self.facts.items[scope]] if scope in self.facts.items else []
        targets = [t for i in (*items, *self.facts.owned_by(scope)) for t in i.oncall]
        return self.oncall.unchecked_lines(targets)

    def window(self, scope: str) -> Window:
        """Net changes since this scope's last digest (or the last ``changes_days`` days)."""
        previous = self.snapshots.get(scope)
        after_id = previous.last_change_id if previous else None
        since = None if previous else self.now - dt.timedelta(days=self.settings.changes_days)
        rows = (
            self.change_rows if self.is_platform(scope) else self._changes_by_owner.get(scope, [])
        )
        net = net_changes(window(rows, after_id, since, self.facts.last_change_id))
        if not self.is_platform(scope):
            net = [c for c in net if scope in c.owners]
        return Window(tuple(net), previous, since)

    def metrics(self, scope: str, changes: Iterable[NetChange] = ()) -> Metrics:
        facts = self.facts
        platform = self.is_platform(scope)
        items = list(facts.items.values()) if platform else facts.owned_by(scope)
        need = [i for i in items if i.kind in OWNED_KINDS]
        well = sum(1 for i in need if self._well_owned(i))
        docs = self.docs_of(scope)
        counts = {"added": 0, "removed": 0, "owner-changed": 0}
        for c in changes:
            counts[c.change] += 1
        return Metrics(
            entities=len(items),
            need_owner=len(need),
            well_owned=well,
            gaps=len(self.gaps_of(scope)),
            docs=len(docs),
            undocumented=sum(1 for f in docs if f.code == "undocumented"),
            added=counts["added"],
            removed=counts["removed"],
            owner_changed=counts["owner-changed"],
        )

    def _well_owned(self, item: Item) -> bool:
        owner = self.facts.items.get(item.owner) if item.owner else None
        if owner is None:
            return False
        if owner.kind == "group":
            return bool(self._members(owner.ref))
        if owner.kind == "user":
            return bool(self.facts.groups_of.get(owner.ref))
        return False

    def _members(self, group: str) -> set[str]:
        if group not in self._member_cache:
            self._member_cache[group] = self.facts.effective_members(group)
        return self._member_cache[group]

    def team_scopes(self, platforms: Iterable[str]) -> list[tuple[Item, dict[str, str]]]:
        """Groups with a chat channel on any of ``platforms``, and those channels."""
        wanted = set(platforms)
        out = []
        for group in sorted(self.facts.groups(), key=lambda g: g.ref):
            channels = {p: c for p, c in group.channels.items() if p in wanted}
            if channels:
                out.append((group, channels))
        return out

    def offenders(self, limit: int) -> list[tuple[str, int, int]]:
        """(owner ref, gaps, docs problems), most problems first."""
        counts: dict[str, list[int]] = defaultdict(lambda: [0, 0])
        for index, found in enumerate((self.gaps, self.docs)):
            for f in found:
                keys = f.teams or ((f.owner,) if f.owner else ())
                for key in keys:
                    counts[key][index] += 1
        ranked = sorted(counts.items(), key=lambda kv: (-(kv[1][0] + kv[1][1]), kv[0]))
        return [(ref, g, d) for ref, (g, d) in ranked[:limit]]

    def owner_label(self, ref: str) -> str:
        item = self.facts.items.get(ref)
        if item is None:
            return f"{short_ref(ref)} (not in the catalog)"
        return item.label


def analyse(
    inputs: ReportInputs,
    now: dt.datetime,
    settings: ReportsSettings,
    thresholds: DocsSettings,
    disputes: Sequence[Finding] = (),
    oncall: OnCallCheck | None = None,
) -> Analysis:
    """Find every problem in what the reports store read (CPU-bound: run it in a thread).

    ``disputes`` are gaps owners reported ("not ours"); one stays while the entity still has
    the owner who disputed it. ``oncall`` is what the on-call schedule check found
    (``bot.reports.oncall``)."""
    facts = inputs.facts
    standing = [
        f
        for f in disputes
        if (item := facts.items.get(f.entity)) is not None and item.owner == f.owner
    ]
    checked = oncall or OnCallCheck()
    return Analysis(
        now=now,
        facts=facts,
        gaps=sort_findings(
            [*ownership_gaps(facts), *schedule_gaps(facts, checked.results), *standing]
        ),
        docs=docs_findings(facts, now, thresholds, settings.docs_required),
        docs_indexed=thresholds.enabled,
        thresholds=thresholds,
        settings=settings,
        change_rows=inputs.change_rows,
        snapshots=inputs.snapshots,
        faults=inputs.faults,
        oncall=checked,
    )
