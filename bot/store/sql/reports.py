"""``ReportsStore`` on SQL: the catalog read once for reports, change rows, digest snapshots,
and channel faults.

Every write that decides "who does it" is a single statement whose outcome answers:
``INSERT ... ON CONFLICT DO NOTHING`` and ``UPDATE ... WHERE reported_at IS NULL``. Both behave
the same on SQLite and PostgreSQL, so several replicas need no other coordination. Every call
of the port runs in the store's pool, off the event loop.
"""

from __future__ import annotations

import datetime as dt
import json
from collections import defaultdict
from collections.abc import Iterable, Mapping, Sequence
from concurrent.futures import Executor

from sqlalchemy import Connection, delete, func, or_, select, update

from bot.annotations import (
    CHANNEL_ANNOTATIONS,
    ONCALL_PREFIXES,
    TECHDOCS_ENTITY,
    TECHDOCS_PREFIX,
    TECHDOCS_REF,
)
from bot.oncall.model import targets_of
from bot.reports.changes import ChangeRow
from bot.reports.facts import CatalogFacts, Item
from bot.reports.store import Fault, ReportInputs, RunResults, Snapshot
from bot.store.db import Database
from bot.store.schema import changes, channel_faults, entities, relations, report_snapshots
from bot.store.sql.docs import read_freshness
from bot.store.sql.rows import Offloaded, insert_ignore, utc


class SqlReportsStore(Offloaded):
    """Reports' reads and writes on the app's database."""

    def __init__(self, db: Database, pool: Executor | None = None) -> None:
        super().__init__(pool)
        self.db = db

    def read_now(self, changes_since: dt.datetime) -> ReportInputs:
        """``read``, blocking: one connection, so the parts agree with each other."""
        with self.db.engine.connect() as conn:
            facts = load_facts(conn, self.db.generation(conn))
            snapshots = latest_snapshots(conn)
            after_ids = [s.last_change_id for s in snapshots.values()]
            # Rows every scope's window may need: after the oldest snapshot, and the recent
            # days for scopes that have none yet.
            rows = read_changes(conn, min(after_ids) if after_ids else None, changes_since)
            faults = open_faults(conn)
        return ReportInputs(facts, snapshots, rows, faults)

    async def read(self, changes_since: dt.datetime) -> ReportInputs:
        return await self._run(self.read_now, changes_since)

    def _record(self, results: RunResults, now: dt.datetime) -> None:
        with self.db.engine.begin() as conn:
            for snapshot in results.snapshots:
                write_snapshot(conn, snapshot)
            prune_snapshots(conn, results.prune_before)
            for b in results.broken:
                record_fault(conn, b.platform, b.channel, b.scope, b.error, now)
            for platform, channel in results.reached:
                clear_fault(conn, platform, channel)

    async def record_run(self, results: RunResults, now: dt.datetime) -> None:
        await self._run(self._record, results, now)

    def _claim_notices(self, now: dt.datetime) -> list[Fault]:
        with self.db.engine.begin() as conn:
            return [
                f
                for f in open_faults(conn, unreported_only=True)
                if claim_fault_report(conn, f, now)
            ]

    async def claim_fault_notices(self, now: dt.datetime) -> list[Fault]:
        return await self._run(self._claim_notices, now)

    def _release(self, faults: Sequence[Fault]) -> None:
        with self.db.engine.begin() as conn:
            for f in faults:
                release_fault_report(conn, f)

    async def release_fault_notices(self, faults: Sequence[Fault]) -> None:
        await self._run(self._release, list(faults))

    def faults_now(self, unreported_only: bool = False) -> list[Fault]:
        with self.db.engine.connect() as conn:
            return open_faults(conn, unreported_only)

    async def faults(self, unreported_only: bool = False) -> list[Fault]:
        return await self._run(self.faults_now, unreported_only)


def _at(value: dt.datetime) -> dt.datetime:
    return value if value.tzinfo else value.replace(tzinfo=dt.UTC)


