"""The SQL store on SQLite and PostgreSQL: migrations, the synced catalog read back, the URL."""

from __future__ import annotations

import os
import warnings
from pathlib import Path
from typing import Any

import pytest
import yaml
from alembic import command
from alembic.autogenerate import compare_metadata
from alembic.config import Config as AlembicConfig
from alembic.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import func, inspect, select, text

from bot.bootstrap import build_app, load_settings
from bot.catalog.model import DERIVED, REVERSE, Entity, canonical, derive_relations
from bot.catalog.validation import validate_entity
from bot.errors import StoreError
from bot.store.db import MIGRATIONS, Database, normalise_url
from bot.store.memory.catalog import MemoryCatalogRows
from bot.store.schema import entities, metadata, relations
from bot.store.sql.catalog import SqlCatalogRows
from commands import COMMANDS
from tests.conftest import DEMO

CATALOG_TABLES = {
    "entities",
    "relations",
    "catalog_files",
    "problems",
    "changes",
    "source_status",
    "meta",
}


def script_heads() -> set[str]:
    config = AlembicConfig()
    config.set_main_option("script_location", str(MIGRATIONS))
    return set(ScriptDirectory.from_config(config).get_heads())


def test_migrations_apply_twice_and_match_the_schema(db_url: str) -> None:
    db = Database(db_url)
    try:
        db.migrate()
        db.migrate()  # idempotent: every start runs it
        second = Database(db_url)  # and so does every other replica
        second.migrate()
        second.dispose()
        with db.engine.connect() as conn:
            applied = set(conn.execute(text("SELECT version_num FROM alembic_version")).scalars())
            assert applied == script_heads()
            assert set(inspect(conn).get_table_names()) >= CATALOG_TABLES
            # The migrations build exactly the catalog tables schema.py describes.
            context = MigrationContext.configure(conn, opts={"include_object": _catalog_only})
            with warnings.catch_warnings():
                # SQLite's reflection cannot read an index on an expression (lower(name));
                # PostgreSQL's compares it.
                warnings.filterwarnings("ignore", "Skipped unsupported reflection of expression")
                warnings.filterwarnings("ignore", ".*expression-based index 'ix_entities_name")
                assert compare_metadata(context, metadata) == []
    finally:
        db.dispose()


# The statements the catalog's hot reads and the sync's deletes run (bot/store/sql/catalog.py,
# bot/store/sql/sync.py), as SQLite plans them.
HOT_QUERIES = {
    "exact name or ref": "SELECT ref FROM entities WHERE lower(name) IN ('a', 'b') OR ref = 'c'",
    "documents": "SELECT data FROM entities WHERE ref IN ('a', 'b')",
    "relations of refs": "SELECT target_ref FROM relations WHERE source_ref IN ('a', 'b')",
    "relations of types": (
        "SELECT target_ref FROM relations WHERE source_ref IN ('a') AND type IN ('ownedBy')"
    ),
    "relations toward refs, of types (the derived reverse)": (
        "SELECT source_ref FROM relations WHERE target_ref IN ('a', 'b') AND type IN ('ownedBy')"
    ),
    "relations an entity emitted": "DELETE FROM relations WHERE emitter_ref IN ('a', 'b')",
    "a source's entity count": "SELECT count(*) FROM entities WHERE source = 'main'",
    "a source's files": "SELECT path FROM catalog_files WHERE source = 'main'",
}


def test_the_hot_catalog_queries_use_an_index_not_a_scan(tmp_path: Path) -> None:
    db = Database(f"sqlite:///{tmp_path / 'plan.db'}")
    try:
        db.migrate()
        with db.engine.connect() as conn:
            for name, sql in HOT_QUERIES.items():
                plan = [row[-1] for row in conn.execute(text("EXPLAIN QUERY PLAN " + sql))]
                assert plan and not any(step.startswith("SCAN") for step in plan), (name, plan)
    finally:
        db.dispose()


