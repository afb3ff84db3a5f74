"""File source and sync, on SQLite and PostgreSQL: what a platform team's catalog repo does to us.

Every test writes a real catalog tree under ``tmp_path``, syncs it through the app that
``build_app`` wires, and reads the result back from the store.
"""

from __future__ import annotations

import datetime as dt
import json
import os
import resource
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import yaml
from sqlalchemy import func, select, text, update

from bot.app import App
from bot.catalog.files import FileRead, FileTree, walk
from bot.catalog.problems import Problem
from bot.catalog.sources import FileSource
from bot.catalog.sync import SyncReport
from bot.store.schema import catalog_files, changes, entities, problems, source_status
from tests.conftest import FixedClock

V1 = "backstage.io/v1alpha1"


def component(name: str, owner: str = "team-a", **spec: Any) -> dict[str, Any]:
    return {
        "apiVersion": V1,
        "kind": "Component",
        "metadata": {"name": name},
        "spec": {"type": "service", "lifecycle": "production", "owner": owner, **spec},
    }


def group(name: str) -> dict[str, Any]:
    return {"apiVersion": V1, "kind": "Group", "metadata": {"name": name},
            "spec": {"type": "team", "children": []}}  # fmt: skip


def location(*targets: str, name: str = "loc", **spec: Any) -> dict[str, Any]:
    return {"apiVersion": V1, "kind": "Location", "metadata": {"name": name},
            "spec": {"targets": list(targets), **spec}}  # fmt: skip


def dump(*docs: dict[str, Any]) -> str:
    return "---\n".join(yaml.safe_dump(d, sort_keys=False) for d in docs)


@dataclass
class Catalog:
    """A catalog repository on disk, its app, and what the store holds."""

    root: Path
    app: App
    clock: FixedClock
    name: str = "main"

    def write(self, rel: str, content: str | bytes | dict[str, Any]) -> Path:
        path = self.root / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        if isinstance(content, dict):
            content = dump(content)
        if isinstance(content, bytes):
            path.write_bytes(content)
        else:
            path.write_text(content)
        return path

    def sync(self) -> SyncReport:
        self.clock.advance(minutes=15)
        report = self.app.services.sync.run()
        assert [s.name for s in report.sources] == [self.name]
        return report

    def refs(self) -> set[str]:
        with self.app.db.engine.connect() as conn:
            return set(conn.execute(select(entities.c.ref)).scalars())

    def problems(self) -> list[Problem]:
        with self.app.db.engine.connect() as conn:
            rows = conn.execute(
                select(problems.c.level, problems.c.message, problems.c.file, problems.c.line,
                       problems.c.entity).order_by(problems.c.id)
            ).all()  # fmt: skip
        return [Problem(r.level, r.message, r.file, r.line, r.entity) for r in rows]

    def problems_of(self, file: str) -> list[Problem]:
        return [p for p in self.problems() if p.file == file]

    def changes(self) -> list[tuple[dt.datetime, str, str, str | None, str | None]]:
        with self.app.db.engine.connect() as conn:
            rows = conn.execute(
                select(changes.c.at, changes.c.change, changes.c.ref, changes.c.old_owner,
                       changes.c.new_owner).order_by(changes.c.id)
            ).all()  # fmt: skip
        return [(_utc(r.at), r.change, r.ref, r.old_owner, r.new_owner) for r in rows]

    def status(self) -> Any:
        with self.app.db.engine.connect() as conn:
            return conn.execute(
                select(source_status).where(source_status.c.name == self.name)
            ).one()

    def spec(self, ref: str) -> Any:
        entity = self.app.services.reader.get(ref)
        assert entity is not None, f"{ref} is not in the catalog"
        return entity.spec


def owners(cat: Catalog, ref: str) -> list[str]:
    return [str(r) for r in cat.app.services.reader.related(ref, "ownedBy")]


def document_lines(path: Path) -> list[int]:
    """The line each document of a multi-document file starts on."""
    lines = path.read_text().splitlines()
    return [1] + [number + 2 for number, line in enumerate(lines) if line == "---"]


def _utc(value: dt.datetime) -> dt.datetime:
    # SQLite gives naive datetimes back; PostgreSQL aware ones.
    return value if value.tzinfo else value.replace(tzinfo=dt.UTC)


CatalogFactory = Callable[..., Catalog]


@pytest.fixture
def catalog(tmp_path: Path, make_app: Any, db_url: str) -> CatalogFactory:
    """A catalog rooted at tmp_path/repo with entry ``all.yaml``, synced into ``db_url``."""

    def factory(
        entry: str = "all.yaml",
        root: str = "repo",
        source_options: dict[str, Any] | None = None,
        **catalog_options: Any,
    ) -> Catalog:
        path = tmp_path / root
        path.mkdir(parents=True, exist_ok=True)
        clock = FixedClock()
        source = {"type": "file", "name": "main", "target": str(path / entry), "root": str(path)}
        source.update(source_options or {})
        catalog = {"sources": [source], **catalog_options}
        app = make_app(db_url=db_url, clock=clock, sync=False, catalog=catalog)
        return Catalog(path, app, clock)

    return factory


# --- File source: Locations ---------------------------------------------------------------


def test_targets_are_followed_relative_to_each_location_file(catalog: CatalogFactory) -> None:
    cat = catalog()
    cat.write("all.yaml", location("./org/org.yaml", "./services/locations.yaml"))
    cat.write("org/org.yaml", dump(group("team-a"), location("./more/teams.yaml", name="org")))
    cat.write("org/more/teams.yaml", group("team-b"))
    cat.write(
        "services/locations.yaml",
        {"apiVersion": V1, "kind": "Location", "metadata": {"name": "svc"},
         "spec": {"target": "./pay/catalog-info.yaml", "targets": ["../top.yaml"]}},
    )  # fmt: skip
    cat.write("services/pay/catalog-info.yaml", component("payments-api"))
    cat.write("top.yaml", component("top-level"))
    report = cat.sync()
    assert report.ok and report.problems == []
    assert cat.refs() == {
        "group:default/team-a",
        "group:default/team-b",
        "component:default/payments-api",
        "component:default/top-level",
    }
    pay = cat.app.services.reader.get("component:default/payments-api")
    assert pay is not None and (pay.source_file, pay.source_line) == (
        "services/pay/catalog-info.yaml",
        1,
    )


def test_glob_targets_match_files_recursively_in_sorted_order(catalog: CatalogFactory) -> None:
    cat = catalog()
    cat.write("all.yaml", location("./services/*/catalog-info.yaml", "./org/**/*.yaml"))
    for name in ("zeta", "alpha", "mid"):
        cat.write(f"services/{name}/catalog-info.yaml", component(name))
    cat.write("services/nested/deeper/catalog-info.yaml", component("not-matched-by-star"))
    cat.write("services/alpha/docs/index.md", "# not a catalog file")
    cat.write("org/a.yaml", group("team-a"))
    cat.write("org/x/y/z.yaml", group("deep-team"))
    cat.write("org/dir.yaml/keep.txt", "a directory whose name matches the glob is skipped")
    report = cat.sync()
    assert report.problems == []
    assert cat.refs() == {
        "component:default/alpha",
        "component:default/mid",
        "component:default/zeta",
        "group:default/team-a",
        "group:default/deep-team",
    }


def test_a_glob_that_matches_nothing_is_a_warning(catalog: CatalogFactory) -> None:
    cat = catalog()
    cat.write("all.yaml", dump(location("./nothing/*.yaml"), component("kept")))
    cat.sync()
    assert cat.refs() == {"component:default/kept"}
    assert [str(p) for p in cat.problems()] == [
        'all.yaml:1: warning: target "./nothing/*.yaml" matched no files [location:default/loc]'
    ]


