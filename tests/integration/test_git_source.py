"""The git source, on real repositories in temp folders, fetched over file:// and smart HTTP.

The layout is a platform team's: a central catalog repository whose Location names the org
file by path and two service repositories by URL, the way Backstage writes them
(``https://git.acme.test/acme/<repo>/blob/main/catalog-info.yaml``). The ``git.acme.test``
integration clones those from ``file://`` remotes under ``tmp_path``. Token tests serve a
repository with real git's ``git http-backend`` behind Basic auth on loopback.
"""

from __future__ import annotations

import base64
import logging
import os
import subprocess
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest
import yaml
from sqlalchemy import func, select

from bot.app import App
from bot.catalog.git_source import GitSource, source_folder
from bot.catalog.locations import (
    RUNTIME_SOURCE,
    list_locations,
    register_and_sync,
    register_location,
    unregister_location,
)
from bot.errors import BadArguments, ConfigError
from bot.store.schema import changes, entities, source_status
from tests.conftest import AppFactory, aask, ask

V1 = "backstage.io/v1alpha1"
HOST = "git.acme.test"
GIT_IDENTITY = {
    "GIT_AUTHOR_NAME": "Test Author",
    "GIT_AUTHOR_EMAIL": "author@acme.test",
    "GIT_COMMITTER_NAME": "Test Author",
    "GIT_COMMITTER_EMAIL": "author@acme.test",
}


class Remote:
    """A git repository tests commit to (the "remote" Callboard fetches from)."""

    def __init__(self, path: Path) -> None:
        self.path = path
        path.mkdir(parents=True, exist_ok=True)
        self.git("init", "--quiet", "--initial-branch=main")

    def git(self, *args: str) -> str:
        env = {**os.environ, **GIT_IDENTITY}
        done = subprocess.run(
            ["git", *args], cwd=self.path, env=env, capture_output=True, text=True, check=True
        )
        return done.stdout.strip()

    def write(self, rel: str, *docs: dict[str, Any]) -> None:
        target = self.path / rel
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_text("---\n".join(yaml.safe_dump(d, sort_keys=False) for d in docs))

    def commit(self, message: str = "change") -> str:
        self.git("add", "--all")
        self.git("commit", "--quiet", "--allow-empty", "-m", message)
        return self.git("rev-parse", "HEAD")

    @property
    def url(self) -> str:
        return self.path.as_uri()


def component(name: str, owner: str, **spec: Any) -> dict[str, Any]:
    return {
        "apiVersion": V1,
        "kind": "Component",
        "metadata": {"name": name},
        "spec": {"type": "service", "lifecycle": "production", "owner": owner, **spec},
    }


def group(name: str, *members: str) -> dict[str, Any]:
    return {
        "apiVersion": V1,
        "kind": "Group",
        "metadata": {"name": name},
        "spec": {"type": "team", "children": [], "members": list(members)},
    }


def user(name: str) -> dict[str, Any]:
    return {
        "apiVersion": V1,
        "kind": "User",
        "metadata": {"name": name},
        "spec": {"memberOf": [], "profile": {"email": f"{name}@acme.test"}},
    }


def location(*targets: str, name: str = "catalog", **spec: Any) -> dict[str, Any]:
    return {
        "apiVersion": V1,
        "kind": "Location",
        "metadata": {"name": name},
        "spec": {"targets": list(targets), **spec},
    }


def blob(repo: str, path: str = "catalog-info.yaml", ref: str = "main") -> str:
    return f"https://{HOST}/acme/{repo}/blob/{ref}/{path}"


