"""Readiness: whether this process can answer (``/readyz``), as reasons it cannot.

``/healthz`` says the process is alive; ``/readyz`` says a load balancer may send it requests:
the database is reachable and migrated, at least one catalog source has synced successfully
(on any replica), and the chat platform clients are connected (the adapter adds its own
reason). An empty list is ready.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from bot.services import Services


def not_ready(services: Services) -> list[str]:
    """The reasons the database side is not ready (empty: ready). Blocking: run it off the
    event loop."""
    from bot.store.sql.health import database_problems  # the store answers

    return database_problems(services.db)