def test_a_location_cycle_is_read_once(catalog: CatalogFactory) -> None:
    cat = catalog()
    cat.write("all.yaml", dump(location("./b.yaml", "./all.yaml"), component("from-a")))
    cat.write("b.yaml", dump(location("./all.yaml", "./b.yaml", name="b"), component("from-b")))
    report = cat.sync()
    assert report.ok and report.problems == []
    assert report.sources[0].files_read == 2
    assert cat.refs() == {"component:default/from-a", "component:default/from-b"}


def test_targets_outside_the_root_are_refused_and_never_read(
    catalog: CatalogFactory, tmp_path: Path
) -> None:
    cat = catalog()
    outside = tmp_path / "outside"
    outside.mkdir()
    secret = outside / "secret.yaml"
    secret.write_text(dump(component("secret")))
    (cat.root / "link.yaml").symlink_to(secret)
    (cat.root / "linkdir").symlink_to(outside, target_is_directory=True)
    escaping = [
        "../../etc/passwd",
        "../outside/secret.yaml",
        str(secret),
        "/etc/passwd",
        "../outside/*.yaml",
        "./link.yaml",
        "./linkdir/secret.yaml",
        "./sub/../../outside/secret.yaml",
    ]
    cat.write("all.yaml", dump(location(*escaping), component("inside")))
    report = cat.sync()
    assert report.ok
    assert cat.refs() == {"component:default/inside"}
    assert cat.problems() == [
        Problem(
            "error",
            f'target "{target}" resolves outside the source root {cat.root.resolve()}; not read',
            "all.yaml",
            1,
            "location:default/loc",
        )
        for target in escaping
    ]


def test_an_entry_file_outside_its_root_fails_the_source(
    tmp_path: Path, make_app: Any, db_url: str
) -> None:
    (tmp_path / "repo").mkdir()
    (tmp_path / "all.yaml").write_text(dump(component("x")))
    source = {"type": "file", "name": "main", "target": str(tmp_path / "all.yaml"),
              "root": str(tmp_path / "repo")}  # fmt: skip
    app = make_app(sources=[source], db_url=db_url)
    report = app.services.sync.run()
    assert not report.ok
    assert report.sources[0].error == (
        f"source main: {tmp_path / 'all.yaml'} is outside its root directory {tmp_path / 'repo'}"
    )
    assert app.services.reader.count() == 0


def test_multi_document_files_give_every_entity_with_its_line(catalog: CatalogFactory) -> None:
    cat = catalog()
    cat.write("all.yaml", dump(component("one"), group("team-a"), component("two")))
    cat.sync()
    lines = {
        ref: cat.app.services.reader.get(ref).source_line  # type: ignore[union-attr]
        for ref in cat.refs()
    }
    assert lines == {"component:default/one": 1, "group:default/team-a": 10,
                     "component:default/two": 18}  # fmt: skip


def test_presence_optional_makes_a_missing_target_fine(catalog: CatalogFactory) -> None:
    cat = catalog()
    cat.write(
        "all.yaml",
        dump(
            location("./maybe.yaml", "./maybe/*.yaml", name="optional", presence="optional"),
            location("./must.yaml", name="required"),
            component("kept"),
        ),
    )
    cat.sync()
    assert cat.refs() == {"component:default/kept"}
    assert [str(p) for p in cat.problems()] == ["must.yaml: file not found (a target of all.yaml)"]


def test_a_directory_named_as_a_target_is_an_error(catalog: CatalogFactory) -> None:
    cat = catalog()
    (cat.root / "services").mkdir()
    cat.write("all.yaml", dump(location("./services"), component("kept")))
    cat.sync()
    assert cat.refs() == {"component:default/kept"}
    assert [str(p) for p in cat.problems()] == [
        "services: target is a directory, not a catalog file (a target of all.yaml)"
    ]


def test_targets_of_other_location_types_are_warned_about(catalog: CatalogFactory) -> None:
    cat = catalog()
    cat.write(
        "all.yaml",
        dump(location("https://github.com/o/r/blob/main/catalog-info.yaml", type="url"),
             component("kept")),
    )  # fmt: skip
    cat.sync()
    assert cat.refs() == {"component:default/kept"}
    [problem] = cat.problems()
    assert problem.level == "warning"
    assert "of type url is not followed by a file source" in problem.message


# --- File source: placeholders ------------------------------------------------------------


OPENAPI = "openapi: 3.0.0\ninfo:\n  title: Payments\n  version: 1.0.0\npaths: {}\n"


def api(name: str, definition: Any, **spec: Any) -> dict[str, Any]:
    return {
        "apiVersion": V1,
        "kind": "API",
        "metadata": {"name": name},
        "spec": {"type": "openapi", "lifecycle": "production", "owner": "team-a",
                 "definition": definition, **spec},
    }  # fmt: skip


def test_placeholders_are_resolved_relative_to_the_entity_file(catalog: CatalogFactory) -> None:
    cat = catalog()
    cat.write("all.yaml", location("./apis/payments.yaml"))
    cat.write(
        "apis/payments.yaml",
        api(
            "payments-rest",
            {"$text": "./specs/openapi.yaml"},
            limits={"$json": "../data/limits.json"},
            servers={"$yaml": "./specs/servers.yaml"},
        ),
    )
    cat.write("apis/specs/openapi.yaml", OPENAPI)
    cat.write("data/limits.json", json.dumps({"rps": 100, "burst": [1, 2]}))
    cat.write("apis/specs/servers.yaml", "- url: https://pay.example\n  env: prod\n")
    report = cat.sync()
    assert report.problems == []
    spec = cat.spec("api:default/payments-rest")
    assert spec["definition"] == OPENAPI
    assert spec["limits"] == {"rps": 100, "burst": [1, 2]}
    assert spec["servers"] == [{"url": "https://pay.example", "env": "prod"}]


def test_an_unresolvable_placeholder_keeps_the_entity_with_a_warning(
    catalog: CatalogFactory, tmp_path: Path
) -> None:
    cat = catalog()
    (tmp_path / "outside.yaml").write_text(OPENAPI)
    cat.write("all.yaml", location("./apis.yaml"))
    cat.write(
        "apis.yaml",
        dump(
            api("missing", {"$text": "./nope.yaml"}),
            api("remote", {"$text": "https://raw.example/openapi.yaml"}),
            api("escaping", {"$text": "../../outside.yaml"}),
            api("bad-json", {"$text": "./ok.yaml"}, extra={"$json": "./broken.json"}),
            api("number", {"$text": 5}),
        ),
    )
    cat.write("ok.yaml", OPENAPI)
    cat.write("broken.json", "{not json")
    report = cat.sync()
    assert report.ok
    assert cat.refs() == {
        "api:default/missing",
        "api:default/remote",
        "api:default/escaping",
        "api:default/bad-json",
        "api:default/number",
    }
    assert cat.spec("api:default/missing")["definition"] == {"$text": "./nope.yaml"}
    assert cat.spec("api:default/bad-json")["definition"] == OPENAPI
    assert cat.spec("api:default/bad-json")["extra"] == {"$json": "./broken.json"}
    warnings = cat.problems()
    # Each names its entity and the placeholder's own line, not its document's first line.
    lines = (cat.root / "apis.yaml").read_text().split("\n")

    def line_of(text: str, after: int = 0) -> int:
        return next(i + 1 for i, line in enumerate(lines) if i >= after and text in line)

    assert [(p.level, p.file, p.line, p.entity) for p in warnings] == [
        ("warning", "apis.yaml", line_of("./nope.yaml"), "api:default/missing"),
        ("warning", "apis.yaml", line_of("https://raw.example"), "api:default/remote"),
        ("warning", "apis.yaml", line_of("../../outside.yaml"), "api:default/escaping"),
        ("warning", "apis.yaml", line_of("./broken.json"), "api:default/bad-json"),
        ("warning", "apis.yaml", line_of("$text", line_of("name: number")), "api:default/number"),
    ]
    assert all(p.line not in document_lines(cat.root / "apis.yaml") for p in warnings)
    assert [p.message.split(": ", 1) for p in warnings] == [
        ["placeholder $text './nope.yaml' kept unresolved", "file not found"],
        ["placeholder $text 'https://raw.example/openapi.yaml' kept unresolved",
         "remote URLs are not fetched by a file source"],
        ["placeholder $text '../../outside.yaml' kept unresolved",
         "it points outside the source root"],
        ["placeholder $json './broken.json' kept unresolved",
         "cannot parse broken.json: Expecting property name enclosed in double quotes: "
         "line 1 column 2 (char 1)"],
        ["placeholder $text 5 kept unresolved",
         "its value must be a file path or URL, a string, not number"],
    ]  # fmt: skip
    assert cat.spec("api:default/number")["definition"] == {"$text": 5}


