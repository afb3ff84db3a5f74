"""The catalog read ports, one contract for both stores: the SQL one (SQLite, synced from a
small catalog file) and the memory one (filled from the same documents). Each assertion runs
against both, so the memory store that handler tests use cannot drift from the real one.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
import yaml
from sqlalchemy import event

from bot.app import App
from bot.catalog.model import Entity, EntityRef
from bot.catalog.read import Ownership
from bot.catalog.search import parse_query
from bot.errors import Ambiguous, NotFound
from bot.ports import CatalogGraph, CatalogQueries, SearchQueries
from bot.store.memory.catalog import MemoryCatalog
from tests.conftest import ask

AppFactory = Callable[..., App]

CATALOG = """\
apiVersion: backstage.io/v1alpha1
kind: Group
metadata:
  name: org
  title: The Org
spec:
  type: organization
  children: [team-a, team-b]
---
apiVersion: backstage.io/v1alpha1
kind: Group
metadata:
  name: team-a
spec:
  type: team
  parent: org
  children: [team-a-1]
  profile:
    displayName: Alpha Team
    email: Team-A@example.com
---
apiVersion: backstage.io/v1alpha1
kind: Group
metadata:
  name: team-a-1
spec:
  type: team
  parent: team-a
  children: []
---
apiVersion: backstage.io/v1alpha1
kind: Group
metadata:
  name: team-b
spec:
  type: team
  parent: org
  children: []
---
apiVersion: backstage.io/v1alpha1
kind: User
metadata:
  name: ana.silva
  annotations:
    slack.com/user-id: U0ANA
spec:
  profile:
    displayName: Ana Silva
    email: Ana.Silva@example.com
  memberOf: [team-a]
---
apiVersion: backstage.io/v1alpha1
kind: User
metadata:
  name: bruno
spec:
  profile:
    email: bruno@example.com
  memberOf: [team-b, team-a-1]
---
apiVersion: backstage.io/v1alpha1
kind: Component
metadata:
  name: payments-api
  title: Payments API
  description: Takes card payments and refunds
  tags: [python, payments]
  annotations:
    pagerduty.com/service-id: PSVC1
spec:
  type: service
  lifecycle: production
  owner: team-a
  system: payments
  providesApis: [payments]
  consumesApis: [ledger-api]
  dependsOn: [resource:payments-db]
---
apiVersion: backstage.io/v1alpha1
kind: Component
metadata:
  name: ledger
spec:
  type: service
  lifecycle: production
  owner: team-b
  system: payments
  providesApis: [ledger-api]
  dependsOn: [component:payments-api]
---
apiVersion: backstage.io/v1alpha1
kind: Component
metadata:
  name: checkout-web
spec:
  type: website
  lifecycle: experimental
  owner: team-a-1
  consumesApis: [payments]
---
apiVersion: backstage.io/v1alpha1
kind: API
metadata:
  name: payments
spec:
  type: openapi
  lifecycle: production
  owner: team-a
  definition: "openapi: 3.0.0"
---
apiVersion: backstage.io/v1alpha1
kind: API
metadata:
  name: ledger-api
spec:
  type: grpc
  lifecycle: production
  owner: team-b
  definition: "syntax = proto3;"
---
apiVersion: backstage.io/v1alpha1
kind: Resource
metadata:
  name: payments-db
spec:
  type: database
  owner: team-a
---
apiVersion: backstage.io/v1alpha1
kind: System
metadata:
  name: payments
spec:
  owner: team-a
"""

BILLING = """\
---
apiVersion: backstage.io/v1alpha1
kind: Component
metadata:
  name: billing
spec:
  type: service
  lifecycle: production
  owner: team-b
  dependsOn: [component:ledger]
"""

# Owners of every shape /whoowns shows: a user, a ref not in the catalog, a group in a cycle of
# parents, and a second member of team-a whose display name sorts first.
OWNERS = """\
---
apiVersion: backstage.io/v1alpha1
kind: Component
metadata:
  name: solo-tool
spec:
  type: tool
  lifecycle: experimental
  owner: user:ana.silva
---
apiVersion: backstage.io/v1alpha1
kind: Component
metadata:
  name: orphan
spec:
  type: service
  lifecycle: production
  owner: ghost-team
---
apiVersion: backstage.io/v1alpha1
kind: Component
metadata:
  name: looping
