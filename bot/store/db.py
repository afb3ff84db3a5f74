"""The database: an engine for any SQLAlchemy URL, SQLite tuned for a bot, migrations at start.

Several processes may share one database (replicas, a cron ``callboard sync`` beside the bot):
migrations run under a lock (a PostgreSQL advisory lock; on SQLite an immediate transaction),
so a second starter waits and then finds nothing to do; writers of one catalog source take
``lock_source``. A database found empty while running (restored, recreated) is migrated again
the next time a connection is taken from the pool.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import hashlib
import logging
import operator
import os
import sqlite3
import threading
from collections.abc import Iterator, Mapping, Sequence
from pathlib import Path
from typing import Any

from alembic import command
from alembic.config import Config as AlembicConfig
from alembic.script import ScriptDirectory
from sqlalchemy import Engine, Table, create_engine, event, insert, select, text
from sqlalchemy.engine import URL, Connection, make_url
from sqlalchemy.exc import DBAPIError, SQLAlchemyError

from bot.errors import ConfigError, StoreError
from bot.store.schema import meta

MIGRATIONS = Path(__file__).parent / "migrations"

log = logging.getLogger(__name__)


def lock_key(name: str) -> int:
    """A PostgreSQL advisory lock key (a signed 64-bit number) for ``name``."""
    return int.from_bytes(hashlib.sha256(name.encode()).digest()[:8], "big", signed=True)


MIGRATION_LOCK = lock_key("callboard:migrate")


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
        self.read_only = False  # a SQLite file in a folder this process cannot write
        kwargs: dict[str, Any] = {}
        if self.is_sqlite:
            database = self.url.database
            if database and database != ":memory:":
                try:
                    Path(database).parent.mkdir(parents=True, exist_ok=True)
                except OSError as exc:
                    raise StoreError(
                        f"cannot create the folder of database {self.safe_url}: {exc.strerror}"
                        f"{self._read_only_hint()}"
                    ) from exc
            kwargs["connect_args"] = {"timeout": 30, "check_same_thread": False}
        else:
            kwargs["pool_pre_ping"] = True
        try:
            self.engine: Engine = create_engine(self.url, **kwargs)
        except Exception as exc:
            raise ConfigError(f"cannot use database {self.safe_url}: {exc}") from exc
        if self.is_sqlite:
            event.listen(self.engine, "connect", _sqlite_pragmas)
            event.listen(self.engine, "begin", _sqlite_begin)
            event.listen(self.engine, "before_cursor_execute", _sqlite_begin_before_write)
            event.listen(self.engine, "commit", _sqlite_end)
            event.listen(self.engine, "rollback", _sqlite_end)
        # Found empty while running: migrated again (only once ``migrate`` has run here).
        self._auto_migrate = False
        self._schema_suspect = False  # a statement found a table missing: check again
        self._migrating = threading.local()
        event.listen(self.engine, "connect", self._on_connect)
        event.listen(self.engine, "checkout", self._on_checkout)
        event.listen(self.engine, "handle_error", self._on_error)

    @property
    def safe_url(self) -> str:
        """The URL with any password hidden, for logs and status."""
        return self.url.render_as_string(hide_password=True)

    def migrate(self) -> None:
        """Bring the schema to the newest revisions (idempotent; safe on every start).

        Every capability's migration branches from 0001, so they apply in any order ("heads").
        Under a lock: replicas starting together on a fresh database migrate one after the
        other, and the later ones find nothing left to do.
        """
        cfg = AlembicConfig()
        cfg.set_main_option("script_location", str(MIGRATIONS))
        self._migrating.active = True
        try:
            with self.write_transaction() as conn:
                if self.is_postgres:
                    conn.execute(text("SELECT pg_advisory_xact_lock(:k)"), {"k": MIGRATION_LOCK})
                cfg.attributes["connection"] = conn
                command.upgrade(cfg, "heads")
        except SQLAlchemyError as exc:
            hint = self._read_only_hint()
            if hint and self._open_read_only():
                log.warning(
                    "database %s is read-only%s; answering from it as it is, syncs are off",
                    self.safe_url,
                    hint,
                )
                return
            raise StoreError(f"cannot migrate database {self.safe_url}: {exc}{hint}") from exc
        finally:
            self._migrating.active = False
        self._auto_migrate = True
        self._schema_suspect = False

    def _open_read_only(self) -> bool:
        """Use the SQLite file read-only, when it exists and is fully migrated already."""
        path = Path(self.url.database or "")
        if not path.is_file():
            return False
        uri = f"{path.resolve().as_uri().replace('file://', 'file:', 1)}?immutable=1"
        engine = create_engine(
            "sqlite://",
            creator=lambda: sqlite3.connect(uri, uri=True, check_same_thread=False),
        )
        event.listen(engine, "connect", _sqlite_autocommit)
        event.listen(engine, "begin", _sqlite_begin)
        event.listen(engine, "before_cursor_execute", _sqlite_begin_before_write)
        event.listen(engine, "commit", _sqlite_end)
        event.listen(engine, "rollback", _sqlite_end)
        cfg = AlembicConfig()
        cfg.set_main_option("script_location", str(MIGRATIONS))
        heads = set(ScriptDirectory.from_config(cfg).get_heads())
        try:
            with engine.connect() as conn:
                applied = set(
                    conn.execute(text("SELECT version_num FROM alembic_version")).scalars()
                )
        except SQLAlchemyError:
            engine.dispose()
            return False
        if applied != heads:
            engine.dispose()
            return False
        self.engine.dispose()
        self.engine = engine
        self.read_only = True
        return True

    @contextlib.contextmanager
    def write_transaction(self) -> Iterator[Connection]:
        """A transaction that will write: on SQLite it takes the write lock at once
        (``BEGIN IMMEDIATE``), so what it reads first cannot change before it writes."""
        with self.engine.connect() as conn:
            if self.is_sqlite:
                conn.execution_options(sqlite_begin="IMMEDIATE")
            with conn.begin():
                yield conn

    def lock_source(self, conn: Connection, name: str) -> None:
        """Hold the sync lock of catalog source ``name`` until ``conn``'s transaction ends.

        PostgreSQL: an advisory lock keyed by the name. SQLite: ``write_transaction`` already
        holds the database's only write lock.
        """
        if self.is_postgres:
            key = lock_key(f"callboard:sync:{name}")
            conn.execute(text("SELECT pg_advisory_xact_lock(:k)"), {"k": key})

    def _read_only_hint(self) -> str:
        """Why a SQLite database cannot be written, when its folder is read-only."""
        if not self.is_sqlite or not self.url.database or self.url.database == ":memory:":
            return ""
        folder = Path(self.url.database).parent
        while not folder.exists() and folder != folder.parent:
            folder = folder.parent
        if os.access(folder, os.W_OK):
            return ""
        return (
            f" (the folder {folder} is read-only for this user: SQLite needs to write the "
            "database and its journal there; make it writable, or set database.url or "
            "data_dir to a writable place)"
        )

    # -- found empty while running

    def _on_connect(self, dbapi_conn: Any, record: Any) -> None:
        record.info["callboard_fresh"] = True  # a new connection: maybe a new database

    def _on_error(self, context: Any) -> None:
        if _missing_table(context.original_exception):
            self._schema_suspect = True

    def _on_checkout(self, dbapi_conn: Any, record: Any, proxy: Any) -> None:
        fresh = record.info.pop("callboard_fresh", False)
        if not self._auto_migrate or getattr(self._migrating, "active", False):
            return
        if not (self.is_sqlite or fresh or self._schema_suspect):
            return
        if _has_schema(dbapi_conn, self.is_sqlite):
            self._schema_suspect = False
            return
        log.warning("database %s has no tables (recreated?); migrating it again", self.safe_url)
        self.migrate()

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


BULK_CHUNK = 5000
"""Rows ``bulk_insert`` hands the driver at once."""


def bulk_insert(conn: Connection, table: Table, rows: Sequence[Mapping[str, Any]]) -> None:
    """Insert many rows with one compiled statement and the driver's executemany (on
    PostgreSQL through psycopg: ``COPY ... FROM STDIN``, several times faster).

    SQLAlchemy's per-row parameter processing dominates a 300,000-row sync; this applies each
    column type's bind processor once per value and hands plain tuples to the driver. A row
    the database refuses raises ``SQLAlchemyError`` either way.
    """
    if not rows:
        return
    keys = list(rows[0].keys())
    copy = _copy_statement(conn, table, keys)
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

    statement = str(compiled)
    order = [compiled.binds[name].key for name in (compiled.positiontup or [])]
    names = {bind.key: name for name, bind in compiled.binds.items()}
    # In chunks: the converted copies and the driver's parameters of a million rows at once
    # would hold the catalog in memory twice more than the caller's rows do.
    for start in range(0, len(rows), BULK_CHUNK):
        chunk = rows[start : start + BULK_CHUNK]
        if processors:
            chunk = [converted(row) for row in chunk]
        if copy is not None:
            _copy_rows(conn, copy, keys, chunk)
            continue
        params: Any
        if compiled.positional:
            pick = operator.itemgetter(*order)
            params = [pick(row) for row in chunk] if len(order) > 1 else [(pick(r),) for r in chunk]
        else:
            params = [{names[key]: row[key] for key in keys} for row in chunk]
        conn.exec_driver_sql(statement, params)


def _copy_statement(conn: Connection, table: Table, keys: Sequence[str]) -> str | None:
    """``COPY table (keys) FROM STDIN`` when the connection is PostgreSQL through psycopg 3."""
    if conn.dialect.name != "postgresql" or conn.dialect.driver != "psycopg":
        return None
    quote = conn.dialect.identifier_preparer
    columns = ", ".join(quote.quote(key) for key in keys)
    return f"COPY {quote.format_table(table)} ({columns}) FROM STDIN"


def _copy_rows(
    conn: Connection, statement: str, keys: Sequence[str], rows: Sequence[Mapping[str, Any]]
) -> None:
    """Stream ``rows`` through ``COPY`` on the connection's own transaction (and savepoint)."""
    raw: Any = conn.connection.dbapi_connection
    dbapi: Any = conn.dialect.dbapi
    dbapi_error = dbapi.Error
    try:
        with raw.cursor() as cursor, cursor.copy(statement) as copy:
            for row in rows:
                copy.write_row([row[key] for key in keys])
    except dbapi_error as exc:
        raise DBAPIError.instance(statement, None, exc, dbapi_error) from exc


