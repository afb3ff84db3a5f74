"""What one source's sync writes: a pure plan from what is stored and what was read.

The product's promises about the catalog live here, and only here:

* **Duplicates go to the first reached.** Within a file, its last document of a ref wins (as
  Backstage overwrites it); across files, the first file in walk order; across sources, the
  first source in the config. A stored entity of an earlier file or source keeps its ref unless
  its file was parsed cleanly this run and no longer emits it. Each loser is a warning, and its
  file is parsed again next time.
* **A failing file keeps its last good entities.** A file that cannot be read, that breaks
  part-way, or holds an invalid entity or one the rules refuse, keeps every entity it held (and
  is parsed again next time). A file no longer reached loses its entities.
* **What counts as a change:** added, removed, modified (new content), owner changed; a prebuilt
  entity whose only difference is the relations toward it is *relinked* (rewritten, not logged);
  an entity that moved file with the same content is rewritten and is no change.
* **``catalog.fidelity: backstage``:** the files under a Location step Backstage would fail are
  frozen: what they emit now is not stored, and what they stored stays.

``reconcile`` takes plain facts and returns a ``Plan``; ``bot.store.sql.sync`` executes it.
No I/O here, so the rules are tested without a database (``tests/unit/test_reconcile.py``).
"""

from __future__ import annotations

from collections.abc import Callable, Collection, Mapping, Sequence
from dataclasses import dataclass, field, replace
from typing import Literal, NamedTuple

from bot.catalog import fidelity
from bot.catalog.candidates import Candidate
from bot.catalog.problems import Problem
from bot.catalog.rules import CatalogRules

ChangeKind = Literal["added", "removed", "modified", "owner_changed", "relinked"]


class StoredEntity(NamedTuple):
    """What the store holds of one entity, as far as reconciling needs it.

    A named tuple, not a frozen dataclass: a sync loads one per stored entity (a million on a
    large catalog), and a tuple is built several times faster.
    """

    source: str
    file: str | None
    owner: str | None
    content_hash: str


@dataclass(frozen=True)
class Stored:
    """What is stored: every entity (all sources: duplicates cross them), this source's files."""

    entities: Mapping[str, StoredEntity]
    files: Mapping[str, Sequence[str]]  # this source's files: path -> refs it holds
    problems: Sequence[Problem] = ()  # this source's stored problems (backstage fidelity only)


@dataclass(frozen=True)
class FileOutcome:
    """What this run read of one file, in walk order, its candidates validated."""

    path: str
    sha256: str | None  # None: the file could not be read
    children: tuple[str, ...] = ()
    problems: tuple[Problem, ...] = ()  # the read's problems, then the validation's
    candidates: Sequence[Candidate] | None = None  # None: not parsed (unchanged, or unreadable)
    clean: bool = True  # False: a document failed, or the YAML broke part-way
    stat: str | None = None  # the file's stat when read with ``sha256`` (``files.StatKey``)

    @property
    def readable(self) -> bool:
        return self.sha256 is not None

    @property
    def parsed(self) -> bool:
        return self.candidates is not None


@dataclass(frozen=True)
class Run:
    """What was read of one source this run, and the settings its rules depend on."""

    source: str
    source_type: str
    files: Sequence[FileOutcome]
    source_order: Sequence[str] = ()  # every configured source, first wins duplicates
    rules: CatalogRules = field(default_factory=CatalogRules)
    backstage_fidelity: bool = False  # catalog.fidelity: backstage


class Upsert(NamedTuple):
    """An entity to write: new (``before`` is None), changed, or moved to another file.

    Named tuples, like ``Change``: a cold sync makes one of each per entity.
    """

    candidate: Candidate
    before: StoredEntity | None
    relink: bool  # its relations are rewritten (False: the same content moved file)


class Change(NamedTuple):
    """One difference the sync reports; all but ``relinked`` go to the change log."""

    ref: str
    kind: ChangeKind
    old_owner: str | None
    new_owner: str | None

    @property
    def logged(self) -> bool:
        return self.kind != "relinked"


@dataclass(frozen=True)
class FileRow:
    """A file of the source as stored after the sync; ``sha256`` None: parse it again."""

    path: str
    sha256: str | None
    position: int
    children: tuple[str, ...]
    refs: tuple[str, ...]
    stat: str | None = None  # kept with ``sha256``: a later sync may skip the file


