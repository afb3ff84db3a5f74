"""The sync's promises, on plain facts: which entity wins, what a failed file keeps, what changed.

``bot.catalog.reconcile`` needs no database; ``after`` is the executor's contract (what the store
holds once a plan is written), and ``tests/integration/test_sync.py`` holds the SQL executor to
the same outcomes through SQLite and PostgreSQL.
"""

from __future__ import annotations

import dataclasses
import itertools

from hypothesis import given, settings
from hypothesis import strategies as st

from bot.catalog.candidates import Candidate
from bot.catalog.problems import Problem
from bot.catalog.reconcile import (
    FileOutcome,
    FirstReached,
    Plan,
    Reconciler,
    Run,
    Stored,
    StoredEntity,
    after,
    reconcile,
    unchanged,
)
from bot.catalog.rules import CatalogRules

SOURCE = "this"
ORDER = ("early", SOURCE, "late")


def cand(
    ref: str,
    file: str,
    owner: str | None = None,
    version: int = 1,
    kind: str = "component",
    data_hash: str | None = None,
    content_hash: str | None = None,
) -> Candidate:
    name = ref.split("/")[-1]
    return Candidate(
        ref=ref,
        line=1,
        kind=kind,
        namespace="default",
        name=name,
        title=None,
        description=None,
        spec_type=None,
        lifecycle=None,
        data="{}",
        content_hash=content_hash or f"{ref}|{owner}|{version}",
        owner=owner,
        relations=[(ref, "ownedBy", owner)] if owner else [],
        file=file,
        data_hash=data_hash,
    )


def parsed(path: str, *cands: Candidate, clean: bool = True, problems: tuple[Problem, ...] = ()):
    return FileOutcome(path, "sha-" + path, (), problems, list(cands), clean)


def stored_of(*cands: Candidate, source: str = SOURCE, files=None) -> Stored:
    entities = {c.ref: StoredEntity(source, c.file, c.owner, c.content_hash) for c in cands}
    if files is None:
        files = {}
        for c in cands:
            files.setdefault(c.file, []).append(c.ref)
    return Stored(entities, {p: tuple(r) for p, r in files.items()})


def run(*files: FileOutcome, **kw) -> Run:
    return Run(SOURCE, "file", list(files), ORDER, **kw)


def kinds(plan: Plan) -> list[tuple[str, str]]:
    return [(c.ref, c.kind) for c in plan.changes]


EMPTY = Stored({}, {})


# --- examples --------------------------------------------------------------------------------


def test_new_entities_are_added_with_their_owner() -> None:
    plan = reconcile(EMPTY, run(parsed("a.yaml", cand("component:a", "a.yaml", "group:x"))))
    assert kinds(plan) == [("component:a", "added")]
    assert plan.changes[0].new_owner == "group:x"
    assert [u.candidate.ref for u in plan.upserts] == ["component:a"]
    assert plan.upserts[0].before is None and plan.upserts[0].relink
    assert plan.files[0].refs == ("component:a",) and plan.files[0].sha256 == "sha-a.yaml"
    assert plan.files_parsed == 1 and plan.files_read == 1


def test_a_file_no_longer_reached_loses_its_entities() -> None:
    stored = stored_of(cand("component:a", "a.yaml", "group:x"), cand("component:b", "b.yaml"))
    plan = reconcile(stored, run(parsed("b.yaml", cand("component:b", "b.yaml"))))
    assert plan.removals == ("component:a",)
    assert kinds(plan) == [("component:a", "removed")]
    assert plan.changes[0].old_owner == "group:x"
    assert "a.yaml" in plan.stale_problem_files  # its problems go with it


def test_an_unreadable_file_keeps_its_last_good_entities() -> None:
    stored = stored_of(cand("component:a", "a.yaml"))
    broken = FileOutcome("a.yaml", None, (), (Problem("error", "cannot read", "a.yaml"),))
    plan = reconcile(stored, run(broken))
    assert plan.removals == () and plan.upserts == () and plan.changes == ()
    assert plan.kept_last_good == ("a.yaml",)
    assert plan.files[0].refs == ("component:a",)
    assert plan.files[0].sha256 is None  # parsed again next time
    assert plan.problems == broken.problems