# --- Sync: incremental, duplicates, removals ----------------------------------------------


def test_a_resync_with_no_change_parses_no_file(catalog: CatalogFactory) -> None:
    cat = catalog()
    cat.write("all.yaml", location("./a.yaml", "./b.yaml"))
    cat.write("a.yaml", dump(component("a1"), component("a2")))
    cat.write("b.yaml", component("b1"))
    first = cat.sync().sources[0]
    assert (first.files_read, first.files_parsed, len(first.added)) == (3, 3, 3)
    generation = cat.app.db.generation()

    second = cat.sync().sources[0]
    assert (second.files_read, second.files_parsed) == (3, 0)
    assert not second.changed
    assert cat.app.db.generation() == generation
    assert cat.refs() == {"component:default/a1", "component:default/a2", "component:default/b1"}

    cat.write("b.yaml", component("b1", owner="team-b"))
    third = cat.sync().sources[0]
    assert (third.files_read, third.files_parsed) == (3, 1)
    assert third.owner_changed == [
        ("component:default/b1", "group:default/team-a", "group:default/team-b")
    ]
    assert cat.app.db.generation() > generation


def test_a_sync_in_a_fresh_process_skips_the_files_whose_stored_stat_holds(
    catalog: CatalogFactory,
) -> None:
    cat = catalog()
    cat.write("all.yaml", location("./a.yaml", "./b.yaml"))
    a = cat.write("a.yaml", component("a1"))
    b = cat.write("b.yaml", component("b1"))
    cat.sync()
    # Files written just before a sync are not trusted by stat (the racy window): store what a
    # sync seconds later would have, and for a.yaml a hash no file has, so that a skip shows.
    with cat.app.db.engine.begin() as conn:
        for path in (cat.root / "all.yaml", a, b):
            info = path.stat()
            key = (
                f"{info.st_size}:{info.st_mtime_ns}:{info.st_ctime_ns}:{info.st_ino}:{info.st_dev}"
            )
            values: dict[str, Any] = {"stat": key}
            if path == a:
                values["sha256"] = "0" * 64
            conn.execute(
                update(catalog_files).where(catalog_files.c.path == path.name).values(**values)
            )

    fresh = catalog()  # another app on the same database: nothing remembered in memory
    report = fresh.sync().sources[0]
    assert (report.files_read, report.files_parsed, report.changed) == (3, 0, False)

    os.utime(b, ns=(b.stat().st_atime_ns, b.stat().st_mtime_ns + 10**9))  # same content
    report = catalog().sync().sources[0]
    assert (report.files_parsed, report.changed) == (0, False)  # read, hashed: unchanged
    with cat.app.db.engine.connect() as conn:
        stats = dict(conn.execute(select(catalog_files.c.path, catalog_files.c.stat)).all())
    assert stats["b.yaml"] is None  # its new stat is too recent to trust: read it next time
    assert stats["a.yaml"] is not None

    a.write_text(dump(component("a1", owner="team-b")))
    report = catalog().sync().sources[0]
    assert report.files_parsed == 1 and report.owner_changed


def test_a_duplicate_goes_to_the_first_location_with_a_warning(catalog: CatalogFactory) -> None:
    cat = catalog()
    cat.write("all.yaml", location("./first.yaml", "./second.yaml"))
    cat.write("first.yaml", component("shared", owner="team-first"))
    cat.write("second.yaml", dump(component("other"), component("shared", owner="team-second")))
    cat.sync()
    assert cat.spec("component:default/shared")["owner"] == "team-first"
    assert "component:default/other" in cat.refs()
    assert cat.problems() == [
        Problem(
            "warning",
            "Detected conflicting entityRef component:default/shared already referenced by "
            "first.yaml and now also second.yaml; the first one is kept",
            "second.yaml",
            document_lines(cat.root / "second.yaml")[1],
            "component:default/shared",
        )
    ]
    # A re-sync does not let the second one win by being the only file parsed again.
    cat.write("second.yaml", dump(component("other", owner="team-x"),
                                  component("shared", owner="team-second")))  # fmt: skip
    cat.sync()
    assert cat.spec("component:default/shared")["owner"] == "team-first"


def test_a_ref_repeated_in_one_file_is_the_files_last_document_as_in_backstage(
    catalog: CatalogFactory,
) -> None:
    # Giant Swarm's catalogs/charts.yaml repeats cluster-autoscaler-app: Backstage shows the
    # later document (same location key, it overwrites), with no warning.
    cat = catalog()
    cat.write("all.yaml", location("./charts.yaml", "./other.yaml"))
    cat.write(
        "charts.yaml",
        dump(
            component("autoscaler", owner="team-turtles"),
            component("between"),
            component("autoscaler", owner="team-tenet"),
        ),
    )
    cat.write("other.yaml", component("autoscaler", owner="team-other"))
    cat.sync()
    assert cat.spec("component:default/autoscaler")["owner"] == "team-tenet"
    assert "component:default/between" in cat.refs()
    # Across files the first file still wins, with the conflict warning (on the other file).
    [problem] = cat.problems()
    assert (problem.file, problem.entity) == ("other.yaml", "component:default/autoscaler")
    assert problem.message.startswith("Detected conflicting entityRef")


def test_when_the_first_location_drops_a_duplicate_the_next_one_takes_over(
    catalog: CatalogFactory,
) -> None:
    cat = catalog()
    cat.write("all.yaml", location("./first.yaml", "./second.yaml"))
    cat.write("first.yaml", dump(component("keep-first"), component("shared", owner="team-1")))
    cat.write("second.yaml", component("shared", owner="team-2"))
    cat.sync()
    cat.write("first.yaml", component("keep-first"))
    report = cat.sync().sources[0]
    assert cat.spec("component:default/shared")["owner"] == "team-2"
    assert report.owner_changed == [
        ("component:default/shared", "group:default/team-1", "group:default/team-2")
    ]
    assert report.removed == []
    assert cat.problems() == []


def test_a_duplicate_across_sources_goes_to_the_first_source(
    tmp_path: Path, make_app: Any, db_url: str
) -> None:
    for name, owner in (("one", "team-1"), ("two", "team-2")):
        (tmp_path / name).mkdir()
        (tmp_path / name / "all.yaml").write_text(dump(component("shared", owner=owner)))
    sources = [{"type": "file", "name": name, "target": str(tmp_path / name / "all.yaml")}
               for name in ("one", "two")]  # fmt: skip
    app = make_app(sources=sources, db_url=db_url)
    entity = app.services.reader.get("component:default/shared")
    assert entity is not None and entity.spec["owner"] == "team-1"
    report = app.services.sync.run(force=True)
    [conflict] = report.sources[1].problems
    assert conflict.level == "warning"
    assert conflict.message.startswith("Detected conflicting entityRef component:default/shared")


def test_entities_no_longer_emitted_are_removed(catalog: CatalogFactory) -> None:
    cat = catalog()
    cat.write("all.yaml", location("./a.yaml", "./b.yaml"))
    cat.write("a.yaml", dump(component("stays"), component("goes")))
    cat.write("b.yaml", dump(component("with-its-file")))
    cat.sync()
    cat.write("a.yaml", component("stays"))
    cat.write("all.yaml", location("./a.yaml"))
    report = cat.sync().sources[0]
    assert sorted(report.removed) == ["component:default/goes", "component:default/with-its-file"]
    assert cat.refs() == {"component:default/stays"}
    # Relations emitted by removed entities go with them.
    assert [str(r) for r in cat.app.services.reader.related("group:default/team-a", "ownerOf")] == [
        "component:default/stays"
    ]


