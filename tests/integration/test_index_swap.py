"""The name and search indexes after a catalog change: rebuilt by the sync, swapped whole.

A running bot's sync rebuilds the indexes it has built, in the sync's thread, so the first
answer after a change neither waits for a build nor sees the old catalog; while a rebuild is
under way, or a sync of this process that will rebuild it, the previous index answers (no
request rebuilds it meanwhile); an index nothing asked for is not built by a sync
(``callboard sync`` stays as fast as it was).
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar

import pytest
from sqlalchemy import event

from bot.app import App
from bot.catalog.read import NameIndex
from bot.catalog.search import build_index, parse_query
from bot.catalog.sync import StepReport, SyncReport
from bot.errors import Ambiguous, NotFound
from tests.conftest import ask

AppFactory = Callable[..., App]

COMPONENT = """\
apiVersion: backstage.io/v1alpha1
kind: Component
metadata:
  name: {name}
spec:
  type: service
  lifecycle: production
  owner: {owner}
"""
GROUPS = """\
apiVersion: backstage.io/v1alpha1
kind: Group
metadata:
  name: team-a
spec:
  type: team
  children: []
---
apiVersion: backstage.io/v1alpha1
kind: Group
metadata:
  name: team-b
spec:
  type: team
  children: []
"""


def catalog(root: Path, *components: tuple[str, str]) -> Path:
    root.mkdir(exist_ok=True)
    docs = [GROUPS, *(COMPONENT.format(name=n, owner=o) for n, o in components)]
    path = root / "catalog.yaml"
    path.write_text("---\n".join(docs))
    return path


def make(make_app: AppFactory, db_url: str, root: Path) -> App:
    target = catalog(root, ("ledger", "team-a"))
    return make_app(sources=[{"type": "file", "name": "t", "target": str(target)}], db_url=db_url)


def test_a_sync_that_changes_the_catalog_swaps_in_rebuilt_indexes(
    make_app: AppFactory, db_url: str, tmp_path: Path
) -> None:
    app = make(make_app, db_url, tmp_path / "catalog")
    names, search = app.services.reader.index(), app.services.catalog.search_cache.current()
    catalog(tmp_path / "catalog", ("ledger", "team-b"), ("billing", "team-a"))
    app.services.sync.run()
    # Rebuilt by the sync itself: current for the stored catalog without another build.
    assert (
        app.services.catalog.search_cache.fresh() is not None
        and app.services.catalog.search_cache.fresh() is not search
    )
    rebuilt = app.services.reader.index()
    assert rebuilt is not names and "component:default/billing" in rebuilt
    assert "group:default/team-b" in ask(app, "/whoowns ledger").to_text()
    assert app.services.catalog.search_cache.current().search(parse_query("billing")).total == 1


def test_a_sync_does_not_build_an_index_nothing_asked_for(
    make_app: AppFactory, db_url: str, tmp_path: Path
) -> None:
    app = make(make_app, db_url, tmp_path / "catalog")
    catalog(tmp_path / "catalog", ("ledger", "team-b"))
    app.services.sync.run()
    assert app.services.catalog.search_cache.fresh() is None  # still never built


def test_while_a_rebuild_is_under_way_the_previous_index_answers(
    make_app: AppFactory, db_url: str, tmp_path: Path
) -> None:
    app = make(make_app, db_url, tmp_path / "catalog")
    before = app.services.reader.index()
    catalog(tmp_path / "catalog", ("ledger", "team-a"), ("billing", "team-a"))
    app.services.sync.sync.run()  # stored, but no index rebuilt yet (as another process's sync)
    building, release = threading.Event(), threading.Event()

    def rebuild_under_way() -> None:  # another thread holds the build lock until released
        with app.services.reader._names._lock:
            building.set()
            release.wait()

    holder = threading.Thread(target=rebuild_under_way)
    holder.start()
    assert building.wait(60)  # a hang guard
    try:
        assert app.services.reader.index() is before  # no waiting: the previous one answers
    finally:
        release.set()
        holder.join()
    # No rebuild under way any more: the next reader builds the current index.
    assert "component:default/billing" in app.services.reader.index()


class SeesTheNameIndex:
    """A post-sync step (it runs after the sources committed, before the indexes are
    rebuilt) that asks for the name index, as a request arriving then would."""

    name = "sees"

    def __init__(self, app: App) -> None:
        self.app = app
        self.seen: list[NameIndex] = []

    def run(self, report: SyncReport, force: bool = False) -> StepReport:
        self.seen.append(self.app.services.reader.index())
        return StepReport(self.name, "asked")


def test_a_request_during_a_changing_sync_gets_the_previous_index(
    make_app: AppFactory, db_url: str, tmp_path: Path
) -> None:
    app = make(make_app, db_url, tmp_path / "catalog")
    before = app.services.reader.index()
    step = SeesTheNameIndex(app)
    app.services.sync.sync.steps.append(step)
    catalog(tmp_path / "catalog", ("ledger", "team-a"), ("billing", "team-a"))
    report = app.services.sync.run()
    assert report.sources[0].added == ["component:default/billing"]
    assert len(step.seen) == 1 and step.seen[0] is before  # nothing rebuilt it then
    after = app.services.reader.index()
    assert after is not before and "component:default/billing" in after


def _scratch(app: App) -> list[tuple[str, str, str]]:
    """A search index built from scratch on the stored catalog: each entity, its owner and
    description."""
    fresh = build_index(app.services.reader.rows)
    return [(d.ref, d.owner or "", d.description or "") for d in fresh.docs]


def test_a_sync_updates_the_search_index_from_what_it_changed(
    make_app: AppFactory, db_url: str, tmp_path: Path
) -> None:
    """After a sync of this process, the search index is updated from the refs the sync
    changed (not rebuilt from every stored document) and answers as one built from scratch;
    the index the sync started from is left as it was for the answers still using it."""
    root = tmp_path / "catalog"
    target = catalog(root, ("ledger", "team-a"), ("payouts", "team-a"), ("refunds", "team-b"))
    app = make_app(sources=[{"type": "file", "name": "t", "target": str(target)}], db_url=db_url)
    cache = app.services.catalog.search_cache
    before = cache.current()
    catalog(root, ("ledger", "team-b"), ("refunds", "team-b"), ("billing", "team-a"))
    app.services.sync.run()
    after = cache.fresh()
    assert after is not None and after is not before
    assert after._values is before._values  # updated from the old index, not rebuilt
    assert [(d.ref, d.owner or "", d.description or "") for d in after.docs] == _scratch(app)
    hits = after.search(parse_query("owner:team-b"))
    assert [h.doc.name for h in hits.hits] == ["ledger", "refunds"]
    assert after.search(parse_query("payouts")).total == 0
    assert [h.doc.name for h in after.search(parse_query("billing")).hits] == ["billing"]
    assert before.search(parse_query("payouts")).total == 1  # the old one, untouched


T = TypeVar("T")


def _synced_after_another_writer(
    make_app: AppFactory, db_url: str, tmp_path: Path, built: Callable[[App], T]
) -> tuple[App, T]:
    """An app whose index ``built`` makes, then a sync of another process (another source),
    then a sync of the app that adds ``billing``: the app and the index built first."""
    root, other = tmp_path / "catalog", tmp_path / "other"
    target = catalog(root, ("ledger", "team-a"))
    app = make_app(sources=[{"type": "file", "name": "t", "target": str(target)}], db_url=db_url)
    before = built(app)
    elsewhere = catalog(other, ("audit", "team-b"))
    writer = make_app(
        sources=[{"type": "file", "name": "u", "target": str(elsewhere)}], db_url=db_url
    )
    assert writer.services.reader.count() > 0  # its sync bumped the generation
    catalog(root, ("ledger", "team-a"), ("billing", "team-a"))
    app.services.sync.run()
    return app, before


def test_another_writer_between_makes_the_search_index_rebuild_whole(
    make_app: AppFactory, db_url: str, tmp_path: Path
) -> None:
    """When the stored catalog is not exactly the index's plus this sync's changes (another
    process synced in between), the index is rebuilt whole, and has both changes."""
    app, before = _synced_after_another_writer(
        make_app, db_url, tmp_path, lambda app: app.services.catalog.search_cache.current()
    )
    after = app.services.catalog.search_cache.fresh()
    assert after is not None and after._values is not before._values  # rebuilt
    assert {h.doc.name for h in after.search(parse_query("kind:component")).hits} == {
        "ledger",
        "billing",
        "audit",
    }


def test_a_large_sync_on_postgresql_refreshes_the_planners_statistics(
    make_app: AppFactory, pg_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """After a sync that wrote many entities, PostgreSQL knows the tables' sizes at once (not
    when autovacuum comes by): a cold sync of a million left /deps planned on no statistics."""
    from sqlalchemy import text

    import bot.store.sql.sync as sql_sync

    monkeypatch.setattr(sql_sync, "ANALYZE_AFTER_ROWS", 3)  # the demo of a large sync
    target = catalog(tmp_path / "catalog", ("ledger", "team-a"), ("billing", "team-b"))
    app = make_app(sources=[{"type": "file", "name": "t", "target": str(target)}], db_url=pg_url)
    with app.db.engine.connect() as conn:
        known = dict(
            conn.execute(
                text(
                    "SELECT relname, reltuples FROM pg_class "
                    "WHERE relname IN ('entities', 'relations')"
                )
            ).all()
        )
    assert known == {"entities": 4, "relations": 2}  # -1 before ANALYZE: never counted


USER = """\
---
apiVersion: backstage.io/v1alpha1
kind: User
metadata:
  name: ana
  annotations:
    slack.com/user-id: {slack}
