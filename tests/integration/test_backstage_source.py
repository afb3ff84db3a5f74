"""The backstage source, against the real Backstage catalog backend and a faulty one on loopback.

The parity test starts the upstream catalog backend with ``../shared/peers/backstage/
run-catalog.sh`` on a fixture catalog, syncs from its REST API with a page size that forces
several pages, and compares entity refs, owners and relations with what Backstage serves. It
skips, saying why, when the peer cannot start (the script exits 2: no node, npm or PostgreSQL).

Faults a real Backstage cannot be made to show on demand (a 500 on the third page, a server
that stops answering, a refused token, a redirect loop) come from ``FakeBackstage``: the same
endpoint, paging and entity shape, served on loopback.
"""

from __future__ import annotations

import base64
import json
import logging
import re
import threading
import urllib.request
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

import pytest
import yaml
from sqlalchemy import func, select

from bot.app import App
from bot.catalog.backstage_source import BackstageSource
from bot.catalog.model import canonical
from bot.errors import ConfigError
from bot.store.schema import changes, entities, relations, source_status
from tests.backstage_peer import backstage_peer as peer
from tests.conftest import AppFactory, ask

V1 = "backstage.io/v1alpha1"
QUERY = "/api/catalog/entities/by-query"
ALL_LOCATION = "file:/srv/catalog/all.yaml"


# --------------------------------------------------------------------------- served entities


def served(
    kind: str,
    name: str,
    spec: dict[str, Any],
    rels: list[tuple[str, str]],
    location: str = "file:/srv/catalog/org.yaml",
    namespace: str = "default",
) -> dict[str, Any]:
    """An entity as Backstage's by-query endpoint returns it (uid, etag, relations)."""
    return {
        "apiVersion": V1,
        "kind": kind,
        "metadata": {
            "namespace": namespace,
            "name": name,
            "uid": f"uid-{kind}-{name}".lower(),
            "etag": f"etag-{name}-1",
            "annotations": {
                "backstage.io/managed-by-location": location,
                "backstage.io/managed-by-origin-location": ALL_LOCATION,
            },
        },
        "spec": spec,
        "relations": [{"type": t, "targetRef": r} for t, r in sorted(rels)],
    }


def company() -> list[dict[str, Any]]:
    svc = "file:/srv/catalog/services.yaml"
    return [
        served("Group", "team-a", {"type": "team", "children": []},
               [("hasMember", "user:default/ana"), ("ownerOf", "component:default/payments"),
                ("ownerOf", "api:default/payments-api")]),
        served("Group", "team-b", {"type": "team", "children": []},
               [("ownerOf", "component:default/web")]),
        served("User", "ana", {"memberOf": ["team-a"], "profile": {"email": "ana@acme.test"}},
               [("memberOf", "group:default/team-a")]),
        served("Component", "payments",
               {"type": "service", "lifecycle": "production", "owner": "team-a",
                "providesApis": ["payments-api"]},
               [("ownedBy", "group:default/team-a"), ("providesApi", "api:default/payments-api")],
               svc),
        served("API", "payments-api",
               {"type": "openapi", "lifecycle": "production", "owner": "team-a",
                "definition": "openapi: 3.0.0"},
               [("ownedBy", "group:default/team-a"),
                ("apiProvidedBy", "component:default/payments"),
                ("apiConsumedBy", "component:default/web")], svc),
        served("Component", "web",
               {"type": "website", "lifecycle": "production", "owner": "team-b",
                "consumesApis": ["payments-api"]},
               [("ownedBy", "group:default/team-b"), ("consumesApi", "api:default/payments-api")],
               svc),
        # A relation Callboard would never derive from the spec: kept, because Backstage served it.
        served("Component", "lonely", {"type": "library", "lifecycle": "experimental",
                                       "owner": "guest"},
               [("ownedBy", "group:default/guest"), ("dependencyOf", "component:default/web")],
               svc),
        served("Location", "catalog", {"targets": ["./org.yaml", "./services.yaml"]}, [],
               ALL_LOCATION),
        served("Group", "sre", {"type": "team", "children": []}, [], "file:/srv/ops.yaml", "ops"),
        served("User", "dee", {"memberOf": ["sre"]}, [("memberOf", "group:ops/sre")],
               "file:/srv/ops.yaml", "ops"),
        served("Component", "deployer",
               {"type": "tool", "lifecycle": "production", "owner": "group:default/team-b"},
               [("ownedBy", "group:default/team-b")], "file:/srv/ops.yaml", "ops"),
        served("System", "checkout", {"owner": "team-a"}, [("ownedBy", "group:default/team-a")],
               svc),
    ]  # fmt: skip