def test_a_source_that_fails_keeps_its_last_good_entities(catalog: CatalogFactory) -> None:
    cat = catalog()
    entry = cat.write("all.yaml", dump(component("survivor"), group("team-a")))
    assert cat.sync().ok
    first_success = _utc(cat.status().last_success)
    entry.unlink()
    report = cat.sync()
    assert not report.ok
    assert report.sources[0].error == "source main: all.yaml: file not found"
    assert cat.refs() == {"component:default/survivor", "group:default/team-a"}
    status = cat.status()
    assert status.last_error == "source main: all.yaml: file not found"
    assert _utc(status.last_success) == first_success
    assert _utc(status.last_attempt) > first_success
    assert status.entity_count == 2
    # The bot keeps answering from the last good catalog.
    assert cat.app.services.reader.resolve("survivor").how == "name"

    cat.write("all.yaml", component("survivor"))
    assert cat.sync().ok
    assert cat.status().last_error is None
    assert cat.refs() == {"component:default/survivor"}


def test_problems_are_recorded_per_file_and_entity_with_lines(catalog: CatalogFactory) -> None:
    cat = catalog()
    cat.write("all.yaml", location("./good.yaml", "./entities.yaml", "./syntax.yaml"))
    cat.write("good.yaml", component("fine"))
    bad_name = component("bad name")
    bare_dep = component("bare-dep", dependsOn=["artists-db"])
    cat.write("entities.yaml", dump(component("ok-neighbour"), bad_name, bare_dep))
    cat.write("syntax.yaml", "apiVersion: backstage.io/v1alpha1\nkind: [Component\n")
    cat.sync()
    assert cat.refs() == {"component:default/fine", "component:default/ok-neighbour"}
    _, bad_line, bare_line = document_lines(cat.root / "entities.yaml")
    assert cat.problems_of("entities.yaml") == [
        Problem(
            "error",
            '"metadata.name" is not valid; expected a string that is sequences of [a-zA-Z0-9] '
            'separated by any of [-_.], at most 63 characters in total but found "bad name"',
            "entities.yaml",
            bad_line,
            "component:default/bad name",
        ),
        Problem(
            "error",
            '"spec.dependsOn": Entity reference "artists-db" had missing or empty kind '
            '(e.g. did not start with "component:" or similar)',
            "entities.yaml",
            bare_line,
            "component:default/bare-dep",
        ),
    ]
    [syntax] = cat.problems_of("syntax.yaml")
    assert (syntax.level, syntax.line) == ("error", 3)
    assert syntax.message.startswith("YAML error: ")
    # Fixing the files clears their problems.
    cat.write("entities.yaml", dump(component("ok-neighbour"), component("bad-name")))
    cat.write("syntax.yaml", component("was-broken"))
    cat.sync()
    assert cat.problems() == []
    assert "component:default/was-broken" in cat.refs()


def test_every_sync_records_its_changes_with_a_timestamp(catalog: CatalogFactory) -> None:
    cat = catalog()
    cat.write("all.yaml", dump(component("a"), component("b"), component("c")))
    cat.sync()
    first_sync = cat.clock.now
    cat.write(
        "all.yaml",
        dump(component("a", lifecycle="deprecated"), component("b", owner="team-b"),
             component("d")),
    )  # fmt: skip
    cat.sync()
    second_sync = cat.clock.now
    cat.sync()  # nothing changed: nothing recorded
    recorded = cat.changes()
    assert [row[1:] for row in recorded] == [
        ("added", "component:default/a", None, "group:default/team-a"),
        ("added", "component:default/b", None, "group:default/team-a"),
        ("added", "component:default/c", None, "group:default/team-a"),
        ("modified", "component:default/a", "group:default/team-a", "group:default/team-a"),
        ("owner_changed", "component:default/b", "group:default/team-a", "group:default/team-b"),
        ("added", "component:default/d", None, "group:default/team-a"),
        ("removed", "component:default/c", "group:default/team-a", None),
    ]
    # One timestamp per sync, the app clock's time of that sync.
    assert {row[0] for row in recorded[:3]} == {first_sync}
    assert {row[0] for row in recorded[3:]} == {second_sync}


def test_a_file_that_turns_into_invalid_yaml_keeps_its_entities(catalog: CatalogFactory) -> None:
    cat = catalog()
    cat.write("all.yaml", location("./team.yaml", "./other.yaml"))
    cat.write("team.yaml", dump(component("kept-1"), component("kept-2")))
    cat.write("other.yaml", component("other"))
    cat.sync()
    cat.write("team.yaml", "apiVersion: backstage.io/v1alpha1\nkind: Component\nmetadata: {\n")
    cat.write("other.yaml", component("other", owner="team-b"))
    report = cat.sync().sources[0]
    assert report.removed == []
    assert cat.refs() == {"component:default/kept-1", "component:default/kept-2",
                          "component:default/other"}  # fmt: skip
    assert cat.spec("component:default/other")["owner"] == "team-b"
    problem, dropped = cat.problems()
    assert (problem.file, problem.line) == ("team.yaml", 4)
    # Backstage would fail all.yaml's Location step and show none of its targets' entities:
    # Callboard keeps them and says so, once, on the Location's file.
    assert (dropped.level, dropped.file, dropped.entity) == ("warning", "all.yaml", None)
    assert dropped.message == (
        "Backstage would not show the 3 entities under this Location (component:default/kept-1, "
        "component:default/kept-2, component:default/other): its target team.yaml fails: "
        + problem.message
    )
    # Still broken on the next sync: still kept, and each problem is still reported once.
    cat.sync()
    assert "component:default/kept-1" in cat.refs()
    assert cat.problems() == [problem, dropped]
    cat.write("other.yaml", component("other", owner="team-c"))  # a sync that writes
    cat.sync()
    assert cat.problems() == [problem, dropped]
    # Fixed: both go.
    cat.write("team.yaml", dump(component("kept-1"), component("kept-2")))
    cat.sync()
    assert cat.problems() == []


def test_a_location_that_turns_invalid_keeps_what_it_reached(catalog: CatalogFactory) -> None:
    cat = catalog()
    cat.write("all.yaml", location("./team.yaml"))
    cat.write("team.yaml", component("reached"))
    cat.sync()
    cat.write("all.yaml", "apiVersion: backstage.io/v1alpha1\nkind: Location\nspec: [\n")
    report = cat.sync()
    assert report.ok
    assert cat.refs() == {"component:default/reached"}


def test_an_entity_that_turns_invalid_keeps_its_last_good_version(catalog: CatalogFactory) -> None:
    cat = catalog()
    cat.write("all.yaml", dump(component("steady", system="old"), component("sibling")))
    cat.sync()
    broken = component("steady", system="new")
    broken["spec"]["lifecycle"] = 42  # wrong type
    cat.write("all.yaml", dump(broken, component("sibling", system="updated")))
    report = cat.sync().sources[0]
    assert report.removed == []
    assert cat.spec("component:default/steady")["system"] == "old"
    assert cat.spec("component:default/sibling")["system"] == "updated"
    [problem] = cat.problems()
    assert (problem.file, problem.line) == ("all.yaml", 1)
    assert problem.entity == "component:default/steady"
    assert "lifecycle" in problem.message


def test_an_entity_with_a_repeated_key_keeps_its_last_good_version(catalog: CatalogFactory) -> None:
    cat = catalog()
    cat.write("all.yaml", dump(component("steady", system="old"), component("sibling")))
    cat.sync()
    text = dump(component("steady", system="new"), component("sibling", system="updated"))
    cat.write("all.yaml", text.replace("  system: new\n", "  system: new\n  system: newer\n"))
    cat.sync()
    assert cat.spec("component:default/steady")["system"] == "old"
    assert cat.spec("component:default/sibling")["system"] == "updated"
    problem, dropped = cat.problems()
    assert problem.file == "all.yaml" and "duplicate key 'system'" in problem.message
    # Backstage's parser refuses the file's document, so its config location shows nothing.
    assert dropped.file == "all.yaml"
    assert dropped.message.startswith("Backstage would not show the 2 entities under this source's")


