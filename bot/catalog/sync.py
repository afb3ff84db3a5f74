"""Sync: read each source, validate, derive relations, and write the result in one transaction.

Per source, files whose hash is unchanged are skipped; entities no longer emitted are removed;
a file that fails to read or parse keeps the entities it held; an entity that fails validation
keeps its last good version; duplicates go to the first reached (first source, then first file),
with a warning. Every change is recorded (added, removed, modified, owner changed).
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import logging
import time
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol

from sqlalchemy import Connection, bindparam, delete, func, insert, select, update
from sqlalchemy.exc import SQLAlchemyError

from bot.catalog import fidelity, progress
from bot.catalog.candidates import (
    Candidate,
    entity_candidates,
    fit_for_store,
    make_candidate,
    ref_text_of,
)
from bot.catalog.duplicates import first_reached
from bot.catalog.files import FileRead, KnownFile
from bot.catalog.model import Entity, Relation
from bot.catalog.problems import Problem
from bot.catalog.rules import CatalogRules
from bot.catalog.sources import CatalogSource
from bot.catalog.validation import validate_entity
from bot.errors import CatalogError, SourceError, StoreError
from bot.store.db import Database, bulk_insert, bump_generation, utcnow
from bot.store.schema import (
    PROBLEM_COLUMNS,
    catalog_files,
    changes,
    entities,
    meta,
    problems,
    relations,
    source_status,
)

log = logging.getLogger(__name__)

_CHUNK = 500
MAX_ATTEMPTS = 3  # reads of a source that another process's sync overtook, before giving up


class _SourceMoved(Exception):
    """Another sync of the source committed after this one read its known files."""


def _version_key(source_name: str) -> str:
    return "source-version:" + hashlib.sha256(source_name.encode()).hexdigest()[:40]


def source_version(conn: Connection, source_name: str) -> int:
    """How many syncs have written this source (compared before and after reading it)."""
    value = conn.execute(
        select(meta.c.value).where(meta.c.key == _version_key(source_name))
    ).scalar()
    return int(value) if value else 0


def _bump_source_version(conn: Connection, source_name: str) -> None:
    key = _version_key(source_name)
    current = conn.execute(select(meta.c.value).where(meta.c.key == key)).scalar()
    if current is None:
        conn.execute(insert(meta).values(key=key, value="1"))
    else:
        conn.execute(update(meta).where(meta.c.key == key).values(value=str(int(current) + 1)))


def _clean(text: str | None) -> str | None:
    """Text as the store can hold it (PostgreSQL refuses NUL characters)."""
    return text.replace("\0", "") if text and "\0" in text else text


def _reason(exc: Exception) -> str:
    orig = getattr(exc, "orig", None)
    return (str(orig or exc).strip().splitlines() or [type(exc).__name__])[0][:300]


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


def _json_tuple(text: str) -> tuple[str, ...]:
    return () if text == "[]" else tuple(json.loads(text))  # most files have no children


def _chunks(items: Sequence[Any], size: int = _CHUNK) -> Iterable[Sequence[Any]]:
    for start in range(0, len(items), size):
        yield items[start : start + size]


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


class CatalogSync:
    """Runs sources into the store. One instance per app; ``run`` is blocking (use a thread)."""

    def __init__(
        self,
        db: Database,
        sources: Sequence[CatalogSource],
        steps: Sequence[PostSyncStep] = (),
        clock: Callable[[], dt.datetime] = utcnow,
        rules: CatalogRules | None = None,
        fidelity: str = "lenient",
    ) -> None:
        self.db = db
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
        for index, source in enumerate(self.sources):
            if only is not None and source.name != only:
                continue
            if self.db.read_only:
                error = f"source {source.name}: not synced: the database is read-only"
                reports.append(
                    SourceReport(
                        source.name, ok=False, error=error, problems=[Problem("error", error)]
                    )
                )
                continue
            reports.append(self._sync_source(index, source, force))
        report = SyncReport(reports)
        if self.db.read_only:
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

    def _sync_source(self, index: int, source: CatalogSource, force: bool) -> SourceReport:
        started = time.perf_counter()
        now = self.clock()
        for attempt in range(1, MAX_ATTEMPTS + 1):
            try:
                return self._attempt(index, source, force, started, now)
            except _SourceMoved:
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
        self, index: int, source: CatalogSource, force: bool, started: float, now: Any
    ) -> SourceReport:
        report = SourceReport(source.name, ok=True)
        with self.db.engine.connect() as conn:
            version = source_version(conn, source.name)
            known_rows = conn.execute(
                select(
                    catalog_files.c.path,
                    catalog_files.c.sha256,
                    catalog_files.c.children,
                    catalog_files.c.entity_refs,
                    catalog_files.c.position,
                ).where(catalog_files.c.source == source.name)
            ).all()
        known = {r.path: KnownFile(r.sha256 or "", _json_tuple(r.children)) for r in known_rows}
        positions_before = {r.path: r.position for r in known_rows}
        progress.source_started(source.name, len(known_rows) or None)
        try:
            reads = source.read(known, force, prepare=True)
        except SourceError as exc:
            report.ok = False
            report.error = str(exc)
            report.problems.append(Problem("error", str(exc)))
            report.duration_s = time.perf_counter() - started
            self._record_failure(source, report, now)
            return report
        except Exception as exc:  # a source bug must not take the bot down
            log.exception("source %s failed", source.name)
            report.ok = False
            report.error = f"{type(exc).__name__}: {exc}"
            report.problems.append(Problem("error", report.error))
            report.duration_s = time.perf_counter() - started
            self._record_failure(source, report, now)
            return report
        unchanged = len(reads) == len(positions_before) and all(
            read.readable and not read.parsed and positions_before.get(read.path) == pos
            for pos, read in enumerate(reads)
        )
        try:
            with self.db.write_transaction() as conn:
                # One sync of a source at a time, across processes; and none on stale reads.
                self.db.lock_source(conn, source.name)
                if source_version(conn, source.name) != version:
                    raise _SourceMoved
                if unchanged:
                    self._nothing_changed(conn, source, reads, report, now)
                else:
                    file_refs_before = {r.path: json.loads(r.entity_refs) for r in known_rows}
                    self._apply(conn, index, source, reads, file_refs_before, report, now)
        except SQLAlchemyError as exc:
            # Rolled back as a whole: the store still holds this source's last good catalog.
            log.exception("source %s: writing the catalog failed", source.name)
            reason = str(getattr(exc, "orig", None) or exc).strip().splitlines()[0]
            report = SourceReport(source.name, ok=False)
            report.error = f"source {source.name}: the database refused the sync ({reason})"
            report.problems.append(Problem("error", report.error))
            report.duration_s = time.perf_counter() - started
            try:
                self._record_failure(source, report, now)
            except SQLAlchemyError as again:
                raise StoreError(f"{report.error}, and recording that failed: {again}") from again
            return report
        report.duration_s = time.perf_counter() - started
        with self.db.engine.begin() as conn:
            conn.execute(
                update(source_status)
                .where(source_status.c.name == source.name)
                .values(duration_ms=int(report.duration_s * 1000))
            )
        return report

    def _record_failure(self, source: CatalogSource, report: SourceReport, now: Any) -> None:
        with self.db.engine.begin() as conn:
            self._upsert_status(
                conn,
                source,
                last_attempt=now,
                last_error=_clean(report.error),
                duration_ms=int(report.duration_s * 1000),
            )
            conn.execute(
                delete(problems).where(problems.c.source == source.name, problems.c.file.is_(None))
            )
            conn.execute(
                insert(problems),
                [self._problem_row(source.name, p, now) for p in report.problems],
            )

    def _apply(
        self,
        conn: Connection,
        index: int,
        source: CatalogSource,
        reads: list[FileRead],
        file_refs_before: dict[str, list[str]],
        report: SourceReport,
        now: Any,
    ) -> None:
        positions = {read.path: pos for pos, read in enumerate(reads)}
        report.files_read = len(reads)
        source_index = {s.name: i for i, s in enumerate(self.sources)}

        existing = {
            row.ref: row
            for row in conn.execute(
                select(
                    entities.c.ref,
                    entities.c.source,
                    entities.c.file,
                    entities.c.owner_ref,
                    entities.c.content_hash,
                )
            )
        }

        new_problems: list[Problem] = []
        winners: dict[str, Candidate] = {}
        refs_by_file: dict[str, list[str]] = {}
        dirty_files: set[str] = set()  # parse again next time (errors or lost duplicates)
        keep_old: set[str] = set()  # files whose old entities stay (the read was not clean)
        reread: set[str] = set()
        released: set[str] = set()  # parsed cleanly: they hold only what they emitted now

        for read in reads:
            if read.problems:
                new_problems.extend(read.problems)
            if not read.readable:
                keep_old.add(read.path)
                dirty_files.add(read.path)
                reread.add(read.path)
                continue
            if not read.parsed:
                continue
            reread.add(read.path)
            report.files_parsed += 1
            candidates, clean = build_candidates(read, new_problems)
            candidates, not_allowed = self.rules.apply(source.name, candidates)
            for cand, reason in not_allowed:
                new_problems.append(Problem("error", reason, read.path, cand.line, cand.ref))
                clean = False
            if not clean:
                keep_old.add(read.path)
                dirty_files.add(read.path)
            refs: list[str] = []
            for cand in candidates:
                ref = cand.ref
                rival = first_reached(winners, ref)
                if rival is not None:
                    new_problems.append(self._conflict(ref, rival.file, read.path, cand))
                    dirty_files.add(read.path)
                    continue
                row = existing.get(ref)
                if row is not None and not self._may_replace(
                    row, source.name, read.path, positions, source_index, index, released
                ):
                    new_problems.append(self._conflict(ref, row.file, read.path, cand))
                    dirty_files.add(read.path)
                    continue
                winners[ref] = cand
                refs.append(ref)
            refs_by_file[read.path] = refs
            if read.path not in keep_old:
                released.add(read.path)

        drop_notes: list[Problem] | None = None  # worked out below in backstage fidelity
        if self.fidelity == "backstage" and source.type != "backstage":
            # As Backstage: a Location step that fails stores none of what it emits now, and
            # what it stored before stays as it was. Its files are read again next time.
            frozen, drop_notes = self._backstage_frozen(
                conn, source.name, reads, refs_by_file, file_refs_before, new_problems, reread
            )
            for path in frozen:
                for ref in refs_by_file.get(path, []):
                    if ref in winners and winners[ref].file == path:
                        del winners[ref]
                refs_by_file[path] = []
                keep_old.add(path)
                dirty_files.add(path)
                released.discard(path)

        # Which stored refs of this source go away.
        reached = set(positions)
        to_remove: list[str] = []
        for path, old_refs in file_refs_before.items():
            if path not in reached:
                to_remove.extend(old_refs)  # the file is no longer part of the catalog
            elif path in refs_by_file and path not in keep_old:
                kept = set(refs_by_file[path])
                to_remove.extend(r for r in old_refs if r not in kept)
            elif path in keep_old:
                # keep the entities the broken file held; they still belong to it
                kept_list = refs_by_file.setdefault(path, [])
                for r in old_refs:
                    if r not in kept_list:
                        kept_list.append(r)
        to_remove = [
            r
            for r in dict.fromkeys(to_remove)
            if r not in winners
            and r in existing
            and existing[r].source == source.name
            and existing[r].file not in keep_old
        ]

        # Write entities.
        inserts: list[dict[str, Any]] = []
        updates: list[dict[str, Any]] = []
        changed_refs: list[str] = []
        change_rows: list[dict[str, Any]] = []
        for ref, cand in winners.items():
            row = existing.get(ref)
            values = self._entity_row(cand, source.name, now)
            if row is None:
                inserts.append(values)
                changed_refs.append(ref)
                report.added.append(ref)
                change_rows.append(self._change(now, source.name, ref, "added", None, cand.owner))
                continue
            if row.content_hash == cand.content_hash and row.source == source.name:
                if row.file != cand.file:
                    updates.append(values)
                continue
            updates.append(values)
            changed_refs.append(ref)
            if row.owner_ref != cand.owner:
                report.owner_changed.append((ref, row.owner_ref, cand.owner))
                change_rows.append(
                    self._change(now, source.name, ref, "owner_changed", row.owner_ref, cand.owner)
                )
            elif cand.data_hash and row.content_hash.startswith(cand.data_hash):
                report.relinked.append(ref)  # relations toward it changed; the entity did not
            else:
                report.modified.append(ref)
                change_rows.append(
                    self._change(now, source.name, ref, "modified", row.owner_ref, cand.owner)
                )
        for ref in to_remove:
            report.removed.append(ref)
            change_rows.append(
                self._change(now, source.name, ref, "removed", existing[ref].owner_ref, None)
            )

        for u in updates:
            u["_ref"] = u.pop("ref")
            del u["created_at"]  # an entity keeps the time it first appeared
        refused = self._write_entities(conn, inserts, updates)
        if refused:
            # What the database refused costs those entities only: each keeps its last good
            # version (or stays out), its file is parsed again next time, and it is reported.
            for ref, reason in refused.items():
                cand = winners.pop(ref)
                new_problems.append(
                    Problem(
                        "error",
                        f"the database refused this entity ({reason}); "
                        + ("its last good version is kept" if ref in existing else "not stored"),
                        cand.file,
                        cand.line,
                        ref,
                    )
                )
                dirty_files.add(cand.file)
                if ref not in existing and ref in refs_by_file.get(cand.file, ()):
                    refs_by_file[cand.file].remove(ref)
            changed_refs = [r for r in changed_refs if r not in refused]
            change_rows = [c for c in change_rows if c["ref"] not in refused]
            report.added = [r for r in report.added if r not in refused]
            report.modified = [r for r in report.modified if r not in refused]
            report.relinked = [r for r in report.relinked if r not in refused]
            report.owner_changed = [c for c in report.owner_changed if c[0] not in refused]
        gone = to_remove + [r for r in changed_refs if r in existing]
        for chunk in _chunks(gone):
            conn.execute(delete(relations).where(relations.c.emitter_ref.in_(chunk)))
        for chunk in _chunks(to_remove):
            conn.execute(delete(entities).where(entities.c.ref.in_(chunk)))
        rel_rows = [
            {"source_ref": source_ref, "type": type_, "target_ref": target_ref, "emitter_ref": ref}
            for ref in changed_refs
            for source_ref, type_, target_ref in winners[ref].relations
        ]
        bulk_insert(conn, relations, rel_rows)
        bulk_insert(conn, changes, change_rows)

        # Files: positions, hashes, children, and which refs each holds now.
        conn.execute(delete(catalog_files).where(catalog_files.c.source == source.name))
        file_rows = []
        for read in reads:
            held = refs_by_file.get(read.path)
            if held is None:
                held = [r for r in file_refs_before.get(read.path, []) if r not in to_remove]
            file_rows.append(
                {
                    "source": source.name,
                    "path": read.path,
                    "sha256": None if read.path in dirty_files else read.sha256,
                    "position": positions[read.path],
                    "children": json.dumps(list(read.children)),
                    "entity_refs": json.dumps(held),
                }
            )
        bulk_insert(conn, catalog_files, file_rows)

        # Problems: replace those of every file read again, and of files that left.
        stale = sorted(reread | (set(file_refs_before) - reached))
        conn.execute(
            delete(problems).where(problems.c.source == source.name, problems.c.file.is_(None))
        )
        for chunk in _chunks(stale):
            conn.execute(
                delete(problems).where(problems.c.source == source.name, problems.c.file.in_(chunk))
            )
        bulk_insert(conn, problems, [self._problem_row(source.name, p, now) for p in new_problems])
        if source.type != "backstage":  # a live Backstage already dropped what it drops
            self._note_backstage_drops(conn, source.name, now, drop_notes)
        self._record_success(conn, source, report, now)
        _bump_source_version(conn, source.name)
        if report.changed:
            bump_generation(conn)

    def _backstage_frozen(
        self,
        conn: Connection,
        source_name: str,
        reads: list[FileRead],
        refs_by_file: dict[str, list[str]],
        file_refs_before: dict[str, list[str]],
        new_problems: list[Problem],
        reread: set[str],
    ) -> tuple[set[str], list[Problem]]:
        """The files under Location steps Backstage would fail, as this sync leaves the tree
        (what was read now, and for files not read again, what is stored), and the warnings
        that say so (worked out here: once dropped, the entities are not stored to tell)."""
        files = [
            (
                read.path,
                read.children,
                refs_by_file[read.path]
                if read.path in refs_by_file
                else file_refs_before.get(read.path, []),
            )
            for read in reads
        ]
        stored = [p for p in self._stored_problems(conn, source_name) if p.file not in reread]
        facts = fidelity.file_facts(files, [*new_problems, *stored])
        drops = fidelity.all_drops(facts, [read.path for read in reads])
        notes = [Problem("warning", d.message(), d.location_file or root) for root, d in drops]
        return {path for _root, drop in drops for path in drop.files}, notes

    def _note_backstage_drops(
        self, conn: Connection, source_name: str, now: Any, notes: list[Problem] | None = None
    ) -> None:
        """Replace the source's warnings of what a default Backstage would not show.

        Callboard keeps the good siblings of a broken target; Backstage drops every entity its
        Location step emitted (``bot.catalog.fidelity``). Derived from the whole tree as
        stored, so they are replaced on every sync that writes.
        """
        conn.execute(
            delete(problems).where(
                problems.c.source == source_name,
                problems.c.message.like(f"{fidelity.DROP_PREFIX}%"),
            )
        )
        if notes is None:
            rows = conn.execute(
                select(catalog_files.c.path, catalog_files.c.children, catalog_files.c.entity_refs)
                .where(catalog_files.c.source == source_name)
                .order_by(catalog_files.c.position)
            ).all()
            facts = fidelity.file_facts(
                ((r.path, _json_tuple(r.children), json.loads(r.entity_refs)) for r in rows),
                self._stored_problems(conn, source_name),
            )
            notes = fidelity.drop_problems(facts, [r.path for r in rows])
        bulk_insert(conn, problems, [self._problem_row(source_name, p, now) for p in notes])

    @staticmethod
    def _write_entities(
        conn: Connection, inserts: list[dict[str, Any]], updates: list[dict[str, Any]]
    ) -> dict[str, str]:
        """Write the entity rows; the refs the database refused, with its reason.

        All at once first (the fast path); when that fails, row by row, each in a savepoint,
        so one row the database cannot hold never costs the rest of the source.
        """
        statement = update(entities).where(entities.c.ref == bindparam("_ref"))
        try:
            with conn.begin_nested():
                if updates:
                    conn.execute(statement, updates)
                bulk_insert(conn, entities, inserts)
            return {}
        except (SQLAlchemyError, TypeError, ValueError) as exc:
            log.warning("writing entities failed (%s); trying them one by one", _reason(exc))
        refused: dict[str, str] = {}
        for row in updates:
            try:
                with conn.begin_nested():
                    conn.execute(statement, [row])
            except (SQLAlchemyError, TypeError, ValueError) as exc:
                refused[row["_ref"]] = _reason(exc)
        for row in inserts:
            try:
                with conn.begin_nested():
                    bulk_insert(conn, entities, [row])
            except (SQLAlchemyError, TypeError, ValueError) as exc:
                refused[row["ref"]] = _reason(exc)
        return refused

    def _nothing_changed(
        self,
        conn: Connection,
        source: CatalogSource,
        reads: list[FileRead],
        report: SourceReport,
        now: Any,
    ) -> None:
        """Every file is as last time: record the success, rewrite nothing."""
        report.files_read = len(reads)
        # Problems of no file describe the last run (a failure this run recovered from): replace.
        conn.execute(
            delete(problems).where(problems.c.source == source.name, problems.c.file.is_(None))
        )
        fresh = [p for read in reads for p in read.problems if p.file is None]
        if fresh:
            conn.execute(insert(problems), [self._problem_row(source.name, p, now) for p in fresh])
        self._record_success(conn, source, report, now)

    def _record_success(
        self, conn: Connection, source: CatalogSource, report: SourceReport, now: Any
    ) -> None:
        """The report's problems and count as stored, and a successful run in the status."""
        report.problems = self._stored_problems(conn, source.name)
        report.entities = self._count(conn, source.name)
        self._upsert_status(
            conn,
            source,
            last_attempt=now,
            last_success=now,
            last_error=None,
            entity_count=report.entities,
        )

    @staticmethod
    def _stored_problems(conn: Connection, source_name: str) -> list[Problem]:
        return [
            Problem.from_dict(dict(r._mapping))
            for r in conn.execute(
                select(*PROBLEM_COLUMNS)
                .where(problems.c.source == source_name)
                .order_by(problems.c.id)
            )
        ]

    @staticmethod
    def _count(conn: Connection, source_name: str) -> int:
        return int(
            conn.execute(
                select(func.count()).select_from(entities).where(entities.c.source == source_name)
            ).scalar_one()
        )

    @staticmethod
    def _may_replace(
        row: Any,
        source_name: str,
        path: str,
        positions: dict[str, int],
        source_index: dict[str, int],
        index: int,
        released: set[str],
    ) -> bool:
        """May the entity in ``path`` of this source replace the stored one of the same ref?

        ``released`` are the files of this source already parsed cleanly in this sync: had the
        stored entity's file still emitted it, it would have won it again before ``path``.
        """
        if row.source != source_name:
            other = source_index.get(row.source)
            return other is None or other > index  # an earlier source keeps it
        if row.file == path or row.file in released:
            return True
        other_pos = positions.get(row.file)
        return other_pos is None or other_pos > positions[path]

    @staticmethod
    def _conflict(ref: str, first: str | None, later: str, cand: Candidate) -> Problem:
        return Problem(
            "warning",
            f"Detected conflicting entityRef {ref} already referenced by {first} and now also "
            f"{later}; the first one is kept",
            later,
            cand.line,
            ref,
        )

    @staticmethod
    def _entity_row(cand: Candidate, source_name: str, now: Any) -> dict[str, Any]:
        return {
            "ref": cand.ref,
            "kind": cand.kind,
            "namespace": cand.namespace,
            "name": cand.name,
            "title": cand.title,
            "description": cand.description,
            "owner_ref": cand.owner,
            # Free text in Backstage; the columns are for display and filters, the data keeps all.
            "spec_type": cand.spec_type[:255] if cand.spec_type else cand.spec_type,
            "lifecycle": cand.lifecycle[:255] if cand.lifecycle else cand.lifecycle,
            "source": source_name,
            "file": cand.file,
            "line": cand.line,
            "data": cand.data,
            "content_hash": cand.content_hash,
            "created_at": now,
            "updated_at": now,
        }

    @staticmethod
    def _change(
        now: Any, source: str, ref: str, change: str, old: str | None, new: str | None
    ) -> dict[str, Any]:
        return {
            "at": now,
            "source": source,
            "ref": ref,
            "change": change,
            "old_owner": old,
            "new_owner": new,
        }

    @staticmethod
    def _problem_row(source: str, p: Problem, now: Any) -> dict[str, Any]:
        return {
            "source": source,
            "file": _clean(p.file[:1024] if p.file else p.file),
            "line": p.line,
            "entity": _clean(p.entity[:320] if p.entity else p.entity),  # an invalid one's name
            "level": p.level,
            "message": _clean(p.message[:4000]),
            "created_at": now,
        }

    def _upsert_status(self, conn: Connection, source: CatalogSource, **values: Any) -> None:
        found = conn.execute(
            select(source_status.c.name).where(source_status.c.name == source.name)
        ).first()
        values = {"type": source.type, "location": source.location, **values}
        if found is None:
            values.setdefault("entity_count", 0)
            conn.execute(insert(source_status).values(name=source.name, **values))
        else:
            conn.execute(
                update(source_status).where(source_status.c.name == source.name).values(**values)
            )