class Company:
    """The central catalog repository and two service repositories, as git remotes."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self.catalog = Remote(root / "remotes" / "acme" / "catalog")
        self.payments = Remote(root / "remotes" / "acme" / "payments")
        self.search = Remote(root / "remotes" / "acme" / "search")
        self.catalog.write("all.yaml", location("./org.yaml", blob("payments"), blob("search")))
        self.catalog.write(
            "org.yaml",
            group("team-payments", "ana"),
            group("team-search", "bo"),
            user("ana"),
            user("bo"),
        )
        self.catalog.commit("catalog")
        self.payments.write(
            "catalog-info.yaml",
            component("payments-api", "team-payments"),
            component("payments-ledger", "team-payments"),
            component("payments-legacy", "team-payments", lifecycle="deprecated"),
        )
        self.payments.commit("payments")
        self.search.write("catalog-info.yaml", component("search-api", "team-search"))
        self.search.commit("search")

    def source(self, **over: Any) -> dict[str, Any]:
        return {
            "type": "git",
            "name": "central",
            "url": self.catalog.url,
            "ref": "main",
            "path": "all.yaml",
            **over,
        }

    def git_section(self) -> dict[str, Any]:
        return {"integrations": [{"host": HOST, "clone_base": (self.root / "remotes").as_uri()}]}


@pytest.fixture
def company(tmp_path: Path) -> Company:
    return Company(tmp_path)


def stored(app: App) -> dict[str, str | None]:
    with app.db.engine.connect() as conn:
        return {
            r.ref: r.owner_ref for r in conn.execute(select(entities.c.ref, entities.c.owner_ref))
        }


def status_row(app: App, name: str = "central") -> Any:
    with app.db.engine.connect() as conn:
        return conn.execute(select(source_status).where(source_status.c.name == name)).one()


def test_central_repository_follows_service_repositories_and_records_exactly_what_changed(
    make_app: AppFactory, company: Company, db_url: str
) -> None:
    app = make_app(sources=[company.source()], db_url=db_url, git=company.git_section(), sync=False)
    first = app.services.sync.run()
    assert first.problems == []
    assert stored(app) == {
        "group:default/team-payments": None,
        "group:default/team-search": None,
        "user:default/ana": None,
        "user:default/bo": None,
        "component:default/payments-api": "group:default/team-payments",
        "component:default/payments-ledger": "group:default/team-payments",
        "component:default/payments-legacy": "group:default/team-payments",
        "component:default/search-api": "group:default/team-search",
    }
    reply = ask(app, "/whoowns payments-ledger")
    assert "owned by team-payments" in reply.to_text()

    # A new component, a changed owner and a removed component, in two service repositories.
    company.search.write(
        "catalog-info.yaml",
        component("search-api", "team-search"),
        component("search-indexer", "team-search"),
    )
    company.search.commit("add the indexer")
    company.payments.write(
        "catalog-info.yaml",
        component("payments-api", "team-payments"),
        component("payments-ledger", "team-search"),
    )
    company.payments.commit("ledger moves to search; legacy is gone")
    with app.db.engine.connect() as conn:
        last_change = conn.execute(select(func.max(changes.c.id))).scalar_one()

    second = app.services.sync.run()
    (source,) = second.sources
    assert source.ok, source.error
    assert source.added == ["component:default/search-indexer"]
    assert source.owner_changed == [
        (
            "component:default/payments-ledger",
            "group:default/team-payments",
            "group:default/team-search",
        )
    ]
    assert source.removed == ["component:default/payments-legacy"]
    assert source.modified == []
    with app.db.engine.connect() as conn:
        recorded = conn.execute(
            select(changes.c.ref, changes.c.change, changes.c.old_owner, changes.c.new_owner)
            .where(changes.c.id > last_change)
            .order_by(changes.c.ref)
        ).all()
    assert [tuple(r) for r in recorded] == [
        ("component:default/payments-ledger", "owner_changed", "group:default/team-payments",
         "group:default/team-search"),
        ("component:default/payments-legacy", "removed", "group:default/team-payments", None),
        ("component:default/search-indexer", "added", None, "group:default/team-search"),
    ]  # fmt: skip
    assert app.services.reader.get("component:default/payments-legacy") is None
    assert "payments-legacy" not in ask(app, "/whoowns team-payments").to_text()
    assert "owned by team-search" in ask(app, "/whoowns payments-ledger").to_text()


def test_an_unchanged_catalog_is_fetched_but_not_parsed_again(
    make_app: AppFactory, company: Company
) -> None:
    app = make_app(sources=[company.source()], git=company.git_section())
    again = app.services.sync.run()
    (source,) = again.sources
    assert source.ok and source.files_read == 4 and source.files_parsed == 0
    assert not source.changed


def test_ref_may_be_a_tag_or_a_full_commit_id(make_app: AppFactory, company: Company) -> None:
    old = company.catalog.git("rev-parse", "HEAD")
    company.catalog.git("tag", "v1")
    company.catalog.write("org.yaml", group("team-payments"), group("team-search"), group("sre"))
    company.catalog.commit("sre")
    by_tag = make_app(sources=[company.source(ref="v1")], git=company.git_section())
    assert "group:default/sre" not in stored(by_tag)
    assert "group:default/team-search" in stored(by_tag)
    by_commit = make_app(
        sources=[company.source(ref=old, name="pinned")], git=company.git_section(),
        db_url=f"sqlite:///{company.root / 'pinned.db'}",
    )  # fmt: skip
    assert "group:default/sre" not in stored(by_commit)
    latest = make_app(
        sources=[company.source(name="latest", ref=None)], git=company.git_section(),
        db_url=f"sqlite:///{company.root / 'latest.db'}",
    )  # fmt: skip
    assert "group:default/sre" in stored(latest)  # no ref: the default branch
    assert "commit " in status_row(latest, "latest").location


def test_a_ref_that_does_not_exist_is_a_clear_error_and_nothing_is_lost(
    make_app: AppFactory, company: Company, tmp_path: Path
) -> None:
    db = f"sqlite:///{tmp_path / 'shared.db'}"
    good = make_app(sources=[company.source()], git=company.git_section(), db_url=db)
    before = stored(good)
    bad = make_app(sources=[company.source(ref="release-9")], git=company.git_section(), db_url=db)
    (source,) = bad.services.sync.run().sources
    assert not source.ok
    assert source.error == (
        f"source central: ref 'release-9' does not exist in {company.catalog.url}"
    )
    assert stored(bad) == before
    status = status_row(bad)
    assert status.last_error == source.error and status.last_success is not None
    text = ask(bad, "/callboard status").to_text()
    assert "failing" in text and "ref 'release-9' does not exist" in text


def test_a_remote_that_disappears_keeps_its_entities_until_it_is_back(
    make_app: AppFactory, company: Company
) -> None:
    app = make_app(sources=[company.source()], git=company.git_section())
    before = stored(app)

    # A followed service repository goes away: the rest syncs, its entities stay.
    moved = company.search.path.with_name("search-moved")
    company.search.path.rename(moved)
    company.payments.write("catalog-info.yaml", component("payments-api", "team-payments"))
    company.payments.commit("only the api")
    (source,) = app.services.sync.run().sources
    assert source.ok
    assert sorted(source.removed) == [
        "component:default/payments-ledger",
        "component:default/payments-legacy",
    ]
    assert "component:default/search-api" in stored(app)
    (problem,) = [p for p in source.problems if p.level == "error"]
    assert problem.file == f"{HOST}/acme/search@main/catalog-info.yaml"
    assert "cannot reach the repository" in problem.message and "entities kept" in problem.message

    # The central repository goes away: the source fails, every entity stays.
    central_moved = company.catalog.path.with_name("catalog-moved")
    company.catalog.path.rename(central_moved)
    kept = stored(app)
    (source,) = app.services.sync.run().sources
    assert not source.ok and "cannot reach the repository" in (source.error or "")
    assert stored(app) == kept
    status_text = ask(app, "/callboard status central").to_text()
    assert "failing" in status_text and "cannot reach the repository" in status_text

    # Both come back: the next sync recovers and the errors are gone.
    central_moved.rename(company.catalog.path)
    moved.rename(company.search.path)
    (source,) = app.services.sync.run().sources
    assert source.ok and source.problems == []
    assert status_row(app).last_error is None
    assert "component:default/search-api" in stored(app)
    assert set(stored(app)) < set(before)
    assert "central is ok" in ask(app, "/callboard status central").to_text()


def test_paths_outside_the_checkout_are_refused(
    make_app: AppFactory, company: Company, tmp_path: Path
) -> None:
    with pytest.raises(ConfigError, match=r"catalog.sources\[0\].path points outside"):
        make_app(sources=[company.source(path="../../etc/passwd")], git=company.git_section())
    with pytest.raises(ConfigError, match=r"points into the repository's .git folder"):
        make_app(sources=[company.source(path=".git/config")], git=company.git_section())

    secret = tmp_path / "outside.yaml"
    secret.write_text(yaml.safe_dump(component("stolen", "team-payments")))
    os.symlink(secret, company.catalog.path / "linked.yaml")
    company.catalog.write(
        "all.yaml",
        location(
            "./org.yaml",
            "../../../../../../etc/passwd",
            "./linked.yaml",
            "./.git/config",
            blob("payments", "../../etc/passwd"),
            blob("search"),
        ),
    )
    company.catalog.commit("hostile targets")
    # A service repository whose catalog file is a link out of its checkout.
    (company.search.path / "catalog-info.yaml").unlink()
    os.symlink(secret, company.search.path / "catalog-info.yaml")
    company.search.commit("a link")
    app = make_app(sources=[company.source()], git=company.git_section())
    (source,) = app.services.sync.run(force=True).sources
    assert source.ok
    assert "component:default/stolen" not in stored(app)
    assert "group:default/team-payments" in stored(app)  # the good file is read
    errors = {(p.file, p.message) for p in source.problems if p.level == "error"}
    root = str(tmp_path / "var" / "git")
    central = next(f for f, _ in errors if f and f.endswith("@main/all.yaml"))
    assert errors == {
        (central, f'target "../../../../../../etc/passwd" resolves outside the source root '
                  f'{root}/{source_folder("central")}; not read'),
        (central, f'target "./linked.yaml" resolves outside the source root '
                  f'{root}/{source_folder("central")}; not read'),
        (central.replace("all.yaml", ".git/config"),
         f"is inside a .git folder; not read (a target of {central})"),
        (central, f'target "{blob("payments", "../../etc/passwd")}" points outside the '
                  "repository checkout: '../../etc/passwd'"),
        (f"{HOST}/acme/search@main/catalog-info.yaml",
         f"is a link to outside its repository checkout; not read (a target of {central})"),
    }  # fmt: skip


def test_credentials_in_urls_are_refused_and_never_shown(
    make_app: AppFactory, company: Company, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    with pytest.raises(ConfigError) as refused:
        make_app(
            sources=[company.source(url="https://deploy:hunter2-secret@github.com/acme/cat.git")]
        )
    assert "hunter2-secret" not in str(refused.value)
    assert "https://***@github.com/acme/cat.git" in str(refused.value)
    assert "token_env" in str(refused.value)

    company.catalog.write(
        "all.yaml",
        location("./org.yaml", f"https://bot:tok-7f3a9c21@{HOST}/acme/search/blob/main/x.yaml"),
    )
    company.catalog.commit("a token pasted into a target")
    app = make_app(sources=[company.source()], git=company.git_section())
    (source,) = app.services.sync.run().sources
    assert source.ok
    (problem,) = [p for p in source.problems if p.level == "error"]
    assert "carries credentials" in problem.message and "***@" in problem.message
    shown = " ".join(
        [
            ask(app, "/callboard status central").to_text(),
            ask(app, "/callboard sync").to_text(),
            caplog.text,
        ]
    )
    assert "tok-7f3a9c21" not in shown and "hunter2-secret" not in shown


def test_a_host_that_is_not_a_git_integration_is_not_followed(
    make_app: AppFactory, company: Company
) -> None:
    app = make_app(sources=[company.source()])  # no git.integrations
    (source,) = app.services.sync.run().sources
    assert source.ok
    assert "component:default/payments-api" not in stored(app)
    errors = [p.message for p in source.problems if p.level == "error"]
    assert len(errors) == 2
    assert all("not a configured git integration" in m for m in errors)


# --------------------------------------------------------------------------- tokens over HTTP


class GitHttp:
    """Real git's smart HTTP server (``git http-backend``) on loopback, behind Basic auth."""

    def __init__(self, root: Path, username: str, token: str) -> None:
        expected = "Basic " + base64.b64encode(f"{username}:{token}".encode()).decode()
        self.authorizations: list[str | None] = []
        outer = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, format: str, *args: Any) -> None:
                return None

            def do_GET(self) -> None:
                self._serve()

            def do_POST(self) -> None:
                self._serve()

            def _serve(self) -> None:
                auth = self.headers.get("Authorization")
                outer.authorizations.append(auth)
                if auth != expected:
                    self.send_response(401)
                    self.send_header("WWW-Authenticate", 'Basic realm="git"')
                    self.send_header("Content-Length", "0")
                    self.end_headers()
                    return
                length = int(self.headers.get("Content-Length") or 0)
                body = self.rfile.read(length) if length else b""
                path, _, query = self.path.partition("?")
                env = {
                    "PATH": os.environ["PATH"],
                    "GIT_PROJECT_ROOT": str(root),
                    "GIT_HTTP_EXPORT_ALL": "1",
                    "PATH_INFO": path,
                    "QUERY_STRING": query,
                    "REQUEST_METHOD": self.command,
                    "CONTENT_TYPE": self.headers.get("Content-Type", ""),
                    "CONTENT_LENGTH": str(length),
                    "HTTP_CONTENT_ENCODING": self.headers.get("Content-Encoding", ""),
                    "GIT_PROTOCOL": self.headers.get("Git-Protocol", ""),
                    "REMOTE_USER": username,
                    "REMOTE_ADDR": "127.0.0.1",
                }
                done = subprocess.run(
                    ["git", "http-backend"], input=body, env=env, capture_output=True, check=False
                )
                head, _, payload = done.stdout.partition(b"\r\n\r\n")
                headers = [line.split(":", 1) for line in head.decode().split("\r\n") if line]
                status = 200
                for name, value in headers:
                    if name.lower() == "status":
                        status = int(value.split()[0])
                self.send_response(status)
                for name, value in headers:
                    if name.lower() != "status":
                        self.send_header(name, value.strip())
                self.send_header("Content-Length", str(len(payload)))
                self.end_headers()
                self.wfile.write(payload)

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    @property
    def base(self) -> str:
        return f"http://127.0.0.1:{self.server.server_address[1]}"

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def git_http(company: Company) -> Iterator[GitHttp]:
    server = GitHttp(company.root / "remotes", "x-access-token", "ghp_right-token-0123456789")
    yield server
    server.close()