@dataclass(frozen=True)
class Plan:
    """Everything one source's sync writes, decided before anything is written."""

    source: str
    upserts: tuple[Upsert, ...] = ()
    removals: tuple[str, ...] = ()  # refs of this source to delete
    kept_last_good: tuple[str, ...] = ()  # files whose stored entities stay as they were
    changes: tuple[Change, ...] = ()
    files: tuple[FileRow, ...] = ()  # the source's files as they are stored after this
    problems: tuple[Problem, ...] = ()  # found this run, in order
    stale_problem_files: tuple[str, ...] = ()  # files whose stored problems are replaced
    drop_notes: tuple[Problem, ...] | None = None  # backstage fidelity: worked out already
    files_read: int = 0
    files_parsed: int = 0
    # A part of a streamed plan (``Reconciler.add``): its upserts and their changes only; the
    # source's files, problems and removals come in the last part (``Reconciler.finish``).
    partial: bool = False

    @property
    def relinked(self) -> tuple[str, ...]:
        """Refs whose relations are rewritten (new, changed and relinked entities)."""
        return tuple(u.candidate.ref for u in self.upserts if u.relink)

    def refused(self, reasons: Mapping[str, str]) -> Plan:
        """The plan once the database refused some entities (ref -> its reason).

        What the database refused costs those entities only: each keeps its last good version
        (or stays out), its file is parsed again next time, and it is reported.
        """
        if not reasons:
            return self
        by_ref = {u.candidate.ref: u for u in self.upserts}
        refused = [by_ref[ref] for ref in reasons if ref in by_ref]  # in the database's order
        dirty = {u.candidate.file for u in refused}
        new_refs = {u.candidate.ref for u in refused if u.before is None}
        problems = [
            Problem(
                "error",
                f"the database refused this entity ({reasons[u.candidate.ref]}); "
                + ("its last good version is kept" if u.before is not None else "not stored"),
                u.candidate.file,
                u.candidate.line,
                u.candidate.ref,
            )
            for u in refused
        ]
        files = tuple(
            replace(
                row,
                sha256=None,
                refs=tuple(r for r in row.refs if r not in new_refs),
                stat=None,
            )
            if row.path in dirty
            else row
            for row in self.files
        )
        return replace(
            self,
            upserts=tuple(u for u in self.upserts if u.candidate.ref not in reasons),
            changes=tuple(c for c in self.changes if c.ref not in reasons),
            files=files,
            problems=(*self.problems, *problems),
        )


class FirstReached:
    """The duplicate rule among what one run reads: the first file reached keeps a ref.

    ``claim`` offers a candidate; it returns the earlier candidate that keeps the ref (the
    offered one is a duplicate), or None when the offered one holds it now. Within one file
    only its last document of a ref is offered (``candidates.last_of_each_ref``, as Backstage).
    ``callboard check`` uses the same rule.
    """

    def __init__(self, winners: dict[str, Candidate] | None = None) -> None:
        self.winners: dict[str, Candidate] = {} if winners is None else winners

    def rival(self, ref: str) -> Candidate | None:
        """The candidate that holds ``ref`` so far, if any."""
        return self.winners.get(ref)

    def claim(self, cand: Candidate) -> Candidate | None:
        rival = self.winners.get(cand.ref)
        if rival is not None:
            return rival
        self.winners[cand.ref] = cand
        return None


def conflict(ref: str, first: str | None, later: str, line: int | None) -> Problem:
    """The warning for a duplicate that lost its ref to an earlier file or source."""
    return Problem(
        "warning",
        f"Detected conflicting entityRef {ref} already referenced by {first} and now also "
        f"{later}; the first one is kept",
        later,
        line,
        ref,
    )


def unchanged(positions_before: Mapping[str, int], reads: Sequence[tuple[str, bool, bool]]) -> bool:
    """Whether a run changed nothing: the same files, in the same order, none parsed again.

    ``reads`` are ``(path, readable, parsed)`` in walk order.
    """
    return len(reads) == len(positions_before) and all(
        readable and not parsed and positions_before.get(path) == pos
        for pos, (path, readable, parsed) in enumerate(reads)
    )