def test_a_file_that_broke_part_way_keeps_what_it_held_and_adds_what_it_has_now() -> None:
    stored = stored_of(cand("component:a", "a.yaml"))
    plan = reconcile(stored, run(parsed("a.yaml", cand("component:b", "a.yaml"), clean=False)))
    assert plan.removals == ()
    assert kinds(plan) == [("component:b", "added")]
    assert plan.files[0].refs == ("component:b", "component:a")
    assert plan.files[0].sha256 is None


def test_a_clean_file_that_no_longer_emits_an_entity_loses_it() -> None:
    stored = stored_of(cand("component:a", "a.yaml"), cand("component:b", "a.yaml"))
    plan = reconcile(stored, run(parsed("a.yaml", cand("component:b", "a.yaml"))))
    assert plan.removals == ("component:a",)
    assert plan.upserts == ()  # b is unchanged


def test_an_unchanged_file_keeps_what_it_holds() -> None:
    stored = stored_of(cand("component:a", "a.yaml"))
    plan = reconcile(stored, run(FileOutcome("a.yaml", "sha-a.yaml")))
    assert plan.removals == () and plan.upserts == () and plan.files_parsed == 0
    assert plan.files[0].refs == ("component:a",)
    assert plan.stale_problem_files == ()  # its stored problems still hold


def test_duplicates_go_to_the_first_file_reached_and_the_loser_is_parsed_again() -> None:
    plan = reconcile(
        EMPTY,
        run(
            parsed("a.yaml", cand("component:x", "a.yaml", version=1)),
            parsed("b.yaml", cand("component:x", "b.yaml", version=2)),
        ),
    )
    assert [u.candidate.file for u in plan.upserts] == ["a.yaml"]
    (warning,) = plan.problems
    assert warning.level == "warning" and warning.file == "b.yaml"
    assert "already referenced by a.yaml and now also b.yaml" in warning.message
    assert [(f.path, f.sha256, f.refs) for f in plan.files] == [
        ("a.yaml", "sha-a.yaml", ("component:x",)),
        ("b.yaml", None, ()),
    ]


def test_a_stored_entity_of_an_earlier_file_keeps_its_ref() -> None:
    stored = stored_of(cand("component:x", "a.yaml"))
    plan = reconcile(
        stored,
        run(
            FileOutcome("a.yaml", "sha-a.yaml"),
            parsed("b.yaml", cand("component:x", "b.yaml", version=2)),
        ),
    )
    assert plan.upserts == ()
    assert "already referenced by a.yaml" in plan.problems[0].message


def test_an_earlier_file_that_no_longer_emits_a_ref_releases_it_to_a_later_one() -> None:
    stored = stored_of(cand("component:x", "a.yaml"))
    plan = reconcile(
        stored,
        run(parsed("a.yaml"), parsed("b.yaml", cand("component:x", "b.yaml", version=2))),
    )
    assert [(u.candidate.file, u.before is not None) for u in plan.upserts] == [("b.yaml", True)]
    assert kinds(plan) == [("component:x", "modified")]
    assert plan.removals == ()


def test_a_later_file_does_not_take_a_ref_from_a_failing_earlier_one() -> None:
    stored = stored_of(cand("component:x", "a.yaml"))
    plan = reconcile(
        stored,
        run(
            parsed("a.yaml", clean=False),
            parsed("b.yaml", cand("component:x", "b.yaml", version=2)),
        ),
    )
    assert plan.upserts == () and plan.removals == ()
    assert plan.files[0].refs == ("component:x",)