spec:
  profile:
    displayName: Ana Silva
    email: {email}
  memberOf: [team-a]
"""


def _names_from_scratch(app: App) -> NameIndex:
    """A name index built from every stored row, as a process starting now would."""
    return app.services.reader._build()[1]


def test_a_sync_updates_the_name_index_from_what_it_changed(
    make_app: AppFactory, db_url: str, tmp_path: Path
) -> None:
    """After a sync of this process, the name index is updated from the refs the sync
    changed (not rebuilt from every stored name) and answers as one built from scratch; the
    index the sync started from is left as it was for the answers still using it."""
    root = tmp_path / "catalog"
    target = catalog(root, ("ledger", "team-a"), ("payouts", "team-a"), ("refunds", "team-b"))
    with target.open("a") as out:
        out.write(USER.format(slack="U111", email="ana@example.com"))
    app = make_app(sources=[{"type": "file", "name": "t", "target": str(target)}], db_url=db_url)
    reader = app.services.reader
    before = reader.index()
    team_a = before.entry("group:default/team-a")
    catalog(root, ("ledger", "team-b"), ("refunds", "team-b"), ("billing", "team-a"))
    with target.open("a") as out:
        out.write(USER.format(slack="U222", email="ana.silva@example.com"))
    app.services.sync.run()
    after = reader._names.fresh()
    assert after is not None and after is not before
    assert after.entry("group:default/team-a") is team_a  # updated from the old index
    scratch = _names_from_scratch(app)
    assert set(after.entries()) == set(scratch.entries()) and len(after) == len(scratch)
    for text in (
        "billing",
        "payouts",
        "ana.silva@example.com",
        "ana@example.com",
        "U222",
        "U111",
        "Ana Silva",
        "ledger",
        "user:ana",
        "team-b",
    ):
        assert _resolved(after, text) == _resolved(scratch, text), text
    assert _resolved(after, "U222") == "user:default/ana"
    assert _resolved(after, "payouts") != "component:default/payouts"
    assert _resolved(before, "payouts") == "component:default/payouts"  # the old one, as it was
    assert _resolved(before, "U111") == "user:default/ana"


def _resolved(index: NameIndex, text: str) -> str:
    try:
        found = index.resolve(text)
    except (NotFound, Ambiguous) as exc:
        return type(exc).__name__
    return str(found.ref) if found.how != "fuzzy" else f"fuzzy {found.ref}"


def test_another_writer_between_makes_the_name_index_rebuild_whole(
    make_app: AppFactory, db_url: str, tmp_path: Path
) -> None:
    """When the stored catalog is not exactly the name index's plus this sync's changes
    (another process synced in between), the index is rebuilt whole, and has both changes."""
    app, before = _synced_after_another_writer(
        make_app, db_url, tmp_path, lambda app: app.services.reader.index()
    )
    after = app.services.reader._names.fresh()
    assert after is not None
    assert after.entry("component:default/ledger") is not before.entry("component:default/ledger")
    assert "component:default/audit" in after and "component:default/billing" in after


def test_the_rows_an_update_reads_and_their_generation_are_one_snapshot(
    make_app: AppFactory, db_url: str, tmp_path: Path
) -> None:
    """Another process's sync committing between the generation read and the rows read does
    not show in them: the rows are those of the generation returned (else an index would be
    labelled with a generation it does not hold, and never brought up to date). Both reads
    an update makes: the name index's and the search index's."""
    root = tmp_path / "catalog"
    target = catalog(root, ("ledger", "team-a"))
    app = make_app(sources=[{"type": "file", "name": "t", "target": str(target)}], db_url=db_url)
    rows, db = app.services.reader.rows, app.db
    assert db is not None
    wanted = ["component:default/audit", "component:default/billing", "component:default/ledger"]

    def with_a_sync_between(read: Callable[[], Any], name: str) -> tuple[int, Any]:
        wrote: list[str] = []

        def write_between(_conn: Any, _cursor: Any, statement: str, *_args: Any) -> None:
            if "entities" in statement and not wrote:  # after the generation, before rows
                wrote.append(statement)
                other = catalog(tmp_path / name, (name, "team-b"))
                make_app(
                    sources=[{"type": "file", "name": name, "target": str(other)}], db_url=db_url
                )

        before = rows.generation()
        event.listen(db.engine, "before_cursor_execute", write_between)
        try:
            got = read()
        finally:
            event.remove(db.engine, "before_cursor_execute", write_between)
        assert wrote and rows.generation() > before  # the other sync did commit in between
        return before, got

    before, names = with_a_sync_between(lambda: rows.names_of(wanted), "audit")
    assert names.generation == before
    assert [r.ref for r in names.names] == ["component:default/ledger"]
    before, (generation, found) = with_a_sync_between(
        lambda: rows.search_rows_of(wanted), "billing"
    )
    assert generation == before
    assert sorted(r.ref for r in found) == ["component:default/audit", "component:default/ledger"]