class FakeBackstage:
    """Backstage's ``entities/by-query`` on loopback: cursor paging, a bearer token, faults."""

    def __init__(self, items: list[dict[str, Any]], token: str | None = None) -> None:
        self.items = items
        self.token = token
        self.requests: list[tuple[str, dict[str, list[str]], str | None]] = []
        self.fail_page: int | None = None  # answer HTTP 500 on this page
        self.hang_page: int | None = None  # answer nothing on this page until released
        self.redirect_to: str | None = None  # send every request there (307)
        self.release = threading.Event()
        outer = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, format: str, *args: Any) -> None:
                return None

            def do_GET(self) -> None:
                outer.handle(self)

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server.server_address[1]}"

    def _send(self, h: BaseHTTPRequestHandler, status: int, body: bytes, kind: str) -> None:
        h.send_response(status)
        h.send_header("Content-Type", kind)
        h.send_header("Content-Length", str(len(body)))
        h.end_headers()
        h.wfile.write(body)

    def handle(self, h: BaseHTTPRequestHandler) -> None:
        parts = urlsplit(h.path)
        query = parse_qs(parts.query)
        self.requests.append((parts.path, query, h.headers.get("Authorization")))
        if parts.path.startswith("/trickle"):  # headers, then one byte at a time, slowly
            h.send_response(200)
            h.send_header("Content-Type", "application/json")
            h.send_header("Content-Length", "100000")
            h.end_headers()
            for _ in range(600):
                try:
                    h.wfile.write(b" ")
                    h.wfile.flush()
                except OSError:
                    return
                if self.release.wait(0.5):
                    return
            return
        if parts.path.startswith("/redirfile"):
            h.send_response(302)
            h.send_header("Location", "file:///etc/passwd")
            h.send_header("Content-Length", "0")
            h.end_headers()
            return
        if parts.path.startswith("/loop"):
            nxt = "/loop-b" if parts.path.startswith("/loop-a") else "/loop-a"
            h.send_response(302)
            h.send_header("Location", f"{nxt}{QUERY}?{parts.query}")
            h.send_header("Content-Length", "0")
            h.end_headers()
            return
        if self.redirect_to:
            h.send_response(307)
            h.send_header("Location", f"{self.redirect_to}{parts.path}?{parts.query}")
            h.send_header("Content-Length", "0")
            h.end_headers()
            return
        if parts.path == "/":
            self._send(h, 200, b"<!doctype html><title>Backstage</title>", "text/html")
            return
        if self.token and h.headers.get("Authorization") != f"Bearer {self.token}":
            body = b'{"error":{"name":"AuthenticationError","message":"Illegal token"}}'
            self._send(h, 401, body, "application/json")
            return
        if parts.path != QUERY:
            self._send(h, 404, b'{"error":{"name":"NotFoundError"}}', "application/json")
            return
        limit = int(query.get("limit", ["20"])[0])
        cursor = query.get("cursor", [None])[0]
        offset = int(base64.b64decode(cursor).decode()) if cursor else 0
        page = offset // limit + 1
        if page == self.fail_page:
            self._send(h, 500, b'{"error":{"name":"Error","message":"boom"}}', "application/json")
            return
        if page == self.hang_page:
            self.release.wait(30)
            return
        chunk = self.items[offset : offset + limit]
        info: dict[str, Any] = {}
        if offset + limit < len(self.items):
            info["nextCursor"] = base64.b64encode(str(offset + limit).encode()).decode()
        body = json.dumps({"items": chunk, "totalItems": len(self.items), "pageInfo": info})
        self._send(h, 200, body.encode(), "application/json; charset=utf-8")

    def close(self) -> None:
        self.release.set()
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def fake() -> Iterator[FakeBackstage]:
    server = FakeBackstage(company())
    yield server
    server.close()


def source(url: str, **over: Any) -> dict[str, Any]:
    return {"type": "backstage", "name": "backstage", "url": url, "page_size": 5, **over}