def test_an_earlier_source_keeps_its_entities_and_a_later_one_yields() -> None:
    early = stored_of(cand("component:x", "e.yaml"), source="early")
    plan = reconcile(early, run(parsed("a.yaml", cand("component:x", "a.yaml"))))
    assert plan.upserts == () and "already referenced by e.yaml" in plan.problems[0].message
    late = stored_of(cand("component:x", "l.yaml"), source="late")
    plan = reconcile(late, run(parsed("a.yaml", cand("component:x", "a.yaml"))))
    assert [u.candidate.file for u in plan.upserts] == ["a.yaml"]
    assert kinds(plan) == [("component:x", "modified")]  # it changes hands, so it is logged
    gone = stored_of(cand("component:x", "g.yaml"), source="unconfigured")
    assert reconcile(gone, run(parsed("a.yaml", cand("component:x", "a.yaml")))).upserts


def test_what_counts_as_a_change() -> None:
    stored = stored_of(
        cand("component:o", "a.yaml", "group:x"),
        cand("component:m", "a.yaml", "group:x"),
        cand("component:s", "a.yaml", "group:x"),
        cand("component:v", "b.yaml", "group:x"),
    )
    plan = reconcile(
        stored,
        run(
            parsed(
                "a.yaml",
                cand("component:o", "a.yaml", "group:y"),
                cand("component:m", "a.yaml", "group:x", version=2),
                cand("component:s", "a.yaml", "group:x"),
                cand("component:v", "a.yaml", "group:x"),  # moved here, same content
            ),
            parsed("b.yaml"),
        ),
    )
    assert kinds(plan) == [("component:o", "owner_changed"), ("component:m", "modified")]
    assert (plan.changes[0].old_owner, plan.changes[0].new_owner) == ("group:x", "group:y")
    moved = [u for u in plan.upserts if u.candidate.ref == "component:v"]
    assert len(moved) == 1 and not moved[0].relink  # rewritten for its file, not logged
    assert plan.relinked == ("component:o", "component:m")


def test_a_prebuilt_entity_whose_relations_alone_changed_is_relinked_not_logged() -> None:
    old = cand("component:p", "loc", content_hash="doc1" + "rels1")
    new = cand("component:p", "loc", data_hash="doc1", content_hash="doc1" + "rels2")
    plan = reconcile(stored_of(old), run(parsed("loc", new)))
    assert kinds(plan) == [("component:p", "relinked")]
    assert not plan.changes[0].logged
    assert plan.relinked == ("component:p",)


def test_a_kind_the_rules_refuse_fails_its_file() -> None:
    stored = stored_of(cand("component:a", "a.yaml"))
    rules = CatalogRules(allow=frozenset({"component"}))
    plan = reconcile(
        stored,
        run(parsed("a.yaml", cand("group:g", "a.yaml", kind="group")), rules=rules),
    )
    assert plan.upserts == () and plan.removals == ()  # component:a is kept
    (error,) = plan.problems
    assert error.level == "error" and error.entity == "group:g"
    assert plan.kept_last_good == ("a.yaml",)


def test_refused_entities_keep_their_last_good_version_and_their_file_is_parsed_again() -> None:
    stored = stored_of(cand("component:a", "a.yaml"))
    plan = reconcile(
        stored,
        run(
            parsed(
                "a.yaml",
                cand("component:a", "a.yaml", version=2),
                cand("component:b", "a.yaml"),
                cand("component:c", "a.yaml"),
            )
        ),
    )
    written = plan.refused({"component:a": "too long", "component:b": "NUL"})
    assert [u.candidate.ref for u in written.upserts] == ["component:c"]
    assert kinds(written) == [("component:c", "added")]
    assert written.files[0].sha256 is None
    assert written.files[0].refs == ("component:a", "component:c")  # b was never stored
    messages = [p.message for p in written.problems]
    assert messages == [
        "the database refused this entity (too long); its last good version is kept",
        "the database refused this entity (NUL); not stored",
    ]
    assert plan.refused({}) is plan


