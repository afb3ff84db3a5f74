"""Source status rows and problem listings in the database (``SourceStatusReads`` and the
blocking reads ``bot.catalog.status`` and ``bot.trust`` build on)."""

from __future__ import annotations

import asyncio
import datetime as dt
from collections.abc import Awaitable, Callable, Sequence
from typing import Any

from sqlalchemy import func, select

from bot.catalog.problems import Problem
from bot.catalog.status import SourceStatus, compose_statuses
from bot.ports import SourceStatusRow
from bot.store.db import Database
from bot.store.schema import PROBLEM_COLUMNS, problems, source_status

Offload = Callable[..., Awaitable[Any]]


def _utc(value: dt.datetime | None) -> dt.datetime | None:
    if value is not None and value.tzinfo is None:  # SQLite keeps no zone; Callboard writes UTC
        return value.replace(tzinfo=dt.UTC)
    return value


class SqlSourceStatus:
    """The ``source_status`` and ``problems`` tables, read."""

    def __init__(self, db: Database, offload: Offload | None = None) -> None:
        self.db = db
        self.offload: Offload = offload or asyncio.to_thread  # the app passes its own pool

    def rows(
        self, names: Sequence[str] | None = None, only: str | None = None
    ) -> dict[str, SourceStatusRow]:
        """Status rows by name: of ``names`` (None: all), or of ``only``."""
        stmt = select(source_status)
        if names is not None:
            stmt = stmt.where(source_status.c.name.in_(list(names)))
        if only is not None:
            stmt = stmt.where(source_status.c.name == only)
        with self.db.engine.connect() as conn:
            return {
                r.name: SourceStatusRow(
                    r.name,
                    r.type,
                    r.location,
                    _utc(r.last_attempt),
                    _utc(r.last_success),
                    r.last_error,
                    int(r.entity_count),
                    r.duration_ms,
                )
                for r in conn.execute(stmt)
            }

    async def status_rows(self, names: Sequence[str]) -> dict[str, SourceStatusRow]:
        if not names:
            return {}
        found: dict[str, SourceStatusRow] = await self.offload(self.rows, list(names))
        return found

    def problem_counts(self) -> dict[tuple[str, str], int]:
        """How many problems each source has, by level: ``(source, level) -> n``."""
        with self.db.engine.connect() as conn:
            return {
                (r.source, r.level): int(r.n)
                for r in conn.execute(
                    select(problems.c.source, problems.c.level, func.count().label("n")).group_by(
                        problems.c.source, problems.c.level
                    )
                )
            }

    def problems(self, source: str, offset: int, limit: int) -> list[Problem]:
        """A source's problems, newest first (the latest sync's at the top), then file order."""
        with self.db.engine.connect() as conn:
            return [
                Problem.from_dict(dict(p._mapping))
                for p in conn.execute(
                    select(*PROBLEM_COLUMNS)
                    .where(problems.c.source == source)
                    .order_by(problems.c.created_at.desc(), problems.c.id)
                    .offset(offset)
                    .limit(limit)
                )
            ]

    def read_statuses(
        self,
        order: Sequence[str] = (),
        only: str | None = None,
        problem_limit: int = 5,
        problem_offset: int = 0,
    ) -> list[SourceStatus]:
        """``statuses``, blocking (in a worker thread)."""
        return compose_statuses(
            self.rows(only=only),
            self.problem_counts(),
            lambda name: self.problems(name, problem_offset, problem_limit),
            order,
            only,
        )

    async def statuses(
        self,
        order: Sequence[str] = (),
        *,
        only: str | None = None,
        problem_limit: int = 5,
        problem_offset: int = 0,
    ) -> list[SourceStatus]:
        found: list[SourceStatus] = await self.offload(
            self.read_statuses, list(order), only, problem_limit, problem_offset
        )
        return found