def stored(app: App) -> dict[str, str | None]:
    with app.db.engine.connect() as conn:
        rows = conn.execute(select(entities.c.ref, entities.c.owner_ref))
        return {r.ref: r.owner_ref for r in rows}


def stored_relations(app: App) -> set[tuple[str, str, str]]:
    """The relation rows: each stored once, in its canonical direction."""
    with app.db.engine.connect() as conn:
        rows = conn.execute(
            select(relations.c.source_ref, relations.c.type, relations.c.target_ref)
        ).all()
    return {(r.source_ref, r.type, r.target_ref) for r in rows}


def served_relations(items: list[dict[str, Any]]) -> set[tuple[str, str, str]]:
    """The relations Backstage served, as the store keeps them (``ownerOf`` as ``ownedBy``)."""
    out = set()
    for item in items:
        if item["kind"] == "Location":
            continue
        meta = item["metadata"]
        ref = f"{item['kind']}:{meta.get('namespace', 'default')}/{meta['name']}".lower()
        out |= {canonical(ref, r["type"], r["targetRef"]) for r in item.get("relations", [])}
    return out


def status_error(app: App) -> str | None:
    with app.db.engine.connect() as conn:
        return conn.execute(
            select(source_status.c.last_error).where(source_status.c.name == "backstage")
        ).scalar_one()


# --------------------------------------------------------------------------- against the fake


def test_every_page_is_read_with_an_explicit_limit_and_relations_are_kept_as_served(
    make_app: AppFactory, fake: FakeBackstage, db_url: str
) -> None:
    app = make_app(sources=[source(fake.url)], db_url=db_url)
    pages = [q for path, q, _ in fake.requests if path == QUERY]
    assert len(pages) == 3
    assert all(q["limit"] == ["5"] for q in pages)
    assert "cursor" not in pages[0] and all("cursor" in q for q in pages[1:])
    assert stored(app) == {
        "group:default/team-a": None,
        "group:default/team-b": None,
        "user:default/ana": None,
        "component:default/payments": "group:default/team-a",
        "api:default/payments-api": "group:default/team-a",
        "component:default/web": "group:default/team-b",
        "component:default/lonely": "group:default/guest",
        "group:ops/sre": None,
        "user:ops/dee": None,
        "component:ops/deployer": "group:default/team-b",
        "system:default/checkout": "group:default/team-a",
    }  # Locations are how entities arrive, not entities to ask about
    assert stored_relations(app) == served_relations(fake.items)
    payments = app.services.reader.get("component:default/payments")
    assert payments is not None and payments.source_file == "file:/srv/catalog/services.yaml"
    assert "etag" not in payments.raw["metadata"]
    text = ask(app, "/whoowns payments").to_text()
    assert "owned by team-a" in text and "ana" in text  # hasMember as Backstage served it


def test_an_unchanged_backstage_writes_nothing_and_relation_changes_are_not_entity_changes(
    make_app: AppFactory, fake: FakeBackstage
) -> None:
    app = make_app(sources=[source(fake.url)])
    (again,) = app.services.sync.run().sources
    assert again.ok and again.files_parsed == 0 and not again.changed

    # A new component owned by team-b: Backstage re-stitches team-b (a new ownerOf) too.
    fake.items.append(
        served("Component", "checkout-api",
               {"type": "service", "lifecycle": "production", "owner": "team-b"},
               [("ownedBy", "group:default/team-b")], "file:/srv/catalog/checkout.yaml")
    )  # fmt: skip
    team_b = fake.items[1]
    team_b["relations"].append({"type": "ownerOf", "targetRef": "component:default/checkout-api"})
    team_b["metadata"]["etag"] = "etag-team-b-2"
    with app.db.engine.connect() as conn:
        last = conn.execute(select(func.max(changes.c.id))).scalar_one()
    (report,) = app.services.sync.run().sources
    assert report.added == ["component:default/checkout-api"]
    assert report.modified == [] and report.owner_changed == []
    assert report.relinked == ["group:default/team-b"]
    with app.db.engine.connect() as conn:
        recorded = conn.execute(
            select(changes.c.ref, changes.c.change).where(changes.c.id > last)
        ).all()
    assert [tuple(r) for r in recorded] == [("component:default/checkout-api", "added")]
    # ownerOf is derived from each ownedBy (deployer states its owner; this fake's team-b does
    # not list it back, a real Backstage's would).
    owned = {str(r) for r in app.services.reader.related("group:default/team-b", "ownerOf")}
    assert owned == {
        "component:default/web",
        "component:default/checkout-api",
        "component:ops/deployer",
    }