def test_backstage_fidelity_freezes_the_files_under_a_failing_location_step() -> None:
    stored = stored_of(cand("component:old", "c.yaml"))
    entry = FileOutcome("a.yaml", "sha-a", ("b.yaml", "c.yaml"), (), [], True)
    broken = FileOutcome("b.yaml", None, (), (Problem("error", "cannot read it", "b.yaml"),))
    sibling = parsed("c.yaml", cand("component:new", "c.yaml"))
    lenient = reconcile(stored, run(entry, broken, sibling))
    assert [u.candidate.ref for u in lenient.upserts] == ["component:new"]
    assert lenient.drop_notes is None
    strict = reconcile(stored, run(entry, broken, sibling, backstage_fidelity=True))
    assert strict.upserts == () and strict.removals == ()  # what it stored stays as it was
    assert "c.yaml" in strict.kept_last_good
    assert [f.refs for f in strict.files if f.path == "c.yaml"] == [("component:old",)]
    assert strict.drop_notes and strict.drop_notes[0].message.startswith("Backstage would not")


def test_a_live_backstage_source_is_not_frozen() -> None:
    entry = FileOutcome("a.yaml", "sha-a", ("b.yaml",), (), [], True)
    broken = FileOutcome("b.yaml", None, (), (Problem("error", "x", "b.yaml"),))
    plan = reconcile(
        EMPTY,
        Run(SOURCE, "backstage", [entry, broken], ORDER, backstage_fidelity=True),
    )
    assert plan.drop_notes is None


def test_unchanged_needs_the_same_files_in_the_same_order_none_parsed() -> None:
    before = {"a": 0, "b": 1}
    assert unchanged(before, [("a", True, False), ("b", True, False)])
    assert not unchanged(before, [("b", True, False), ("a", True, False)])
    assert not unchanged(before, [("a", True, True), ("b", True, False)])
    assert not unchanged(before, [("a", False, False), ("b", True, False)])
    assert not unchanged(before, [("a", True, False)])


def test_check_uses_the_same_duplicate_rule() -> None:
    first = FirstReached()
    assert first.claim(cand("component:x", "a.yaml")) is None
    rival = first.claim(cand("component:x", "b.yaml"))
    assert rival is not None and rival.file == "a.yaml"
    assert first.claim(cand("component:y", "b.yaml")) is None
    later = first.claim(cand("component:y", "c.yaml"))
    assert later is not None and later.file == "b.yaml"
    assert first.winners["component:x"].file == "a.yaml"


# --- properties ------------------------------------------------------------------------------

REFS = [f"component:default/e{i}" for i in range(6)]
PATHS = [f"f{i}.yaml" for i in range(4)]


@st.composite
def file_reads(draw: st.DrawFn, stored: Stored) -> list[FileOutcome]:
    paths = draw(st.permutations(PATHS))[: draw(st.integers(0, len(PATHS)))]
    out = []
    for path in paths:
        state = draw(st.sampled_from(["clean", "unclean", "unreadable", "unchanged"]))
        if state == "unreadable":
            out.append(FileOutcome(path, None, (), (Problem("error", "unreadable", path),)))
            continue
        if state == "unchanged" and path in stored.files:
            out.append(FileOutcome(path, "sha-" + path))
            continue
        refs = draw(st.lists(st.sampled_from(REFS), unique=True, max_size=4))
        cands = [
            cand(
                ref,
                path,
                draw(st.sampled_from([None, "group:x", "group:y"])),
                draw(st.integers(1, 2)),
            )
            for ref in refs
        ]
        out.append(parsed(path, *cands, clean=state != "unclean"))
    return out


@st.composite
def scenarios(draw: st.DrawFn) -> tuple[Stored, Run]:
    """A store as earlier syncs left it (this source's, and others'), and a new run."""
    stored = EMPTY
    for _ in range(draw(st.integers(0, 2))):
        stored = after(stored, reconcile(stored, run(*draw(file_reads(stored)))))
    entities = dict(stored.entities)
    for ref in draw(st.lists(st.sampled_from(REFS), unique=True, max_size=2)):
        if ref not in entities:  # another source's entity
            other = draw(st.sampled_from(["early", "late", "unconfigured"]))
            entities[ref] = StoredEntity(other, "o.yaml", None, "other|" + ref)
    stored = Stored(entities, stored.files)
    return stored, run(*draw(file_reads(stored)))


