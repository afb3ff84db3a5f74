"""Source status rows and problems in memory (``SourceStatusReads``), for the fast unit tier."""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Sequence

from bot.catalog.problems import Problem
from bot.catalog.status import SourceStatus, compose_statuses
from bot.ports import SourceStatusRow


class MemorySourceStatus:
    """Status rows and problems held in dicts; ``record`` plays the sync's part."""

    def __init__(self, rows: Iterable[SourceStatusRow] = ()) -> None:
        self._rows = {row.name: row for row in rows}
        self._problems: dict[str, list[Problem]] = {}  # newest first, as the store lists them

    def record(self, row: SourceStatusRow, problems: Sequence[Problem] | None = None) -> None:
        """Store a source's row and, when given, replace its problems."""
        self._rows[row.name] = row
        if problems is not None:
            self._problems[row.name] = list(problems)

    async def status_rows(self, names: Sequence[str]) -> dict[str, SourceStatusRow]:
        return {name: self._rows[name] for name in names if name in self._rows}

    async def statuses(
        self,
        order: Sequence[str] = (),
        *,
        only: str | None = None,
        problem_limit: int = 5,
        problem_offset: int = 0,
    ) -> list[SourceStatus]:
        rows = {n: r for n, r in self._rows.items() if only is None or n == only}
        counts: Counter[tuple[str, str]] = Counter(
            (name, str(p.level)) for name, ps in self._problems.items() for p in ps
        )
        return compose_statuses(
            rows,
            counts,
            lambda name: self._problems.get(name, [])[
                problem_offset : problem_offset + problem_limit
            ],
            order,
            only,
        )
