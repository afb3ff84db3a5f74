"""The sync's store in memory (``SyncStore``): a source's plan applied to the memory catalog.

What ``bot.store.sql.sync`` does in one database transaction, for one process: entities (in
``MemoryCatalogRows``), the source's files and problems, its status row (in
``MemorySourceStatus``) and version. A source's writes are kept aside until its ``writing``
block ends without an error, so a failed write leaves the store as it was, as a rollback does.
The decisions stay ``bot.catalog.reconcile``'s; what this store holds after a plan is what
``reconcile.after`` says the executor leaves.
"""

from __future__ import annotations

import contextlib
import dataclasses
import datetime as dt
import json
import threading
from collections.abc import Collection, Iterator, Mapping, Sequence
from dataclasses import dataclass, field

from bot.catalog import fidelity
from bot.catalog.candidates import Candidate
from bot.catalog.problems import Problem
from bot.catalog.reconcile import Plan, StoredEntity
from bot.ports import KnownFileRow, SourceMoved, SourceStatusRow
from bot.reports.changes import ChangeRow
from bot.store.memory.catalog import MemoryCatalogRows
from bot.store.memory.status import MemorySourceStatus


@dataclass
class _Source:
    version: int = 0
    files: list[KnownFileRow] = field(default_factory=list)
    problems: list[tuple[dt.datetime, Problem]] = field(default_factory=list)  # oldest first
    row: SourceStatusRow | None = None


def _newest_first(problems: Sequence[tuple[dt.datetime, Problem]]) -> list[Problem]:
    """As the SQL store lists them: the latest sync's first, then in the order written."""
    order = sorted(range(len(problems)), key=lambda i: (-problems[i][0].timestamp(), i))
    return [problems[i][1] for i in order]


class MemorySourceWriter:
    """One source's writes (``SourceWriter``), kept aside until ``MemorySyncStore.writing``
    commits them."""

    def __init__(self, store: MemorySyncStore, source: str) -> None:
        self.store = store
        self.source = source
        held = store.sources.get(source) or _Source()
        self.state = dataclasses.replace(held, problems=list(held.problems))
        self.upserts: dict[str, Candidate] = {}
        self.removals: set[str] = set()
        self.changes: list[tuple[dt.datetime, str, str, str | None, str | None]] = []
        self.changed = False

    def stored_entities(self, refs: Collection[str] | None = None) -> dict[str, StoredEntity]:
        """The stored entities among ``refs`` (None: all), with this writer's writes."""
        found = self.store.rows.stored_entities(refs)
        for ref in self.removals:
            found.pop(ref, None)
        asked = None if refs is None else set(refs)
        for ref, c in self.upserts.items():
            if asked is None or ref in asked:
                found[ref] = StoredEntity(self.source, c.file, c.owner, c.content_hash)
        return found

    def stored_problems(self) -> list[Problem]:
        return [p for _at, p in self.state.problems]

    def execute(self, plan: Plan, now: dt.datetime) -> Plan:
        """Keep ``plan``'s writes (memory refuses no entity: the plan is written whole)."""
        for ref in plan.removals:
            self.upserts.pop(ref, None)
            self.removals.add(ref)
        for u in plan.upserts:
            self.removals.discard(u.candidate.ref)
            self.upserts[u.candidate.ref] = u.candidate
        self.changes += [
            (now, c.ref, c.kind, c.old_owner, c.new_owner) for c in plan.changes if c.logged
        ]
        if plan.partial:
            return plan  # the source's files and problems come with the last part
        self.state.files = [
            KnownFileRow(
                f.path,
                f.sha256 or "",
                f.children,
                json.dumps(list(f.refs)),
                f.position,
                f.stat,
            )
            for f in plan.files
        ]
        stale = set(plan.stale_problem_files)
        self.state.problems = [
            (at, p) for at, p in self.state.problems if p.file is not None and p.file not in stale
        ]
        self.state.problems += [(now, p) for p in plan.problems]
        return plan

    def replace_drop_notes(self, notes: Sequence[Problem] | None, now: dt.datetime) -> None:
        """Replace the source's warnings of what a default Backstage would not show."""
        kept = [
            (at, p)
            for at, p in self.state.problems
            if not p.message.startswith(fidelity.DROP_PREFIX)
        ]
        if notes is None:
            files = sorted(self.state.files, key=lambda f: f.position)
            facts = fidelity.file_facts(
                ((f.path, f.children, list(f.refs)) for f in files), [p for _at, p in kept]
            )
            notes = fidelity.drop_problems(facts, [f.path for f in files])
        self.state.problems = [*kept, *((now, p) for p in notes)]

    def nothing_changed(
        self, fresh: Sequence[Problem], now: dt.datetime, stats: Mapping[str, str | None]
    ) -> None:
        """Every file is as last time: replace the problems of no file, keep the new stats."""
        if stats:
            self.state.files = [
                dataclasses.replace(f, stat=stats[f.path]) if f.path in stats else f
                for f in self.state.files
            ]
        self.state.problems = [(at, p) for at, p in self.state.problems if p.file is not None]
        self.state.problems += [(now, p) for p in fresh]

    def succeeded(
        self, source_type: str, location: str | None, now: dt.datetime
    ) -> tuple[list[Problem], int]:
        count = sum(1 for e in self.stored_entities().values() if e.source == self.source)
        before = self.state.row
        self.state.row = SourceStatusRow(
            self.source,
            source_type,
            location,
            now,
            now,
            None,
            count,
            before.duration_ms if before is not None else None,
        )
        return self.stored_problems(), count

    def finish(self, changed: bool) -> None:
        self.state.version += 1
        self.changed = changed


