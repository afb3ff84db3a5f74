"""`callboard sync` output: a progress bar on a terminal, then a short summary (or JSON).

A cold sync of a large catalog reads tens of thousands of files: the terminal shows one line
updated in place (files read, entities, time) and the summary stays within about 40 lines
however big the catalog is. Everything else is one option away: ``--problems`` (every
problem), ``--changes`` (every change), ``--format json`` (all of it, as data).
"""

from __future__ import annotations

import time
from collections import Counter
from typing import Any, TextIO

from bot.catalog.sync import SyncReport

CHANGES_SHOWN = 8
PROBLEMS_SHOWN = 20
BAR_WIDTH = 24


class ProgressBar:
    """One line on a terminal, redrawn at most ten times a second; cleared by ``close``."""

    def __init__(self, out: TextIO, clock: Any = time.monotonic) -> None:
        self.out = out
        self.clock = clock
        self.name = ""
        self.expected: int | None = None
        self.files = 0
        self.entities = 0
        self.started = clock()
        self._drawn = 0.0
        self._shown = False

    def source(self, name: str, files_expected: int | None) -> None:
        self.name, self.expected, self.files, self.entities = name, files_expected, 0, 0
        self._draw(force=True)

    def file(self, entities: int) -> None:
        self.files += 1
        self.entities += entities
        self._draw()

    def line(self) -> str:
        elapsed = self.clock() - self.started
        counts = f"{self.files:,} files read · {self.entities:,} entities · {elapsed:.0f}s"
        if self.expected:
            done = min(1.0, self.files / self.expected)
            filled = int(done * BAR_WIDTH)
            bar = "#" * filled + "." * (BAR_WIDTH - filled)
            return f"{self.name} [{bar}] {done:4.0%} {counts}"
        return f"{self.name}: {counts}"

    def _draw(self, force: bool = False) -> None:
        now = self.clock()
        if not force and now - self._drawn < 0.1:
            return
        self._drawn = now
        self.out.write("\r\033[K" + self.line())
        self.out.flush()
        self._shown = True

    def close(self) -> None:
        if self._shown:
            self.out.write("\r\033[K")
            self.out.flush()
            self._shown = False


def _plural(n: int, noun: str) -> str:
    return f"{n:,} {noun}{'' if n == 1 else 's'}"


def summary_lines(
    report: SyncReport, *, all_problems: bool = False, all_changes: bool = False
) -> list[str]:
    """What a sync did, in about 40 lines at most unless every problem or change is asked for."""
    lines = report.summary().splitlines()
    changes = [
        line
        for s in report.sources
        for line in (
            *(f"  + {r}" for r in s.added),
            *(f"  - {r}" for r in s.removed),
            *(f"  ~ {r}: owner {old} -> {new}" for r, old, new in s.owner_changed),
            *(f"  ~ {r}" for r in s.modified),
        )
    ]
    if changes:
        shown = changes if all_changes else changes[:CHANGES_SHOWN]
        head = f"Changes: {len(changes):,}"
        lines.append(head + ("" if len(shown) == len(changes) else f"; the first {len(shown)}:"))
        lines.extend(shown)
        if len(shown) < len(changes):
            lines.append(f"  … {len(changes) - len(shown):,} more: --changes lists every change")
    problems = report.problems
    if problems:
        per_source: list[str] = []
        for name, found in [(s.name, s.problems) for s in report.sources] + [
            (step.name, step.problems) for step in report.steps
        ]:
            levels = Counter(p.level for p in found)
            if found:
                per_source.append(
                    f"{name} {_plural(levels['error'], 'error')}, "
                    f"{_plural(levels['warning'], 'warning')}"
                )
        lines.append(f"Problems: {'; '.join(per_source)}")
        shown_problems = problems if all_problems else problems[:PROBLEMS_SHOWN]
        lines.extend(str(p) for p in shown_problems)
        if len(shown_problems) < len(problems):
            lines.append(
                f"… {len(problems) - len(shown_problems):,} more problems: "
                "callboard sync --problems lists them all (callboard status SOURCE pages them; "
                "--format json gives everything)"
            )
    return lines


def report_data(report: SyncReport) -> dict[str, Any]:
    """The whole sync report as data (``callboard sync --format json``)."""
    return {
        "ok": report.ok,
        "sources": [
            {
                "name": s.name,
                "ok": s.ok,
                "error": s.error,
                "entities": s.entities,
                "files_read": s.files_read,
                "files_parsed": s.files_parsed,
                "duration_s": round(s.duration_s, 3),
                "added": s.added,
                "removed": s.removed,
                "modified": s.modified,
                "owner_changed": [
                    {"ref": ref, "old": old, "new": new} for ref, old, new in s.owner_changed
                ],
                "problems": [p.to_dict() for p in s.problems],
            }
            for s in report.sources
        ],
        "steps": [
            {
                "name": step.name,
                "ok": step.ok,
                "summary": step.summary,
                "problems": [p.to_dict() for p in step.problems],
            }
            for step in report.steps
        ],
    }