def load_facts(conn: Connection, generation: int) -> CatalogFacts:
    items: dict[str, Item] = {}
    annotated: dict[str, Mapping[str, str]] = {}
    # Annotations are only needed for Groups (channels, on-call) and for entities with docs or
    # on-call annotations, so only their JSON documents are read and parsed.
    for doc in conn.execute(
        select(entities.c.ref, entities.c.data).where(
            (entities.c.kind == "group")
            | entities.c.data.contains(TECHDOCS_PREFIX)
            | or_(*(entities.c.data.contains(p) for p in ONCALL_PREFIXES))
        )
    ):
        meta = json.loads(doc.data).get("metadata") or {}
        ann = meta.get("annotations") or {}
        annotated[doc.ref] = {str(k): str(v) for k, v in ann.items() if isinstance(v, str)}
    for row in conn.execute(
        select(
            entities.c.ref,
            entities.c.kind,
            entities.c.name,
            entities.c.title,
            entities.c.owner_ref,
            entities.c.lifecycle,
            entities.c.spec_type,
            entities.c.file,
            entities.c.line,
        )
    ):
        ann = annotated.get(row.ref, {})
        channels: dict[str, str] = {}
        if row.kind == "group":
            for platform, keys in CHANNEL_ANNOTATIONS.items():
                value = next((ann[k].strip() for k in keys if ann.get(k, "").strip()), None)
                if value:
                    channels[platform] = value
        items[row.ref] = Item(
            ref=row.ref,
            kind=row.kind,
            name=row.name,
            title=row.title,
            owner=row.owner_ref,
            lifecycle=row.lifecycle.lower() if row.lifecycle else None,
            spec_type=row.spec_type,
            file=row.file,
            line=row.line,
            documented=bool(
                ann.get(TECHDOCS_REF, "").strip() or ann.get(TECHDOCS_ENTITY, "").strip()
            ),
            channels=channels,
            oncall=tuple(targets_of(ann)),
        )
    members: dict[str, set[str]] = defaultdict(set)
    groups_of: dict[str, set[str]] = defaultdict(set)
    children: dict[str, set[str]] = defaultdict(set)
    # memberOf and childOf are the stored (canonical) direction of their pairs: a Group's
    # members and children are rows of these types too, swapped.
    for rel in conn.execute(
        select(relations.c.source_ref, relations.c.type, relations.c.target_ref).where(
            relations.c.type.in_(("memberOf", "childOf"))
        )
    ):
        source, target = rel.source_ref, rel.target_ref
        if source not in items or target not in items:
            continue  # a dangling ref: the user (or group) is not in the catalog
        if rel.type == "memberOf" and items[source].kind == "user":
            members[target].add(source)
            groups_of[source].add(target)
        elif rel.type == "childOf" and items[target].kind == "group":
            children[target].add(source)
    owned: dict[str, list[str]] = defaultdict(list)
    for item in sorted(items.values(), key=lambda i: i.ref):
        if item.owner:
            owned[item.owner].append(item.ref)
    last_change = conn.execute(select(func.max(changes.c.id))).scalar()
    return CatalogFacts(
        items=items,
        members=dict(members),
        groups_of=dict(groups_of),
        children=dict(children),
        owned=dict(owned),
        freshness=read_freshness(conn),
        last_change_id=int(last_change or 0),
        generation=generation,
    )


def read_changes(
    conn: Connection, after_id: int | None, since: dt.datetime | None
) -> list[ChangeRow]:
    """Rows with an id above ``after_id``, or (also) at or after ``since``; oldest first."""
    conditions = []
    if after_id is not None:
        conditions.append(changes.c.id > after_id)
    if since is not None:
        conditions.append(changes.c.at >= since)
    stmt = select(
        changes.c.id,
        changes.c.at,
        changes.c.ref,
        changes.c.change,
        changes.c.old_owner,
        changes.c.new_owner,
    ).order_by(changes.c.id)
    if conditions:
        stmt = stmt.where(or_(*conditions))
    return [
        ChangeRow(r.id, _at(r.at), r.ref, r.change, r.old_owner, r.new_owner)
        for r in conn.execute(stmt)
    ]


