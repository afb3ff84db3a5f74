"""How far a sync got, for whoever shows it (the ``callboard sync`` progress bar).

A sync reports to the ``SyncProgress`` installed with ``reporting(...)`` in the current context
(a ``ContextVar``: a thread started with ``asyncio.to_thread`` inherits it, other syncs do not
see it). With none installed, reporting costs one lookup per file.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from typing import Protocol


class SyncProgress(Protocol):
    """Told when each source starts and as each of its files is read. Must not raise."""

    def source(self, name: str, files_expected: int | None) -> None:
        """A source starts; ``files_expected``: how many files it had at its last sync."""

    def file(self, entities: int) -> None:
        """One file read (``entities``: the entities parsed from it; 0 when unchanged)."""


_current: ContextVar[SyncProgress | None] = ContextVar("callboard_sync_progress", default=None)


@contextmanager
def reporting(progress: SyncProgress) -> Iterator[None]:
    """Send the progress of syncs run inside this block to ``progress``."""
    token = _current.set(progress)
    try:
        yield
    finally:
        _current.reset(token)


def source_started(name: str, files_expected: int | None) -> None:
    progress = _current.get()
    if progress is not None:
        progress.source(name, files_expected)


def file_read(entities: int) -> None:
    progress = _current.get()
    if progress is not None:
        progress.file(entities)
