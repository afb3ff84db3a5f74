"""Sync: read each source, validate, derive relations, and write the result in one transaction.

Per source, files whose hash is unchanged are skipped; entities no longer emitted are removed;
a file that fails to read or parse keeps the entities it held; an entity that fails validation
keeps its last good version; duplicates go to the first reached (first source, then first file),
with a warning. Every change is recorded (added, removed, modified, owner changed).

Those rules are ``bot.catalog.reconcile``'s, a pure plan tested without a database; this module
reads each source, turns its files into validated candidates, and per source runs: load what is
stored, reconcile, execute the plan, all through a ``SyncStore`` (``bot.store.sql.sync``).
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import logging
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol

from bot.catalog import progress
from bot.catalog.candidates import (
    Candidate,
    entity_candidates,
    fit_for_store,
    make_candidate,
    ref_text_of,
)
from bot.catalog.files import FileRead, KnownFile, stat_key
from bot.catalog.model import Entity, Relation
from bot.catalog.problems import Problem
from bot.catalog.read import release_in_steps
from bot.catalog.reconcile import FileOutcome, Plan, Reconciler, Run, unchanged
from bot.catalog.rules import CatalogRules
from bot.catalog.sources import CatalogSource
from bot.catalog.validation import validate_entity
from bot.errors import CatalogError, SourceError, StoreError
from bot.ports import SourceMoved, SourceWriter, SyncStore
from bot.store.db import utcnow

log = logging.getLogger(__name__)

MAX_ATTEMPTS = 3  # reads of a source that another process's sync overtook, before giving up


@dataclass
class SourceReport:
    """What one source's sync did."""

    name: str
    ok: bool
    error: str | None = None
    files_read: int = 0
    files_parsed: int = 0
    entities: int = 0
    added: list[str] = field(default_factory=list)
    removed: list[str] = field(default_factory=list)
    modified: list[str] = field(default_factory=list)
    owner_changed: list[tuple[str, str | None, str | None]] = field(default_factory=list)
    problems: list[Problem] = field(default_factory=list)
    duration_s: float = 0.0
    relinked: list[str] = field(default_factory=list)  # only their source-computed relations

    @property
    def changed(self) -> bool:
        return bool(
            self.added or self.removed or self.modified or self.owner_changed or self.relinked
        )


@dataclass
class StepReport:
    """What a post-sync step (such as the docs index) did: one summary line and its problems."""

    name: str
    summary: str
    problems: list[Problem] = field(default_factory=list)
    ok: bool = True


class PostSyncStep(Protocol):
    """Work that follows every sync (the docs index), wired by ``build_app``.

    ``run`` must report bad input in its ``StepReport`` rather than raise; an exception is
    logged and shown as a failed step, and never undoes the sync.
    """

    name: str

    def run(self, report: SyncReport, force: bool = False) -> StepReport: ...


@dataclass
class SyncReport:
    """What a whole sync did, source by source, then step by step."""

    sources: list[SourceReport]
    steps: list[StepReport] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        """True when at least one source could be read (or there are none)."""
        return not self.sources or any(s.ok for s in self.sources)

    @property
    def problems(self) -> list[Problem]:
        return [p for s in self.sources for p in s.problems] + [
            p for step in self.steps for p in step.problems
        ]

    def summary(self) -> str:
        lines = []
        for s in self.sources:
            if not s.ok:
                lines.append(f"{s.name}: FAILED: {s.error} (last good entities kept)")
                continue
            lines.append(
                f"{s.name}: {s.entities} entities, {len(s.added)} added, {len(s.removed)} removed,"
                f" {len(s.modified)} modified, {len(s.owner_changed)} owner changes;"
                f" {s.files_parsed} of {s.files_read} files parsed, {len(s.problems)} problems,"
                f" {s.duration_s:.2f}s"
            )
        for step in self.steps:
            lines.append(f"{step.name}: {step.summary}")
        return "\n".join(lines) if lines else "no catalog sources configured"