@settings(max_examples=200, deadline=None, derandomize=True)
@given(scenarios())
def test_a_failed_file_never_loses_its_stored_entities(case: tuple[Stored, Run]) -> None:
    stored, this_run = case
    plan = reconcile(stored, this_run)
    failed = {f.path for f in this_run.files if not f.readable or (f.parsed and not f.clean)}
    survivors = after(stored, plan)
    for path in failed:
        assert path in plan.kept_last_good
        # What the file holds in the store (a ref it also emitted but lost as a duplicate is
        # held by the winner's file, and goes with that file).
        for ref in stored.files.get(path, ()):
            if stored.entities.get(ref, StoredEntity("", None, None, "")).file == path:
                assert ref not in plan.removals
                assert ref in survivors.entities


@settings(max_examples=200, deadline=None, derandomize=True)
@given(scenarios())
def test_duplicates_have_one_winner_and_the_plan_is_deterministic(case: tuple[Stored, Run]) -> None:
    stored, this_run = case
    plan = reconcile(stored, this_run)
    refs = [u.candidate.ref for u in plan.upserts]
    assert len(refs) == len(set(refs))
    assert reconcile(stored, this_run) == plan
    if not stored.entities:  # nothing stored: the first file reached wins each ref
        for u in plan.upserts:
            first = next(
                f.path
                for f in this_run.files
                if f.candidates and any(c.ref == u.candidate.ref for c in f.candidates)
            )
            assert u.candidate.file == first


@settings(max_examples=200, deadline=None, derandomize=True)
@given(scenarios())
def test_applying_the_same_read_again_plans_nothing(case: tuple[Stored, Run]) -> None:
    stored, this_run = case
    once = after(stored, reconcile(stored, this_run))
    again = reconcile(once, this_run)
    assert again.upserts == () and again.removals == () and again.changes == ()
    assert after(once, again) == once


@settings(max_examples=200, deadline=None, derandomize=True)
@given(scenarios())
def test_every_change_is_a_difference_and_every_difference_a_change(
    case: tuple[Stored, Run],
) -> None:
    stored, this_run = case
    plan = reconcile(stored, this_run)
    new = after(stored, plan)

    def facts(s: Stored, ref: str) -> tuple[str, str | None, str] | None:
        e = s.entities.get(ref)
        return None if e is None else (e.source, e.owner, e.content_hash)

    changed = {c.ref: c for c in plan.changes}
    assert len(changed) == len(plan.changes)  # one change per ref
    for ref in set(stored.entities) | set(new.entities):
        before, now = facts(stored, ref), facts(new, ref)
        if before == now:
            assert ref not in changed
            continue
        change = changed[ref]
        if before is None:
            assert change.kind == "added" and change.new_owner == now[1]  # type: ignore[index]
        elif now is None:
            assert change.kind == "removed" and change.old_owner == before[1]
        elif before[1] != now[1]:
            assert change.kind == "owner_changed"
            assert (change.old_owner, change.new_owner) == (before[1], now[1])
        else:
            assert change.kind == "modified"


def test_plans_are_frozen() -> None:
    plan = reconcile(EMPTY, run(parsed("a.yaml", cand("component:a", "a.yaml"))))
    assert dataclasses.is_dataclass(plan)
    try:
        plan.removals = ("x",)  # type: ignore[misc]
    except dataclasses.FrozenInstanceError:
        return
    raise AssertionError("a Plan must be frozen")


def test_a_file_keeps_its_stat_unless_it_is_to_be_parsed_again() -> None:
    # The stat lets a later sync skip the file: never for one whose hash is dropped.
    good = dataclasses.replace(parsed("a.yaml", cand("component:a", "a.yaml")), stat="1:2:3:4:5")
    broken = dataclasses.replace(
        parsed("b.yaml", cand("component:b", "b.yaml"), clean=False), stat="4:5:6:7:8"
    )
    plan = reconcile(EMPTY, run(good, broken))
    assert [(f.path, f.sha256, f.stat) for f in plan.files] == [
        ("a.yaml", "sha-a.yaml", "1:2:3:4:5"),
        ("b.yaml", None, None),
    ]
    refused = plan.refused({"component:a": "too long"})
    assert [(f.sha256, f.stat) for f in refused.files] == [(None, None), (None, None)]


