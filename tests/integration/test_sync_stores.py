"""The sync into memory (``bot.store.memory.sync``) leaves what the sync into SQL leaves.

The fast tier's catalog is synced into memory stores; this runs the same sync of the same
files into SQLite and into memory, then changes the files and syncs again, and compares what
each store holds: entities, owners, files, status and problems, and the change log.
"""

from __future__ import annotations

import asyncio
import shutil
from pathlib import Path

from sqlalchemy import select

from bot.app import App
from bot.services import Services
from bot.store.memory.sync import MemorySyncStore
from bot.store.schema import changes
from tests.conftest import DEMO, AppFactory
from tests.unit.commands.conftest import MemoryBot, make_bot


async def _facts(services: Services) -> tuple[object, ...]:
    listing = await services.catalog.listing()
    statuses = await services.status.statuses(services.sync.source_names(), problem_limit=100)
    return (
        [(e.ref, e.owner_ref, e.source, e.file) for e in listing],
        [
            (s.name, s.state, s.entity_count, s.problem_count, s.error_count, s.problems)
            for s in statuses
        ],
    )


def test_memory_and_sql_syncs_hold_the_same_catalog(make_app: AppFactory, tmp_path: Path) -> None:
    memory: MemoryBot = make_bot(tmp_path / "memory")
    demo = tmp_path / "memory" / "demo"  # the memory bot's copy; the SQL app syncs it too
    sql: App = make_app(sources=[{"type": "file", "name": "demo", "target": str(demo / DEMO.name)}])
    try:
        assert asyncio.run(_facts(memory.services)) == asyncio.run(_facts(sql.services))

        misc = demo / "services" / "misc.yaml"
        misc.write_text(misc.read_text().replace("owner: team-legacy", "owner: team-payments"))
        (demo / "resources.yaml").write_text("kind: [broken\n")
        shutil.rmtree(demo / "apis", ignore_errors=True)
        memory_report = memory.services.sync.run()
        sql_report = sql.services.sync.run()
        for m, s in zip(memory_report.sources, sql_report.sources, strict=True):
            assert (m.added, m.removed, m.modified, m.owner_changed) == (
                s.added,
                s.removed,
                s.modified,
                s.owner_changed,
            )
            assert m.problems == s.problems
        assert asyncio.run(_facts(memory.services)) == asyncio.run(_facts(sql.services))

        assert isinstance(memory.stores.sync, MemorySyncStore)
        logged = [(c.ref, c.change, c.old_owner, c.new_owner) for c in memory.stores.sync.changes]
        with sql.db.engine.connect() as conn:
            rows = conn.execute(
                select(
                    changes.c.ref, changes.c.change, changes.c.old_owner, changes.c.new_owner
                ).order_by(changes.c.id)
            ).all()
        assert logged == [tuple(r) for r in rows]
        assert {"added", "removed", "owner_changed"} <= {c[1] for c in logged}
    finally:
        memory.services.pool.shutdown(wait=False, cancel_futures=True)
