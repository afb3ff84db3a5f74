"""Shared fixtures: apps on temp databases (SQLite always, PostgreSQL when reachable)."""

from __future__ import annotations

import datetime as dt
import signal
import socket
import uuid
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path
from typing import Any

import pytest
import yaml

from bot.app import App, Platform
from bot.bootstrap import build_app, parse_settings
from bot.chat import ChatUser, Reply, Request
from bot.dispatch import CommandSpec
from commands import COMMANDS, INTERPRETERS


def pytest_configure(config: pytest.Config) -> None:
    """Ctrl-C reaches the processes the tests start, however the suite was launched.

    A shell without job control starts a background command (`make test &` in a script) with
    SIGINT ignored, and an ignored signal stays ignored across exec: every `callboard` a test
    starts would then ignore the Ctrl-C the test sends it. Python's own handler here is reset
    to the default in each child, as from an interactive shell.
    """
    if signal.getsignal(signal.SIGINT) == signal.SIG_IGN:
        signal.signal(signal.SIGINT, signal.default_int_handler)


REPO = Path(__file__).resolve().parents[1]
DEMO = REPO / "config" / "demo" / "all.yaml"
SHARED = REPO.parent / "shared"
EXAMPLES = SHARED / "data" / "backstage-examples"

PG_HOST = "127.0.0.1"
PG_PORT = 5432


def shared_or_skip(*parts: str) -> Path:
    """A path under ../shared, or skip: a user's clone of the project does not have it."""
    path = SHARED.joinpath(*parts)
    if not path.exists():
        pytest.skip(f"../shared is not present ({path} missing): upstream-data test skipped")
    return path


def _pg_reachable() -> str | None:
    try:
        with socket.create_connection((PG_HOST, PG_PORT), timeout=1):
            pass
    except OSError as exc:
        return f"PostgreSQL not reachable at {PG_HOST}:{PG_PORT} ({exc})"
    try:
        import psycopg

        with psycopg.connect(
            host=PG_HOST, port=PG_PORT, user="postgres", dbname="postgres", connect_timeout=3
        ):
            pass
    except Exception as exc:
        return f"PostgreSQL at {PG_HOST}:{PG_PORT} refused user postgres ({exc})"
    return None


@pytest.fixture(scope="session")
def pg_admin_url() -> str:
    reason = _pg_reachable()
    if reason:
        print(f"\nSKIP PostgreSQL tests: {reason}")
        pytest.skip(reason)
    return f"postgresql+psycopg://postgres@{PG_HOST}:{PG_PORT}/postgres"


@pytest.fixture
def pg_url(pg_admin_url: str) -> Iterator[str]:
    """A fresh, empty PostgreSQL database for one test, dropped afterwards."""
    import psycopg

    name = f"callboard_test_{uuid.uuid4().hex[:10]}"
    with psycopg.connect(
        host=PG_HOST, port=PG_PORT, user="postgres", dbname="postgres", autocommit=True
    ) as conn:
        conn.execute(f'CREATE DATABASE "{name}"')
    try:
        yield f"postgresql+psycopg://postgres@{PG_HOST}:{PG_PORT}/{name}"
    finally:
        with psycopg.connect(
            host=PG_HOST, port=PG_PORT, user="postgres", dbname="postgres", autocommit=True
        ) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


@pytest.fixture(params=["sqlite", "postgresql"])
def db_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """Run the test once on SQLite and once on PostgreSQL (skipped, with the reason, if absent)."""
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'callboard.db'}"
    return str(request.getfixturevalue("pg_url"))


class FixedClock:
    """A clock tests move by hand."""

    def __init__(self, now: dt.datetime | None = None) -> None:
        self.now = now or dt.datetime(2026, 11, 2, 9, 0, tzinfo=dt.UTC)

    def __call__(self) -> dt.datetime:
        return self.now

    def advance(self, **delta: float) -> None:
        self.now += dt.timedelta(**delta)


AppFactory = Callable[..., App]


@pytest.fixture
def make_app(tmp_path: Path) -> Iterator[AppFactory]:
    """Build an app from a config dict (written to tmp_path/callboard.yaml); closed afterwards.

    ``make_app(sources=[{"type": "file", "target": "/abs/all.yaml"}], db_url=..., **sections)``;
    ``commands`` (the registry by default) and ``platforms`` (none by default) go to ``build_app``.
    """
    apps: list[App] = []

    def factory(
        sources: list[dict[str, Any]] | None = None,
        db_url: str | None = None,
        clock: Callable[[], dt.datetime] | None = None,
        sync: bool = True,
        commands: Sequence[CommandSpec] = COMMANDS,
        platforms: Sequence[Platform] = (),
        **sections: Any,
    ) -> App:
        config: dict[str, Any] = {
            "data_dir": str(tmp_path / "var"),
            "database": {"url": db_url or f"sqlite:///{tmp_path / 'callboard.db'}"},
            "catalog": {"sources": sources if sources is not None else []},
        }
        config.update(sections)
        path = tmp_path / f"callboard-{len(apps)}.yaml"
        path.write_text(yaml.safe_dump(config))
        settings = parse_settings(config, str(path), tmp_path, path)
        kwargs: dict[str, Any] = {}
        if clock is not None:
            kwargs["clock"] = clock
        app = build_app(
            settings, commands, interpreters=INTERPRETERS, platforms=platforms, **kwargs
        )
        apps.append(app)
        if sync:
            app.services.sync.run()
        return app

    yield factory
    for app in apps:
        app.close()


@pytest.fixture
def demo_app(make_app: AppFactory) -> App:
    """The bundled demo catalog, synced into a temp SQLite database."""
    return make_app(
        sources=[{"type": "file", "name": "demo", "target": str(DEMO)}],
        console={"user_email": "ana.silva@acme-rides.example"},
    )


def ask(app: App, text: str, user: ChatUser | None = None, **request: Any) -> Reply:
    """Dispatch one line as the console user and return the reply (tests are async-free)."""
    import asyncio

    who = user or ChatUser("console", "tester", "tester", app.services.settings.console.user_email)
    return asyncio.run(
        app.dispatcher.dispatch(Request(text=text, user=who, platform=who.platform, **request))
    )


async def aask(app: App, text: str, user: ChatUser | None = None, **request: Any) -> Reply:
    """``ask`` for async tests."""
    who = user or ChatUser("console", "tester", "tester", app.services.settings.console.user_email)
    return await app.dispatcher.dispatch(
        Request(text=text, user=who, platform=who.platform, **request)
    )


@pytest.fixture(autouse=True)
def _forget_secrets() -> Iterator[None]:
    """Secrets read during a test leave os.environ for bot.hardening's store (monkeypatch
    restores os.environ, not the store): start and end every test with none remembered."""
    from bot.hardening import forget

    forget()
    yield
    forget()