def may_replace(
    row: StoredEntity,
    source: str,
    path: str,
    positions: Mapping[str, int],
    released: set[str],
    rank: Mapping[str, int],
) -> bool:
    """May the entity in ``path`` of ``source`` replace the stored one of the same ref?

    ``released`` are the files of this source already parsed cleanly in this run: had the
    stored entity's file still emitted it, it would have won it again before ``path``.
    ``rank`` is each configured source's place: an earlier source keeps its entities, one no
    longer configured does not.
    """
    if row.source != source:
        other = rank.get(row.source)
        return other is None or other > rank.get(source, len(rank))
    if row.file == path or row.file in released:
        return True
    other_pos = positions.get(row.file) if row.file is not None else None
    return other_pos is None or other_pos > positions[path]


Lookup = Callable[[Collection[str]], Mapping[str, StoredEntity]]
"""The stored entities (any source) of some refs, as they were before this run: the store
may return more than asked."""


@dataclass
class _Working:
    """The decisions as they are made, file by file (private to ``Reconciler``).

    Compact on purpose, as it lives for the whole of a streamed sync: the winner of each ref
    is held by its file's path (one string per file), not by its candidate.
    """

    problems: list[Problem] = field(default_factory=list)
    winners: dict[str, str] = field(default_factory=dict)  # ref -> the file that won it
    refs_by_file: dict[str, list[str]] = field(default_factory=dict)
    dirty: set[str] = field(default_factory=set)  # parse again next time
    keep_old: set[str] = field(default_factory=set)  # their stored entities stay
    reread: set[str] = field(default_factory=set)
    released: set[str] = field(default_factory=set)  # parsed cleanly: hold only what they emit
    rank: dict[str, int] = field(default_factory=dict)
    parsed: int = 0

    def fail(self, path: str) -> None:
        self.keep_old.add(path)
        self.dirty.add(path)


class _FileSeen(NamedTuple):
    path: str
    sha256: str | None
    children: tuple[str, ...]
    stat: str | None