def test_a_500_on_the_third_page_keeps_the_last_good_entities_until_the_next_good_sync(
    make_app: AppFactory, fake: FakeBackstage
) -> None:
    app = make_app(sources=[source(fake.url)])
    before = stored(app)
    fake.items.append(
        served("Component", "new-one", {"type": "service", "lifecycle": "production",
                                        "owner": "team-a"},
               [("ownedBy", "group:default/team-a")])
    )  # fmt: skip
    del fake.items[0]  # team-a leaves: a partial read must not remove it
    fake.fail_page = 3
    (report,) = app.services.sync.run().sources
    assert not report.ok
    assert report.error == (
        f"source backstage: page 3 of {fake.url}{QUERY} failed: HTTP 500 Internal Server Error"
    )
    assert stored(app) == before
    assert status_error(app) == report.error
    assert "page 3" in ask(app, "/callboard status").to_text()

    fake.fail_page = None
    (report,) = app.services.sync.run().sources
    assert report.ok and status_error(app) is None
    assert report.added == ["component:default/new-one"]
    assert report.removed == ["group:default/team-a"]


def test_a_backstage_that_stops_answering_fails_the_sync_and_loses_nothing(
    make_app: AppFactory, fake: FakeBackstage
) -> None:
    app = make_app(sources=[source(fake.url, timeout_seconds=1)])
    before = stored(app)
    fake.hang_page = 2
    (report,) = app.services.sync.run().sources
    assert report.error == (
        f"source backstage: page 2 of {fake.url}{QUERY} failed: did not answer within 1s"
    )
    assert stored(app) == before
    fake.hang_page = None
    fake.release.set()
    (report,) = app.services.sync.run().sources
    assert report.ok

    # Gone altogether: nothing listens on the port any more.
    url = fake.url
    fake.close()
    (report,) = app.services.sync.run().sources
    assert (report.error or "").startswith(
        f"source backstage: page 1 of {url}{QUERY} failed: cannot connect to {url} ("
    )
    assert stored(app) == before


