"""``NotifyStore`` and ``SubscriptionStore`` on SQL: the cursor, conditions, outbox, follows.

Who does what is decided by single statements whose outcome answers, as in the reports
store: a batch by ``UPDATE notify_cursor ... WHERE version = <planned on>`` (or the first
``INSERT ... ON CONFLICT DO NOTHING``), a channel's due messages by ``UPDATE notify_outbox
SET status = 'sending' ... WHERE status = 'pending' RETURNING``. Both behave the same on
SQLite and PostgreSQL. Every call runs in the store's pool, off the event loop.
"""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Sequence
from concurrent.futures import Executor

from sqlalchemy import ColumnElement, Connection, and_, delete, or_, select, tuple_, update
from sqlalchemy.exc import SQLAlchemyError

from bot.errors import StoreError
from bot.notify.model import (
    PENDING,
    SENDING,
    Batch,
    Cursor,
    Held,
    NotifyInputs,
    OutboxRow,
    Subscription,
)
from bot.reports.settings import Target
from bot.store.db import Database, bulk_insert
from bot.store.schema import (
    notify_conditions,
    notify_cursor,
    notify_outbox,
    notify_subscriptions,
)
from bot.store.sql.reports import load_facts, read_changes
from bot.store.sql.rows import Offloaded, insert_ignore, utc

CURSOR = "changes"
KEEP = dt.timedelta(days=30)  # finished messages kept this long (status, tests, debugging)


def _utc(value: dt.datetime) -> dt.datetime:
    return value.astimezone(dt.UTC)


def _due(now: dt.datetime) -> ColumnElement[bool]:
    return and_(
        notify_outbox.c.status == PENDING,
        or_(notify_outbox.c.not_before.is_(None), notify_outbox.c.not_before <= _utc(now)),
    )


def read_cursor(conn: Connection) -> Cursor | None:
    row = conn.execute(
        select(notify_cursor.c.last_change_id, notify_cursor.c.version).where(
            notify_cursor.c.name == CURSOR
        )
    ).first()
    return Cursor(int(row.last_change_id), int(row.version)) if row is not None else None


class SqlNotifyStore(Offloaded):
    """Notifications' reads and writes on the app's database."""

    def __init__(self, db: Database, pool: Executor | None = None) -> None:
        super().__init__(pool)
        self.db = db

    def read_now(self) -> NotifyInputs:
        with self.db.engine.connect() as conn:
            cursor = read_cursor(conn)
            facts = load_facts(conn, self.db.generation(conn))
            rows = []
            if cursor is not None:
                rows = [
                    r
                    for r in read_changes(conn, cursor.last_change_id, None)
                    if r.id <= facts.last_change_id
                ]
            told = frozenset(
                (r.ref, r.condition)
                for r in conn.execute(
                    select(notify_conditions.c.ref, notify_conditions.c.condition)
                )
            )
        return NotifyInputs(cursor, facts, rows, told)

    async def read(self) -> NotifyInputs:
        return await self._run(self.read_now)

    def commit_now(self, batch: Batch, now: dt.datetime) -> bool:
        now = _utc(now)
        try:
            with self.db.engine.begin() as conn:
                if batch.base is None:
                    row = {"name": CURSOR, "last_change_id": batch.upto, "version": 1}
                    if not insert_ignore(conn, notify_cursor, {**row, "updated_at": now}, ["name"]):
                        return False
                    version = 1
                else:
                    version = batch.base.version + 1
                    moved = conn.execute(
                        update(notify_cursor)
                        .where(
                            notify_cursor.c.name == CURSOR,
                            notify_cursor.c.version == batch.base.version,
                        )
                        .values(last_change_id=batch.upto, version=version, updated_at=now)
                        .returning(notify_cursor.c.version)
                    ).first()
                    if moved is None:
                        return False
                dropped = sorted(batch.dropped)
                for start in range(0, len(dropped), 500):
                    conn.execute(
                        delete(notify_conditions).where(
                            tuple_(notify_conditions.c.ref, notify_conditions.c.condition).in_(
                                dropped[start : start + 500]
                            )
                        )
                    )
                bulk_insert(
                    conn,
                    notify_conditions,
                    [{"ref": r, "condition": c, "since": now} for r, c in sorted(batch.added)],
                )
                bulk_insert(
                    conn,
                    notify_outbox,
                    [
                        {
                            "batch": version,
                            "platform": m.target.platform,
                            "channel": m.target.channel,
                            "payload": json.dumps(m.payload(), separators=(",", ":")),
                            "line_count": len(m.lines) + m.omitted,
                            "created_at": now,
                            "not_before": _utc(m.not_before) if m.not_before else None,
                            "status": PENDING,
                        }
                        for m in batch.messages
                    ],
                )
                conn.execute(
                    delete(notify_outbox).where(
                        notify_outbox.c.status != PENDING,
                        notify_outbox.c.created_at < now - KEEP,
                    )
                )
                return True
        except SQLAlchemyError as exc:
            raise StoreError(f"cannot record a batch of notifications: {exc}") from exc

    async def commit(self, batch: Batch, now: dt.datetime) -> bool:
        return await self._run(self.commit_now, batch, now)

    def _due(self, now: dt.datetime) -> list[Target]:
        with self.db.engine.connect() as conn:
            rows = conn.execute(
                select(notify_outbox.c.platform, notify_outbox.c.channel)
                .where(_due(now))
                .group_by(notify_outbox.c.platform, notify_outbox.c.channel)
                .order_by(notify_outbox.c.platform, notify_outbox.c.channel)
            )
            return [Target(r.platform, r.channel) for r in rows]

    async def due(self, now: dt.datetime) -> list[Target]:
        return await self._run(self._due, now)

    def _claim(self, targets: Sequence[Target], now: dt.datetime, instance: str) -> list[Held]:
        if not targets:
            return []
        wanted = [(t.platform, t.channel) for t in targets]
        with self.db.engine.begin() as conn:
            rows = conn.execute(
                update(notify_outbox)
                .where(
                    _due(now),
                    tuple_(notify_outbox.c.platform, notify_outbox.c.channel).in_(wanted),
                )
                .values(status=SENDING, claimed_by=instance[:200], claimed_at=_utc(now))
                .returning(
                    notify_outbox.c.id,
                    notify_outbox.c.batch,
                    notify_outbox.c.platform,
                    notify_outbox.c.channel,
                    notify_outbox.c.payload,
                    notify_outbox.c.created_at,
                )
            ).all()
        held = [
            Held.from_payload(
                int(r.id),
                int(r.batch),
                Target(r.platform, r.channel),
                json.loads(r.payload),
                utc(r.created_at) or now,
            )
            for r in rows
        ]
        return sorted(held, key=lambda h: h.id)

    async def claim(self, targets: Sequence[Target], now: dt.datetime, instance: str) -> list[Held]:
        return await self._run(self._claim, list(targets), now, instance)

    def _finish(self, ids: Sequence[int], status: str, error: str | None, now: dt.datetime) -> None:
        with self.db.engine.begin() as conn:
            conn.execute(
                update(notify_outbox)
                .where(notify_outbox.c.id.in_(list(ids)))
                .values(
                    status=status[:20],
                    error=error[:2000] if error else None,
                    finished_at=_utc(now),
                )
            )

    async def finish(
        self, ids: Sequence[int], status: str, error: str | None, now: dt.datetime
    ) -> None:
        await self._run(self._finish, list(ids), status, error, now)

    def outbox_now(self) -> list[OutboxRow]:
        with self.db.engine.connect() as conn:
            return [
                OutboxRow(
                    int(r.id),
                    int(r.batch),
                    Target(r.platform, r.channel),
                    r.status,
                    int(r.line_count),
                    utc(r.not_before),
                    utc(r.created_at) or dt.datetime.min.replace(tzinfo=dt.UTC),
                    utc(r.finished_at),
                    r.error,
                )
                for r in conn.execute(select(notify_outbox).order_by(notify_outbox.c.id))
            ]

    async def outbox(self) -> list[OutboxRow]:
        return await self._run(self.outbox_now)