def _catalog_only(obj: Any, name: str | None, type_: str, reflected: bool, other: Any) -> bool:
    table = name if type_ == "table" else getattr(getattr(obj, "table", None), "name", None)
    return table in CATALOG_TABLES


def test_the_demo_catalog_syncs_and_reads_back(make_app: Any, db_url: str) -> None:
    app = make_app(sources=[{"type": "file", "name": "demo", "target": str(DEMO)}], db_url=db_url)
    catalog = app.services.reader
    with app.db.engine.connect() as conn:
        kinds = dict(
            conn.execute(select(entities.c.kind, text("count(*)")).group_by(entities.c.kind)).all()
        )
        relation_rows = conn.execute(select(text("count(*)")).select_from(relations)).scalar()
    # config/demo/README.md: 105 entities without the two Locations.
    assert kinds == {"group": 13, "user": 27, "component": 37, "api": 11, "resource": 7,
                     "system": 7, "domain": 3}  # fmt: skip
    # One row per ref an entity's spec states (the reverse is derived when read): 256 for the
    # demo, where storing both directions took 512.
    assert relation_rows == 256

    payments = catalog.get("Component:default/Payments-API")
    assert payments is not None
    assert (payments.title, payments.source_file) == (
        "Payments API",
        "services/payments-api/catalog-info.yaml",
    )
    assert [str(r) for r in catalog.related(payments.ref, "ownedBy")] == [
        "group:default/team-payments"
    ]
    # The reverse is derived: the group sees what it owns without declaring it.
    owned = {str(r) for r in catalog.related("group:default/team-payments", "ownerOf")}
    assert "component:default/payments-api" in owned and len(owned) == 14
    # Membership is declared on Users only; the Group gets hasMember from it.
    members = {str(r) for r in catalog.related("group:default/team-payments", "hasMember")}
    assert "user:default/ana.silva" in members and len(members) == 4
    assert {str(r) for r in catalog.related("user:default/ana.silva", "memberOf")} == {
        "group:default/team-payments",
        "group:default/team-risk",
    }
    # The deliberate cycle is stored as written.
    assert "component:default/risk-rules-engine" in {
        str(r) for r in catalog.related("component:default/fraud-scorer", "dependsOn")
    }
    assert "component:default/fraud-scorer" in {
        str(r) for r in catalog.related("component:default/risk-rules-engine", "dependsOn")
    }
    # Dangling owners keep their relation (the ownership gaps of the demo).
    assert [
        str(r) for r in catalog.related("component:default/legacy-dispatch-monolith", "ownedBy")
    ] == ["group:default/team-legacy"]
    assert catalog.get("group:default/team-legacy") is None

    many = catalog.get_many(["user:default/ana.silva", "group:default/team-risk", "user:nobody"])
    assert set(many) == {"user:default/ana.silva", "group:default/team-risk"}
    [ana] = catalog.users_by_email("Ana.Silva@acme-rides.example")
    assert ana.name == "ana.silva"
    [team] = catalog.with_annotation("group", "slack.com/channel-id", "C0FOGYR3XK")
    assert str(team.ref) == "group:default/team-payments"


def _stated(entities: list[Entity]) -> set[tuple[str, str, str, str]]:
    """(source, type, target, emitter) of every relation the entities' specs state."""
    out = set()
    for entity in entities:
        rels, problems = derive_relations(entity)
        assert problems == []
        out |= {(str(r.source), r.type, str(r.target), str(entity.ref)) for r in rels}
    return out


def _both_ways(stated: set[tuple[str, str, str, str]]) -> set[tuple[str, str, str]]:
    forward = {(s, t, o) for s, t, o, _ in stated}
    return forward | {(o, REVERSE[t], s) for s, t, o in forward if t in REVERSE}