def _streamed(stored: Stored, this_run: Run, cuts: list[int]) -> tuple[Plan, list[set[str]]]:
    """``this_run`` reconciled a batch of files at a time, each part written before the next
    is decided (the lookups see the store as written so far, as a streamed sync's do); the
    whole plan, and the refs each lookup was asked that an earlier part had written."""
    model = {"now": stored}
    asked: list[set[str]] = []
    upserts, changes = [], []

    def lookup(refs):
        asked.append(set(refs) & {u.candidate.ref for u in upserts})
        return {r: model["now"].entities[r] for r in refs if r in model["now"].entities}

    rec = Reconciler(this_run, stored.files, lookup)
    files = list(this_run.files)
    bounds = sorted({0, len(files), *(c % (len(files) + 1) for c in cuts)})
    for start, end in itertools.pairwise(bounds):
        part = rec.add(files[start:end])
        assert part.partial and not part.files and not part.removals and not part.problems
        now = model["now"]
        model["now"] = Stored(
            {**now.entities, **after(Stored({}, {}), dataclasses.replace(part, files=())).entities},
            now.files,
        )
        upserts += part.upserts
        changes += part.changes
    rest = rec.finish()
    assert not rest.partial and not rest.upserts
    return dataclasses.replace(
        rest, upserts=tuple(upserts), changes=(*changes, *rest.changes)
    ), asked


@settings(max_examples=300, deadline=None, derandomize=True)
@given(scenarios(), st.lists(st.integers(0, 8), max_size=4))
def test_a_run_reconciled_in_batches_plans_what_it_plans_at_once(
    case: tuple[Stored, Run], cuts: list[int]
) -> None:
    stored, this_run = case
    streamed, asked = _streamed(stored, this_run, cuts)
    assert streamed == reconcile(stored, this_run)
    # The store is never asked about a ref this run wrote (its answer would not be the past).
    assert not any(asked)


def test_a_streamed_run_asks_the_store_only_about_the_refs_it_reads() -> None:
    old = cand("component:old", "gone.yaml")
    stored = stored_of(old, cand("component:other", "other.yaml"))
    asked: list[set[str]] = []

    def lookup(refs):
        asked.append(set(refs))
        return {r: stored.entities[r] for r in refs if r in stored.entities}

    rec = Reconciler(run(), stored.files, lookup)
    first = rec.add([parsed("a.yaml", cand("component:a", "a.yaml"))])
    second = rec.add(
        [parsed("b.yaml", cand("component:a", "b.yaml"), cand("component:b", "b.yaml"))]
    )
    rest = rec.finish()
    assert [u.candidate.ref for u in first.upserts] == ["component:a"]
    assert [u.candidate.ref for u in second.upserts] == ["component:b"]  # a: a duplicate
    assert rest.removals == ("component:old", "component:other")
    assert asked == [{"component:a"}, {"component:b"}, {"component:old", "component:other"}]


def test_a_backstage_fidelity_run_is_reconciled_in_one_batch() -> None:
    rec = Reconciler(run(backstage_fidelity=True), {}, lambda _refs: {})
    rec.add([parsed("a.yaml", cand("component:a", "a.yaml"))])
    try:
        rec.add([parsed("b.yaml", cand("component:b", "b.yaml"))])
    except ValueError as exc:
        assert "one batch" in str(exc)
        return
    raise AssertionError("a second batch must be refused under backstage fidelity")


def test_a_part_the_store_refused_makes_its_file_parsed_again() -> None:
    rec = Reconciler(run(), {}, lambda _refs: {})
    sent = rec.add([parsed("a.yaml", cand("component:a", "a.yaml"), cand("component:b", "a.yaml"))])
    rec.refused(sent, sent.refused({"component:b": "too long"}))
    rest = rec.finish()
    assert [(f.path, f.sha256, f.refs) for f in rest.files] == [("a.yaml", None, ("component:a",))]
    assert [p.message for p in rest.problems] == [
        "the database refused this entity (too long); not stored"
    ]