def test_a_failed_write_leaves_the_previous_catalog_intact(
    catalog: CatalogFactory, db_url: str
) -> None:
    cat = catalog()
    cat.write("all.yaml", dump(component("a"), component("b")))
    cat.sync()
    # The database itself refuses the write half-way (after entities, at the change log).
    with cat.app.db.engine.begin() as conn:
        if cat.app.db.is_sqlite:
            conn.execute(text(
                "CREATE TRIGGER refuse BEFORE INSERT ON changes "
                "BEGIN SELECT RAISE(ABORT, 'disk full (test)'); END"
            ))  # fmt: skip
        else:
            conn.execute(text(
                "CREATE FUNCTION refuse() RETURNS trigger AS "
                "$$ BEGIN RAISE EXCEPTION 'disk full (test)'; END $$ LANGUAGE plpgsql"
            ))  # fmt: skip
            conn.execute(text(
                "CREATE TRIGGER refuse BEFORE INSERT ON changes "
                "FOR EACH ROW EXECUTE FUNCTION refuse()"
            ))  # fmt: skip
    cat.write("all.yaml", dump(component("a", owner="team-b"), component("c")))
    report = cat.sync()
    assert not report.ok
    error = report.sources[0].error
    assert error is not None
    assert error.startswith("source main: the database refused the sync (")
    assert "disk full (test)" in error
    assert cat.status().last_error == error
    # Nothing of the failed sync was written: entities, relations, files, changes.
    assert len(cat.changes()) == 2
    assert cat.refs() == {"component:default/a", "component:default/b"}
    assert cat.spec("component:default/a")["owner"] == "team-a"
    assert owners(cat, "component:default/a") == ["group:default/team-a"]
    with cat.app.db.engine.begin() as conn:
        conn.execute(text("DROP TRIGGER refuse" + ("" if cat.app.db.is_sqlite else " ON changes")))
    recovered = cat.sync().sources[0]
    assert (sorted(recovered.added), recovered.removed, recovered.owner_changed) == (
        ["component:default/c"],
        ["component:default/b"],
        [("component:default/a", "group:default/team-a", "group:default/team-b")],
    )


def test_long_free_text_and_long_refs_do_not_break_the_store(catalog: CatalogFactory) -> None:
    # spec.type and lifecycle are free strings; refs may name things that cannot exist.
    cat = catalog()
    long_type = component("long-type")
    long_type["spec"]["type"] = "t" * 300
    long_type["spec"]["lifecycle"] = "l" * 300
    cat.write(
        "all.yaml",
        dump(long_type, component("long-owner", owner="group:" + "o" * 400),
             component("n" * 400)),
    )  # fmt: skip
    report = cat.sync()
    assert report.ok
    assert cat.refs() == {"component:default/long-type"}
    assert cat.spec("component:default/long-type")["type"] == "t" * 300
    owner, name = cat.problems()
    assert (owner.line, owner.entity) == (document_lines(cat.root / "all.yaml")[1],
                                          "component:default/long-owner")  # fmt: skip
    assert owner.message == (
        f'"spec.owner": entity reference "group:default/{"o" * 63}…" cannot name any entity: '
        "its name has 400 characters, at most 63 are allowed"
    )
    assert name.line == document_lines(cat.root / "all.yaml")[2]
    assert name.message.startswith('"metadata.name" is not valid')
    assert name.entity is not None and name.entity.startswith("component:default/nnnn")


# --- Bad input corpus ----------------------------------------------------------------------


GOOD_REFS = {
    "component:default/good-one",
    "component:default/good-two",
    "component:default/good-three",
    "group:default/team-a",
    "api:default/good-api",
}