def test_each_relation_is_one_row_and_reads_both_ways_on_sql_and_in_memory(
    make_app: Any, db_url: str
) -> None:
    app = make_app(sources=[{"type": "file", "name": "demo", "target": str(DEMO)}], db_url=db_url)
    reader = app.services.reader
    demo = list(reader.get_many(e.ref for e in reader.rows.listing()).values())
    stated = _stated(demo)
    with app.db.engine.connect() as conn:
        rows = conn.execute(
            select(relations.c.source_ref, relations.c.type, relations.c.target_ref,
                   relations.c.emitter_ref)
        ).all()  # fmt: skip
    # Stored once, in the canonical direction, by the entity whose spec states it.
    assert sorted(map(tuple, rows)) == sorted((*canonical(s, t, o), e) for s, t, o, e in stated)
    assert not any(r.type in DERIVED for r in rows)

    expected = _both_ways(stated)
    refs = sorted({r[0] for r in expected})
    memory = MemoryCatalogRows(demo)
    for rows_of in (reader.rows, memory):
        assert set(rows_of.relation_pairs(refs)) == expected
        # Each reverse type on its own (derived), and asked beside its pair.
        for rel_type in sorted(REVERSE):
            wanted = {r for r in expected if r[1] == rel_type}
            assert wanted, rel_type  # the demo has every pair
            assert set(rows_of.relation_pairs(refs, (rel_type,))) == wanted, rel_type
        pair = {r for r in expected if r[1] in ("ownedBy", "ownerOf")}
        assert set(rows_of.relation_pairs(refs, ("ownerOf", "ownedBy"))) == pair
    # What the commands ask: the team's owned components, a service's dependents.
    owned = {str(r) for r in reader.related("group:default/team-payments", "ownerOf")}
    assert "component:default/payments-api" in owned and len(owned) == 14


def test_removing_an_entity_removes_the_reverse_its_relations_gave(
    make_app: Any, db_url: str, tmp_path: Path
) -> None:
    def group(name: str, **spec: Any) -> dict[str, Any]:
        spec = {"type": "team", "children": [], **spec}
        return {"apiVersion": "backstage.io/v1alpha1", "kind": "Group",
                "metadata": {"name": name}, "spec": spec}  # fmt: skip

    service = {
        "apiVersion": "backstage.io/v1alpha1",
        "kind": "Component",
        "metadata": {"name": "svc"},
        "spec": {"type": "service", "lifecycle": "production", "owner": "team-a",
                 "dependsOn": ["component:db"]},
    }  # fmt: skip
    # team-a's parent is stated twice: by team-a (parent) and by org (children).
    org = [group("org", children=["team-a"]), group("team-a", parent="org")]
    (tmp_path / "org.yaml").write_text("---\n".join(yaml.safe_dump(d) for d in org))
    (tmp_path / "svc.yaml").write_text(yaml.safe_dump(service))
    location = {"apiVersion": "backstage.io/v1alpha1", "kind": "Location",
                "metadata": {"name": "all"},
                "spec": {"targets": ["./org.yaml", "./svc.yaml"]}}  # fmt: skip
    (tmp_path / "all.yaml").write_text(yaml.safe_dump(location))
    app = make_app(sources=[{"type": "file", "name": "t", "target": str(tmp_path / "all.yaml")}],
                   db_url=db_url)  # fmt: skip
    reader = app.services.reader

    def related(ref: str, rel_type: str) -> list[str]:
        return [str(r) for r in reader.related(ref, rel_type)]

    assert related("group:default/team-a", "ownerOf") == ["component:default/svc"]
    assert related("component:default/db", "dependencyOf") == ["component:default/svc"]
    # Two rows (one per emitter), one answer.
    assert related("group:default/org", "parentOf") == ["group:default/team-a"]
    assert related("group:default/team-a", "childOf") == ["group:default/org"]
    with app.db.engine.connect() as conn:
        emitters = conn.execute(
            select(relations.c.emitter_ref).where(relations.c.type == "childOf")
        ).scalars()
        assert sorted(emitters) == ["group:default/org", "group:default/team-a"]

    (tmp_path / "svc.yaml").write_text("")
    org[1]["spec"].pop("parent")  # only org states it now
    (tmp_path / "org.yaml").write_text("---\n".join(yaml.safe_dump(d) for d in org))
    assert app.services.sync.run().ok
    assert related("group:default/team-a", "ownerOf") == []
    assert related("component:default/db", "dependencyOf") == []
    assert related("group:default/org", "parentOf") == ["group:default/team-a"]
    assert related("group:default/team-a", "childOf") == ["group:default/org"]
    (tmp_path / "org.yaml").write_text(yaml.safe_dump(org[1]))  # org goes
    assert app.services.sync.run().ok
    assert related("group:default/team-a", "childOf") == []
    with app.db.engine.connect() as conn:
        assert conn.execute(select(func.count()).select_from(relations)).scalar() == 0


