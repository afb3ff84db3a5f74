"""Row helpers every SQL store shares: the insert-or-nothing claim, and UTC datetimes back."""

from __future__ import annotations

import asyncio
import contextvars
import datetime as dt
import functools
from collections.abc import Callable, Iterable, Mapping
from concurrent.futures import Executor
from typing import Any, ParamSpec, TypeVar

from sqlalchemy import Connection, Table, insert
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.exc import IntegrityError

P = ParamSpec("P")
T = TypeVar("T")


def insert_ignore(
    conn: Connection, table: Table, values: Mapping[str, Any], keys: Iterable[str]
) -> bool:
    """Insert a row unless one with the same unique ``keys`` exists; True when inserted.

    One statement whose outcome answers "who does it": several replicas on one database need
    no other coordination. It behaves the same on SQLite and PostgreSQL.
    """
    # RETURNING says whether the row went in (psycopg reports no row count for it).
    name = conn.dialect.name
    keys = list(keys)
    key_column = table.c[keys[0]]
    if name == "postgresql":
        pg = postgresql.insert(table).values(**values)
        pg_stmt = pg.on_conflict_do_nothing(index_elements=keys).returning(key_column)
        return conn.execute(pg_stmt).first() is not None
    if name == "sqlite":
        lite = sqlite.insert(table).values(**values)
        lite_stmt = lite.on_conflict_do_nothing(index_elements=keys).returning(key_column)
        return conn.execute(lite_stmt).first() is not None
    try:  # any other database: the unique key refuses the second insert
        with conn.begin_nested():
            conn.execute(insert(table).values(**values))
    except IntegrityError:
        return False
    return True


def utc(value: dt.datetime | None) -> dt.datetime | None:
    """Datetimes from SQLite come back naive; every time Callboard stores is UTC."""
    if value is None:
        return None
    return value if value.tzinfo else value.replace(tzinfo=dt.UTC)


class Offloaded:
    """Base of a SQL store: its blocking calls run in ``pool`` (the loop's default when None)."""

    def __init__(self, pool: Executor | None = None) -> None:
        self.pool = pool

    async def _run(self, fn: Callable[P, T], /, *args: P.args, **kwargs: P.kwargs) -> T:
        if self.pool is None:
            return await asyncio.to_thread(fn, *args, **kwargs)
        context = contextvars.copy_context()
        call = functools.partial(context.run, fn, *args, **kwargs)
        return await asyncio.get_running_loop().run_in_executor(self.pool, call)