class SqlSubscriptions(Offloaded):
    """``/subscribe``'s follows on the app's database."""

    def __init__(self, db: Database, pool: Executor | None = None) -> None:
        super().__init__(pool)
        self.db = db

    def _subscribe(self, sub: Subscription) -> bool:
        with self.db.engine.begin() as conn:
            return insert_ignore(
                conn,
                notify_subscriptions,
                {
                    "platform": sub.platform,
                    "channel": sub.channel,
                    "target": sub.target,
                    "kind": sub.kind,
                    "created_by": sub.created_by[:200],
                    "created_at": _utc(sub.created_at),
                },
                ("platform", "channel", "target"),
            )

    async def subscribe(self, subscription: Subscription) -> bool:
        return await self._run(self._subscribe, subscription)

    def _unsubscribe(self, platform: str, channel: str, target: str) -> bool:
        with self.db.engine.begin() as conn:
            gone = conn.execute(
                delete(notify_subscriptions)
                .where(
                    notify_subscriptions.c.platform == platform,
                    notify_subscriptions.c.channel == channel,
                    notify_subscriptions.c.target == target,
                )
                .returning(notify_subscriptions.c.target)
            ).first()
        return gone is not None

    async def unsubscribe(self, platform: str, channel: str, target: str) -> bool:
        return await self._run(self._unsubscribe, platform, channel, target)

    def _select(self, platform: str | None, channel: str | None) -> list[Subscription]:
        stmt = select(notify_subscriptions).order_by(
            notify_subscriptions.c.platform,
            notify_subscriptions.c.channel,
            notify_subscriptions.c.target,
        )
        if platform is not None:
            stmt = stmt.where(
                notify_subscriptions.c.platform == platform,
                notify_subscriptions.c.channel == channel,
            )
        with self.db.engine.connect() as conn:
            return [
                Subscription(
                    r.platform,
                    r.channel,
                    r.target,
                    r.kind,
                    r.created_by,
                    utc(r.created_at) or dt.datetime.min.replace(tzinfo=dt.UTC),
                )
                for r in conn.execute(stmt)
            ]

    async def of_channel(self, platform: str, channel: str) -> list[Subscription]:
        return await self._run(self._select, platform, channel)

    async def all(self) -> list[Subscription]:
        return await self._run(self._select, None, None)
