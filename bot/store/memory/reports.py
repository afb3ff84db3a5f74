"""``ReportsStore`` in memory: catalog facts and change rows given, snapshots and faults kept.

The same rules as ``bot.store.sql.reports`` for one process: a snapshot once per (scope,
schedule, run), each scope's newest kept when pruning, a fault reported by one caller.
"""

from __future__ import annotations

import datetime as dt
import json
from collections import defaultdict
from collections.abc import Callable, Mapping, Sequence
from dataclasses import replace

from bot.annotations import (
    CHANNEL_ANNOTATIONS,
    ONCALL_PREFIXES,
    TECHDOCS_ENTITY,
    TECHDOCS_PREFIX,
    TECHDOCS_REF,
)
from bot.docs.model import DocsFreshness
from bot.oncall.model import targets_of
from bot.ports import DocsQueries
from bot.reports.changes import ChangeRow
from bot.reports.facts import CatalogFacts, Item
from bot.reports.store import Fault, ReportInputs, RunResults, Snapshot
from bot.store.memory.catalog import MemoryCatalogRows


class MemoryReportsStore:
    """Reports' state for tests of handlers and runs without a database."""

    def __init__(self, facts: CatalogFacts, change_rows: Sequence[ChangeRow] = ()) -> None:
        self.facts = facts
        self.change_rows = list(change_rows)
        self.snapshots: list[Snapshot] = []  # oldest first
        self._faults: dict[tuple[str, str], Fault] = {}

    async def read(self, changes_since: dt.datetime) -> ReportInputs:
        newest: dict[str, Snapshot] = {}
        for snapshot in self.snapshots:
            newest[snapshot.scope] = snapshot
        after = min((s.last_change_id for s in newest.values()), default=None)
        rows = [
            r
            for r in self.change_rows
            if r.at >= changes_since or (after is not None and r.id > after)
        ]
        return ReportInputs(self.facts, newest, rows, await self.faults())

    async def record_run(self, results: RunResults, now: dt.datetime) -> None:
        for snapshot in results.snapshots:
            run = (snapshot.scope, snapshot.schedule_id, snapshot.scheduled_for)
            if all((s.scope, s.schedule_id, s.scheduled_for) != run for s in self.snapshots):
                self.snapshots.append(snapshot)
        newest = {s.scope: s for s in self.snapshots}
        self.snapshots = [
            s for s in self.snapshots if s.taken_at >= results.prune_before or newest[s.scope] is s
        ]
        for b in results.broken:
            key = (b.platform, b.channel)
            found = self._faults.get(key)
            error = b.error[:2000]
            if found is None:
                self._faults[key] = Fault(b.platform, b.channel, b.scope, error, now, now, None)
            else:
                self._faults[key] = replace(found, scope=b.scope, error=error, last_seen=now)
        for platform, channel in results.reached:
            self._faults.pop((platform, channel), None)

    async def claim_fault_notices(self, now: dt.datetime) -> list[Fault]:
        claimed = []
        for key, fault in sorted(self._faults.items()):
            if fault.reported_at is None:
                self._faults[key] = replace(fault, reported_at=now)
                claimed.append(self._faults[key])
        return claimed

    async def release_fault_notices(self, faults: Sequence[Fault]) -> None:
        for f in faults:
            key = (f.platform, f.channel)
            if key in self._faults:
                self._faults[key] = replace(self._faults[key], reported_at=None)

    async def faults(self, unreported_only: bool = False) -> list[Fault]:
        return [
            f
            for _, f in sorted(self._faults.items())
            if not unreported_only or f.reported_at is None
        ]


def catalog_facts(
    rows: MemoryCatalogRows, freshness: Mapping[str, DocsFreshness], last_change_id: int
) -> CatalogFacts:
    """The memory catalog as reports see it (what ``bot.store.sql.reports.load_facts`` reads
    from the tables)."""
    items: dict[str, Item] = {}
    relations: list[tuple[str, str, str]] = []
    for ref, c in rows.stored_candidates().items():
        channels: dict[str, str] = {}
        ann: dict[str, str] = {}
        if (
            c.kind == "group"
            or TECHDOCS_PREFIX in c.data
            or any(p in c.data for p in ONCALL_PREFIXES)
        ):
            meta = json.loads(c.data).get("metadata") or {}
            raw = meta.get("annotations") or {}
            ann = {str(k): str(v) for k, v in raw.items() if isinstance(v, str)}
        if c.kind == "group":
            for platform, keys in CHANNEL_ANNOTATIONS.items():
                value = next((ann[k].strip() for k in keys if ann.get(k, "").strip()), None)
                if value:
                    channels[platform] = value
        items[ref] = Item(
            ref=ref,
            kind=c.kind,
            name=c.name,
            title=c.title,
            owner=c.owner,
            lifecycle=c.lifecycle.lower() if c.lifecycle else None,
            spec_type=c.spec_type,
            file=c.file or None,
            line=c.line,
            documented=bool(
                ann.get(TECHDOCS_REF, "").strip() or ann.get(TECHDOCS_ENTITY, "").strip()
            ),
            channels=channels,
            oncall=tuple(targets_of(ann)),
        )
        relations += [r for r in c.relations if r[1] in ("memberOf", "childOf")]
    members: dict[str, set[str]] = defaultdict(set)
    groups_of: dict[str, set[str]] = defaultdict(set)
    children: dict[str, set[str]] = defaultdict(set)
    for source, rel_type, target in relations:
        if source not in items or target not in items:
            continue  # a dangling ref: the user (or group) is not in the catalog
        if rel_type == "memberOf" and items[source].kind == "user":
            members[target].add(source)
            groups_of[source].add(target)
        elif rel_type == "childOf" and items[target].kind == "group":
            children[target].add(source)
    owned: dict[str, list[str]] = defaultdict(list)
    for item in sorted(items.values(), key=lambda i: i.ref):
        if item.owner:
            owned[item.owner].append(item.ref)
    return CatalogFacts(
        items=items,
        members=dict(members),
        groups_of=dict(groups_of),
        children=dict(children),
        owned=dict(owned),
        freshness=dict(freshness),
        last_change_id=last_change_id,
        generation=rows.generation(),
    )


class CatalogReportsStore(MemoryReportsStore):
    """``ReportsStore`` over a memory catalog: the facts are read from ``rows`` and ``docs``
    at each run, the changes from ``changes`` (a memory sync store's log)."""

    def __init__(
        self,
        rows: MemoryCatalogRows,
        docs: DocsQueries,
        changes: Callable[[], Sequence[ChangeRow]] = list,
    ) -> None:
        super().__init__(catalog_facts(rows, {}, 0))
        self.rows = rows
        self.docs = docs
        self.changes = changes

    async def read(self, changes_since: dt.datetime) -> ReportInputs:
        self.change_rows = list(self.changes())
        last = max((r.id for r in self.change_rows), default=0)
        self.facts = catalog_facts(self.rows, await self.docs.freshness(), last)
        return await super().read(changes_since)