def test_migration_0025_stores_each_relation_once_and_answers_the_same(db_url: str) -> None:
    """A database written before 0025 (both directions, by each emitter) upgraded in place."""
    db = Database(db_url)
    try:
        config = AlembicConfig()
        config.set_main_option("script_location", str(MIGRATIONS))
        with db.engine.begin() as conn:
            config.attributes["connection"] = conn
            command.upgrade(config, "0024")
        demo = [
            Entity.from_document(doc)
            for path in sorted(DEMO.parent.rglob("*.yaml"))
            for doc in yaml.safe_load_all(path.read_text())
            if doc and doc.get("kind") != "Location" and not validate_entity(doc)
        ]
        stated = _stated(demo)
        # As the sync wrote them then: each relation and its reverse, from its emitter.
        old = [(s, t, o, e) for s, t, o, e in stated] + [
            (o, REVERSE[t], s, e) for s, t, o, e in stated
        ]
        # As a live Backstage handed them: X states ownedBy G, G states ownerOf X.
        old += [
            ("component:default/x", "ownedBy", "group:default/g", "component:default/x"),
            ("group:default/g", "ownerOf", "component:default/x", "group:default/g"),
            ("component:default/x", "customLink", "component:default/y", "component:default/x"),
        ]
        with db.engine.begin() as conn:
            conn.execute(
                relations.insert(),
                [dict(zip(("source_ref", "type", "target_ref", "emitter_ref"), r, strict=True))
                 for r in old],
            )  # fmt: skip
        refs = sorted({r[0] for r in old} | {r[2] for r in old})
        before = {(s, t, o) for s, t, o, _ in old}  # what reads by source_ref gave

        db.migrate()  # every head: 0025 among them

        with db.engine.connect() as conn:
            rows = conn.execute(
                select(relations.c.source_ref, relations.c.type, relations.c.target_ref,
                       relations.c.emitter_ref)
            ).all()  # fmt: skip
            indexes = {i["name"] for i in inspect(conn).get_indexes("relations")}
        assert "ix_relations_target_type" in indexes
        assert sorted(map(tuple, rows)) == sorted({(*canonical(s, t, o), e) for s, t, o, e in old})
        assert len(rows) == len(stated) + 3 == len(old) // 2 + 2  # x ownedBy g: twice
        after = SqlCatalogRows(db)
        assert set(after.relation_pairs(refs)) == before
        for rel_type in ("ownerOf", "hasMember", "dependencyOf", "parentOf", "apiProvidedBy"):
            wanted = {r for r in before if r[1] == rel_type}
            assert wanted and set(after.relation_pairs(refs, (rel_type,))) == wanted
    finally:
        db.dispose()


def test_sqlite_runs_in_wal_mode_with_foreign_keys(tmp_path: Path) -> None:
    db = Database(f"sqlite:///{tmp_path / 'nested' / 'dir' / 'callboard.db'}")
    try:
        db.migrate()
        with db.engine.connect() as conn:
            assert conn.execute(text("PRAGMA journal_mode")).scalar() == "wal"
            assert conn.execute(text("PRAGMA foreign_keys")).scalar() == 1
        assert (tmp_path / "nested" / "dir" / "callboard.db").is_file()
    finally:
        db.dispose()