def test_a_token_from_the_environment_reaches_git_and_is_never_shown(
    make_app: AppFactory,
    company: Company,
    git_http: GitHttp,
    monkeypatch: pytest.MonkeyPatch,
    caplog: pytest.LogCaptureFixture,
    tmp_path: Path,
) -> None:
    caplog.set_level(logging.DEBUG)
    right, wrong = "ghp_right-token-0123456789", "ghp_wrong-token-9876543210"
    monkeypatch.setenv("ACME_GIT_TOKEN", right)
    source = company.source(url=f"{git_http.base}/acme/catalog", token_env="ACME_GIT_TOKEN")
    # Followed repositories are fetched from the same server with the integration's token.
    git = {"integrations": [{"host": HOST, "clone_base": f"{git_http.base}",
                             "token_env": "ACME_GIT_TOKEN"}]}  # fmt: skip
    app = make_app(sources=[source], git=git)
    assert "component:default/search-api" in stored(app)
    assert any(a and a.startswith("Basic ") for a in git_http.authorizations)

    monkeypatch.setenv("ACME_GIT_TOKEN", wrong)  # rotated badly
    before = stored(app)
    (report,) = app.services.sync.run().sources
    assert not report.ok
    assert report.error == (
        f"source central: {git_http.base}/acme/catalog refused the token from $ACME_GIT_TOKEN "
        "(authentication failed)"
    )
    assert stored(app) == before

    monkeypatch.setenv("ACME_GIT_TOKEN", right)
    (report,) = app.services.sync.run().sources
    assert report.ok and status_row(app).last_error is None

    encoded = [base64.b64encode(f"x-access-token:{t}".encode()).decode() for t in (right, wrong)]
    shown = " ".join(
        [
            ask(app, "/callboard status").to_text(),
            ask(app, "/callboard sync").to_text(),
            caplog.text,
            str(status_row(app)),
        ]
    )
    for secret in (right, wrong, *encoded):
        assert secret not in shown
        for path in (tmp_path / "var").rglob("*"):
            if path.is_file():
                assert secret.encode() not in path.read_bytes(), path


