"""Source status rows in memory (``SourceStatusReads``), for the fast unit tier."""

from __future__ import annotations

from collections.abc import Iterable, Sequence

from bot.ports import SourceStatusRow


class MemorySourceStatus:
    """Status rows held in a dict; ``record`` plays the sync's part."""

    def __init__(self, rows: Iterable[SourceStatusRow] = ()) -> None:
        self._rows = {row.name: row for row in rows}

    def record(self, row: SourceStatusRow) -> None:
        self._rows[row.name] = row

    async def status_rows(self, names: Sequence[str]) -> dict[str, SourceStatusRow]:
        return {name: self._rows[name] for name in names if name in self._rows}