def latest_snapshots(conn: Connection, scopes: Iterable[str] | None = None) -> dict[str, Snapshot]:
    """The newest snapshot of each scope (of ``scopes``, or of all)."""
    newest = select(func.max(report_snapshots.c.id)).group_by(report_snapshots.c.scope)
    stmt = select(report_snapshots).where(report_snapshots.c.id.in_(newest.scalar_subquery()))
    wanted = set(scopes) if scopes is not None else None
    out: dict[str, Snapshot] = {}
    for row in conn.execute(stmt):
        if wanted is not None and row.scope not in wanted:
            continue
        taken = utc(row.taken_at)
        assert taken is not None
        out[row.scope] = Snapshot(
            row.scope,
            row.schedule_id,
            row.scheduled_for,
            taken,
            int(row.last_change_id),
            json.loads(row.metrics),
        )
    return out


def write_snapshot(conn: Connection, snapshot: Snapshot) -> bool:
    """Store a snapshot once per (scope, run); False when this run already stored one."""
    return insert_ignore(
        conn,
        report_snapshots,
        {
            "scope": snapshot.scope,
            "schedule_id": snapshot.schedule_id,
            "scheduled_for": snapshot.scheduled_for,
            "taken_at": snapshot.taken_at,
            "last_change_id": snapshot.last_change_id,
            "metrics": json.dumps(dict(snapshot.metrics), sort_keys=True),
        },
        ("scope", "schedule_id", "scheduled_for"),
    )


def prune_snapshots(conn: Connection, before: dt.datetime) -> None:
    """Forget snapshots older than ``before``, except each scope's newest (the trend's base)."""
    newest = select(func.max(report_snapshots.c.id)).group_by(report_snapshots.c.scope)
    conn.execute(
        delete(report_snapshots).where(
            report_snapshots.c.taken_at < before,
            report_snapshots.c.id.not_in(newest.scalar_subquery()),
        )
    )


def record_fault(
    conn: Connection, platform: str, channel: str, scope: str | None, error: str, now: dt.datetime
) -> bool:
    """Remember that ``channel`` cannot be reached; True when it is newly broken."""
    inserted = insert_ignore(
        conn,
        channel_faults,
        {
            "platform": platform,
            "channel": channel,
            "scope": scope,
            "error": error[:2000],
            "first_seen": now,
            "last_seen": now,
        },
        ("platform", "channel"),
    )
    if not inserted:
        conn.execute(
            update(channel_faults)
            .where(channel_faults.c.platform == platform, channel_faults.c.channel == channel)
            .values(last_seen=now, error=error[:2000], scope=scope)
        )
    return inserted


def clear_fault(conn: Connection, platform: str, channel: str) -> None:
    """The channel took a post again: forget the fault (a new one is reported anew)."""
    conn.execute(
        delete(channel_faults).where(
            channel_faults.c.platform == platform, channel_faults.c.channel == channel
        )
    )


def claim_fault_report(conn: Connection, fault: Fault, now: dt.datetime) -> bool:
    """Take the one right to report ``fault``; False when someone already has."""
    result = conn.execute(
        update(channel_faults)
        .where(
            channel_faults.c.platform == fault.platform,
            channel_faults.c.channel == fault.channel,
            channel_faults.c.reported_at.is_(None),
        )
        .values(reported_at=now)
        .returning(channel_faults.c.channel)
    )
    return result.first() is not None


def release_fault_report(conn: Connection, fault: Fault) -> None:
    """The notice could not be posted (nothing went out): let a later run report it."""
    conn.execute(
        update(channel_faults)
        .where(
            channel_faults.c.platform == fault.platform, channel_faults.c.channel == fault.channel
        )
        .values(reported_at=None)
    )


def open_faults(conn: Connection, unreported_only: bool = False) -> list[Fault]:
    stmt = select(channel_faults).order_by(channel_faults.c.platform, channel_faults.c.channel)
    if unreported_only:
        stmt = stmt.where(channel_faults.c.reported_at.is_(None))
    out = []
    for row in conn.execute(stmt):
        first, last = utc(row.first_seen), utc(row.last_seen)
        assert first is not None and last is not None
        out.append(
            Fault(
                row.platform, row.channel, row.scope, row.error, first, last, utc(row.reported_at)
            )
        )
    return out
