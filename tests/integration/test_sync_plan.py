"""The SQL executor keeps the plan's contract: the store holds what ``reconcile.after`` says.

A seeded sequence of runs of one source (files added, broken, fixed, emptied, dropped,
duplicates across files) is reconciled against what the database holds, executed by
``bot.store.sql.sync``, and the stored entities and files are compared with the model.
"""

from __future__ import annotations

import datetime as dt
import json
import random
from pathlib import Path

from bot.catalog.candidates import Candidate
from bot.catalog.problems import Problem
from bot.catalog.reconcile import FileOutcome, Run, Stored, after, reconcile
from bot.store.db import Database
from bot.store.sql.sync import SqlSyncStore

SOURCE = "main"
NOW = dt.datetime(2026, 12, 6, 9, 0, tzinfo=dt.UTC)
REFS = [f"component:default/e{i}" for i in range(8)]
PATHS = [f"f{i}.yaml" for i in range(5)]


def _cand(ref: str, path: str, owner: str | None, version: int) -> Candidate:
    name = ref.rsplit("/", 1)[1]
    data = json.dumps({"kind": "Component", "metadata": {"name": name}, "v": version})
    rels = [(ref, "ownedBy", owner), (owner, "ownerOf", ref)] if owner else []
    return Candidate(
        ref, 1, "component", "default", name, None, None, "service", "production", data,
        f"{ref}|{owner}|{version}", owner, rels, path,
    )  # fmt: skip


def _run(rng: random.Random, stored_files: set[str]) -> Run:
    paths = rng.sample(PATHS, rng.randint(0, len(PATHS)))
    files = []
    for path in paths:
        state = rng.choice(["clean", "clean", "unclean", "unreadable", "unchanged"])
        if state == "unreadable":
            files.append(FileOutcome(path, None, (), (Problem("error", "unreadable", path),)))
        elif state == "unchanged" and path in stored_files:
            files.append(FileOutcome(path, "sha-" + path))
        else:
            refs = rng.sample(REFS, rng.randint(0, 4))
            cands = [
                _cand(r, path, rng.choice([None, "group:default/a", "group:default/b"]),
                      rng.randint(1, 2))
                for r in refs
            ]  # fmt: skip
            files.append(FileOutcome(path, "sha-" + path, (), (), cands, state == "clean"))
    return Run(SOURCE, "file", files, [SOURCE])


def test_the_store_holds_what_the_plan_says(db_url: str) -> None:
    db = Database(db_url)
    db.migrate()
    store = SqlSyncStore(db)
    rng = random.Random(16)
    model = Stored({}, {})
    seen: set[str] = set()
    try:
        for _ in range(25):
            version, known = store.known_files(SOURCE)
            this_run = _run(rng, {k.path for k in known})
            with store.writing(SOURCE, version) as writer:
                stored = Stored(writer.stored_entities(REFS), {k.path: k.refs for k in known})
                assert stored == Stored(model.entities, model.files)
                plan = writer.execute(reconcile(stored, this_run), NOW)
                writer.finish(bool(plan.changes))
            assert plan.refused({}) is plan
            model = after(model, plan)
            seen.update(c.kind for c in plan.changes)
            seen.update("kept" for _ in plan.kept_last_good)
        _, known = store.known_files(SOURCE)
        assert {k.path: k.refs for k in known} == dict(model.files)
        assert {"added", "removed", "modified", "owner_changed", "kept"} <= seen  # not trivial
    finally:
        db.engine.dispose()


def test_a_sync_writes_on_sqlite_with_a_large_page_cache_and_gives_it_back(tmp_path: Path) -> None:
    from bot.store.sql.sync import SYNC_CACHE_KIB

    db = Database(f"sqlite:///{tmp_path / 'cache.db'}")
    db.migrate()
    store = SqlSyncStore(db)
    try:
        with db.engine.connect() as conn:
            before = conn.exec_driver_sql("PRAGMA cache_size").scalar()
        version, _files = store.known_files("main")
        with store.writing("main", version) as writer:
            assert writer.conn.exec_driver_sql("PRAGMA cache_size").scalar() == -SYNC_CACHE_KIB
        with db.engine.connect() as conn:  # the pooled connection, as the bot's reads get it
            assert conn.exec_driver_sql("PRAGMA cache_size").scalar() == before
    finally:
        db.dispose()
