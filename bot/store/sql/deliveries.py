"""``DeliveryClaims`` on the ``delivery_claims`` table: one INSERT only one replica wins
(``INSERT ... ON CONFLICT DO NOTHING``, as the scheduler's run claims), on SQLite and
PostgreSQL alike. Rows older than the retention are deleted as new ones come in."""

from __future__ import annotations

import datetime as dt
from concurrent.futures import Executor

from sqlalchemy import delete
from sqlalchemy.exc import SQLAlchemyError

from bot.errors import StoreError
from bot.store.db import Database
from bot.store.schema import delivery_claims
from bot.store.sql.rows import Offloaded, insert_ignore

# Slack retries a delivery three times within about five minutes; an hour is ample.
KEEP = dt.timedelta(hours=1)
PRUNE_EVERY = dt.timedelta(minutes=5)


class SqlDeliveryClaims(Offloaded):
    """The ``delivery_claims`` table; every call runs in the store's pool, off the event loop."""

    def __init__(
        self,
        db: Database,
        instance: str,
        pool: Executor | None = None,
        keep: dt.timedelta = KEEP,
    ) -> None:
        super().__init__(pool)
        self.db = db
        self.instance = instance  # recorded as the claimant (which replica took it)
        self.keep = keep
        self._pruned: dt.datetime | None = None

    def _claim(self, key: str, now: dt.datetime) -> bool:
        row = {"key": key[:300], "claimed_by": self.instance[:200], "claimed_at": now}
        try:
            with self.db.engine.begin() as conn:
                if self._pruned is None or now - self._pruned >= PRUNE_EVERY:
                    conn.execute(
                        delete(delivery_claims).where(
                            delivery_claims.c.claimed_at < now - self.keep
                        )
                    )
                    self._pruned = now
                return insert_ignore(conn, delivery_claims, row, ("key",))
        except SQLAlchemyError as exc:
            raise StoreError(f"cannot claim delivery {key}: {exc}") from exc

    async def claim(self, key: str, now: dt.datetime) -> bool:
        return await self._run(self._claim, key, now)