def write_corpus(cat: Catalog, outside: Path) -> dict[str, str]:
    """The issue's bad-input list next to good entities; returns file -> expected reason."""
    outside.mkdir(exist_ok=True)
    (outside / "secret.yaml").write_text(dump(component("secret")))
    cat.write(
        "all.yaml",
        dump(
            location(
                "./good.yaml",
                "./bad/invalid.yaml",
                "./bad/bomb.yaml",
                "./bad/huge.yaml",
                "./bad/deep.yaml",
                "./bad/types.yaml",
                "../../etc/passwd",
                "../outside/secret.yaml",
                "./bad/loop.yaml",
                "./bad/binary.yaml",
                "./bad/latin1.yaml",
                "./bad/a-directory",
                "./bad/recursive.yaml",
                "./bad/not-objects.yaml",
                "./more-good/*.yaml",
            ),
            component("good-one"),
        ),
    )
    cat.write("good.yaml", dump(group("team-a"), api("good-api", OPENAPI)))
    cat.write("more-good/three.yaml", component("good-three"))
    cat.write("more-good/two.yaml", component("good-two"))
    cat.write("bad/invalid.yaml", "apiVersion: backstage.io/v1alpha1\nkind: Component\n  oops: [\n")
    lol = ['lol0: &lol0 "lol"'] + [
        f"lol{i}: &lol{i} [{', '.join([f'*lol{i - 1}'] * 10)}]" for i in range(1, 10)
    ]
    cat.write("bad/bomb.yaml", "\n".join(lol) + "\n")
    with (cat.root / "bad" / "huge.yaml").open("w") as f:
        f.write(dump(component("in-huge-file")))
        line = "# " + "x" * 1022 + "\n"
        for _ in range(50 * 1024):
            f.write(line)
    cat.write("bad/deep.yaml", "spec: " + "[" * 100_000 + "]" * 100_000 + "\n")
    wrong: list[dict[str, Any]] = [
        {"apiVersion": V1, "kind": "Component", "metadata": {"name": 2001},
         "spec": {"type": "service", "lifecycle": "production", "owner": "a"}},
        {"apiVersion": V1, "kind": "Component", "metadata": "not a mapping", "spec": {}},
        {"apiVersion": V1, "kind": 5, "metadata": {"name": "kind-number"}},
        {**component("owner-list"), "spec": {"type": "service", "lifecycle": "production",
                                             "owner": ["a", "b"]}},
        {**component("tags-text"), "metadata": {"name": "tags-text", "tags": "go"}},
        {**component("ann-number"), "metadata": {"name": "ann-number", "annotations": {"a": 1}}},
        {"apiVersion": V1, "kind": "Component", "metadata": {"name": "spec-list"}, "spec": [1]},
        {**location(name="targets-text"), "spec": {"targets": "./good.yaml"}},
    ]  # fmt: skip
    cat.write("bad/types.yaml", dump(*wrong))
    cat.write("bad/loop.yaml", location("../all.yaml", "./loop.yaml", name="loop"))
    cat.write("bad/binary.yaml", b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR" + bytes(range(256)) * 4)
    cat.write("bad/latin1.yaml", "metadata:\n  name: caf\xe9\n".encode("latin-1"))
    (cat.root / "bad" / "a-directory").mkdir()
    cat.write("bad/recursive.yaml", "apiVersion: x\nspec: &s\n  self: *s\n")
    cat.write("bad/not-objects.yaml", "- a list\n---\njust a string\n")
    return {
        "bad/invalid.yaml": "YAML error",
        "bad/bomb.yaml": "alias bomb",
        "bad/huge.yaml": "over the 10 MB limit for a catalog file; not read",
        "bad/deep.yaml": "nesting deeper than 200 levels",
        "bad/types.yaml": "must be a string",
        "all.yaml": "resolves outside the source root",
        "bad/binary.yaml": "binary data",
        "bad/latin1.yaml": "not valid UTF-8",
        "bad/a-directory": "target is a directory",
        "bad/recursive.yaml": "recursive document",
        "bad/not-objects.yaml": "Expected object at root",
    }


@pytest.mark.parametrize("workers", [0, 2], ids=["in-process", "parse-workers"])
def test_the_bad_input_corpus_is_reported_and_every_good_entity_kept(
    catalog: CatalogFactory, tmp_path: Path, workers: int
) -> None:
    cat = catalog()
    expected = write_corpus(cat, tmp_path / "outside")
    (source,) = cat.app.services.sync.sources
    assert isinstance(source, FileSource)
    source.parse_workers, source.parallel_min_bytes = workers, 0  # even for these few files
    report = cat.sync()
    assert report.ok
    assert cat.refs() == GOOD_REFS
    found = cat.problems()
    for file, reason in expected.items():
        assert any(reason in p.message for p in found if p.file == file), (file, reason, found)
    # Every problem names its file; none is a crash report.
    assert all(p.file for p in found)
    assert not any("Traceback" in p.message or "Error:" in p.message for p in found)
    # Two escaping targets, reported on the Location that names them.
    escapes = [p for p in found if "outside the source root" in p.message]
    assert [(p.file, p.entity) for p in escapes] == [("all.yaml", "location:default/loc")] * 2
    # The wrong-typed documents are each reported, at their own lines.
    typed = [p for p in found if p.file == "bad/types.yaml"]
    assert {p.line for p in typed} == set(document_lines(cat.root / "bad/types.yaml"))
    # The loop is harmless: every reachable file is read once (the escapes not at all).
    assert report.sources[0].files_read == 15

    # A second sync over the same bad files changes nothing and loses nothing.
    again = cat.sync()
    assert again.ok and not again.sources[0].changed
    assert cat.refs() == GOOD_REFS
    assert sorted(map(str, cat.problems())) == sorted(map(str, found))


def test_the_bad_input_corpus_also_syncs_from_a_worker_thread(
    catalog: CatalogFactory, tmp_path: Path
) -> None:
    # The running bot syncs in a thread (smaller stacks than the main thread on some systems).
    import asyncio

    cat = catalog()
    write_corpus(cat, tmp_path / "outside")
    report = asyncio.run(cat.app.services.sync.run_async())
    assert report.ok
    assert cat.refs() == GOOD_REFS


@pytest.mark.skipif(not hasattr(os, "mkfifo"), reason="needs named pipes")
def test_a_named_pipe_as_target_is_refused_instead_of_blocking(catalog: CatalogFactory) -> None:
    cat = catalog()
    os.mkfifo(cat.root / "pipe.yaml")
    cat.write("all.yaml", dump(location("./pipe.yaml"), component("kept")))
    cat.sync()
    assert cat.refs() == {"component:default/kept"}
    assert [str(p) for p in cat.problems()] == [
        "pipe.yaml: not a regular file; not read (a target of all.yaml)"
    ]


def test_changes_and_status_are_stamped_with_the_apps_clock(catalog: CatalogFactory) -> None:
    """Digests read "since the last digest": the stamps must follow the app's clock."""
    cat = catalog()
    cat.write("all.yaml", component("payments-api"))
    cat.sync()
    first = cat.clock.now
    cat.write("all.yaml", component("payments-api", owner="team-b"))
    cat.sync()
    second = cat.clock.now
    assert [(at, change) for at, change, *_ in cat.changes()] == [
        (first, "added"),
        (second, "owner_changed"),
    ]
    assert _utc(cat.status().last_success) == second


def test_parse_workers_read_the_bad_input_corpus_exactly_as_the_sync_itself(
    catalog: CatalogFactory, tmp_path: Path
) -> None:
    """A large sync parses in worker processes: what it reads must not differ in anything."""
    cat = catalog()
    write_corpus(cat, tmp_path / "outside")
    tree = FileTree(cat.root)
    here = walk(tree, "all.yaml", {}, prepare=True)
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    there = walk(tree, "all.yaml", {}, workers=2, parallel_min_bytes=0, prepare=True)
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    assert after.ru_utime + after.ru_stime > before.ru_utime + before.ru_stime  # they ran

    def seen(read: FileRead) -> tuple[Any, ...]:
        assert read.prepared is not None or not read.parsed
        return (read.path, read.sha256, read.children, read.problems, read.complete,
                read.prepared)  # fmt: skip

    assert [seen(r) for r in there] == [seen(r) for r in here]
    assert sum(len(r.prepared[0]) for r in there if r.prepared) == len(GOOD_REFS)


# --- Hardening: one entry cannot stall a source; walks and placeholders are bounded ----------


def test_one_entity_the_store_cannot_hold_does_not_stall_the_source(
    catalog: CatalogFactory,
) -> None:
    cat = catalog()
    cat.write("all.yaml", dump(component("payments-api", owner="team-old")))
    cat.sync()
    cat.write(
        "all.yaml",
        dump(
            component("payments-api", owner="team-new"),
            {**component("placeholder"), "metadata": {"name": "placeholder",
             "title": {"$text": "./TITLE.txt"}, "description": {"$text": "./README.md"}}},
            {**component("nul"), "metadata": {"name": "nul", "title": "Null\0 title",
             "description": "a\0b", "annotations": {"x\0y": "z\0"}}},
            {**component("long"), "metadata": {"name": "long", "title": "T" * 5000,
             "description": "D" * 50_000}},
        ),
    )  # fmt: skip
    report = cat.sync()
    assert report.ok, report.summary()
    source = report.sources[0]
    assert source.owner_changed == [
        ("component:default/payments-api", "group:default/team-old", "group:default/team-new")
    ]
    assert cat.refs() == {
        "component:default/payments-api",
        "component:default/placeholder",
        "component:default/nul",
        "component:default/long",
    }
    with cat.app.db.engine.connect() as conn:
        rows = {
            r.ref: r
            for r in conn.execute(select(entities.c.ref, entities.c.title, entities.c.description))
        }
    assert rows["component:default/placeholder"].title is None
    assert rows["component:default/placeholder"].description is None
    assert rows["component:default/nul"].title == "Null title"
    assert rows["component:default/nul"].description == "ab"
    assert len(rows["component:default/long"].title) == 500
    assert len(rows["component:default/long"].description) == 20_000
    placeholder = cat.app.services.reader.get("component:default/placeholder")
    assert placeholder is not None and placeholder.title is None
    assert placeholder.raw["metadata"]["title"] == {"$text": "./TITLE.txt"}  # kept, as promised
    by_entity = {(p.entity, p.file): p.message for p in cat.problems() if p.entity}
    assert by_entity[("component:default/nul", "all.yaml")].startswith(
        "NUL characters removed from metadata.title, metadata.description, metadata.annotations.x"
    )
    messages = [p.message for p in cat.problems() if p.entity == "component:default/long"]
    assert messages == [
        '"metadata.title" has 5,000 characters; cut to 500 (the most Callboard keeps)',
        '"metadata.description" has 50,000 characters; cut to 20,000 (the most Callboard keeps)',
    ]


def _refuse_entity_named(cat: Catalog, name: str) -> None:
    with cat.app.db.engine.begin() as conn:
        if cat.app.db.is_sqlite:
            conn.execute(text(
                f"CREATE TRIGGER refuse BEFORE INSERT ON entities WHEN NEW.name = '{name}' "
                "BEGIN SELECT RAISE(ABORT, 'refused (test)'); END"
            ))  # fmt: skip
        else:
            conn.execute(text(
                "CREATE FUNCTION refuse() RETURNS trigger AS $$ BEGIN "
                f"IF NEW.name = '{name}' THEN RAISE EXCEPTION 'refused (test)'; END IF; "
                "RETURN NEW; END $$ LANGUAGE plpgsql"
            ))  # fmt: skip
            conn.execute(text(
                "CREATE TRIGGER refuse BEFORE INSERT ON entities "
                "FOR EACH ROW EXECUTE FUNCTION refuse()"
            ))  # fmt: skip


def test_a_row_the_database_refuses_costs_that_entity_only(catalog: CatalogFactory) -> None:
    cat = catalog()
    cat.write("all.yaml", dump(component("payments-api", owner="team-old")))
    cat.sync()
    _refuse_entity_named(cat, "poison")
    cat.write(
        "all.yaml",
        dump(component("payments-api", owner="team-new"), component("poison"),
             component("fresh")),
    )  # fmt: skip
    source = cat.sync().sources[0]
    assert source.ok, source.error
    assert sorted(source.added) == ["component:default/fresh"]
    assert len(source.owner_changed) == 1
    assert cat.refs() == {"component:default/payments-api", "component:default/fresh"}
    assert owners(cat, "component:default/payments-api") == ["group:default/team-new"]
    [refused] = [p for p in cat.problems() if p.entity == "component:default/poison"]
    assert refused.level == "error" and refused.file == "all.yaml"
    assert refused.message.startswith("the database refused this entity (")
    assert "refused (test)" in refused.message and refused.message.endswith("not stored")
    assert sorted(c[1:3] for c in cat.changes()[1:]) == [
        ("added", "component:default/fresh"),
        ("owner_changed", "component:default/payments-api"),
    ]  # nothing recorded for the refused one
    # The file is read again next time: once the database takes it, the entity arrives.
    with cat.app.db.engine.begin() as conn:
        conn.execute(text("DROP TRIGGER refuse" + ("" if cat.app.db.is_sqlite else " ON entities")))
    again = cat.sync().sources[0]
    assert again.added == ["component:default/poison"]
    assert not [p for p in cat.problems() if p.entity == "component:default/poison"]


def _in_thread(work: Callable[[], Any], limit: float = 30.0) -> Any:
    """Run ``work`` in a thread; fail (instead of hanging the suite) if it has not ended."""
    import threading

    result: list[Any] = []
    thread = threading.Thread(target=lambda: result.append(work()), daemon=True)
    thread.start()
    thread.join(limit)
    assert not thread.is_alive(), f"still running after {limit}s"
    return result[0]


def test_a_large_glob_reads_every_match(catalog: CatalogFactory) -> None:
    # A monorepo's ./services/*/catalog-info.yaml: the cap is for runaway patterns only.
    cat = catalog()
    cat.write("all.yaml", location("./services/*/catalog-info.yaml"))
    for i in range(10_100):  # past the 10,000 an earlier cap stopped at
        cat.write(f"services/s{i}/catalog-info.yaml", component(f"s{i}"))
    cat.sync()
    assert len(cat.refs()) == 10_100
    assert cat.problems() == []


def test_a_symlink_loop_under_a_recursive_glob_ends(catalog: CatalogFactory) -> None:
    cat = catalog()
    cat.write("all.yaml", location("./loop/**/*.yaml"))
    cat.write("loop/x.yaml", component("looped"))
    cat.write("loop/deeper/y.yaml", component("deeper"))
    for link in ("l1", "l2", "l3"):
        os.symlink(".", cat.root / "loop" / link)
    report = _in_thread(cat.sync)
    assert report.ok
    assert cat.refs() == {"component:default/looped", "component:default/deeper"}
    assert cat.problems() == []


def test_a_glob_with_too_many_matches_stops_and_says_so(catalog: CatalogFactory) -> None:
    cat = catalog(max_glob_matches=10_000)
    cat.write("all.yaml", location("./loop/*/*/*/*/*/*/*/*/*/*/*.yaml"))
    cat.write("loop/x.yaml", component("looped"))
    for link in ("l1", "l2", "l3"):
        os.symlink(".", cat.root / "loop" / link)
    report = _in_thread(cat.sync)
    assert report.ok
    assert cat.refs() == {"component:default/looped"}
    [problem] = cat.problems()
    assert problem.level == "error" and problem.file == "all.yaml"
    assert problem.message.startswith(
        'target "./loop/*/*/*/*/*/*/*/*/*/*/*.yaml" matches more than 10,000 paths; only the '
    )


def test_placeholder_bytes_are_budgeted_per_file(
    tmp_path: Path, make_app: Any, db_url: str
) -> None:
    root = tmp_path / "repo"
    root.mkdir()
    (root / "big.txt").write_text("x" * 700_000)
    docs = [api(f"a{i}", {"$text": "./big.txt"}) for i in range(30)]
    (root / "all.yaml").write_text(dump(*docs))
    source = {"type": "file", "name": "main", "target": str(root / "all.yaml")}
    app = make_app(
        db_url=db_url,
        catalog={"sources": [source], "placeholder_file_mb": 1, "placeholder_sync_mb": 1},
    )
    with app.db.engine.connect() as conn:
        stored = conn.execute(select(func.sum(func.length(entities.c.data)))).scalar_one()
        found = conn.execute(select(problems.c.level, problems.c.message)).all()
    assert 700_000 < stored < 1_000_000  # one resolved copy, not thirty
    assert len(found) == 29
    assert {level for level, _ in found} == {"error"}
    assert found[0].message == (
        "placeholder $text './big.txt' kept unresolved: the placeholders of this file would "
        "pull in more than 1 MB (catalog.placeholder_file_mb)"
    )
    assert len(app.services.reader.index()) == 30  # every entity is kept


def test_bad_placeholder_budgets_are_config_errors(make_app: Any) -> None:
    from bot.errors import ConfigError

    with pytest.raises(ConfigError, match=r"catalog.placeholder_file_mb must be at least 1"):
        make_app(catalog={"placeholder_file_mb": 0})
    with pytest.raises(
        ConfigError, match=r"catalog.placeholder_sync_mb \(5\) must be at least placeholder_file"
    ):
        make_app(catalog={"placeholder_file_mb": 10, "placeholder_sync_mb": 5})


def test_check_reports_a_placeholder_budget_error_and_exits_1(tmp_path: Path) -> None:
    import subprocess
    import sys

    (tmp_path / "big.txt").write_text("x" * (8 * 2**20))
    (tmp_path / "all.yaml").write_text(
        dump(*[api(f"a{i}", {"$text": "./big.txt"}) for i in range(3)])
    )
    callboard = Path(sys.executable).with_name("callboard")
    env = {k: v for k, v in os.environ.items() if not k.startswith("CALLBOARD_")}
    result = subprocess.run(
        [str(callboard), "check", "all.yaml"],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        env=env,
        timeout=120,  # a hang guard
        check=False,
    )
    assert result.returncode == 1, result.stdout + result.stderr
    assert "the placeholders of this file would pull in more than 20 MB" in result.stdout
    assert result.stderr.strip() == "1 file(s) checked: 1 error(s), 0 warning(s)"


# --- Kinds: catalog.rules and model layers -------------------------------------------------


def ai_resource(name: str) -> dict[str, Any]:
    return {"apiVersion": V1, "kind": "AiResource", "metadata": {"name": name},
            "spec": {"type": "rule", "lifecycle": "production", "owner": "team-a",
                     "category": "style", "rationale": "consistency"}}  # fmt: skip


def mcp_api(name: str) -> dict[str, Any]:
    return {"apiVersion": V1, "kind": "API", "metadata": {"name": name},
            "spec": {"type": "mcp-server", "lifecycle": "production", "owner": "team-a",
                     "remotes": [{"type": "sse", "url": "https://mcp.example/sse"}]}}  # fmt: skip


def test_model_layer_kinds_are_refused_as_a_default_backstage_refuses_them(
    catalog: CatalogFactory,
) -> None:
    cat = catalog()
    cat.write("all.yaml", dump(component("svc"), ai_resource("style-rule"), mcp_api("tools")))
    cat.sync()
    assert cat.refs() == {"component:default/svc"}
    ai, mcp = (p for p in cat.problems() if p.level == "error")
    assert ai.entity == "airesource:default/style-rule"
    assert ai.message.startswith(
        "No processor recognized the entity airesource:default/style-rule as valid, possibly "
        "caused by a foreign kind or apiVersion"
    )
    assert "catalog.model_layers: [ai-resource]" in ai.message
    assert mcp.entity == "api:default/tools"
    assert mcp.message.startswith('"spec.definition" is required for kind API')

    with_layers = catalog(root="layers", model_layers=["ai-resource", "mcp-server"])
    with_layers.write("all.yaml", dump(ai_resource("style-rule"), mcp_api("tools")))
    with_layers.sync()
    assert with_layers.refs() >= {"airesource:default/style-rule", "api:default/tools"}
    assert [p for p in with_layers.problems() if p.level == "error"] == []


def test_catalog_rules_refuse_a_kind_and_fail_its_location_step_as_in_backstage(
    catalog: CatalogFactory,
) -> None:
    cat = catalog(rules=[{"allow": ["Component", "Location"]}])
    cat.write("all.yaml", location("./services.yaml", "./teams.yaml"))
    cat.write("services.yaml", component("svc"))
    cat.write("teams.yaml", group("team-a"))
    cat.sync()
    assert "group:default/team-a" not in cat.refs()
    assert "component:default/svc" in cat.refs()  # Callboard keeps it, and says so below
    refused = [p for p in cat.problems() if p.level == "error"]
    assert [(p.file, p.entity) for p in refused] == [("teams.yaml", "group:default/team-a")]
    assert refused[0].message == (
        "NotAllowedError: Entity group:default/team-a at teams.yaml is not of an allowed kind "
        "for that location (catalog.rules allow component, location)"
    )
    # Backstage's Location step that read teams.yaml fails: svc would not be shown either.
    [dropped] = [p for p in cat.problems() if p.message.startswith("Backstage would not show")]
    assert "(component:default/svc)" in dropped.message and dropped.file == "all.yaml"


def test_a_sources_rules_add_to_the_global_ones_or_to_backstages_default(
    catalog: CatalogFactory,
) -> None:
    # With no catalog.rules, a source's rules add to Backstage's default (Component, API,
    # Location), as a location's own rules do there.
    cat = catalog(source_options={"rules": [{"allow": ["Group"]}]})
    cat.write("all.yaml", dump(component("svc"), group("team-a"), {
        "apiVersion": V1, "kind": "System", "metadata": {"name": "sys"},
        "spec": {"owner": "team-a"}}))  # fmt: skip
    cat.sync()
    assert {"component:default/svc", "group:default/team-a"} <= cat.refs()
    assert "system:default/sys" not in cat.refs()
    [refused] = [p for p in cat.problems() if p.level == "error"]
    assert refused.message.endswith("(catalog.rules allow api, component, group, location)")


@pytest.mark.parametrize(
    ("catalog_section", "message"),
    [
        ({"rules": [{"allow": {"Component": 1}}]}, "catalog.rules[0].allow must be a list"),
        ({"rules": [{"deny": ["User"]}]}, "catalog.rules[0]"),
        ({"rules": [{"allow": ["Comp onent"]}]}, "not a kind name"),
        ({"model_layers": ["ai"]}, "known layers: ai-resource, mcp-server"),
    ],
)
def test_bad_rules_are_config_errors_naming_the_key(
    tmp_path: Path, catalog_section: dict[str, Any], message: str
) -> None:
    from bot.bootstrap import parse_settings
    from bot.errors import ConfigError

    with pytest.raises(ConfigError) as caught:
        parse_settings({"catalog": catalog_section}, "cfg.yaml", tmp_path)
    assert "cfg.yaml" in str(caught.value) and message in str(caught.value)


@pytest.mark.parametrize("mode", ["resolve", "drop"])
def test_relative_placeholders_resolve_by_default_or_fail_their_entity_as_in_a_file_location(
    catalog: CatalogFactory, mode: str
) -> None:
    # A file source usually reads a checkout of what Backstage reads through URL locations,
    # where relative placeholders resolve: that is the default. `drop` mirrors a Backstage
    # `file` location, which cannot form a URL from them.
    cat = catalog(relative_placeholders=mode) if mode == "drop" else catalog()
    cat.write("all.yaml", dump(api("local", {"$text": "./spec.yaml"}),
                               api("remote", {"$text": "https://x.example/s.yaml"}),
                               component("plain")))  # fmt: skip
    cat.write("spec.yaml", OPENAPI)
    cat.sync()
    assert {"api:default/remote", "component:default/plain"} <= cat.refs()
    if mode == "resolve":
        assert cat.spec("api:default/local")["definition"] == OPENAPI
        assert [p.level for p in cat.problems()] == ["warning"]  # the remote one
        return
    assert "api:default/local" not in cat.refs()
    [refused] = [p for p in cat.problems() if p.level == "error"]
    assert refused.entity == "api:default/local"
    assert refused.message.startswith(
        "Placeholder $text could not form a URL out of all.yaml and ./spec.yaml"
    )
    lines = (cat.root / "all.yaml").read_text().split("\n")
    assert refused.line == next(i + 1 for i, line in enumerate(lines) if "./spec.yaml" in line)


def test_backstage_fidelity_drops_what_a_failed_location_step_emits_and_freezes_what_it_stored(
    catalog: CatalogFactory,
) -> None:
    cat = catalog(fidelity="backstage")
    cat.write("all.yaml", location("./teams.yaml", "./services.yaml"))
    cat.write("teams.yaml", group("team-a"))
    cat.write("services.yaml", location("./svc.yaml", "./broken.yaml", name="services"))
    cat.write("svc.yaml", component("svc", owner="team-a"))
    cat.write("broken.yaml", "kind: [Component\n")
    cat.sync()
    # A fresh Backstage never shows svc: services.yaml's Location step fails on broken.yaml.
    assert "component:default/svc" not in cat.refs()
    assert "group:default/team-a" in cat.refs()
    assert any(p.message.startswith("Backstage would not show") for p in cat.problems())

    cat.write("broken.yaml", component("fixed"))
    report = cat.sync().sources[0]
    assert {"component:default/svc", "component:default/fixed"} <= set(report.added)

    # Broken again, with svc changed meanwhile: Backstage keeps what it stored, unchanged.
    cat.write("broken.yaml", "kind: [Component\n")
    cat.write("svc.yaml", component("svc", owner="team-b"))
    report = cat.sync().sources[0]
    assert owners(cat, "component:default/svc") == ["group:default/team-a"]
    assert report.removed == [] and report.owner_changed == []
    # Fixed again: everything applies.
    cat.write("broken.yaml", component("fixed"))
    report = cat.sync().sources[0]
    assert owners(cat, "component:default/svc") == ["group:default/team-b"]
    assert not any(p.message.startswith("Backstage would not show") for p in cat.problems())


def test_lenient_fidelity_keeps_what_backstage_drops(catalog: CatalogFactory) -> None:
    cat = catalog()
    cat.write("all.yaml", location("./services.yaml"))
    cat.write("services.yaml", location("./svc.yaml", "./broken.yaml", name="services"))
    cat.write("svc.yaml", component("svc"))
    cat.write("broken.yaml", "kind: [Component\n")
    cat.sync()
    assert "component:default/svc" in cat.refs()


def test_a_file_a_glob_newly_matches_is_read_though_the_location_did_not_change(
    catalog: CatalogFactory,
) -> None:
    # A new service's catalog-info.yaml: the Location file is the same, what it matches is not.
    cat = catalog()
    cat.write("all.yaml", location("./services/*/catalog-info.yaml", "./teams.yaml"))
    cat.write("teams.yaml", group("team-a"))
    cat.write("services/one/catalog-info.yaml", component("one"))
    cat.sync()
    cat.write("services/two/catalog-info.yaml", component("two"))
    report = cat.sync().sources[0]
    assert report.added == ["component:default/two"]
    (cat.root / "services" / "one" / "catalog-info.yaml").unlink()
    report = cat.sync().sources[0]
    assert report.removed == ["component:default/one"]
    assert cat.refs() >= {"component:default/two", "group:default/team-a"}
    # Nothing new: nothing parsed, nothing changed.
    report = cat.sync().sources[0]
    assert (report.files_parsed, report.changed) == (0, False)