@dataclass
class PrebuiltRead(FileRead):
    """Entities a source hands over already processed, relations included (a live Backstage).

    ``documents`` hold the entity documents (without their ``relations``) and ``relations`` the
    relations of each document, in the same order, as the source computed them. Sync stores
    those instead of deriving its own, and reports validation findings as warnings: the source
    has already accepted these entities. Everything else (hash skipping, removals, duplicates,
    changes, keeping the last good entities) works as for files; ``path`` groups the entities
    (for Backstage, the location that manages them).
    """

    relations: list[list[Relation]] = field(default_factory=list)


def build_candidates(read: FileRead, problems_out: list[Problem]) -> tuple[list[Candidate], bool]:
    """Validated entities of one parsed file; the flag says whether every document was good."""
    if read.prepared is not None:  # done by the source as it read the file
        candidates, clean, found = read.prepared
        problems_out.extend(found)
        return candidates, clean
    if isinstance(read, PrebuiltRead):
        return _prebuilt_candidates(read, problems_out), read.complete
    return entity_candidates(read.documents or (), read.path, read.complete, problems_out)


def _prebuilt_candidates(read: PrebuiltRead, problems_out: list[Problem]) -> list[Candidate]:
    out: list[Candidate] = []
    for doc, rels in zip(read.documents or (), read.relations, strict=True):
        fixes = fit_for_store(doc.data)
        ref_text = ref_text_of(doc.data)
        problems_out.extend(
            Problem("warning", m, read.path, doc.line, ref_text)
            for m in fixes + validate_entity(doc.data)
        )
        try:
            entity = Entity.from_document(doc.data, read.path, doc.line)
        except (KeyError, TypeError, ValueError, CatalogError) as exc:
            problems_out.append(
                Problem("error", f"entity not usable: {exc!r}", read.path, doc.line, ref_text)
            )
            continue
        data = json.dumps(doc.data, separators=(",", ":"), default=str)
        data_hash = hashlib.sha256(data.encode()).hexdigest()[:32]
        rel_text = "\n".join(sorted(f"{r.source} {r.type} {r.target}" for r in rels))
        rels_hash = hashlib.sha256(rel_text.encode()).hexdigest()[:32]
        out.append(make_candidate(entity, data, data_hash + rels_hash, rels, read.path, data_hash))
    return out


def file_outcome(read: FileRead) -> FileOutcome:
    """What reconciling needs of one file read: its problems and validated candidates."""
    if not read.readable or not read.parsed:
        return FileOutcome(
            read.path, read.sha256, read.children, tuple(read.problems), stat=read.stat
        )
    found = list(read.problems)
    candidates, clean = build_candidates(read, found)
    return FileOutcome(
        read.path, read.sha256, read.children, tuple(found), candidates, clean, read.stat
    )


def _report_plan(plan: Plan, report: SourceReport) -> None:
    report.files_read = plan.files_read
    report.files_parsed = plan.files_parsed
    for change in plan.changes:
        if change.kind == "added":
            report.added.append(change.ref)
        elif change.kind == "removed":
            report.removed.append(change.ref)
        elif change.kind == "modified":
            report.modified.append(change.ref)
        elif change.kind == "relinked":
            report.relinked.append(change.ref)
        else:
            report.owner_changed.append((change.ref, change.old_owner, change.new_owner))


SYNC_BATCH = 5000
"""Entities (and files) reconciled and written at a time: what a sync holds of what it read."""


class _ReadFailed(Exception):
    """The source failed while its files were being read: the sync's writes are undone."""

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


class _Reading:
    """The files read before the write transaction, then the rest as the source reads them;
    a failure of the source on the way is a ``_ReadFailed``."""

    def __init__(self, head: list[FileRead], rest: Iterator[FileRead]) -> None:
        self.head = head
        self.rest = rest

    def __iter__(self) -> Iterator[FileRead]:
        head, self.head = self.head, []
        yield from head
        try:
            yield from self.rest
        except SourceError as exc:
            raise _ReadFailed(str(exc)) from exc
        except Exception as exc:  # a source bug must not take the bot down
            log.exception("source failed while its files were read")
            raise _ReadFailed(f"{type(exc).__name__}: {exc}") from exc