def test_a_refused_token_is_a_clear_error_and_the_token_is_never_shown(
    make_app: AppFactory, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    right, wrong = "bst_right-5f1d2c3b4a", "bst_wrong-0a9b8c7d6e"
    server = FakeBackstage(company(), token=right)
    try:
        monkeypatch.setenv("BACKSTAGE_TOKEN", right)
        app = make_app(sources=[source(server.url, token_env="BACKSTAGE_TOKEN")])
        assert "component:default/payments" in stored(app)
        assert {auth for _, _, auth in server.requests} == {f"Bearer {right}"}
        before = stored(app)

        monkeypatch.setenv("BACKSTAGE_TOKEN", wrong)
        (report,) = app.services.sync.run().sources
        assert report.error == (
            f"source backstage: page 1 of {server.url}{QUERY} failed: Backstage refused the "
            "token from $BACKSTAGE_TOKEN (HTTP 401)"
        )
        assert stored(app) == before
        monkeypatch.setenv("BACKSTAGE_TOKEN", right)
        (report,) = app.services.sync.run().sources
        assert report.ok

        shown = " ".join(
            [ask(app, "/callboard status").to_text(), ask(app, "/callboard sync").to_text(),
             caplog.text]
        )  # fmt: skip
        assert right not in shown and wrong not in shown
    finally:
        server.close()


def test_no_token_where_one_is_needed_says_how_to_give_one(make_app: AppFactory) -> None:
    server = FakeBackstage(company(), token="bst_needed-1234567")
    try:
        app = make_app(sources=[source(server.url)])
        assert status_error(app) == (
            f"source backstage: page 1 of {server.url}{QUERY} failed: Backstage wants a token "
            "(HTTP 401); set token_env to a variable holding an external-access token"
        )
    finally:
        server.close()


def test_a_redirect_loop_is_detected(make_app: AppFactory, fake: FakeBackstage) -> None:
    app = make_app(sources=[source(f"{fake.url}/loop-a")])
    error = status_error(app) or ""
    assert error.startswith(f"source backstage: page 1 of {fake.url}/loop-a{QUERY} failed: ")
    assert "redirect loop" in error
    assert stored(app) == {}


def test_the_token_follows_a_redirect_only_to_the_same_origin(
    make_app: AppFactory, monkeypatch: pytest.MonkeyPatch
) -> None:
    target = FakeBackstage(company())
    front = FakeBackstage([], token=None)
    front.redirect_to = target.url  # another port: another origin
    try:
        monkeypatch.setenv("BACKSTAGE_TOKEN", "bst_secret-abcdef12")
        app = make_app(sources=[source(front.url, token_env="BACKSTAGE_TOKEN")])
        assert "component:default/payments" in stored(app)
        assert {auth for _, _, auth in front.requests} == {"Bearer bst_secret-abcdef12"}
        assert {auth for _, _, auth in target.requests} == {None}
    finally:
        front.close()
        target.close()


def test_an_answer_that_is_not_the_catalog_api_is_named(
    make_app: AppFactory, fake: FakeBackstage
) -> None:
    app = make_app(sources=[source(fake.url + "/nowhere")])
    assert status_error(app) == (
        f"source backstage: page 1 of {fake.url}/nowhere{QUERY} failed: HTTP 404 for {QUERY}: "
        f"is {fake.url}/nowhere the Backstage backend's base URL (Backstage 1.12 or later)?"
    )


def test_every_page_request_is_counted_in_the_metrics_with_its_error(
    make_app: AppFactory, fake: FakeBackstage
) -> None:
    from tests.e2e.test_ops import sample

    app = make_app(sources=[source(fake.url)])  # synced once: three pages

    def count(name: str, **labels: str) -> float | None:
        assert app.services.metrics is not None
        text = app.services.metrics.exposition().decode()
        return sample(text, name, api="backstage", endpoint="entities", **labels)

    duration = "callboard_api_call_duration_seconds_count"
    assert count(duration, outcome="ok") == 3
    fake.fail_page = 3
    app.services.sync.run()
    assert count(duration, outcome="ok") == 5
    assert count(duration, outcome="error") == 1
    assert count("callboard_api_call_errors_total", error="http_500") == 1
    fake.fail_page = None
    fake.redirect_to = fake.url + "/loop-a"
    app.services.sync.run()
    assert count("callboard_api_call_errors_total", error="redirect") == 1
    fake.redirect_to = None
    fake.items = [{"kind": "Component"}]  # an entity without metadata: still a catalog answer
    app.services.sync.run()
    assert count(duration, outcome="ok") == 6


def test_bad_backstage_settings_are_config_errors(make_app: AppFactory) -> None:
    with pytest.raises(ConfigError, match=r"url contains credentials") as refused:
        make_app(sources=[source("https://admin:pa55-word-x@backstage.acme.test")])
    assert "pa55-word-x" not in str(refused.value)
    with pytest.raises(ConfigError, match=r"must be an http\(s\) URL"):
        make_app(sources=[source("file:///etc/passwd")])
    with pytest.raises(ConfigError, match=r"token must come from the environment"):
        make_app(sources=[source("https://backstage.acme.test", token="literal-token-value")])
    with pytest.raises(ConfigError, match=r"page_size must be at least 1"):
        make_app(sources=[source("https://backstage.acme.test", page_size=0)])


# --------------------------------------------------------------------------- the real peer


def _catalog(root: Path) -> int:
    """Write the fixture catalog; the number of entities Backstage will serve (Locations too)."""

    def doc(kind: str, name: str, spec: dict[str, Any], ns: str | None = None) -> dict[str, Any]:
        meta: dict[str, Any] = {"name": name}
        if ns:
            meta["namespace"] = ns
        return {"apiVersion": V1, "kind": kind, "metadata": meta, "spec": spec}

    files = {
        "all.yaml": [doc("Location", "fixture", {"targets": [
            "./org.yaml", "./systems.yaml", "./components.yaml", "./ops.yaml"]})],
        "org.yaml": [
            doc("Group", "acme", {"type": "organization", "children": ["team-a", "team-b"]}),
            doc("Group", "team-a", {"type": "team", "parent": "acme", "children": [],
                                    "members": ["ana"]}),
            doc("Group", "team-b", {"type": "team", "parent": "acme", "children": []}),
            doc("User", "ana", {"memberOf": ["team-a"]}),
            doc("User", "bo", {"memberOf": ["team-a"]}),
            doc("User", "cy", {"memberOf": ["team-b"], "profile": {"email": "cy@acme.test"}}),
        ],
        "systems.yaml": [
            doc("Domain", "payments", {"owner": "team-a"}),
            doc("System", "checkout", {"owner": "team-a", "domain": "payments"}),
            doc("Resource", "payments-db", {"type": "database", "owner": "team-a",
                                            "system": "checkout"}),
            doc("API", "payments-api", {"type": "openapi", "lifecycle": "production",
                                        "owner": "team-a", "system": "checkout",
                                        "definition": "openapi: 3.0.0\ninfo: {title: p}\n"}),
        ],
        "components.yaml": [
            doc("Component", "payments-service", {
                "type": "service", "lifecycle": "production", "owner": "team-a",
                "system": "checkout", "providesApis": ["payments-api"],
                "dependsOn": ["resource:payments-db"]}),
            doc("Component", "checkout-web", {
                "type": "website", "lifecycle": "production", "owner": "team-b",
                "consumesApis": ["payments-api"], "dependsOn": ["component:payments-service"]}),
            doc("Component", "checkout-web-assets", {
                "type": "library", "lifecycle": "production", "owner": "team-b",
                "subcomponentOf": "checkout-web"}),
            doc("Component", "legacy-batch", {
                "type": "service", "lifecycle": "deprecated", "owner": "guest"}),
            doc("Component", "bos-tool", {
                "type": "tool", "lifecycle": "experimental", "owner": "user:bo"}),
        ],
        "ops.yaml": [
            doc("Group", "sre", {"type": "team", "children": []}, "ops"),
            doc("User", "dee", {"memberOf": ["sre"]}, "ops"),
            doc("Component", "deployer", {"type": "tool", "lifecycle": "production",
                                          "owner": "group:default/team-b"}, "ops"),
        ],
    }  # fmt: skip
    for name, docs in files.items():
        (root / name).write_text("---\n".join(yaml.safe_dump(d, sort_keys=False) for d in docs))
    return sum(len(d) for d in files.values()) + 1  # + the Location Backstage generates


def _everything(url: str) -> list[dict[str, Any]]:
    with urllib.request.urlopen(f"{url}{QUERY}?limit=1000", timeout=30) as response:
        data: dict[str, Any] = json.load(response)
    return [e for e in data["items"] if e["kind"] != "Location"]


@pytest.fixture(scope="module")
def backstage_peer(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """The URL of a real Backstage catalog backend serving the fixture catalog."""
    root = tmp_path_factory.mktemp("backstage-fixture")
    expected = _catalog(root)
    with peer(root / "all.yaml", expected, (7021, 7099)) as url:
        # Serving every entity is not the end of stitching: wait until relations settle.
        previous: list[dict[str, Any]] | None = None
        for _ in range(60):
            current = sorted(_everything(url), key=lambda e: e["metadata"]["uid"])
            if current == previous:
                break
            previous = current
            threading.Event().wait(3)
        yield url


def test_the_real_backstage_gives_the_same_refs_owners_and_relations(
    make_app: AppFactory, backstage_peer: str, db_url: str
) -> None:
    truth = _everything(backstage_peer)
    app = make_app(sources=[source(backstage_peer, page_size=7)], db_url=db_url)
    (report,) = app.services.sync.run().sources
    assert report.ok, report.error
    assert [p for p in report.problems if p.level == "error"] == []

    (peer,) = app.services.sync.sources
    assert isinstance(peer, BackstageSource)
    assert peer.fetch().pages >= 3  # 21 entities at 7 a page

    def ref(e: dict[str, Any]) -> str:
        meta = e["metadata"]
        return f"{e['kind']}:{meta.get('namespace', 'default')}/{meta['name']}".lower()

    owners = {
        ref(e): next((r["targetRef"] for r in e["relations"] if r["type"] == "ownedBy"), None)
        for e in truth
    }
    assert stored(app) == owners
    assert stored_relations(app) == served_relations(truth)
    # A few facts the fixture was written for, as Backstage computed them.
    assert owners["component:default/legacy-batch"] == "group:default/guest"  # dangling
    assert owners["component:default/bos-tool"] == "user:default/bo"
    assert owners["component:ops/deployer"] == "group:default/team-b"
    members = app.services.reader.related("group:default/team-a", "hasMember")
    assert "user:default/bo" in {str(r) for r in members}
    assert "checkout-web is owned by team-b" in ask(app, "/whoowns checkout-web").to_text()


# --------------------------------------------------------------------------- hardening


def _in_thread(work: Any, limit: float = 60.0) -> Any:
    """Run ``work`` in a thread; fail (instead of hanging the suite) if it has not ended."""
    result: list[Any] = []
    thread = threading.Thread(target=lambda: result.append(work()), daemon=True)
    thread.start()
    thread.join(limit)
    assert not thread.is_alive(), f"still running after {limit}s"
    return result[0]


def test_a_server_trickling_its_answer_hits_the_timeout(
    make_app: AppFactory, fake: FakeBackstage
) -> None:
    app = make_app(sources=[source(f"{fake.url}/trickle", timeout_seconds=2)], sync=False)
    report = _in_thread(app.services.sync.run)
    [failed] = report.sources
    assert not failed.ok
    assert failed.error == (
        f"source backstage: page 1 of {fake.url}/trickle{QUERY} failed: "
        "took longer than 2s to send one page"
    )


def test_a_redirect_to_a_file_url_is_named_not_called_a_loop(
    make_app: AppFactory, fake: FakeBackstage
) -> None:
    app = make_app(sources=[source(f"{fake.url}/redirfile")])
    error = status_error(app) or ""
    assert "redirect loop" not in error
    assert error.endswith("redirected to a non-HTTP URL (file:///etc/passwd); not followed")


def test_one_sync_holds_at_most_max_total_mb_and_max_entities(make_app: AppFactory) -> None:
    items = company()
    for item in items:
        item["metadata"]["description"] = "d" * 100_000
    server = FakeBackstage(items)
    try:
        app = make_app(sources=[source(server.url, max_total_mb=1)])
        assert stored(app) == {}
        assert re.search(
            r"sent more than 1 MB in \d pages \(max_total_mb\); nothing written, the last good "
            r"entities are kept$",
            status_error(app) or "",
        )
        app = make_app(sources=[source(server.url, max_entities=7)])
        assert (status_error(app) or "").endswith(
            "served more than 7 entities in 2 pages (max_entities); nothing written, the "
            "last good entities are kept"
        )
    finally:
        server.close()
    with pytest.raises(ConfigError, match=r"max_total_mb must be a whole number"):
        make_app(sources=[source("https://backstage.acme.test", max_total_mb="lots")])
    with pytest.raises(ConfigError, match=r"max_entities must be at least 1"):
        make_app(sources=[source("https://backstage.acme.test", max_entities=0)])


def test_odd_titles_and_nul_characters_from_backstage_spare_the_rest(
    make_app: AppFactory, db_url: str
) -> None:
    items = company()
    server = FakeBackstage(items)
    try:
        app = make_app(sources=[source(server.url)], db_url=db_url)
        before = stored(app)
        payments = next(i for i in items if i["metadata"]["name"] == "payments")
        old_owner = before["component:default/payments"]
        payments["spec"]["owner"] = "team-search"
        payments["relations"] = [{"type": "ownedBy", "targetRef": "group:default/team-search"}]
        odd = [i for i in items if i["kind"] == "Component" and i is not payments][:3]
        odd[0]["metadata"]["title"] = {"$text": "https://raw.example/title.txt"}
        odd[1]["metadata"]["description"] = ["not", "text"]
        odd[2]["metadata"]["description"] = "nul\0inside"
        odd[2]["metadata"]["title"] = "Title\0"
        report = app.services.sync.run()
        [synced] = report.sources
        assert synced.ok, synced.error
        assert ("component:default/payments", old_owner, "group:default/team-search") in (
            synced.owner_changed
        )
        with app.db.engine.connect() as conn:
            rows = {
                r.ref: (r.title, r.description)
                for r in conn.execute(
                    select(entities.c.ref, entities.c.title, entities.c.description)
                )
            }
        refs = [f"component:{i['metadata']['namespace']}/{i['metadata']['name']}" for i in odd]
        assert rows[refs[0]][0] is None
        assert rows[refs[1]][1] is None
        assert rows[refs[2]] == ("Title", "nulinside")
        messages = {(p.entity, p.message) for p in synced.problems}
        assert (refs[1], '"metadata.description" must be a string, found list') in messages
        assert any(e == refs[2] and m.startswith("NUL characters removed") for e, m in messages)
    finally:
        server.close()
