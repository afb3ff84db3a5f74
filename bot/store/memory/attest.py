"""``AttestStore`` in memory: the same campaigns, items and answers for the fast tier."""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from dataclasses import replace

from bot.attest.model import Answer, Campaign, Item


class MemoryAttestStore:
    """Campaigns by id (counting from 1), their items, and every answer in order."""

    def __init__(self) -> None:
        self._campaigns: dict[int, Campaign] = {}
        self._items: dict[int, list[Item]] = {}
        self._answers: list[Answer] = []

    async def create(
        self,
        scope: str,
        created_by: str,
        created_at: dt.datetime,
        due_at: dt.datetime,
        remind_every: dt.timedelta | None,
        items: Sequence[Item],
    ) -> Campaign:
        campaign_id = max(self._campaigns, default=0) + 1
        campaign = Campaign(campaign_id, scope, created_by, created_at, due_at, remind_every)
        self._campaigns[campaign_id] = campaign
        self._items[campaign_id] = sorted(
            (replace(i, campaign_id=campaign_id) for i in items),
            key=lambda i: (i.team_ref, i.entity_ref),
        )
        return campaign

    async def campaign(self, campaign_id: int) -> Campaign | None:
        return self._campaigns.get(campaign_id)

    async def campaigns(self) -> list[Campaign]:
        return [self._campaigns[k] for k in sorted(self._campaigns, reverse=True)]

    async def items(
        self, campaign_id: int, *, team: str | None = None, entity: str | None = None
    ) -> list[Item]:
        return [
            i
            for i in self._items.get(campaign_id, ())
            if (team is None or i.team_ref == team) and (entity is None or i.entity_ref == entity)
        ]

    async def record(self, answers: Sequence[Answer]) -> None:
        self._answers.extend(answers)

    async def answers(self, campaign_id: int) -> list[Answer]:
        return [a for a in self._answers if a.campaign_id == campaign_id]

    async def close(self, campaign_id: int, at: dt.datetime) -> bool:
        found = self._campaigns.get(campaign_id)
        if found is None or found.closed_at is not None:
            return False
        self._campaigns[campaign_id] = replace(found, closed_at=at)
        return True