class Reconciler:
    """``reconcile``, fed a batch of files at a time, in walk order, so that a sync of a
    million entities never holds them all: ``add`` returns each batch's upserts (and their
    changes), ``finish`` the rest of the plan (removals, files, problems).

    The rules are the same as for all files at once: deciding a file needs only the files
    before it (a file not reached yet may always take a ref from the store, as may one never
    reached), the stored entities of its refs, and which file won each ref so far.
    ``lookup`` gives the stored entities of refs as they were before this run: the refs it is
    asked about were not written by this run's earlier batches (a ref written is a winner,
    and a winner's ref is not looked up again). With ``backstage_fidelity`` (and a source
    other than a live Backstage) a plan needs every file first: give ``add`` them all at once.
    """

    def __init__(
        self,
        run: Run,
        files_before: Mapping[str, Sequence[str]],
        lookup: Lookup,
        problems_before: Sequence[Problem] = (),
    ) -> None:
        self.run = run
        self.files_before = files_before
        self.lookup = lookup
        self.problems_before = problems_before
        self.positions: dict[str, int] = {}
        self.seen: list[_FileSeen] = []
        self.work = _Working(rank={name: i for i, name in enumerate(run.source_order)})
        self.drop_notes: tuple[Problem, ...] | None = None
        self._added = False

    @property
    def freezes(self) -> bool:
        """Whether the Backstage freeze applies (``add`` must then be given every file)."""
        return self.run.backstage_fidelity and self.run.source_type != "backstage"

    def add(self, outcomes: Sequence[FileOutcome]) -> Plan:
        """Settle the next files in walk order; their upserts and changes (a partial plan)."""
        if self.freezes and self._added:
            raise ValueError("with backstage fidelity, reconcile every file in one batch")
        self._added = True
        work = self.work
        asked = {
            c.ref
            for f in outcomes
            if f.candidates is not None and f.sha256 is not None
            for c in f.candidates
            if c.ref not in work.winners
        }
        stored = self.lookup(asked) if asked else {}
        won: list[Candidate] = []
        for outcome in outcomes:
            self.positions[outcome.path] = len(self.seen)
            self.seen.append(
                _FileSeen(outcome.path, outcome.sha256, outcome.children, outcome.stat)
            )
            if outcome.candidates is None and outcome.sha256 is not None:
                work.problems.extend(outcome.problems)  # unchanged: it keeps what it holds
                continue
            won.extend(_settle_file(stored, self.run, outcome, self.positions, work))
        if self.freezes:
            self.drop_notes = _freeze_for_backstage(
                self.files_before, self.problems_before, self.seen, work
            )
            won = [c for c in won if work.winners.get(c.ref) == c.file]
        upserts, changes = _upserts(stored, self.run.source, won)
        return Plan(
            source=self.run.source, upserts=tuple(upserts), changes=tuple(changes), partial=True
        )

    def refused(self, sent: Plan, written: Plan) -> None:
        """What the store refused of a part ``sent`` (``written`` is the part as written):
        those files are parsed again next time, a new entity refused is not theirs, and the
        store's reasons are reported."""
        kept = {u.candidate.ref for u in written.upserts}
        for u in sent.upserts:
            if u.candidate.ref in kept:
                continue
            path = u.candidate.file
            self.work.dirty.add(path)
            if u.before is None and path in self.work.refs_by_file:
                self.work.refs_by_file[path] = [
                    r for r in self.work.refs_by_file[path] if r != u.candidate.ref
                ]
        self.work.problems.extend(written.problems[len(sent.problems) :])

    def finish(self) -> Plan:
        """The rest of the plan, once every file was added: removals, files and problems."""
        work, source = self.work, self.run.source
        candidates = _removal_candidates(self.files_before, self.positions, work)
        stored = self.lookup(candidates) if candidates else {}
        removals = _removals(stored, source, candidates, work)
        changes = tuple(
            Change(ref, "removed", stored[ref].owner, None)  # after the upserts, as logged
            for ref in removals
        )
        removed = set(removals)
        files_before = self.files_before

        def held(path: str) -> tuple[str, ...]:
            if path in work.refs_by_file:
                return tuple(work.refs_by_file[path])
            refs = tuple(files_before.get(path, ()))
            if removed and not removed.isdisjoint(refs):
                return tuple(r for r in refs if r not in removed)
            return refs  # the common case on a re-sync: an unchanged file, nothing of it removed

        files = tuple(
            FileRow(f.path, f.sha256, pos, f.children, held(f.path), f.stat)
            if f.path not in work.dirty
            else FileRow(f.path, None, pos, f.children, held(f.path))
            for pos, f in enumerate(self.seen)
        )
        left = set(files_before) - set(self.positions)
        return Plan(
            source=source,
            removals=tuple(removals),
            kept_last_good=tuple(f.path for f in self.seen if f.path in work.keep_old),
            changes=changes,
            files=files,
            problems=tuple(work.problems),
            stale_problem_files=tuple(sorted(work.reread | left)),
            drop_notes=self.drop_notes,
            files_read=len(self.seen),
            files_parsed=work.parsed,
        )


def reconcile(stored: Stored, run: Run) -> Plan:
    """The plan that takes the store from ``stored`` to what ``run`` read, by the rules above."""
    rec = Reconciler(run, stored.files, lambda _refs: stored.entities, stored.problems)
    part = rec.add(run.files)
    rest = rec.finish()
    return replace(rest, upserts=part.upserts, changes=(*part.changes, *rest.changes))


def _settle_file(
    stored: Mapping[str, StoredEntity],
    run: Run,
    outcome: FileOutcome,
    positions: Mapping[str, int],
    work: _Working,
) -> list[Candidate]:
    """Decide which of one file's candidates win their refs, and what the file keeps; the
    candidates that won."""
    work.problems.extend(outcome.problems)
    if not outcome.readable:
        work.fail(outcome.path)
        work.reread.add(outcome.path)
        return []
    if outcome.candidates is None:
        return []  # unchanged: it keeps what it holds
    work.reread.add(outcome.path)
    work.parsed += 1
    candidates, not_allowed = run.rules.apply(run.source, list(outcome.candidates))
    for cand, reason in not_allowed:
        work.problems.append(Problem("error", reason, outcome.path, cand.line, cand.ref))
    if not outcome.clean or not_allowed:
        work.fail(outcome.path)
    won: list[Candidate] = []
    refs: list[str] = []
    for cand in candidates:
        ref = cand.ref
        rival = work.winners.get(ref)  # the duplicate rule across the run's files
        if rival is not None:
            work.problems.append(conflict(ref, rival, outcome.path, cand.line))
            work.dirty.add(outcome.path)
            continue
        row = stored.get(ref)
        if row is not None and not may_replace(
            row, run.source, outcome.path, positions, work.released, work.rank
        ):
            work.problems.append(conflict(ref, row.file, outcome.path, cand.line))
            work.dirty.add(outcome.path)
            continue
        work.winners[ref] = cand.file
        won.append(cand)
        refs.append(ref)
    work.refs_by_file[outcome.path] = refs
    if outcome.path not in work.keep_old:
        work.released.add(outcome.path)
    return won


