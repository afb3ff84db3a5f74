"""A running Callboard: its services, its dispatcher, what serves it, and how it closes.

``bot.bootstrap.build_app`` makes one; nothing here constructs a service. Commands and the core
never import this module: handlers get ``ctx.services`` (``bot.services.Services``).
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable, Coroutine
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from bot.dispatch import Dispatcher
from bot.services import Poster, Services

if TYPE_CHECKING:
    from bot.scheduler import ReportScheduler
    from bot.store.db import Database
    from bot.stores import Stores


log = logging.getLogger(__name__)

Serve = Callable[[], Coroutine[Any, Any, None]]
Stop = Callable[[float], Coroutine[Any, Any, None]]  # stop accepting, finish within seconds
Close = Callable[[], Coroutine[Any, Any, None]]  # close connections (after ``Stop``)
NotReady = Callable[[], list[str]]  # why a platform cannot take requests now (empty: it can)

SHUTTING_DOWN = "shutting down"


@dataclass(frozen=True)
class PlatformParts:
    """What a chat platform adapter built for one app: its poster, how to serve it, and its own
    runtime object (the Slack runtime, the Discord adapter), kept for its entry points."""

    name: str
    runtime: Any
    poster: Poster | None = None
    serve: Serve | None = None
    error: Exception | None = None  # why it cannot serve (raised by ``App.servers``)
    stop: Stop | None = None  # graceful shutdown (``App.stop``); else its serve is cancelled
    close: Close | None = None  # after ``stop`` and the scheduler's last post: disconnect
    # Its part of ``/readyz`` ("discord: not connected"); called from a worker thread, so it
    # only reads flags.
    not_ready: NotReady | None = None


@dataclass(frozen=True)
class Platform:
    """A chat platform adapter as the composition root wires it (no ``getattr`` probing).

    ``start`` builds the adapter's parts for an app, or returns None when its config section is
    absent or disabled; ``add_cli`` adds its ``callboard`` subcommands.
    """

    name: str
    start: Callable[[App], PlatformParts | None]
    add_cli: Callable[[Any], None] | None = None


@dataclass
class App:
    """Callboard wired: the services, the dispatcher over them, platforms and the scheduler.

    ``db`` is the database the stores are built on, for the adapters' own tables (Slack's
    installation store) and for closing; no service holds it. ``stores`` are the ports the
    services were composed from (``bot.bootstrap.build_services``).
    """

    db: Database
    stores: Stores
    services: Services
    dispatcher: Dispatcher
    scheduler: ReportScheduler
    platforms: dict[str, PlatformParts] = field(default_factory=dict)
    stopping: bool = False  # set by ``stop``: ``/readyz`` says so, traffic moves away

    def servers(self) -> list[Coroutine[Any, Any, None]]:
        """Coroutines serving each configured chat platform (Slack, Discord) until cancelled;
        the error of a configured platform that cannot serve (missing secrets) is raised."""
        for parts in self.platforms.values():
            if parts.error is not None:
                raise parts.error
        return [p.serve() for p in self.platforms.values() if p.serve is not None]

    async def stop(self, grace_seconds: float) -> None:
        """Graceful shutdown (SIGTERM), within ``grace_seconds``: each platform stops accepting
        and finishes what is in flight while a scheduled run in progress finishes (it may still
        post through them); then the platforms close their connections."""
        self.stopping = True
        stops = [p.stop(grace_seconds) for p in self.platforms.values() if p.stop is not None]
        done = await asyncio.gather(
            *stops, self.scheduler.finish(grace_seconds), return_exceptions=True
        )
        closes = [p.close() for p in self.platforms.values() if p.close is not None]
        done += await asyncio.gather(*closes, return_exceptions=True)
        for failed in done:
            if isinstance(failed, Exception):
                log.error("shutdown: %s", failed, exc_info=failed)

    def not_ready(self) -> list[str]:
        """Why this process should not be sent requests (``/readyz``): the database is not
        reachable or not migrated, or no catalog source has synced yet; it is shutting down; a
        chat platform is not connected (each platform's ``not_ready``). Empty: ready. Blocking
        (the database is asked): run it in a worker thread."""
        from bot.store.sql.health import database_problems  # the store answers

        reasons = database_problems(self.db)
        if self.stopping:
            reasons.append(SHUTTING_DOWN)
        for parts in self.platforms.values():
            if parts.not_ready is not None:
                reasons.extend(r for r in parts.not_ready() if r not in reasons)
        return reasons

    def close(self) -> None:
        self.services.pool.shutdown(wait=False, cancel_futures=True)
        self.db.dispose()
