"""``AttestStore`` on the ``attest_*`` tables: campaigns, their items, every answer.

Every call runs in the store's pool, off the event loop. Answers are only inserted, never
updated, so two replicas recording answers at once never lose one; a campaign is closed by
one conditional UPDATE whose row count says who closed it.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from concurrent.futures import Executor
from typing import Any

from sqlalchemy import insert, select, update
from sqlalchemy.exc import SQLAlchemyError

from bot.attest.model import Answer, Campaign, Item
from bot.errors import StoreError
from bot.store.db import Database
from bot.store.schema import attest_answers, attest_campaigns, attest_items
from bot.store.sql.rows import Offloaded, utc

INSERT_BATCH = 500


def _campaign(row: Any) -> Campaign:
    created, due = utc(row.created_at), utc(row.due_at)
    assert created is not None and due is not None
    every = row.remind_every_s
    return Campaign(
        id=int(row.id),
        scope=row.scope,
        created_by=row.created_by,
        created_at=created,
        due_at=due,
        remind_every=dt.timedelta(seconds=every) if every else None,
        closed_at=utc(row.closed_at),
    )


def _answer(row: Any) -> Answer:
    at = utc(row.at)
    assert at is not None
    return Answer(
        campaign_id=int(row.campaign_id),
        entity_ref=row.entity_ref,
        team_ref=row.team_ref,
        answer=row.answer,
        actor=row.actor,
        user_ref=row.user_ref,
        platform=row.platform,
        at=at,
        version=row.version,
        note=row.note,
        named_team=row.named_team,
    )


class SqlAttestStore(Offloaded):
    """The attestation tables of one database."""

    def __init__(self, db: Database, pool: Executor | None = None) -> None:
        super().__init__(pool)
        self.db = db

    def _create(
        self,
        scope: str,
        created_by: str,
        created_at: dt.datetime,
        due_at: dt.datetime,
        remind_every: dt.timedelta | None,
        items: Sequence[Item],
    ) -> Campaign:
        every = int(remind_every.total_seconds()) if remind_every else None
        try:
            with self.db.engine.begin() as conn:
                found = conn.execute(
                    insert(attest_campaigns)
                    .values(
                        scope=scope,
                        created_by=created_by[:200],
                        created_at=created_at,
                        due_at=due_at,
                        remind_every_s=every,
                    )
                    .returning(attest_campaigns.c.id)
                ).scalar_one()
                rows = [
                    {
                        "campaign_id": found,
                        "entity_ref": i.entity_ref,
                        "team_ref": i.team_ref,
                        "version": i.version,
                        "title": i.title[:255],
                    }
                    for i in items
                ]
                for start in range(0, len(rows), INSERT_BATCH):
                    conn.execute(insert(attest_items), rows[start : start + INSERT_BATCH])
        except SQLAlchemyError as exc:
            raise StoreError(f"cannot store the attestation campaign: {exc}") from exc
        return Campaign(int(found), scope, created_by, created_at, due_at, remind_every)

    async def create(
        self,
        scope: str,
        created_by: str,
        created_at: dt.datetime,
        due_at: dt.datetime,
        remind_every: dt.timedelta | None,
        items: Sequence[Item],
    ) -> Campaign:
        return await self._run(
            self._create, scope, created_by, created_at, due_at, remind_every, list(items)
        )

    def _campaigns(self, campaign_id: int | None) -> list[Campaign]:
        query = select(attest_campaigns).order_by(attest_campaigns.c.id.desc())
        if campaign_id is not None:
            query = query.where(attest_campaigns.c.id == campaign_id)
        with self.db.engine.connect() as conn:
            return [_campaign(r) for r in conn.execute(query)]

    async def campaign(self, campaign_id: int) -> Campaign | None:
        found = await self._run(self._campaigns, campaign_id)
        return found[0] if found else None

    async def campaigns(self) -> list[Campaign]:
        return await self._run(self._campaigns, None)

    def _items(self, campaign_id: int, team: str | None, entity: str | None) -> list[Item]:
        query = (
            select(attest_items)
            .where(attest_items.c.campaign_id == campaign_id)
            .order_by(attest_items.c.team_ref, attest_items.c.entity_ref)
        )
        if team is not None:
            query = query.where(attest_items.c.team_ref == team)
        if entity is not None:
            query = query.where(attest_items.c.entity_ref == entity)
        with self.db.engine.connect() as conn:
            return [
                Item(int(r.campaign_id), r.entity_ref, r.team_ref, r.version, r.title)
                for r in conn.execute(query)
            ]

    async def items(
        self, campaign_id: int, *, team: str | None = None, entity: str | None = None
    ) -> list[Item]:
        return await self._run(self._items, campaign_id, team, entity)

    def _record(self, answers: Sequence[Answer]) -> None:
        rows = [
            {
                "campaign_id": a.campaign_id,
                "entity_ref": a.entity_ref,
                "team_ref": a.team_ref,
                "answer": a.answer,
                "actor": a.actor[:300],
                "user_ref": a.user_ref,
                "platform": a.platform[:40],
                "at": a.at,
                "version": a.version,
                "note": a.note,
                "named_team": a.named_team,
            }
            for a in answers
        ]
        if not rows:
            return
        try:
            with self.db.engine.begin() as conn:
                for start in range(0, len(rows), INSERT_BATCH):
                    conn.execute(insert(attest_answers), rows[start : start + INSERT_BATCH])
        except SQLAlchemyError as exc:
            raise StoreError(f"cannot record the attestation answers: {exc}") from exc

    async def record(self, answers: Sequence[Answer]) -> None:
        await self._run(self._record, list(answers))

    def _answers(self, campaign_id: int) -> list[Answer]:
        query = (
            select(attest_answers)
            .where(attest_answers.c.campaign_id == campaign_id)
            .order_by(attest_answers.c.id)
        )
        with self.db.engine.connect() as conn:
            return [_answer(r) for r in conn.execute(query)]

    async def answers(self, campaign_id: int) -> list[Answer]:
        return await self._run(self._answers, campaign_id)

    def _close(self, campaign_id: int, at: dt.datetime) -> bool:
        with self.db.engine.begin() as conn:
            done = conn.execute(
                update(attest_campaigns)
                .where(attest_campaigns.c.id == campaign_id, attest_campaigns.c.closed_at.is_(None))
                .values(closed_at=at)
            )
            return bool(done.rowcount)

    async def close(self, campaign_id: int, at: dt.datetime) -> bool:
        return await self._run(self._close, campaign_id, at)