def test_a_token_is_not_sent_over_plain_http_to_another_host(
    make_app: AppFactory, company: Company, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("ACME_GIT_TOKEN", "ghp_some-token-value")
    source = company.source(url="http://git.example.com/acme/catalog", token_env="ACME_GIT_TOKEN")
    app = make_app(sources=[source])
    (report,) = app.services.sync.run().sources
    assert not report.ok
    assert "refusing to send the token from $ACME_GIT_TOKEN" in (report.error or "")
    assert "over plain http" in (report.error or "")


def test_an_unset_token_variable_is_named(
    make_app: AppFactory, company: Company, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("ACME_MISSING_TOKEN", raising=False)
    app = make_app(sources=[company.source(token_env="ACME_MISSING_TOKEN")])
    (report,) = app.services.sync.run().sources
    assert report.error == (
        "source central: the environment variable ACME_MISSING_TOKEN (token_env) is not set or "
        "empty"
    )


def test_a_literal_token_in_the_config_is_refused(make_app: AppFactory, company: Company) -> None:
    with pytest.raises(ConfigError, match=r"token must come from the environment") as refused:
        make_app(sources=[company.source(token="ghp_literal-in-config-123")])
    assert "ghp_literal-in-config-123" not in str(refused.value)


# --------------------------------------------------------------------------- runtime locations


async def test_a_registered_location_answers_whoowns_right_after_its_sync(
    make_app: AppFactory, company: Company, tmp_path: Path
) -> None:
    app = make_app(sources=[company.source()], git=company.git_section())
    assert RUNTIME_SOURCE not in app.services.sync.source_names()
    fresh = Remote(tmp_path / "remotes" / "acme" / "fare-estimator")
    fresh.write("catalog-info.yaml", component("fare-estimator", "team-payments"))
    fresh.commit("scaffolded")

    location, report = await register_and_sync(app.services, fresh.url, added_by="user:default/ana")
    assert report.ok and report.added == ["component:default/fare-estimator"]
    assert location.path == "catalog-info.yaml" and location.ref is None
    reply = await aask(app, "/whoowns fare-estimator")
    assert "fare-estimator is owned by team-payments" in reply.to_text()

    # Registering again is a no-op; a Backstage-style file URL names the same location.
    assert register_location(app.services, fresh.url).id == location.id
    assert [loc.id for loc in list_locations(app.services.locations)] == [location.id]

    # A restart syncs it with the rest; the configured source is synced first.
    restarted = make_app(sources=[company.source()], git=company.git_section())
    assert restarted.services.sync.source_names() == ["central", RUNTIME_SOURCE]
    assert "component:default/fare-estimator" in stored(restarted)

    assert unregister_location(restarted.services, location.id) == location
    (gone,) = restarted.services.sync.run(only=RUNTIME_SOURCE).sources
    assert gone.removed == ["component:default/fare-estimator"]
    assert restarted.services.reader.get("component:default/fare-estimator") is None


async def test_a_registered_repository_that_fails_keeps_its_entities_and_spares_the_rest(
    make_app: AppFactory, company: Company, tmp_path: Path
) -> None:
    app = make_app(sources=[], git=company.git_section())
    one = Remote(tmp_path / "remotes" / "acme" / "one")
    one.write("catalog-info.yaml", component("one", "team-payments"))
    one.commit()
    two = Remote(tmp_path / "remotes" / "acme" / "two")
    two.write("service/catalog.yaml", component("two", "team-payments"))
    two.commit()
    await register_and_sync(app.services, one.url)
    # A file URL in Backstage's form works as well: repository, ref and path in one.
    loc, report = await register_and_sync(app.services, f"{two.url}/blob/main/service/catalog.yaml")
    assert (loc.ref, loc.path) == ("main", "service/catalog.yaml")
    assert "component:default/two" in stored(app)

    one.path.rename(one.path.with_name("one-gone"))
    two.write("service/catalog.yaml", component("two", "team-search"))
    two.commit("new owner")
    (report,) = (await app.services.sync.run_async(only=RUNTIME_SOURCE)).sources
    assert report.ok
    assert report.owner_changed == [
        ("component:default/two", "group:default/team-payments", "group:default/team-search")
    ]
    assert "component:default/one" in stored(app)  # kept
    (problem,) = [p for p in report.problems if p.level == "error"]
    assert "cannot reach the repository" in problem.message


def test_registering_a_bad_location_says_what_is_wrong(
    make_app: AppFactory, company: Company
) -> None:
    app = make_app(sources=[])
    cases = {
        "https://ci:s3cr3t-value@github.com/acme/x.git": "contains a password or token",
        "ext::sh%20-c%20touch%20pwned": "names a git remote helper",
        "--upload-pack=touch": "must not start with '-'",
        "https://example.com/a repo": "is not a repository URL",
        "ftp://example.com/repo": "uses ftp://",
    }
    for url, reason in cases.items():
        with pytest.raises(BadArguments, match=reason) as refused:
            register_location(app.services, url)
        assert "s3cr3t-value" not in str(refused.value)
    with pytest.raises(BadArguments, match="points outside the repository checkout"):
        register_location(app.services, company.payments.url, "../../etc/passwd")
    with pytest.raises(BadArguments, match="is not a branch, tag or commit name"):
        register_location(app.services, company.payments.url, ref="--orphan")
    assert list_locations(app.services.locations) == []


def test_a_configured_source_may_not_take_the_reserved_name(
    make_app: AppFactory, company: Company
) -> None:
    with pytest.raises(ConfigError, match=f"{RUNTIME_SOURCE} is reserved"):
        make_app(sources=[company.source(name=RUNTIME_SOURCE)])


def test_checkouts_nothing_reaches_any_more_are_removed(
    make_app: AppFactory, company: Company
) -> None:
    app = make_app(sources=[company.source()], git=company.git_section())
    (source,) = [s for s in app.services.sync.sources if isinstance(s, GitSource)]
    search = source.root / HOST / "acme" / "search@main"
    assert (search / "catalog-info.yaml").is_file()
    assert source.local_path_for(f"https://{HOST}/acme/search/tree/main") == search
    company.catalog.write("all.yaml", location("./org.yaml", blob("payments")))
    company.catalog.commit("search leaves the catalog")
    (report,) = app.services.sync.run().sources
    assert report.removed == ["component:default/search-api"]
    assert not search.exists()
    assert (source.root / HOST / "acme" / "payments@main" / "catalog-info.yaml").is_file()


def test_scrub_hides_url_credentials_and_remembered_secrets_only() -> None:
    from bot.catalog.remote import remember_secret, scrub

    remember_secret("ghp_remembered-value-42")
    text = (
        "https://tok@github.com/a https://u:p@h/x ssh://u:pw@h/x ssh://git@github.com/a/b "
        "git@github.com:a/b header ghp_remembered-value-42"
    )
    assert scrub(text) == (
        "https://***@github.com/a https://***@h/x ssh://***@h/x ssh://git@github.com/a/b "
        "git@github.com:a/b header ***"
    )


def test_a_symlink_loop_in_a_repository_does_not_hang_the_sync(
    make_app: AppFactory, company: Company
) -> None:
    import threading

    company.catalog.write("all.yaml", location("./org.yaml", "./loop/**/*.yaml"))
    company.catalog.write("loop/x.yaml", component("looped", "team-payments"))
    for link in ("l1", "l2", "l3"):
        os.symlink(".", company.catalog.path / "loop" / link)
    company.catalog.commit("a loop")
    app = make_app(sources=[company.source()], git=company.git_section(), sync=False)
    result: list[Any] = []
    thread = threading.Thread(target=lambda: result.append(app.services.sync.run()), daemon=True)
    thread.start()
    thread.join(60)  # a hang guard
    assert not thread.is_alive(), "the sync did not end"
    assert result[0].sources[0].ok
    assert "component:default/looped" in stored(app)