spec:
  type: service
  lifecycle: production
  owner: loop-a
---
apiVersion: backstage.io/v1alpha1
kind: Group
metadata:
  name: loop-a
spec:
  type: team
  parent: loop-b
  children: []
---
apiVersion: backstage.io/v1alpha1
kind: Group
metadata:
  name: loop-b
spec:
  type: team
  parent: loop-a
  children: []
---
apiVersion: backstage.io/v1alpha1
kind: User
metadata:
  name: zed
spec:
  profile:
    displayName: Aaron Zed
  memberOf: [team-a]
"""


class Ports(CatalogQueries, CatalogGraph, SearchQueries):
    """The three read ports, as one type for the tests."""


@dataclass
class Store:
    """One store under test: its ports, and how to change its catalog to ``text``."""

    name: str
    ports: Ports
    change: Callable[[str], None]


def _entities(text: str) -> list[Entity]:
    return [Entity.from_document(doc) for doc in yaml.safe_load_all(text) if doc]


@pytest.fixture(params=["sql", "memory"])
def store(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Store]:
    if request.param == "memory":
        memory = MemoryCatalog(_entities(CATALOG))

        def change_memory(text: str) -> None:
            wanted = _entities(text)
            keep = {str(e.ref) for e in wanted}
            with memory.rows.names() as snapshot:
                gone = [r.ref for r in snapshot.names if r.ref not in keep]
            memory.remove(*gone)
            memory.put(*wanted)

        yield Store("memory", memory, change_memory)  # type: ignore[arg-type]
        return
    make_app: AppFactory = request.getfixturevalue("make_app")
    path = tmp_path / "catalog" / "catalog.yaml"
    path.parent.mkdir()
    path.write_text(CATALOG)
    app = make_app(sources=[{"type": "file", "name": "t", "target": str(path)}])

    def change_sql(text: str) -> None:
        path.write_text(text)
        app.services.sync.run()

    yield Store("sql", app.services.catalog, change_sql)  # type: ignore[arg-type]


async def test_whoowns_reads_a_group_owner_on_one_connection(
    make_app: AppFactory, tmp_path: Path, db_url: str
) -> None:
    """/whoowns's ownership read and its resolution each take one connection and few
    statements: the owner with its members in one read, one read per parent above the first."""
    path = tmp_path / "catalog.yaml"
    path.write_text(CATALOG)
    app = make_app(sources=[{"type": "file", "name": "t", "target": str(path)}], db_url=db_url)
    app.services.reader.index()
    connections: list[object] = []
    statements: list[str] = []
    engine = app.db.engine
    event.listen(engine, "checkout", lambda *a: connections.append(a[1]))
    event.listen(engine, "before_cursor_execute", lambda *a: statements.append(a[2]))

    found = await app.services.catalog.ownership("component:default/checkout-web")
    assert [str(r) for r in found.parents] == ["group:default/team-a", "group:default/org"]
    assert [m.name for m in found.members] == ["bruno"]
    # ownedBy; the owner's childOf and hasMember; its document and its members'; the
    # parents of team-a and of org.
    assert len(connections) == 1 and len(statements) == 5
    connections.clear()
    statements.clear()
    resolved, entity = await app.services.catalog.resolve_entity("checkout-web")
    assert entity is not None and entity.ref == resolved.ref
    assert len(connections) == 1 and len(statements) == 2  # the generation, the document


async def test_deps_and_owns_read_on_one_connection(
    make_app: AppFactory, tmp_path: Path, db_url: str
) -> None:
    """/deps's and /owns's relation reads (a tree level at a time, the APIs, the groups below)
    share one connection."""
    path = tmp_path / "catalog.yaml"
    path.write_text(CATALOG)
    app = make_app(sources=[{"type": "file", "name": "t", "target": str(path)}], db_url=db_url)
    connections: list[object] = []
    statements: list[str] = []
    engine = app.db.engine
    event.listen(engine, "checkout", lambda *a: connections.append(a[1]))
    event.listen(engine, "before_cursor_execute", lambda *a: statements.append(a[2]))
    graph = app.services.catalog

    both = await graph.dependencies("component:default/ledger", 2)
    assert "component:default/payments-api" in both.down.reached
    assert both.provided == ("api:default/ledger-api",)
    assert len(connections) == 1 and len(statements) >= 6
    connections.clear()
    statements.clear()

    owned = await graph.owned("group:default/team-a", include_children=True)
    assert owned.owners == ("group:default/team-a", "group:default/team-a-1")
    # the group's own relations; two levels of child groups; what the owners own
    assert len(connections) == 1 and len(statements) == 4
    connections.clear()
    statements.clear()
    await graph.owned("user:default/ana.silva", include_children=False)
    assert len(connections) == 1 and len(statements) == 2  # memberOf, then ownerOf


def test_both_stores_implement_the_ports() -> None:
    def takes(ports: Ports) -> Ports:
        return ports

    assert takes(MemoryCatalog()) is not None  # type: ignore[arg-type]
    memory: CatalogQueries = MemoryCatalog()
    graph: CatalogGraph = MemoryCatalog()
    search: SearchQueries = MemoryCatalog()
    assert memory is not graph is not search


async def test_names_resolve_by_ref_name_title_email_chat_id_and_typo(store: Store) -> None:
    catalog = store.ports
    assert (await catalog.resolve("component:default/payments-api")).how == "ref"
    found = await catalog.resolve("payments-api")
    assert (str(found.ref), found.how) == ("component:default/payments-api", "name")
    assert (await catalog.resolve("Payments API")).how == "title"
    assert str((await catalog.resolve("paymnts-api")).ref) == "component:default/payments-api"
    assert str((await catalog.resolve("ana.silva@EXAMPLE.com")).ref) == "user:default/ana.silva"
    assert str((await catalog.resolve("<@U0ANA>")).ref) == "user:default/ana.silva"
    assert str((await catalog.resolve("Alpha Team")).ref) == "group:default/team-a"
    # Several kinds share "payments": the component-first rule, or the kind asked for.
    assert (await catalog.resolve("payments")).ref.kind == "api"
    assert (await catalog.resolve("payments", ("system",))).ref.kind == "system"
    with pytest.raises(NotFound) as missing:
        await catalog.resolve("component:default/nothing-here")
    assert missing.value.query == "component:default/nothing-here"
    with pytest.raises((NotFound, Ambiguous)):
        await catalog.resolve("zzzzqqqq")
    names = await catalog.names()
    ana = names.entry("user:default/ana.silva")
    assert len(names) == 13 and ana is not None and ana.email == "ana.silva@example.com"


async def test_entities_by_ref_email_and_annotation(store: Store) -> None:
    catalog = store.ports
    entity = await catalog.get("Component:default/Payments-API")
    assert (
        entity is not None
        and entity.title == "Payments API"
        and entity.tags
        == (
            "python",
            "payments",
        )
    )
    assert await catalog.get("component:default/nothing") is None
    found = await catalog.get_many(["api:default/payments", "group:default/org", "x:default/y"])
    assert sorted(found) == ["api:default/payments", "group:default/org"]
    assert await catalog.get_many([]) == {}
    users = await catalog.users_by_email("ANA.SILVA@example.com")
    assert [str(u.ref) for u in users] == ["user:default/ana.silva"]
    assert await catalog.users_by_email("nobody@example.com") == []
    tagged = await catalog.with_annotation("Component", "pagerduty.com/service-id", "PSVC1")
    assert [str(e.ref) for e in tagged] == ["component:default/payments-api"]
    assert await catalog.with_annotation("component", "pagerduty.com/service-id", "PSVC") == []


async def test_relations_both_directions_deduplicated_and_sorted(store: Store) -> None:
    catalog = store.ports
    rels = await catalog.relations("component:default/payments-api")
    assert [(r.type, str(r.target)) for r in rels] == [
        ("consumesApi", "api:default/ledger-api"),
        ("dependencyOf", "component:default/ledger"),
        ("dependsOn", "resource:default/payments-db"),
        ("ownedBy", "group:default/team-a"),
        ("partOf", "system:default/payments"),
        ("providesApi", "api:default/payments"),
    ]
    owned = await catalog.related(EntityRef.parse("group:team-a"), "ownerOf")
    assert [str(r) for r in owned] == [
        "api:default/payments",
        "component:default/payments-api",
        "resource:default/payments-db",
        "system:default/payments",
    ]
    members = await catalog.related("group:default/team-a", "hasMember")
    assert [str(r) for r in members] == ["user:default/ana.silva"]
    assert await catalog.relations("component:default/nothing") == []


async def test_ownership_and_a_resolved_entity_in_one_read(store: Store) -> None:
    catalog = store.ports
    found = await catalog.ownership("component:default/checkout-web")
    assert str(found.owner_ref) == "group:default/team-a-1"
    assert found.owner is not None and found.owner.ref == found.owner_ref
    assert [str(r) for r in found.parents] == ["group:default/team-a", "group:default/org"]
    assert [m.name for m in found.members] == ["bruno"] and found.groups == ()
    assert await catalog.ownership("group:default/org") == Ownership()  # owned by nobody
    resolved, entity = await catalog.resolve_entity("paymnts-api", ("component",))
    assert resolved.how == "fuzzy" and entity is not None and entity.ref == resolved.ref
    assert entity.title == "Payments API"

    store.change(CATALOG + OWNERS)
    by_user = await catalog.ownership(EntityRef.parse("component:solo-tool"))
    assert by_user.owner is not None and by_user.owner.name == "ana.silva"
    assert [str(g) for g in by_user.groups] == ["group:default/team-a"]
    assert by_user.parents == () and by_user.members == ()
    assert await catalog.ownership("component:default/orphan") == Ownership(
        EntityRef.parse("group:default/ghost-team")
    )
    looping = await catalog.ownership("component:default/looping")
    assert [str(r) for r in looping.parents] == ["group:default/loop-b"]  # stops at the cycle
    team_a = await catalog.ownership("component:default/payments-api")
    assert [m.display_name for m in team_a.members] == ["Aaron Zed", "Ana Silva"]
    assert [str(r) for r in team_a.parents] == ["group:default/org"]

    group = await catalog.holdings("group:default/team-a")
    assert sorted(group.owned) == [
        "api:default/payments",
        "component:default/payments-api",
        "resource:default/payments-db",
        "system:default/payments",
    ]
    assert [m.name for m in group.members] == ["zed", "ana.silva"] and group.groups == ()
    user = await catalog.holdings(EntityRef.parse("user:ana.silva"))
    assert list(user.owned) == ["component:default/solo-tool"] and user.members == ()
    assert [str(g) for g in user.groups] == ["group:default/team-a"]
    ghost = await catalog.holdings("group:default/ghost-team")  # not in the catalog itself
    assert list(ghost.owned) == ["component:default/orphan"] and ghost.members == ()


async def test_graph_walks(store: Store) -> None:
    graph = store.ports
    many = await graph.relations_many(
        ["group:default/team-a", "GROUP:default/team-b", "group:default/none"], ("ownerOf",)
    )
    assert sorted(many) == ["group:default/team-a", "group:default/team-b"]
    assert many["group:default/team-b"] == [
        ("ownerOf", "api:default/ledger-api"),
        ("ownerOf", "component:default/ledger"),
    ]
    assert await graph.relations_many(["group:default/team-a"], ()) == {}
    down = await graph.dependency_tree("component:default/ledger", "down", 3)
    lines = [(line.depth, line.edge.target, line.edge.via, line.mark) for line in down.lines()]
    assert lines[0] == (1, "component:default/payments-api", (), None)
    assert (2, "component:default/ledger", ("api:default/ledger-api",), "cycle") in lines
    assert "resource:default/payments-db" in down.reached
    up = await graph.dependency_tree("component:default/payments-api", "up", 1)
    assert up.reached == {
        "component:default/checkout-web",
        "component:default/ledger",
    }
    assert await graph.descendants("group:default/org") == [
        ("group:default/team-a", "group:default/org"),
        ("group:default/team-b", "group:default/org"),
        ("group:default/team-a-1", "group:default/team-a"),
    ]
    # /deps's one read: both trees as walked alone, and the APIs between.
    both = await graph.dependencies("component:default/ledger", 3)
    assert [*both.down.lines()] == [*down.lines()]
    assert [*both.up.lines()] == [
        *(await graph.dependency_tree("component:default/ledger", "up", 3)).lines()
    ]
    assert both.provided == ("api:default/ledger-api",) and both.consumed == ()
    assert both.consumers == await graph.relations_many(both.provided, ("apiConsumedBy",))
    assert (await graph.dependencies("api:default/ledger-api", 1, apis=False)).provided == ()
    # /owns's one read: a group with --all, a user and their groups.
    team = await graph.owned("group:default/org", include_children=True)
    assert team.owners == (
        "group:default/org",
        "group:default/team-a",
        "group:default/team-b",
        "group:default/team-a-1",
    )
    assert team.children == tuple(await graph.descendants("group:default/org"))
    assert team.owned["group:default/team-b"] == many["group:default/team-b"]
    assert team.members == () and team.parents == () and team.has_children
    alone = await graph.owned("group:default/team-a-1", include_children=False)
    assert alone.parents == ("group:default/team-a",) and not alone.has_children
    ana = await graph.owned("user:default/ana.silva", include_children=True)
    assert ana.groups == ("group:default/team-a",)
    assert ana.owners == (
        "user:default/ana.silva",
        "group:default/team-a",
        "group:default/team-a-1",
    )
    assert "user:default/ana.silva" not in ana.owned  # owns nothing herself (CATALOG alone)
    assert ana.owned["group:default/team-a"] == team.owned["group:default/team-a"]


async def test_search_index_and_ranking(store: Store) -> None:
    search = store.ports
    result = await search.search(parse_query("payments"), limit=3)
    assert result.total == 4
    assert result.hits[0].doc.ref == "api:default/payments"  # the exact name, kind order
    assert [h.doc.ref for h in (await search.search(parse_query("refund"))).hits] == [
        "component:default/payments-api"
    ]
    owned = await search.search(parse_query("owner:team-b kind:component"))
    assert [h.doc.ref for h in owned.hits] == ["component:default/ledger"]
    index = await search.search_index()
    doc = index.doc("component:default/payments-api")
    assert doc is not None and (doc.owner, doc.lifecycle, doc.spec_type) == (
        "group:default/team-a",
        "production",
        "service",
    )


async def test_listing_kinds_and_count(store: Store) -> None:
    catalog = store.ports
    assert await catalog.count() == 13
    assert await catalog.kinds() == ["api", "component", "group", "resource", "system", "user"]
    listed = await catalog.listing("Component")
    assert [(e.ref, e.kind, e.owner_ref) for e in listed] == [
        ("component:default/checkout-web", "component", "group:default/team-a-1"),
        ("component:default/ledger", "component", "group:default/team-b"),
        ("component:default/payments-api", "component", "group:default/team-a"),
    ]
    assert [e.ref for e in await catalog.listing()] == sorted(
        e.ref for e in await catalog.listing()
    )
    assert await catalog.listing("template") == []


async def test_a_change_is_seen_by_every_read_and_index(store: Store) -> None:
    catalog = store.ports
    names, index = await catalog.names(), await catalog.search_index()
    changed = CATALOG.replace(
        "  owner: team-b\n  system: payments", "  owner: team-a\n  system: payments"
    )
    store.change(changed + BILLING)
    assert "component:default/billing" in (await catalog.names())
    assert await catalog.names() is not names and await catalog.search_index() is not index
    assert str((await catalog.resolve("billing")).ref) == "component:default/billing"
    assert (await catalog.search(parse_query("billing"))).total == 1
    assert [str(r) for r in await catalog.related("component:default/ledger", "ownedBy")] == [
        "group:default/team-a"
    ]
    up = await catalog.dependency_tree("component:default/ledger", "up", 1)
    assert "component:default/billing" in up.reached
    store.change(CATALOG)
    assert await catalog.get("component:default/billing") is None
    assert await catalog.count() == 13
    assert await catalog.relations_many(["component:default/billing"], ("dependsOn",)) == {}


def test_the_catalog_commands_read_only_through_the_ports(make_app: AppFactory) -> None:
    # An app whose database holds no entity, with the memory store behind the ports: every
    # answer below can only have come through them.
    app = make_app(sources=[])
    memory = MemoryCatalog(_entities(CATALOG))
    app.dispatcher.services = dataclasses.replace(
        app.services, catalog=memory, graph=memory, search=memory
    )
    deps = ask(app, "/deps ledger").to_text()
    assert "payments-api" in deps and "Dependency cycle" in deps
    owns = ask(app, "/owns team-a --all").to_text()
    assert "payments-api" in owns and "checkout-web" in owns
    assert "payments-api" in ask(app, "/search refund").to_text()
    assert "team-b" in ask(app, "/whoowns ledger").to_text()
