"""The docs index on real files, real git repositories and real databases (SQLite, PostgreSQL).

Catalogs are written to temp folders; git repositories get commits dated in the past with
``GIT_AUTHOR_DATE``/``GIT_COMMITTER_DATE``, so last-updated dates are known exactly.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import inspect
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import yaml

from bot.app import App
from bot.docs.discover import TECHDOCS_REF
from bot.docs.index import DocsIndexer
from bot.docs.service import DocsService
from bot.docs.settings import DocsSettings
from bot.errors import ConfigError
from bot.store.memory.docs import MemoryDocs
from bot.store.sql.docs import SqlDocsIndex
from tests.conftest import DEMO, REPO, AppFactory, FixedClock

UTC = dt.UTC


def when(text: str) -> dt.datetime:
    return dt.datetime.fromisoformat(text).replace(tzinfo=UTC)


def git(repo: Path, *args: str, date: str | None = None) -> str:
    env = {**os.environ, "GIT_CONFIG_NOSYSTEM": "1", "HOME": str(repo)}
    if date:
        env["GIT_AUTHOR_DATE"] = env["GIT_COMMITTER_DATE"] = f"{date}T12:00:00+00:00"
    done = subprocess.run(
        ["git", "-c", "user.name=Docs Test", "-c", "user.email=docs@example.com", *args],
        cwd=repo,
        env=env,
        capture_output=True,
        text=True,
        check=True,
    )
    return done.stdout


def commit(repo: Path, message: str, date: str) -> None:
    git(repo, "add", "-A")
    git(repo, "commit", "-q", "-m", message, date=date)


def component(name: str, techdocs: str | None = "dir:.", **annotations: str) -> dict[str, Any]:
    ann = {"github.com/project-slug": f"acme/{name}", **annotations}
    if techdocs is not None:
        ann["backstage.io/techdocs-ref"] = techdocs
    return {
        "apiVersion": "backstage.io/v1alpha1",
        "kind": "Component",
        "metadata": {"name": name, "annotations": ann},
        "spec": {"type": "service", "lifecycle": "production", "owner": "team-a"},
    }


def write(path: Path, text: str | bytes) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    if isinstance(text, bytes):
        path.write_bytes(text)
    else:
        path.write_text(text, encoding="utf-8")
    return path


def catalog(root: Path, components: dict[str, dict[str, Any]]) -> Path:
    """A Location file over one folder per component, each with its catalog-info.yaml."""
    for folder, doc in components.items():
        write(root / folder / "catalog-info.yaml", yaml.safe_dump(doc))
    location = {
        "apiVersion": "backstage.io/v1alpha1",
        "kind": "Location",
        "metadata": {"name": "test"},
        "spec": {"targets": [f"./{folder}/catalog-info.yaml" for folder in components]},
    }
    return write(root / "all.yaml", yaml.safe_dump(location))


def site(root: Path, folder: str, pages: dict[str, str | bytes], mkdocs: str | None = None) -> None:
    if mkdocs is None:
        nav = "\n".join(f"  - {p}" for p in pages)
        mkdocs = f"site_name: {folder}\nnav:\n{nav}\n"
    write(root / folder / "mkdocs.yml", mkdocs)
    for name, text in pages.items():
        write(root / folder / "docs" / name, text)


class BlockingDocs:
    """The app's ``DocsService`` with each coroutine run to its end: these tests are plain
    functions, and ask the real service (and its SQL store) one question at a time."""

    def __init__(self, service: DocsService) -> None:
        self.service = service

    def __getattr__(self, name: str) -> Any:
        attr = getattr(self.service, name)
        if inspect.iscoroutinefunction(attr):
            return lambda *args, **kwargs: asyncio.run(attr(*args, **kwargs))
        return attr


def docs_of(app: App) -> Any:
    return BlockingDocs(app.services.docs)


def file_source(target: Path, name: str = "test") -> list[dict[str, Any]]:
    return [{"type": "file", "name": name, "target": str(target)}]


# --- the demo catalog ---------------------------------------------------------------------------

DEMO_PAGES = {
    "payments-api": ["index.md", "architecture.md", "api-usage.md", "runbook.md", "faq.md"],
    "payments-ledger": ["index.md", "architecture.md", "on-call.md"],
    "fraud-scorer": ["index.md", "architecture.md", "runbook.md", "faq.md"],
    "dispatch-service": ["index.md", "architecture.md", "runbook.md"],
    "pricing-service": ["index.md", "api-usage.md", "faq.md"],
    "rider-bff": ["index.md", "api-usage.md", "on-call.md"],
    "api-gateway": ["index.md", "architecture.md", "runbook.md"],
}


def test_the_demo_catalogs_docs_are_indexed_with_its_two_gaps(
    make_app: AppFactory, db_url: str
) -> None:
    app = make_app(sources=file_source(DEMO, "demo"), db_url=db_url, sync=False)
    report = app.services.sync.run()
    docs = docs_of(app)
    sites = {s.entity_ref.split("/")[1]: s for s in docs.sites()}
    assert set(sites) == {*DEMO_PAGES, "auth-service"}
    for name, pages in DEMO_PAGES.items():
        assert [p.path for p in docs.pages(f"component:default/{name}")] == pages, name
        fresh = sites[name].freshness
        assert fresh.pages == len(pages) and not fresh.folder_missing
        assert fresh.docs_updated is not None and fresh.dates_from in ("git", "file")

    # The two deliberate gaps, and nothing else, are reported for their entities.
    step = next(s for s in report.steps if s.name == "docs")
    assert sorted((p.entity, p.level) for p in step.problems) == [
        ("component:default/auth-service", "error"),
        ("component:default/dispatch-service", "warning"),
    ]
    assert sites["auth-service"].freshness.folder_missing
    assert sites["auth-service"].freshness.pages == 0
    assert sites["dispatch-service"].freshness.nav_missing == ("capacity-planning.md",)
    nav_problem = next(p for p in step.problems if p.level == "warning")
    assert nav_problem.file == "services/dispatch-service/mkdocs.yml"
    assert "capacity-planning.md" in nav_problem.message
    assert "docs:" in report.summary()

    # Sections, titles and the anchors MkDocs gives them.
    runbook = next(
        p
        for p in docs.pages("component:default/payments-api", max_level=3)
        if p.path == "runbook.md"
    )
    assert runbook.title == "Runbook"
    assert [(s.level, s.anchor) for s in runbook.sections][:5] == [
        (1, "runbook"),
        (2, "before-you-touch-anything"),
        (2, "alerts"),
        (3, "paymentsautherrorratehigh"),
        (3, "refundbackloggrowing"),
    ]
    assert (3, "refund-a-trip-by-hand") in [(s.level, s.anchor) for s in runbook.sections]
    home = docs.pages("component:default/payments-api")[0]
    assert home.title == "Overview"  # the nav title wins over the page's own heading


# --- git dates and freshness --------------------------------------------------------------------


def dated_repo(root: Path) -> Path:
    """A repository whose docs and code changed on known days."""
    target = catalog(root, {"svc": component("svc")})
    site(root, "svc", {"index.md": "# Svc\n\nHello.\n", "guide.md": "# Guide\n\nFirst words.\n"})
    write(root / "svc" / "src" / "app.py", "print('v1')\n")
    git(root, "init", "-q", "-b", "main")
    commit(root, "start", "2024-01-10")
    write(root / "svc" / "docs" / "guide.md", "# Guide\n\n## Setup\n\nSecond words.\n")
    commit(root, "docs", "2024-06-01")
    write(root / "svc" / "src" / "app.py", "print('v2')\n")
    commit(root, "code", "2025-02-01")
    return target


def test_last_updated_dates_come_from_git_commits(
    make_app: AppFactory, db_url: str, tmp_path: Path
) -> None:
    target = dated_repo(tmp_path / "repo")
    clock = FixedClock(when("2026-11-02T09:00:00"))
    app = make_app(sources=file_source(target), db_url=db_url, clock=clock)
    docs = docs_of(app)
    pages = {p.path: p for p in docs.pages("component:default/svc")}
    assert pages["index.md"].last_updated == when("2024-01-10T12:00:00")
    assert pages["guide.md"].last_updated == when("2024-06-01T12:00:00")
    assert {p.updated_from for p in pages.values()} == {"git"}

    fresh = docs.site("component:default/svc")
    assert fresh is not None
    facts = fresh.freshness
    assert facts.docs_updated == when("2024-06-01T12:00:00")
    assert facts.code_updated == when("2025-02-01T12:00:00")  # the commit outside docs/
    assert facts.dates_from == "git"
    assert (facts.pages, facts.nav_missing, facts.folder_missing) == (2, (), False)
    assert facts.stale_reasons(clock(), docs.settings) == (
        "not updated for 883 days",
        "245 days behind the code",
    )

    # A code commit moves only the code date and re-indexes nothing.
    write(tmp_path / "repo" / "svc" / "src" / "app.py", "print('v3')\n")
    commit(tmp_path / "repo", "more code", "2025-03-01")
    # A page not yet committed takes its file time.
    write(tmp_path / "repo" / "svc" / "docs" / "draft.md", "# Draft\n\nNot committed yet.\n")
    os.utime(tmp_path / "repo" / "svc" / "docs" / "draft.md", (1_700_000_000, 1_700_000_000))
    step = app.services.sync.run().steps[0]
    assert "1 pages re-indexed" in step.summary
    facts = docs.site("component:default/svc").freshness  # type: ignore[union-attr]
    assert facts.code_updated == when("2025-03-01T12:00:00")
    draft = next(p for p in docs.pages("component:default/svc") if p.path == "draft.md")
    assert draft.updated_from == "file"
    assert draft.last_updated == dt.datetime.fromtimestamp(1_700_000_000, UTC)
    assert not draft.in_nav


def test_a_fresh_process_sees_a_new_commit_that_changed_no_docs_file(
    make_app: AppFactory, tmp_path: Path
) -> None:
    """Editing a code file changes no stat the docs step takes, but the new commit moves the
    code date: a new process does not skip the site, and stores that date."""
    target = dated_repo(tmp_path / "repo")
    app = make_app(sources=file_source(target))
    docs = docs_of(app)
    assert docs.site("component:default/svc").freshness.code_updated == when(  # type: ignore[union-attr]
        "2025-02-01T12:00:00"
    )

    def fresh() -> Any:
        return DocsIndexer(SqlDocsIndex(app.db), DocsSettings(), app.services.sync.sources).index()

    assert fresh().sites_skipped == 1
    write(tmp_path / "repo" / "svc" / "src" / "app.py", "print('v3')\n")
    commit(tmp_path / "repo", "more code", "2025-03-01")
    moved = fresh()
    assert (moved.sites_skipped, moved.pages_indexed) == (0, 0)
    facts = docs.site("component:default/svc").freshness  # type: ignore[union-attr]
    assert facts.code_updated == when("2025-03-01T12:00:00")
    assert fresh().sites_skipped == 1


def test_outside_git_file_times_are_used(make_app: AppFactory, tmp_path: Path) -> None:
    target = catalog(tmp_path, {"svc": component("svc")})
    site(tmp_path, "svc", {"index.md": "# Svc\n\nHello.\n"})
    os.utime(tmp_path / "svc" / "docs" / "index.md", (1_600_000_000, 1_600_000_000))
    os.utime(tmp_path / "svc" / "mkdocs.yml", (1_500_000_000, 1_500_000_000))
    app = make_app(sources=file_source(target))
    facts = docs_of(app).site("component:default/svc").freshness  # type: ignore[union-attr]
    assert facts.dates_from == "file"
    assert facts.docs_updated == dt.datetime.fromtimestamp(1_600_000_000, UTC)
    assert facts.code_updated is None


# --- incremental re-indexing ------------------------------------------------------------------


def test_only_changed_pages_are_indexed_again(make_app: AppFactory, tmp_path: Path) -> None:
    target = catalog(tmp_path, {"svc": component("svc"), "other": component("other")})
    site(tmp_path, "svc", {"index.md": "# Svc\n\nAlpha bravo.\n", "ops.md": "# Ops\n\nCharlie.\n"})
    site(tmp_path, "other", {"index.md": "# Other\n\nDelta.\n"})
    app = make_app(sources=file_source(target), sync=False)
    docs = docs_of(app)
    first = app.services.sync.run().steps[0].summary
    assert "2 sites and 3 pages re-indexed" in first

    again = app.services.sync.run().steps[0].summary
    assert "0 sites and 0 pages re-indexed" in again

    write(tmp_path / "svc" / "docs" / "ops.md", "# Ops\n\nEcho foxtrot.\n")
    changed = app.services.sync.run().steps[0].summary
    assert "1 sites and 1 pages re-indexed" in changed
    assert docs.search("echo").hits and not docs.search("charlie").hits
    assert docs.search("alpha").hits  # the untouched page is still there

    (tmp_path / "svc" / "docs" / "ops.md").unlink()
    removed = app.services.sync.run().steps[0].summary
    assert "1 pages and 0 sites removed" in removed
    assert not docs.search("echo").hits

    # The annotation goes: the whole site leaves the index.
    write(tmp_path / "other" / "catalog-info.yaml", yaml.safe_dump(component("other", None)))
    app.services.sync.run()
    assert docs.site("component:default/other") is None
    assert not docs.search("delta").hits

    # A title change in the catalog is searchable: every page is split again.
    renamed = component("svc")
    renamed["metadata"]["title"] = "Zulu Service"
    write(tmp_path / "svc" / "catalog-info.yaml", yaml.safe_dump(renamed))
    app.services.sync.run()
    assert docs.search("zulu").hits


def test_a_fresh_process_reads_no_unchanged_site_and_still_sees_every_change(
    make_app: AppFactory, tmp_path: Path
) -> None:
    """A no-change sync in a new process (a new indexer over the stored index) stats each
    site's files but reads none: every site is skipped, nothing is re-indexed, and the stored
    problems are reported again. An edited, added or nested page, an edited mkdocs.yml and
    docs that appear are each still found by the next new process."""
    target = catalog(
        tmp_path,
        {"svc": component("svc"), "other": component("other"), "bare": component("bare")},
    )
    site(tmp_path, "svc", {"index.md": "# Svc\n\nAlpha.\n", "ops.md": "# Ops\n\nCharlie.\n"})
    site(tmp_path, "other", {"index.md": "# Other\n\nDelta.\n"})
    app = make_app(sources=file_source(target), sync=False)
    docs = docs_of(app)
    first = app.services.sync.run().steps[0]
    assert "3 sites and 3 pages re-indexed" in first.summary
    # "bare" declares docs it does not have: a real finding, one for its entity.
    assert [(p.entity, p.level) for p in first.problems] == [("component:default/bare", "error")]

    def fresh() -> Any:
        return DocsIndexer(SqlDocsIndex(app.db), DocsSettings(), app.services.sync.sources).index()

    again = fresh()
    assert (again.sites, again.sites_skipped, again.sites_changed) == (3, 3, 0)
    assert (again.pages, again.pages_indexed, again.pages_removed) == (3, 0, 0)
    assert [p.message for p in again.problems] == [p.message for p in first.problems]
    assert "3 sites unchanged and not read" in again.summary()

    write(tmp_path / "svc" / "docs" / "ops.md", "# Ops\n\nEcho foxtrot golf.\n")
    edited = fresh()
    assert (edited.sites_skipped, edited.sites_changed, edited.pages_indexed) == (2, 1, 1)
    assert docs.search("echo").hits and not docs.search("charlie").hits

    write(tmp_path / "other" / "docs" / "guides" / "deep.md", "# Deep\n\nHotel.\n")
    nested = fresh()
    assert (nested.sites_skipped, nested.sites_changed, nested.pages_indexed) == (2, 1, 1)
    assert docs.search("hotel").hits

    write(tmp_path / "other" / "mkdocs.yml", "site_name: India Juliet\n")
    renamed = fresh()
    assert (renamed.sites_skipped, renamed.sites_changed) == (2, 1)
    assert docs.site("component:default/other").site_name == "India Juliet"  # type: ignore[union-attr]

    site(tmp_path, "bare", {"index.md": "# Bare\n\nKilo.\n"})
    found = fresh()
    assert (found.sites_skipped, found.sites_changed, found.problems) == (2, 1, [])
    assert docs.search("kilo").hits
    assert fresh().sites_skipped == 3


def test_force_reindexes_everything(make_app: AppFactory, tmp_path: Path) -> None:
    target = catalog(tmp_path, {"svc": component("svc")})
    site(tmp_path, "svc", {"index.md": "# Svc\n\nAlpha.\n"})
    app = make_app(sources=file_source(target))
    assert "1 pages re-indexed" in app.services.sync.run(force=True).steps[0].summary


# --- bad input ----------------------------------------------------------------------------------


def bad_catalog(root: Path) -> Path:
    names = [
        "good",
        "broken-yaml",
        "nav-missing",
        "latin1",
        "huge",
        "escape-docs-dir",
        "absolute-docs-dir",
        "escape-ref",
        "url-ref",
        "no-folder",
    ]
    refs = {n: "dir:." for n in names}
    refs["escape-ref"] = "dir:../../../.."
    refs["url-ref"] = "url:https://github.com/acme/elsewhere/tree/main/docs-site"
    target = catalog(root, {n: component(n, refs[n]) for n in names})
    site(root, "good", {"index.md": "# Good\n\nGood words here.\n"})
    site(
        root,
        "broken-yaml",
        {"index.md": "# Broken\n\nBrokenyaml words still indexed.\n"},
        mkdocs="site_name: broken\nnav:\n  - Home: [index.md\n",
    )
    site(
        root,
        "nav-missing",
        {"index.md": "# Nav\n\nNavmissing words.\n"},
        mkdocs="site_name: nav\nnav:\n  - Home: index.md\n  - Gone: gone.md\n",
    )
    site(
        root,
        "latin1",
        {"index.md": "# Latin\n\nLatinone words.\n", "legacy.md": "# Caf\xe9\n".encode("latin-1")},
    )
    big = b"# Huge\n\nNeedlestart at the top.\n\n" + b"filler line of text\n" * 530_000
    big += b"\nNeedleend at the bottom.\n"
    assert len(big) > 10_000_000
    site(root, "huge", {"index.md": big})
    site(root, "escape-docs-dir", {"index.md": "# X\n"}, mkdocs="site_name: x\ndocs_dir: ../../\n")
    site(root, "absolute-docs-dir", {"index.md": "# X\n"}, mkdocs="site_name: x\ndocs_dir: /etc\n")
    return target


def test_bad_docs_are_reported_per_entity_and_the_rest_is_indexed(
    make_app: AppFactory, db_url: str, tmp_path: Path
) -> None:
    target = bad_catalog(tmp_path / "cat")
    app = make_app(sources=file_source(target), db_url=db_url, sync=False)
    report = app.services.sync.run()
    docs = docs_of(app)
    by_entity: dict[str, list[tuple[str, str, str | None]]] = {}
    for p in report.problems:
        assert p.entity is not None, p
        by_entity.setdefault(p.entity.split("/")[1], []).append((p.level, p.message, p.file))

    def only(name: str, level: str, *words: str) -> str | None:
        found = [x for x in by_entity.get(name, []) if x[0] == level]
        assert found, (name, by_entity.get(name))
        hit = next((x for x in found if all(w in x[1] for w in words)), None)
        assert hit is not None, (name, found)
        return hit[2]

    assert "good" not in by_entity
    assert only("broken-yaml", "error", "invalid YAML") == "broken-yaml/mkdocs.yml"
    only("broken-yaml", "warning", "MkDocs defaults")
    assert only("nav-missing", "warning", "gone.md") == "nav-missing/mkdocs.yml"
    assert only("latin1", "error", "not UTF-8") == "latin1/docs/legacy.md"
    assert only("huge", "warning", "MB", "max_page_kb") == "huge/docs/index.md"
    only("escape-docs-dir", "error", "docs_dir", "../")
    only("absolute-docs-dir", "error", "docs_dir", "absolute")
    only("escape-ref", "error", "outside the source folder")
    only("url-ref", "warning", "no configured git source", "github.com/acme/elsewhere")
    only("no-folder", "error", "no mkdocs.yml")

    # The rest is indexed: good pages, the readable page beside a bad one, the start of a
    # huge page (capped), and a site whose mkdocs.yml is broken (with MkDocs defaults).
    for word, name in [
        ("good", "good"),
        ("brokenyaml", "broken-yaml"),
        ("navmissing", "nav-missing"),
        ("latinone", "latin1"),
        ("needlestart", "huge"),
    ]:
        hits = docs.search(word).hits
        assert [h.entity_ref for h in hits] == [f"component:default/{name}"], word
    assert not docs.search("needleend").hits  # past the cap
    assert [p.path for p in docs.pages("component:default/latin1")] == ["index.md"]
    for name in ("escape-docs-dir", "absolute-docs-dir", "escape-ref"):
        assert docs.pages(f"component:default/{name}") == []
    assert docs.site("component:default/no-folder").freshness.folder_missing  # type: ignore[union-attr]
    assert docs.site("component:default/nav-missing").freshness.nav_missing == (  # type: ignore[union-attr]
        "gone.md",
    )
    # Reported again on the next sync (kept with the site), not lost when nothing changed.
    again = app.services.sync.run()
    assert sorted(map(str, again.steps[0].problems)) == sorted(map(str, report.steps[0].problems))


def test_callboard_sync_prints_docs_problems(tmp_path: Path) -> None:
    target = bad_catalog(tmp_path / "cat")
    config = write(
        tmp_path / "callboard.yaml",
        yaml.safe_dump(
            {
                "data_dir": str(tmp_path / "var"),
                "database": {"url": f"sqlite:///{tmp_path / 'cb.db'}"},
                "catalog": {"sources": file_source(target)},
            }
        ),
    )
    done = subprocess.run(
        [sys.executable, "-m", "adapters.cli", "--config", str(config), "sync"],
        cwd=REPO,
        capture_output=True,
        text=True,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    out = done.stdout
    assert "docs: 10 sites" in out
    assert "latin1/docs/legacy.md: is not UTF-8 text" in out
    assert "[component:default/latin1]" in out
    assert "nav-missing/mkdocs.yml: warning: nav entry “Gone” points to gone.md" in out
    assert "escape-ref/catalog-info.yaml: backstage.io/techdocs-ref dir:../../../.. resolves" in out


def test_hostile_files_are_reported_not_followed(make_app: AppFactory, tmp_path: Path) -> None:
    root = tmp_path / "cat"
    outside = write(tmp_path / "secret" / "passwords.md", "# Secret\n\nHunter2 lives here.\n")
    names = ["links", "odd-names", "giant-config"]
    target = catalog(root, {n: component(n) for n in names})
    site(root, "links", {"index.md": "# Links\n\nLinkpage words.\n"})
    (root / "links" / "docs" / "leak.md").symlink_to(outside)
    (root / "links" / "docs" / "folder").symlink_to(outside.parent, target_is_directory=True)
    site(root, "odd-names", {"index.md": "# Odd\n\nOddnames words.\n"})
    (root / "odd-names" / "docs" / os.fsdecode(b"caf\xe9.md")).write_text("# Cafe\n")
    site(root, "giant-config", {"index.md": "# G\n"}, mkdocs="site_name: g\n#" + "x" * 1_100_000)
    app = make_app(sources=file_source(target), sync=False)
    problems = {(p.entity, p.message) for p in app.services.sync.run().problems}
    docs = docs_of(app)
    assert (
        "component:default/links",
        "is a link to outside the source folder; not read",
    ) in problems
    assert not docs.search("hunter2").hits
    assert [p.path for p in docs.pages("component:default/links")] == ["index.md"]
    assert ("component:default/odd-names", "file name is not UTF-8; not read") in problems
    assert docs.search("oddnames").hits
    assert any(
        e == "component:default/giant-config" and "over the 1024 KB an mkdocs.yml may have" in m
        for e, m in problems
    )


def test_a_pasted_paragraph_is_cut_to_a_query(make_app: AppFactory, tmp_path: Path) -> None:
    target = catalog(tmp_path, {"svc": component("svc")})
    site(tmp_path, "svc", {"index.md": "# Svc\n\nAlpha.\n"})
    app = make_app(sources=file_source(target))
    found = docs_of(app).search(" ".join(f"word{i}" for i in range(500)) + " " + "x" * 5000)
    assert len(found.query.terms) == 16 and found.hits == ()


def test_docs_indexing_can_be_switched_off(make_app: AppFactory, tmp_path: Path) -> None:
    target = catalog(tmp_path, {"svc": component("svc")})
    site(tmp_path, "svc", {"index.md": "# Svc\n\nAlpha.\n"})
    app = make_app(sources=file_source(target), docs={"enabled": False})
    assert app.services.sync.run().steps[0].summary == "disabled (docs.enabled: false)"
    assert docs_of(app).sites() == []


def test_unknown_url_placeholders_are_config_errors(make_app: AppFactory) -> None:
    with pytest.raises(ConfigError, match=r"docs.url_pattern uses unknown placeholder \{ref\}"):
        make_app(docs={"url_pattern": "https://x.example/{ref}"})


# --- search on both engines -----------------------------------------------------------------

SEARCH_PAGES = {
    "orders": {
        "index.md": "# Orders\n\nThe orders service calls payments-api for every checkout.\n",
        "retries.md": (
            "# Retries\n\n"
            "## Retry policy\n\nEvery retry waits twice as long as the one before.\n\n"
            "## Retry budget\n\nA retry budget caps retries per minute.\n\n"
            "## When not to retry\n\nNever retry a 4xx: retry only 5xx.\n\n"
            "## Retry metrics\n\nretry_count and retry_latency show every retry.\n"
        ),
        "deploy.md": (
            "# Deploy\n\n## Rolling back\n\nTo roll back, run deployctl rollback orders.\n\n"
            "## Notes\n\nBack up the data, then roll the release.\n"
        ),
    },
    "billing": {
        "index.md": "# Billing\n\nIdempotency keys make every refund safe to repeat.\n",
        "refunds.md": "# Refunds\n\nA refund is booked once.\n",
    },
}


@pytest.fixture
def search_app(make_app: AppFactory, db_url: str, tmp_path: Path) -> App:
    target = catalog(tmp_path, {n: component(n) for n in SEARCH_PAGES})
    for name, pages in SEARCH_PAGES.items():
        site(tmp_path, name, pages)
    return make_app(sources=file_source(target), db_url=db_url)


def pages_of(results: Any) -> list[tuple[str, str]]:
    return [(h.entity_ref.split("/")[1], h.page_path) for h in results.hits]


def test_hyphenated_names_match(search_app: App) -> None:
    found = docs_of(search_app).search("payments-api", limit=10)
    assert pages_of(found) == [("orders", "index.md")]
    assert "⟦payments-api⟧" in found.hits[0].snippet or "⟦payments⟧" in found.hits[0].snippet


def test_prefix_queries_match(search_app: App) -> None:
    assert pages_of(docs_of(search_app).search("idempot*")) == [("billing", "index.md")]
    retry = docs_of(search_app).search("idempo")  # whole words first, prefixes second
    assert retry.by_prefix and pages_of(retry) == [("billing", "index.md")]


def test_phrase_queries_match_adjacent_words_only(search_app: App) -> None:
    docs = docs_of(search_app)
    phrase = docs.search('"roll back"')
    assert pages_of(phrase) == [("orders", "deploy.md")]
    assert phrase.hits[0].anchor == "rolling-back"  # not "Notes": back ... roll is no phrase
    assert not docs.search('"back roll"').hits


def test_each_page_appears_once_with_its_best_section(search_app: App) -> None:
    found = docs_of(search_app).search("retry", limit=10)
    keys = pages_of(found)
    assert len(keys) == len(set(keys))
    assert keys[0] == ("orders", "retries.md")
    assert found.hits[0].section_title.startswith("Retr")
    assert "⟦" in found.hits[0].snippet and "⟧" in found.hits[0].snippet


def test_stemming_entity_filter_and_stop_words(search_app: App) -> None:
    docs = docs_of(search_app)
    assert ("billing", "refunds.md") in pages_of(docs.search("refunds"))
    assert ("billing", "index.md") in pages_of(docs.search("refunding"))
    assert pages_of(docs.search("rollback", "component:default/billing")) == []
    assert pages_of(docs.search("rollback", "component:default/orders")) == [
        ("orders", "deploy.md")
    ]
    the = docs.search("the refund")
    assert the.query.dropped == ("the",) and the.hits


def test_section_titles_outrank_body_text(search_app: App) -> None:
    hits = docs_of(search_app).search("refund").hits
    assert (hits[0].entity_ref, hits[0].page_path) == ("component:default/billing", "refunds.md")


def test_paging_through_results(search_app: App) -> None:
    docs = docs_of(search_app)
    everything = pages_of(docs.search("orders", limit=10))
    first = docs.search("orders", limit=2)
    second = docs.search("orders", limit=2, offset=2)
    assert first.more
    assert pages_of(first) + pages_of(second) == everything[:4]


def test_a_very_common_word_ranks_a_bounded_sample_and_says_so(
    make_app: AppFactory, db_url: str, tmp_path: Path
) -> None:
    from bot.docs.search import MAX_RANKED

    target = catalog(tmp_path, {"big": component("big")})
    body = "".join(
        f"## Item {i}\n\nEvery item mentions widgets.\n\n" for i in range(MAX_RANKED + 50)
    )
    site(tmp_path, "big", {"index.md": "# Big\n\n" + body, "other.md": "# Widgets\n\nMore.\n"})
    app = make_app(sources=file_source(target), db_url=db_url)
    found = docs_of(app).search("widgets")
    assert found.broad
    # The page titled "Widgets" still comes first: titles are ranked before the sample.
    assert [h.page_path for h in found.hits] == ["other.md", "index.md"]
    assert not docs_of(app).search("more").broad


# --- links ------------------------------------------------------------------------------------


def test_links_follow_the_configured_shape(make_app: AppFactory, tmp_path: Path) -> None:
    target = catalog(tmp_path, {"svc": component("svc")})
    site(tmp_path, "svc", {"index.md": "# Svc\n\n## Set up\n\nAlpha.\n", "ops.md": "# Ops\n"})
    source = file_source(target)
    repo = make_app(sources=source)
    backstage = make_app(sources=source, backstage={"url": "https://backstage.example/"})
    custom = make_app(
        sources=source, docs={"url_pattern": "https://wiki.example/{name}/{path}#{anchor}"}
    )
    expected = [
        (repo, "https://github.com/acme/svc/blob/HEAD/docs/index.md#set-up"),
        (backstage, "https://backstage.example/docs/default/component/svc/#set-up"),
        (custom, "https://wiki.example/svc/index.md#set-up"),
    ]
    for app, url in expected:
        docs = docs_of(app)
        hit = docs.search("alpha").hits[0]
        entity = app.services.reader.get(hit.entity_ref)
        svc_site = docs.site(hit.entity_ref)
        assert entity is not None and svc_site is not None
        assert docs.link(entity, svc_site, hit.page_path, hit.anchor, hit.section_title) == url
    b = docs_of(backstage)
    entity = backstage.services.reader.get("component:default/svc")
    svc_site = b.site("component:default/svc")
    assert entity is not None and svc_site is not None
    assert b.link(entity, svc_site, "ops.md") == (
        "https://backstage.example/docs/default/component/svc/ops/"
    )


# --- url: refs into a git source --------------------------------------------------------------


def test_url_refs_read_docs_from_a_git_source_checkout(
    make_app: AppFactory, tmp_path: Path
) -> None:
    work = tmp_path / "work"
    bare = tmp_path / "remote" / "svc.git"
    url = f"file://{bare}"
    write(work / "catalog-info.yaml", yaml.safe_dump(component("svc", f"url:{url}/tree/main/site")))
    site(work, "site", {"index.md": "# Svc\n\nRemote words from the checkout.\n"})
    git(work, "init", "-q", "-b", "main")
    commit(work, "docs", "2024-05-05")
    bare.parent.mkdir(parents=True)
    git(tmp_path, "clone", "-q", "--bare", str(work), str(bare))
    app = make_app(
        sources=[{"type": "git", "name": "remote", "url": url, "ref": "main", "depth": 0}]
    )
    docs = docs_of(app)
    hits = docs.search("remote words").hits
    assert [(h.entity_ref, h.page_path) for h in hits] == [("component:default/svc", "index.md")]
    facts = docs.site("component:default/svc").freshness  # type: ignore[union-attr]
    assert facts.problems == ()
    assert facts.docs_updated == when("2024-05-05T12:00:00")
    assert facts.dates_from == "git"


def test_the_indexer_runs_alone_too(make_app: AppFactory, tmp_path: Path) -> None:
    """``DocsIndexer.index`` is usable without a sync (for tools and benchmarks)."""
    target = catalog(tmp_path, {"svc": component("svc")})
    site(tmp_path, "svc", {"index.md": "# Svc\n\nAlpha.\n"})
    app = make_app(sources=file_source(target))
    indexer = next(s for s in app.services.sync.sync.steps if isinstance(s, DocsIndexer))
    report = indexer.index(force=True)
    assert (report.sites, report.pages, report.pages_indexed) == (1, 1, 1)


async def test_the_indexer_writes_the_same_index_into_memory(make_app: AppFactory) -> None:
    """The in-memory store (the fast tier's) holds what the indexer writes into SQL: the same
    sites, freshness, tables of contents and search hits, from the same files."""
    app = make_app(sources=file_source(DEMO, "demo"))
    stored = SqlDocsIndex(app.db)
    tagged = stored.annotated_entities(TECHDOCS_REF)
    data = {ref: doc for ref, _hash, doc in stored.entity_documents([e.ref for e in tagged])}
    memory = MemoryDocs([(e, data[e.ref]) for e in tagged])
    report = DocsIndexer(memory, DocsSettings(), app.services.sync.sources).index()
    sql_docs = app.services.docs
    mem_docs = DocsService(memory, DocsSettings())
    assert report.disabled is None and report.sites == len(await sql_docs.sites())
    assert await mem_docs.sites() == await sql_docs.sites()
    for name in DEMO_PAGES:
        ref = f"component:default/{name}"
        assert await mem_docs.pages(ref, max_level=3) == await sql_docs.pages(ref, max_level=3)
    # Words whose forms do not differ (memory does not stem; SQLite and PostgreSQL do).
    for words in ("runbook", '"team-rider-app"', "ledger", "gateway*"):
        mem = {(h.entity_ref, h.page_path) for h in (await mem_docs.search(words, limit=50)).hits}
        sql = {(h.entity_ref, h.page_path) for h in (await sql_docs.search(words, limit=50)).hits}
        assert mem == sql and mem, words


def test_the_annotated_entities_are_found_again_by_ref_until_the_catalog_changes(
    make_app: AppFactory, tmp_path: Path
) -> None:
    """Scanning every entity's JSON for the techdocs annotation takes seconds at a million
    entities: the refs found are kept with the catalog generation, and a later pass at the
    same generation (a no-change sync, in any process) looks them up by ref instead."""
    from sqlalchemy import update

    from bot.store.schema import entities

    target = catalog(tmp_path, {"svc": component("svc"), "plain": component("plain", None)})
    app = make_app(sources=file_source(target))
    stored = SqlDocsIndex(app.db)

    def refs() -> list[tuple[str, str | None]]:
        return [(e.ref, e.title) for e in stored.annotated_entities(TECHDOCS_REF)]

    assert refs() == [("component:default/svc", None)]
    # A sync that changes the catalog (a new generation): found afresh.
    write(tmp_path / "plain" / "catalog-info.yaml", yaml.safe_dump(component("plain")))
    assert app.services.sync.sync.run().sources[0].modified == ["component:default/plain"]
    assert refs() == [("component:default/plain", None), ("component:default/svc", None)]
    # The same generation: the kept refs are looked up (their columns as stored now), the
    # JSON is not read again.
    with app.db.engine.begin() as conn:
        conn.execute(update(entities).values(data="{}", title="Now"))
    assert refs() == [("component:default/plain", "Now"), ("component:default/svc", "Now")]
