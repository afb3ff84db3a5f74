"""Runtime locations in the database (``RuntimeLocationStore``): registered repositories."""

from __future__ import annotations

import datetime as dt
from typing import Any

from sqlalchemy import Row, delete, insert, select
from sqlalchemy.exc import IntegrityError, SQLAlchemyError

from bot.catalog.locations import RuntimeLocation
from bot.store.db import Database
from bot.store.schema import runtime_locations


def _location(row: Row[Any]) -> RuntimeLocation:
    added_at: dt.datetime = row.added_at
    if added_at.tzinfo is None:  # SQLite keeps no zone; Callboard writes UTC
        added_at = added_at.replace(tzinfo=dt.UTC)
    return RuntimeLocation(
        int(row.id), str(row.url), row.ref or None, str(row.path), added_at, row.added_by
    )


class SqlLocations:
    """The ``runtime_locations`` table."""

    def __init__(self, db: Database) -> None:
        self.db = db

    def all(self) -> list[RuntimeLocation]:
        """Every registered location, oldest first."""
        with self.db.engine.connect() as conn:
            rows = conn.execute(select(runtime_locations).order_by(runtime_locations.c.id)).all()
        return [_location(r) for r in rows]

    def find(self, url: str, ref: str | None, path: str) -> RuntimeLocation | None:
        with self.db.engine.connect() as conn:
            row = conn.execute(
                select(runtime_locations).where(
                    runtime_locations.c.url == url,
                    runtime_locations.c.ref == (ref or ""),
                    runtime_locations.c.path == path,
                )
            ).first()
        return _location(row) if row is not None else None

    def add(
        self, url: str, ref: str | None, path: str, added_at: dt.datetime, added_by: str | None
    ) -> None:
        """Store a location; one registered at the same moment by another replica is kept."""
        try:
            with self.db.engine.begin() as conn:
                conn.execute(
                    insert(runtime_locations).values(
                        url=url, ref=ref or "", path=path, added_at=added_at, added_by=added_by
                    )
                )
        except IntegrityError:
            pass  # registered by another replica at the same moment

    def remove(self, location_id: int) -> RuntimeLocation | None:
        with self.db.engine.begin() as conn:
            row = conn.execute(
                select(runtime_locations).where(runtime_locations.c.id == location_id)
            ).first()
            if row is None:
                return None
            conn.execute(delete(runtime_locations).where(runtime_locations.c.id == location_id))
        return _location(row)

    def any(self) -> bool:
        """True when any location is registered (False when the table is not there yet)."""
        try:
            with self.db.engine.connect() as conn:
                return conn.execute(select(runtime_locations.c.id).limit(1)).first() is not None
        except SQLAlchemyError:
            return False