def _freeze_for_backstage(
    files_before: Mapping[str, Sequence[str]],
    problems_before: Sequence[Problem],
    seen: Sequence[_FileSeen],
    work: _Working,
) -> tuple[Problem, ...]:
    """Freeze the files under Location steps Backstage would fail; the warnings that say so.

    As Backstage: a Location step that fails stores none of what it emits now, and what it
    stored before stays as it was. Its files are read again next time. The warnings are worked
    out here: once dropped, the entities are not stored to tell.
    """
    files = [
        (
            f.path,
            f.children,
            work.refs_by_file[f.path]
            if f.path in work.refs_by_file
            else list(files_before.get(f.path, ())),
        )
        for f in seen
    ]
    kept = [p for p in problems_before if p.file not in work.reread]
    facts = fidelity.file_facts(files, [*work.problems, *kept])
    drops = fidelity.all_drops(facts, [f.path for f in seen])
    for path in {path for _root, drop in drops for path in drop.files}:
        for ref in work.refs_by_file.get(path, []):
            if work.winners.get(ref) == path:
                del work.winners[ref]
        work.refs_by_file[path] = []
        work.fail(path)
        work.released.discard(path)
    return tuple(Problem("warning", d.message(), d.location_file or root) for root, d in drops)


def _removal_candidates(
    files_before: Mapping[str, Sequence[str]], positions: Mapping[str, int], work: _Working
) -> list[str]:
    """The stored refs of this source's files that may go away; failed files keep (and
    re-claim) theirs."""
    out: list[str] = []
    for path, old_refs in files_before.items():
        if path not in positions:
            out.extend(old_refs)  # the file is no longer part of the catalog
        elif path in work.keep_old:
            # keep the entities the broken file held; they still belong to it
            held = work.refs_by_file.setdefault(path, [])
            held.extend(r for r in old_refs if r not in held)
        elif path in work.refs_by_file:
            kept = set(work.refs_by_file[path])
            out.extend(r for r in old_refs if r not in kept)
    return [r for r in dict.fromkeys(out) if r not in work.winners]


def _removals(
    stored: Mapping[str, StoredEntity], source: str, candidates: Sequence[str], work: _Working
) -> list[str]:
    """The refs of ``candidates`` this source holds and no failed file keeps."""
    return [
        r
        for r in candidates
        if r in stored and stored[r].source == source and stored[r].file not in work.keep_old
    ]


def _upserts(
    stored: Mapping[str, StoredEntity], source: str, winners: Sequence[Candidate]
) -> tuple[list[Upsert], list[Change]]:
    """What each winner writes, and the change it makes (none when only its file moved)."""
    upserts: list[Upsert] = []
    changes: list[Change] = []
    for cand in winners:
        ref = cand.ref
        row = stored.get(ref)
        if row is None:
            upserts.append(Upsert(cand, None, relink=True))
            changes.append(Change(ref, "added", None, cand.owner))
            continue
        if row.content_hash == cand.content_hash and row.source == source:
            if row.file != cand.file:
                upserts.append(Upsert(cand, row, relink=False))
            continue
        upserts.append(Upsert(cand, row, relink=True))
        if row.owner != cand.owner:
            changes.append(Change(ref, "owner_changed", row.owner, cand.owner))
        elif cand.data_hash and row.content_hash.startswith(cand.data_hash):
            changes.append(Change(ref, "relinked", row.owner, cand.owner))
        else:
            changes.append(Change(ref, "modified", row.owner, cand.owner))
    return upserts, changes


def after(stored: Stored, plan: Plan) -> Stored:
    """What the store holds once ``plan`` is executed (the executor's contract, as a model)."""
    removed = set(plan.removals)
    entities = {r: e for r, e in stored.entities.items() if r not in removed}
    for u in plan.upserts:
        c = u.candidate
        entities[c.ref] = StoredEntity(plan.source, c.file, c.owner, c.content_hash)
    files = {row.path: row.refs for row in plan.files}
    return Stored(entities, files, stored.problems)