class MemorySyncStore:
    """The sync's store (``SyncStore``) over a memory catalog and status store."""

    def __init__(
        self, rows: MemoryCatalogRows, status: MemorySourceStatus, read_only: bool = False
    ) -> None:
        self.rows = rows
        self.status = status
        self.sources: dict[str, _Source] = {}
        self.changes: list[ChangeRow] = []  # the change log, oldest first
        self._read_only = read_only
        self._lock = threading.Lock()  # one source's write at a time, as the SQL source lock

    @property
    def read_only(self) -> bool:
        return self._read_only

    def known_files(self, source: str) -> tuple[int, list[KnownFileRow]]:
        held = self.sources.get(source) or _Source()
        return held.version, list(held.files)

    @contextlib.contextmanager
    def writing(self, source: str, version: int) -> Iterator[MemorySourceWriter]:
        """The source's writes, committed when the block ends without an error."""
        with self._lock:
            held = self.sources.get(source) or _Source()
            if held.version != version:
                raise SourceMoved
            writer = MemorySourceWriter(self, source)
            yield writer
            self.rows.apply(source, writer.upserts.values(), writer.removals)
            start = len(self.changes) + 1
            self.changes += [ChangeRow(start + i, *c) for i, c in enumerate(writer.changes)]
            self._commit(source, writer.state)

    def _commit(self, source: str, state: _Source) -> None:
        self.sources[source] = state
        if state.row is not None:
            self.status.record(state.row, _newest_first(state.problems))

    def failed(
        self,
        source: str,
        source_type: str,
        location: str | None,
        error: str | None,
        found: Sequence[Problem],
        duration_ms: int,
        now: dt.datetime,
    ) -> None:
        """Record a failed run: its error, and the problems of no file replaced by ``found``."""
        with self._lock:
            held = self.sources.get(source) or _Source()
            before = held.row
            row = SourceStatusRow(
                source,
                source_type,
                location,
                now,
                before.last_success if before is not None else None,
                error,
                before.entity_count if before is not None else 0,
                duration_ms,
            )
            problems = [(at, p) for at, p in held.problems if p.file is not None]
            problems += [(now, p) for p in found]
            self._commit(source, dataclasses.replace(held, problems=problems, row=row))

    def took(self, source: str, duration_ms: int) -> None:
        with self._lock:
            held = self.sources.get(source)
            if held is None or held.row is None:
                return
            row = dataclasses.replace(held.row, duration_ms=duration_ms)
            self._commit(source, dataclasses.replace(held, row=row))