class CatalogSync:
    """Runs sources into the store. One instance per app; ``run`` is blocking (use a thread)."""

    def __init__(
        self,
        store: SyncStore,
        sources: Sequence[CatalogSource],
        steps: Sequence[PostSyncStep] = (),
        clock: Callable[[], dt.datetime] = utcnow,
        rules: CatalogRules | None = None,
        fidelity: str = "lenient",
    ) -> None:
        self.store = store
        self.sources = list(sources)
        self.rules = rules or CatalogRules()  # the kinds each source may hold
        # "lenient": keep what Backstage would drop, with a warning; "backstage": drop it too
        self.fidelity = fidelity
        self.steps = list(steps)  # run after the sources, in order, on every sync
        self.clock = clock  # stamps changes and status (the app's clock, so tests control it)

    def source_names(self) -> list[str]:
        return [s.name for s in self.sources]

    def run(self, only: str | None = None, force: bool = False) -> SyncReport:
        reports = []
        for source in self.sources:
            if only is not None and source.name != only:
                continue
            if self.store.read_only:
                error = f"source {source.name}: not synced: the database is read-only"
                reports.append(
                    SourceReport(
                        source.name, ok=False, error=error, problems=[Problem("error", error)]
                    )
                )
                continue
            reports.append(self._sync_source(source, force))
        report = SyncReport(reports)
        if self.store.read_only:
            return report  # the steps write too
        for step in self.steps:
            try:
                report.steps.append(step.run(report, force))
            except Exception as exc:  # a step's bug must not lose the sync
                log.exception("post-sync step %s failed", step.name)
                message = f"FAILED: {type(exc).__name__}: {exc}"
                failed = StepReport(step.name, message, [Problem("error", message)], ok=False)
                report.steps.append(failed)
        return report

    def _sync_source(self, source: CatalogSource, force: bool) -> SourceReport:
        started = time.perf_counter()
        now = self.clock()
        for attempt in range(1, MAX_ATTEMPTS + 1):
            try:
                return self._attempt(source, force, started, now)
            except SourceMoved:
                # Another process (a replica, a cron `callboard sync`) committed this source
                # after this sync read it: what was read may be older. Read again.
                log.info("source %s changed under this sync (attempt %d)", source.name, attempt)
        report = SourceReport(source.name, ok=False)
        report.error = (
            f"source {source.name}: other syncs of this source committed while this one read, "
            f"{MAX_ATTEMPTS} times; nothing written (their newer data is kept)"
        )
        report.problems.append(Problem("error", report.error))
        report.duration_s = time.perf_counter() - started
        return report

    def _attempt(
        self, source: CatalogSource, force: bool, started: float, now: dt.datetime
    ) -> SourceReport:
        report = SourceReport(source.name, ok=True)
        version, known_rows = self.store.known_files(source.name)
        known = {r.path: KnownFile(r.sha256, r.children, stat_key(r.stat)) for r in known_rows}
        progress.source_started(source.name, len(known_rows) or None)
        positions_before = {r.path: r.position for r in known_rows}
        reads: Iterator[FileRead] | None = None
        try:
            # Read outside the write transaction while nothing has changed (a no-change sync
            # writes almost nothing); from the first change on, the files are reconciled and
            # written a batch at a time as they are read.
            head: list[FileRead] = []
            try:
                reads = iter(source.read(known, force, prepare=True))
                for read in reads:
                    head.append(read)
                    if not read.readable or read.parsed:
                        break
                    if positions_before.get(read.path) != len(head) - 1:
                        break
            except SourceError as exc:
                raise _ReadFailed(str(exc)) from exc
            except Exception as exc:  # a source bug must not take the bot down
                log.exception("source %s failed", source.name)
                raise _ReadFailed(f"{type(exc).__name__}: {exc}") from exc
            files_before: dict[str, tuple[str, ...]] = {}
            with self.store.writing(source.name, version) as writer:
                if unchanged(positions_before, [(r.path, r.readable, r.parsed) for r in head]):
                    report.files_read = len(head)
                    fresh = [p for read in head for p in read.problems if p.file is None]
                    stats_before = {r.path: r.stat for r in known_rows}
                    stats = {r.path: r.stat for r in head if r.stat != stats_before.get(r.path)}
                    writer.nothing_changed(fresh, now, stats)
                    self._succeeded(writer, source, report, now)
                else:
                    files_before = {r.path: r.refs for r in known_rows}
                    self._apply(writer, source, _Reading(head, reads), files_before, report, now)
        except _ReadFailed as exc:  # the source failed: nothing of this sync was written
            return self._failed(source, report, exc.message, started, now)
        except StoreError as exc:
            # Rolled back as a whole: the store still holds this source's last good catalog.
            report = SourceReport(source.name, ok=False)
            report.error = f"source {source.name}: the database refused the sync ({exc})"
            report.problems.append(Problem("error", report.error))
            report.duration_s = time.perf_counter() - started
            try:
                self._record_failure(source, report, now)
            except StoreError as again:
                raise StoreError(f"{report.error}, and recording that failed: {again}") from again
            return report
        finally:
            close = getattr(reads, "close", None)
            if close is not None:
                close()  # stops a walk's parse workers when the sync ends early
        report.duration_s = time.perf_counter() - started
        self.store.took(source.name, int(report.duration_s * 1000))
        # A record per file of the source, six times over (and every stored ref, in the
        # files' ref lists: a million at Spotify's scale): freed in steps (release_in_steps).
        held: list[Any] = [reads, known_rows, known, positions_before, files_before, head]
        del reads, known_rows, known, positions_before, files_before, head
        release_in_steps(held)
        return report

    def _failed(
        self,
        source: CatalogSource,
        report: SourceReport,
        error: str,
        started: float,
        now: dt.datetime,
    ) -> SourceReport:
        """The source could not be read: its last good entities stay; record why."""
        report.ok = False
        report.error = error
        report.problems.append(Problem("error", error))
        report.duration_s = time.perf_counter() - started
        self._record_failure(source, report, now)
        return report

    def _record_failure(
        self, source: CatalogSource, report: SourceReport, now: dt.datetime
    ) -> None:
        self.store.failed(
            source.name,
            source.type,
            source.location,
            report.error,
            report.problems,
            int(report.duration_s * 1000),
            now,
        )

    def _apply(
        self,
        writer: SourceWriter,
        source: CatalogSource,
        reads: _Reading,
        files_before: dict[str, tuple[str, ...]],
        report: SourceReport,
        now: dt.datetime,
    ) -> None:
        """Reconcile what is read with what is stored and write the plan, a batch at a time."""
        run = Run(
            source.name,
            source.type,
            (),
            self.source_names(),
            self.rules,
            backstage_fidelity=self.fidelity == "backstage",
        )
        freezes = self.fidelity == "backstage" and source.type != "backstage"
        rec = Reconciler(
            run, files_before, writer.stored_entities, writer.stored_problems() if freezes else ()
        )
        batch: list[FileOutcome] = []
        size = 0
        for read in reads:
            outcome = file_outcome(read)
            batch.append(outcome)
            size += len(outcome.candidates or ()) + 1
            if size >= SYNC_BATCH and not rec.freezes:  # a freeze needs every file at once
                self._write_part(writer, rec, batch, report, now)
                batch, size = [], 0
        self._write_part(writer, rec, batch, report, now)
        plan = writer.execute(rec.finish(), now)
        _report_plan(plan, report)
        if source.type != "backstage":  # a live Backstage already dropped what it drops
            writer.replace_drop_notes(plan.drop_notes, now)
        self._succeeded(writer, source, report, now)
        writer.finish(report.changed)
        # The reconciler's ref map, the plan: freed in steps, not in one C call.
        held: list[Any] = [rec, run, plan]
        del rec, run, plan
        release_in_steps(held)

    @staticmethod
    def _write_part(
        writer: SourceWriter,
        rec: Reconciler,
        batch: list[FileOutcome],
        report: SourceReport,
        now: dt.datetime,
    ) -> None:
        part = rec.add(batch)
        if not part.upserts:
            return
        written = writer.execute(part, now)
        if written is not part:
            rec.refused(part, written)
        _report_plan(written, report)

    @staticmethod
    def _succeeded(
        writer: SourceWriter, source: CatalogSource, report: SourceReport, now: dt.datetime
    ) -> None:
        """The report's problems and count as stored, and a successful run in the status."""
        report.problems, report.entities = writer.succeeded(source.type, source.location, now)
