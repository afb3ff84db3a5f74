"""The notes an answer that found nothing carries, from the sources' status (in memory)."""

from __future__ import annotations

import datetime as dt

from bot.ports import SourceStatusRow
from bot.store.memory.status import MemorySourceStatus
from bot.trust import catalog_notes

NOW = dt.datetime(2026, 12, 6, 12, 0, tzinfo=dt.UTC)


def row(name: str, *, error: str | None = None, success_h: int | None = 3) -> SourceStatusRow:
    success = NOW - dt.timedelta(hours=success_h) if success_h is not None else None
    return SourceStatusRow(
        name, "file", "/cat", NOW - dt.timedelta(minutes=20), success, error, 10, 5
    )


async def test_sources_that_synced_fine_give_no_notes() -> None:
    statuses = MemorySourceStatus([row("main")])
    assert await catalog_notes(statuses, ["main"], NOW) == ()
    assert await catalog_notes(statuses, [], NOW) == ()


async def test_a_source_never_synced_and_a_failing_one_are_named() -> None:
    statuses = MemorySourceStatus(
        [
            row("broken", error="git: https://bot:abc123@git.example/r refused\nsecond line"),
            row("new", error="unreachable", success_h=None),
        ]
    )
    notes = await catalog_notes(statuses, ["missing", "broken", "new"], NOW)
    assert notes[0] == (
        "source missing has never synced: nothing from it is in the catalog yet (callboard sync)"
    )
    assert notes[1].startswith("source broken failed 20 min ago: git: https://")
    assert notes[1].endswith("; answers come from its last good sync (3 h ago)")
    assert "abc123" not in notes[1]  # scrubbed on the way out
    assert notes[2] == (
        "source new failed 20 min ago: unreachable; it has never synced, so nothing from it "
        "is in the catalog"
    )
