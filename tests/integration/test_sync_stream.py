"""A sync streams: files are reconciled and written a batch at a time while the source is still
being read, in one transaction, so a source that fails part-way leaves nothing of the run.

SQLite and PostgreSQL (``db_url``), a real file source on disk, a real walk.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml
from sqlalchemy import select

import bot.catalog.sync as sync_module
from bot.app import App
from bot.catalog.files import FileRead, FileTree, iter_walk, walk
from bot.errors import SourceError
from bot.store.schema import catalog_files, entities

FILES = 30


def _component(name: str, description: str) -> str:
    return yaml.safe_dump(
        {
            "apiVersion": "backstage.io/v1alpha1",
            "kind": "Component",
            "metadata": {"name": name, "description": description},
            "spec": {"type": "service", "lifecycle": "production", "owner": "team-a"},
        }
    )


def _write_catalog(root: Path, description: str) -> Path:
    for i in range(FILES):
        path = root / "repos" / f"svc-{i:02}" / "catalog-info.yaml"
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(_component(f"svc-{i:02}", description))
    entry = root / "all.yaml"
    entry.write_text(
        yaml.safe_dump(
            {
                "apiVersion": "backstage.io/v1alpha1",
                "kind": "Location",
                "metadata": {"name": "all"},
                "spec": {"targets": ["./repos/*/catalog-info.yaml"]},
            }
        )
    )
    return entry


class Watched:
    """The app's file source, each file handed over noted with the parts written so far; it
    raises ``SourceError`` after ``fail_after`` files when asked to."""

    def __init__(self, inner: Any, written: list[int], fail_after: int | None = None) -> None:
        self.inner = inner
        self.name, self.type = inner.name, inner.type
        self.written = written  # parts executed so far: one count per part
        self.seen_at: list[int] = []  # parts written when each file was handed over
        self.fail_after = fail_after

    @property
    def location(self) -> str:
        return str(self.inner.location)

    def read(self, known: Any, force: bool = False, prepare: bool = False) -> Iterator[FileRead]:
        for n, read in enumerate(self.inner.read(known, force, prepare)):
            if self.fail_after is not None and n == self.fail_after:
                raise SourceError("source main: the disk went away")
            self.seen_at.append(len(self.written))
            yield read


def _app(make_app: Any, db_url: str, root: Path) -> App:
    source = {"type": "file", "name": "main", "target": str(root / "all.yaml"), "root": str(root)}
    app: App = make_app(db_url=db_url, sync=False, catalog={"sources": [source]})
    return app


def _watch(app: App, monkeypatch: pytest.MonkeyPatch, fail_after: int | None = None) -> Watched:
    """Wrap the app's source, and count the parts its store executes."""
    sync = app.services.sync.sync
    written: list[int] = []
    store = sync.store
    opened = store.writing

    def writing(source: str, version: int) -> Any:
        class Counting:
            def __enter__(self) -> Any:
                self.cm = opened(source, version)
                writer = self.cm.__enter__()
                execute = writer.execute

                def counted(plan: Any, now: Any) -> Any:
                    written.append(len(plan.upserts))
                    return execute(plan, now)

                monkeypatch.setattr(writer, "execute", counted)
                return writer

            def __exit__(self, *exc: Any) -> Any:
                return self.cm.__exit__(*exc)

        return Counting()

    monkeypatch.setattr(store, "writing", writing)
    watched = Watched(sync.sources[0], written, fail_after)
    sync.sources[0] = watched  # type: ignore[call-overload]
    return watched


def _stored(app: App) -> tuple[dict[str, str], dict[str, str | None]]:
    with app.db.engine.connect() as conn:
        data = {r.ref: r.data for r in conn.execute(select(entities.c.ref, entities.c.data))}
        files = {
            r.path: r.sha256
            for r in conn.execute(select(catalog_files.c.path, catalog_files.c.sha256))
        }
    return data, files


def test_a_source_is_written_a_batch_at_a_time_while_it_is_read(
    make_app: Any, db_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(sync_module, "SYNC_BATCH", 5)
    root = tmp_path / "repo"
    _write_catalog(root, "first")
    app = _app(make_app, db_url, root)
    watched = _watch(app, monkeypatch)
    report = app.services.sync.run()
    assert report.ok and len(report.sources[0].added) == FILES
    # Parts were written before the last files were handed over, each of a few entities.
    assert watched.seen_at[-1] >= 3
    assert watched.written[:-1] and max(watched.written) <= 5
    data, files = _stored(app)
    assert len(data) == FILES and len(files) == FILES + 1


def test_a_source_that_fails_part_way_leaves_nothing_of_the_run(
    make_app: Any, db_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    root = tmp_path / "repo"
    _write_catalog(root, "first")
    app = _app(make_app, db_url, root)
    assert app.services.sync.run().ok
    before = _stored(app)
    _write_catalog(root, "second")  # every file changed: each is parsed and rewritten
    monkeypatch.setattr(sync_module, "SYNC_BATCH", 5)
    watched = _watch(app, monkeypatch, fail_after=20)
    report = app.services.sync.run()
    source = report.sources[0]
    assert not source.ok and source.error == "source main: the disk went away"
    assert watched.seen_at[-1] >= 2  # parts had been written, then rolled back
    assert _stored(app) == before  # the last good catalog, its files as they were
    watched.fail_after = None
    again = app.services.sync.run()
    assert again.ok and len(again.sources[0].modified) == FILES


def test_the_walk_reads_ahead_a_window_at_a_time_and_reads_the_same(tmp_path: Path) -> None:
    _write_catalog(tmp_path, "x" * 2000)
    alone = walk(FileTree(tmp_path), "all.yaml", {}, prepare=True)
    reads = iter_walk(
        FileTree(tmp_path),
        "all.yaml",
        {},
        workers=2,
        parallel_min_bytes=0,
        prepare=True,
        read_ahead_bytes=4096,  # two files or so at a time
    )
    first = next(reads)
    ahead = reads.gi_frame.f_locals["ahead"]  # type: ignore[union-attr]
    assert ahead.pool is not None and ahead.waiting_bytes <= 4096 + 2300
    assert len(ahead.upcoming) > FILES - 5  # the rest is not read yet
    pooled = [first, *reads]
    assert [(r.path, r.sha256, r.children) for r in pooled] == [
        (r.path, r.sha256, r.children) for r in alone
    ]
    assert [[c.ref for c in r.prepared[0]] if r.prepared else None for r in pooled] == [
        [c.ref for c in r.prepared[0]] if r.prepared else None for r in alone
    ]
