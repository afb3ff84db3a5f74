"""The database: an engine for any SQLAlchemy URL, SQLite tuned for a bot, migrations at start."""

from __future__ import annotations

import datetime as dt
import operator
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from alembic import command
from alembic.config import Config as AlembicConfig
from sqlalchemy import Engine, Table, create_engine, event, insert, select
from sqlalchemy.engine import URL, Connection, make_url
from sqlalchemy.exc import SQLAlchemyError

from bot.errors import ConfigError, StoreError
from bot.store.schema import meta

MIGRATIONS = Path(__file__).parent / "migrations"


def utcnow() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


def normalise_url(url: str) -> URL:
    """Parse a database URL; ``postgresql://`` means psycopg 3, the driver Callboard ships."""
    try:
        parsed = make_url(url)
    except Exception as exc:  # SQLAlchemy raises ArgumentError, ValueError...
        raise ConfigError(f"database.url is not a valid SQLAlchemy URL: {exc}") from exc
    if parsed.drivername in ("postgresql", "postgres"):
        parsed = parsed.set(drivername="postgresql+psycopg")
    return parsed


class Database:
    """One engine, migrated on open; the only place that knows the dialect's quirks."""

    def __init__(self, url: str) -> None:
        self.url = normalise_url(url)
        self.is_sqlite = self.url.get_backend_name() == "sqlite"
        self.is_postgres = self.url.get_backend_name() == "postgresql"
        kwargs: dict[str, Any] = {}
        if self.is_sqlite:
            database = self.url.database
            if database and database != ":memory:":
                Path(database).parent.mkdir(parents=True, exist_ok=True)
            kwargs["connect_args"] = {"timeout": 30, "check_same_thread": False}
        else:
            kwargs["pool_pre_ping"] = True
        try:
            self.engine: Engine = create_engine(self.url, **kwargs)
        except Exception as exc:
            raise ConfigError(f"cannot use database {self.safe_url}: {exc}") from exc
        if self.is_sqlite:
            event.listen(self.engine, "connect", _sqlite_pragmas)

    @property
    def safe_url(self) -> str:
        """The URL with any password hidden, for logs and status."""
        return self.url.render_as_string(hide_password=True)

    def migrate(self) -> None:
        """Bring the schema to the newest revisions (idempotent; safe on every start).

        Every capability's migration branches from 0001, so they apply in any order ("heads").
        """
        cfg = AlembicConfig()
        cfg.set_main_option("script_location", str(MIGRATIONS))
        try:
            with self.engine.begin() as conn:
                cfg.attributes["connection"] = conn
                command.upgrade(cfg, "heads")
        except SQLAlchemyError as exc:
            raise StoreError(f"cannot migrate database {self.safe_url}: {exc}") from exc

    def dispose(self) -> None:
        self.engine.dispose()

    def generation(self, conn: Connection | None = None) -> int:
        """A counter bumped by every sync that changed the catalog (for caches)."""
        if conn is None:
            with self.engine.connect() as own:
                return self.generation(own)
        value = conn.execute(select(meta.c.value).where(meta.c.key == "generation")).scalar()
        return int(value) if value else 0


def bump_generation(conn: Connection) -> int:
    current = conn.execute(select(meta.c.value).where(meta.c.key == "generation")).scalar()
    new = int(current or 0) + 1
    if current is None:
        conn.execute(meta.insert().values(key="generation", value=str(new)))
    else:
        conn.execute(meta.update().where(meta.c.key == "generation").values(value=str(new)))
    return new


_UNSEEN = object()


def bulk_insert(conn: Connection, table: Table, rows: Sequence[Mapping[str, Any]]) -> None:
    """Insert many rows with one compiled statement and the driver's executemany.

    SQLAlchemy's per-row parameter processing dominates a 300,000-row sync; this applies each
    column type's bind processor once per value and hands plain tuples to the driver.
    """
    if not rows:
        return
    keys = list(rows[0].keys())
    compiled = insert(table).compile(dialect=conn.dialect, column_keys=keys)
    processors = {
        key: proc
        for key in keys
        if (proc := table.c[key].type._cached_bind_processor(conn.dialect)) is not None
    }

    # A sync stamps thousands of rows with the very same time object: convert it once. By
    # identity, not equality (equal datetimes in two time zones print differently); the
    # rows keep every object alive, so no id is reused meanwhile.
    done: dict[tuple[str, int], Any] = {}

    def converted(row: Mapping[str, Any]) -> dict[str, Any]:
        out = dict(row)
        for key, proc in processors.items():
            raw = out[key]
            if raw is None:
                continue
            seen = done.get((key, id(raw)), _UNSEEN)
            if seen is _UNSEEN:
                seen = done[(key, id(raw))] = proc(raw)
            out[key] = seen
        return out

    if processors:
        rows = [converted(row) for row in rows]
    params: Any
    if compiled.positional:
        order = [compiled.binds[name].key for name in (compiled.positiontup or [])]
        pick = operator.itemgetter(*order)
        params = [pick(row) for row in rows] if len(order) > 1 else [(pick(r),) for r in rows]
    else:
        names = {bind.key: name for name, bind in compiled.binds.items()}
        params = [{names[key]: row[key] for key in keys} for row in rows]
    conn.exec_driver_sql(str(compiled), params)


def _sqlite_pragmas(dbapi_conn: Any, _record: Any) -> None:
    cursor = dbapi_conn.cursor()
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute("PRAGMA synchronous=NORMAL")
    cursor.execute("PRAGMA busy_timeout=30000")
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.close()