def _has_schema(dbapi_conn: Any, is_sqlite: bool) -> bool:
    """True when the database behind this DBAPI connection holds Callboard's migrations."""
    cursor = dbapi_conn.cursor()
    try:
        if is_sqlite:
            cursor.execute(
                "SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = 'alembic_version'"
            )
            return cursor.fetchone() is not None
        cursor.execute("SELECT to_regclass('alembic_version') IS NOT NULL")
        row = cursor.fetchone()
        return bool(row and row[0])
    finally:
        cursor.close()
        if not is_sqlite:
            dbapi_conn.rollback()  # end the transaction the query opened


def _missing_table(exc: BaseException | None) -> bool:
    if exc is None:
        return False
    if getattr(exc, "sqlstate", None) == "42P01":  # psycopg: undefined_table
        return True
    return "no such table" in str(exc)


_SQLITE_WRITES = ("INSERT", "UPDATE", "DELETE", "REPLACE", "SAVEPOINT", "CREATE", "DROP", "ALTER")


def _sqlite_begin(conn: Connection) -> None:
    """SQLAlchemy's begin, on SQLite (pysqlite's own transaction handling is off,
    ``isolation_level = None``, so savepoints work and a writer can ask for BEGIN IMMEDIATE).

    A ``write_transaction`` takes the write lock at once. Any other transaction begins in
    SQLite just before its first write, as pysqlite itself used to: reads before it run on
    their own. Beginning earlier would hold a read lock that two writers then both try to
    upgrade, and SQLite refuses one of them at once ("database is locked"), whatever the
    busy timeout.
    """
    mode = conn.get_execution_options().get("sqlite_begin", "")
    if mode:
        conn.exec_driver_sql(f"BEGIN {mode}")
        conn.info["sqlite_begun"] = True
    else:
        conn.info["sqlite_begun"] = False


def _sqlite_begin_before_write(conn: Connection, cursor: Any, statement: str, *_args: Any) -> None:
    if (
        conn.info.get("sqlite_begun") is False
        and conn.in_transaction()
        and statement.lstrip()[:9].upper().startswith(_SQLITE_WRITES)
    ):
        cursor.execute("BEGIN")
        conn.info["sqlite_begun"] = True


def _sqlite_end(conn: Connection) -> None:
    conn.info.pop("sqlite_begun", None)


def _sqlite_autocommit(dbapi_conn: Any, _record: Any) -> None:
    dbapi_conn.isolation_level = None


def _sqlite_pragmas(dbapi_conn: Any, _record: Any) -> None:
    dbapi_conn.isolation_level = None
    cursor = dbapi_conn.cursor()
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute("PRAGMA synchronous=NORMAL")
    cursor.execute("PRAGMA busy_timeout=30000")
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.close()
