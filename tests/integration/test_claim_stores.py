"""Both claim stores keep the same promise: a run is claimed (or recorded missed) once, ever,
and only its claimer records how it ended."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import pytest

from bot.ports import ClaimStore
from bot.store.db import Database
from bot.store.memory.claims import MemoryClaimStore
from bot.store.sql.claims import SqlClaimStore

AT = dt.datetime(2026, 11, 2, 8, 0, tzinfo=dt.UTC)
NOW = AT + dt.timedelta(seconds=3)


@pytest.fixture(params=["memory", "sqlite"])
def store(request: pytest.FixtureRequest, tmp_path: Path) -> ClaimStore:
    if request.param == "memory":
        return MemoryClaimStore()
    db = Database(f"sqlite:///{tmp_path / 'claims.db'}")
    db.migrate()
    request.addfinalizer(db.dispose)
    return SqlClaimStore(db)


async def test_a_run_is_claimed_once_and_finished_by_its_claimer(store: ClaimStore) -> None:
    assert await store.claim("daily", "digest", AT, "a", NOW)
    assert not await store.claim("daily", "digest", AT, "b", NOW)
    assert not await store.record_missed("daily", "digest", AT, "b", NOW, "late")
    await store.finish("daily", AT, "b", NOW, "posted", 9, {})  # not b's: ignored
    await store.finish("daily", AT, "a", NOW, "partial", 2, {"note": "x"})
    [run] = await store.runs("daily")
    assert (run.status, run.posts, run.claimed_by, run.detail) == ("partial", 2, "a", {"note": "x"})
    assert run.scheduled_at == AT and run.finished_at == NOW


async def test_missed_runs_and_the_newest_run_per_schedule(store: ClaimStore) -> None:
    assert await store.last_run("daily") is None
    later = AT + dt.timedelta(days=1)
    assert await store.record_missed("daily", "digest", AT, "a", NOW, "no bot was running")
    assert await store.claim("daily", "digest", later, "a", later)
    assert await store.claim("weekly", "changes", AT, "a", NOW)
    assert await store.last_run("daily") == later
    runs = await store.runs()
    assert [(r.schedule_id, r.status) for r in runs] == [
        ("daily", "missed"),
        ("weekly", "claimed"),
        ("daily", "claimed"),
    ]
    assert runs[0].detail == {"reason": "no bot was running"}