def test_callboard_database_url_overrides_the_config(
    tmp_path: Path, db_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    config = tmp_path / "callboard.yaml"
    config.write_text(
        yaml.safe_dump(
            {
                "database": {"url": "sqlite:///./from-config.db"},
                "catalog": {"sources": [{"type": "file", "name": "demo", "target": str(DEMO)}]},
            }
        )
    )
    monkeypatch.setenv("CALLBOARD_DATABASE_URL", db_url)
    settings = load_settings(config)
    assert settings.database_url == db_url
    app = build_app(settings, COMMANDS)
    try:
        assert app.db.url == normalise_url(db_url)
        app.services.sync.run()
        assert app.services.reader.resolve("payments-api").how == "name"
    finally:
        app.close()
    assert not (tmp_path / "from-config.db").exists()
    monkeypatch.delenv("CALLBOARD_DATABASE_URL")
    assert load_settings(config).database_url == f"sqlite:///{tmp_path / 'from-config.db'}"


def test_postgresql_urls_use_psycopg_3_and_never_show_the_password() -> None:
    db = Database("postgresql://callboard:hunter2@db.example:5432/callboard")
    try:
        assert db.url.drivername == "postgresql+psycopg"
        assert db.is_postgres and not db.is_sqlite
        assert "hunter2" not in db.safe_url
        assert db.safe_url == "postgresql+psycopg://callboard:***@db.example:5432/callboard"
    finally:
        db.dispose()


def test_a_database_that_cannot_be_reached_is_a_store_error_without_the_password(
    pg_admin_url: str,
) -> None:
    db = Database("postgresql://postgres:hunter2@127.0.0.1:5432/callboard_no_such_database")
    try:
        with pytest.raises(StoreError) as caught:
            db.migrate()
    finally:
        db.dispose()
    message = str(caught.value)
    assert message.startswith(
        "cannot migrate database postgresql+psycopg://postgres:***@127.0.0.1:5432/"
        "callboard_no_such_database: "
    )
    assert "callboard_no_such_database" in message and "hunter2" not in message


def test_every_change_bumps_the_generation_the_name_index_follows(
    make_app: Any, db_url: str, tmp_path: Path
) -> None:
    root = tmp_path / "repo"
    root.mkdir()
    doc: dict[str, Any] = {
        "apiVersion": "backstage.io/v1alpha1",
        "kind": "Component",
        "metadata": {"name": "first"},
        "spec": {"type": "service", "lifecycle": "production", "owner": "team-a"},
    }
    (root / "all.yaml").write_text(yaml.safe_dump(doc))
    app = make_app(sources=[{"type": "file", "name": "r", "target": str(root / "all.yaml")}],
                   db_url=db_url)  # fmt: skip
    before = app.db.generation()
    assert before >= 1 and [e.name for e in app.services.reader.index().entries()] == ["first"]
    doc["metadata"]["name"] = "second"
    (root / "all.yaml").write_text(yaml.safe_dump(doc))
    app.services.sync.run()
    assert app.db.generation() == before + 1
    assert app.services.reader.resolve("second").ref.name == "second"
    with pytest.raises(Exception, match="Nothing"):
        app.services.reader.resolve("first")


# --- Several processes on one database ---------------------------------------------------------


def test_replicas_migrating_a_fresh_database_at_once_all_succeed(db_url: str) -> None:
    import subprocess
    import sys
    import time

    # Processes, not threads: Alembic's context is process-global. They start at one instant.
    start_at = time.time() + 3
    script = (
        "import sys, time\n"
        "from bot.store.db import Database\n"
        "time.sleep(max(0, float(sys.argv[2]) - time.time()))\n"
        "Database(sys.argv[1]).migrate()\n"
    )
    repo = Path(__file__).resolve().parents[2]
    procs = [
        subprocess.Popen(
            [sys.executable, "-c", script, db_url, str(start_at)],
            cwd=repo,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for _ in range(3)
    ]
    results = [(p.wait(timeout=120), p.stderr.read() if p.stderr else "") for p in procs]
    for proc in procs:
        for stream in (proc.stdout, proc.stderr):
            if stream:
                stream.close()
    assert [code for code, _ in results] == [0, 0, 0], [err[-600:] for _, err in results]
    db = Database(db_url)
    try:
        with db.engine.connect() as conn:
            applied = set(conn.execute(text("SELECT version_num FROM alembic_version")).scalars())
        assert applied == script_heads()
    finally:
        db.dispose()


def _empty_the_database(db: Database, db_url: str) -> None:
    """What a restore from an empty backup, or a recreated database, looks like to the bot."""
    if db.is_sqlite:
        with db.engine.begin() as conn:
            rows = conn.execute(
                text(
                    "SELECT name, sql FROM sqlite_master WHERE type = 'table' "
                    "AND name NOT LIKE 'sqlite_%'"
                )
            ).all()
            virtual = [r.name for r in rows if (r.sql or "").upper().startswith("CREATE VIRTUAL")]
            for name in virtual:
                conn.exec_driver_sql(f'DROP TABLE IF EXISTS "{name}"')
            names = conn.execute(
                text(
                    "SELECT name FROM sqlite_master WHERE type = 'table' "
                    "AND name NOT LIKE 'sqlite_%'"
                )
            ).scalars()
            for name in list(names):
                conn.exec_driver_sql(f'DROP TABLE IF EXISTS "{name}"')
        return
    import psycopg

    name = db.url.database
    with psycopg.connect(
        host="127.0.0.1", port=5432, user="postgres", dbname="postgres", autocommit=True
    ) as admin:
        admin.execute(f'DROP DATABASE "{name}" WITH (FORCE)')
        admin.execute(f'CREATE DATABASE "{name}"')


def test_a_database_found_empty_while_running_is_migrated_again(make_app: Any, db_url: str) -> None:
    from tests.conftest import ask

    app = make_app(sources=[{"type": "file", "name": "demo", "target": str(DEMO)}], db_url=db_url)
    assert "team" in ask(app, "/whoowns payments-api").to_text().lower()
    _empty_the_database(app.db, db_url)
    reply = ask(app, "/whoowns payments-api")
    assert "went wrong" not in reply.to_text()  # no table: migrated again, not a crash
    report = app.services.sync.run()
    assert report.ok and report.sources[0].entities > 0, report.summary()
    assert "team" in ask(app, "/whoowns payments-api").to_text().lower()


class Gated:
    """A file source that, once it has read its files, waits at a gate before handing them
    over: a slow disk, a paused process (``kill -STOP``), a replica that read a moment ago."""

    def __init__(self, inner: Any, gate: Any) -> None:
        self.inner = inner
        self.name = inner.name
        self.type = inner.type
        self.gate = gate  # called after the first read only (a retry reads straight through)
        self.reads = 0

    @property
    def location(self) -> str:
        return str(self.inner.location)

    def read(self, known: Any, force: bool = False, prepare: bool = False) -> Any:
        reads = self.inner.read(known, force, prepare)
        self.reads += 1
        if self.reads == 1:
            self.gate()
        return reads


def _owned_catalog(root: Path, owner: str, count: int = 150) -> None:
    docs = [
        {
            "apiVersion": "backstage.io/v1alpha1",
            "kind": "Component",
            "metadata": {"name": f"svc-{i}"},
            "spec": {"type": "service", "lifecycle": "production", "owner": owner},
        }
        for i in range(count)
    ]
    (root / "all.yaml").write_text("---\n".join(yaml.safe_dump(d) for d in docs))


def _replica(db_url: str, root: Path, gate: Any = None) -> tuple[Any, Database]:
    """One process's sync of source "main" (its own engine, as another replica has)."""
    from bot.catalog.sources import FileSource
    from bot.catalog.sync import CatalogSync
    from bot.store.sql.sync import SqlSyncStore

    db = Database(db_url)
    db.migrate()
    source: Any = FileSource("main", root / "all.yaml", root)
    if gate is not None:
        source = Gated(source, gate)
    return CatalogSync(SqlSyncStore(db), [source]), db


def _owner_changes(db: Database) -> list[tuple[str, str]]:
    from bot.store.schema import changes

    with db.engine.connect() as conn:
        rows = conn.execute(
            select(changes.c.ref, changes.c.new_owner).where(changes.c.change == "owner_changed")
        ).all()
    return [(r.ref, r.new_owner) for r in rows]


def _run_threads(*work: Any) -> list[Any]:
    import threading

    results: list[Any] = [None] * len(work)

    def run(i: int) -> None:
        results[i] = work[i]()

    threads = [threading.Thread(target=run, args=(i,), daemon=True) for i in range(len(work))]
    for t in threads:
        t.start()
    for t in threads:
        t.join(120)
        assert not t.is_alive(), "a sync did not end"
    return results


def test_two_syncs_of_one_source_at_once_record_each_change_once(
    db_url: str, tmp_path: Path
) -> None:
    import threading

    root = tmp_path / "repo"
    root.mkdir()
    _owned_catalog(root, "team-v1")
    first, db = _replica(db_url, root)
    first.run()
    _owned_catalog(root, "team-v2")
    both_read = threading.Barrier(2, timeout=60)  # neither writes before both have read
    a, db_a = _replica(db_url, root, both_read.wait)
    b, db_b = _replica(db_url, root, both_read.wait)
    try:
        reports = _run_threads(a.run, b.run)
        assert all(r.ok for r in reports), [r.summary() for r in reports]
        changed = _owner_changes(db)
        assert len(changed) == 150  # not 300
        assert sorted(len(r.sources[0].owner_changed) for r in reports) == [0, 150]
    finally:
        for d in (db, db_a, db_b):
            d.dispose()


def test_a_sync_that_read_before_a_newer_one_committed_does_not_regress_it(
    db_url: str, tmp_path: Path
) -> None:
    import threading

    root = tmp_path / "repo"
    root.mkdir()
    _owned_catalog(root, "team-v2")
    base, db = _replica(db_url, root)
    base.run()
    _owned_catalog(root, "team-v3")
    read_v3, newer_done = threading.Event(), threading.Event()

    def pause() -> None:
        read_v3.set()
        assert newer_done.wait(60)

    stale, db_stale = _replica(db_url, root, pause)
    newer, db_newer = _replica(db_url, root)
    try:

        def newer_sync() -> Any:
            assert read_v3.wait(60)
            _owned_catalog(root, "team-v4")
            report = newer.run()
            newer_done.set()
            return report

        stale_report, newer_report = _run_threads(stale.run, newer_sync)
        assert newer_report.ok and stale_report.ok, stale_report.summary()
        with db.engine.connect() as conn:
            owners = set(conn.execute(select(entities.c.owner_ref)).scalars())
        assert owners == {"group:default/team-v4"}
        assert {owner for _, owner in _owner_changes(db)} == {"group:default/team-v4"}
        assert stale.sources[0].reads == 2  # it noticed, and read again
    finally:
        for d in (db, db_stale, db_newer):
            d.dispose()


def _read_only_runner(folder: Path) -> list[str]:
    """A command prefix that runs a program seeing ``folder`` read-only, or skip."""
    import shutil
    import subprocess

    if os.geteuid() != 0:
        folder.chmod(0o555)
        return []
    unshare = shutil.which("unshare")
    probe = ["unshare", "-m", "sh", "-c", f"mount --bind -o ro '{folder}' '{folder}'"]
    if unshare is None or subprocess.run(probe, capture_output=True, check=False).returncode:
        pytest.skip("root cannot be denied writes here (no unshare -m with a read-only bind)")
    return [
        "unshare",
        "-m",
        "sh",
        "-c",
        f'mount --bind -o ro "{folder}" "{folder}" && exec "$@"',
        "-",
    ]


def test_a_read_only_data_directory_is_named_and_read_only_commands_still_work(
    tmp_path: Path,
) -> None:
    import subprocess
    import sys

    data = tmp_path / "var"
    config = tmp_path / "callboard.yaml"
    config.write_text(
        yaml.safe_dump(
            {
                "data_dir": str(data),
                "catalog": {"sources": [{"type": "file", "name": "demo", "target": str(DEMO)}]},
            }
        )
    )
    callboard = str(Path(sys.executable).with_name("callboard"))
    env = {k: v for k, v in os.environ.items() if not k.startswith("CALLBOARD_")}

    def run(*args: str, prefix: list[str] = []) -> subprocess.CompletedProcess[str]:  # noqa: B006
        return subprocess.run(
            [*prefix, callboard, "--config", str(config), *args],
            capture_output=True,
            text=True,
            env=env,
            timeout=120,  # a hang guard
            check=False,
        )

    assert run("sync").returncode == 0
    prefix = _read_only_runner(data)
    try:
        listed = run("list", prefix=prefix)
        assert listed.returncode == 0, listed.stderr
        assert "component:default/payments-api" in listed.stdout
        answered = run("ask", "--no-sync", "/whoowns payments-api", prefix=prefix)
        assert answered.returncode == 0, answered.stderr
        synced = run("sync", prefix=prefix)
        assert synced.returncode == 1
        assert "not synced: the database is read-only" in synced.stdout
        assert "read-only" in synced.stderr  # the log says which folder, and what to do
    finally:
        data.chmod(0o755)
    # A database that was never created there cannot be read at all: the message says why.
    (tmp_path / "empty").mkdir()
    config.write_text(yaml.safe_dump({"data_dir": str(tmp_path / "empty")}))
    prefix = _read_only_runner(tmp_path / "empty")
    try:
        failed = run("list", prefix=prefix)
        assert failed.returncode != 0
        assert "is read-only for this user" in failed.stderr, failed.stderr
    finally:
        (tmp_path / "empty").chmod(0o755)


def test_two_sqlite_transactions_that_read_then_write_both_commit(db_url: str) -> None:
    # Two replicas (or two threads of one bot) each read, then write, in one transaction. Had
    # SQLite's transaction begun at the read, both would hold a read lock and try to upgrade
    # it, and SQLite refuses one at once ("database is locked"): the scheduler's fault claim
    # failed this way. A plain transaction begins in SQLite at its first write instead.
    import threading

    from bot.store.schema import meta

    db = Database(db_url)
    db.migrate()
    with db.engine.begin() as conn:
        conn.execute(meta.insert().values(key="counter", value="0"))
    both_read = threading.Barrier(2, timeout=30)
    errors: list[BaseException] = []

    def bump() -> None:
        try:
            with db.engine.begin() as conn:
                conn.execute(select(meta.c.value).where(meta.c.key == "counter")).scalar_one()
                both_read.wait()
                conn.execute(
                    meta.update()
                    .where(meta.c.key == "counter")
                    .values(value=text("CAST(CAST(value AS INTEGER) + 1 AS TEXT)"))
                )
        except BaseException as exc:  # reported below, with the thread's own error
            errors.append(exc)

    threads = [threading.Thread(target=bump) for _ in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)  # a hang guard
    assert errors == []
    with db.engine.connect() as conn:
        value = conn.execute(select(meta.c.value).where(meta.c.key == "counter")).scalar_one()
    assert value == "2"
    db.engine.dispose()
