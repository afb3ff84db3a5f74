"""The fast tier: every command's handler over the in-memory stores, no database.

``memory_bot`` is Callboard as ``bot.bootstrap`` composes it (``build_services`` over
``memory_stores``), its catalog filled by syncing the bundled demo catalog (the real file source
and sync, parsing in this process) into memory. No database, no network, no subprocess: the
``socket`` and ``subprocess`` guards below fail a test that tries.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import shutil
import socket
import subprocess
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

import pytest

from bot.bootstrap import build_services, parse_settings
from bot.catalog.sources import FileSource
from bot.chat import ChatUser, Reply, Request
from bot.dispatch import Dispatcher
from bot.services import Services
from bot.store.memory.stores import memory_stores
from bot.stores import Stores
from commands import COMMANDS, INTERPRETERS
from tests.conftest import DEMO, FixedClock

F = TypeVar("F", bound=Callable[..., Any])

ANA_EMAIL = "ana.silva@acme-rides.example"
BACKSTAGE = "https://backstage.acme-rides.example"


@dataclass
class MemoryBot:
    """Services and a dispatcher over memory stores, and a way to ask it."""

    services: Services
    dispatcher: Dispatcher
    stores: Stores
    clock: FixedClock

    async def ask(self, text: str, user: ChatUser | None = None, **request: Any) -> Reply:
        who = user or ChatUser("console", "tester", "tester", ANA_EMAIL)
        return await self.dispatcher.dispatch(
            Request(text=text, user=who, platform=who.platform, **request)
        )


def _refuse(*args: Any, **kwargs: Any) -> Any:
    raise AssertionError(f"the fast tier makes no connections or subprocesses: {args[:1]}")


def seal(monkeypatch: pytest.MonkeyPatch) -> None:
    """From here on, reaching for the network or a subprocess fails the test."""
    monkeypatch.setattr(socket.socket, "connect", _refuse)
    monkeypatch.setattr(subprocess, "Popen", _refuse)


@pytest.fixture(autouse=True)
def _sealed(monkeypatch: pytest.MonkeyPatch) -> None:
    seal(monkeypatch)


# Which commands a test covers (``covers``); ``test_registry`` checks every command has one.
COVERED: set[str] = set()


def covers(*names: str) -> Callable[[F], F]:
    """Mark a test as exercising the handlers of ``names`` (``callboard sync`` for a
    subcommand)."""
    COVERED.update(names)

    def mark(fn: F) -> F:
        return fn

    return mark


def make_bot(tmp_path: Path, **sections: Any) -> MemoryBot:
    """A memory bot over the demo catalog, synced; ``sections`` go into its config."""
    config: dict[str, Any] = {
        "data_dir": str(tmp_path / "var"),
        "database": {"url": "sqlite://"},  # never opened: the stores are in memory
        "catalog": {"sources": [], "parse_workers": 0},
        "backstage": {"url": BACKSTAGE},
        "console": {"user_email": ANA_EMAIL},
        # Posts to a recorder need no pause between them (pacing has its own tests).
        "reports": {"pace_ms": 0},
    }
    config.update(sections)
    # A copy outside any git repository: the docs indexer dates pages by file times then,
    # with no ``git`` subprocess.
    demo = tmp_path / "demo"
    shutil.copytree(DEMO.parent, demo)
    source = FileSource("demo", demo / DEMO.name, demo, parse_workers=0)
    path = tmp_path / "callboard.yaml"
    settings = parse_settings(config, str(path), tmp_path, path)
    stores = memory_stores()
    clock = FixedClock(dt.datetime(2026, 12, 1, 9, 0, tzinfo=dt.UTC))
    services = build_services(settings, stores, COMMANDS, sources=[source], clock=clock)
    dispatcher = Dispatcher(services, COMMANDS)
    dispatcher.interpreters.extend(INTERPRETERS)
    report = services.sync.run()
    assert report.ok, report
    return MemoryBot(services, dispatcher, stores, clock)


@pytest.fixture(scope="module")
def bot(tmp_path_factory: pytest.TempPathFactory) -> Iterator[MemoryBot]:
    """One synced memory bot per test module (the tests only read, or say what they change)."""
    with pytest.MonkeyPatch.context() as monkeypatch:
        seal(monkeypatch)
        made = make_bot(tmp_path_factory.mktemp("memory-bot"))
    yield made
    made.services.pool.shutdown(wait=False, cancel_futures=True)


def ask(bot: MemoryBot, text: str, user: ChatUser | None = None, **request: Any) -> Reply:
    """Dispatch one line (tests in this tier are plain functions)."""
    return asyncio.run(bot.ask(text, user, **request))
